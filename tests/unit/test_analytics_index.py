"""Security index: rates per population, clearance, trend and the comparison with the city."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gateway.analytics.index import security_index
from gateway.analytics.tally import REPORTED, Tally

START = date(2026, 1, 1)
END = START + timedelta(days=180)
MID = START + timedelta(days=90)
AREAS = {"Tebet": ("Jakarta Selatan", 200_000), "Gambir": ("Jakarta Pusat", 100_000)}


def test_index_per_kecamatan_kota_and_city() -> None:
    counts = [
        Tally(100, REPORTED, area="Tebet", when=START, days=90, status="solved"),
        Tally(100, REPORTED, area="Tebet", when=MID, days=90, status="reported"),
        Tally(50, REPORTED, area="Gambir", when=START, days=90, status="closed"),
        Tally(150, REPORTED, area="Gambir", when=MID, days=90, status="under_investigation"),
        Tally(999, frozenset({"police_initiated"}), area="Gambir", when=MID, days=90),
    ]
    rows = {(r.level, r.name): r for r in security_index(counts, AREAS, start=START, end=END)}
    tebet, gambir = rows["kecamatan", "Tebet"], rows["kecamatan", "Gambir"]
    city = rows["city", "city"]
    assert tebet.incidents == 200
    assert gambir.incidents == 200  # the police-initiated 999 are not counted
    assert tebet.rate_per_100k == pytest.approx(200 / 200_000 * 1e5 * 365.25 / 180)
    assert gambir.rate_per_100k == pytest.approx(2 * tebet.rate_per_100k)
    assert city.vs_city == pytest.approx(1.0)
    assert gambir.vs_city == pytest.approx(2 * tebet.vs_city)  # type: ignore[operator]
    assert tebet.clearance_rate == 0.5
    assert tebet.solved_rate == 0.5
    assert gambir.clearance_rate == 0.25
    assert gambir.solved_rate == 0.0
    assert tebet.trend == pytest.approx(1.0)
    assert gambir.trend == pytest.approx(150.5 / 50.5)
    assert gambir.trend_low is not None
    assert gambir.trend_low > 1  # a real rise
    assert rows["kota", "Jakarta Pusat"].incidents == 200
    assert city.population == 300_000
