"""Deterministic synthetic city: a police records database for DKI Jakarta with planted truth.

`seed_city` fills the reference schema (`adapters.schema`) with incidents, persons, involvements,
vehicles and cases drawn from one `numpy.random.Generator(PCG64(seed))`, so the same arguments
always give the same rows. It plants hotspots (small discs with a raised incident rate: by
default as many extra incidents as raise one H3 resolution-8 cell to `hotspot_factor` times the
rate of the cells around it, the issue's definition; `hotspot_unit="disc"` raises only the
disc's own density that many times, a harder city) and
surges (a kecamatan's rate raised for some days) and records them in `seed_truth`, so the
analytics can be checked against what is really there.

The map is a power diagram of one disc per kecamatan (equal area, at its centroid) over all 42
kecamatan, so every kecamatan owns a fixed region whatever `kota` selects, and regions never
overlap. Within its region a kecamatan's background incidents are uniform; kelurahan are
angular sectors around the centroid. Times follow a local (WIB) hour-of-day profile and a
day-of-week profile per category and a mild annual cycle, and are stored as naive UTC.

Generation order:
1. per-kecamatan category mix, hotspots, surges;
2. incidents: (category, zone, day) by multinomial, then hour, place, source, report delay,
   status;
3. persons (NIK, name, address), then involvements, vehicles, cases;
4. one transaction: (re)create the tables without indexes, bulk insert (with each incident's
   stored H3 cells), create the indexes.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from numpy.random import PCG64, Generator
from sqlalchemy import Engine, create_engine, event, func, insert, inspect, literal, select
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.schema import CreateTable
from tqdm import tqdm

from adapters.schema import (
    CASE_STATUSES,
    H3_STORED_RESOLUTIONS,
    INCIDENT_CATEGORIES,
    INCIDENT_SOURCES,
    INCIDENT_STATUSES,
    ROLES,
    Base,
    SeedTruth,
    h3_column_name,
)
from gateway.protocol.cells import cell_of
from gateway.protocol.geography import KECAMATAN, KOTA, KOTA_NAMES, kota_named

__all__ = [
    "DEFAULT_END",
    "DEFAULT_HOTSPOTS",
    "DEFAULT_SURGES",
    "DatabaseNotEmptyError",
    "SeedSummary",
    "add_seed_arguments",
    "run_seed",
    "seed_city",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]

DEFAULT_END = date(2026, 11, 1)  # fixed, not today, so a seed reproduces the same city
DEFAULT_HOTSPOTS = 8
DEFAULT_SURGES = 2
HOTSPOT_RADIUS_M = (150.0, 400.0)
HOTSPOT_MAX_COVERAGE = 0.02  # of the seeded area; about one H3 res-8 cell per 37 km²
# The mean area of an H3 resolution-8 cell (h3.average_hexagon_area(8, "m^2")): the cell
# of the finest heatmap the default policy releases.
HOTSPOT_CELL_M2 = 737_327.6
HotspotUnit = Literal["cell", "disc"]
SURGE_DAYS = (5, 10)
CHUNK_ROWS = 50_000
_WIB_SECONDS = 7 * 3600
_DAY = 86_400


class DatabaseNotEmptyError(RuntimeError):
    """The target database already holds rows and `replace` was not asked for."""


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What `seed_city` wrote, and how long it took."""

    areas: int
    incidents: int
    persons: int
    involvements: int
    vehicles: int
    stolen_vehicles: int
    cases: int
    hotspots: int
    surges: int
    elapsed_seconds: float


# --- Category profiles ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Profile:
    share: float  # of all incidents, before the per-kecamatan variation
    hours: tuple[float, ...]  # 24 relative weights by local (WIB) hour
    weekdays: tuple[float, ...]  # Monday..Sunday
    emergency: float  # share that reaches police by emergency call (110/112)
    police: float  # share found by police themselves (LP model A)
    report_median_h: float  # median delay of a citizen's report, hours
    victim: float  # probability that a victim is recorded
    suspect: float  # probability of a named suspect, even when unsolved
    accomplices: float  # Poisson mean of further suspects
    witness: float  # probability of witnesses
    take_up: float  # probability that police investigate at all; the rest stay "reported"
    solve: float  # eventual solve rate, a part of take_up
    modus: tuple[tuple[str, float], ...]


# fmt: off
_PROFILES: dict[str, _Profile] = {
    "theft": _Profile(
        0.22,
        (2, 1.5, 1, 1, 1, 1.5, 3, 5, 6, 7, 8, 8, 8, 8, 8, 9, 10, 11, 11, 10, 8, 6, 4, 3),
        (1, 1, 1, 1, 1.05, 1.1, 1.05), 0.12, 0.02, 3, 0.97, 0.10, 0.15, 0.30, 0.45, 0.12,
        (("pickpocketing", 0.22), ("snatch_theft", 0.18), ("theft_from_vehicle", 0.12),
         ("shoplifting", 0.10), ("unattended_property", 0.18), ("distraction", 0.08),
         ("employee_theft", 0.12))),
    "motor_vehicle_theft": _Profile(
        0.16,
        (4, 4, 5, 4, 3, 2, 2, 3, 5, 6, 7, 7, 7, 7, 6, 6, 6, 7, 8, 9, 9, 8, 7, 5),
        (1.05, 1.05, 1.05, 1.05, 1, 0.95, 0.9), 0.10, 0.02, 2, 0.98, 0.05, 0.3, 0.20, 0.60, 0.08,
        (("broken_ignition_lock", 0.45), ("duplicate_key", 0.15), ("towing", 0.05),
         ("keys_left_in_ignition", 0.20), ("rental_embezzlement", 0.08),
         ("fake_buyer_test_ride", 0.07))),
    "burglary": _Profile(
        0.08,
        (8, 10, 12, 12, 9, 5, 3, 3, 4, 5, 6, 6, 5, 5, 5, 4, 3, 3, 3, 3, 3, 4, 5, 6),
        (0.95, 0.95, 0.95, 0.95, 1, 1.15, 1.2), 0.15, 0.01, 10, 0.97, 0.08, 0.3, 0.20, 0.70, 0.15,
        (("forced_door", 0.30), ("forced_window", 0.25), ("roof_entry", 0.12),
         ("unlocked_entry", 0.15), ("duplicate_key", 0.08), ("insider", 0.10))),
    "robbery": _Profile(
        0.06,
        (9, 10, 10, 9, 6, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9),
        (0.95, 0.95, 0.95, 1, 1.05, 1.1, 1.05), 0.35, 0.03, 2, 0.99, 0.15, 0.6, 0.40, 0.85, 0.25,
        (("motorcycle_robbery", 0.35), ("snatch_with_violence", 0.20),
         ("armed_street_robbery", 0.20), ("public_transport_robbery", 0.10),
         ("atm_follow", 0.05), ("home_invasion", 0.10))),
    "assault": _Profile(
        0.09,
        (7, 7, 6, 4, 2, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 9, 8),
        (0.85, 0.85, 0.85, 0.9, 1.05, 1.3, 1.25), 0.35, 0.05, 6, 0.99, 0.60, 0.5, 0.60, 0.80, 0.45,
        (("fight", 0.35), ("group_beating", 0.20), ("domestic", 0.20),
         ("sharp_weapon", 0.10), ("road_rage", 0.15))),
    "fraud": _Profile(
        0.11,
        (1, 0.5, 0.5, 0.5, 0.5, 1, 2, 4, 7, 9, 10, 10, 9, 9, 10, 9, 8, 6, 5, 5, 5, 4, 3, 2),
        (1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.7), 0.03, 0.02, 72, 0.98, 0.35, 0.2, 0.05, 0.50, 0.10,
        (("online_marketplace", 0.25), ("phishing", 0.15), ("investment_scam", 0.10),
         ("hypnosis_gendam", 0.08), ("fake_transfer_proof", 0.12),
         ("online_loan_scam", 0.10), ("impersonation", 0.10), ("job_offer_scam", 0.10))),
    "narcotics": _Profile(
        0.08,
        (9, 9, 8, 6, 3, 2, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 7, 8, 9, 9),
        (0.95, 0.95, 0.95, 1, 1.1, 1.15, 0.95), 0.05, 0.60, 12, 0.0, 0.90, 0.4, 0.50, 1.00, 0.85,
        (("possession", 0.40), ("street_dealing", 0.25), ("courier", 0.15),
         ("consumption", 0.12), ("online_ordering", 0.08))),
    "vandalism": _Profile(
        0.04,
        (8, 9, 9, 7, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7),
        (0.9, 0.9, 0.9, 0.95, 1.05, 1.25, 1.1), 0.10, 0.05, 12, 0.60, 0.15, 0.5, 0.30, 0.35, 0.15,
        (("property_damage", 0.35), ("vehicle_damage", 0.25), ("graffiti", 0.15),
         ("public_facility_damage", 0.20), ("minor_arson", 0.05))),
    "public_disorder": _Profile(
        0.05,
        (7, 7, 7, 8, 8, 5, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 5, 3, 3, 4, 5, 6, 7),
        (0.8, 0.8, 0.8, 0.85, 1.05, 1.4, 1.3), 0.35, 0.25, 1, 0.35, 0.40, 1.5, 0.60, 0.60, 0.45,
        (("tawuran", 0.30), ("drunkenness", 0.20), ("illegal_racing", 0.15),
         ("extortion_premanism", 0.15), ("noise", 0.10), ("mob_unrest", 0.10))),
    "traffic_accident": _Profile(
        0.11,
        (2, 1.5, 1.5, 1.5, 2, 4, 9, 12, 10, 6, 5, 5, 5, 5, 5, 6, 9, 12, 11, 7, 5, 4, 3, 3),
        (1.1, 1.05, 1.05, 1.05, 1.1, 0.9, 0.75), 0.45, 0.10, 2, 0.90, 0.50, 0.1, 0.60, 0.70, 0.55,
        (("rear_end", 0.25), ("motorcycle_skid", 0.20), ("side_swipe", 0.15),
         ("pedestrian_struck", 0.12), ("hit_and_run", 0.10), ("wrong_way", 0.08),
         ("red_light_violation", 0.10))),
}
# fmt: on

_CATEGORIES = INCIDENT_CATEGORIES
_MVT = _CATEGORIES.index("motor_vehicle_theft")
_NARCOTICS = _CATEGORIES.index("narcotics")
_FRAUD = _CATEGORIES.index("fraud")
_TRAFFIC = _CATEGORIES.index("traffic_accident")


def _normalised(weights: npt.ArrayLike) -> F64:
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


_SHARE = _normalised([_PROFILES[c].share for c in _CATEGORIES])
_HOURS = np.stack([_normalised(_PROFILES[c].hours) for c in _CATEGORIES])
_WEEKDAYS = np.array([_PROFILES[c].weekdays for c in _CATEGORIES], dtype=np.float64)


def _per_category(field: str) -> F64:
    return np.array([getattr(_PROFILES[c], field) for c in _CATEGORIES], dtype=np.float64)


# --- Names, streets, vehicles --------------------------------------------------------------

# fmt: off
_MALE_GIVEN = (
    "Agus", "Ahmad", "Andi", "Arif", "Bambang", "Bayu", "Budi", "Dedi", "Dimas", "Eko", "Fajar",
    "Fikri", "Hadi", "Hendra", "Herman", "Ilham", "Irfan", "Iwan", "Joko", "Rahmat", "Reza",
    "Rizky", "Rudi", "Slamet", "Taufik", "Teguh", "Wahyu", "Yoga", "Yusuf", "Muhammad",
    "Aditya", "Agung", "Anton", "Doni", "Faisal", "Gilang", "Hari", "Imam", "Indra", "Kevin",
    "Lukman", "Mulyadi", "Nanda", "Ridwan", "Sigit", "Supriyadi", "Tono", "Umar", "Wawan",
    "Yudi", "Zainal", "Hasan", "Surya", "Rendi", "Ferry", "Daniel", "Rafi", "Bagus", "Dodi",
    "Heru",
)
_FEMALE_GIVEN = (
    "Siti", "Sri", "Dewi", "Nur", "Ayu", "Putri", "Rina", "Wulan", "Fitri", "Indah", "Ratna",
    "Yuni", "Dian", "Nurul", "Aisyah", "Anisa", "Rini", "Maya", "Ani", "Kartika", "Intan",
    "Mega", "Novi", "Diah", "Citra", "Sari", "Lina", "Yanti", "Eka", "Endang", "Tuti", "Wati",
    "Yulia", "Melati", "Nadia", "Dinda", "Salsabila", "Aulia", "Rahma", "Lia", "Desi", "Evi",
    "Hana", "Ika", "Julia", "Kiki", "Mira", "Nia", "Puspa", "Rani", "Santi", "Tari", "Vina",
    "Widya", "Yeni", "Zahra", "Larasati", "Ningsih", "Annisa", "Bunga",
)
_MALE_FAMILY = (
    "Setiawan", "Kurniawan", "Hidayat", "Nugroho", "Wibowo", "Prasetyo", "Saputra", "Santoso",
    "Susanto", "Gunawan", "Wijaya", "Purnomo", "Hermawan", "Firmansyah", "Ramadhan", "Maulana",
    "Permana", "Pratama", "Syahputra", "Rahman", "Hakim", "Effendi", "Halim", "Sutanto",
    "Siregar", "Nasution", "Lubis", "Harahap", "Simanjuntak", "Sitompul", "Hutapea", "Manurung",
    "Sinaga", "Tarigan", "Ginting", "Sembiring", "Pasaribu", "Situmorang", "Panjaitan",
    "Tambunan", "Sulaeman", "Supriatna", "Kusnadi", "Suherman", "Hartono", "Kusuma", "Salim",
    "Sugianto", "Tanuwijaya", "Latuconsina",
)
_FEMALE_FAMILY = (
    "Saputri", "Lestari", "Rahmawati", "Wulandari", "Handayani", "Puspitasari", "Anggraini",
    "Permatasari", "Kusumawati", "Fitriani", "Safitri", "Utami", "Susanti", "Yuliani",
    "Novitasari", "Maharani", "Oktaviani", "Purwanti", "Siregar", "Nasution", "Lubis",
    "Harahap", "Simanjuntak", "Ginting", "Tarigan", "Sinaga", "Halim", "Wijaya", "Kusuma",
    "Salim", "Hartono", "Rahayu", "Pertiwi", "Damayanti", "Kurniasih",
)
_STREETS = (
    "Mawar", "Melati", "Kenanga", "Anggrek", "Flamboyan", "Cempaka", "Dahlia", "Kemuning",
    "Nusa Indah", "Masjid", "Swadaya", "Bhakti", "Karya", "Sawo", "Mangga", "Rambutan", "Damai",
    "Sejahtera", "Persatuan", "Pembangunan", "Musholla", "Pendidikan", "Bambu", "Kelapa",
    "Jambu", "Salak", "Duku", "Cendana", "Jati", "Beringin", "Asem", "Waru", "Pinang", "Karet",
    "Belimbing", "Nangka", "Merdeka", "Gotong Royong", "Kampung Baru", "Haji Naim",
)
_MOTORCYCLES = (
    ("Honda", "Beat", 0.22), ("Honda", "Vario", 0.18), ("Honda", "Scoopy", 0.08),
    ("Yamaha", "NMAX", 0.10), ("Yamaha", "Mio", 0.08), ("Yamaha", "Aerox", 0.06),
    ("Honda", "PCX", 0.06), ("Honda", "Supra X", 0.05), ("Yamaha", "Jupiter Z", 0.04),
    ("Suzuki", "Satria F150", 0.04), ("Kawasaki", "Ninja 250", 0.03),
    ("Yamaha", "Vixion", 0.03), ("Honda", "CBR150R", 0.03),
)
_CARS = (
    ("Toyota", "Avanza", 0.18), ("Daihatsu", "Xenia", 0.08), ("Toyota", "Kijang Innova", 0.10),
    ("Honda", "Brio", 0.10), ("Toyota", "Calya", 0.07), ("Daihatsu", "Sigra", 0.07),
    ("Mitsubishi", "Xpander", 0.10), ("Honda", "HR-V", 0.05), ("Suzuki", "Ertiga", 0.07),
    ("Toyota", "Fortuner", 0.05), ("Honda", "Jazz", 0.05), ("Toyota", "Agya", 0.08),
)
_COLOURS = (
    ("Hitam", 0.30), ("Putih", 0.25), ("Silver", 0.15), ("Abu-abu", 0.10), ("Merah", 0.10),
    ("Biru", 0.06), ("Hijau", 0.02), ("Coklat", 0.02),
)
# fmt: on
_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # I, O and Q are avoided: they read as 1 and 0
_ROMAN_MONTHS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")

# --- The map: a power diagram of equal-area kecamatan discs ---------------------------------

_LAT0, _LON0 = -6.2, 106.83
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(_LAT0))
_CX = np.array([(k.lon - _LON0) * _M_PER_DEG_LON for k in KECAMATAN])
_CY = np.array([(k.lat - _LAT0) * _M_PER_DEG_LAT for k in KECAMATAN])
_RADIUS = np.sqrt(np.array([k.area_km2 for k in KECAMATAN]) * 1e6 / math.pi)
_R2 = _RADIUS**2
_POPULATION = np.array([k.population for k in KECAMATAN], dtype=np.float64)
_KOTA_INDEX = np.array([KOTA_NAMES.index(k.kota) for k in KECAMATAN])
_KELURAHAN = tuple(kel for k in KECAMATAN for kel in k.kelurahan)
_KEL_COUNT = np.array([len(k.kelurahan) for k in KECAMATAN])
_KEL_OFFSET = np.concatenate(([0], np.cumsum(_KEL_COUNT)[:-1]))


def _owner(x: F64, y: F64) -> tuple[I64, B8]:
    """Index of the kecamatan whose region holds each point, and whether any region does."""
    owner = np.empty(len(x), dtype=np.int64)
    inside = np.empty(len(x), dtype=np.bool_)
    for s in range(0, len(x), 100_000):
        dx = x[s : s + 100_000, None] - _CX
        dy = y[s : s + 100_000, None] - _CY
        power = dx * dx + dy * dy - _R2
        best = power.argmin(axis=1)
        owner[s : s + 100_000] = best
        inside[s : s + 100_000] = power[np.arange(len(best)), best] <= 0.0
    return owner, inside


@lru_cache(maxsize=1)
def _region_area_m2() -> F64:
    """Area of each kecamatan's region, counted on a 50 m grid."""
    step = 50.0
    xs = np.arange((_CX - _RADIUS).min(), (_CX + _RADIUS).max(), step)
    ys = np.arange((_CY - _RADIUS).min(), (_CY + _RADIUS).max(), step)
    gx, gy = np.meshgrid(xs, ys)
    owner, inside = _owner(gx.ravel(), gy.ravel())
    counts = np.bincount(owner[inside], minlength=len(KECAMATAN))
    return counts.astype(np.float64) * step * step


def _kelurahan_index(kec: I64, x: F64, y: F64) -> I64:
    """Kelurahan as angular sectors of their kecamatan around its centroid."""
    angle = np.arctan2(y - _CY[kec], x - _CX[kec])
    n = _KEL_COUNT[kec]
    sector = np.minimum((((angle + math.pi) / (2 * math.pi)) * n).astype(np.int64), n - 1)
    return np.asarray(_KEL_OFFSET[kec] + sector, dtype=np.int64)


def _to_lat_lon(x: F64, y: F64) -> tuple[F64, F64]:
    return np.round(_LAT0 + y / _M_PER_DEG_LAT, 6), np.round(_LON0 + x / _M_PER_DEG_LON, 6)


# --- Parameters and planted truth ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Params:
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
        return (self.end.toordinal() - self.days - date(1970, 1, 1).toordinal()) * _DAY

    @property
    def snapshot_utc(self) -> int:
        """When the database is taken: the local midnight that starts `end`, in UTC seconds."""
        return self.start_local + self.days * _DAY - _WIB_SECONDS


@dataclass(frozen=True, slots=True)
class _Hotspot:
    kec: int
    x: float
    y: float
    radius: float


@dataclass(frozen=True, slots=True)
class _Surge:
    kec: int
    first_day: int
    days: int


def _params(
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
) -> _Params:
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
    return _Params(
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


def _plant_hotspots(rng: Generator, p: _Params) -> list[_Hotspot]:
    """Discs wholly inside one region, with a ring of twice their radius clear around them.

    The clear ring is what the rate ratio is measured against, so it must lie in the same
    region and touch no other hotspot.
    """
    if p.hotspots == 0:
        return []
    budget = HOTSPOT_MAX_COVERAGE * float(_region_area_m2()[p.kecamatan].sum())
    wanted = rng.uniform(*HOTSPOT_RADIUS_M, size=p.hotspots)
    radii = wanted
    scale = 1.0
    while float(np.sum(math.pi * radii**2)) > budget:
        if np.all(radii <= HOTSPOT_RADIUS_M[0]):
            raise ValueError(
                f"{p.hotspots} hotspots of radius {HOTSPOT_RADIUS_M[0]:.0f} m or more cover "
                f"over {HOTSPOT_MAX_COVERAGE:.0%} of {budget / HOTSPOT_MAX_COVERAGE / 1e6:.0f}"
                " km²; ask for fewer"
            )
        scale *= 0.97
        radii = np.maximum(HOTSPOT_RADIUS_M[0], wanted * scale)
    weights = _normalised(_POPULATION[p.kecamatan])
    ring = np.linspace(0.0, 2 * math.pi, 64, endpoint=False)
    placed: list[_Hotspot] = []
    for radius in sorted(radii.tolist(), reverse=True):
        for _attempt in range(2000):
            kec = int(p.kecamatan[rng.choice(len(p.kecamatan), p=weights)])
            reach = _RADIUS[kec] - 2 * radius
            u, v = rng.random(2)
            if reach <= 0:
                continue
            x = _CX[kec] + reach * math.sqrt(u) * math.cos(2 * math.pi * v)
            y = _CY[kec] + reach * math.sqrt(u) * math.sin(2 * math.pi * v)
            owner, inside = _owner(
                x + 2.05 * radius * np.cos(ring), y + 2.05 * radius * np.sin(ring)
            )
            if not (np.all(owner == kec) and np.all(inside)):
                continue
            if any(math.hypot(x - h.x, y - h.y) < 2 * (radius + h.radius) for h in placed):
                continue
            placed.append(_Hotspot(kec, x, y, radius))
            break
        else:
            raise ValueError(f"could not place {p.hotspots} hotspots apart; ask for fewer")
    return placed


def _plant_surges(rng: Generator, p: _Params) -> list[_Surge]:
    if p.surges == 0:
        return []
    weights = _normalised(_POPULATION[p.kecamatan])
    chosen = rng.choice(len(p.kecamatan), size=p.surges, replace=False, p=weights)
    surges = []
    for i in chosen.tolist():
        length = int(rng.integers(SURGE_DAYS[0], SURGE_DAYS[1] + 1))
        # A quarter of the window before the earliest start leaves a baseline to rise from.
        first = int(rng.integers(p.days // 4, p.days - length + 1))
        surges.append(_Surge(int(p.kecamatan[i]), first, length))
    return surges


# --- Incidents -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Incidents:
    occurred: I64  # UTC seconds
    reported: I64
    category: I64
    kec: I64
    kelurahan: I64
    lat: F64
    lon: F64
    modus: list[str]
    source: I64
    status: I64
    investigated: B8  # police took it up; a closed one then has a suspended case


def _day_weights(p: _Params) -> F64:
    """Relative rate of each category on each day: weekday profile times annual cycle."""
    first = date.fromordinal(p.end.toordinal() - p.days)
    day = np.arange(p.days)
    weekday = (first.weekday() + day) % 7
    doy = (first.timetuple().tm_yday - 1 + day) % 365
    # Drier months (peak mid-August) bring more people and crime onto the street than the
    # January-February rains.
    season = 1.0 + 0.08 * np.cos(2 * math.pi * (doy - 225) / 365.0)
    return np.asarray(_WEEKDAYS[:, weekday] * season, dtype=np.float64)


def _hotspot_area(p: _Params, h: _Hotspot) -> float:
    """The area whose background incidents a hotspot adds (factor - 1) times over its disc."""
    return HOTSPOT_CELL_M2 if p.hotspot_unit == "cell" else math.pi * h.radius**2


def _incidents(
    rng: Generator,
    p: _Params,
    category_mix: F64,
    hotspots: Sequence[_Hotspot],
    surges: Sequence[_Surge],
) -> _Incidents:
    n_kec = len(p.kecamatan)
    area = _region_area_m2()
    zone_kec = np.concatenate((p.kecamatan, [h.kec for h in hotspots])).astype(np.int64)
    # A hotspot zone adds (factor - 1) times the background incidents of one H3
    # resolution-8 cell ("cell", the definition: the cell it falls in has `factor`
    # times the rate of the cells around it), or of its own disc ("disc": the disc's density
    # is `factor` times its surroundings', and the cell holding it only 1.1 to 1.6 times).
    zone_weight = np.concatenate(
        (
            _POPULATION[p.kecamatan],
            [
                (p.hotspot_factor - 1) * _POPULATION[h.kec] * _hotspot_area(p, h) / area[h.kec]
                for h in hotspots
            ],
        )
    )
    surge = np.ones((len(zone_kec), p.days))
    for s in surges:
        surge[zone_kec == s.kec, s.first_day : s.first_day + s.days] += p.surge_factor
    weights = (
        category_mix[zone_kec].T[:, :, None]
        * zone_weight[None, :, None]
        * _day_weights(p)[:, None, :]
        * surge[None, :, :]
    )
    counts = rng.multinomial(p.incidents, (weights / weights.sum()).ravel())
    cell = np.repeat(np.arange(counts.size), counts)
    category, zone, day = np.unravel_index(cell, weights.shape)
    category = category.astype(np.int64)

    hour = np.empty(p.incidents, dtype=np.int64)
    for c in range(len(_CATEGORIES)):
        mask = category == c
        hour[mask] = rng.choice(24, size=int(mask.sum()), p=_HOURS[c])
    second = rng.integers(0, 3600, size=p.incidents)
    occurred = p.start_local + day * _DAY + hour * 3600 + second - _WIB_SECONDS
    order = np.argsort(occurred, kind="stable")
    occurred, category, zone = occurred[order], category[order], zone[order]
    kec = zone_kec[zone]

    x, y = _place(rng, zone, n_kec, zone_kec, hotspots)
    lat, lon = _to_lat_lon(x, y)

    modus_names: list[str] = []
    modus_index = np.empty(p.incidents, dtype=np.int64)
    for c, name in enumerate(_CATEGORIES):
        mo = _PROFILES[name].modus
        mask = category == c
        picks = rng.choice(len(mo), size=int(mask.sum()), p=_normalised([w for _, w in mo]))
        modus_index[mask] = len(modus_names) + picks
        modus_names.extend(m for m, _ in mo)
    modus = [modus_names[i] for i in modus_index.tolist()]

    source, reported = _sources_and_delays(rng, p, category, occurred)
    status, investigated = _statuses(rng, p, category, source, reported)
    return _Incidents(
        occurred=occurred,
        reported=reported,
        category=category,
        kec=kec,
        kelurahan=_kelurahan_index(kec, x, y),
        lat=lat,
        lon=lon,
        modus=modus,
        source=source,
        status=status,
        investigated=investigated,
    )


def _place(
    rng: Generator, zone: I64, n_kec: int, zone_kec: I64, hotspots: Sequence[_Hotspot]
) -> tuple[F64, F64]:
    """Points uniform in each hotspot disc, and uniform over each kecamatan's region."""
    x = np.empty(len(zone))
    y = np.empty(len(zone))
    hot = np.flatnonzero(zone >= n_kec)
    if len(hot):
        h = zone[hot] - n_kec
        hx = np.array([s.x for s in hotspots])
        hy = np.array([s.y for s in hotspots])
        hr = np.array([s.radius for s in hotspots])
        r = hr[h] * np.sqrt(rng.random(len(hot)))
        t = 2 * math.pi * rng.random(len(hot))
        x[hot] = hx[h] + r * np.cos(t)
        y[hot] = hy[h] + r * np.sin(t)
    pending = np.flatnonzero(zone < n_kec)
    while len(pending):
        kec = zone_kec[zone[pending]]
        r = _RADIUS[kec] * np.sqrt(rng.random(len(pending)))
        t = 2 * math.pi * rng.random(len(pending))
        cx = _CX[kec] + r * np.cos(t)
        cy = _CY[kec] + r * np.sin(t)
        owner, _ = _owner(cx, cy)
        ok = owner == kec
        x[pending[ok]] = cx[ok]
        y[pending[ok]] = cy[ok]
        pending = pending[~ok]
    return x, y


def _sources_and_delays(
    rng: Generator, p: _Params, category: I64, occurred: I64
) -> tuple[I64, I64]:
    n = len(category)
    u = rng.random(n)
    emergency = _per_category("emergency")[category]
    police = _per_category("police")[category]
    source = np.where(u < emergency, 1, np.where(u >= 1 - police, 2, 0)).astype(np.int64)
    median = _per_category("report_median_h")[category] * 3600
    by_citizen = median * np.exp(rng.normal(0.0, 1.0, n))
    by_call = 60 + rng.exponential(900.0, n)
    by_police = rng.uniform(0.0, 1800.0, n)
    delay = np.choose(source, (by_citizen, by_call, by_police))
    # Nothing can be reported after the snapshot is taken.
    delay = np.minimum(delay, 0.9 * (p.snapshot_utc - occurred))
    return source, occurred + delay.astype(np.int64)


def _statuses(
    rng: Generator, p: _Params, category: I64, source: I64, reported: I64
) -> tuple[I64, B8]:
    """Status at the snapshot, and whether police opened an investigation.

    Police take a report up within days or not at all; what they take up is solved over weeks,
    or stopped over months. Untaken reports are eventually closed without action.
    """
    age = (p.snapshot_utc - reported) / _DAY
    u = rng.random((3, len(category)))
    take_up = _per_category("take_up")[category]
    taken = (u[0] < take_up * (1 - np.exp(-age / 3))) | (source == 2)
    solve = _per_category("solve")[category] / take_up
    solved = taken & (u[1] < solve * (1 - np.exp(-age / 20)))
    stopped = taken & ~solved & (u[2] < 0.5 * (1 - np.exp(-age / 120)))
    dropped = ~taken & (u[2] < 0.6 * (1 - np.exp(-age / 90)))
    status = np.select([solved, stopped | dropped, taken], [2, 3, 1], 0)
    return status.astype(np.int64), taken


# --- Persons, involvements, vehicles, cases ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Persons:
    kec: I64
    female: B8
    birth_day: I64  # days since 1970-01-01
    nik: list[str]
    name: list[str]
    address: list[str]
    by_kec: I64  # person indices sorted by kecamatan, for drawing locals
    kec_start: I64  # per global kecamatan, its first position in by_kec
    kec_count: I64
    offenders: I64  # the people who turn up as suspects
    offender_p: F64  # how likely each of them is to be the next suspect


def _persons(rng: Generator, p: _Params) -> _Persons:
    n = p.persons
    share = _normalised(_POPULATION[p.kecamatan])
    per_kec = 1 + rng.multinomial(n - len(p.kecamatan), share)
    kec = rng.permutation(np.repeat(p.kecamatan, per_kec))
    female = rng.random(n) < 0.5
    age_years = np.minimum(10 + rng.gamma(2.4, 12.5, n), 95.0)
    snapshot_day = p.end.toordinal() - date(1970, 1, 1).toordinal()
    birth_day = snapshot_day - (age_years * 365.25).astype(np.int64)

    dates = birth_day.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    # NIK: 31 (DKI) + kota + kecamatan + DDMMYY with 40 added to DD for women + a serial
    # counting people of the same kecamatan and birth date code (Permendagri).
    dob = np.where(female, days + 40, days) * 10_000 + months * 100 + years % 100
    group = kec * 1_000_000 + dob
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    serial = np.empty(n, dtype=np.int64)
    serial[order] = rank + 1
    if serial.max() > 9999:
        raise ValueError("too many persons per kecamatan and birth date for a 4-digit serial")
    region = [f"31{KOTA[_KOTA_INDEX[k]].code}{KECAMATAN[k].code}" for k in range(len(KECAMATAN))]
    nik = [
        f"{region[k]}{d:06d}{s:04d}"
        for k, d, s in zip(kec.tolist(), dob.tolist(), serial.tolist(), strict=True)
    ]

    name = _names(rng, female)
    street = rng.integers(0, len(_STREETS), n)
    gang = rng.random(n) < 0.3
    number = rng.integers(1, 160, n)
    rt = rng.integers(1, 16, n)
    rw = rng.integers(1, 13, n)
    kel = _KEL_OFFSET[kec] + (rng.random(n) * _KEL_COUNT[kec]).astype(np.int64)
    address = [
        f"{'Gg.' if g else 'Jl.'} {_STREETS[s]} No. {no}, RT {a:03d}/RW {b:03d}, "
        f"Kel. {_KELURAHAN[k]}"
        for g, s, no, a, b, k in zip(
            gang.tolist(),
            street.tolist(),
            number.tolist(),
            rt.tolist(),
            rw.tolist(),
            kel.tolist(),
            strict=True,
        )
    ]

    by_kec = np.argsort(kec, kind="stable")
    kec_count = np.bincount(kec, minlength=len(KECAMATAN))
    kec_start = np.concatenate(([0], np.cumsum(kec_count)[:-1]))

    # Offenders: a fifth of the people, mostly young men (drawn by Gumbel top-k on these
    # weights), each with a lognormal propensity, so most suspects appear once or twice and
    # a few recidivists dozens of times, as in real records.
    weight = np.where(female, 1.0, 4.0) * np.where(
        (age_years >= 15) & (age_years <= 40), 3.0, np.where(age_years > 60, 0.3, 1.0)
    )
    pool_size = max(20, n // 5)
    keys = np.log(weight) + rng.gumbel(size=n)
    offenders = np.sort(np.argpartition(-keys, pool_size - 1)[:pool_size])
    offender_p = _normalised(rng.lognormal(0.0, 0.8, pool_size))
    return _Persons(
        kec=kec,
        female=female,
        birth_day=birth_day,
        nik=nik,
        name=name,
        address=address,
        by_kec=by_kec,
        kec_start=kec_start,
        kec_count=kec_count,
        offenders=offenders,
        offender_p=offender_p,
    )


def _names(rng: Generator, female: B8) -> list[str]:
    n = len(female)
    given_m = rng.integers(0, len(_MALE_GIVEN), n)
    given_f = rng.integers(0, len(_FEMALE_GIVEN), n)
    second = rng.integers(1, 60, n)  # offset, so a second given name never repeats the first
    has_second = rng.random(n) < 0.25
    family_m = rng.integers(0, len(_MALE_FAMILY), n)
    family_f = rng.integers(0, len(_FEMALE_FAMILY), n)
    has_family = rng.random(n) < 0.7  # many Javanese have no family name
    names = []
    for f, gm, gf, s, hs, fm, ff, hf in zip(
        female.tolist(),
        given_m.tolist(),
        given_f.tolist(),
        second.tolist(),
        has_second.tolist(),
        family_m.tolist(),
        family_f.tolist(),
        has_family.tolist(),
        strict=True,
    ):
        given, family, g = (
            (_FEMALE_GIVEN, _FEMALE_FAMILY, gf) if f else (_MALE_GIVEN, _MALE_FAMILY, gm)
        )
        parts = [given[g]]
        if hs:
            parts.append(given[(g + s) % len(given)])
        if hf:
            parts.append(family[ff if f else fm])
        names.append(" ".join(parts))
    return names


def _locals(rng: Generator, people: _Persons, kec: I64) -> I64:
    """People for incidents in these kecamatan: three in four live there, the rest anywhere."""
    n = len(kec)
    u = rng.random(n)
    local = rng.random(n) < 0.75
    here = people.by_kec[people.kec_start[kec] + (u * people.kec_count[kec]).astype(np.int64)]
    anywhere = (u * len(people.kec)).astype(np.int64)
    return np.where(local, here, anywhere)


@dataclass(frozen=True, slots=True)
class _Involvements:
    incident: I64
    person: I64
    role: I64
    victim_of: I64  # per incident, the victim's person index or -1


def _involvements(rng: Generator, inc: _Incidents, people: _Persons) -> _Involvements:
    n = len(inc.category)
    c = inc.category
    reporter = _locals(rng, people, inc.kec)
    has_victim = rng.random(n) < _per_category("victim")[c]
    self_report = rng.random(n) < 0.7
    other = _locals(rng, people, inc.kec)
    victim = np.where(has_victim, np.where(self_report, reporter, other), -1)

    solved = inc.status == INCIDENT_STATUSES.index("solved")
    has_suspect = solved | (rng.random(n) < _per_category("suspect")[c])
    extra = np.minimum(rng.poisson(_per_category("accomplices")[c]), 5)
    n_suspects = has_suspect * (1 + extra)
    has_witness = rng.random(n) < _per_category("witness")[c]
    n_witnesses = has_witness * (1 + np.minimum(rng.poisson(0.4, n), 3))

    s_inc = np.repeat(np.arange(n), n_suspects)
    s_person = people.offenders[
        rng.choice(len(people.offenders), size=len(s_inc), p=people.offender_p)
    ]
    w_inc = np.repeat(np.arange(n), n_witnesses)
    w_person = _locals(rng, people, inc.kec[w_inc])

    m = len(people.kec)
    v_inc = np.flatnonzero(has_victim)
    # A suspect is never also the victim or reporter of the same incident, and a witness
    # holds no other role in it.
    victim_side = np.concatenate((np.arange(n) * m + reporter, v_inc * m + victim[v_inc]))
    keep_s = ~np.isin(s_inc * m + s_person, victim_side)
    s_inc, s_person = s_inc[keep_s], s_person[keep_s]
    keep_w = ~np.isin(w_inc * m + w_person, np.concatenate((victim_side, s_inc * m + s_person)))
    w_inc, w_person = w_inc[keep_w], w_person[keep_w]

    roles = {r: i for i, r in enumerate(ROLES)}
    incident = np.concatenate((np.arange(n), v_inc, s_inc, w_inc))
    person = np.concatenate((reporter, victim[v_inc], s_person, w_person))
    role = np.concatenate(
        (
            np.full(n, roles["reporter"]),
            np.full(len(v_inc), roles["victim"]),
            np.full(len(s_inc), roles["suspect"]),
            np.full(len(w_inc), roles["witness"]),
        )
    )
    key = np.unique((incident * m + person) * len(ROLES) + role)  # sorts and drops repeats
    return _Involvements(
        incident=key // len(ROLES) // m,
        person=key // len(ROLES) % m,
        role=key % len(ROLES),
        victim_of=victim,
    )


@dataclass(frozen=True, slots=True)
class _Vehicles:
    plate: list[str]
    owner: I64
    make: list[str]
    model: list[str]
    colour: list[str]
    stolen: B8
    stolen_reported: I64  # UTC seconds, or -1


def _vehicles(rng: Generator, inc: _Incidents, people: _Persons, victim_of: I64) -> _Vehicles:
    n = max(10, round(len(people.kec) * 0.3))  # the registrations this database holds
    candidates = np.flatnonzero((inc.category == _MVT) & (victim_of >= 0))
    n_stolen = min(len(candidates), round(n * 0.04))
    stolen_inc = np.sort(rng.choice(candidates, size=n_stolen, replace=False))
    owner = np.concatenate((victim_of[stolen_inc], rng.integers(0, len(people.kec), n - n_stolen)))
    stolen = np.arange(n) < n_stolen
    reported = np.concatenate((inc.reported[stolen_inc], np.full(n - n_stolen, -1)))
    order = rng.permutation(n)
    owner, stolen, reported = owner[order], stolen[order], reported[order]

    # Motorcycles dominate Jakarta's fleet, and its thefts even more.
    motorcycle = rng.random(n) < np.where(stolen, 0.88, 0.75)
    moto = rng.choice(len(_MOTORCYCLES), size=n, p=_normalised([w for *_, w in _MOTORCYCLES]))
    car = rng.choice(len(_CARS), size=n, p=_normalised([w for *_, w in _CARS]))
    colour = rng.choice(len(_COLOURS), size=n, p=_normalised([w for _, w in _COLOURS]))
    make = [
        _MOTORCYCLES[m][0] if is_m else _CARS[c][0]
        for is_m, m, c in zip(motorcycle.tolist(), moto.tolist(), car.tolist(), strict=True)
    ]
    model = [
        _MOTORCYCLES[m][1] if is_m else _CARS[c][1]
        for is_m, m, c in zip(motorcycle.tolist(), moto.tolist(), car.tolist(), strict=True)
    ]
    return _Vehicles(
        plate=_plates(rng, _KOTA_INDEX[people.kec[owner]]),
        owner=owner,
        make=make,
        model=model,
        colour=[_COLOURS[i][0] for i in colour.tolist()],
        stolen=stolen,
        stolen_reported=reported,
    )


def _plates(rng: Generator, kota: I64) -> list[str]:
    """Unique "B 1234 SXY" plates; the first suffix letter is the owner's kota (P, U, B, S, T)."""
    n = len(kota)
    letters = len(_PLATE_LETTERS)
    base = letters + 1  # the last "letter" code means none: two-letter suffixes
    kota_letter = np.array([_PLATE_LETTERS.index(k.plate_letter) for k in KOTA])[kota]

    def draw(m: int) -> tuple[I64, I64, I64]:
        number = np.where(
            rng.random(m) < 0.85, rng.integers(1000, 10_000, m), rng.integers(1, 1000, m)
        )
        third = np.where(rng.random(m) < 0.7, rng.integers(0, letters, m), letters)
        return number, rng.integers(0, letters, m), third

    number, second, third = draw(n)
    while True:
        key = ((number * base + kota_letter) * base + second) * base + third
        _, first = np.unique(key, return_index=True)
        taken = np.ones(n, dtype=np.bool_)
        taken[first] = False
        again = np.flatnonzero(taken)  # every later copy of a plate already given out
        if not len(again):
            break
        number[again], second[again], third[again] = draw(len(again))
    return [
        f"B {num} {_PLATE_LETTERS[a]}{_PLATE_LETTERS[b]}{_PLATE_LETTERS[c] if c < letters else ''}"
        for num, a, b, c in zip(
            number.tolist(), kota_letter.tolist(), second.tolist(), third.tolist(), strict=True
        )
    ]


@dataclass(frozen=True, slots=True)
class _Cases:
    incident: I64  # the incident each case was opened for, in case_id order
    opened: I64
    status: list[str]
    unit: list[str]
    number: list[str]
    # Further incidents filed under a case (a merged case file): incident, case position.
    linked: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    linked_case: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class _DemoCase:
    """A case the demo registry names (policies/registry/cases): the seeder files a handful
    of incidents under its number, so a query under it finds the case's rows and no others."""

    number: str
    unit: str
    category: str
    kecamatan: str
    incidents: int


# The registered demo cases (policies/registry/cases/data.json, `police_cases`).
DEMO_CASES: tuple[_DemoCase, ...] = (
    _DemoCase(
        "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA",
        "Subdit Jatanras, Ditreskrimum Polda Metro Jaya",
        "motor_vehicle_theft",
        "Tebet",
        5,
    ),
    _DemoCase(
        "LP/B/0456/III/2025/SPKT/POLDA METRO JAYA",
        "Subdit Resmob, Ditreskrimum Polda Metro Jaya",
        "robbery",
        "Kebayoran Baru",
        4,
    ),
    _DemoCase(
        "LP/B/2001/XII/2026/SPKT/POLDA METRO JAYA",
        "Subdit Ranmor, Ditreskrimum Polda Metro Jaya",
        "motor_vehicle_theft",
        "Tambora",
        4,
    ),
)
_DEMO_NUMBERS = frozenset(c.number for c in DEMO_CASES)


def _cases(rng: Generator, p: _Params, inc: _Incidents) -> _Cases:
    n = len(inc.category)
    st = {s: i for i, s in enumerate(INCIDENT_STATUSES)}
    u = rng.random((3, n))
    which = np.flatnonzero(inc.investigated)
    room = p.snapshot_utc - inc.reported[which]
    opened = inc.reported[which] + np.minimum(u[0][which] * 2 * _DAY, 0.9 * room).astype(np.int64)
    order = np.lexsort((which, opened))
    which, opened = which[order], opened[order]

    age = (p.snapshot_utc - inc.reported[which]) / _DAY
    status_i = inc.status[which]
    case_status = np.where(
        status_i == st["solved"],
        np.where(u[1][which] < 0.8, "closed", "open"),
        np.where(
            status_i == st["closed"],
            "suspended",
            np.where((age > 60) & (u[1][which] < 0.1), "suspended", "open"),
        ),
    )
    assert set(np.unique(case_status).tolist()) <= set(CASE_STATUSES)

    category = inc.category[which]
    kec = inc.kec[which]
    # Which level of Polda Metro Jaya takes the report: polsek (0), polres (1) or polda (2).
    level_u = u[2][which]
    polda_p = np.select([category == _NARCOTICS, category == _FRAUD], [0.4, 0.25], 0.1)
    polsek_p = np.select([category == _NARCOTICS, category == _TRAFFIC], [0.0, 0.0], 0.6)
    level = np.where(level_u < polda_p, 2, np.where(level_u < polda_p + polsek_p, 0, 1))
    office = np.where(
        level == 0, kec, np.where(level == 1, len(KECAMATAN) + _KOTA_INDEX[kec], 10_000)
    )
    local = (opened + _WIB_SECONDS).astype("datetime64[s]")
    year = local.astype("datetime64[Y]").astype(np.int64) + 1970
    month = local.astype("datetime64[M]").astype(np.int64) % 12
    group = office * 10_000 + year
    by_group = np.argsort(group, kind="stable")  # stable keeps opening order inside a group
    sorted_group = group[by_group]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sequence = np.empty(len(which), dtype=np.int64)
    sequence[by_group] = (
        np.arange(len(which)) - np.repeat(first, np.diff(np.r_[first, len(which)])) + 1
    )
    model_a = inc.source[which] == INCIDENT_SOURCES.index("police_initiated")

    units: list[str] = []
    numbers: list[str] = []
    for lv, c, k, seq, mo, yr, a in zip(
        level.tolist(),
        category.tolist(),
        kec.tolist(),
        sequence.tolist(),
        month.tolist(),
        year.tolist(),
        model_a.tolist(),
        strict=True,
    ):
        units.append(_unit(lv, c, k))
        number = f"LP/{'A' if a else 'B'}/{seq}/{_ROMAN_MONTHS[mo]}/{yr}/SPKT/{_office(lv, k)}"
        while number in _DEMO_NUMBERS:  # the demo cases keep their registered numbers
            seq += 10_000
            number = f"LP/{'A' if a else 'B'}/{seq}/{_ROMAN_MONTHS[mo]}/{yr}/SPKT/{_office(lv, k)}"
        numbers.append(number)
    return _Cases(
        incident=which, opened=opened, status=case_status.tolist(), unit=units, number=numbers
    )


def _file_demo_cases(
    p: _Params, inc: _Incidents, victim_of: I64, vehicles: _Vehicles, cases: _Cases
) -> _Cases:
    """File a handful of investigated incidents under each demo case's registered number.

    For each demo case whose kecamatan is seeded: the latest investigated incidents of its
    category there, two of them ones whose victim owns a vehicle reported stolen (so the case
    has persons and vehicles). The first one's generated case becomes the demo case; the others'
    generated cases are dropped and their incidents linked to it (a merged case file).
    """
    position = {int(i): n for n, i in enumerate(cases.incident.tolist())}
    stolen_owners = np.unique(vehicles.owner[vehicles.stolen])
    with_vehicle = np.isin(victim_of, stolen_owners) & (victim_of >= 0)
    seeded = {KECAMATAN[k].name: k for k in p.kecamatan.tolist()}
    number, unit, status = list(cases.number), list(cases.unit), list(cases.status)
    opened = cases.opened.copy()
    drop: list[int] = []
    linked: list[int] = []
    linked_case: list[int] = []
    for demo in DEMO_CASES:
        if demo.kecamatan not in seeded:
            continue
        candidates = np.flatnonzero(
            inc.investigated
            & (inc.category == _CATEGORIES.index(demo.category))
            & (inc.kec == seeded[demo.kecamatan])
        )
        if len(candidates) == 0:
            continue
        latest = candidates[np.argsort(-inc.occurred[candidates], kind="stable")].tolist()
        stolen = [i for i in latest if with_vehicle[i]][:2]
        rest = [i for i in latest if not with_vehicle[i]][: demo.incidents - len(stolen)]
        chosen = sorted(stolen + rest, key=lambda i: -int(inc.occurred[i]))
        keep = position[chosen[0]]
        number[keep], unit[keep], status[keep] = demo.number, demo.unit, "open"
        opened[keep] = min(int(inc.reported[chosen].max()) + _DAY, p.snapshot_utc - 60)
        for i in chosen[1:]:
            drop.append(position[i])
            linked.append(i)
            linked_case.append(keep)
    kept = np.setdiff1d(np.arange(len(number)), np.array(drop, dtype=np.int64))
    new_position = np.full(len(number), -1, dtype=np.int64)
    new_position[kept] = np.arange(len(kept))
    return _Cases(
        incident=cases.incident[kept],
        opened=opened[kept],
        status=[status[k] for k in kept.tolist()],
        unit=[unit[k] for k in kept.tolist()],
        number=[number[k] for k in kept.tolist()],
        linked=np.array(linked, dtype=np.int64),
        linked_case=new_position[np.array(linked_case, dtype=np.int64)],
    )


def _unit(level: int, category: int, kec: int) -> str:
    polres = KOTA[_KOTA_INDEX[kec]].polres
    if level == 2:
        if category == _NARCOTICS:
            return "Ditresnarkoba"
        if category == _FRAUD:
            return "Ditreskrimsus"  # online fraud goes to the cyber directorate
        if category == _TRAFFIC:
            return "Ditlantas"
        return "Ditreskrimum"
    if level == 1:
        if category == _NARCOTICS:
            return f"Satresnarkoba {polres}"
        if category == _TRAFFIC:
            return f"Satlantas {polres}"
        return f"Satreskrim {polres}"
    return f"Unit Reskrim Polsek {KECAMATAN[kec].name}"


def _office(level: int, kec: int) -> str:
    polda = "POLDA METRO JAYA"
    if level == 2:
        return polda
    polres = KOTA[_KOTA_INDEX[kec]].polres.upper()
    if level == 1:
        return f"{polres}/{polda}"
    return f"POLSEK {KECAMATAN[kec].name.upper()}/{polres}/{polda}"


# --- Writing -------------------------------------------------------------------------------


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens transactions itself and only before DML; taking that over makes the
    # DDL, the inserts and the indexes one transaction, all or nothing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=OFF")  # this engine lives only for the seed
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


def _populated_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        return [
            name
            for name in names
            if conn.execute(select(literal(1)).select_from(sql_table(name)).limit(1)).first()
            is not None
        ]


def _datetimes(seconds: I64) -> list[Any]:
    return [
        None if s < 0 else d
        for s, d in zip(seconds.tolist(), seconds.astype("datetime64[s]").tolist(), strict=True)
    ]


def _insert(
    conn: Connection, table: str, columns: Mapping[str, Sequence[Any]], bar: tqdm[Any]
) -> None:
    names = list(columns)
    total = len(columns[names[0]])
    bar.set_description_str(f"gerbang seed: writing {table}")
    for start in range(0, total, CHUNK_ROWS):
        parts = [columns[name][start : start + CHUNK_ROWS] for name in names]
        conn.execute(
            insert(Base.metadata.tables[table]),
            [dict(zip(names, row, strict=True)) for row in zip(*parts, strict=True)],
        )
        bar.update(len(parts[0]))


def _h3_cells(lat: Sequence[float], lon: Sequence[float]) -> dict[str, list[str]]:
    """Each incident's stored H3 cells, from the same floats the database receives."""
    return {
        h3_column_name(r): [cell_of(a, b, r) for a, b in zip(lat, lon, strict=True)]
        for r in H3_STORED_RESOLUTIONS
    }


def _write(
    engine: Engine,
    p: _Params,
    inc: _Incidents,
    people: _Persons,
    inv: _Involvements,
    vehicles: _Vehicles,
    cases: _Cases,
    truth: Sequence[Mapping[str, Any]],
    bar: tqdm[Any],
) -> None:
    tables = Base.metadata.sorted_tables
    case_of = np.full(len(inc.category), -1, dtype=np.int64)
    case_of[cases.incident] = np.arange(1, len(cases.incident) + 1)
    case_of[cases.linked] = cases.linked_case + 1
    kec_names = [k.name for k in KECAMATAN]
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        for table in tables:
            # Indexes come after the rows: building them once is cheaper than keeping them.
            conn.execute(CreateTable(table))
        _insert(
            conn,
            "areas",
            {
                "kecamatan": [kec_names[k] for k in p.kecamatan.tolist()],
                "kota": [KECAMATAN[k].kota for k in p.kecamatan.tolist()],
                "population": [KECAMATAN[k].population for k in p.kecamatan.tolist()],
                "lat": [KECAMATAN[k].lat for k in p.kecamatan.tolist()],
                "lon": [KECAMATAN[k].lon for k in p.kecamatan.tolist()],
            },
            bar,
        )
        _insert(
            conn,
            "cases",
            {
                "case_id": list(range(1, len(cases.incident) + 1)),
                "case_number": cases.number,
                "opened_at": _datetimes(cases.opened),
                "status": cases.status,
                "unit": cases.unit,
            },
            bar,
        )
        _insert(
            conn,
            "persons",
            {
                "person_id": list(range(1, len(people.kec) + 1)),
                "nik": people.nik,
                "name": people.name,
                "birth_date": people.birth_day.astype("datetime64[D]").tolist(),
                "sex": ["P" if f else "L" for f in people.female.tolist()],
                "address": people.address,
                "kecamatan": [kec_names[k] for k in people.kec.tolist()],
                "kota": [KECAMATAN[k].kota for k in people.kec.tolist()],
            },
            bar,
        )
        kec_list = inc.kec.tolist()
        lat, lon = inc.lat.tolist(), inc.lon.tolist()
        _insert(
            conn,
            "incidents",
            {
                "incident_id": list(range(1, len(kec_list) + 1)),
                "occurred_at": _datetimes(inc.occurred),
                "reported_at": _datetimes(inc.reported),
                "lat": lat,
                "lon": lon,
                "kelurahan": [_KELURAHAN[k] for k in inc.kelurahan.tolist()],
                "kecamatan": [kec_names[k] for k in kec_list],
                "kota": [KECAMATAN[k].kota for k in kec_list],
                "category": [_CATEGORIES[c] for c in inc.category.tolist()],
                "modus_operandi": inc.modus,
                "status": [INCIDENT_STATUSES[s] for s in inc.status.tolist()],
                "source": [INCIDENT_SOURCES[s] for s in inc.source.tolist()],
                "case_id": [None if c < 0 else c for c in case_of.tolist()],
                **_h3_cells(lat, lon),
            },
            bar,
        )
        _insert(
            conn,
            "incident_persons",
            {
                "incident_id": (inv.incident + 1).tolist(),
                "person_id": (inv.person + 1).tolist(),
                "role": [ROLES[r] for r in inv.role.tolist()],
            },
            bar,
        )
        _insert(
            conn,
            "vehicles",
            {
                "vehicle_id": list(range(1, len(vehicles.plate) + 1)),
                "plate": vehicles.plate,
                "owner_person_id": (vehicles.owner + 1).tolist(),
                "make": vehicles.make,
                "model": vehicles.model,
                "colour": vehicles.colour,
                "stolen": vehicles.stolen.tolist(),
                "stolen_reported_at": _datetimes(vehicles.stolen_reported),
            },
            bar,
        )
        if truth:
            conn.execute(insert(SeedTruth), [dict(row) for row in truth])
        bar.set_description_str("gerbang seed: building indexes")
        for table in tables:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                index.create(conn)
        if conn.dialect.name == "postgresql":
            _advance_sequences(conn)


def _advance_sequences(conn: Connection) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind; move them past the rows."""
    for table, column in (
        ("cases", "case_id"),
        ("incidents", "incident_id"),
        ("persons", "person_id"),
        ("vehicles", "vehicle_id"),
        ("seed_truth", "truth_id"),
    ):
        key = Base.metadata.tables[table].c[column]
        following = select(func.coalesce(func.max(key), 0) + 1).scalar_subquery()
        conn.execute(
            select(func.setval(func.pg_get_serial_sequence(table, column), following, False))
        )


def _truth_rows(
    p: _Params, hotspots: Sequence[_Hotspot], surges: Sequence[_Surge]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    start = _datetimes(np.array([p.start_local - _WIB_SECONDS, p.snapshot_utc]))
    for i, h in enumerate(hotspots, 1):
        lat, lon = _to_lat_lon(np.array([h.x]), np.array([h.y]))
        kel = _KELURAHAN[
            int(_kelurahan_index(np.array([h.kec]), np.array([h.x]), np.array([h.y]))[0])
        ]
        rows.append(
            {
                "kind": "hotspot",
                "label": f"hotspot {i:02d}: {kel}, {KECAMATAN[h.kec].name}",
                "kota": KECAMATAN[h.kec].kota,
                "kecamatan": KECAMATAN[h.kec].name,
                "lat": float(lat[0]),
                "lon": float(lon[0]),
                "radius_m": round(h.radius, 1),
                "factor": p.hotspot_factor,
                "start_at": start[0],
                "end_at": start[1],
                "category": None,
            }
        )
    for i, s in enumerate(surges, 1):
        bounds = p.start_local - _WIB_SECONDS + np.array([s.first_day, s.first_day + s.days]) * _DAY
        when = _datetimes(bounds)
        k = KECAMATAN[s.kec]
        rows.append(
            {
                "kind": "surge",
                "label": f"surge {i:02d}: {k.name}, {s.days} days",
                "kota": k.kota,
                "kecamatan": k.name,
                "lat": k.lat,
                "lon": k.lon,
                "radius_m": round(float(_RADIUS[s.kec]), 1),
                "factor": p.surge_factor,
                "start_at": when[0],
                "end_at": when[1],
                "category": None,
            }
        )
    return [{"truth_id": i, **row} for i, row in enumerate(rows, 1)]


# --- Public entry points -------------------------------------------------------------------


def seed_city(
    url: str,
    *,
    incidents: int,
    seed: int,
    kota: Sequence[str] | None = None,
    hotspots: int = DEFAULT_HOTSPOTS,
    hotspot_factor: float = 3.0,
    surges: int = DEFAULT_SURGES,
    surge_factor: float = 0.6,
    days: int = 365,
    end: date | None = None,
    persons: int | None = None,
    replace: bool = False,
    hotspot_unit: HotspotUnit = "cell",
    progress: bool = False,
) -> SeedSummary:
    """Fill the database at `url` with a synthetic city; the same arguments give the same rows.

    `kota` limits the city to those kota (all five by default). Incidents fall on the `days`
    local days before `end` (exclusive; default `DEFAULT_END`). `persons` defaults to the
    number of incidents plus 1000. Raises `DatabaseNotEmptyError` if any table holds rows, unless
    `replace`, which drops and re-creates the reference schema's tables; `ValueError` for
    arguments out of range. `progress` shows the stages and the rows written on stderr.
    """
    started = time.perf_counter()
    p = _params(
        incidents,
        kota,
        hotspots,
        hotspot_factor,
        surges,
        surge_factor,
        days,
        end,
        persons,
        hotspot_unit,
    )
    engine = _engine(url)
    try:
        populated = _populated_tables(engine)
        if populated and not replace:
            raise DatabaseNotEmptyError(
                f"{make_url(url).render_as_string(hide_password=True)} already holds rows in "
                f"{', '.join(populated)}; seed an empty database, or pass --replace to drop and "
                "re-create the police schema's tables"
            )
        with tqdm(
            total=0, unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress
        ) as bar:
            bar.set_description_str("gerbang seed: drawing the city")
            rng = Generator(PCG64(seed))
            # Drawn for all 42 kecamatan whatever `kota` says, so a kecamatan keeps its character.
            noise = rng.lognormal(0.0, 0.25, size=(len(KECAMATAN), len(_CATEGORIES)))
            mix = _SHARE * noise
            mix /= mix.sum(axis=1, keepdims=True)
            planted_hotspots = _plant_hotspots(rng, p)
            planted_surges = _plant_surges(rng, p)
            bar.set_description_str("gerbang seed: drawing incidents")
            inc = _incidents(rng, p, mix, planted_hotspots, planted_surges)
            bar.set_description_str("gerbang seed: drawing persons and vehicles")
            people = _persons(rng, p)
            inv = _involvements(rng, inc, people)
            vehicles = _vehicles(rng, inc, people, inv.victim_of)
            bar.set_description_str("gerbang seed: filing cases")
            cases = _file_demo_cases(p, inc, inv.victim_of, vehicles, _cases(rng, p, inc))
            truth = _truth_rows(p, planted_hotspots, planted_surges)
            bar.reset(
                total=len(p.kecamatan)
                + len(cases.incident)
                + len(people.kec)
                + len(inc.category)
                + len(inv.role)
                + len(vehicles.plate)
            )
            _write(engine, p, inc, people, inv, vehicles, cases, truth, bar)
    finally:
        engine.dispose()
    return SeedSummary(
        areas=len(p.kecamatan),
        incidents=len(inc.category),
        persons=len(people.kec),
        involvements=len(inv.role),
        vehicles=len(vehicles.plate),
        stolen_vehicles=int(vehicles.stolen.sum()),
        cases=len(cases.incident),
        hotspots=len(planted_hotspots),
        surges=len(planted_surges),
        elapsed_seconds=time.perf_counter() - started,
    )


def _kota_argument(value: str) -> str:
    wanted = " ".join(value.replace("-", " ").replace("_", " ").lower().split())
    for name in KOTA_NAMES:
        if wanted in (name.lower(), name.lower().removeprefix("jakarta ")):
            return name
    raise argparse.ArgumentTypeError(
        f"unknown kota {value!r}; expected one of {', '.join(KOTA_NAMES)}"
    )


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {number}")
        return number

    return parse


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `gerbang seed` options to `parser`."""
    parser.add_argument("--store", required=True, metavar="URL", help="SQLAlchemy database URL")
    parser.add_argument("--incidents", required=True, type=_at_least(1), metavar="N")
    parser.add_argument("--seed", required=True, type=int, metavar="S")
    parser.add_argument(
        "--kota",
        nargs="+",
        type=_kota_argument,
        metavar="KOTA",
        help="seed only these kota, e.g. 'Jakarta Selatan' or jakarta-timur (default: all five)",
    )
    parser.add_argument("--hotspots", type=_at_least(0), default=DEFAULT_HOTSPOTS, metavar="N")
    parser.add_argument(
        "--hotspot-factor",
        type=float,
        default=3.0,
        metavar="F",
        help="2 to 4: the rate of a hotspot's resolution-8 cell against the cells around it",
    )
    parser.add_argument(
        "--hotspot-unit",
        choices=("cell", "disc"),
        default="cell",
        help="cell (default): the hotspot's cell has F times its neighbours' rate; disc: its "
        "disc has F times the density around it, so its cell only 1.1 to 1.6 times (harder)",
    )
    parser.add_argument("--surges", type=_at_least(0), default=DEFAULT_SURGES, metavar="N")
    parser.add_argument(
        "--surge-factor", type=float, default=0.6, metavar="F", help="0.6 means +60 %%"
    )
    parser.add_argument("--days", type=_at_least(1), default=365, metavar="N")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=DEFAULT_END,
        metavar="YYYY-MM-DD",
        help=f"first local day after the window (default {DEFAULT_END.isoformat()})",
    )
    parser.add_argument("--persons", type=_at_least(1), default=None, metavar="N")
    parser.add_argument(
        "--replace", action="store_true", help="drop and re-create the police schema's tables"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (it is shown on one)",
    )


def run_seed(args: argparse.Namespace) -> int:
    """Seed as `args` (from `add_seed_arguments`) say, print a summary, return the exit code."""
    try:
        summary = seed_city(
            args.store,
            incidents=args.incidents,
            seed=args.seed,
            kota=args.kota,
            hotspots=args.hotspots,
            hotspot_factor=args.hotspot_factor,
            surges=args.surges,
            surge_factor=args.surge_factor,
            days=args.days,
            end=args.end,
            persons=args.persons,
            replace=args.replace,
            hotspot_unit=args.hotspot_unit,
            progress=args.progress or sys.stderr.isatty(),
        )
    except (DatabaseNotEmptyError, ValueError) as exc:
        print(f"gerbang seed: {exc}", file=sys.stderr)
        return 1
    where = make_url(args.store).render_as_string(hide_password=True)
    kota = ", ".join(args.kota) if args.kota else "all five kota"
    rate = summary.incidents / summary.elapsed_seconds if summary.elapsed_seconds else 0.0
    print(
        f"Seeded {where} in {summary.elapsed_seconds:.1f} s ({rate:,.0f} incidents/s) with seed "
        f"{args.seed}: {summary.incidents:,} incidents over the {args.days} days before "
        f"{args.end.isoformat()} in {summary.areas} kecamatan of {kota}, {summary.persons:,} "
        f"persons, {summary.involvements:,} involvements, {summary.vehicles:,} vehicles "
        f"({summary.stolen_vehicles:,} stolen) and {summary.cases:,} cases; planted "
        f"{summary.hotspots} hotspots (x{args.hotspot_factor:g}) and {summary.surges} surges "
        f"(+{args.surge_factor:.0%}), recorded in seed_truth."
    )
    return 0
