"""Early warning on constructed daily counts: alerts carry their evidence, and only rises count."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from gateway.analytics.stream import WarningHistory
from gateway.analytics.tally import REPORTED, InvalidTally, Tally
from gateway.analytics.warning import alert_episodes, early_warnings, poisson_sf

START = date(2026, 1, 5)  # a Monday
WEEKLY = (20, 20, 20, 20, 22, 26, 24)  # Monday..Sunday


def days(n: int) -> list[date]:
    return [START + timedelta(days=i) for i in range(n)]


def series(area: str, n: int, *rises: tuple[int, int, float]) -> list[Tally]:
    """Weekly-seasonal counts, times `factor` on days [first, first + length) of each rise."""
    out = []
    for i, day in enumerate(days(n)):
        count = WEEKLY[day.weekday()]
        for first, length, factor in rises:
            if first <= i < first + length:
                count = round(count * factor)
        out.append(Tally(count, REPORTED, area=area, when=day))
    return out


def test_poisson_tail_matches_a_direct_sum() -> None:
    for k, mean in ((0, 3.0), (1, 0.5), (5, 3.0), (30, 17.5), (10, 40.0), (60, 40.0)):
        direct = 1.0 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k))
        assert poisson_sf(k, mean) == pytest.approx(direct, rel=1e-9, abs=1e-15)


def test_a_weekly_pattern_alone_raises_no_alert() -> None:
    assert early_warnings(series("Tebet", 140) + series("Gambir", 140)) == []


def test_a_rise_alerts_at_once_with_its_evidence() -> None:
    counts = series("Tebet", 120, (100, 6, 1.6)) + series("Gambir", 120)
    alerts = early_warnings(counts)
    assert {a.area for a in alerts} == {"Tebet"}
    first = alerts[0]
    assert first.day - START <= timedelta(days=101)  # on the first or second day of the rise
    assert first.statistic >= first.threshold > first.baseline
    assert first.window_days in (1, 2, 3)
    assert first.p_value < 1e-3 / 3
    # the baseline is the level times the weekday weights: the usual counts of those weekdays
    window = [first.day - timedelta(days=i) for i in range(first.window_days)]
    assert first.baseline == pytest.approx(sum(WEEKLY[d.weekday()] for d in window), rel=0.01)
    episodes = alert_episodes(alerts)
    assert len(episodes) == 1
    assert episodes[0].area == "Tebet"


def test_a_fall_is_not_an_alert() -> None:
    assert early_warnings(series("Tebet", 120, (100, 6, 0.3))) == []


def test_police_initiated_counts_cannot_raise_an_alert() -> None:
    sweep = [
        Tally(40, frozenset({"police_initiated"}), area="Tebet", when=d) for d in days(120)[100:106]
    ]
    assert early_warnings(series("Tebet", 120) + sweep) == []


def test_withheld_small_days_are_imputed_not_zero() -> None:
    quiet = [Tally(4, REPORTED, area="Seribu", when=d) for d in days(90)]
    released = [t for t in quiet if t.count >= 5]  # all withheld under k = 5
    assert (
        early_warnings(
            released, start=START, end=START + timedelta(days=90), areas=["Seribu"], min_count=5
        )
        == []
    )


def test_daily_counts_per_area_are_required() -> None:
    with pytest.raises(InvalidTally, match="daily counts per area"):
        early_warnings([Tally(3, REPORTED, when=START)])
    with pytest.raises(InvalidTally, match="daily counts per area"):
        early_warnings([Tally(3, REPORTED, area="Tebet", when=START, days=7)])


def test_episodes_split_on_a_quiet_day() -> None:
    counts = series("Tebet", 140, (100, 3, 2.5), (120, 3, 2.5))
    episodes = alert_episodes(early_warnings(counts))
    assert len(episodes) == 2
    assert episodes[0].last_day < episodes[1].first_day


# --- the stream: each tick releases only what is new, the caller keeps the history ----------


def test_each_tick_reads_only_its_new_days() -> None:
    from gateway.analytics import operations as ops

    scope = ops.Scope("public_order_early_warning", "basis", start=ops.local_midnight(START))

    def bounds(day: date) -> tuple[date, date]:
        q = ops.warning_tick(scope, day)
        ge = next(f.values[0] for f in q.filters if f.op.value == "ge")
        lt = next(f.values[0] for f in q.filters if f.op.value == "lt")
        return ops.local_day(ge), ops.local_day(lt)  # type: ignore[arg-type]

    lookback = timedelta(days=ops.WARNING_LOOKBACK_DAYS)
    assert bounds(START) == (START - lookback, START + timedelta(days=1))
    for later in (START + timedelta(days=1), START + timedelta(days=40)):
        assert bounds(later) == (later, later + timedelta(days=1))


def test_the_history_of_ticks_gives_the_alerts_of_the_whole_series() -> None:
    from gateway.analytics import operations as ops

    counts = series("Tebet", 120, (100, 6, 1.6)) + series("Gambir", 120)
    first = START + timedelta(days=ops.WARNING_LOOKBACK_DAYS)
    history = WarningHistory()
    assert history.alerts(first) is None  # nothing opened yet: no baseline, no verdict
    lookback = [first - timedelta(days=i) for i in range(ops.WARNING_LOOKBACK_DAYS, -1, -1)]
    history.add(lookback, [t for t in counts if t.when in lookback], 5)
    raised = []
    day = first
    while day < START + timedelta(days=120):
        if day != first:
            history.add([day], [t for t in counts if t.when == day], 5)
        alerts = history.alerts(day)
        assert alerts is not None
        raised.extend(alerts)
        day += timedelta(days=1)
    whole = early_warnings(counts, start=START, end=day, min_count=5)
    assert raised == [a for a in whole if a.day >= first]
    assert {a.area for a in raised} == {"Tebet"}
    with pytest.raises(InvalidTally, match="outside the days"):
        history.add([day], [Tally(3, REPORTED, area="Tebet", when=day - timedelta(days=1))], 5)
    gap = WarningHistory()
    gap.add(lookback[1:], [t for t in counts if t.when in lookback[1:]], 5)
    assert gap.alerts(first) is None  # a day of the lookback was never released
