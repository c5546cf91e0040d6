"""C2SP tlog-cosignature ML-DSA-44 cosignatures (`subtree/v1`), with `cryptography`'s ML-DSA.

Internal module: its API may change without notice. Pure functions, no I/O.

https://c2sp.org/tlog-cosignature, §Format and §ML-DSA-44 signed message:

    key ID    = SHA-256(<name> || 0x0A || 0x06 || 1312-byte public key)[:4]
    signature = u64 big-endian timestamp || 2420-byte ML-DSA-44 signature
    message   = "subtree/v1\\n\\0"
                || u8 len || cosigner name || u64 timestamp
                || u8 len || log origin    || u64 start || u64 end || 32-byte hash

For a checkpoint, start is 0, end its size and hash its root. A non-zero start
needs a zero timestamp. Unlike cosignature/v1 (Ed25519), the message commits
to the cosigner's name and not to checkpoint extension lines. ML-DSA is used
in its pure form with an empty context string, as FIPS 204 §5.2 defaults and as
transparency-dev/formats does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from gateway.errors import NoteFormatError, SignatureError
from gateway.tlog.checkpoint import (
    SIG_TYPE_COSIGNATURE_V1,
    Checkpoint,
    Cosignature,
    CosignatureVerifier,
)
from gateway.tlog.merkle import HASH_SIZE
from gateway.tlog.note import (
    SIG_TYPE_ED25519,
    decode_verifier_key,
    encode_verifier_key,
    format_signature_line,
    key_id,
)

__all__ = [
    "MLDSA44_PUBLIC_KEY_SIZE",
    "SIG_TYPE_MLDSA44",
    "MLDSACosignatureVerifier",
    "WitnessVerifier",
    "cosign_mldsa",
    "format_mldsa_key",
    "parse_witness_key",
    "subtree_message",
]

SIG_TYPE_MLDSA44: Final = 0x06
MLDSA44_PUBLIC_KEY_SIZE: Final = 1312
MLDSA44_SIGNATURE_SIZE: Final = 2420
_LABEL: Final = b"subtree/v1\n\x00"
_MAX_U64: Final = 2**64 - 1


def _opaque8(value: str, what: str) -> bytes:
    data = value.encode()
    if not 1 <= len(data) <= 255:
        raise SignatureError(f"{what} is {len(data)} bytes; subtree/v1 allows 1 to 255")
    return bytes([len(data)]) + data


def subtree_message(
    name: str, timestamp: int, origin: str, start: int, end: int, root_hash: bytes
) -> bytes:
    """§ML-DSA-44 signed message: the `cosigned_message` structure, TLS-encoded."""
    if not (0 <= timestamp < 2**63 and 0 <= start <= end <= _MAX_U64):
        raise SignatureError("subtree/v1 timestamp, start or end is out of range")
    if start != 0 and timestamp != 0:
        raise SignatureError("a subtree/v1 cosignature with a non-zero start has timestamp 0")
    if len(root_hash) != HASH_SIZE:
        raise SignatureError("subtree/v1 hash is not 32 bytes")
    return (
        _LABEL
        + _opaque8(name, "cosigner name")
        + struct.pack(">Q", timestamp)
        + _opaque8(origin, "log origin")
        + struct.pack(">QQ", start, end)
        + root_hash
    )


def _raw(public_key: MLDSA44PublicKey) -> bytes:
    return public_key.public_bytes_raw()


@dataclass(frozen=True)
class MLDSACosignatureVerifier:
    """A witness's ML-DSA-44 cosigning key; usable as a `NoteVerifier` with `open_note`."""

    name: str
    public_key: MLDSA44PublicKey
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "key_id", key_id(self.name, SIG_TYPE_MLDSA44, _raw(self.public_key))
        )

    @property
    def raw_public_key(self) -> bytes:
        return _raw(self.public_key)

    def verify(self, text: bytes, signature: bytes) -> None:
        self.check(text, signature)

    def check(self, text: bytes, signature: bytes) -> Cosignature:
        """Verify `signature` (timestamp || ML-DSA-44 signature) over checkpoint `text`."""
        if len(signature) != 8 + MLDSA44_SIGNATURE_SIZE:
            raise SignatureError(
                f"ML-DSA-44 cosignature by {self.name} is {len(signature)} bytes, not "
                f"8 + {MLDSA44_SIGNATURE_SIZE}"
            )
        timestamp = int.from_bytes(signature[:8], "big")
        try:
            checkpoint = Checkpoint.parse(text.decode("utf-8"))
        except (UnicodeDecodeError, NoteFormatError) as e:
            raise SignatureError(f"cosignature by {self.name} is not over a checkpoint") from e
        message = subtree_message(
            self.name, timestamp, checkpoint.origin, 0, checkpoint.size, checkpoint.root_hash
        )
        try:
            self.public_key.verify(signature[8:], message)
        except InvalidSignature:
            raise SignatureError(
                f"ML-DSA-44 cosignature by {self.name} ({self.key_id.hex()}) does not verify"
            ) from None
        return Cosignature(self.name, self.key_id, timestamp)


def format_mldsa_key(name: str, public_key: MLDSA44PublicKey) -> str:
    """The witness's ML-DSA-44 verifier key string (signature type 0x06)."""
    return encode_verifier_key(name, SIG_TYPE_MLDSA44, _raw(public_key))


def parse_mldsa_key(name: str, public_key: bytes) -> MLDSACosignatureVerifier:
    if len(public_key) != MLDSA44_PUBLIC_KEY_SIZE:
        raise NoteFormatError(
            f"ML-DSA-44 key for {name!r} is {len(public_key)} bytes, not {MLDSA44_PUBLIC_KEY_SIZE}"
        )
    try:
        return MLDSACosignatureVerifier(name, MLDSA44PublicKey.from_public_bytes(public_key))
    except ValueError as e:
        raise NoteFormatError(f"ML-DSA-44 key for {name!r} is not a valid public key") from e


def cosign_mldsa(
    checkpoint_text: str, private_key: MLDSA44PrivateKey, name: str, timestamp: int
) -> str:
    """The witness's ML-DSA-44 signature line for a checkpoint (start 0, end its size)."""
    if timestamp == 0:
        raise SignatureError("tlog-witness: a cosignature's timestamp must not be zero")
    checkpoint = Checkpoint.parse(checkpoint_text)
    message = subtree_message(
        name, timestamp, checkpoint.origin, 0, checkpoint.size, checkpoint.root_hash
    )
    signature = timestamp.to_bytes(8, "big") + private_key.sign(message)
    kid = key_id(name, SIG_TYPE_MLDSA44, _raw(private_key.public_key()))
    return format_signature_line(name, kid, signature)


WitnessVerifier = CosignatureVerifier | MLDSACosignatureVerifier
"""A witness's cosigning key, of either cosignature type."""


def parse_witness_key(vkey: str) -> WitnessVerifier:
    """A witness's key from any verifier key form witnesses publish.

    ML-DSA-44 (type 0x06, 1312-byte key); Ed25519 in the cosignature/v1 form
    (0x04), or in the plain note form (0x01) some witness lists give for the same
    key: cosignature lines carry the 0x04 key ID either way.
    """
    name, sig_type, public_key = decode_verifier_key(vkey)
    if sig_type == SIG_TYPE_MLDSA44:
        return parse_mldsa_key(name, public_key)
    if sig_type not in (SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519) or len(public_key) != 32:
        raise NoteFormatError(
            f"witness key for {name!r} is not an ML-DSA-44 (0x06), cosignature/v1 (0x04) or "
            "Ed25519 note (0x01) key"
        )
    return CosignatureVerifier(name, Ed25519PublicKey.from_public_bytes(public_key))
