// The consoles are served by the agent under /consoles/ (gateway/agent/routes.py); the build
// lands in the Python package, so `make run` needs no Node.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/consoles/",
  publicDir: false,
  build: {
    outDir: process.env.GERBANG_CONSOLES_OUT ?? "../gateway/agent/consoles/dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2500,
    // Hashed names make each build's files comparable byte for byte (tools/consoles.py --check).
    rollupOptions: { output: { manualChunks: { map: ["maplibre-gl"], deck: ["@deck.gl/core", "@deck.gl/layers", "@deck.gl/geo-layers", "@deck.gl/mapbox"] } } },
  },
});
