"""Limits per caller as the registry states them: their defaults, bounds and check (pure).

Each caller in `policies/registry/callers/data.json` may carry a `limits` object; every key it
leaves out takes the default of `CallerLimits`. The registry check (`registry.check_registry`)
refuses a bundle whose limits are malformed; the gateway's admission control
(`gateway.service.admission`, `gateway.service.limits`) enforces them (docs/adr/0017).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Final

__all__ = ["DEFAULT_LIMITS", "CallerLimits", "LimitsTable", "limit_problems"]


@dataclass(frozen=True)
class CallerLimits:
    concurrent_requests: int = 32
    open_streams: int = 4
    rate_per_second: float = 100.0
    burst: int = 200
    max_plan_cost: int = 8192
    stream_lifetime_seconds: int = 3600


DEFAULT_LIMITS: Final = CallerLimits()

# Upper bounds a registry entry may set: a typo of three zeros should fail the registry
# check, not switch a limit off.
_MOST: Final[Mapping[str, float]] = {
    "concurrent_requests": 1024,
    "open_streams": 1024,
    "rate_per_second": 10_000,
    "burst": 100_000,
    "max_plan_cost": 10_000_000,
    "stream_lifetime_seconds": 7 * 24 * 3600,
}
_NAMES: Final = tuple(f.name for f in fields(CallerLimits))


def limit_problems(where: str, value: object) -> Iterator[str]:
    """What is wrong with a caller's `limits` object (absent is fine: the defaults hold)."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        yield f"{where}: limits must be an object of {', '.join(_NAMES)}"
        return
    for key in sorted(set(value) - set(_NAMES)):
        yield f"{where}: unknown limit {key!r} (known: {', '.join(_NAMES)})"
    for key in _NAMES:
        if key not in value:
            continue
        v = value[key]
        whole = key != "rate_per_second"
        ok = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
        if ok and whole:
            ok = isinstance(v, int)
        if not ok or not 0 < v <= _MOST[key]:
            kind = "a whole number" if whole else "a number"
            yield f"{where}: limit {key!r} must be {kind} above 0 and at most {int(_MOST[key])}"


@dataclass(frozen=True)
class LimitsTable:
    """Every registered caller's limits; unregistered callers get the defaults."""

    callers: Mapping[str, CallerLimits]
    default: CallerLimits = DEFAULT_LIMITS

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> LimitsTable:
        """From the policy bundle's data document (checked by `check_registry` already)."""
        registry = data.get("registry")
        callers = registry.get("callers") if isinstance(registry, Mapping) else None
        table: dict[str, CallerLimits] = {}
        for sid, spec in (callers if isinstance(callers, Mapping) else {}).items():
            raw = spec.get("limits") if isinstance(spec, Mapping) else None
            if isinstance(raw, Mapping) and not list(limit_problems(sid, raw)):
                given = {k: raw[k] for k in _NAMES if k in raw}
                if "rate_per_second" in given:
                    given["rate_per_second"] = float(given["rate_per_second"])
                table[str(sid)] = replace(DEFAULT_LIMITS, **given)
        return cls(table)

    def of(self, caller: str) -> CallerLimits:
        return self.callers.get(caller, self.default)
