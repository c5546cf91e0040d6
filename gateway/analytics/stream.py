"""The caller's side of the early-warning stream: the history of the days it has opened.

Each tick of `WatchWarnings` releases only the days no earlier tick did (the first day with its
lookback, every later day alone: `operations.warning_tick`), so the alerts of a day are computed
over what the client kept. A day the releases cover but whose count is absent was withheld
below k, and is imputed by the scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.analytics.operations import TIME, WARNING_LOOKBACK_DAYS, local_day
from gateway.analytics.tally import InvalidTally, Tally
from gateway.analytics.warning import Alert, early_warnings
from gateway.protocol.model import Op, QueryPlan, utc

__all__ = ["WarningHistory", "released_days"]


def released_days(plans: Sequence[QueryPlan]) -> list[dt.date]:
    """The local days an answer's plans read (their bounds on the event time), in order."""
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None
    for plan in plans:
        for f in plan.filters:
            if f.field != TIME or not isinstance(f.values[0], dt.datetime):
                continue
            t = utc(f.values[0])
            if f.op is Op.GE:
                lower = t if lower is None else max(lower, t)
            elif f.op is Op.LT:
                upper = t if upper is None else min(upper, t)
    if lower is None or upper is None:
        raise InvalidTally("the answer's plans do not bound the event time on both sides")
    first, last = local_day(lower), local_day(upper - dt.timedelta(microseconds=1))
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass
class WarningHistory:
    """The daily counts a caller has opened from one warning stream, and the days they cover.

    Each tick releases only its new days (`warning_tick`); the method runs over the history.
    A day the releases cover but whose count is absent was withheld below k.
    """

    min_count: int = 0
    epsilon: float | None = None
    counts: dict[tuple[str, dt.date], Tally] = field(default_factory=dict)
    covered: set[dt.date] = field(default_factory=set)
    areas: set[str] = field(default_factory=set)

    def add(
        self,
        days: Sequence[dt.date],
        counts: Sequence[Tally],
        min_count: int,
        epsilon: float | None = None,
    ) -> None:
        """Add one release: the days its plans read, its counts, its k and its epsilon."""
        if self.covered and epsilon != self.epsilon:
            raise InvalidTally("the stream's releases disagree on epsilon")
        for t in counts:
            if t.area is None or t.when is None or t.days != 1:
                raise InvalidTally("early warning needs daily counts per kecamatan")
            if t.when not in days:
                raise InvalidTally(f"a count for {t.when} outside the days its plans read")
            self.counts[(t.area, t.when)] = t
            self.areas.add(t.area)
        self.covered.update(days)
        self.min_count = max(self.min_count, min_count)
        self.epsilon = epsilon

    def alerts(self, day: dt.date) -> list[Alert] | None:
        """The alerts of `day`, or None when the history does not cover its lookback."""
        first = day - dt.timedelta(days=WARNING_LOOKBACK_DAYS)
        window = [first + dt.timedelta(days=i) for i in range(WARNING_LOOKBACK_DAYS + 1)]
        if not self.covered.issuperset(window):
            return None
        # Forget what no later day's lookback reads.
        for key in [k for k in self.counts if k[1] < first]:
            del self.counts[key]
        self.covered = {d for d in self.covered if d >= first}
        alerts = early_warnings(
            list(self.counts.values()),
            start=first,
            end=day + dt.timedelta(days=1),
            min_count=self.min_count,
            areas=sorted(self.areas),
            noise_epsilon=self.epsilon,
        )
        return [a for a in alerts if a.day == day]
