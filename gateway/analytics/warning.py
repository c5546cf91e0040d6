"""Early warning: days on which an area's reported incidents exceed its seasonal baseline.

Method: a Poisson exceedance scan over short windows. For each area and day t:

1. Baseline. The area's level is its count over the `baseline_days` before the scan windows
   (the baseline never overlaps the days being tested, so a rise cannot hide in its own
   baseline), divided by the weekday weights of those days. The weekday weights are the
   city-wide mean count per weekday over the same days, relative to the overall mean: pooled
   over all areas they are precise, and the weekly rhythm of a kecamatan is close to the city's.
   Expected count of a day = level x that day's weekday weight.
2. Scan. For each window of w days ending on t (w in `windows`, 1..3 by default), the observed
   sum S is compared with the expected sum E: the p-value is P(Poisson(E) >= S).
3. Alert when the smallest p-value is below `alpha / len(windows)` (Bonferroni over the
   windows, so `alpha` bounds the chance of a false alert per area and day). The alert carries
   the window, the statistic (S), the baseline (E), the threshold (the smallest S that would
   have alerted) and the p-value. Consecutive alert days of one area form one episode.

Why this and not EWMA or CUSUM: a CUSUM tuned to a +50 % shift detects about as fast on the
synthetic city (we measured both), but its statistic is an accumulated log-likelihood ratio
that a command-centre operator cannot check by hand; "31 incidents in 3 days where 17 were
expected, 30 needed to alert" can be. The 1-3 day windows catch a sharp jump on its first day
and a sustained +50 % within about two.

Noisy counts. Counts released with differential privacy carry discrete Laplace noise of scale
1/epsilon on every day. With `noise_epsilon` the scan tests the observed sum against Poisson(E)
plus the sum of the window's noise (the exact convolution of the two), so the noise does not
raise false alerts; the baseline is a mean over 56 days, where the noise averages out. The
clamping of noisy counts at zero and the withholding below k are not modelled: both touch only
days far below any threshold.

Assumptions and limits. Counts are Poisson around a level that changes slowly next to the
8-week baseline: a fast seasonal change (Ramadan, Lebaran, the new year) raises false alerts and
needs the holiday calendar, which this method does not have. Only rises are detected, never
falls. A small area (a few incidents a day) needs a large relative rise to alert. Days withheld
for a small count (`min_count`) are taken as `(min_count - 1) // 2`.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.analytics.tally import InvalidTally, Tally, in_window, reported

__all__ = ["Alert", "AlertEpisode", "alert_episodes", "early_warnings", "poisson_sf"]

DEFAULT_ALPHA = 1e-3
DEFAULT_BASELINE_DAYS = 56
DEFAULT_WINDOWS: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class Alert:
    """One area's count over `window_days` days ending on `day` exceeded its baseline."""

    area: str
    day: date  # the last day of the window
    window_days: int
    statistic: int  # observed count in the window
    baseline: float  # expected count in the window
    threshold: int  # the smallest count that would have alerted
    p_value: float

    @property
    def first_day(self) -> date:
        return self.day - timedelta(days=self.window_days - 1)


@dataclass(frozen=True, slots=True)
class AlertEpisode:
    """Consecutive alert days of one area."""

    area: str
    first_day: date
    last_day: date
    alerts: tuple[Alert, ...]


def early_warnings(
    tallies: Iterable[Tally],
    *,
    start: date | None = None,
    end: date | None = None,
    baseline_days: int = DEFAULT_BASELINE_DAYS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = 0,
    areas: Collection[str] | None = None,
    noise_epsilon: float | None = None,
) -> list[Alert]:
    """Alerts from daily counts per area (`Tally.area`, `Tally.when`, `days == 1`).

    Days from `start` (default: the first day in the counts) to `end` (exclusive; default: the
    day after the last) are read; alerts start once a full baseline lies before the windows.
    An area or day without a count is zero, or `(min_count - 1) // 2` when counts below
    `min_count` were withheld. `areas` fixes the areas monitored (default: those in the counts).
    """
    if baseline_days < 7:
        raise ValueError("the baseline needs at least a week of days")
    if not windows or min(windows) < 1:
        raise ValueError("windows must be one or more lengths of at least one day")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), not {alpha}")
    series: dict[str, dict[date, int]] = defaultdict(dict)
    for tally in reported(tallies):
        if tally.area is None or tally.when is None or tally.days != 1:
            raise InvalidTally("early warning needs daily counts per area")
        if not in_window(tally, start, end):
            continue
        day = series[tally.area]
        day[tally.when] = day.get(tally.when, 0) + tally.count
    names = sorted(series if areas is None else areas)
    seen = [d for s in series.values() for d in s]
    if not names or (not seen and (start is None or end is None)):
        return []
    first = start or min(seen)
    last = (end - timedelta(days=1)) if end is not None else max(seen)
    n_days = (last - first).days + 1
    missing = max(0, (min_count - 1) // 2)
    counts = [
        [series.get(a, {}).get(first + timedelta(days=i), missing) for i in range(n_days)]
        for a in names
    ]
    weekday = [(first + timedelta(days=i)).weekday() for i in range(n_days)]
    city = [sum(column) for column in zip(*counts, strict=True)]
    widest = max(windows)
    per_window_alpha = alpha / len(windows)
    tail = _Tail(noise_epsilon)
    alerts: list[Alert] = []
    for t in range(baseline_days + widest - 1, n_days):
        lo, hi = t - widest + 1 - baseline_days, t - widest + 1
        weights = _weekday_weights(city[lo:hi], weekday[lo:hi])
        if weights is None:
            continue
        weight_sum = sum(weights[weekday[d]] for d in range(lo, hi))
        for a, name in enumerate(names):
            level = sum(counts[a][lo:hi]) / weight_sum
            best: Alert | None = None
            for w in windows:
                observed = sum(counts[a][t - w + 1 : t + 1])
                expected = level * sum(weights[weekday[d]] for d in range(t - w + 1, t + 1))
                # Far below any threshold worth computing: skip the exact tail.
                if observed <= expected + 2.0 * math.sqrt(expected + w * tail.variance) + 1.0:
                    continue
                p = tail.sf(observed, expected, w)
                if p < per_window_alpha and (best is None or p < best.p_value):
                    best = Alert(
                        area=name,
                        day=first + timedelta(days=t),
                        window_days=w,
                        statistic=observed,
                        baseline=round(expected, 3),
                        threshold=tail.threshold(expected, per_window_alpha, w),
                        p_value=p,
                    )
            if best is not None:
                alerts.append(best)
    alerts.sort(key=lambda x: (x.day, x.area))
    return alerts


def alert_episodes(alerts: Iterable[Alert]) -> list[AlertEpisode]:
    """Alerts grouped into runs of consecutive days per area, in order of their first day."""
    by_area: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_area[alert.area].append(alert)
    episodes: list[AlertEpisode] = []
    for area, items in by_area.items():
        items.sort(key=lambda x: x.day)
        run = [items[0]]
        for alert in items[1:]:
            if (alert.day - run[-1].day).days == 1:
                run.append(alert)
            else:
                episodes.append(AlertEpisode(area, run[0].day, run[-1].day, tuple(run)))
                run = [alert]
        episodes.append(AlertEpisode(area, run[0].day, run[-1].day, tuple(run)))
    episodes.sort(key=lambda e: (e.first_day, e.area))
    return episodes


def _weekday_weights(city: Sequence[int], weekday: Sequence[int]) -> list[float] | None:
    total = [0.0] * 7
    days = [0] * 7
    for count, wd in zip(city, weekday, strict=True):
        total[wd] += count
        days[wd] += 1
    if min(days) == 0 or sum(total) == 0:
        return None
    means = [total[d] / days[d] for d in range(7)]
    overall = sum(means) / 7
    if min(means) <= 0:
        return None
    return [m / overall for m in means]


def poisson_sf(observed: int, mean: float) -> float:
    """P(X >= observed) for X ~ Poisson(mean).

    Above the mean, the tail is summed upwards from `observed` (terms shrink by mean/i < 1);
    at or below it, one minus the sum downwards from `observed - 1` (terms shrink by i/mean).
    """
    if observed <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if observed > mean:
        i, term, acc = observed, 1.0, 1.0
        while term > 1e-17 * acc:
            i += 1
            term *= mean / i
            acc += term
        return min(1.0, math.exp(_log_pmf(observed, mean)) * acc)
    i, term, acc = observed - 1, 1.0, 1.0
    while i > 0 and term > 1e-17 * acc:
        term *= i / mean
        acc += term
        i -= 1
    return max(0.0, 1.0 - math.exp(_log_pmf(observed - 1, mean)) * acc)


def _log_pmf(k: int, mean: float) -> float:
    return -mean + k * math.log(mean) - math.lgamma(k + 1)


class _Tail:
    """P(S >= observed) for S a Poisson count plus, if `epsilon`, the discrete Laplace noise
    of scale 1/epsilon on each of its days."""

    def __init__(self, epsilon: float | None) -> None:
        self.epsilon = epsilon
        if epsilon is None:
            self.variance = 0.0
            return
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"the noise's epsilon must be positive, not {epsilon}")
        a = math.exp(-epsilon)
        self.variance = 2 * a / (1 - a) ** 2

    def sf(self, observed: int, mean: float, days: int) -> float:
        if self.epsilon is None:
            return poisson_sf(observed, mean)
        offset, noise = _noise_pmf(self.epsilon, days)
        # Poisson tails from observed + offset down to observed - offset, then the mixture
        # sum over the noise n of P(N = n) P(X >= observed - n).
        top = observed + offset
        tails = [0.0] * (2 * offset + 1)
        tails[-1] = poisson_sf(top, mean)
        for i in range(2 * offset - 1, -1, -1):
            s = observed - offset + i
            tails[i] = 1.0 if s <= 0 else min(1.0, tails[i + 1] + _pmf(s, mean))
        return min(1.0, sum(q * tails[2 * offset - i] for i, q in enumerate(noise)))

    def threshold(self, expected: float, alpha: float, days: int) -> int:
        """The smallest count whose upper tail is below alpha."""
        s = max(1, math.ceil(expected))
        while self.sf(s, expected, days) >= alpha:
            s += 1
        return s


def _pmf(k: int, mean: float) -> float:
    if mean <= 0:
        return 1.0 if k == 0 else 0.0
    return math.exp(_log_pmf(k, mean))


@functools.lru_cache(maxsize=16)
def _noise_pmf(epsilon: float, days: int) -> tuple[int, tuple[float, ...]]:
    """The sum of `days` discrete Laplace draws of scale 1/epsilon: (offset, pmf), the pmf's
    index i being the value i - offset, truncated where one draw's tail is below 1e-15."""
    a = math.exp(-epsilon)
    m = math.ceil(math.log(1e15) / epsilon)
    one = [(1 - a) / (1 + a) * a ** abs(n) for n in range(-m, m + 1)]
    pmf = [1.0]
    for _ in range(days):
        out = [0.0] * (len(pmf) + len(one) - 1)
        for i, p in enumerate(pmf):
            for j, q in enumerate(one):
                out[i + j] += p * q
        pmf = out
    return days * m, tuple(pmf)
