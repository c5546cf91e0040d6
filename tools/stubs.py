"""Generate the Go and TypeScript stubs from proto/ with buf, and compile them.

`python -m tools.stubs` runs `buf generate` with proto/buf.gen.yaml (local plugins only:
protoc-gen-go and protoc-gen-go-grpc from `make tools`, protoc-gen-es from node_modules) into a
temporary folder, then compiles the Go stubs in the module tests/stubs/go (`go build`,
`go vet`, offline: `-mod=readonly`) and type-checks the TypeScript ones with tests/stubs/ts/
tsconfig.json (`tsc --noEmit`, strict). The stubs are not committed: this proves that they
generate and compile from the contracts as they are. `--keep DIR` writes them to DIR instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
BIN = ROOT / "node_modules" / ".bin"


def _gobin() -> Path:
    gobin = subprocess.run(
        ["go", "env", "GOBIN", "GOPATH"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return Path(gobin[0]) if gobin[0] else Path(gobin[1]) / "bin"


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{done.stdout}{done.stderr}")


def check(out: Path) -> None:
    """Generate into `out` and compile both languages there."""
    if shutil.which("go") is None:
        raise SystemExit("the Go toolchain is needed to generate and build the Go stubs")
    for tool in ("buf", "protoc-gen-es", "tsc"):
        if not (BIN / tool).exists():
            raise SystemExit(f"node_modules/.bin/{tool} is missing: run `npm install`")
    gobin = _gobin()
    for plugin in ("protoc-gen-go", "protoc-gen-go-grpc"):
        if not (gobin / plugin).exists():
            raise SystemExit(f"{gobin / plugin} is missing: run `make tools`")
    env = os.environ | {"PATH": f"{gobin}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run([str(BIN / "buf"), "generate", "--template", "buf.gen.yaml", "-o", str(out)], PROTO, env)
    go = out / "go"
    for name in ("go.mod", "go.sum", "doc.go"):
        shutil.copy(ROOT / "tests" / "stubs" / "go" / name, go / name)
    goenv = env | {"GOFLAGS": "-mod=readonly", "GOWORK": "off"}
    _run(["go", "build", "./..."], go, goenv)
    _run(["go", "vet", "./..."], go, goenv)
    shutil.copy(ROOT / "tests" / "stubs" / "ts" / "tsconfig.json", out / "ts" / "tsconfig.json")
    _run([str(BIN / "tsc"), "-p", str(out / "ts" / "tsconfig.json")], ROOT, env)
    count = len(list(out.rglob("*.go"))) + len(list(out.rglob("*.ts")))
    print(f"stubs: {count} Go and TypeScript files generated and compiled")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        check(args.keep.resolve())
        return 0
    # Inside the checkout, so that the TypeScript stubs resolve @bufbuild/protobuf from
    # node_modules; removed afterwards.
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".stubs-") as tmp:
        check(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
