"""Compile the policy to WebAssembly for the Wasm engine (gateway/policy/wasm.py).

`python -m tools.policywasm` runs `opa build -t wasm -e gerbang/authz/decision` over the
policy modules of policies/ (tests left out) and writes policies/compiled/decision.wasm and
decision.toml (OPA version, SHA-256 of the Rego sources and of the module). The modules are
named relative to policies/, as OPA embeds their paths in the module: the bytes do not depend
on where the checkout lives, and OPA builds them reproducibly.

`--check` fails when the committed artefact is stale: always when the Rego changed since it
was compiled or the module does not match its manifest, and, when the pinned OPA is at hand,
when compiling again gives other bytes. Without OPA that last step is skipped with a note,
except under CI=true, where it fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from gateway.errors import ConfigurationError
from gateway.policy.bundle import ENTRYPOINT, PolicyBundle, load_bundle
from gateway.policy.compiled import (
    COMPILED_DIR,
    MANIFEST_FILE,
    MODULE_FILE,
    CompiledPolicy,
    load_compiled,
    sources_digest,
)
from gateway.policy.opa_server import find_opa_binary

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
WASM_MEMBER = "/policy.wasm"


def opa_version(opa: Path) -> str:
    """The version `opa version` reports, e.g. "1.22.3"."""
    out = subprocess.run([str(opa), "version"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"cannot tell the version of {opa}: {out.stdout!r}")


def compile_module(opa: Path, bundle: PolicyBundle) -> bytes:
    """`opa build -t wasm` of the bundle's policy modules; the module's bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle.tar.gz"
        command = [str(opa), "build", "-t", "wasm", "-e", ENTRYPOINT, "-o", str(out)]
        command += sorted(m.path for m in bundle.policy_modules)
        done = subprocess.run(command, cwd=bundle.root, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"opa build failed:\n{done.stdout}{done.stderr}")
        with tarfile.open(out) as archive:
            member = archive.extractfile(WASM_MEMBER)
            if member is None:
                raise SystemExit(f"opa build wrote no {WASM_MEMBER}")
            return member.read()


def write(opa: Path, root: Path) -> None:
    bundle = load_bundle(root)
    module = compile_module(opa, bundle)
    manifest = CompiledPolicy(
        entrypoint=ENTRYPOINT,
        opa_version=opa_version(opa),
        sources_sha256=sources_digest(bundle),
        wasm_sha256=hashlib.sha256(module).hexdigest(),
    )
    target = root / COMPILED_DIR
    target.mkdir(exist_ok=True)
    (target / MODULE_FILE).write_bytes(module)
    (target / MANIFEST_FILE).write_text(manifest.render(), encoding="utf-8")
    print(f"wrote {target / MODULE_FILE} ({len(module)} bytes, OPA {manifest.opa_version})")


def check(opa: Path | None, root: Path) -> int:
    bundle = load_bundle(root)
    try:
        committed = load_compiled(bundle)
    except ConfigurationError as e:
        print(f"policy-wasm: {e}")
        return 1
    manifest = CompiledPolicy.parse((root / COMPILED_DIR / MANIFEST_FILE).read_text("utf-8"))
    in_ci = os.environ.get("CI", "").lower() == "true"
    have = opa_version(opa) if opa is not None else None
    if opa is None or have != manifest.opa_version:
        why = f"no opa binary here (the artefact was built by OPA {manifest.opa_version})"
        if have is not None:
            why = f"opa here is {have}, the artefact was built by OPA {manifest.opa_version}"
        print(f"policy-wasm: sources match; bytes not rebuilt: {why}")
        return 1 if in_ci else 0
    if compile_module(opa, bundle) != committed:
        print(
            f"policy-wasm: OPA {have} compiles {root / COMPILED_DIR / MODULE_FILE} differently "
            "(stale); run `make policy-wasm` and commit the result"
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--opa", type=Path, help="the opa binary (default: as the gateway finds one)"
    )
    parser.add_argument("--policies", type=Path, default=POLICIES, help="the policy bundle")
    parser.add_argument("--check", action="store_true", help="fail when the artefact is stale")
    args = parser.parse_args(argv)
    opa = args.opa or find_opa_binary()
    if opa is not None and not opa.is_file():
        opa = None
    if args.check:
        return check(opa, args.policies)
    if opa is None:
        raise SystemExit("no opa binary: run `make tools`, or set GERBANG_OPA_BINARY")
    write(opa, args.policies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
