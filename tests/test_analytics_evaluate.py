"""The evaluation and the commands, end to end on a small synthetic city.

Shape and sanity only: the figures themselves depend on the city's size and on the noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.seed import seed_city
from gateway.analytics.cli import add_analytics_commands
from gateway.analytics.evaluate import PUBLIC_ORDER_EARLY_WARNING, SPATIAL_PLANNING

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


def test_evaluate_prints_one_json_object_with_and_without_privacy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run(["analytics", "evaluate", "--seed", "5", "--incidents", "60000"], capsys)
    assert result["seed"] == 5
    assert result["incidents"] == 60000
    assert 0 < result["reported_incidents"] < 60000  # police-initiated ones are left out
    assert result["planted"] == {"hotspots": 8, "surges": 2, "hotspot_unit": "cell"}
    assert result["privacy"]["heatmap"]["epsilon_per_month"] == 1.0
    assert result["privacy"]["heatmap"]["min_cell_count"] == 10
    assert result["privacy"]["heatmap"]["months"] == 12
    check_metrics(result)
    check_metrics(result["no_privacy"])


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
    for obligations in (SPATIAL_PLANNING, PUBLIC_ORDER_EARLY_WARNING):
        purpose = purposes[obligations.purpose]
        assert obligations.epsilon == purpose["epsilon"]
        assert obligations.epsilon_period == purpose["epsilon_period"]
        assert obligations.min_cell_count == purpose["min_cell_count"]
    assert purposes["spatial_planning"]["generalisation"]["h3_max_resolution"] >= 8
