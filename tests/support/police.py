"""A small synthetic police store for the in-memory federation, seeded once per session."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

from tools.city import seed_city

# Fixed arguments: the same rows on every run (`seed_city` is deterministic in them).
SEED: Final = 7
INCIDENTS: Final = 3000
PERSONS: Final = 500
KOTA: Final = ("Jakarta Pusat", "Jakarta Selatan")


def seed_police(path: Path) -> Path:
    """Seed the store at `path` (an SQLite file) and return it."""
    seed_city(f"sqlite:///{path}", incidents=INCIDENTS, seed=SEED, kota=KOTA, persons=PERSONS)
    return path


def copies(template: Path, workdir: Path, names: tuple[str, ...]) -> dict[str, str]:
    """One copy of the seeded store per adapter name: adapter name -> SQLAlchemy URL."""
    urls = {}
    for name in names:
        target = workdir / f"police-{name}.db"
        shutil.copyfile(template, target)
        urls[name] = f"sqlite:///{target}"
    return urls
