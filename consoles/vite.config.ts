// The consoles are served by the agent under /consoles/ (gateway/agent/routes.py); the build
// lands in the Python package, so `make run` needs no Node.
import { defineConfig } from "vite";

// Node's environment, typed here: @types/node is not a dependency of the consoles.
declare const process: { env: Record<string, string | undefined> };

export default defineConfig({
  base: "/consoles/",
  publicDir: false,
  build: {
    outDir: process.env.GERBANG_CONSOLES_OUT ?? "../gateway/agent/consoles/dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2500,
    // Hashed names make each build's files comparable byte for byte (tools/consoles.py --check).
    rollupOptions: { output: { manualChunks: { map: ["maplibre-gl"] } } },
  },
});
