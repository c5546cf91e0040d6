"""The replay cache: nonce claims in large batches (issue 12).

Regression: a batch of 999 or more nonces became one OR expression per nonce, past
SQLite's expression-depth limit of 1000, and every request in the batch failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from gateway.audit.store import AuditStore

CALLER = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
OTHER = "spiffe://gerbang.jakarta.go.id/bpbd/dashboard"


@pytest.fixture
def store(store_url: str) -> Iterator[AuditStore]:
    s = AuditStore(store_url)
    s.create()
    yield s
    s.close()


def expiry() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)


def test_claim_5000_nonces_in_one_batch(store: AuditStore) -> None:
    """5,000 fresh nonces in one batch are all new; claimed again, none is."""
    items = [(CALLER, f"nonce-{i:05d}", expiry()) for i in range(5000)]
    assert store.claim_nonces(items) == [True] * 5000
    assert store.claim_nonces(items) == [False] * 5000


def test_batch_mixes_seen_repeated_and_new(store: AuditStore) -> None:
    """Within a batch a repeated nonce is new only the first time; nonces are per caller."""
    store.claim_nonces([(CALLER, f"old-{i}", expiry()) for i in range(1500)])
    items = [
        *((CALLER, f"old-{i}", expiry()) for i in range(0, 1500, 3)),  # seen before
        *((CALLER, f"new-{i}", expiry()) for i in range(2000)),  # new
        *((CALLER, f"new-{i}", expiry()) for i in range(0, 2000, 7)),  # repeated in batch
        *((OTHER, f"old-{i}", expiry()) for i in range(1000)),  # same nonce, other caller
    ]
    expected = [False] * 500 + [True] * 2000 + [False] * len(range(0, 2000, 7)) + [True] * 1000
    assert store.claim_nonces(items) == expected


def test_expired_nonces_are_pruned(store: AuditStore) -> None:
    """A nonce whose freshness window has passed is forgotten at the next claim."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert store.claim_nonces([(CALLER, "n", past)]) == [True]
    assert store.claim_nonces([(CALLER, "m", expiry())]) == [True]
    assert store.claim_nonces([(CALLER, "n", expiry())]) == [True]
