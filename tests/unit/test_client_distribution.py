"""The client-only distribution (clients/python, ADR 0026) lists its protocol modules one by
one; every shared-core module the caller's code imports must be among them, or
`pip install gerbang-client` gives a library that fails at import."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
CALLER_PACKAGES = ("gateway.client", "gateway.analytics", "gateway.tlog")


def shipped() -> set[str]:
    """Modules as listed: `a.b` for a file, `a.b.*` for a whole folder."""
    text = (ROOT / "clients" / "python" / "pyproject.toml").read_text()
    paths = re.findall(r'^"\.\./\.\./([\w/.]+)" = ', text, flags=re.MULTILINE)
    return {
        p.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        if p.endswith(".py")
        else p.replace("/", ".") + ".*"
        for p in paths
    }


def covered(module: str, listed: set[str]) -> bool:
    return any(
        module == entry
        or (entry.endswith(".*") and module.startswith(entry[:-1]))
        or module == entry.removesuffix(".*")
        for entry in listed
    )


def test_every_module_the_client_imports_is_in_the_client_distribution() -> None:
    graph = grimp.build_graph("gateway", cache_dir=None)
    listed = shipped()
    needed: set[str] = set()
    for package in CALLER_PACKAGES:
        for module in graph.find_descendants(package) | {package}:
            needed |= graph.find_upstream_modules(module)
            needed.add(module)
    missing = sorted(m for m in needed if m.startswith("gateway") and not covered(m, listed))
    assert missing == []


def test_the_check_sees_a_missing_module() -> None:
    listed = shipped() - {"gateway.protocol.sealing"}
    assert not covered("gateway.protocol.sealing", listed)
    assert covered("gateway.client.core", listed)
