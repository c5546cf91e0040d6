"""Verify a whole audit log: the hash chain, the leaves and the head (pure).

Steps, for each stored row in index order:
1. the index is the next one (no gap, no reordering, no insertion);
2. SHA-256 of the leaf is the stored entry hash;
3. the leaf decodes, and names its own index and the previous entry's hash;
4. the columns copied out of the leaf agree with it.
Then the head row must name the last entry: same size, same hash (a log cut
short, or extended without the writer, fails here).
The first failing step raises `AuditIntegrityError` naming the entry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass

from gateway.audit.entry import GENESIS
from gateway.audit.store import INDEXED_COLUMNS, Head, StoredEntry
from gateway.errors import AuditIntegrityError


@dataclass(frozen=True)
class VerifiedLog:
    size: int
    head_hash: bytes


def verify_log(
    rows: Iterable[StoredEntry], head: Head, progress: Callable[[int], None] | None = None
) -> VerifiedLog:
    """Verify every row against the chain and the head; raise at the first bad entry."""
    iterator = iter(rows)
    try:
        return _verify(iterator, head, progress)
    finally:
        # A store's scan holds a database cursor: release it even when verification fails.
        if isinstance(iterator, Generator):
            iterator.close()


def _verify(
    rows: Iterator[StoredEntry], head: Head, progress: Callable[[int], None] | None
) -> VerifiedLog:
    expected = 0
    prev = GENESIS
    for row in rows:
        e = row.entry
        if e.index != expected:
            raise AuditIntegrityError(
                f"entry {expected} is missing: found entry {e.index} in its place "
                "(an entry was removed, inserted or reordered)",
                index=expected,
            )
        if not hmac.compare_digest(hashlib.sha256(e.leaf).digest(), e.entry_hash):
            raise AuditIntegrityError(
                f"entry {e.index}: leaf does not match its hash (altered)", index=e.index
            )
        doc = e.fields()
        if doc.get("index") != e.index:
            raise AuditIntegrityError(
                f"entry {e.index}: leaf says it is entry {doc.get('index')} (moved or swapped)",
                index=e.index,
            )
        if doc.get("prev") != prev.hex():
            raise AuditIntegrityError(
                f"entry {e.index}: does not link to entry {e.index - 1} (chain broken)",
                index=e.index,
            )
        for c in INDEXED_COLUMNS:
            if row.columns[c] != doc.get(c):
                raise AuditIntegrityError(
                    f"entry {e.index}: column {c!r} disagrees with the leaf (altered)",
                    index=e.index,
                )
        prev = e.entry_hash
        expected += 1
        if progress is not None:
            progress(expected)
    if head.size != expected:
        raise AuditIntegrityError(
            f"the log holds {expected} entries but its head says {head.size} "
            f"(entries from {min(expected, head.size)} on were removed or added)",
            index=min(expected, head.size),
        )
    if not hmac.compare_digest(head.head_hash, prev):
        raise AuditIntegrityError(
            f"the head hash does not match entry {expected - 1}", index=max(expected - 1, 0)
        )
    return VerifiedLog(expected, prev)
