"""Aggregated counts read from a police database with SQL GROUP BY; internal.

The stand-in for what an adapter answers to an analytics plan: every query filters on the
reported sources and groups inside the database, so no incident row leaves it. Local (WIB) days
and months are computed in SQL; H3 cells through `h3_cell(lat, lon, resolution)`, registered as
a deterministic SQL function on every SQLite connection. Only SQLite stores are served for now:
PostgreSQL needs the h3-pg extension's function in place of the registered one.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    create_engine,
    event,
    func,
    literal,
    select,
)

from adapters.schema import REPORTED_SOURCES, WIB_OFFSET, Area, Incident, SeedTruth
from gateway.analytics.tally import REPORTED, Tally
from gateway.errors import ConfigurationError
from gateway.protocol.cells import cell_of

_INCIDENTS = Incident.__table__
_AREAS = Area.__table__
_TRUTH = SeedTruth.__table__


@contextmanager
def police_store(url: str) -> Iterator[Connection]:
    """A read connection to a SQLite police database with `h3_cell` registered."""
    engine = create_engine(url)
    try:
        if engine.dialect.name != "sqlite":
            raise ConfigurationError(
                f"analytics read SQLite police stores only, not {engine.dialect.name}: H3 "
                "grouping in PostgreSQL needs the h3-pg extension"
            )
        event.listen(engine, "connect", _register_h3)
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _register_h3(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function("h3_cell", 3, cell_of, deterministic=True)


def _utc(day: date) -> datetime:
    """The naive-UTC instant at which a local (WIB) day starts."""
    return datetime.combine(day, time()) - WIB_OFFSET


def _local(column: Any, pattern: str) -> ColumnElement[str]:
    return func.strftime(pattern, column, "+7 hours")


def _where(start: date, end: date) -> ColumnElement[bool]:
    occurred = _INCIDENTS.c.occurred_at
    return and_(
        _INCIDENTS.c.source.in_(REPORTED_SOURCES),
        occurred >= _utc(start),
        occurred < _utc(end),
    )


def monthly_cells(conn: Connection, resolution: int, start: date, end: date) -> list[Tally]:
    """Reported incidents per H3 cell and local month within [start, end)."""
    c = _INCIDENTS.c
    cell = func.h3_cell(c.lat, c.lon, literal(resolution))
    month = _local(c.occurred_at, "%Y-%m")
    stmt = select(cell, month, func.count()).where(_where(start, end)).group_by(cell, month)
    tallies = []
    for h3_cell, ym, n in conn.execute(stmt):
        year, mon = (int(x) for x in ym.split("-"))
        first = max(start, date(year, mon, 1))
        last = min(end, date(year, mon, calendar.monthrange(year, mon)[1]) + timedelta(days=1))
        tallies.append(Tally(n, REPORTED, cell=h3_cell, when=first, days=(last - first).days))
    return tallies


def daily_areas(conn: Connection, start: date, end: date) -> list[Tally]:
    """Reported incidents per kecamatan and local day within [start, end)."""
    c = _INCIDENTS.c
    day = _local(c.occurred_at, "%Y-%m-%d")
    stmt = (
        select(c.kecamatan, day, func.count()).where(_where(start, end)).group_by(c.kecamatan, day)
    )
    return [
        Tally(n, REPORTED, area=area, when=date.fromisoformat(d))
        for area, d, n in conn.execute(stmt)
    ]


def windowed(
    conn: Connection,
    bounds: Sequence[date],
    *,
    area: bool = False,
    resolution: int | None = None,
    status: bool = False,
) -> list[Tally]:
    """Reported incidents per window [bounds[i], bounds[i+1]) and the asked-for groups."""
    if len(bounds) < 2 or list(bounds) != sorted(set(bounds)):
        raise ValueError("bounds must be two or more increasing dates")
    c = _INCIDENTS.c
    window = case(
        *((c.occurred_at < _utc(b), i) for i, b in enumerate(bounds[1:])),
        else_=None,
    )
    groups: list[Any] = [window]
    if area:
        groups.append(c.kecamatan)
    if resolution is not None:
        groups.append(func.h3_cell(c.lat, c.lon, literal(resolution)))
    if status:
        groups.append(c.status)
    stmt = select(*groups, func.count()).where(_where(bounds[0], bounds[-1])).group_by(*groups)
    tallies = []
    for row in conn.execute(stmt):
        values = list(row)
        i = values.pop(0)
        fields: dict[str, Any] = {}
        if area:
            fields["area"] = values.pop(0)
        if resolution is not None:
            fields["cell"] = values.pop(0)
        if status:
            fields["status"] = values.pop(0)
        days = (bounds[i + 1] - bounds[i]).days
        tallies.append(Tally(values[0], REPORTED, when=bounds[i], days=days, **fields))
    return tallies


def areas(conn: Connection) -> dict[str, tuple[str, int]]:
    """Every kecamatan of the store: name -> (kota, population)."""
    stmt = select(_AREAS.c.kecamatan, _AREAS.c.kota, _AREAS.c.population)
    return {name: (kota, int(pop)) for name, kota, pop in conn.execute(stmt)}


def data_end(conn: Connection) -> date:
    """The local day after the last reported incident."""
    last = conn.execute(
        select(func.max(_local(_INCIDENTS.c.occurred_at, "%Y-%m-%d"))).where(
            _INCIDENTS.c.source.in_(REPORTED_SOURCES)
        )
    ).scalar_one()
    if last is None:
        raise ConfigurationError("the police store holds no reported incidents")
    return date.fromisoformat(last) + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PlantedHotspot:
    label: str
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class PlantedSurge:
    label: str
    area: str
    first_day: date  # local
    end_day: date  # local, exclusive


def planted(conn: Connection) -> tuple[list[PlantedHotspot], list[PlantedSurge]]:
    """The synthetic city's recorded truth."""
    t = _TRUTH.c
    hotspots: list[PlantedHotspot] = []
    surges: list[PlantedSurge] = []
    for kind, label, kec, lat, lon, radius, start_at, end_at in conn.execute(
        select(t.kind, t.label, t.kecamatan, t.lat, t.lon, t.radius_m, t.start_at, t.end_at)
    ):
        if kind == "hotspot":
            hotspots.append(PlantedHotspot(label, lat, lon, radius))
        elif kind == "surge":
            surges.append(
                PlantedSurge(
                    label, kec, (start_at + WIB_OFFSET).date(), (end_at + WIB_OFFSET).date()
                )
            )
    return hotspots, surges
