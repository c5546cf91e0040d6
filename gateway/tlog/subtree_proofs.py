"""Subtree proofs of the Merkle Tree Certificates draft: verification (pure, no I/O).

draft-ietf-plants-merkle-tree-certs §4 generalises both RFC 9162 proofs from a prefix
[0, size1) to any *subtree* [start, end): start is a multiple of the smallest power of two
>= end - start (§4.1). C2SP tlog-cosignature's ML-DSA subtree cosignatures use them. With
start = 0 they are the RFC 9162 proofs (`gateway.tlog.merkle`). As there, the proof's
length is checked before anything is hashed, and failures raise `ProofError`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from gateway.errors import ProofError
from gateway.tlog.merkle import EMPTY_ROOT, check_hashes, node_hash, verify_inclusion

__all__ = ["verify_subtree_consistency", "verify_subtree_inclusion"]


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
    check_hashes("subtree consistency proof", proof)
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
