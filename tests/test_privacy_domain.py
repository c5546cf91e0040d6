"""The public domains of differentially private group-bys (`adapters.privacy.public_domain`).

Each domain is a function of the plan and the public geography or code lists only: these tests
build them with no database at all, check the joint (related) dimensions against the reference
geography, and check on a seeded city that every group the data can hold is in the domain.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from adapters.privacy import MAX_DOMAIN, public_domain
from adapters.schema import MODUS_OPERANDI
from adapters.sql import PlanRefused
from gateway.protocol import cells as _h3
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.model import Bucket, Filter, GroupBy, Op
from tools.city import _PROFILES, seed_city

WIB = dt.timezone(dt.timedelta(hours=7))
CITY = {k.name: k.kota for k in KECAMATAN}
PUSAT = {k.name: k.kota for k in KECAMATAN if k.kota == "Jakarta Pusat"}
END = dt.datetime(2026, 10, 26, tzinfo=WIB)  # a Monday
YEAR = (
    Filter("occurred_at", Op.GE, (END - dt.timedelta(weeks=52),)),
    Filter("occurred_at", Op.LT, (END,)),
)
CELL = GroupBy("location", Bucket.H3, 8)
WEEK = GroupBy("occurred_at", Bucket.WEEK)


def near(kecamatan: str) -> set[str]:
    k = next(k for k in KECAMATAN if k.name == kecamatan)
    return _h3.cells_near([(k.lat, k.lon, (k.area_km2 * 1e6 / 3.141592653589793) ** 0.5)], 8)


def test_patrol_cells_pair_only_with_the_kecamatan_they_can_lie_in() -> None:
    domain = public_domain((CELL, GroupBy("kecamatan"), WEEK), YEAR, CITY)
    weeks = sorted({w for _, _, w in domain})
    assert len(weeks) == 52  # the week starting at the (exclusive) end is not in the window
    assert weeks[0] == (END - dt.timedelta(weeks=52)).date().isoformat()
    pairs = {(c, k) for c, k, _ in domain}
    assert len(domain) == len(pairs) * 52 <= MAX_DOMAIN
    cells = {c for c, _ in pairs}
    assert len(pairs) < len(cells) * len(CITY) / 10  # far smaller than the product
    for k in KECAMATAN:
        mine = {c for c, kk in pairs if kk == k.name}
        assert mine == near(k.name)
        assert _h3.cell_of(k.lat, k.lon, 8) in mine
    # Tebet's centre cell cannot lie in Cengkareng, across the city.
    tebet = next(k for k in KECAMATAN if k.name == "Tebet")
    assert (_h3.cell_of(tebet.lat, tebet.lon, 8), "Cengkareng") not in pairs
    # Fixed from the arguments alone: the same plan gives the same domain.
    assert public_domain((CELL, GroupBy("kecamatan"), WEEK), YEAR, CITY) == domain


def test_cells_and_kota_pair_through_their_kecamatan() -> None:
    domain = set(public_domain((GroupBy("kota"), CELL), YEAR, CITY))
    pusat = {c for kota, c in domain if kota == "Jakarta Pusat"}
    assert pusat == set().union(*(near(k) for k in PUSAT))
    assert {kota for kota, _ in domain} == set(CITY.values())


def test_modus_operandi_pairs_with_the_codes_of_its_category() -> None:
    domain = public_domain(
        (GroupBy("kecamatan"), GroupBy("category"), GroupBy("modus_operandi")), YEAR, PUSAT
    )
    codes = {(c, m) for c, ms in MODUS_OPERANDI.items() for m in ms}
    assert {(c, m) for _, c, m in domain} == codes
    assert len(domain) == len(PUSAT) * len(codes)
    alone = public_domain((GroupBy("modus_operandi"),), YEAR, PUSAT)
    assert {m for (m,) in alone} == {m for _, m in codes}


def test_the_generator_draws_modus_operandi_from_the_published_codes() -> None:
    assert {c: tuple(m for m, _ in p.modus) for c, p in _PROFILES.items()} == MODUS_OPERANDI


def test_kelurahan_pair_with_their_kecamatan_and_kota() -> None:
    domain = public_domain((GroupBy("kelurahan"), GroupBy("kecamatan")), YEAR, PUSAT)
    expected = {
        (kel, k.name) for k in KECAMATAN if k.kota == "Jakarta Pusat" for kel in k.kelurahan
    }
    assert set(domain) == expected
    assert len(domain) == len(expected)
    by_kota = public_domain((GroupBy("kota"), GroupBy("kelurahan")), YEAR, CITY)
    assert len(by_kota) == sum(len(k.kelurahan) for k in KECAMATAN)


def test_every_group_a_seeded_city_holds_is_in_the_domain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pusat.db'}"
    seed_city(url, incidents=3_000, seed=4, kota=["Jakarta Pusat"], persons=50)
    with sqlite3.connect(tmp_path / "pusat.db") as conn:
        rows = conn.execute(
            "SELECT DISTINCT h3_r8, kecamatan, kelurahan, category, modus_operandi FROM incidents"
        ).fetchall()
    cells = set(public_domain((CELL, GroupBy("kecamatan")), YEAR, PUSAT))
    places = set(public_domain((GroupBy("kecamatan"), GroupBy("kelurahan")), YEAR, PUSAT))
    codes = set(public_domain((GroupBy("category"), GroupBy("modus_operandi")), YEAR, PUSAT))
    for cell, kecamatan, kelurahan, category, modus in rows:
        assert (cell, kecamatan) in cells
        assert (kecamatan, kelurahan) in places
        assert (category, modus) in codes


def test_group_bys_without_a_public_domain_are_refused() -> None:
    with pytest.raises(PlanRefused, match="no public domain"):
        public_domain((GroupBy("case_id"),), YEAR, PUSAT)
    with pytest.raises(PlanRefused, match="bounding 'occurred_at' below"):
        public_domain((WEEK,), YEAR[:1], PUSAT)
    with pytest.raises(PlanRefused, match=r"(at most|more than) 200000"):
        public_domain(
            (
                GroupBy("location", Bucket.H3, 9),
                GroupBy("kecamatan"),
                GroupBy("occurred_at", Bucket.DAY),
            ),
            YEAR,
            CITY,
        )


def test_the_plans_own_filters_narrow_the_domain() -> None:
    only = (
        *YEAR,
        Filter("kota", Op.IN, ("Jakarta Pusat",)),
        Filter("category", Op.IN, ("theft", "fraud")),
    )
    domain = public_domain(
        (CELL, GroupBy("kecamatan"), GroupBy("category"), GroupBy("modus_operandi")), only, CITY
    )
    assert {k for _, k, _, _ in domain} == set(PUSAT)
    assert {c for c, _, _, _ in domain} == set().union(*(near(k) for k in PUSAT))
    assert {(c, m) for _, _, c, m in domain} == {
        (c, m) for c in ("theft", "fraud") for m in MODUS_OPERANDI[c]
    }
