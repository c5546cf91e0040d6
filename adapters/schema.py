"""The reference police records schema that adapters query and the synthetic city fills.

Every datetime column holds naive UTC. Jakarta keeps WIB (UTC+7) all year, so a local calendar
day runs from 17:00 UTC of the day before to 17:00 UTC; add `WIB_OFFSET` before bucketing by day
or hour of the local clock.

An incident also stores the H3 cell of its (lat, lon) at each resolution in
`H3_STORED_RESOLUTIONS` (`h3_r7`, `h3_r8`, `h3_r9`, each leading a covering index), so an
adapter groups a heatmap by a column instead of computing a cell per row, and PostgreSQL needs
no H3 extension for those resolutions. The cells are derived, never given: SQLAlchemy inserts
compute them from lat/lon (`_stored_cell`) unless the writer supplies them (the seeder computes
them in bulk). A stored cell column carries `info["h3_resolution"]`; it is storage of the
virtual field `location`, not a field of the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.protocol.catalog import INCIDENT_SOURCES as INCIDENT_SOURCES
from gateway.protocol.catalog import REPORTED_SOURCES as REPORTED_SOURCES
from gateway.protocol.cells import cell_of

WIB_OFFSET = timedelta(hours=7)

INCIDENT_CATEGORIES: tuple[str, ...] = (
    "theft",
    "motor_vehicle_theft",
    "burglary",
    "robbery",
    "assault",
    "fraud",
    "narcotics",
    "vandalism",
    "public_disorder",
    "traffic_accident",
)
# The published modus operandi codes of each category: a closed list, so a count by modus has a
# public domain (`adapters.privacy`). The generator draws from exactly these (test_seed).
MODUS_OPERANDI: dict[str, tuple[str, ...]] = {
    "theft": (
        "pickpocketing",
        "snatch_theft",
        "theft_from_vehicle",
        "shoplifting",
        "unattended_property",
        "distraction",
        "employee_theft",
    ),
    "motor_vehicle_theft": (
        "broken_ignition_lock",
        "duplicate_key",
        "towing",
        "keys_left_in_ignition",
        "rental_embezzlement",
        "fake_buyer_test_ride",
    ),
    "burglary": (
        "forced_door",
        "forced_window",
        "roof_entry",
        "unlocked_entry",
        "duplicate_key",
        "insider",
    ),
    "robbery": (
        "motorcycle_robbery",
        "snatch_with_violence",
        "armed_street_robbery",
        "public_transport_robbery",
        "atm_follow",
        "home_invasion",
    ),
    "assault": ("fight", "group_beating", "domestic", "sharp_weapon", "road_rage"),
    "fraud": (
        "online_marketplace",
        "phishing",
        "investment_scam",
        "hypnosis_gendam",
        "fake_transfer_proof",
        "online_loan_scam",
        "impersonation",
        "job_offer_scam",
    ),
    "narcotics": ("possession", "street_dealing", "courier", "consumption", "online_ordering"),
    "vandalism": (
        "property_damage",
        "vehicle_damage",
        "graffiti",
        "public_facility_damage",
        "minor_arson",
    ),
    "public_disorder": (
        "tawuran",
        "drunkenness",
        "illegal_racing",
        "extortion_premanism",
        "noise",
        "mob_unrest",
    ),
    "traffic_accident": (
        "rear_end",
        "motorcycle_skid",
        "side_swipe",
        "pedestrian_struck",
        "hit_and_run",
        "wrong_way",
        "red_light_violation",
    ),
}
INCIDENT_STATUSES: tuple[str, ...] = ("reported", "under_investigation", "solved", "closed")
CASE_STATUSES: tuple[str, ...] = ("open", "closed", "suspended")
ROLES: tuple[str, ...] = ("suspect", "victim", "witness", "reporter")
SEXES: tuple[str, ...] = ("L", "P")  # laki-laki, perempuan, as printed on the KTP
TRUTH_KINDS: tuple[str, ...] = ("hotspot", "surge")
# The resolutions a policy may ask a heatmap at (resolution 8 is ~0.74 km², a city block group).
H3_STORED_RESOLUTIONS: tuple[int, ...] = (7, 8, 9)
H3_CELL_LENGTH = 15  # an H3 v4 cell id in hex


def h3_column_name(resolution: int) -> str:
    """The incidents column holding each incident's H3 cell at `resolution`."""
    return f"h3_r{resolution}"


def _stored_cell(resolution: int) -> Callable[[DefaultExecutionContext], str]:
    def default(context: DefaultExecutionContext) -> str:
        row = context.get_current_parameters()  # type: ignore[no-untyped-call]
        return cell_of(float(row["lat"]), float(row["lon"]), resolution)

    return default


def _h3_column(resolution: int) -> Mapped[str]:
    return mapped_column(
        String(H3_CELL_LENGTH),
        default=_stored_cell(resolution),
        info={"h3_resolution": resolution},
    )


# A heatmap is GROUP BY the cell under filters on time, source (reported only), kota
# (jurisdiction) and category: an index on the cell that also holds those columns answers it
# without reading the table (0.12 s for 500 000 incidents, against 0.3 to 0.5 s through the
# occurred_at index and the table).
HEATMAP_FILTER_COLUMNS: tuple[str, ...] = ("occurred_at", "source", "kota", "category")


# Aggregates over a time window (traffic planning, early warning, oversight, the index) group
# by area, category, source or status and time buckets of occurred_at: an index led by
# occurred_at that holds those columns answers them without reading the wider table rows.
WINDOW_COLUMNS: tuple[str, ...] = (
    "occurred_at",
    "kota",
    "kecamatan",
    "category",
    "source",
    "status",
)

# SQLite groups by sorting every row it reads (a temporary B-tree) unless the rows already come
# in the order of the groups. The indexes below lead with the columns that the heavy aggregates
# group by, so the rows arrive sorted and the sort is cheap, and hold the columns they filter
# on, so the table is not read (1,000,000 incidents, a busy machine: the patrol plan's cell x
# kecamatan x week 6.4 s to 1.1 s; the security index's kecamatan x status x month 4 to 2 s;
# early warning's kecamatan x day 1.4 to 0.9 s). The week or month of occurred_at is
# computed per row; it needs no sort of its own once cell and kecamatan (or kecamatan and
# status) come in order.
AREA_COLUMNS: tuple[str, ...] = ("kecamatan", "status", *HEATMAP_FILTER_COLUMNS)


def _heatmap_index(resolution: int) -> Index:
    """The cell, then its kecamatan (a patrol plan groups by both), then the filters."""
    column = h3_column_name(resolution)
    return Index(f"ix_incidents_{column}", column, "kecamatan", *HEATMAP_FILTER_COLUMNS)


def _one_of(table: str, column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"ck_{table}_{column}")


class Base(DeclarativeBase):
    """Declarative base of the reference police schema."""


class Area(Base):
    """One kecamatan present in this database: the reference geography."""

    __tablename__ = "areas"

    kecamatan: Mapped[str] = mapped_column(String(64), primary_key=True)
    kota: Mapped[str] = mapped_column(String(64))
    population: Mapped[int] = mapped_column(Integer)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)


class Case(Base):
    """An investigation file (laporan polisi), opened for one or more incidents."""

    __tablename__ = "cases"
    __table_args__ = (_one_of("cases", "status", CASE_STATUSES),)

    case_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(160), unique=True, index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(96))


class Incident(Base):
    """One incident: when, where, what, how it came to police attention and how far it got."""

    __tablename__ = "incidents"
    __table_args__ = (
        _one_of("incidents", "status", INCIDENT_STATUSES),
        _one_of("incidents", "source", INCIDENT_SOURCES),
        *(_heatmap_index(r) for r in H3_STORED_RESOLUTIONS),
        Index("ix_incidents_occurred_at", *WINDOW_COLUMNS),
        Index("ix_incidents_kecamatan", *AREA_COLUMNS),
    )

    incident_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)  # ix_incidents_occurred_at
    reported_at: Mapped[datetime] = mapped_column(DateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    kelurahan: Mapped[str] = mapped_column(String(64))
    kecamatan: Mapped[str] = mapped_column(String(64))  # ix_incidents_kecamatan
    kota: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    modus_operandi: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(24))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.case_id"), index=True)
    # One per resolution in H3_STORED_RESOLUTIONS (test_schema checks they agree).
    h3_r7: Mapped[str] = _h3_column(7)
    h3_r8: Mapped[str] = _h3_column(8)
    h3_r9: Mapped[str] = _h3_column(9)


class Person(Base):
    """A person known to the records, identified by NIK."""

    __tablename__ = "persons"
    __table_args__ = (_one_of("persons", "sex", SEXES),)

    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nik: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(96))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    address: Mapped[str] = mapped_column(String(200))
    kecamatan: Mapped[str] = mapped_column(String(64))
    kota: Mapped[str] = mapped_column(String(64))


class IncidentPerson(Base):
    """A person's involvement in an incident; one person may hold several roles."""

    __tablename__ = "incident_persons"
    __table_args__ = (_one_of("incident_persons", "role", ROLES),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.incident_id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.person_id"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Vehicle(Base):
    """A registered vehicle; `stolen_reported_at` is set when `stolen` is."""

    __tablename__ = "vehicles"

    vehicle_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    owner_person_id: Mapped[int] = mapped_column(ForeignKey("persons.person_id"), index=True)
    make: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(32))
    colour: Mapped[str] = mapped_column(String(24))
    stolen: Mapped[bool] = mapped_column(Boolean)
    stolen_reported_at: Mapped[datetime | None] = mapped_column(DateTime)


class SeedTruth(Base):
    """What the synthetic city generator planted, for checking analytics against.

    `factor` is, for a hotspot, the rate of the H3 resolution-8 cell it falls in against the
    cells around it (seeded with `hotspot_unit="disc"`: its disc's density against its
    surroundings'); for a surge, the relative increase over the kecamatan's baseline (0.6 = +60 %).
    A hotspot is the disc (`lat`, `lon`, `radius_m`); a surge covers its whole kecamatan (the
    disc is the kecamatan's centroid and equal-area radius) from `start_at` to `end_at`
    (half-open, naive UTC). `category` is NULL when every category is affected.
    """

    __tablename__ = "seed_truth"
    __table_args__ = (_one_of("seed_truth", "kind", TRUTH_KINDS),)

    truth_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(96))
    kota: Mapped[str] = mapped_column(String(64))
    kecamatan: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    factor: Mapped[float] = mapped_column(Float)
    start_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_at: Mapped[datetime | None] = mapped_column(DateTime)
    category: Mapped[str | None] = mapped_column(String(32))


def create_schema(engine: Engine) -> None:
    """Create every table and index of the reference schema that does not exist yet."""
    Base.metadata.create_all(engine)
