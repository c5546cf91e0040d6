"""The privacy-budget ledger's store in the audit database (`privacy_budget`, migration 0003).

A `gateway.analytics.privacy.BudgetStore`: every gateway process that shares the audit store
shares the budgets, and they survive restarts. `charge` is one transaction that checks and
adds under the store's write lock (`AuditStore.charge_budget`).
"""

from __future__ import annotations

from gateway.analytics.privacy import BUDGET_SLACK, BudgetKey
from gateway.audit.store import AuditStore

__all__ = ["AuditBudgetStore"]


class AuditBudgetStore:
    """Spent epsilon per (caller, purpose, period), kept in the audit store's database."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def spent(self, key: BudgetKey) -> float:
        return self._store.budget_spent(key.caller, key.purpose, key.period)

    def charge(self, key: BudgetKey, epsilon: float, limit: float) -> float | None:
        return self._store.charge_budget(
            key.caller, key.purpose, key.period, epsilon, limit + BUDGET_SLACK
        )
