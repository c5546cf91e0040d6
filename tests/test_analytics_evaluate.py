"""The evaluation and the commands, end to end on a small synthetic city.

The evaluation test asserts the quality targets under the registered privacy obligations, on
one kota seeded at the whole city's density (Jakarta Selatan, 120 000 incidents: its ten
kecamatan get as many incidents a day as in a 500 000-incident city), so it runs in well under
a minute and fails when the noise, the budget or a method gets worse.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ConfigurationError
from tools.analytics.cli import add_analytics_commands
from tools.analytics.evaluate import Obligations, _Budget
from tools.city import seed_city

REGISTRY = Path(__file__).parents[1] / "policies" / "registry" / "purposes" / "data.json"
METRICS = (
    "hotspot_recall",
    "hotspot_precision",
    "warning_detection_rate",
    "warning_delay_days",
    "false_alarms_per_area_month",
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="gerbang")
    add_analytics_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # one JSON object, nothing else on stdout
    assert isinstance(result, dict)
    return result


def check_metrics(figures: dict[str, Any]) -> None:
    for key in METRICS:
        assert key in figures
    for key in ("hotspot_recall", "hotspot_precision", "warning_detection_rate"):
        assert 0.0 <= figures[key] <= 1.0
    assert figures["false_alarms_per_area_month"] >= 0.0
    delay = figures["warning_delay_days"]
    assert delay is None or 0 <= delay <= 10  # surges last 5 to 10 days
    assert figures["hotspot_k"] == 16  # twice the 8 planted hotspots
    assert len(figures["surges"]) == 2


def test_evaluate_meets_the_targets_under_the_registered_privacy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["analytics", "evaluate", "--seed", "2", "--incidents", "120000"]
    result = run([*argv, "--kota", "Jakarta Selatan"], capsys)
    assert (result["seed"], result["incidents"]) == (2, 120000)
    assert result["kota"] == ["Jakarta Selatan"]
    assert 0 < result["reported_incidents"] < 120000  # police-initiated ones are left out
    assert result["planted"] == {"hotspots": 8, "surges": 2, "hotspot_unit": "cell"}
    purposes = json.loads(REGISTRY.read_text())
    for kind, purpose in (
        ("heatmap", "spatial_planning"),
        ("warning", "public_order_early_warning"),
    ):
        applied = result["privacy"][kind]
        registered = purposes[purpose]
        assert applied["purpose"] == purpose
        assert applied["epsilon_per_release"] == registered["epsilon"] is not None
        assert applied["min_cell_count"] == registered["min_cell_count"]
        assert applied["budget_period"] == registered["privacy_budget"]["period"]
        assert applied["budget_per_caller"] == registered["privacy_budget"]["per_caller"]
    assert result["privacy"]["heatmap"]["months"] == 12
    check_metrics(result)
    check_metrics(result["no_privacy"])
    # The targets, with the noise and k of the registered policy.
    assert result["hotspot_recall"] >= 0.9
    assert result["warning_detection_rate"] >= 0.9
    assert result["warning_delay_days"] <= 2
    assert result["false_alarms_per_area_month"] <= 0.1
    # A typical released cell is close to its true count.
    for table in result["release_error"].values():
        assert table["median_relative_error"] < 0.1


def test_the_evaluation_fails_when_a_release_would_overspend() -> None:
    heatmap = Obligations("spatial_planning", 1.0, "month", 1.5, 10)
    budget = _Budget(heatmap)
    month = [dt.date(2026, 10, d) for d in range(1, 32)]
    budget.charge(month)
    assert budget.spent == {"2026-10": 1.0}
    with pytest.raises(ConfigurationError, match=r"over the budget of 1\.5"):
        budget.charge(month[:1])
    # Noise without a budget is a configuration error too.
    with pytest.raises(ConfigurationError, match="has an epsilon but no budget"):
        _Budget(Obligations("x", 1.0, None, None, 5)).charge(month)


def test_bias_report_for_a_seeded_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'police.db'}"
    seed_city(url, incidents=20_000, seed=3, kota=["Jakarta Pusat", "Jakarta Timur"], persons=500)
    report = run(
        ["analytics", "bias-report", "--store", url, "--units", "12", "--cap-per-area", "2"],
        capsys,
    )
    assert report["units_placed"] == 12
    areas = report["areas"]
    assert len(areas) == 18  # 8 kecamatan of Jakarta Pusat and 10 of Jakarta Timur
    assert max(a["patrols"] for a in areas) <= 2
    for share in ("population_share", "incident_share", "risk_share", "patrol_share"):
        assert sum(a[share] for a in areas) == pytest.approx(1.0)
    assert 0.0 <= report["hoover_patrol_population"] <= 1.0
    assert 0.0 < report["expected_coverage"] < 1.0
    # without the cap the plan covers at least as much, and is at least as concentrated
    assert report["uncapped"]["expected_coverage"] >= report["expected_coverage"]


def test_the_evaluation_applies_the_registered_policy() -> None:
    purposes = json.loads(REGISTRY.read_text())
    for purpose in ("spatial_planning", "public_order_early_warning"):
        ob = Obligations.registered(purpose)
        entry = purposes[purpose]
        assert ob.epsilon == entry["epsilon"]
        assert ob.epsilon is not None
        assert ob.period == entry["privacy_budget"]["period"]
        assert ob.per_caller == entry["privacy_budget"]["per_caller"]
        assert ob.min_cell_count == entry["min_cell_count"]
    assert purposes["spatial_planning"]["generalisation"]["h3_max_resolution"] >= 8
