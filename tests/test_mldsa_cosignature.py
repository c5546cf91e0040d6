"""ML-DSA-44 cosignatures (C2SP tlog-cosignature, subtree/v1) with `cryptography`'s ML-DSA,
cross-checked both ways with transparency-dev/formats (tests/interop/mldsa)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey

from gateway.errors import SignatureError
from gateway.tlog.checkpoint import Checkpoint, sign_checkpoint
from gateway.tlog.mldsa import (
    SIG_TYPE_MLDSA44,
    MLDSACosignatureVerifier,
    cosign_mldsa,
    format_mldsa_key,
    parse_witness_key,
    subtree_message,
)
from gateway.tlog.note import Ed25519NoteSigner, key_id, parse_signature_line
from tests.conftest import require

INTEROP = Path(__file__).resolve().parent / "interop"
NAME = "kompolnas.test/witness"
SEED = bytes(range(32))
LOG = Ed25519NoteSigner("gerbang.test/audit", Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))
CHECKPOINT = Checkpoint("gerbang.test/audit", 1234, bytes(range(32)), ("ext line",))
TIMESTAMP = 1_767_225_600


def test_the_signed_message_layout() -> None:
    message = subtree_message("w", 2, "o", 0, 5, b"\xaa" * 32)
    assert message == (
        b"subtree/v1\n\x00" + b"\x01w" + (2).to_bytes(8, "big") + b"\x01o"
        + (0).to_bytes(8, "big") + (5).to_bytes(8, "big") + b"\xaa" * 32
    )  # fmt: skip
    with pytest.raises(SignatureError, match="non-zero start"):
        subtree_message("w", 2, "o", 1, 5, b"\xaa" * 32)
    with pytest.raises(SignatureError, match="1 to 255"):
        subtree_message("w" * 256, 0, "o", 0, 5, b"\xaa" * 32)


def test_sign_verify_and_refuse() -> None:
    key = MLDSA44PrivateKey.from_seed_bytes(SEED)
    line = cosign_mldsa(CHECKPOINT.to_text(), key, NAME, TIMESTAMP)
    verifier = parse_witness_key(format_mldsa_key(NAME, key.public_key()))
    assert isinstance(verifier, MLDSACosignatureVerifier)
    sig = parse_signature_line(line)
    assert sig.key_id == key_id(NAME, SIG_TYPE_MLDSA44, key.public_key().public_bytes_raw())
    cosig = verifier.check(CHECKPOINT.to_text().encode(), sig.signature)
    assert cosig.timestamp == TIMESTAMP
    # Extension lines are not signed (§ML-DSA-44 signed message); size and root are.
    other_ext = Checkpoint(CHECKPOINT.origin, CHECKPOINT.size, CHECKPOINT.root_hash)
    verifier.check(other_ext.to_text().encode(), sig.signature)
    bigger = Checkpoint(CHECKPOINT.origin, CHECKPOINT.size + 1, CHECKPOINT.root_hash)
    with pytest.raises(SignatureError, match="does not verify"):
        verifier.check(bigger.to_text().encode(), sig.signature)
    # The name is signed: the same key under another name does not verify.
    renamed = MLDSACosignatureVerifier("other.test/witness", key.public_key())
    with pytest.raises(SignatureError):
        renamed.check(CHECKPOINT.to_text().encode(), sig.signature)
    with pytest.raises(SignatureError, match="must not be zero"):
        cosign_mldsa(CHECKPOINT.to_text(), key, NAME, 0)


def test_formats_agrees_both_ways(tmp_path: Path) -> None:
    require(shutil.which("go"), "the Go toolchain is not installed (needed for tests/interop)")
    binary = tmp_path / "mldsa"
    build = subprocess.run(
        ["go", "build", "-mod=readonly", "-o", str(binary), "./mldsa"],
        cwd=INTEROP, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    key = MLDSA44PrivateKey.from_seed_bytes(SEED)
    vkey = format_mldsa_key(NAME, key.public_key())
    kid = key_id(NAME, SIG_TYPE_MLDSA44, key.public_key().public_bytes_raw())
    skey = f"PRIVATE+KEY+{NAME}+{kid.hex()}+{base64.b64encode(bytes([6]) + SEED).decode()}"
    note = (
        sign_checkpoint(CHECKPOINT, [LOG])
        + cosign_mldsa(CHECKPOINT.to_text(), key, NAME, TIMESTAMP).encode()
    )
    path = tmp_path / "checkpoint"
    path.write_bytes(note)
    result = subprocess.run(
        [str(binary), vkey, skey, str(path)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # 1. formats verified ours
    first, line = result.stdout.split("\n", 1)
    assert first == f"keyhash {kid.hex()} {kid.hex()}"  # the same key ID from the same key
    verifier = parse_witness_key(vkey)
    cosig = verifier.check(CHECKPOINT.to_text().encode(), parse_signature_line(line).signature)
    assert cosig.key_id == kid  # 2. we verified formats'
    # And a tampered one of ours is refused by formats.
    bad = bytearray(note)
    bad[-20] ^= 1
    path.write_bytes(bytes(bad))
    result = subprocess.run(
        [str(binary), vkey, skey, str(path)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "FAIL verify" in result.stderr


def test_a_policy_witness_by_its_mldsa_key() -> None:
    from gateway.tlog.witness_policy import QuorumNotMet, WitnessPolicy

    key = MLDSA44PrivateKey.from_seed_bytes(SEED)
    policy = WitnessPolicy.parse(
        f"log {LOG.verifier().to_key_string()}\n"
        f"witness k {format_mldsa_key(NAME, key.public_key())}\nquorum k\n"
    )
    note = sign_checkpoint(CHECKPOINT, [LOG])
    with pytest.raises(QuorumNotMet):
        policy.check(note)
    cosigned = note + cosign_mldsa(CHECKPOINT.to_text(), key, NAME, TIMESTAMP).encode()
    assert policy.check(cosigned).cosigners == ("k",)
