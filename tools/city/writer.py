"""Writing the city: one transaction that (re)creates the tables, inserts the rows, indexes them.

The tables are created without indexes, the rows inserted in chunks (each incident with its
stored H3 cells) while a progress bar counts them, and the indexes built at the end. SQLite runs
the whole seed as one transaction; PostgreSQL's serial sequences are moved past the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, event, func, insert, inspect, literal, select
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable
from tqdm import tqdm

from adapters.schema import (
    H3_STORED_RESOLUTIONS,
    INCIDENT_SOURCES,
    INCIDENT_STATUSES,
    ROLES,
    Base,
    SeedTruth,
    h3_column_name,
)
from gateway.protocol.cells import cell_of
from gateway.protocol.geography import KECAMATAN
from tools.city.arrays import I64
from tools.city.cases import Cases
from tools.city.geometry import KELURAHAN, RADIUS, Hotspot, kelurahan_index, to_lat_lon
from tools.city.incidents import Incidents, Surge
from tools.city.params import DAY, WIB_SECONDS, Params
from tools.city.people import Involvements, Persons, Vehicles
from tools.city.profiles import CATEGORIES

CHUNK_ROWS = 50_000


def open_engine(url: str) -> Engine:
    """An engine for the seed; on SQLite, one transaction for all of it (see below)."""
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


def populated_tables(engine: Engine) -> list[str]:
    """The tables of the database that hold at least one row."""
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


def write_city(
    engine: Engine,
    p: Params,
    inc: Incidents,
    people: Persons,
    inv: Involvements,
    vehicles: Vehicles,
    cases: Cases,
    truth: Sequence[Mapping[str, Any]],
    bar: tqdm[Any],
) -> None:
    """Drop and create the tables, insert every row, build the indexes: one transaction."""
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
                "kelurahan": [KELURAHAN[k] for k in inc.kelurahan.tolist()],
                "kecamatan": [kec_names[k] for k in kec_list],
                "kota": [KECAMATAN[k].kota for k in kec_list],
                "category": [CATEGORIES[c] for c in inc.category.tolist()],
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


def truth_rows(
    p: Params, hotspots: Sequence[Hotspot], surges: Sequence[Surge]
) -> list[dict[str, Any]]:
    """The `seed_truth` rows: each planted hotspot and surge, where and when."""
    rows: list[dict[str, Any]] = []
    start = _datetimes(np.array([p.start_local - WIB_SECONDS, p.snapshot_utc]))
    for i, h in enumerate(hotspots, 1):
        lat, lon = to_lat_lon(np.array([h.x]), np.array([h.y]))
        kel = KELURAHAN[
            int(kelurahan_index(np.array([h.kec]), np.array([h.x]), np.array([h.y]))[0])
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
        bounds = p.start_local - WIB_SECONDS + np.array([s.first_day, s.first_day + s.days]) * DAY
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
                "radius_m": round(float(RADIUS[s.kec]), 1),
                "factor": p.surge_factor,
                "start_at": when[0],
                "end_at": when[1],
                "category": None,
            }
        )
    return [{"truth_id": i, **row} for i, row in enumerate(rows, 1)]
