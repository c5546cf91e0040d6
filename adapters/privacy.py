"""Differential privacy at the adapter: the fixed domain of a noisy count table.

A plan with an epsilon is answered with `gateway.analytics.privacy.privatise`: discrete Laplace
noise on every cell of a domain, then the minimum cell count k on the noisy values. The domain
must be fixed before the data is read, from public knowledge only, or the released cells would
tell which cells hold no rows at all. `public_domain` builds it, per group-by dimension:

- H3 cells of `location`: every cell that can hold part of one of this adapter's kecamatan (its
  `areas` table, placed by the public reference geography as a disc of the kecamatan's area
  around its centroid);
- kecamatan and kota: the adapter's `areas`;
- categories, statuses and sources: the schema's closed lists;
- hour of day (0-23) and day of week (1-7): the calendar;
- local days, weeks and months: the calendar between a lower and an upper bound that the plan's
  own filters put on the same time field.

The plan's own `eq`/`in` filters on kecamatan, kota and the closed lists narrow the domain: they
are part of the signed plan, not of the data.

Any other dimension has no public domain and the plan is refused. The domain of several
dimensions is their product, capped at `MAX_DOMAIN` cells.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Final

from adapters.geography import KECAMATAN
from adapters.schema import INCIDENT_CATEGORIES, INCIDENT_SOURCES, INCIDENT_STATUSES, WIB_OFFSET
from adapters.sql import PlanRefused
from gateway.analytics import _h3
from gateway.catalog import LOCATION
from gateway.model import Bucket, Filter, GroupBy, Op, Scalar, utc

__all__ = ["MAX_DOMAIN", "public_domain"]

# A noisy release spends noise on every cell of its domain; past this, refuse rather than
# build (and send) a table of mostly noise.
MAX_DOMAIN: Final = 200_000
# Public, closed lists of values (the reference schema's CHECK constraints).
_ENUMERATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "category": INCIDENT_CATEGORIES,
    "status": INCIDENT_STATUSES,
    "source": INCIDENT_SOURCES,
}
_GEOGRAPHY: Final = {k.name: k for k in KECAMATAN}


def public_domain(
    dimensions: Sequence[GroupBy], filters: Sequence[Filter], areas: Mapping[str, str]
) -> list[tuple[Scalar, ...]]:
    """Every group a noisy release over `dimensions` may hold, from public knowledge only.

    `areas` maps this adapter's kecamatan to their kota. Raises `PlanRefused` naming the
    dimension that has no public domain, or when the domain is too large.
    """
    # The plan's own positive filters on places and closed lists are public knowledge too:
    # a caller limited to one kota is not sent noise for the others.
    areas = {
        k: kota
        for k, kota in areas.items()
        if _admits(filters, "kecamatan", k) and _admits(filters, "kota", kota)
    }
    values = [
        [
            v
            for v in _values(g, filters, areas)
            if g.bucket is not Bucket.NONE or _admits(filters, g.field, v)
        ]
        for g in dimensions
    ]
    size = math.prod(len(v) for v in values)
    if size > MAX_DOMAIN:
        raise PlanRefused(
            f"a differentially private answer over {size} groups is refused (at most "
            f"{MAX_DOMAIN}): ask for coarser cells or a shorter time window"
        )
    return list(itertools.product(*values))


def _admits(filters: Sequence[Filter], field: str, value: Scalar) -> bool:
    """Whether every `eq`/`in` filter on `field` lets `value` through."""
    return all(value in f.values for f in filters if f.field == field and f.op in (Op.EQ, Op.IN))


def _values(g: GroupBy, filters: Sequence[Filter], areas: Mapping[str, str]) -> Sequence[Scalar]:
    if g.bucket is Bucket.H3 and g.field == LOCATION:
        return _h3_cells(tuple(sorted(areas)), g.h3_resolution)
    match g.bucket:
        case Bucket.NONE:
            if g.field == "kecamatan":
                return sorted(areas)
            if g.field == "kota":
                return sorted(set(areas.values()))
            if g.field in _ENUMERATIONS:
                return _ENUMERATIONS[g.field]
        case Bucket.HOUR_OF_DAY:
            return range(24)
        case Bucket.DAY_OF_WEEK:
            return range(1, 8)
        case Bucket.DAY | Bucket.WEEK | Bucket.MONTH:
            return _calendar(g, filters)
    raise PlanRefused(
        f"no public domain for a differentially private group-by on {g.field!r} "
        f"(bucket {g.bucket}): the groups would have to be read from the data"
    )


@functools.lru_cache(maxsize=32)
def _h3_cells(kecamatan: tuple[str, ...], resolution: int) -> tuple[str, ...]:
    unknown = [k for k in kecamatan if k not in _GEOGRAPHY]
    if unknown:
        raise PlanRefused(
            f"no public geography for kecamatan {', '.join(unknown[:3])}: cannot fix the H3 "
            "cells of a differentially private heatmap"
        )
    discs = [_disc(name) for name in kecamatan]
    # Estimate before enumerating: a fine resolution over a city is millions of cells.
    hexagon_km2 = 3 * math.sqrt(3) / 2 * (_h3.edge_length_m(resolution) / 1000) ** 2
    estimate = sum(math.pi * (r / 1000 + 2 * hexagon_km2**0.5) ** 2 for _, _, r in discs)
    if estimate / hexagon_km2 > MAX_DOMAIN:
        raise PlanRefused(
            f"H3 resolution {resolution} over this adapter's areas is more than {MAX_DOMAIN} "
            "cells: ask for coarser cells"
        )
    return tuple(sorted(_h3.cells_near(discs, resolution)))


def _disc(name: str) -> tuple[float, float, float]:
    k = _GEOGRAPHY[name]
    return k.lat, k.lon, math.sqrt(k.area_km2 * 1e6 / math.pi)


def _calendar(g: GroupBy, filters: Sequence[Filter]) -> list[Scalar]:
    """Local (WIB) days, weeks (their Monday) or months between the plan's own bounds."""
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None
    for f in filters:
        if f.field != g.field or not isinstance(f.values[0], dt.datetime):
            continue
        t = utc(f.values[0])
        if f.op in (Op.GE, Op.GT):
            lower = t if lower is None else max(lower, t)
        elif f.op in (Op.LT, Op.LE):
            upper = t if upper is None else min(upper, t)
    if lower is None or upper is None:
        raise PlanRefused(
            f"a differentially private group-by on {g.field!r} by {g.bucket} needs filters "
            f"bounding {g.field!r} below (ge) and above (lt), so its calendar is fixed"
        )
    first = (lower + WIB_OFFSET).date()
    last = (upper + WIB_OFFSET).date()
    if (last - first).days > MAX_DOMAIN:
        raise PlanRefused(f"the window on {g.field!r} is too long for a private answer")
    out: dict[str, None] = {}
    day = first
    while day <= last:
        if g.bucket is Bucket.DAY:
            out[day.isoformat()] = None
        elif g.bucket is Bucket.WEEK:
            out[(day - dt.timedelta(days=day.weekday())).isoformat()] = None
        else:
            out[day.strftime("%Y-%m")] = None
        day += dt.timedelta(days=1)
    return list(out)
