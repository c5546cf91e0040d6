"""The compiled policy: `policies/compiled/decision.wasm` and its manifest `decision.toml`.

`make policy-wasm` (tools/policywasm.py) runs `opa build -t wasm -e gerbang/authz/decision`
over the bundle's policy modules and commits the result beside a manifest naming the OPA
version and the SHA-256 of the Rego sources and of the module. `load_compiled` refuses a
module compiled from other Rego than the bundle's, so the revision on a decision always names
the Rego that made it. No OPA binary and no wasmtime are needed to read or write these.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from typing import Final

from gateway.errors import ConfigurationError
from gateway.policy.bundle import ENTRYPOINT, PolicyBundle, bundle_revision

__all__ = [
    "COMPILED_DIR",
    "MANIFEST_FILE",
    "MODULE_FILE",
    "REGENERATE",
    "CompiledPolicy",
    "load_compiled",
    "sources_digest",
]

COMPILED_DIR: Final = "compiled"
# Not `policy.wasm` nor `*.json`: `opa run --bundle policies/` would load those as its own.
MODULE_FILE: Final = "decision.wasm"
MANIFEST_FILE: Final = "decision.toml"
REGENERATE: Final = "run `make policy-wasm` (needs the OPA binary) and commit the result"
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def sources_digest(bundle: PolicyBundle) -> str:
    """SHA-256 over the policy modules, as the bundle revision hashes files; tests left out."""
    return bundle_revision({m.path: m.source.encode("utf-8") for m in bundle.policy_modules})


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """`decision.toml`: what `decision.wasm` was compiled from, and by which OPA."""

    entrypoint: str
    opa_version: str
    sources_sha256: str
    wasm_sha256: str

    def __post_init__(self) -> None:
        for name in ("sources_sha256", "wasm_sha256"):
            if not _HEX64.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} must be 64 lowercase hex digits")
        if not re.fullmatch(r"[0-9A-Za-z.+-]{1,40}", self.opa_version):
            raise ValueError(f"opa_version {self.opa_version!r} is not a version")
        if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)*", self.entrypoint):
            raise ValueError(f"entrypoint {self.entrypoint!r} is not a rule path")

    def render(self) -> str:
        return (
            f"# Written by `make policy-wasm` (tools/policywasm.py); do not edit.\n"
            f"# {MODULE_FILE} is `opa build -t wasm -e {self.entrypoint}` of the policy modules.\n"
            f'entrypoint = "{self.entrypoint}"\n'
            f'opa_version = "{self.opa_version}"\n'
            f'sources_sha256 = "{self.sources_sha256}"\n'
            f'wasm_sha256 = "{self.wasm_sha256}"\n'
        )

    @classmethod
    def parse(cls, text: str) -> CompiledPolicy:
        """Raise `ValueError` unless `text` is exactly such a manifest."""
        doc = tomllib.loads(text)
        keys = {"entrypoint", "opa_version", "sources_sha256", "wasm_sha256"}
        if set(doc) != keys or not all(isinstance(v, str) for v in doc.values()):
            raise ValueError(f"it must hold exactly the strings {', '.join(sorted(keys))}")
        return cls(**doc)


def load_compiled(bundle: PolicyBundle) -> bytes:
    """The bundle's compiled module; `ConfigurationError` if missing, damaged or stale."""
    where = bundle.root / COMPILED_DIR
    try:
        manifest = CompiledPolicy.parse((where / MANIFEST_FILE).read_text("utf-8"))
        module = (where / MODULE_FILE).read_bytes()
    except (OSError, UnicodeDecodeError, ValueError) as e:  # TOMLDecodeError is a ValueError
        raise ConfigurationError(f"no usable compiled policy in {where} ({e}); {REGENERATE}") from e
    if manifest.entrypoint != ENTRYPOINT:
        raise ConfigurationError(
            f"{where / MODULE_FILE} decides {manifest.entrypoint!r}, not {ENTRYPOINT!r}; "
            f"{REGENERATE}"
        )
    if manifest.sources_sha256 != sources_digest(bundle):
        raise ConfigurationError(
            f"{where / MODULE_FILE} was compiled from other Rego than {bundle.root} holds "
            f"(stale); {REGENERATE}"
        )
    if hashlib.sha256(module).hexdigest() != manifest.wasm_sha256:
        raise ConfigurationError(
            f"{where / MODULE_FILE} does not match the SHA-256 in {MANIFEST_FILE}; {REGENERATE}"
        )
    return module
