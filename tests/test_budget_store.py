"""The privacy-budget ledger in the audit store: atomic charges, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.analytics.privacy import BudgetExhausted, BudgetKey, BudgetLedger
from gateway.audit.budget import AuditBudgetStore
from gateway.audit.store import AuditStore

KEY = BudgetKey("spiffe://gerbang.jakarta.go.id/citata/spatial", "spatial_planning", "2026-11")


def test_charges_add_up_to_the_limit_and_no_further(store_url: str) -> None:
    store = AuditStore(store_url)
    store.create()
    try:
        ledger = BudgetLedger(AuditBudgetStore(store))
        for _ in range(10):
            ledger.spend(KEY, 0.1, limit=1.0)  # ten tenths fit in 1.0 (float slack)
        with pytest.raises(BudgetExhausted) as refused:
            ledger.spend(KEY, 0.1, limit=1.0)
        assert refused.value.remaining == pytest.approx(0.0)
        assert ledger.remaining(KEY, limit=1.0) == pytest.approx(0.0)
        other = BudgetKey(KEY.caller, KEY.purpose, "2026-12")  # a new period, a new budget
        assert ledger.spend(other, 1.0, limit=1.0).remaining == pytest.approx(0.0)
    finally:
        store.close()


def test_concurrent_charges_never_overspend(store_url: str) -> None:
    store = AuditStore(store_url)
    store.create()
    try:
        budgets = AuditBudgetStore(store)

        def charge(_: int) -> bool:
            return budgets.charge(KEY, 0.25, 1.0) is not None

        with ThreadPoolExecutor(8) as pool:
            accepted = sum(pool.map(charge, range(16)))
        assert accepted == 4
        assert budgets.spent(KEY) == pytest.approx(1.0)
    finally:
        store.close()
