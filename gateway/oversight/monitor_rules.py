"""The oversight body's alert rules over audit entries, as a monitor reads them (pure; no I/O).

Rules are configured by the oversight body (a JSON document, `MonitorRules.parse`);
each is optional, and a rules document must name at least one (fail closed: an empty
one would watch nothing):

- `rate`: a caller's requests in a window of `window_minutes` far above its baseline
  (more than `factor` times the mean of its earlier active windows, at least
  `min_requests`, after `min_history` such windows);
- `denials`: `threshold` or more denials of one caller within `window_minutes`;
- `odd_hours`: access (allowed or not) between `start` and `end` o'clock local time
  (`timezone_offset_hours`, WIB = 7), for the listed `purposes` or all;
- `purposes`: a purpose used outside its pattern: by a caller, or on a dataset, that
  its entry does not list.

Time is the entry's own `time` member, so a replay of the log raises the same alerts.
The state between entries is a JSON-serializable document the monitor keeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigurationError

__all__ = ["Alert", "MonitorRules", "RuleState", "evaluate"]


@dataclass(frozen=True)
class Alert:
    rule: str
    index: int
    caller: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "index": self.index,
            "caller": self.caller,
            "message": self.message,
        }


@dataclass(frozen=True)
class RateRule:
    window_minutes: int = 60
    factor: float = 5.0
    min_requests: int = 20
    min_history: int = 3


@dataclass(frozen=True)
class DenialRule:
    window_minutes: int = 10
    threshold: int = 5


@dataclass(frozen=True)
class OddHoursRule:
    start: int = 22
    end: int = 5
    purposes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurposePattern:
    callers: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitorRules:
    timezone_offset_hours: int = 7
    rate: RateRule | None = None
    denials: DenialRule | None = None
    odd_hours: OddHoursRule | None = None
    purposes: Mapping[str, PurposePattern] = field(default_factory=dict)

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> MonitorRules:
        known = {"timezone_offset_hours", "rate", "denials", "odd_hours", "purposes"}
        unknown = set(doc) - known
        if unknown:
            raise ConfigurationError(f"monitor rules: unknown member(s) {sorted(unknown)}")
        try:
            rules = cls(
                timezone_offset_hours=int(doc.get("timezone_offset_hours", 7)),
                rate=RateRule(**doc["rate"]) if "rate" in doc else None,
                denials=DenialRule(**doc["denials"]) if "denials" in doc else None,
                odd_hours=(
                    OddHoursRule(
                        int(doc["odd_hours"].get("start", 22)),
                        int(doc["odd_hours"].get("end", 5)),
                        tuple(doc["odd_hours"].get("purposes", ())),
                    )
                    if "odd_hours" in doc
                    else None
                ),
                purposes={
                    p: PurposePattern(tuple(v.get("callers", ())), tuple(v.get("datasets", ())))
                    for p, v in doc.get("purposes", {}).items()
                },
            )
        except (TypeError, AttributeError, ValueError) as e:
            raise ConfigurationError(f"monitor rules are malformed: {e}") from e
        if not (rules.rate or rules.denials or rules.odd_hours or rules.purposes):
            raise ConfigurationError("monitor rules name no rule: the monitor would watch nothing")
        return rules


@dataclass
class RuleState:
    """Per-caller counters, kept between runs (JSON)."""

    windows: dict[str, list[int]] = field(default_factory=dict)  # caller: [window, count]
    history: dict[str, list[float]] = field(default_factory=dict)  # caller: [windows, total]
    denials: dict[str, list[float]] = field(default_factory=dict)  # caller: deny times
    alerted: dict[str, int] = field(default_factory=dict)  # "rule caller": window alerted

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("windows", "history", "denials", "alerted")}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RuleState:
        return cls(
            **{k: dict(doc.get(k, {})) for k in ("windows", "history", "denials", "alerted")}
        )


def _time(entry: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))


def _rate(rule: RateRule, state: RuleState, caller: str, t: float, index: int) -> list[Alert]:
    window = int(t // (rule.window_minutes * 60))
    current = state.windows.get(caller)
    if current is None or current[0] != window:
        if current is not None:  # close the caller's previous active window
            seen, total = state.history.get(caller, [0, 0])
            state.history[caller] = [seen + 1, total + current[1]]
        current = [window, 0]
        state.windows[caller] = current
    current[1] += 1
    seen, total = state.history.get(caller, [0, 0])
    if seen < rule.min_history or current[1] < rule.min_requests:
        return []
    baseline = total / seen
    key = f"rate {caller}"
    if current[1] > rule.factor * baseline and state.alerted.get(key) != window:
        state.alerted[key] = window
        return [
            Alert(
                "rate",
                index,
                caller,
                f"{current[1]} requests in {rule.window_minutes} min, more than {rule.factor}x "
                f"the caller's baseline of {baseline:.1f} over {int(seen)} earlier windows",
            )
        ]
    return []


def _denials(rule: DenialRule, state: RuleState, caller: str, t: float, index: int) -> list[Alert]:
    span = rule.window_minutes * 60
    recent = [x for x in state.denials.get(caller, []) if t - x < span] + [t]
    state.denials[caller] = recent[-rule.threshold :]
    key = f"denials {caller}"
    if len(recent) >= rule.threshold and state.alerted.get(key, -1) < recent[0]:
        state.alerted[key] = int(t)
        return [
            Alert(
                "denials",
                index,
                caller,
                f"{len(recent)} denials within {rule.window_minutes} min",
            )
        ]
    return []


def evaluate(
    entry: Mapping[str, Any], index: int, state: RuleState, rules: MonitorRules
) -> list[Alert]:
    """The alerts entry `index` raises; updates `state`."""
    if entry.get("kind") != "query":
        return []
    caller = str(entry.get("caller", ""))
    when = _time(entry)
    t = when.timestamp()
    alerts: list[Alert] = []
    if rules.rate is not None:
        alerts += _rate(rules.rate, state, caller, t, index)
    if rules.denials is not None and entry.get("decision") == "deny":
        alerts += _denials(rules.denials, state, caller, t, index)
    purpose = str(entry.get("purpose", ""))
    odd = rules.odd_hours
    if odd is not None and (not odd.purposes or purpose in odd.purposes):
        hour = (when + dt.timedelta(hours=rules.timezone_offset_hours)).hour
        inside = (
            odd.start <= hour < odd.end if odd.start < odd.end else not odd.end <= hour < odd.start
        )
        if inside:
            alerts.append(
                Alert(
                    "odd_hours",
                    index,
                    caller,
                    f"{purpose or 'a request'} at {hour:02d}:{when.minute:02d} local time "
                    f"(watched: {odd.start:02d}:00-{odd.end:02d}:00)",
                )
            )
    pattern = rules.purposes.get(purpose)
    if pattern is not None:
        dataset = str(entry.get("dataset", ""))
        if pattern.callers and caller not in pattern.callers:
            alerts.append(
                Alert(
                    "purpose",
                    index,
                    caller,
                    f"purpose {purpose} used by a caller outside its pattern",
                )
            )
        if pattern.datasets and dataset not in pattern.datasets:
            alerts.append(
                Alert(
                    "purpose",
                    index,
                    caller,
                    f"purpose {purpose} used on dataset {dataset} outside its pattern",
                )
            )
    return alerts
