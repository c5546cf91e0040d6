"""Proofs from stored complete subtrees equal a naive RFC 9162 reference, at O(log n) cost.

The reference below is RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1
(PROOF/SUBPROOF) written as the RFC writes them: recursive over the leaf list.
The code under test reads stored nodes instead; both must agree for every
size and index, the result must verify, and each root or proof must cost one
batched `read_nodes` call of O(log n) keys, all of them complete at that size.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import AuditIntegrityError, ProofRequestError
from gateway.tlog.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    NodeKey,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_completed_by_append,
    root_at,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

N = 3000
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(N)]


# --- the reference: RFC 9162 as written --------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@functools.cache
def ref_mth(lo: int, hi: int) -> bytes:
    if hi - lo == 0:
        return EMPTY_ROOT
    if hi - lo == 1:
        return LEAVES[lo]
    k = _k(hi - lo)
    return node_hash(ref_mth(lo, lo + k), ref_mth(lo + k, hi))


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def ref_subtree_proof(start: int, end: int, lo: int, hi: int, b: bool) -> list[bytes]:
    # Subtree consistency proof of [start, end) in node [lo, hi), the MTC
    # draft's generalisation of SUBPROOF: with start = 0 it is SUBPROOF.
    if (start, end) == (lo, hi):
        return [] if b else [ref_mth(lo, hi)]
    k = lo + _k(hi - lo)
    if end <= k:
        return [*ref_subtree_proof(start, end, lo, k, b), ref_mth(k, hi)]
    if start >= k:
        return [*ref_subtree_proof(start, end, k, hi, b), ref_mth(lo, k)]
    # The subtree straddles k, so it starts at lo: its left part is D[lo:k].
    return [*ref_subtree_proof(k, end, k, hi, False), ref_mth(lo, k)]


# --- a store holding the whole tree, and a reader that counts ------------------


STORE = MemoryNodeStore()
STORE.append(LEAVES)


class CountingReader:
    """Wraps a reader; remembers every batch of keys asked for."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.calls: list[list[NodeKey]] = []

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.calls.append(list(keys))
        return self.inner.read_nodes(keys)

    def assert_one_small_read(self, size: int, max_keys: int) -> None:
        assert len(self.calls) <= 1, f"{len(self.calls)} reads; want one batch"
        for keys in self.calls:
            assert len(keys) <= max_keys, f"{len(keys)} keys for size {size}"
            assert len(set(keys)) == len(keys), "duplicate keys in one read"
            for level, i in keys:
                # Only nodes already complete at this size: a proof at an old
                # size must not depend on anything appended later.
                assert (i + 1) << level <= size, f"node ({level}, {i}) is not complete at {size}"


def _log2_ceil(n: int) -> int:
    return max(1, (n - 1).bit_length())


sizes = st.integers(min_value=1, max_value=N)


@given(size=st.integers(min_value=0, max_value=N))
def test_root_at_equals_reference(size: int) -> None:
    reader = CountingReader(STORE)
    assert root_at(size, reader) == ref_mth(0, size)
    reader.assert_one_small_read(size, max_keys=_log2_ceil(size) + 1)


@given(data=st.data(), size=sizes)
def test_inclusion_proof_equals_reference_and_verifies(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    reader = CountingReader(STORE)
    proof = inclusion_proof(index, size, reader)
    assert proof == ref_path(index, 0, size)
    verify_inclusion(LEAVES[index], index, size, proof, ref_mth(0, size))
    # One node per level, except the ragged sibling on the right edge, which
    # is folded from at most one node per level below it.
    reader.assert_one_small_read(size, max_keys=2 * _log2_ceil(size) + 1)


@given(data=st.data(), size2=sizes)
def test_consistency_proof_equals_reference_and_verifies(data: st.DataObject, size2: int) -> None:
    size1 = data.draw(st.integers(min_value=1, max_value=size2), label="size1")
    reader = CountingReader(STORE)
    proof = consistency_proof(size1, size2, reader)
    assert proof == ref_subproof(size1, 0, size2, True)
    verify_consistency(size1, size2, proof, ref_mth(0, size1), ref_mth(0, size2))
    reader.assert_one_small_read(size2, max_keys=2 * _log2_ceil(size2) + 1)


@st.composite
def subtrees(draw: st.DrawFn) -> tuple[int, int, int]:
    """(start, end, size): a valid non-empty subtree [start, end) of a tree of `size`."""
    size = draw(sizes, label="size")
    level = draw(st.integers(min_value=0, max_value=size.bit_length() - 1), label="level")
    start = draw(st.integers(min_value=0, max_value=(size - 1) >> level), label="block") << level
    # start is a multiple of 2**level >= end - start, so of the smallest power
    # of two >= end - start: the alignment a subtree needs.
    end = draw(st.integers(min_value=start + 1, max_value=min(start + (1 << level), size)))
    return start, end, size


@given(subtree=subtrees(), data=st.data())
def test_subtree_proofs_from_the_reference_verify(
    subtree: tuple[int, int, int], data: st.DataObject
) -> None:
    start, end, size = subtree
    proof = ref_subtree_proof(start, end, 0, size, True)
    verify_subtree_consistency(start, end, size, proof, ref_mth(start, end), ref_mth(0, size))
    index = data.draw(st.integers(min_value=start, max_value=end - 1), label="index")
    path = ref_path(index - start, start, end)
    verify_subtree_inclusion(LEAVES[index], index, start, end, path, ref_mth(start, end))


@given(data=st.data(), size2=sizes)
def test_subtree_consistency_from_zero_is_rfc_consistency(data: st.DataObject, size2: int) -> None:
    size1 = data.draw(st.integers(min_value=1, max_value=size2), label="size1")
    proof = consistency_proof(size1, size2, STORE)
    verify_subtree_consistency(0, size1, size2, proof, ref_mth(0, size1), ref_mth(0, size2))


def test_subtree_examples_from_the_draft() -> None:
    # The draft's figures: [4, 8) and [8, 13) inside a tree of 14 leaves.
    m = ref_mth
    assert ref_subtree_proof(4, 8, 0, 14, True) == [m(0, 4), m(8, 14)]
    assert ref_subtree_proof(8, 13, 0, 14, True) == [m(12, 13), m(13, 14), m(8, 12), m(0, 8)]
    for start, end in [(4, 8), (8, 13)]:
        proof = ref_subtree_proof(start, end, 0, 14, True)
        verify_subtree_consistency(start, end, 14, proof, m(start, end), m(0, 14))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 1023, 1024, 1025, N])
def test_every_index_of_some_sizes(size: int) -> None:
    root = ref_mth(0, size)
    for index in range(0, size, max(1, size // 97)):
        verify_inclusion(LEAVES[index], index, size, inclusion_proof(index, size, STORE), root)
    for size1 in range(1, size + 1, max(1, size // 97)):
        proof = consistency_proof(size1, size, STORE)
        verify_consistency(size1, size, proof, ref_mth(0, size1), root)


# --- appends ---------------------------------------------------------------


class DictReader:
    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self.calls: list[list[NodeKey]] = []

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.calls.append(list(keys))
        return {k: self.nodes[k] for k in keys if k in self.nodes}


def _every_complete_node(size: int) -> dict[NodeKey, bytes]:
    return {
        (level, i): ref_mth(i << level, (i + 1) << level)
        for level in range(size.bit_length())
        for i in range(size >> level)
    }


@settings(max_examples=60)
@given(batches=st.lists(st.integers(min_value=0, max_value=300), max_size=12))
def test_appends_in_any_batches_write_exactly_every_complete_node_once(
    batches: list[int],
) -> None:
    reader = DictReader()
    size = 0
    for count in batches:
        count = min(count, N - size)
        reader.calls.clear()
        new = nodes_completed_by_append(size, LEAVES[size : size + count], reader)
        assert not new.keys() & reader.nodes.keys(), "a complete node was written twice"
        assert len(reader.calls) <= 1
        assert all(len(keys) <= max(1, size.bit_length()) for keys in reader.calls)
        reader.nodes.update(new)
        size += count
        assert reader.nodes == _every_complete_node(size)


def test_a_batch_of_thousands_is_one_small_read_and_linear_work() -> None:
    reader = DictReader()
    reader.nodes = nodes_completed_by_append(0, LEAVES[:777], reader)
    reader.calls.clear()
    new = nodes_completed_by_append(777, LEAVES[777:], reader)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) <= (777).bit_length()
    # A complete binary forest over k leaves has fewer than 2k nodes.
    assert len(new) < 2 * (N - 777)
    reader.nodes.update(new)
    assert reader.nodes == _every_complete_node(N)


def test_empty_append_writes_nothing_and_reads_nothing() -> None:
    reader = DictReader()
    assert nodes_completed_by_append(5, [], reader) == {}
    assert reader.calls == []


def test_append_rejects_a_leaf_hash_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="new leaf hash 1 is 31 bytes"):
        nodes_completed_by_append(0, [LEAVES[0], LEAVES[1][:31]], DictReader())


def test_append_to_a_store_missing_its_right_edge_raises() -> None:
    reader = DictReader()
    reader.nodes = nodes_completed_by_append(0, LEAVES[:3], reader)
    del reader.nodes[(1, 0)]
    with pytest.raises(AuditIntegrityError, match=r"level 1, index 0"):
        nodes_completed_by_append(3, LEAVES[3:5], reader)


# --- edges and refusals -----------------------------------------------------


def test_empty_tree_root_needs_no_read() -> None:
    reader = CountingReader(STORE)
    assert root_at(0, reader) == EMPTY_ROOT
    assert reader.calls == []


def test_consistency_of_a_tree_with_itself_is_empty_and_needs_no_read() -> None:
    reader = CountingReader(STORE)
    assert consistency_proof(17, 17, reader) == []
    assert reader.calls == []


@pytest.mark.parametrize(("index", "size"), [(-1, 5), (5, 5), (0, 0), (9, 3)])
def test_inclusion_proof_request_out_of_range(index: int, size: int) -> None:
    with pytest.raises(ProofRequestError, match="need 0 <= index < size"):
        inclusion_proof(index, size, STORE)


@pytest.mark.parametrize(("size1", "size2"), [(0, 5), (6, 5), (-1, 3)])
def test_consistency_proof_request_out_of_range(size1: int, size2: int) -> None:
    with pytest.raises(ProofRequestError, match="need 0 < size1 <= size2"):
        consistency_proof(size1, size2, STORE)


def test_root_at_negative_size() -> None:
    with pytest.raises(ProofRequestError):
        root_at(-1, STORE)


def test_missing_node_is_store_corruption() -> None:
    store = MemoryNodeStore()
    store.append(LEAVES[:6])
    partial = DictReader()
    partial.nodes = dict(store.read_nodes([(2, 0), (0, 4)]))  # (1, 2) is missing
    with pytest.raises(AuditIntegrityError, match=r"no hash for node \(level 1, index 2\)"):
        root_at(6, partial)


def test_memory_store_refuses_to_change_a_complete_node() -> None:
    store = MemoryNodeStore()
    store.append(LEAVES[:4])
    store.write_nodes({(0, 1): LEAVES[1]})  # same value again is fine
    with pytest.raises(AuditIntegrityError, match="complete subtrees never change"):
        store.write_nodes({(0, 1): LEAVES[2]})
    assert store.size == 4


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=700))
def test_compact_range_gives_every_prefix_root(size: int) -> None:
    from gateway.tlog.merkle import CompactRange

    store = MemoryNodeStore()
    cr = CompactRange()
    assert cr.root() == root_at(0, store)
    for i in range(size):
        leaf = leaf_hash(i.to_bytes(4, "big"))
        store.append([leaf])
        cr.append(leaf)
        if i % 37 == 0 or i == size - 1:
            assert cr.root() == root_at(i + 1, store)
