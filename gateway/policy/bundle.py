"""The policy bundle: the Rego modules and registry data under `policies/`, and its revision.

The directory is an OPA bundle (`opa run --bundle policies/` loads the same files): every
`*.rego` file is a module, every file named `data.json` holds the data at the path of its
directory (`registry/callers/data.json` is `data.registry.callers`). Other files are ignored,
as OPA ignores them; YAML data and `.manifest` files are refused because the embedded engine
would not read them the way OPA does.

The revision is SHA-256, in hex, over the bundle's files sorted by path, each contributing
`path || 0x00 || SHA-256(content)` (path relative to the bundle, with `/`). Both engines
report it, so a decision names exactly the files that made it. Loading validates the
registry (`gateway.policy.registry`) and raises `ConfigurationError` naming what is wrong.

The bundle Gerbang ships is package data: `gateway/policy/policies` is a link to the
checkout's top-level `policies/` (the source of truth), which the wheel holds as files.
`installed_policies()` finds it the same way in a checkout and in an installed package
(docs/adr/0026); it is the commands' default `--policies`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from gateway.errors import ConfigurationError
from gateway.policy.registry import check_registry

__all__ = [
    "ENTRYPOINT",
    "QUERY",
    "Module",
    "PolicyBundle",
    "bundle_revision",
    "installed_policies",
    "load_bundle",
]

QUERY: Final = "data.gerbang.authz.decision"
ENTRYPOINT: Final = "gerbang/authz/decision"
DATA_FILE: Final = "data.json"
TEST_SUFFIX: Final = "_test.rego"
_REFUSED: Final = frozenset({"data.yaml", "data.yml", ".manifest", ".signatures.json"})
# The shipped bundle, beside this module: a link to `policies/` in a checkout, files in a wheel.
INSTALLED_DIR: Final = "policies"


@dataclass(frozen=True, slots=True)
class Module:
    """One Rego module: its path inside the bundle and its source."""

    path: str
    source: str

    @property
    def is_test(self) -> bool:
        return self.path.endswith(TEST_SUFFIX)


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """A loaded, validated bundle. `modules` includes the `*_test.rego` modules OPA loads."""

    root: Path
    modules: tuple[Module, ...]
    data: Mapping[str, object]
    revision: str

    @property
    def policy_modules(self) -> tuple[Module, ...]:
        """The modules that decide (tests left out: they cannot change a decision)."""
        return tuple(m for m in self.modules if not m.is_test)


def bundle_revision(files: Mapping[str, bytes]) -> str:
    """SHA-256 over `path || 0x00 || SHA-256(content)` for each file, sorted by path."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode("utf-8") + b"\x00" + hashlib.sha256(files[path]).digest())
    return h.hexdigest()


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _parse_json(path: str, content: bytes) -> object:
    try:
        return json.loads(
            content.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise ConfigurationError(f"policy data {path}: {e}") from e


def _place(data: dict[str, object], parts: tuple[str, ...], value: object, path: str) -> None:
    """Put `value` at `parts` in `data`, refusing to overwrite anything."""
    if not parts:
        raise ConfigurationError(
            f"policy data {path}: data must live under registry/, not at the root"
        )
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigurationError(f"policy data {path}: {part!r} is already a value")
        node = child
    if parts[-1] in node:
        raise ConfigurationError(f"policy data {path}: data.{'.'.join(parts)} is defined twice")
    node[parts[-1]] = value


def installed_policies() -> Path:
    """The bundle installed with Gerbang; `ConfigurationError` if it is not on the file system.

    In a checkout (editable install) this is the top-level `policies/`, through the link; in
    an installed wheel, its copy in site-packages. Either way not the working directory's.
    """
    root = resources.files("gateway.policy").joinpath(INSTALLED_DIR)
    if not isinstance(root, Path) or not root.is_dir():
        raise ConfigurationError(
            f"the policies installed with Gerbang are missing ({root}); "
            "reinstall the package or pass --policies DIR"
        )
    return root


def load_bundle(root: Path) -> PolicyBundle:
    """Read and validate the bundle at `root`; raise `ConfigurationError` if it is unusable."""
    if not root.is_dir():
        raise ConfigurationError(f"policy bundle {root} is not a directory")
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.name in _REFUSED:
            raise ConfigurationError(
                f"policy bundle file {rel} is not supported: use data.json files and no manifest"
            )
        if path.is_file() and (path.suffix == ".rego" or path.name == DATA_FILE):
            files[rel] = path.read_bytes()
    modules: list[Module] = []
    data: dict[str, object] = {}
    for rel, content in files.items():
        if rel.endswith(".rego"):
            try:
                modules.append(Module(rel, content.decode("utf-8")))
            except UnicodeDecodeError as e:
                raise ConfigurationError(f"policy module {rel} is not UTF-8") from e
        else:
            parts = tuple(Path(rel).parent.parts)
            if parts[:1] != ("registry",):
                raise ConfigurationError(
                    f"policy data {rel}: data must live under registry/ (it is data.registry)"
                )
            _place(data, parts, _parse_json(rel, content), rel)
    if not any(not m.is_test for m in modules):
        raise ConfigurationError(f"policy bundle {root} has no Rego module")
    check_registry(data)
    return PolicyBundle(root, tuple(modules), data, bundle_revision(files))
