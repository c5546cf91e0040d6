"""The incidents: surges, then (category, zone, day), hour, place, source, report and status.

Counts come from one multinomial over category x zone (kecamatan or hotspot) x day, weighted by
the kecamatan's category mix and population, each hotspot's extra rate, the weekday profile,
a mild annual cycle and the surges; hours follow the category's local (WIB) hour profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.random import Generator

from tools.city.arrays import B8, F64, I64, normalised
from tools.city.geometry import (
    HOTSPOT_CELL_M2,
    POPULATION,
    Hotspot,
    kelurahan_index,
    place,
    region_area_m2,
    to_lat_lon,
)
from tools.city.params import DAY, WIB_SECONDS, Params
from tools.city.profiles import CATEGORIES, HOURS, PROFILES, WEEKDAYS, per_category

SURGE_DAYS = (5, 10)


@dataclass(frozen=True, slots=True)
class Surge:
    """A planted surge: kecamatan `kec`'s rate raised for `days` days from `first_day`."""

    kec: int
    first_day: int
    days: int


def plant_surges(rng: Generator, p: Params) -> list[Surge]:
    """Distinct kecamatan, by population, each with a surge of 5 to 10 days."""
    if p.surges == 0:
        return []
    weights = normalised(POPULATION[p.kecamatan])
    chosen = rng.choice(len(p.kecamatan), size=p.surges, replace=False, p=weights)
    surges = []
    for i in chosen.tolist():
        length = int(rng.integers(SURGE_DAYS[0], SURGE_DAYS[1] + 1))
        # A quarter of the window before the earliest start leaves a baseline to rise from.
        first = int(rng.integers(p.days // 4, p.days - length + 1))
        surges.append(Surge(int(p.kecamatan[i]), first, length))
    return surges


@dataclass(frozen=True, slots=True)
class Incidents:
    """The drawn incidents, one array element each, in order of occurrence."""

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


def _day_weights(p: Params) -> F64:
    """Relative rate of each category on each day: weekday profile times annual cycle."""
    first = date.fromordinal(p.end.toordinal() - p.days)
    day = np.arange(p.days)
    weekday = (first.weekday() + day) % 7
    doy = (first.timetuple().tm_yday - 1 + day) % 365
    # Drier months (peak mid-August) bring more people and crime onto the street than the
    # January-February rains.
    season = 1.0 + 0.08 * np.cos(2 * math.pi * (doy - 225) / 365.0)
    return np.asarray(WEEKDAYS[:, weekday] * season, dtype=np.float64)


def _hotspot_area(p: Params, h: Hotspot) -> float:
    """The area whose background incidents a hotspot adds (factor - 1) times over its disc."""
    return HOTSPOT_CELL_M2 if p.hotspot_unit == "cell" else math.pi * h.radius**2


def draw_incidents(
    rng: Generator,
    p: Params,
    category_mix: F64,
    hotspots: Sequence[Hotspot],
    surges: Sequence[Surge],
) -> Incidents:
    """`p.incidents` incidents over the window, sorted by when they occurred."""
    n_kec = len(p.kecamatan)
    area = region_area_m2()
    zone_kec = np.concatenate((p.kecamatan, [h.kec for h in hotspots])).astype(np.int64)
    # A hotspot zone adds (factor - 1) times the background incidents of one H3
    # resolution-8 cell ("cell", the definition: the cell it falls in has `factor`
    # times the rate of the cells around it), or of its own disc ("disc": the disc's density
    # is `factor` times its surroundings', and the cell holding it only 1.1 to 1.6 times).
    zone_weight = np.concatenate(
        (
            POPULATION[p.kecamatan],
            [
                (p.hotspot_factor - 1) * POPULATION[h.kec] * _hotspot_area(p, h) / area[h.kec]
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
    for c in range(len(CATEGORIES)):
        mask = category == c
        hour[mask] = rng.choice(24, size=int(mask.sum()), p=HOURS[c])
    second = rng.integers(0, 3600, size=p.incidents)
    occurred = p.start_local + day * DAY + hour * 3600 + second - WIB_SECONDS
    order = np.argsort(occurred, kind="stable")
    occurred, category, zone = occurred[order], category[order], zone[order]
    kec = zone_kec[zone]

    x, y = place(rng, zone, n_kec, zone_kec, hotspots)
    lat, lon = to_lat_lon(x, y)

    modus_names: list[str] = []
    modus_index = np.empty(p.incidents, dtype=np.int64)
    for c, name in enumerate(CATEGORIES):
        mo = PROFILES[name].modus
        mask = category == c
        picks = rng.choice(len(mo), size=int(mask.sum()), p=normalised([w for _, w in mo]))
        modus_index[mask] = len(modus_names) + picks
        modus_names.extend(m for m, _ in mo)
    modus = [modus_names[i] for i in modus_index.tolist()]

    source, reported = _sources_and_delays(rng, p, category, occurred)
    status, investigated = _statuses(rng, p, category, source, reported)
    return Incidents(
        occurred=occurred,
        reported=reported,
        category=category,
        kec=kec,
        kelurahan=kelurahan_index(kec, x, y),
        lat=lat,
        lon=lon,
        modus=modus,
        source=source,
        status=status,
        investigated=investigated,
    )


def _sources_and_delays(rng: Generator, p: Params, category: I64, occurred: I64) -> tuple[I64, I64]:
    n = len(category)
    u = rng.random(n)
    emergency = per_category("emergency")[category]
    police = per_category("police")[category]
    source = np.where(u < emergency, 1, np.where(u >= 1 - police, 2, 0)).astype(np.int64)
    median = per_category("report_median_h")[category] * 3600
    by_citizen = median * np.exp(rng.normal(0.0, 1.0, n))
    by_call = 60 + rng.exponential(900.0, n)
    by_police = rng.uniform(0.0, 1800.0, n)
    delay = np.choose(source, (by_citizen, by_call, by_police))
    # Nothing can be reported after the snapshot is taken.
    delay = np.minimum(delay, 0.9 * (p.snapshot_utc - occurred))
    return source, occurred + delay.astype(np.int64)


def _statuses(
    rng: Generator, p: Params, category: I64, source: I64, reported: I64
) -> tuple[I64, B8]:
    """Status at the snapshot, and whether police opened an investigation.

    Police take a report up within days or not at all; what they take up is solved over weeks,
    or stopped over months. Untaken reports are eventually closed without action.
    """
    age = (p.snapshot_utc - reported) / DAY
    u = rng.random((3, len(category)))
    take_up = per_category("take_up")[category]
    taken = (u[0] < take_up * (1 - np.exp(-age / 3))) | (source == 2)
    solve = per_category("solve")[category] / take_up
    solved = taken & (u[1] < solve * (1 - np.exp(-age / 20)))
    stopped = taken & ~solved & (u[2] < 0.5 * (1 - np.exp(-age / 120)))
    dropped = ~taken & (u[2] < 0.6 * (1 - np.exp(-age / 90)))
    status = np.select([solved, stopped | dropped, taken], [2, 3, 1], 0)
    return status.astype(np.int64), taken
