"""The demo's work directory, `.gerbang/`: the development PKI and two regional police databases.

Each region is a synthetic city (`tools.city`) restricted to its kota and seeded once; a
database from before a change to the seeder's schema is seeded again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from tools.federation import AdapterSpec

WORKDIR = Path(".gerbang")
POLICIES = Path("policies")
# Two regional police databases, each serving part of the city.
REGIONS = {
    "pmj-1": ("Jakarta Pusat", "Jakarta Utara", "Jakarta Barat"),
    "pmj-2": ("Jakarta Selatan", "Jakarta Timur"),
}
SEED = 20261101


def legal_basis(purpose: str) -> str:
    """The legal basis the purpose registry states for `purpose`."""
    purposes = json.loads((POLICIES / "registry" / "purposes" / "data.json").read_text())
    basis: str = purposes[purpose]["legal_basis"]
    return basis


def prepare(workdir: Path, incidents: int) -> list[AdapterSpec]:
    """The PKI and the regions' databases in `workdir`, made where missing; the adapters."""
    from gateway.protocol.pki import complete_pki, init_pki
    from tools.city import seed_city

    if not (workdir / "pki" / "ca.pem").exists():
        init_pki(workdir / "pki")
        print(f"created the development PKI in {workdir / 'pki'}")
    elif issued := complete_pki(workdir / "pki"):
        print(f"issued development certificates to {', '.join(issued)}")
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        path = workdir / f"police-{name}.db"
        url = f"sqlite:///{path}"
        if path.exists() and not _has_stored_cells(path):
            print(f"{path} predates the stored H3 cells; seeding it again")
            path.unlink()
        if path.exists() and not _has_demo_case(path):
            print(f"{path} predates the demo case files (ADR 0013); seeding it again")
            path.unlink()
        if not path.exists():
            summary = seed_city(url, incidents=incidents // len(REGIONS), seed=SEED + i, kota=kota)
            print(
                f"seeded {path}: {summary.incidents} incidents in {', '.join(kota)} "
                f"({summary.elapsed_seconds:.1f} s)"
            )
        specs.append(AdapterSpec(name, url))
    return specs


def _has_stored_cells(path: Path) -> bool:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(incidents)")}
    return "h3_r8" in columns


def _has_demo_case(path: Path) -> bool:
    """The database files one of the demo cases (seeded since ADR 0013)."""
    from tools.city.cases import DEMO_CASES

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return any(
            conn.execute("SELECT 1 FROM cases WHERE case_number = ?", (c.number,)).fetchone()
            for c in DEMO_CASES
        )
