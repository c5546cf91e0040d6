"""Verify a whole audit log: the hash chain, the Merkle tree, the head and the checkpoints (pure).

Steps, in order:
1. the checkpoints (already signature-checked by the caller) agree with each
   other: two of the same size with different roots are a fork;
2. for each stored row in index order:
   a. the index is the next one (no gap, no reordering, no insertion);
   b. SHA-256 of the leaf is the stored entry hash, and its RFC 9162 leaf
      hash is the stored leaf hash;
   c. the leaf is UTF-8 JSON of version 1, and names its own index and the
      previous entry's hash (only the members compared here are decoded);
   d. the columns copied out of the leaf agree with it;
   e. at each checkpoint's size, the Merkle root of the entries so far is the
      checkpoint's root (an entry rewritten after a checkpoint, or a fork);
3. no checkpoint is larger than the log (truncation);
4. the head row names the last entry: same size, same hash.
The first failing step raises `AuditIntegrityError` naming the entry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.audit._merkle import CompactRange, leaf_hash
from gateway.audit.entry import GENESIS, LEAF_VERSION, Entry
from gateway.audit.store import INDEXED_COLUMNS, Head, StoredEntry
from gateway.errors import AuditIntegrityError

# The leaf members verification compares, decoded alone (see `_leaf_members`).
_LeafMembers = msgspec.defstruct(
    "LeafMembers",
    [(name, Any, None) for name in ("v", "index", "prev", *INDEXED_COLUMNS)],
    frozen=True,
    gc=False,
)
_decode_members = msgspec.json.Decoder(_LeafMembers).decode


@dataclass(frozen=True)
class CheckpointClaim:
    """A checkpoint whose signature has been verified: the log claimed this root at this size."""

    size: int
    root_hash: bytes
    source: str = "checkpoint"


@dataclass(frozen=True)
class VerifiedLog:
    size: int
    head_hash: bytes
    root_hash: bytes
    checkpoints_checked: int


def verify_log(
    rows: Iterable[StoredEntry],
    head: Head | None,
    checkpoints: Sequence[CheckpointClaim] = (),
    progress: Callable[[int], None] | None = None,
) -> VerifiedLog:
    """Verify every row against the chain, the tree, the checkpoints and the head.

    `head` is None for an export, which has no head row; its checkpoints bound it instead.
    """
    iterator = iter(rows)
    try:
        return _verify(iterator, head, checkpoints, progress)
    finally:
        # A store's scan holds a database cursor: release it even when verification fails.
        if isinstance(iterator, Generator):
            iterator.close()


def _claims_by_size(checkpoints: Sequence[CheckpointClaim]) -> dict[int, CheckpointClaim]:
    by_size: dict[int, CheckpointClaim] = {}
    for c in checkpoints:
        seen = by_size.setdefault(c.size, c)
        if not hmac.compare_digest(seen.root_hash, c.root_hash):
            raise AuditIntegrityError(
                f"fork: {seen.source} and {c.source} both claim size {c.size} with different roots",
                index=c.size - 1 if c.size else 0,
            )
    return by_size


def _verify(
    rows: Iterator[StoredEntry],
    head: Head | None,
    checkpoints: Sequence[CheckpointClaim],
    progress: Callable[[int], None] | None,
) -> VerifiedLog:
    claims = _claims_by_size(checkpoints)
    tree = CompactRange()
    checked = 0
    if 0 in claims:
        _check_root(tree, claims[0])
        checked += 1
    expected = 0
    prev = GENESIS
    sha256, compare_digest = hashlib.sha256, hmac.compare_digest
    for row in rows:
        e = row.entry
        if e.index != expected:
            raise AuditIntegrityError(
                f"entry {expected} is missing: found entry {e.index} in its place "
                "(an entry was removed, inserted or reordered)",
                index=expected,
            )
        if not compare_digest(sha256(e.leaf).digest(), e.entry_hash):
            raise AuditIntegrityError(
                f"entry {e.index}: leaf does not match its hash (altered)", index=e.index
            )
        lh = leaf_hash(e.leaf)
        members = _leaf_members(e)
        if members[1] != e.index:
            raise AuditIntegrityError(
                f"entry {e.index}: leaf says it is entry {members[1]} (moved or swapped)",
                index=e.index,
            )
        if members[2] != prev.hex():
            raise AuditIntegrityError(
                f"entry {e.index}: does not link to entry {e.index - 1} (chain broken)",
                index=e.index,
            )
        if row.values:
            if not compare_digest(row.values[-1], lh):
                raise AuditIntegrityError(
                    f"entry {e.index}: stored leaf hash does not match its leaf (altered)",
                    index=e.index,
                )
            if row.values[:-1] != members[3:]:
                raise AuditIntegrityError(
                    f"entry {e.index}: column {_disagreeing_column(row.values, members)!r} "
                    "disagrees with the leaf (altered)",
                    index=e.index,
                )
        prev = e.entry_hash
        tree.append(lh)
        expected += 1
        claim = claims.get(expected)
        if claim is not None:
            _check_root(tree, claim)
            checked += 1
        if progress is not None:
            progress(expected)
    beyond = [size for size in claims if size > expected]
    if beyond:
        raise AuditIntegrityError(
            f"truncated: the log holds {expected} entries but a checkpoint of size "
            f"{max(beyond)} was already published",
            index=expected,
        )
    if head is not None:
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
    return VerifiedLog(expected, prev, tree.root(), checked)


def _leaf_members(e: Entry) -> tuple[Any, ...]:
    """The leaf's `v`, `index`, `prev` and INDEXED_COLUMNS members, in that order (None
    for one it lacks). Raises AuditIntegrityError if it is not a JSON object of version 1.

    Only these members are kept: the rest of the leaf is parsed, so it must be valid
    JSON, but not built into objects, which halves the cost of the check. msgspec does
    not look inside the strings it skips, so UTF-8 is checked apart, as strict as
    `Entry.fields` (orjson), which the leaf's other readers use.
    """
    try:
        e.leaf.decode()
        members: tuple[Any, ...] = msgspec.structs.astuple(_decode_members(e.leaf))
    except (UnicodeDecodeError, msgspec.DecodeError) as err:
        raise AuditIntegrityError(f"entry {e.index}: leaf is not JSON", index=e.index) from err
    if members[0] != LEAF_VERSION:
        raise AuditIntegrityError(f"entry {e.index}: unknown leaf version", index=e.index)
    return members


def _disagreeing_column(values: Sequence[Any], members: Sequence[Any]) -> str:
    for c, value, member in zip(INDEXED_COLUMNS, values, members[3:], strict=False):
        if value != member:
            return c
    return "?"  # unreachable when the tuples differ; named so the message still reads


def _check_root(tree: CompactRange, claim: CheckpointClaim) -> None:
    if not hmac.compare_digest(tree.root(), claim.root_hash):
        raise AuditIntegrityError(
            f"the entries up to size {claim.size} do not have the root signed in "
            f"{claim.source}: an entry before {claim.size} was rewritten after it was "
            "checkpointed, or the log forked",
            index=max(claim.size - 1, 0),
        )
