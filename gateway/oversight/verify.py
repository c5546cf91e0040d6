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

What a store serves proofs from is checked apart, against the verified leaves:
- `verify_tree_nodes`: every stored Merkle node is the hash of the leaves it covers, and
  every complete subtree has exactly one node (altered, deleted, swapped or extra rows);
- `stored_checkpoint_claims`: each stored checkpoint row's size and root columns are those
  of its signed note, and no cosignature names a checkpoint the store no longer holds;
- `check_outside_checkpoints`: every checkpoint held outside the store (a witness's state,
  an evidence bundle, a note) is one the store holds, so a deleted row is found; the store
  being behind or forked from it is found by `verify_log` itself (steps 2e and 3).
Nothing here imports the store: an export or a remote log verifies without a database driver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from gateway.errors import AuditIntegrityError, UntrustedInputError
from gateway.protocol.audit_entry import GENESIS, LEAF_VERSION, Entry
from gateway.protocol.audit_rows import INDEXED_COLUMNS, Head, StoredEntry, StoredNode
from gateway.tlog.checkpoint import open_checkpoint
from gateway.tlog.merkle import CompactRange, leaf_hash, node_hash
from gateway.tlog.note import NoteVerifier, parse_verifier_key

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
    leaf_hashes: list[bytes] | None = None,
) -> VerifiedLog:
    """Verify every row against the chain, the tree, the checkpoints and the head.

    `head` is None for an export, which has no head row; its checkpoints bound it instead.
    If `leaf_hashes` is given, each verified leaf's hash is appended to it (for
    `verify_tree_nodes`).
    """
    iterator = iter(rows)
    try:
        return _verify(iterator, head, checkpoints, progress, leaf_hashes)
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
    leaf_hashes: list[bytes] | None,
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
        if leaf_hashes is not None:
            leaf_hashes.append(lh)
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


def verify_tree_nodes(leaf_hashes: Sequence[bytes], nodes: Iterable[StoredNode]) -> int:
    """Check the stored Merkle nodes against verified leaf hashes; return how many.

    `nodes` come ordered by level, then index. The tree over n leaves has, at level l,
    exactly the nodes 0 .. (n >> l) - 1 (complete subtrees only, RFC 9162 section 2.1.1);
    each must be there once, with the hash of its two children (level 0: the leaf hash).
    Raises `AuditIntegrityError` naming the first node that is wrong, missing or extra.
    """
    expected: list[bytes] = list(leaf_hashes)
    level, next_idx, checked = 0, 0, 0

    def missing(lv: int, idx: int) -> AuditIntegrityError:
        first = idx << lv
        return AuditIntegrityError(
            f"Merkle node (level {lv}, index {idx}) is missing from the store (deleted); "
            "proofs over it cannot be served",
            index=min(first, max(len(leaf_hashes) - 1, 0)),
        )

    def next_level() -> None:
        nonlocal expected, level, next_idx
        if next_idx < len(expected):
            raise missing(level, next_idx)
        expected = [node_hash(expected[i], expected[i + 1]) for i in range(0, len(expected) - 1, 2)]
        level, next_idx = level + 1, 0

    for lv, idx, digest in nodes:
        while lv > level and expected:
            next_level()
        if lv != level or idx >= len(expected) or idx < next_idx:
            raise AuditIntegrityError(
                f"Merkle node (level {lv}, index {idx}) is not a complete subtree of the "
                f"{len(leaf_hashes)} entries, or is stored twice (added)",
                index=max(len(leaf_hashes) - 1, 0),
            )
        if idx > next_idx:
            raise missing(level, next_idx)
        if not hmac.compare_digest(digest, expected[idx]):
            raise AuditIntegrityError(
                f"Merkle node (level {lv}, index {idx}) does not match the entries it covers "
                "(altered or swapped); proofs from it would be wrong",
                index=min(idx << lv, max(len(leaf_hashes) - 1, 0)),
            )
        next_idx += 1
        checked += 1
    while expected:
        next_level()
    return checked


def stored_checkpoint_claims(
    rows: Iterable[tuple[int, bytes, bytes]],
    cosigned_sizes: Iterable[int],
    verifier: NoteVerifier,
    origin: str,
) -> list[CheckpointClaim]:
    """The claims of the stored checkpoints `(size, root column, note)`, each checked.

    The note must be signed by the log key; its size and root must be the row's columns
    (the store serves the columns). Every size with cosignatures must still have its row.
    """
    claims: list[CheckpointClaim] = []
    held: set[int] = set()
    for size, root, note in rows:
        cp = open_checkpoint(note, verifier, origin)
        if cp.size != size or not hmac.compare_digest(cp.root_hash, root):
            raise AuditIntegrityError(
                f"stored checkpoint of size {size}: its size or root column disagrees with "
                f"its signed note (size {cp.size}); the column was altered",
                index=max(min(size, cp.size) - 1, 0),
            )
        held.add(size)
        claims.append(CheckpointClaim(size, root, f"stored checkpoint (size {size})"))
    orphans = sorted(set(cosigned_sizes) - held)
    if orphans:
        raise AuditIntegrityError(
            f"witnesses cosigned the checkpoint of size {orphans[0]}, which the store no "
            "longer holds (a checkpoint row was deleted)",
            index=max(orphans[0] - 1, 0),
        )
    return claims


def check_outside_checkpoints(
    outside: Sequence[CheckpointClaim], stored: Sequence[CheckpointClaim]
) -> None:
    """Every checkpoint seen outside the store must be one the store holds.

    The log stores each checkpoint before anyone sees it, so one held outside but not in the
    store means a row was deleted. Whether the entries agree with it is `verify_log`'s check.
    """
    held = {c.size for c in stored}
    for claim in outside:
        if claim.size not in held:
            raise AuditIntegrityError(
                f"{claim.source} holds the checkpoint of size {claim.size}, which the store "
                "does not hold (a checkpoint row was deleted, or the store is behind)",
                index=max(claim.size - 1, 0),
            )


def outside_claims(paths: list[str], vkey: str, origin: str) -> list[CheckpointClaim]:
    """Checkpoints held outside the log: a signed note, an evidence bundle (its
    `audit.checkpoint`), or a witness's state file (`origin`, `size`, `root`)."""
    claims: list[CheckpointClaim] = []
    for name in paths:
        data = Path(name).read_bytes()
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and {"origin", "size", "root"} <= doc.keys():
            if doc["origin"] != origin:
                raise UntrustedInputError(f"{name} is a witness state for {doc['origin']!r}")
            try:
                root = base64.b64decode(str(doc["root"]), validate=True)
                claims.append(CheckpointClaim(int(doc["size"]), root, f"witness state {name}"))
            except (ValueError, TypeError) as e:
                raise UntrustedInputError(f"{name}: not a witness state: {e}") from e
            continue
        if isinstance(doc, dict):
            audit = doc.get("audit")
            note = audit.get("checkpoint") if isinstance(audit, dict) else doc.get("checkpoint")
            if not isinstance(note, str):
                raise UntrustedInputError(f"{name} holds no checkpoint")
            data = note.encode()
        claims += checkpoint_claims([data], vkey, origin, f"checkpoint in {name}")
    return claims


def checkpoint_claims(
    notes: list[bytes], vkey: str, origin: str, source: str
) -> list[CheckpointClaim]:
    """Each signed checkpoint note, opened with the caller's key, as a claim about the log."""
    verifier = parse_verifier_key(vkey)
    claims = []
    for i, note in enumerate(notes):
        cp = open_checkpoint(note, verifier, origin)
        claims.append(CheckpointClaim(cp.size, cp.root_hash, f"{source} #{i + 1} (size {cp.size})"))
    return claims
