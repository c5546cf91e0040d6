"""RFC 9162 (RFC 6962) Merkle tree: hashing, proof verification, proofs from stored nodes.

Internal module: its API may change without notice. Pure functions, no I/O.

Hashing (RFC 9162 §2.1.1, identical to RFC 6962 §2.1):

    MTH({})       = SHA-256()
    MTH({d(0)})   = SHA-256(0x00 || d(0))                    leaf_hash
    MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  node_hash
                    with k the largest power of two smaller than n

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
step by step. As in sigstore-python's `_internal/merkle.py`, the length of the
proof is checked against the sizes before anything is hashed, so a proof built
for another index or size is rejected with a message that says so. Failures
raise `ProofError`; nothing here returns a bool. The same is done for the
subtree proofs of the Merkle Tree Certificates draft
(draft-ietf-plants-merkle-tree-certs §4.3 and §4.4), which C2SP
tlog-cosignature uses for subtree cosignatures.

Proof generation works over *stored complete subtrees*. The store keeps the
hash of every complete subtree, keyed `(level, index)`: level 0 holds the leaf
hashes, and node `(level, i)` covers leaves `[i * 2**level, (i + 1) * 2**level)`.
Such a node never changes once complete, so the store is append-only. Any
subtree of the RFC tree at any size is the fold of O(log n) complete nodes (the
ragged right edge of a tree whose size is not a power of two), so a root, an
inclusion proof (RFC 9162 §2.1.3.1) or a consistency proof (§2.1.4.1) costs one
batched read of O(log n) nodes and never recomputes the tree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from gateway.errors import AuditIntegrityError, ProofError, ProofRequestError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodeStore",
    "NodeKey",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_completed_by_append",
    "root_at",
    "verify_consistency",
    "verify_inclusion",
    "verify_subtree_consistency",
    "verify_subtree_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"

NodeKey = tuple[int, int]
"""`(level, i)` of a complete subtree, covering leaves [i * 2**level, (i + 1) * 2**level)."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of a leaf, SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node, SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# --- verification ----------------------------------------------------------


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what}[{i}] is {len(h)} bytes, a SHA-256 hash is {HASH_SIZE}")


def _inclusion_proof_length(index: int, size: int) -> int:
    # Below the level where the paths to `index` and to the last leaf part,
    # there is one sibling per level ("inner"); above it, one left sibling per
    # set bit of what remains of `index` ("border"). Requires 0 <= index < size.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(size1: int, size2: int) -> int:
    # The proof is the inclusion path of leaf size1-1 in the tree of size2,
    # starting at the level of the largest complete subtree that ends at size1
    # (its root is the first proof element, omitted when size1 is a power of
    # two because it is then root1 itself). Requires 0 < size1 < size2.
    shift = (size1 & -size1).bit_length() - 1
    seed_in_proof = 0 if size1 == 1 << shift else 1
    return _inclusion_proof_length(size1 - 1, size2) - shift + seed_in_proof


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf with hash `leaf_hash` is leaf `index` of the tree of `size` with `root`.

    Steps:
      1. `index` must be a leaf of the tree: 0 <= index < size.
      2. The leaf hash and every proof element must be 32 bytes.
      3. The proof must have exactly as many hashes as the tree shape needs.
      4. Walk RFC 9162 §2.1.3.2 from the leaf up to a candidate root.
      5. The candidate must equal `root`.

    Raises `ProofError` at the first step that fails; returns None on success.
    """
    # 1.
    if not 0 <= index < size:
        raise ProofError(
            f"leaf index {index} is not in a tree of size {size}: an inclusion proof needs "
            "0 <= index < size",
            index=index,
        )
    # 2.
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(
            f"leaf hash is {len(leaf_hash)} bytes, a SHA-256 hash is {HASH_SIZE}", index=index
        )
    _check_hashes("inclusion proof", proof)
    # 3.
    want = _inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof for leaf {index} in a tree of size {size} must have {want} "
            f"hashes, got {len(proof)}: it was built for another index or size, or altered",
            index=index,
        )
    # 4. RFC 9162 §2.1.3.2.
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:  # RFC step 4.1; unreachable after step 3, kept as written
            raise ProofError("inclusion proof is longer than the tree is high", index=index)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 5.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is high", index=index)
    if not hmac.compare_digest(r, root):
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the expected root of the tree "
            f"of size {size}: the leaf, index, size, root or proof is wrong (or altered)",
            index=index,
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size1` with `root1` is a prefix of the tree of `size2` with `root2`.

    Steps:
      1. Sizes must satisfy 0 < size1 <= size2 (nothing can be proven about
         the empty tree: every tree extends it).
      2. Equal sizes: the proof must be empty and the roots equal.
      3. Every proof element and both roots must be 32 bytes.
      4. The proof must have exactly as many hashes as the two sizes need.
      5. Walk RFC 9162 §2.1.4.2, computing both roots from the proof.
      6. The computed roots must equal `root1` and `root2`.

    Raises `ProofError` at the first step that fails; returns None on success.
    """
    # 1.
    if size1 > size2:
        raise ProofError(
            f"old tree size {size1} is larger than new tree size {size2}: a log never shrinks; "
            "check the order of the arguments, else the log rewrote its history"
        )
    if size1 <= 0:
        raise ProofError(
            f"old tree size is {size1}: a consistency proof needs a non-empty old tree; "
            "every tree is consistent with the empty tree, check the new root directly"
        )
    # 2.
    if size1 == size2:
        if proof:
            raise ProofError(
                f"both trees have size {size1}, so the consistency proof must be empty; "
                f"got {len(proof)} hashes"
            )
        # Only equality is asked here, as in transparency-dev/merkle (whose
        # vector "sizes are equal (one) and proof is empty" uses 12-byte roots).
        if not hmac.compare_digest(root1, root2):
            raise ProofError(
                f"two different roots for the same tree size {size1}: the log shows two "
                "different histories (split view) or one root is wrong"
            )
        return
    # 3.
    _check_hashes("consistency proof", proof)
    for what, root in (("old root", root1), ("new root", root2)):
        if len(root) != HASH_SIZE:
            raise ProofError(f"{what} is {len(root)} bytes, a SHA-256 hash is {HASH_SIZE}")
    # 4.
    want = _consistency_proof_length(size1, size2)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof from size {size1} to size {size2} must have {want} hashes, "
            f"got {len(proof)}: it was built for other sizes, or altered"
        )
    # 5. RFC 9162 §2.1.4.2.
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # RFC step 2: size1 is a power of two, root1 seeds
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:  # RFC step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # RFC step 6.1; unreachable after step 4, kept as written
            raise ProofError("consistency proof is longer than the new tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 6.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the new tree is high")
    if not hmac.compare_digest(fr, root1):
        raise ProofError(
            f"consistency proof does not lead to the old root at size {size1}: the old root, "
            "the sizes or the proof is wrong (or altered)"
        )
    if not hmac.compare_digest(sr, root2):
        raise ProofError(
            f"consistency proof does not lead to the new root at size {size2}: the tree of "
            f"size {size1} is not a prefix of it (the log rewrote history), or a root, size "
            "or the proof is wrong"
        )


# --- subtree proofs (Merkle Tree Certificates draft) ------------------------
#
# draft-ietf-plants-merkle-tree-certs §4 generalises both proofs from a prefix
# [0, size1) to any *subtree* [start, end): start is a multiple of the smallest
# power of two >= end - start (§4.1). C2SP tlog-cosignature's ML-DSA subtree
# cosignatures use them. With start = 0 they are the RFC 9162 proofs.


def _check_subtree(start: int, end: int) -> None:
    if not 0 <= start <= end:
        raise ProofError(f"[{start}, {end}) is not a subtree: need 0 <= start <= end")
    width = end - start
    align = 1 << (width - 1).bit_length() if width > 1 else 1
    if start % align:
        raise ProofError(
            f"[{start}, {end}) is not a subtree: its start must be a multiple of {align}, "
            "the smallest power of two >= its size"
        )


def verify_subtree_inclusion(
    leaf_hash: bytes, index: int, start: int, end: int, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """MTC draft §4.3: leaf `index` is in subtree [start, end) with hash `subtree_root`.

    A subtree is a complete tree of its own, so this is `verify_inclusion` of
    leaf `index - start` in a tree of `end - start` leaves, once [start, end)
    is a valid, non-empty subtree that contains `index`.
    """
    _check_subtree(start, end)
    if not start <= index < end:
        raise ProofError(f"leaf index {index} is not in subtree [{start}, {end})", index=index)
    verify_inclusion(leaf_hash, index - start, end - start, proof, subtree_root)


def _subtree_climb(fn: int, sn: int, tn: int) -> tuple[int, int, int]:
    # MTC draft §4.4.3 first steps: climb from the subtree's last leaf to the
    # lowest node that the proof starts from.
    if sn == tn:  # the subtree ends where the tree ends: climb to its root
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    return fn, sn, tn


def _subtree_consistency_proof_length(start: int, end: int, size: int) -> int:
    # Runs the verification loop on the indexes alone: one hash per step
    # until tn reaches 0, plus the seed when it is not the subtree root.
    fn, sn, tn = _subtree_climb(start, end - 1, size - 1)
    count = 0 if fn == sn else 1
    while tn:
        if sn & 1 or sn == tn:
            while sn and not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        count += 1
    return count


def verify_subtree_consistency(
    start: int, end: int, size: int, proof: Sequence[bytes], subtree_root: bytes, root: bytes
) -> None:
    """MTC draft §4.4.3: subtree [start, end) with `subtree_root` is part of the tree of `size`.

    Steps:
      1. [start, end) must be a valid subtree with end <= size.
      2. An empty subtree (start == end) is part of every tree: the proof
         must be empty and `subtree_root` the empty hash; `root` is not
         examined, since nothing about it is proven.
      3. Every proof element must be 32 bytes, and the proof exactly as long
         as the positions need.
      4. Walk the draft's algorithm, computing the subtree root (from the
         proof hashes inside the subtree) and the tree root (from all).
      5. Both must equal `subtree_root` and `root`.
    """
    # 1.
    _check_subtree(start, end)
    if end > size:
        raise ProofError(f"subtree [{start}, {end}) ends beyond the tree of size {size}")
    # 2.
    if start == end:
        if proof:
            raise ProofError(f"an empty subtree needs an empty proof; got {len(proof)} hashes")
        if not hmac.compare_digest(subtree_root, EMPTY_ROOT):
            raise ProofError("the hash of an empty subtree must be SHA-256 of the empty string")
        return
    # 3.
    _check_hashes("subtree consistency proof", proof)
    want = _subtree_consistency_proof_length(start, end, size)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof of subtree [{start}, {end}) in the tree of size {size} must "
            f"have {want} hashes, got {len(proof)}: it was built for other positions, or altered"
        )
    # 4.
    fn, sn, tn = _subtree_climb(start, end - 1, size - 1)
    if fn == sn:
        fr = sr = subtree_root
        path = proof
    else:
        fr = sr = proof[0]
        path = proof[1:]
    for c in path:
        if tn == 0:  # unreachable after step 3, kept as the draft writes it
            raise ProofError("subtree consistency proof is longer than the tree is high")
        if sn & 1 or sn == tn:
            if fn < sn:  # c is a left sibling inside the subtree
                fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while sn and not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    # 5.
    if tn != 0:
        raise ProofError("subtree consistency proof is shorter than the tree is high")
    if not hmac.compare_digest(fr, subtree_root):
        raise ProofError(
            f"consistency proof does not lead to the hash of subtree [{start}, {end}): the "
            "subtree hash, the positions or the proof is wrong (or altered)"
        )
    if not hmac.compare_digest(sr, root):
        raise ProofError(
            f"consistency proof does not lead to the root of the tree of size {size}: the "
            "subtree is not part of it, or the root, positions or proof is wrong"
        )


# --- proofs from stored complete subtrees ----------------------------------


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
            sha256(_NODE_PREFIX + hashes[2 * j] + hashes[2 * j + 1]).digest()
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
