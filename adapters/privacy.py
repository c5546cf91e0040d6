"""Differential privacy at the adapter: the fixed domain of a noisy count table.

A plan with an epsilon is answered with `adapters.noise.privatise`: discrete Laplace
noise on every cell of a domain, then the minimum cell count k on the noisy values. The domain
must be fixed before the data is read, from public knowledge only, or the released cells would
tell which cells hold no rows at all. `public_domain` builds it, per group-by dimension:

- H3 cells of `location`: every cell that can hold part of one of this adapter's kecamatan (its
  `areas` table, placed by the public reference geography as a disc of the kecamatan's area
  around its centroid);
- kecamatan and kota: the adapter's `areas`; kelurahan: the reference geography's kelurahan of
  those kecamatan;
- categories, statuses and sources: the schema's closed lists; modus operandi: the schema's
  published codes of each category (`MODUS_OPERANDI`);
- hour of day (0-23) and day of week (1-7): the calendar;
- local days, weeks and months: the calendar between a lower and an upper bound that the plan's
  own filters put on the same time field;
- spans (ADR 0032): the plan's own spans, whose first and last boundaries are that window (the
  plan is refused otherwise when it is built).

The plan's own `in`/`eq` filters narrow the lists (a plan for one kota releases no group of
another): they are part of the signed plan, not of the data.

Any other dimension (a free-text or numeric field) has no public domain and the plan is refused.

Dimensions that the geography or the code list ties together are enumerated jointly, as the
pairs that can occur, not as their product: (H3 cell, kecamatan) are the cells near each
kecamatan, (kecamatan, kota) and (kecamatan, kelurahan) the administrative hierarchy, and
(category, modus operandi) each category's codes. A patrol plan's cell x kecamatan x span is
then about 2 900 pairs x 3 spans over the whole city (x 52 by week), not 1 180 x 42 x 3. Unrelated
dimensions multiply, and the whole domain is capped at `MAX_DOMAIN` groups, counted before it
is built. All of it is a function of the plan and the public geography: never of the data.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from adapters.schema import (
    INCIDENT_CATEGORIES,
    INCIDENT_SOURCES,
    INCIDENT_STATUSES,
    MODUS_OPERANDI,
    WIB_OFFSET,
)
from adapters.sql import PlanRefused
from gateway.protocol import cells as _h3
from gateway.protocol.catalog import LOCATION
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.model import Bucket, Filter, GroupBy, Op
from gateway.protocol.spans import span_labels
from gateway.protocol.values import Scalar, utc

__all__ = ["MAX_DOMAIN", "public_domain"]

# A noisy release spends noise on every cell of its domain; past this, refuse rather than
# build (and send) a table of mostly noise.
MAX_DOMAIN: Final = 200_000
# Public, closed lists of values (the reference schema's CHECK constraints and code lists).
_ENUMERATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "category": INCIDENT_CATEGORIES,
    "status": INCIDENT_STATUSES,
    "source": INCIDENT_SOURCES,
    "modus_operandi": tuple(sorted({m for codes in MODUS_OPERANDI.values() for m in codes})),
}
_GEOGRAPHY: Final = {k.name: k for k in KECAMATAN}
# The dimensions that the geography or a code list relate: what a group-by dimension is.
_CELL: Final = "cell"
_PLACES: Final = ("kota", "kecamatan", "kelurahan")
_Compatible = Callable[[Scalar, Scalar], bool]


def public_domain(
    dimensions: Sequence[GroupBy], filters: Sequence[Filter], areas: Mapping[str, str]
) -> list[tuple[Scalar, ...]]:
    """Every group a noisy release over `dimensions` may hold, from public knowledge only.

    `areas` maps this adapter's kecamatan to their kota. Raises `PlanRefused` naming the
    dimension that has no public domain, or when the domain is too large.
    """
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
    kinds = [_kind(g) for g in dimensions]
    blocks = _blocks(kinds, areas, dimensions)
    joint = [_joint(block, values, kinds, areas, dimensions) for block in blocks]
    size = math.prod(len(j) for j in joint)
    if size > MAX_DOMAIN:
        raise PlanRefused(
            f"a differentially private answer over {size} groups is refused (at most "
            f"{MAX_DOMAIN}): ask for coarser cells or a shorter time window"
        )
    # Blocks hold their dimensions out of order: put each value back in its column.
    flat = [i for block in blocks for i in block]
    column = [flat.index(i) for i in range(len(dimensions))]
    return [
        tuple(values[c] for c in column)
        for values in (tuple(itertools.chain(*parts)) for parts in itertools.product(*joint))
    ]


def _admits(filters: Sequence[Filter], name: str, value: Scalar) -> bool:
    """Whether the plan's own `in`/`eq` filters on `name` let `value` through: a group the
    plan excludes is not released (the filters are the plan's, so public)."""
    return all(value in f.values for f in filters if f.field == name and f.op in (Op.IN, Op.EQ))


def _kind(g: GroupBy) -> str | None:
    if g.bucket is Bucket.H3 and g.field == LOCATION:
        return _CELL
    if g.bucket is Bucket.NONE and g.field in (*_PLACES, "category", "modus_operandi"):
        return g.field
    return None


def _relation(a: GroupBy, b: GroupBy, areas: Mapping[str, str]) -> _Compatible | None:
    """Which pairs of values of `a` and `b` can occur together, if the public geography or a
    code list says (None: any pair can)."""
    ka, kb = _kind(a), _kind(b)
    if ka is None or kb is None or ka == kb:
        return None
    if {ka, kb} == {"category", "modus_operandi"}:

        def modus(x: Scalar, y: Scalar) -> bool:
            category, code = (x, y) if ka == "category" else (y, x)
            return code in MODUS_OPERANDI.get(str(category), ())

        return modus
    if ka in (_CELL, *_PLACES) and kb in (_CELL, *_PLACES):
        resolution = a.h3_resolution if ka == _CELL else b.h3_resolution
        places = _places(tuple(sorted(areas.items())), resolution)

        def place(x: Scalar, y: Scalar) -> bool:
            return bool(places[ka].get(x, frozenset()) & places[kb].get(y, frozenset()))

        return place
    return None


@functools.lru_cache(maxsize=32)
def _places(
    areas: tuple[tuple[str, str], ...], resolution: int
) -> dict[str, dict[Scalar, frozenset[str]]]:
    """For each place dimension, each value's kecamatan (of this adapter): two values can
    occur together when they share one. A cell's are the kecamatan it may hold part of."""
    by: dict[str, dict[Scalar, set[str]]] = {kind: {} for kind in (_CELL, *_PLACES)}
    for kecamatan, kota in areas:
        by["kecamatan"].setdefault(kecamatan, set()).add(kecamatan)
        by["kota"].setdefault(kota, set()).add(kecamatan)
        k = _GEOGRAPHY.get(kecamatan)
        if k is None:
            continue
        for kelurahan in k.kelurahan:
            by["kelurahan"].setdefault(kelurahan, set()).add(kecamatan)
        if resolution:
            for cell in _h3.cells_near([_disc(kecamatan)], resolution):
                by[_CELL].setdefault(cell, set()).add(kecamatan)
    return {kind: {v: frozenset(s) for v, s in d.items()} for kind, d in by.items()}


def _blocks(
    kinds: Sequence[str | None], areas: Mapping[str, str], dimensions: Sequence[GroupBy]
) -> list[list[int]]:
    """The dimensions in groups that are enumerated jointly (connected by a relation)."""
    blocks: list[list[int]] = []
    for i in range(len(dimensions)):
        linked = [
            b
            for b in blocks
            if any(_relation(dimensions[j], dimensions[i], areas) is not None for j in b)
        ]
        merged = [j for b in linked for j in b] + [i]
        blocks = [b for b in blocks if b not in linked] + [sorted(merged)]
    # Enumerate the narrower place first, so each step prunes (kecamatan before its cells).
    order = {"kecamatan": 0, "kelurahan": 1, "kota": 2, "category": 0}
    return [sorted(b, key=lambda j: (order.get(kinds[j] or "", 3), j)) for b in blocks]


def _joint(
    block: Sequence[int],
    values: Sequence[Sequence[Scalar]],
    kinds: Sequence[str | None],
    areas: Mapping[str, str],
    dimensions: Sequence[GroupBy],
) -> list[tuple[Scalar, ...]]:
    """The value tuples of one block that the relations between its dimensions allow."""
    partial: list[tuple[Scalar, ...]] = [()]
    for step, i in enumerate(block):
        relations = [
            (position, r)
            for position, j in enumerate(block[:step])
            if (r := _relation(dimensions[j], dimensions[i], areas)) is not None
        ]
        partial = [
            (*p, v)
            for p in partial
            for v in values[i]
            if all(r(p[position], v) for position, r in relations)
        ]
        if len(partial) > MAX_DOMAIN:
            raise PlanRefused(
                f"a differentially private answer over more than {MAX_DOMAIN} groups is "
                "refused: ask for coarser cells or fewer dimensions"
            )
    return partial


def _values(g: GroupBy, filters: Sequence[Filter], areas: Mapping[str, str]) -> Sequence[Scalar]:
    if g.bucket is Bucket.H3 and g.field == LOCATION:
        return _h3_cells(tuple(sorted(areas)), g.h3_resolution)
    match g.bucket:
        case Bucket.NONE:
            if g.field == "kecamatan":
                return sorted(areas)
            if g.field == "kota":
                return sorted(set(areas.values()))
            if g.field == "kelurahan":
                return _kelurahan(tuple(sorted(areas)))
            if g.field in _ENUMERATIONS:
                return _ENUMERATIONS[g.field]
        case Bucket.HOUR_OF_DAY:
            return range(24)
        case Bucket.DAY_OF_WEEK:
            return range(1, 8)
        case Bucket.DAY | Bucket.WEEK | Bucket.MONTH:
            return _calendar(g, filters)
        case Bucket.SPANS:
            return span_labels(g.boundaries)
    raise PlanRefused(
        f"no public domain for a differentially private group-by on {g.field!r} "
        f"(bucket {g.bucket}): the groups would have to be read from the data"
    )


def _kelurahan(kecamatan: tuple[str, ...]) -> list[Scalar]:
    unknown = [k for k in kecamatan if k not in _GEOGRAPHY]
    if unknown:
        raise PlanRefused(
            f"no public geography for kecamatan {', '.join(unknown[:3])}: cannot fix the "
            "kelurahan of a differentially private answer"
        )
    return sorted({kel for k in kecamatan for kel in _GEOGRAPHY[k].kelurahan})


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
            # The last instant the window holds: `lt` excludes its bound, so a window ending
            # at a local midnight has no bucket for the day that starts there.
            last_instant = t - dt.timedelta(microseconds=1) if f.op is Op.LT else t
            upper = last_instant if upper is None else min(upper, last_instant)
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
