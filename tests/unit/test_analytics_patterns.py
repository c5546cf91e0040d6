"""Time and modus-operandi patterns per area."""

from __future__ import annotations

import pytest

from gateway.analytics.patterns import modus_distribution, time_pattern, time_patterns
from gateway.analytics.tally import REPORTED, InvalidTally, Tally

POLICE = frozenset({"police_initiated"})


def test_hour_by_weekday_matrix() -> None:
    counts = [
        Tally(3, REPORTED, area="Tebet", weekday=4, hour=22),
        Tally(2, REPORTED, area="Tebet", weekday=4, hour=22),
        Tally(1, REPORTED, area="Gambir", weekday=0, hour=8),
        Tally(50, POLICE, area="Tebet", weekday=5, hour=1),
    ]
    matrix = time_pattern(counts)
    assert (len(matrix), len(matrix[0])) == (7, 24)
    assert matrix[4][22] == 5
    assert matrix[0][8] == 1
    assert sum(map(sum, matrix)) == 6  # the police-initiated 50 are not there
    assert time_patterns(counts)["Gambir"][0][8] == 1
    with pytest.raises(InvalidTally, match="weekday and hour"):
        time_pattern([Tally(1, REPORTED, hour=3)])


def test_modus_shares_per_area() -> None:
    counts = [
        Tally(6, REPORTED, area="Tebet", category="theft", modus="pickpocketing"),
        Tally(2, REPORTED, area="Tebet", category="theft", modus="snatch_theft"),
        Tally(4, REPORTED, area="Tebet", category="fraud", modus="phishing"),
        Tally(9, POLICE, area="Tebet", category="narcotics", modus="possession"),
    ]
    everything = modus_distribution(counts)["Tebet"]
    assert [m.modus for m in everything] == ["pickpocketing", "phishing", "snatch_theft"]
    assert sum(m.share for m in everything) == pytest.approx(1.0)
    theft = modus_distribution(counts, category="theft")["Tebet"]
    assert [(m.modus, m.count, m.share) for m in theft] == [
        ("pickpocketing", 6, 0.75),
        ("snatch_theft", 2, 0.25),
    ]
