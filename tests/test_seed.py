"""The synthetic city: reproducible, restricted by kota, and carrying the truth it records."""

from __future__ import annotations

import argparse
import math
import re
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Row, create_engine, func, select

from adapters.schema import (
    INCIDENT_SOURCES,
    INCIDENT_STATUSES,
    REPORTED_SOURCES,
    ROLES,
    WIB_OFFSET,
    Area,
    Base,
    Case,
    Incident,
    IncidentPerson,
    Person,
    SeedTruth,
    Vehicle,
)
from gateway.protocol.geography import KECAMATAN, KOTA, kecamatan_of, kota_named
from tools.city import (
    DEFAULT_END,
    DEMO_CASES,
    HOTSPOT_CELL_M2,
    DatabaseNotEmptyError,
    add_seed_arguments,
    run_seed,
    seed_city,
)

# One city for most checks: big enough to measure a rate ratio, small enough to stay fast.
CITY: dict[str, Any] = {
    "incidents": 30_000,
    "seed": 7,
    "kota": ["Jakarta Pusat"],
    "hotspots": 4,
    "surges": 1,
    "days": 120,
}
TINY: dict[str, Any] = {
    "incidents": 2_000,
    "kota": ["Jakarta Pusat", "Jakarta Utara"],
    "hotspots": 2,
    "surges": 1,
    "days": 60,
}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('city') / 'police.db'}"
    seed_city(url, **CITY)
    return url


def rows(url: str, model: type[Base]) -> list[Row[Any]]:
    table = Base.metadata.tables[model.__tablename__]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(table).order_by(*table.primary_key.columns)))
    finally:
        engine.dispose()


def everything(url: str) -> dict[str, list[tuple[Any, ...]]]:
    models: list[type[Base]] = [Area, Case, Incident, IncidentPerson, Person, SeedTruth, Vehicle]
    return {m.__tablename__: [tuple(r) for r in rows(url, m)] for m in models}


def metres(lat: np.ndarray[Any, Any], lon: np.ndarray[Any, Any], lat0: float, lon0: float) -> Any:
    dy = (lat - lat0) * 110_574.0
    dx = (lon - lon0) * 111_320.0 * math.cos(math.radians(lat0))
    return np.hypot(dx, dy)


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path) -> None:
    first, again, other = (f"sqlite:///{tmp_path / n}.db" for n in ("a", "b", "c"))
    seed_city(first, seed=11, **TINY)
    seed_city(again, seed=11, **TINY)
    seed_city(other, seed=12, **TINY)
    reference = everything(first)
    assert all(reference.values())
    assert everything(again) == reference
    different = everything(other)
    assert different["incidents"] != reference["incidents"]
    assert different["persons"] != reference["persons"]


def test_progress_goes_to_stderr_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_city(f"sqlite:///{tmp_path / 'quiet.db'}", seed=3, **TINY)
    assert capsys.readouterr() == ("", "")
    seed_city(f"sqlite:///{tmp_path / 'shown.db'}", seed=3, progress=True, **TINY)
    shown = capsys.readouterr()
    assert shown.out == ""
    assert "gerbang seed: writing incidents" in shown.err
    assert "gerbang seed: building indexes" in shown.err
    assert "100%" in shown.err


def test_kota_restricts_areas_incidents_and_people(city: str) -> None:
    pusat = {k.name for k in kecamatan_of("Jakarta Pusat")}
    areas = rows(city, Area)
    assert {a.kecamatan for a in areas} == pusat
    assert {a.kota for a in areas} == {"Jakarta Pusat"}
    incidents = rows(city, Incident)
    assert len(incidents) == CITY["incidents"]
    assert {i.kota for i in incidents} == {"Jakarta Pusat"}
    assert {i.kecamatan for i in incidents} == pusat
    kelurahan = {kel for k in kecamatan_of("Jakarta Pusat") for kel in k.kelurahan}
    assert {i.kelurahan for i in incidents} <= kelurahan
    assert {p.kota for p in rows(city, Person)} == {"Jakarta Pusat"}


def test_incidents_fall_in_the_window_and_are_reported_after_they_occur(city: str) -> None:
    incidents = rows(city, Incident)
    midnight = datetime.combine(DEFAULT_END, datetime.min.time()) - WIB_OFFSET
    first, last = midnight - timedelta(days=CITY["days"]), midnight
    assert all(first <= i.occurred_at <= i.reported_at < last for i in incidents)
    occurred = [i.occurred_at for i in incidents]
    assert occurred == sorted(occurred)


@pytest.fixture(scope="module")
def disc_city(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('disc') / 'police.db'}"
    seed_city(url, **CITY, hotspot_unit="disc")
    return url


@pytest.mark.parametrize(
    ("fixture", "unit_m2"),
    [("city", HOTSPOT_CELL_M2), ("disc_city", None)],
    ids=["cell", "disc"],
)
def test_hotspots_are_recorded_small_and_have_the_planted_rate_ratio(
    fixture: str, unit_m2: float | None, request: pytest.FixtureRequest
) -> None:
    """A hotspot adds (factor - 1) times the background incidents of its unit's area: one
    resolution-8 cell (the default, so the cell holding it has `factor` times its
    neighbours' rate), or its own disc (so the disc's density is `factor` times)."""
    city = request.getfixturevalue(fixture)
    hotspots = [t for t in rows(city, SeedTruth) if t.kind == "hotspot"]
    assert len(hotspots) == CITY["hotspots"]
    area_m2 = sum(k.area_km2 for k in kecamatan_of("Jakarta Pusat")) * 1e6
    assert sum(math.pi * h.radius_m**2 for h in hotspots) <= 0.02 * area_m2
    incidents = rows(city, Incident)
    lat = np.array([i.lat for i in incidents])
    lon = np.array([i.lon for i in incidents])
    excess_total = expected_total = 0.0
    for h in hotspots:
        assert 150.0 <= h.radius_m <= 400.0
        assert h.factor == 3.0
        d = metres(lat, lon, h.lat, h.lon)
        disc_m2 = math.pi * h.radius_m**2
        inside = int((d < h.radius_m).sum())
        # The ring from r to 2r has three times the disc's area.
        density = int(((d >= h.radius_m) & (d < 2 * h.radius_m)).sum()) / (3 * disc_m2)
        assert density * disc_m2 > 30, h.label
        excess = inside - density * disc_m2
        expected = (h.factor - 1) * density * (unit_m2 or disc_m2)
        assert 0.5 < excess / expected < 1.6, h.label
        excess_total += excess
        expected_total += expected
    assert 0.8 < excess_total / expected_total < 1.2


def test_surge_is_recorded_and_visible_in_daily_counts(city: str) -> None:
    (surge,) = [t for t in rows(city, SeedTruth) if t.kind == "surge"]
    assert surge.factor == 0.6
    assert surge.start_at is not None
    assert surge.end_at is not None
    assert 5 <= (surge.end_at - surge.start_at).days <= 10
    # Local calendar days, as an analyst in Jakarta would count them.
    here: Counter[date] = Counter()
    elsewhere: Counter[date] = Counter()
    for i in rows(city, Incident):
        if i.source in REPORTED_SOURCES:
            day = (i.occurred_at + WIB_OFFSET).date()
            (here if i.kecamatan == surge.kecamatan else elsewhere)[day] += 1
    start = (surge.start_at + WIB_OFFSET).date()
    end = (surge.end_at + WIB_OFFSET).date()
    window = {d for d in here | elsewhere if start <= d < end}
    assert len(window) == (end - start).days
    in_here = sum(here[d] for d in window)
    in_else = sum(elsewhere[d] for d in window)
    out_here = sum(here.values()) - in_here
    out_else = sum(elsewhere.values()) - in_else
    # The kecamatan's share against the rest of the city, in the window and outside it: the
    # odds ratio cancels the weekday and seasonal rhythm every kecamatan shares.
    odds_ratio = (in_here / in_else) / (out_here / out_else)
    assert 1.3 < odds_ratio < 2.0
    daily_in = in_here / len(window)
    daily_out = out_here / (CITY["days"] - len(window))
    assert daily_in > 1.3 * daily_out


def test_nik_is_sixteen_digits_unique_and_structured(city: str) -> None:
    persons = rows(city, Person)
    niks = [p.nik for p in persons]
    assert len(set(niks)) == len(niks)
    codes = {(k.kota, k.name): f"31{kota_named(k.kota).code}{k.code}" for k in KECAMATAN}
    for p in persons:
        assert re.fullmatch(r"\d{16}", p.nik), p.nik
        assert p.nik[:6] == codes[(p.kota, p.kecamatan)]
        day = int(p.nik[6:8]) - (40 if p.sex == "P" else 0)
        born = p.birth_date
        assert (day, int(p.nik[8:10]), int(p.nik[10:12])) == (
            born.day,
            born.month,
            born.year % 100,
        )
        assert p.nik[12:] != "0000"
    assert {p.sex for p in persons} == {"L", "P"}


def test_plates_are_unique_jakarta_plates(city: str) -> None:
    vehicles = rows(city, Vehicle)
    plates = [v.plate for v in vehicles]
    assert len(set(plates)) == len(plates)
    letter = kota_named("Jakarta Pusat").plate_letter
    assert all(re.fullmatch(rf"B [1-9]\d{{0,3}} {letter}[A-Z]{{1,2}}", p) for p in plates)


def test_stolen_vehicles_are_few_and_tied_to_motor_vehicle_thefts(city: str) -> None:
    vehicles = rows(city, Vehicle)
    stolen = [v for v in vehicles if v.stolen]
    assert 0.01 < len(stolen) / len(vehicles) < 0.08
    assert all(v.stolen_reported_at is None for v in vehicles if not v.stolen)
    incidents = {i.incident_id: i for i in rows(city, Incident)}
    thefts = {
        (incidents[ip.incident_id].reported_at, ip.person_id)
        for ip in rows(city, IncidentPerson)
        if ip.role == "victim" and incidents[ip.incident_id].category == "motor_vehicle_theft"
    }
    assert all((v.stolen_reported_at, v.owner_person_id) in thefts for v in stolen)


def test_roles_are_valid_and_every_incident_has_one_reporter(city: str) -> None:
    involvements = rows(city, IncidentPerson)
    assert {ip.role for ip in involvements} == set(ROLES)
    reporters = Counter(ip.incident_id for ip in involvements if ip.role == "reporter")
    assert len(reporters) == CITY["incidents"]
    assert set(reporters.values()) == {1}
    victims = {ip.incident_id for ip in involvements if ip.role == "victim"}
    assert len(victims) > 0.7 * CITY["incidents"]
    roles_of: dict[tuple[int, int], set[str]] = {}
    for ip in involvements:
        roles_of.setdefault((ip.incident_id, ip.person_id), set()).add(ip.role)
    assert not any("suspect" in r and len(r) > 1 for r in roles_of.values())


def test_police_initiated_is_a_minority_and_heaviest_for_narcotics(city: str) -> None:
    incidents = rows(city, Incident)
    assert {i.source for i in incidents} == set(INCIDENT_SOURCES)
    assert {i.status for i in incidents} == set(INCIDENT_STATUSES)
    police = [i for i in incidents if i.source == "police_initiated"]
    assert len(police) < 0.2 * len(incidents)
    share = {
        c: sum(i.source == "police_initiated" for i in incidents if i.category == c)
        / sum(i.category == c for i in incidents)
        for c in {i.category for i in incidents}
    }
    assert max(share, key=share.__getitem__) == "narcotics"


def test_investigated_incidents_have_cases_with_unique_numbers(city: str) -> None:
    cases = rows(city, Case)
    numbers = [c.case_number for c in cases]
    assert len(set(numbers)) == len(numbers)
    pattern = r"LP/[AB]/\d+/[IVX]+/20\d\d/SPKT/.*POLDA METRO JAYA"
    assert all(re.fullmatch(pattern, n) for n in numbers)
    case_ids = {c.case_id for c in cases}
    for i in rows(city, Incident):
        if i.status in ("solved", "under_investigation"):
            assert i.case_id in case_ids
        if i.status == "reported":
            assert i.case_id is None


def test_refuses_a_non_empty_database_unless_replacing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'police.db'}"
    first = seed_city(url, seed=3, **TINY)
    with pytest.raises(DatabaseNotEmptyError, match="--replace"):
        seed_city(url, seed=4, **TINY)
    assert everything(url)["incidents"][0][0] == 1
    replaced = seed_city(url, seed=4, replace=True, **{**TINY, "incidents": 1_500})
    assert (first.incidents, replaced.incidents) == (2_000, 1_500)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Incident)) == 1_500
    engine.dispose()


def test_command_line_seeds_then_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_seed_arguments(parser)
    url = f"sqlite:///{tmp_path / 'police.db'}"
    argv = ["--store", url, "--incidents", "800", "--seed", "5", "--kota", "jakarta-utara"]
    argv += ["--hotspots", "1", "--surges", "0", "--days", "30"]
    args = parser.parse_args(argv)
    assert args.kota == ["Jakarta Utara"]
    assert run_seed(args) == 0
    assert "800 incidents" in capsys.readouterr().out
    assert run_seed(args) == 1
    assert "already holds rows" in capsys.readouterr().err


def test_rejects_arguments_out_of_range(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'police.db'}"
    with pytest.raises(ValueError, match="hotspot_factor"):
        seed_city(url, incidents=100, seed=1, hotspot_factor=5.0)
    with pytest.raises(ValueError, match="unknown kota"):
        seed_city(url, incidents=100, seed=1, kota=["Kepulauan Seribu"])
    with pytest.raises(ValueError, match="fewer"):
        seed_city(url, incidents=100, seed=1, kota=["Jakarta Pusat"], hotspots=60)


def test_geography_is_the_five_kota_and_their_kecamatan() -> None:
    assert [k.name for k in KOTA] == [
        "Jakarta Selatan",
        "Jakarta Timur",
        "Jakarta Pusat",
        "Jakarta Barat",
        "Jakarta Utara",
    ]
    assert len(KECAMATAN) == 42  # DKI's other two kecamatan are in Kepulauan Seribu
    assert [len(kecamatan_of(k.name)) for k in KOTA] == [10, 10, 8, 8, 6]
    assert len({(k.kota, k.code) for k in KECAMATAN}) == len(KECAMATAN)
    assert all(3 <= len(k.kelurahan) <= 11 for k in KECAMATAN)
    with pytest.raises(KeyError):
        kecamatan_of("Jakarta Tengah")


@pytest.mark.slow
def test_seeds_two_hundred_thousand_incidents(tmp_path: Path) -> None:
    started = time.perf_counter()
    summary = seed_city(f"sqlite:///{tmp_path / 'police.db'}", incidents=200_000, seed=1)
    elapsed = time.perf_counter() - started
    assert summary.incidents == 200_000
    print(f"seeded {summary.incidents:,} incidents in {elapsed:.1f} s: {200_000 / elapsed:,.0f}/s")


def test_demo_case_files_a_handful_of_incidents_with_persons_and_vehicles(
    tmp_path: Path,
) -> None:
    # The registered demo case (policies/registry/cases) is a police case in the seeded
    # database: a query bound to it (ADR 0013) finds its incidents, persons and vehicles.
    url = f"sqlite:///{tmp_path / 'police.db'}"
    seed_city(url, incidents=20_000, seed=11, kota=["Jakarta Selatan"], days=120)
    number = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
    cases = [c for c in rows(url, Case) if c.case_number == number]
    assert len(cases) == 1
    filed = [i for i in rows(url, Incident) if i.case_id == cases[0].case_id]
    assert 2 <= len(filed) <= 5
    assert {(i.kecamatan, i.category) for i in filed} == {("Tebet", "motor_vehicle_theft")}
    ids = {i.incident_id for i in filed}
    persons = {p.person_id for p in rows(url, IncidentPerson) if p.incident_id in ids}
    assert persons
    assert any(v.owner_person_id in persons and v.stolen for v in rows(url, Vehicle))
    # Every case but the demo ones still files exactly the incident it was opened for.
    demo = {c.case_id for c in rows(url, Case) if c.case_number in {d.number for d in DEMO_CASES}}
    per_case = Counter(i.case_id for i in rows(url, Incident) if i.case_id is not None)
    assert all(n == 1 for c, n in per_case.items() if c not in demo)
    assert len(demo) == 2  # Tebet and Kebayoran Baru are in Jakarta Selatan, Tambora is not
