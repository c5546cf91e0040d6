"""Sealed details, the store side: written with their entries, read by oversight, erased.

An entry's details (what oversight may open, sealed to its key with HPKE by
`gateway.protocol.sealed_details`) are bound to their leaf by digest and kept beside the log, not
in it: after the retention period of the entry they are erased, and the log, its tree and
every proof stay as they were (docs/adr/0004).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from gateway.audit.schema import details_table
from gateway.protocol.audit_entry import AuditRecord, Entry


def _expiry(record: AuditRecord) -> str:
    expires = record.time + dt.timedelta(days=record.retention_days)
    return expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sealed_rows(entries: Sequence[Entry], records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    """The detail rows of the records that have sealed details, keyed by their entries."""
    return [
        {
            "idx": e.index,
            "recipient": r.sealed.recipient,
            "blob": r.sealed.blob,
            "expires_at": _expiry(r),
        }
        for e, r in zip(entries, records, strict=True)
        if r.sealed is not None
    ]


def read_details(conn: Connection, index: int) -> bytes | None:
    """The sealed details of entry `index`, or None (none were sealed, or they were erased)."""
    row = conn.execute(select(details_table.c.blob).where(details_table.c.idx == index)).first()
    return None if row is None else bytes(row.blob)


def erase_expired(conn: Connection, now: dt.datetime) -> int:
    """Erase the sealed details whose retention has ended by `now`; return how many."""
    cutoff = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = conn.execute(delete(details_table).where(details_table.c.expires_at <= cutoff))
    return int(result.rowcount)
