"""The audit log's rows as verification reads them: no database driver needed.

`gateway.audit.store` writes and scans these; offline verification (an export, a remote log
through tiles, an evidence bundle) builds them from files and HTTP, so it imports this
module and never the store (an oversight body verifies without SQLAlchemy installed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.protocol.audit_entry import Entry

__all__ = ["INDEXED_COLUMNS", "Head", "StoredEntry", "StoredNode"]

# Columns copied out of the leaf for querying; verification checks they agree with it.
INDEXED_COLUMNS = (
    "time",
    "kind",
    "request_id",
    "caller",
    "purpose",
    "dataset",
    "decision",
    "status",
    "row_count",
)


@dataclass(frozen=True)
class Head:
    size: int
    head_hash: bytes


@dataclass(frozen=True, slots=True)  # slots: a full verification builds one per entry
class StoredEntry:
    """A row as stored: its entry, and the values of SCANNED_COLUMNS (empty for an export)."""

    entry: Entry
    values: tuple[Any, ...] = ()


# A stored Merkle node: (level, index at that level, hash). Node (level, idx) covers leaves
# [idx * 2^level, (idx + 1) * 2^level).
StoredNode = tuple[int, int, bytes]
