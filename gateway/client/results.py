"""What an answer gives the caller, and the checks and merge made on its verified parts.

`QueryResult` holds the merged rows, the audit `Receipt`, the signed plans and what a
privacy release cost. `merge` sums the noisy counts of aggregate parts per group and
concatenates record-level rows; `check_mechanism` refuses counts released without noise
(docs/adr/0009) and `check_case_binding` rows from outside the request's case (docs/adr/0013).
Every check raises `UntrustedInputError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import UntrustedInputError
from gateway.protocol.model import Query, QueryPlan
from gateway.protocol.values import Scalar, rows_from_result
from gerbang.v1 import common_pb2, query_pb2

__all__ = [
    "Privacy",
    "QueryResult",
    "Receipt",
    "Row",
    "check_case_binding",
    "check_mechanism",
    "merge",
]

Row = dict[str, Scalar | None]


@dataclass(frozen=True)
class Receipt:
    """Where the request sits in the audit log: prove it with AuditService.GetInclusionProof."""

    leaf_index: int
    entry_hash: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class Privacy:
    """How an aggregate answer was released (docs/adr/0009): its mechanism, the noise's
    epsilon and the minimum noisy count k; what it cost (nothing when `held`: the same
    release as an earlier identical question); and the caller's account on the data periods
    it read: the most spent on any, the limit per period, the least left."""

    mechanism: str
    epsilon: float
    min_cell_count: int
    epsilon_charged: float
    held: bool
    periods: str
    spent: float
    limit: float
    remaining: float
    held_until: dt.datetime | None

    @classmethod
    def from_proto(cls, p: query_pb2.PrivacyRelease) -> Privacy:
        return cls(
            p.mechanism,
            p.epsilon,
            p.min_cell_count,
            p.epsilon_charged,
            p.held,
            p.periods,
            p.spent,
            p.limit,
            p.remaining,
            p.held_until.ToDatetime(tzinfo=dt.UTC) if p.HasField("held_until") else None,
        )


def check_mechanism(plans: Sequence[QueryPlan], response: query_pb2.QueryResponse) -> None:
    """Counts for an aggregate-only purpose must have been released with noise: every signed
    plan carries the same epsilon and release, and the gateway says so. Raises
    `UntrustedInputError` otherwise: exact counts could be differenced."""
    counted = [
        p
        for p in plans
        if p.aggregate_only and p.aggregation is not None and p.aggregation.measure == "count"
    ]
    if not counted:
        return
    if len(counted) != len(plans) or any(p.epsilon is None or not p.release_id for p in plans):
        raise UntrustedInputError(
            "aggregate counts came without a privacy mechanism in their signed plans"
        )
    if len({(p.epsilon, p.release_id) for p in plans}) != 1:
        raise UntrustedInputError("the parts of one answer name different releases")
    if not response.HasField("privacy") or response.privacy.epsilon != plans[0].epsilon:
        raise UntrustedInputError("the gateway did not report the release's mechanism")


@dataclass(frozen=True)
class QueryResult:
    rows: list[Row]
    columns: tuple[str, ...]
    receipt: Receipt
    request_id: str
    granted_fields: tuple[str, ...]
    policy_revision: str
    adapters: tuple[str, ...]
    suppressed_groups: int
    # The signed request and each part's signed plan and attestation, for evidence.
    evidence: dict[str, Any] = field(default_factory=dict)
    # A differentially private answer: the epsilon left for this purpose in the budget
    # period after it, and the period ("2026-11"); None and "" when no budget was spent.
    privacy_budget_remaining: float | None = None
    privacy_budget_period: str = ""
    # The plans the adapters answered, as the gateway signed them (obligations included).
    plans: tuple[QueryPlan, ...] = ()
    # How an aggregate answer was released, and the caller's privacy accounts after it.
    privacy: Privacy | None = None


def merge(parts: Sequence[common_pb2.ResultSet]) -> tuple[tuple[str, ...], list[Row], int]:
    """Merge the federated parts of one answer.

    Aggregates (a trailing `count` column) are summed per group, H3 cells included: each
    adapter holds different incidents, so the noisy parts of a cell add up to a noisy total
    (sums of released counts are post-processing, no extra privacy cost). `exists` is or-ed;
    record-level rows are concatenated.
    """
    if not parts:
        return (), [], 0
    columns = tuple(parts[0].columns)
    if any(tuple(p.columns) != columns for p in parts):
        raise UntrustedInputError("adapters answered with different columns")
    suppressed = sum(p.suppressed_groups for p in parts)
    decoded = [rows_from_result(p) for p in parts]
    if columns == ("exists",):
        hit = any(bool(r["exists"]) for rows in decoded for r in rows)
        return columns, [{"exists": hit}], suppressed
    if columns and columns[-1] == "count":
        keys = columns[:-1]
        totals: dict[tuple[Any, ...], int] = {}
        for rows in decoded:
            for r in rows:
                key = tuple(r[k] for k in keys)
                count = r["count"]
                totals[key] = totals.get(key, 0) + (count if isinstance(count, int) else 0)
        merged = [
            dict(zip(keys, key, strict=True)) | {"count": n}
            for key, n in sorted(totals.items(), key=_sort_key)
        ]
        return columns, merged, suppressed
    return columns, [r for rows in decoded for r in rows], suppressed


def check_case_binding(query: Query, plans: Sequence[QueryPlan]) -> None:
    """A request under a case reference must have been answered within that case: every plan
    the adapters ran carries the binding to it (ADR 0013). Checked on the signed plans, as the
    reported-only filter of analytics is, never assumed."""
    if not query.case_reference:
        return
    for plan in plans:
        binding = plan.case_binding
        if binding is None or binding.reference != query.case_reference:
            raise UntrustedInputError(
                f"plan {plan.plan_id} is not bound to the case the request was made under; "
                "its rows may come from outside the case"
            )


def _sort_key(item: tuple[tuple[Any, ...], int]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in item[0])
