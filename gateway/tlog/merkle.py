"""RFC 9162 (RFC 6962) Merkle tree: hashing and proof verification (pure, no I/O).

Part of the project's public verification API (`gateway.tlog`, docs/adr/0025).

Hashing (RFC 9162 §2.1.1, identical to RFC 6962 §2.1):

    MTH({})       = SHA-256()
    MTH({d(0)})   = SHA-256(0x00 || d(0))                    leaf_hash
    MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  node_hash
                    with k the largest power of two smaller than n

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
step by step. As in sigstore-python's `_internal/merkle.py`, the length of the
proof is checked against the sizes before anything is hashed, so a proof built
for another index or size is rejected with a message that says so. Failures
raise `ProofError`; nothing here returns a bool. The subtree proofs of the
Merkle Tree Certificates draft are `gateway.tlog.subtree_proofs`; roots and
proofs computed from a store's complete subtrees are `gateway.tlog.subtrees`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final

from gateway.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

# RFC 9162 §2.1.1 domain separation: a leaf's hash input starts with 0x00, a node's with 0x01.
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of a leaf, SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node, SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


# --- verification ----------------------------------------------------------


def check_hashes(what: str, hashes: Sequence[bytes]) -> None:
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
    check_hashes("inclusion proof", proof)
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
    check_hashes("consistency proof", proof)
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
