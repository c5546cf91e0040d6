"""Differentially private counts and the privacy-budget ledger.

Mechanism. A released table of counts gets discrete Laplace noise (OpenDP's `make_laplace` on
integer vectors, the geometric mechanism of Ghosh, Roughgarden & Sundararajan 2009) of scale
`sensitivity / epsilon`, then every noisy count below the minimum cell count k is withheld. The
noise comes first: suppressing on true counts would make "withheld" itself reveal that a true
count is below k, so the threshold must only ever see noisy values (post-processing of an
epsilon-DP release stays epsilon-DP).

Sensitivity. The unit of privacy is one incident: adding or removing one incident changes one
cell of a partitioned count (one H3 cell and one month, say) by one, so the L1 sensitivity of the
whole table is 1. A person involved in m incidents is protected at m * epsilon (group privacy);
tables that count persons, or let one incident fall into several cells, need a larger
sensitivity, which `privatise` takes as an argument.

Domain. The cells a table may release are fixed in advance from public geography and the
calendar (`domain`), never taken from the data: releasing only the cells that hold incidents
would tell which cells hold none. Counts outside the domain are dropped.

Budget. Each release spends epsilon from a budget per (caller, purpose, period); releases within
one period add up (sequential composition), periods are separate budgets. `BudgetLedger` is pure
logic over a `BudgetStore`; `InMemoryBudgetStore` is the reference store, and a database store
must make `charge` atomic (one transaction that checks and adds).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Literal, Protocol, TypeVar

from adapters.schema import WIB_OFFSET
from gateway.errors import PolicyDenied

__all__ = [
    "BUDGET_SLACK",
    "BudgetCharge",
    "BudgetExhausted",
    "BudgetKey",
    "BudgetLedger",
    "BudgetPeriod",
    "BudgetStore",
    "CountNoise",
    "InMemoryBudgetStore",
    "Release",
    "budget_period",
    "laplace_scale",
    "opendp_discrete_laplace",
    "privatise",
]

K = TypeVar("K", bound=Hashable)
BudgetPeriod = Literal["day", "week", "month", "year"]

# Budget arithmetic is in floats; this much slack keeps ten spends of 0.1 within a budget of 1.
BUDGET_SLACK = 1e-9


class CountNoise(Protocol):
    """Adds noise of the given scale to each count, independently."""

    def __call__(self, counts: Sequence[int], scale: float) -> list[int]: ...


def laplace_scale(epsilon: float, sensitivity: int = 1) -> float:
    """Scale of the (discrete) Laplace noise that makes a sensitivity-`sensitivity` count
    epsilon-differentially private: b = sensitivity / epsilon."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number, not {epsilon}")
    if sensitivity < 1:
        raise ValueError(f"sensitivity must be at least 1, not {sensitivity}")
    return sensitivity / epsilon


def opendp_discrete_laplace(counts: Sequence[int], scale: float) -> list[int]:
    """Discrete Laplace noise from OpenDP, checked against OpenDP's own privacy map.

    OpenDP draws from the operating system's CSPRNG, so this noise cannot be seeded.
    """
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    measurement = dp.m.make_laplace(*space, scale=scale)
    # The map gives the epsilon spent for an L1 distance of 1 between neighbouring inputs.
    spent = float(measurement.map(1))  # type: ignore[no-untyped-call]
    if spent > 1.0 / scale + 1e-12:
        raise RuntimeError(f"OpenDP's Laplace of scale {scale} spends {spent}, not 1/scale")
    noisy: list[int] = measurement([int(c) for c in counts])
    return noisy


@dataclass(frozen=True, slots=True)
class Release(Generic[K]):
    """A table of counts as released: noisy where epsilon is set, with small cells withheld.

    `counts` holds the released cells; `suppressed` the cells of the domain that were withheld
    because their (noisy) count fell below `min_count`. A withheld cell is known only to be
    small, so methods that need a value for it use `imputed`.
    """

    counts: Mapping[K, int]
    suppressed: frozenset[K]
    epsilon: float | None
    min_count: int

    @property
    def imputed(self) -> int:
        """The value a withheld cell stands in for: the middle of 0..min_count-1, rounded down."""
        return max(0, (self.min_count - 1) // 2)


def privatise(
    counts: Mapping[K, int],
    *,
    domain: Collection[K],
    epsilon: float | None,
    min_count: int,
    sensitivity: int = 1,
    noise: CountNoise = opendp_discrete_laplace,
) -> Release[K]:
    """Release `counts` over a fixed `domain`: noise first (if `epsilon`), then suppress below k.

    Cells of `domain` missing from `counts` are zero; counts outside `domain` are not released.
    Without `epsilon` the counts are exact and only the minimum cell count applies. Noisy counts
    are clamped at zero, which is post-processing and costs no privacy.
    """
    if min_count < 0:
        raise ValueError(f"the minimum cell count cannot be negative, not {min_count}")
    keys = list(domain)
    true = [int(counts.get(k, 0)) for k in keys]
    if epsilon is None:
        values = true
    else:
        values = noise(true, laplace_scale(epsilon, sensitivity))
        if len(values) != len(true):
            raise RuntimeError("the noise mechanism returned a different number of counts")
    kept: dict[K, int] = {}
    withheld: set[K] = set()
    for key, value in zip(keys, values, strict=True):
        value = max(0, int(value))
        if value >= min_count and value > 0:
            kept[key] = value
        else:
            withheld.add(key)
    return Release(kept, frozenset(withheld), epsilon, min_count)


# --- The budget ledger -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetKey:
    """Whose budget: one caller, for one purpose, in one period (e.g. "2026-10")."""

    caller: str
    purpose: str
    period: str


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """What one accepted spend did to its budget."""

    key: BudgetKey
    epsilon: float
    spent: float
    limit: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit - self.spent)


class BudgetExhausted(PolicyDenied):
    """A release would spend more privacy budget than the purpose allows in this period."""

    def __init__(self, key: BudgetKey, epsilon: float, spent: float, limit: float) -> None:
        self.key = key
        self.spent = spent
        self.limit = limit
        self.remaining = max(0.0, limit - spent)
        super().__init__(
            [
                f"privacy budget exhausted: {key.caller} has spent epsilon {spent:g} of "
                f"{limit:g} for {key.purpose} in {key.period}, {self.remaining:g} remaining, and "
                f"this release needs {epsilon:g}. Wait for the next period or ask for fewer "
                "releases."
            ]
        )


class BudgetStore(Protocol):
    """Where spent budget is kept. `charge` must check and add in one atomic step."""

    def spent(self, key: BudgetKey) -> float:
        """The epsilon spent so far on `key` (0 for a budget never charged)."""
        ...

    def charge(self, key: BudgetKey, epsilon: float, limit: float) -> float | None:
        """Add `epsilon` if the total stays within `limit` (+ slack): the new total, or None
        and nothing charged."""
        ...


@dataclass
class InMemoryBudgetStore:
    """A `BudgetStore` in a dict, safe across threads of one process."""

    _spent: dict[BudgetKey, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spent(self, key: BudgetKey) -> float:
        with self._lock:
            return self._spent.get(key, 0.0)

    def charge(self, key: BudgetKey, epsilon: float, limit: float) -> float | None:
        with self._lock:
            total = self._spent.get(key, 0.0) + epsilon
            if total > limit + BUDGET_SLACK:
                return None
            self._spent[key] = total
            return total


class BudgetLedger:
    """Spends privacy budget per caller, purpose and period; refuses what would go over it."""

    def __init__(self, store: BudgetStore) -> None:
        self._store = store

    def spend(self, key: BudgetKey, epsilon: float, *, limit: float) -> BudgetCharge:
        """Charge `epsilon` to `key`, or raise `BudgetExhausted` and charge nothing."""
        _check_epsilon(epsilon, "epsilon")
        _check_epsilon(limit, "limit")
        total = self._store.charge(key, epsilon, limit)
        if total is None:
            raise BudgetExhausted(key, epsilon, self._store.spent(key), limit)
        return BudgetCharge(key, epsilon, total, limit)

    def remaining(self, key: BudgetKey, *, limit: float) -> float:
        """The epsilon still available to `key` under `limit`."""
        _check_epsilon(limit, "limit")
        return max(0.0, limit - self._store.spent(key))


def _check_epsilon(value: float, name: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, not {value}")


def budget_period(when: datetime, period: BudgetPeriod) -> str:
    """The budget period holding `when`, on the local (WIB) calendar: "2026-10-31", the ISO
    week "2026-W44", "2026-10" or "2026". A naive `when` is taken as UTC, as the reference
    schema stores it."""
    utc = when.replace(tzinfo=None) if when.tzinfo is None else when.astimezone(UTC)
    local = utc.replace(tzinfo=None) + WIB_OFFSET
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return local.strftime("%Y-%m")
    if period == "year":
        return local.strftime("%Y")
    raise ValueError(f"unknown budget period {period!r}")
