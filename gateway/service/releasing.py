"""The gateway's privacy step: charge a release to its accounts before any plan is signed.

An allowed aggregate whose obligations carry an epsilon is a differentially private release
(docs/adr/0009). Before the plans are signed:
1. the window the plans put on the dataset's event time gives the data periods read;
2. the release's identity is the hash of what determines its answer and its hold period;
3. the ledger answers "held" (asked before in this hold period: nothing is charged, and the
   adapters answer with the release they hold), or charges every account, or refuses;
4. the plans carry the release id, whether it is fresh, and until when it is held.
A release is charged once per hold period; every adapter keeps the first answer it made and
gives that one to everyone who asks (`adapters.held`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.audit.releases import ReleaseCharge, ReleaseLedger
from gateway.protocol.model import InvalidQuery, QueryPlan
from gateway.protocol.release import (
    PrivacyBudget,
    budgets_from_registry,
    data_periods,
    hold_key,
    hold_until,
    release_id,
    release_window,
)
from gerbang.v1 import query_pb2

__all__ = ["PrivacyRegistry", "charge_release", "privacy_message"]

MECHANISM = "discrete_laplace"


@dataclasses.dataclass(frozen=True)
class PrivacyRegistry:
    """The purposes' budgets and the datasets' event-time fields, from the registry."""

    budgets: Mapping[str, PrivacyBudget]
    event_time: Mapping[str, str]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PrivacyRegistry:
        registry = data.get("registry", {})
        purposes = registry.get("purposes", {}) if isinstance(registry, Mapping) else {}
        datasets = registry.get("datasets", {}) if isinstance(registry, Mapping) else {}
        return cls(
            budgets_from_registry(purposes if isinstance(purposes, Mapping) else {}),
            {
                str(name): str(d["event_time_field"])
                for name, d in (datasets.items() if isinstance(datasets, Mapping) else ())
                if isinstance(d, Mapping) and isinstance(d.get("event_time_field"), str)
            },
        )


async def charge_release(
    ledger: ReleaseLedger,
    registry: PrivacyRegistry,
    plans: Sequence[QueryPlan],
    *,
    caller: str,
    now: dt.datetime,
) -> tuple[list[QueryPlan], ReleaseCharge]:
    """Steps 1-4; raises `InvalidQuery` when the release cannot be accounted for (a fault of
    the registry or the policy, never allowed through) and `BudgetExhausted` when over."""
    first = plans[0]
    budget = registry.budgets.get(first.purpose)
    if budget is None or first.epsilon is None or first.epsilon != budget.epsilon:
        raise InvalidQuery(
            f"the policy asks for noise but purpose {first.purpose!r} has no matching privacy "
            "budget (epsilon and privacy_budget) in the registry"
        )
    field = registry.event_time.get(first.dataset)
    if field is None:
        raise InvalidQuery(f"dataset {first.dataset!r} has no event time to charge releases to")
    try:
        lower, upper = release_window(first.filters, field)
        periods = data_periods(lower, upper, budget.period)
    except ValueError as e:
        raise InvalidQuery(str(e)) from e
    if not periods:
        raise InvalidQuery(f"the window on {field!r} is empty")
    until = hold_until(now, budget.hold)
    rid = release_id(first, hold_key(until))
    charge = await asyncio.to_thread(
        ledger.charge,
        rid,
        caller=caller,
        purpose=first.purpose,
        periods=periods,
        budget=budget,
        now=now,
        held_until=until,
    )
    # Charged, now or earlier in its hold period: an adapter that does not hold it yet (a
    # concurrent first request, or a failure before it kept its answer) may make it.
    marked = [
        dataclasses.replace(p, release_id=rid, release_fresh=True, release_until=until)
        for p in plans
    ]
    return marked, charge


def privacy_message(plan: QueryPlan, charge: ReleaseCharge) -> query_pb2.PrivacyRelease:
    """What the caller is told about the release and its accounts."""
    message = query_pb2.PrivacyRelease(
        mechanism=MECHANISM,
        epsilon=plan.epsilon or 0.0,
        min_cell_count=plan.min_cell_count,
        epsilon_charged=charge.epsilon,
        held=charge.held,
        periods=charge.period_range,
        spent=charge.spent,
        limit=charge.limit,
        remaining=charge.remaining,
    )
    if plan.release_until is not None:
        message.held_until.FromDatetime(plan.release_until)
    return message
