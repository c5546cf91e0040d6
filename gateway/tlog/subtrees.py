"""Roots and proofs from stored complete subtrees, and the nodes an append completes (pure).

A store keeps the hash of every complete subtree, keyed `(level, index)`: level 0 holds the
leaf hashes, and node `(level, i)` covers leaves `[i * 2**level, (i + 1) * 2**level)`. Such a
node never changes once complete, so the store is append-only. Any subtree of the RFC 9162
tree at any size is the fold of O(log n) complete nodes (the ragged right edge of a tree whose
size is not a power of two), so a root, an inclusion proof (RFC 9162 §2.1.3.1) or a
consistency proof (§2.1.4.1) costs one batched read of O(log n) nodes (`NodeReader`) and
never recomputes the tree. `CompactRange` keeps only that right edge, for a verifier reading
a whole log. The proofs made here verify with `gateway.tlog.merkle`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.errors import AuditIntegrityError, ProofRequestError
from gateway.tlog.merkle import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, node_hash

__all__ = [
    "CompactRange",
    "MemoryNodeStore",
    "NodeKey",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "nodes_completed_by_append",
    "root_at",
]

NodeKey = tuple[int, int]
"""`(level, i)` of a complete subtree, covering leaves [i * 2**level, (i + 1) * 2**level)."""


class NodeReader(Protocol):
    """Reads stored complete-subtree hashes.

    Returns the hashes of the requested keys it has; a missing key is simply
    absent from the result (the caller treats that as store corruption). One
    call per root or proof, so an SQL store can answer with one SELECT.
    """

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]: ...


def _largest_power_of_two_below(n: int) -> int:
    # RFC 9162 §2.1.1's k: the largest power of two smaller than n (n > 1).
    return 1 << ((n - 1).bit_length() - 1)


def _complete_pieces(lo: int, hi: int) -> list[NodeKey]:
    """The complete subtrees whose fold is MTH(D[lo:hi]), left to right.

    [lo, hi) is a subtree of the RFC tree: lo is a multiple of the smallest
    power of two >= hi - lo. One piece per set bit of hi - lo, largest first.
    """
    pieces: list[NodeKey] = []
    n = hi - lo
    while n:
        level = n.bit_length() - 1
        pieces.append((level, lo >> level))
        lo += 1 << level
        n -= 1 << level
    return pieces


def _fold(hashes: Sequence[bytes]) -> bytes:
    # MTH of consecutive complete subtrees of strictly decreasing size: the
    # right edge is folded right to left (RFC 9162 §2.1.1 recursion unrolled).
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    # RFC 9162 §2.1.3.1 PATH(m, D[n]), unrolled; returns the leaf ranges of
    # the proof's subtrees, bottom-up as the proof lists them.
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    # RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), unrolled; 0 < size1 < size2.
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole_old_tree = 0, size2, size1, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _read_subtrees(reader: NodeReader, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH of each range, from one batched read of the complete nodes they need."""
    pieces = [_complete_pieces(lo, hi) for lo, hi in ranges]
    keys = list(dict.fromkeys(key for ps in pieces for key in ps))
    if not keys:
        return []
    found = reader.read_nodes(keys)
    for key in keys:
        h = found.get(key)
        if h is None or len(h) != HASH_SIZE:
            level, i = key
            state = "has no" if h is None else f"has a {len(h)}-byte"
            raise AuditIntegrityError(
                f"node store {state} hash for node (level {level}, index {i}) covering leaves "
                f"[{i << level}, {(i + 1) << level}): the store is incomplete or corrupt",
                index=i << level,
            )
    return [_fold([found[key] for key in ps]) for ps in pieces]


def root_at(size: int, reader: NodeReader) -> bytes:
    """MTH of the first `size` leaves (RFC 9162 §2.1.1), from stored complete subtrees."""
    if size < 0:
        raise ProofRequestError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _read_subtrees(reader, [(0, size)])[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size`."""
    if not 0 <= index < size:
        raise ProofRequestError(
            f"cannot prove leaf {index} in a tree of size {size}: need 0 <= index < size"
        )
    return _read_subtrees(reader, _inclusion_ranges(index, size))


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from the tree of `size1` to the tree of `size2`."""
    if not 0 < size1 <= size2:
        raise ProofRequestError(
            f"cannot prove consistency from size {size1} to size {size2}: need 0 < size1 <= size2"
        )
    if size1 == size2:
        return []
    return _read_subtrees(reader, _consistency_ranges(size1, size2))


def nodes_completed_by_append(
    size_before: int, new_leaf_hashes: Sequence[bytes], reader: NodeReader
) -> dict[NodeKey, bytes]:
    """Every complete subtree that appending `new_leaf_hashes` to a tree of `size_before` completes.

    The result is what the store must write: the new leaves at level 0 and,
    at each level above, the nodes whose last leaf is among the new ones. The
    only old nodes needed are left siblings on the old tree's right edge (at
    most one per level); they are read in one batch. Work is O(k + log n) for
    k new leaves.
    """
    if size_before < 0:
        raise ProofRequestError(f"tree size {size_before} is negative")
    for i, h in enumerate(new_leaf_hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(
                f"new leaf hash {i} is {len(h)} bytes, a SHA-256 leaf hash is {HASH_SIZE}"
            )
    if not new_leaf_hashes:
        return {}
    size_after = size_before + len(new_leaf_hashes)

    # At level l the nodes [size_before >> l, size_after >> l) become complete.
    # When the first of them is a right child, its left sibling is old.
    old_keys = [
        (level, (size_before >> level) - 1)
        for level in range(size_before.bit_length())
        if (size_before >> level) & 1 and (size_after >> (level + 1)) > (size_before >> (level + 1))
    ]
    old = reader.read_nodes(old_keys) if old_keys else {}
    for key in old_keys:
        edge = old.get(key)
        if edge is None or len(edge) != HASH_SIZE:
            raise AuditIntegrityError(
                f"node store has no valid hash for node (level {key[0]}, index {key[1]}) on "
                f"the right edge of the tree of size {size_before}: the store is incomplete "
                "or corrupt",
                index=key[1] << key[0],
            )

    sha256 = hashlib.sha256
    written: dict[NodeKey, bytes] = {}
    level, first, hashes = 0, size_before, list(new_leaf_hashes)
    while True:
        for offset, h in enumerate(hashes):
            written[(level, first + offset)] = h
        parents_lo, parents_hi = size_before >> (level + 1), size_after >> (level + 1)
        if parents_lo == parents_hi:
            return written
        if first & 1:
            hashes.insert(0, old[(level, first - 1)])
        hashes = [
            sha256(NODE_PREFIX + hashes[2 * j] + hashes[2 * j + 1]).digest()
            for j in range(parents_hi - parents_lo)
        ]
        level, first = level + 1, parents_lo


class MemoryNodeStore:
    """An in-memory, append-only `NodeReader` with a write method; for tests and tools."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended through `append`."""
        return self._size

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def write_nodes(self, nodes: Mapping[NodeKey, bytes]) -> None:
        """Store complete-subtree hashes; a stored node can be written again only unchanged."""
        for key, h in nodes.items():
            old = self._nodes.get(key)
            if old is not None and old != h:
                raise AuditIntegrityError(
                    f"refusing to overwrite node (level {key[0]}, index {key[1]}) with a "
                    "different hash: complete subtrees never change",
                    index=key[1] << key[0],
                )
        self._nodes.update(nodes)

    def append(self, new_leaf_hashes: Sequence[bytes]) -> None:
        """Append leaves: compute and write every node they complete."""
        self.write_nodes(nodes_completed_by_append(self._size, new_leaf_hashes, self))
        self._size += len(new_leaf_hashes)


class CompactRange:
    """The right edge of a growing tree: the root of every prefix in one pass, O(log n) memory.

    Holds one complete-subtree hash per set bit of the size, largest first (RFC 9162
    §2.1.1 unrolled, as in Certificate Transparency's compact ranges), so a verifier
    reading a whole log computes the root at each checkpoint size without storing
    the tree. The size's bits say where the subtrees end, so only hashes are kept.
    """

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Append a leaf hash."""
        # Each trailing 1 bit of the size is a complete subtree that the new leaf's
        # subtree, of the same size, completes into one twice as large.
        h, n, hashes = leaf, self.size, self._hashes
        while n & 1:
            h = node_hash(hashes.pop(), h)
            n >>= 1
        hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        return _fold(self._hashes)

    @property
    def edge(self) -> tuple[bytes, ...]:
        """The complete-subtree hashes of the right edge, largest first: the whole state."""
        return tuple(self._hashes)

    @classmethod
    def resume(cls, size: int, edge: Sequence[bytes]) -> CompactRange:
        """A range at `size` from its `edge` (one hash per set bit of the size)."""
        if size < 0 or len(edge) != bin(size).count("1") or any(len(h) != HASH_SIZE for h in edge):
            raise AuditIntegrityError(
                f"a compact range of size {size} has {bin(max(size, 0)).count('1')} hashes of "
                f"{HASH_SIZE} bytes, not {len(edge)}"
            )
        r = cls()
        r._hashes = list(edge)
        r.size = size
        return r
