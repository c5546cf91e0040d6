"""A query the gateway admits always fits in one audit entry (C2SP tlog-tiles: at most
65,535 bytes), so that no authenticated request can fail for want of its entry.

Regression: a query of about 900 filter values (below the 64 KiB request limit) made an entry
too large to append, and the caller got UNAVAILABLE with nothing audited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore
from gateway.protocol.audit_entry import AuditRecord, ResultDigest, describe_query
from gateway.protocol.model import (
    MAX_FILTERS,
    MAX_STRING,
    MAX_TOTAL_VALUES,
    MAX_VALUES,
    Aggregation,
    Filter,
    GroupBy,
    InvalidQuery,
    Op,
    Query,
)
from gateway.tlog.tiles import MAX_ENTRY_BYTES


def _query(values: int, filters: int = MAX_FILTERS) -> Query:
    """`values` filter values spread over `filters` filters, each a string of the longest
    length a value may have."""
    per = [values // filters + (1 if i < values % filters else 0) for i in range(filters)]
    assert all(1 <= n <= MAX_VALUES for n in per)
    return Query(
        "incidents",
        ("kecamatan",),
        tuple(
            Filter(
                "kecamatan",
                Op.IN,
                tuple(f"{i:03d}-{j:03d}".ljust(MAX_STRING, "x") for j in range(n)),
            )
            for i, n in enumerate(per)
        ),
        Aggregation((GroupBy("kecamatan"),)),
        "security_indicators",
        "UU 2/2002 Pasal 14".ljust(4 * MAX_STRING, "y"),
        "k" * MAX_STRING,
    )


def test_more_values_than_an_entry_can_record_is_an_invalid_query() -> None:
    with pytest.raises(InvalidQuery, match=f"at most {MAX_TOTAL_VALUES} filter values"):
        _query(MAX_TOTAL_VALUES + 1)
    with pytest.raises(InvalidQuery, match="filter values"):
        _query(MAX_TOTAL_VALUES + 1, filters=3)


def test_the_largest_admitted_query_fits_its_entry(tmp_path: Path) -> None:
    query = _query(MAX_TOTAL_VALUES)
    record = AuditRecord(
        time=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
        kind="query",
        request_id="f" * 32,
        caller="spiffe://gerbang.jakarta.go.id/" + "c" * 200,
        decision="error",
        status="UNAVAILABLE",
        purpose="p" * 64,  # unregistered: a 64-hex commitment
        legal_basis="l" * 64,
        case_reference="r" * 64,
        dataset=query.dataset,
        request=describe_query(b"k" * 32, query),
        fields_granted=tuple(f"field_{i}" for i in range(64)),
        reasons=tuple(f"adapter polda-{i} failed: " + "e" * 200 for i in range(16)),
        policy_revision="v" * 64,
        adapters=tuple(f"polda-{i}" for i in range(16)),
        results=tuple(ResultDigest(f"polda-{i}", "0" * 64, 10**9) for i in range(16)),
        request_hash="a" * 64,
        user_commitment="b" * 64,
    )
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    try:
        (entry,) = store.append([record])
        assert len(entry.leaf) <= MAX_ENTRY_BYTES
        # The bound has headroom: a quarter of the entry is left for what may be added.
        assert len(entry.leaf) < 0.75 * MAX_ENTRY_BYTES, len(entry.leaf)
    finally:
        store.close()
