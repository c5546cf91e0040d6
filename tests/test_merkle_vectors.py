"""The RFC 9162 verifiers against transparency-dev/merkle's published proof vectors.

Every file in ../shared/vectors/tlog is run: those with `wantErr: false`
must verify, every other one (bit flips, wrong index or size, truncated or
padded proofs, garbage) must raise `ProofError`. `inclusion` and
`consistency` are RFC 9162 proofs; `subtreeinclusion` and
`subtreeconsistency` are the subtree proofs of the Merkle Tree Certificates
draft (draft-ietf-plants-merkle-tree-certs §4.3, §4.4).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ProofError
from gateway.tlog.merkle import (
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "tlog"


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _b64(value: str | None) -> bytes:
    # The vectors hold standard base64; "" and null both mean "no bytes".
    return base64.b64decode(value or "", validate=True)


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_every_vector_file_is_present() -> None:
    # A missing or emptied folder must fail here, not pass as "nothing failed".
    assert len(_files("inclusion")) == 98
    assert len(_files("consistency")) == 98
    assert len(_files("subtreeinclusion")) == 204
    assert len(_files("subtreeconsistency")) == 118


@pytest.mark.parametrize("path", _files("inclusion"), ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    args = (
        _b64(v["leafHash"]),
        v["leafIdx"],
        v["treeSize"],
        _proof(v["proof"]),
        _b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _files("consistency"), ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize("path", _files("subtreeinclusion"), ids=_id)
def test_subtree_inclusion_vector(path: Path) -> None:
    v = _load(path)
    args = (
        _b64(v["leafHash"]),
        v["leafIdx"],
        v["start"],
        v["end"],
        _proof(v["proof"]),
        _b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_subtree_inclusion(*args)
    else:
        verify_subtree_inclusion(*args)


@pytest.mark.parametrize("path", _files("subtreeconsistency"), ids=_id)
def test_subtree_consistency_vector(path: Path) -> None:
    v = _load(path)
    args = (
        v["start"],
        v["end"],
        v["size"],
        _proof(v["proof"]),
        _b64(v["root1"]),
        _b64(v["root2"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_subtree_consistency(*args)
    else:
        verify_subtree_consistency(*args)


def _happy(kind: str) -> list[Path]:
    return [p for p in _files(kind) if p.name == "happy-path.json"]


@pytest.mark.parametrize("path", _happy("inclusion"), ids=_id)
def test_inclusion_happy_path_rejects_every_single_bit_flip(path: Path) -> None:
    # Beyond the published tampered variants: no bit of the leaf, the proof or
    # the root can change without the proof failing.
    v = _load(path)
    leaf, proof, root = _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"])
    index, size = v["leafIdx"], v["treeSize"]
    for bit in range(256):
        with pytest.raises(ProofError):
            verify_inclusion(_flip(leaf, bit), index, size, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof, _flip(root, bit))
        for i in range(len(proof)):
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, bad, root)


@pytest.mark.parametrize("path", _happy("consistency"), ids=_id)
def test_consistency_happy_path_rejects_every_single_bit_flip(path: Path) -> None:
    v = _load(path)
    size1, size2 = v["size1"], v["size2"]
    proof, root1, root2 = _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"])
    for bit in range(256):
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, _flip(root1, bit), root2)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root1, _flip(root2, bit))
        for i in range(len(proof)):
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, bad, root1, root2)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def test_proof_error_names_the_wrong_length_before_hashing() -> None:
    v = _load(VECTORS / "inclusion" / "1" / "happy-path.json")
    proof = _proof(v["proof"])
    with pytest.raises(ProofError, match=r"must have 3 hashes, got 2"):
        verify_inclusion(_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof[:2], b"")
