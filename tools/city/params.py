"""A city's parameters: the arguments of `seed_city`, checked, and the window they span.

The defaults are fixed (`DEFAULT_END` is not today) so that a seed reproduces the same city.
Times inside the seeder are seconds of a naive epoch: local (WIB) for days and hours, UTC for
what is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from gateway.protocol.geography import KECAMATAN, KOTA_NAMES, kota_named
from tools.city.arrays import I64

DEFAULT_END = date(2026, 11, 1)  # fixed, not today, so a seed reproduces the same city
DEFAULT_HOTSPOTS = 8
DEFAULT_SURGES = 2
HotspotUnit = Literal["cell", "disc"]
WIB_SECONDS = 7 * 3600  # Western Indonesian Time is UTC+7 all year
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Params:
    """The checked arguments of one city (`checked_params`)."""

    incidents: int
    kecamatan: I64  # global indices of the seeded kecamatan, in KECAMATAN order
    hotspots: int
    hotspot_factor: float
    surges: int
    surge_factor: float
    days: int
    end: date
    persons: int
    hotspot_unit: HotspotUnit = "cell"

    @property
    def start_local(self) -> int:
        """First local midnight of the window, as seconds of a naive epoch."""
        return (self.end.toordinal() - self.days - date(1970, 1, 1).toordinal()) * DAY

    @property
    def snapshot_utc(self) -> int:
        """When the database is taken: the local midnight that starts `end`, in UTC seconds."""
        return self.start_local + self.days * DAY - WIB_SECONDS


def checked_params(
    incidents: int,
    kota: Sequence[str] | None,
    hotspots: int,
    hotspot_factor: float,
    surges: int,
    surge_factor: float,
    days: int,
    end: date | None,
    persons: int | None,
    hotspot_unit: HotspotUnit = "cell",
) -> Params:
    """`seed_city`'s arguments, checked; `ValueError` names the one out of range."""
    if isinstance(kota, str):  # a lone name, not a sequence of one-letter names
        kota = [kota]
    names = KOTA_NAMES if kota is None else tuple(dict.fromkeys(kota))
    if not names:
        raise ValueError("kota must name at least one kota")
    for name in names:
        try:
            kota_named(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    chosen = np.array([i for i, k in enumerate(KECAMATAN) if k.kota in names], dtype=np.int64)
    if incidents < 1:
        raise ValueError(f"incidents must be at least 1, not {incidents}")
    if hotspot_unit not in ("cell", "disc"):
        raise ValueError(f"hotspot_unit must be 'cell' or 'disc', not {hotspot_unit!r}")
    if not 2.0 <= hotspot_factor <= 4.0:
        raise ValueError(f"hotspot_factor must be within 2..4, not {hotspot_factor}")
    if not 0.0 < surge_factor <= 3.0:
        raise ValueError(f"surge_factor must be within (0, 3], not {surge_factor}")
    if hotspots < 0 or surges < 0:
        raise ValueError("hotspots and surges cannot be negative")
    if surges > len(chosen):
        raise ValueError(f"{surges} surges need as many kecamatan; the area has {len(chosen)}")
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if surges and days < 28:
        raise ValueError("surges need a window of at least 28 days to stand out from")
    n_persons = incidents + 1000 if persons is None else persons
    if n_persons < len(chosen):
        raise ValueError(f"persons must be at least {len(chosen)} (one per kecamatan)")
    return Params(
        incidents=incidents,
        kecamatan=chosen,
        hotspots=hotspots,
        hotspot_factor=float(hotspot_factor),
        surges=surges,
        surge_factor=float(surge_factor),
        days=days,
        end=DEFAULT_END if end is None else end,
        persons=n_persons,
        hotspot_unit=hotspot_unit,
    )
