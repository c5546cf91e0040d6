"""Limits per caller: the pure arithmetic that enforces them (no I/O).

Each caller in `policies/registry/callers/data.json` may carry a `limits` object; every key it
leaves out takes the default (`gateway.policy.limits`, docs/adr/0017). The gateway's admission
control (`gateway.service.admission`) enforces them:

- `concurrent_requests`: unary requests of one caller in flight at once;
- `open_streams`: server streams (WatchWarnings) of one caller open at once;
- `rate_per_second` and `burst`: a token bucket over every call of the caller;
- `max_plan_cost`: filters x filter values x adapters of one query (`plan_cost`);
- `stream_lifetime_seconds`: how long a stream may stay open before it ends and the caller
  renews it with a freshly signed request.

Overload is never a policy denial: `Overloaded` maps to RESOURCE_EXHAUSTED, not
PERMISSION_DENIED.
"""

from __future__ import annotations

from gateway.policy.limits import DEFAULT_LIMITS, CallerLimits, LimitsTable, limit_problems
from gateway.protocol.model import Query
from gateway.service import refusals

__all__ = [
    "DEFAULT_LIMITS",
    "CallerLimits",
    "LimitsTable",
    "Overloaded",
    "TokenBucket",
    "limit_problems",
    "plan_cost",
]


class Overloaded(refusals.Overloaded):
    """A caller is over one of its limits; retry later, or ask a smaller question.

    The pipeline's own refusal (RESOURCE_EXHAUSTED, never a policy denial), naming the
    limit (a `CallerLimits` field) in `limit`.
    """

    def __init__(self, limit: str, message: str) -> None:
        self.limit = limit
        super().__init__(message)


class TokenBucket:
    """A token bucket: `burst` tokens, refilled at `rate` per second. Time is passed in."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; False when the bucket is empty."""
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def plan_cost(query: Query, adapters: int) -> int:
    """filters x filter values x adapters: what one query asks of the federation.

    A filter-free query costs as one filter with one value, so the cost never falls to 0.
    """
    filters = max(1, len(query.filters))
    values = max(1, sum(len(f.values) for f in query.filters))
    return filters * values * max(1, adapters)
