"""Risk scores: shrinkage, the recent and near-repeat factors, and what they add up to."""

from __future__ import annotations

import math
from datetime import date, timedelta

import h3  # type: ignore[import-untyped]
import pytest

from gateway.analytics.heatmap import h3_cell
from gateway.analytics.risk import risk_scores
from gateway.analytics.tally import REPORTED, InvalidTally, Tally

AS_OF = date(2026, 11, 1)
HISTORY = AS_OF - timedelta(days=28 + 336)
RECENT = AS_OF - timedelta(days=28)
NEAR = AS_OF - timedelta(days=7)


def windows(area: str, history: int, recent: int, near: int = 0) -> list[Tally]:
    """Counts in the three windows; `recent` excludes the `near` days' count."""
    return [
        Tally(history, REPORTED, area=area, when=HISTORY, days=336),
        Tally(recent, REPORTED, area=area, when=RECENT, days=21),
        Tally(near, REPORTED, area=area, when=NEAR, days=7),
    ]


def test_a_recent_rise_scores_above_its_own_past() -> None:
    counts = (
        windows("A", 3360, 210, 70) + windows("B", 3360, 420, 140) + windows("C", 1680, 105, 35)
    )
    scores = risk_scores(counts, unit="area", as_of=AS_OF)
    assert scores["A"].factors["recent"] == pytest.approx(1.0, abs=0.05)
    assert scores["B"].factors["recent"] > 1.6
    assert scores["B"].score > scores["A"].score > scores["C"].score
    for s in scores.values():
        assert s.low < s.score < s.high
        assert sum(s.contributions.values()) == pytest.approx(math.log(s.score))
        assert math.prod(s.factors.values()) == pytest.approx(s.score)


def test_sparse_units_are_shrunk_towards_the_city() -> None:
    busy = [windows(f"K{i}", 3000 + 100 * i, 250) for i in range(10)]
    counts = [t for w in busy for t in w] + windows("Tiny", 2, 0)
    scores = risk_scores(counts, unit="area", as_of=AS_OF, exposure=None)
    tiny = scores["Tiny"]
    raw_ratio = 2 / (sum(3000 + 100 * i for i in range(10)) / 10)
    assert tiny.factors["baseline"] > raw_ratio  # pulled up from its raw 2 incidents
    assert tiny.high / tiny.low > scores["K5"].high / scores["K5"].low  # and less certain


def test_near_repeat_lifts_the_neighbours_of_a_recent_cluster() -> None:
    centre = h3_cell(-6.2, 106.82, 8)
    ring = sorted(h3.grid_ring(centre, 1))
    far = sorted(h3.grid_ring(centre, 4))
    cells = [centre, *ring, *far]
    counts = []
    for cell in cells:
        near = 60 if cell == centre else 2
        counts += [
            Tally(336, REPORTED, cell=cell, when=HISTORY, days=336),
            Tally(21, REPORTED, cell=cell, when=RECENT, days=21),
            Tally(near, REPORTED, cell=cell, when=NEAR, days=7),
        ]
    scores = risk_scores(counts, unit="cell", as_of=AS_OF)
    lift = {c: scores[c].factors["near_repeat"] for c in cells}
    assert lift[centre] > max(lift[c] for c in ring)
    assert min(lift[c] for c in ring) > 1.1  # the cluster next door counts
    assert scores[centre].factors["recent"] > 2  # the cell's own burst is its recent factor
    assert max(lift[c] for c in far) < 1.0  # quiet weeks far away count down a little


def test_police_initiated_counts_do_not_raise_a_score() -> None:
    base = windows("A", 3360, 210, 70) + windows("B", 3360, 210, 70)
    raid = [Tally(500, frozenset({"police_initiated"}), area="B", when=NEAR, days=7)]
    with_raid = risk_scores(base + raid, unit="area", as_of=AS_OF)
    assert with_raid == risk_scores(base, unit="area", as_of=AS_OF)


def test_buckets_must_align_with_the_windows() -> None:
    straddling = Tally(10, REPORTED, area="A", when=AS_OF - timedelta(days=30), days=30)
    with pytest.raises(InvalidTally, match="straddles"):
        risk_scores([straddling], unit="area", as_of=AS_OF)
    with pytest.raises(InvalidTally, match="grouped by cell"):
        risk_scores(windows("A", 1, 1), unit="cell", as_of=AS_OF)
