"""C2SP tlog-checkpoint bodies and tlog-cosignature/v1 Ed25519 witness cosignatures.

Internal module: its API may change without notice. Pure functions, no I/O.

Checkpoint (https://c2sp.org/tlog-checkpoint, §Note text): the text of a
signed note, at least three non-empty newline-terminated lines:

    <origin>                      non-empty, unique name of the log
    <tree size>                   ASCII decimal, no leading zeroes
    <base64 RFC 6962 root hash>
    [<extension line>...]         optional, non-empty, opaque

Cosignature (https://c2sp.org/tlog-cosignature, §Format and §Ed25519 signed
message): a witness signs, with Ed25519, the message

    cosignature/v1\\n
    time <POSIX seconds, ASCII decimal, no leading zeroes>\\n
    <the whole checkpoint body, extension lines included>

and adds to the checkpoint note the signature line

    — <witness name> base64(key ID || 8-byte big-endian timestamp || 64-byte signature)

with key ID = SHA-256(<name> || 0x0A || 0x04 || 32-byte public key)[:4]
(signed-note §Signature types, type 0x04). A cosignature says: as of that
time, this is the largest consistent tree head the witness has seen for the
log. A witness must check consistency with its last checkpoint before it
cosigns; that check is the caller's, not this module's.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import (
    CheckpointFormatError,
    NoteFormatError,
    SignatureError,
    UntrustedInputError,
)
from gateway.tlog.merkle import HASH_SIZE
from gateway.tlog.note import (
    NoteSigner,
    NoteVerifier,
    decode_verifier_key,
    encode_verifier_key,
    format_signature_line,
    key_id,
    open_note,
    parse_signature_line,
    raw_public_key,
    sign_note,
)

__all__ = [
    "MAX_TIMESTAMP",
    "MAX_TREE_SIZE",
    "SIG_TYPE_COSIGNATURE_V1",
    "Checkpoint",
    "Cosignature",
    "CosignatureVerifier",
    "cosign",
    "cosignature_key_id",
    "cosignature_message",
    "format_cosigner_key",
    "open_checkpoint",
    "parse_cosigner_key",
    "sign_checkpoint",
    "verify_cosignature",
]

MAX_TREE_SIZE: Final = 2**63 - 1
"""Largest tree size accepted; Go's sumdb/tlog and most log tooling use int64."""

MAX_TIMESTAMP: Final = 2**63 - 1
"""tlog-cosignature §Format: the timestamp MUST NOT exceed 2^63 - 1."""

SIG_TYPE_COSIGNATURE_V1: Final = 0x04
"""signed-note §Signature types: timestamped Ed25519 witness cosignature."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_COSIGNATURE_HEADER: Final = b"cosignature/v1\n"
_TIMESTAMP_SIZE: Final = 8
_ED25519_SIGNATURE_SIZE: Final = 64


def _check_line(value: str, what: str) -> None:
    if not value:
        raise CheckpointFormatError(f"checkpoint {what} is empty")
    for c in value:
        if ord(c) < 0x20 or c == "\x7f":
            raise CheckpointFormatError(
                f"checkpoint {what} {value!r} contains control character {c!r}"
            )


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash, extension lines.

    The constructor validates, so a `Checkpoint` that exists can be signed.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointFormatError(
                f"checkpoint tree size {self.size} is outside 0..{MAX_TREE_SIZE}"
            )
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointFormatError(
                f"checkpoint root hash is {len(self.root_hash)} bytes; a SHA-256 root is "
                f"{HASH_SIZE}"
            )
        object.__setattr__(self, "root_hash", bytes(self.root_hash))
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for i, line in enumerate(self.extensions):
            _check_line(line, f"extension line {i + 1}")

    def to_text(self) -> str:
        """The note text: origin, decimal size, base64 root, extension lines, each ending in \\n."""
        lines = (self.origin, str(self.size), base64.b64encode(self.root_hash).decode())
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body; raise `CheckpointFormatError` naming what is wrong."""
        if not text.endswith("\n"):
            raise CheckpointFormatError("checkpoint text does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointFormatError(
                f"checkpoint has {len(lines)} lines; it needs origin, tree size and root hash"
            )
        origin, size_line, root_line, *extensions = lines
        _check_line(origin, "origin")
        if not _DECIMAL.fullmatch(size_line):
            raise CheckpointFormatError(
                f"checkpoint tree size {size_line!r} is not a decimal number without leading zeroes"
            )
        try:
            root = base64.b64decode(root_line, validate=True)
        except ValueError as e:  # binascii.Error is a ValueError
            raise CheckpointFormatError(
                f"checkpoint root hash {root_line!r} is not standard base64"
            ) from e
        if base64.b64encode(root).decode() != root_line:
            raise CheckpointFormatError(
                f"checkpoint root hash {root_line!r} is not canonical standard base64"
            )
        return cls(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> bytes:
    """The checkpoint as a signed note (the log's key name SHOULD equal the origin)."""
    return sign_note(checkpoint.to_text(), signers)


def open_checkpoint(note: bytes, log_verifier: NoteVerifier, origin: str) -> Checkpoint:
    """Verify a checkpoint note signed by the log's key and parse it.

    Steps: 1. the note must carry a valid signature by `log_verifier`
    (other signatures, such as cosignatures, are ignored here); 2. the text
    must be a well-formed checkpoint; 3. its origin must be `origin`, so a
    checkpoint of another log signed by the same key is refused.
    """
    verified = open_note(note, [log_verifier])
    checkpoint = Checkpoint.parse(verified.text)
    if checkpoint.origin != origin:
        raise UntrustedInputError(
            f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}"
        )
    return checkpoint


# --- cosignatures ------------------------------------------------------------


def cosignature_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """tlog-cosignature §Format: SHA-256(name || 0x0A || 0x04 || public key)[:4]."""
    return key_id(name, SIG_TYPE_COSIGNATURE_V1, raw_public_key(public_key))


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """tlog-cosignature §Ed25519 signed message: header, time line, checkpoint body."""
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise SignatureError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
    Checkpoint.parse(checkpoint_text)
    return _COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + checkpoint_text.encode()


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who, with which key ID, and when (POSIX seconds)."""

    name: str
    key_id: bytes
    timestamp: int


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's cosignature/v1 Ed25519 key; usable as a `NoteVerifier` with `open_note`."""

    name: str
    public_key: Ed25519PublicKey
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", cosignature_key_id(self.name, self.public_key))

    @property
    def raw_public_key(self) -> bytes:
        return raw_public_key(self.public_key)

    def verify(self, text: bytes, signature: bytes) -> None:
        self.check(text, signature)

    def check(self, text: bytes, signature: bytes) -> Cosignature:
        """Verify `signature` (timestamp || Ed25519 signature) over checkpoint `text`."""
        if len(signature) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
            raise SignatureError(
                f"cosignature by {self.name} is {len(signature)} bytes; a cosignature/v1 "
                "Ed25519 signature is 8 (timestamp) + 64 bytes"
            )
        timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
        try:
            message = cosignature_message(text.decode("utf-8"), timestamp)
        except (UnicodeDecodeError, NoteFormatError) as e:
            raise SignatureError(
                f"cosignature by {self.name} is over text that is not a checkpoint: {e}"
            ) from e
        try:
            self.public_key.verify(signature[_TIMESTAMP_SIZE:], message)
        except InvalidSignature:
            raise SignatureError(
                f"cosignature by {self.name} ({self.key_id.hex()}) does not verify: the "
                "checkpoint or the timestamp was altered, or another key signed it"
            ) from None
        return Cosignature(self.name, self.key_id, timestamp)


def format_cosigner_key(name: str, public_key: Ed25519PublicKey) -> str:
    """A witness's verifier key string, signature type 0x04 (tlog-cosignature §Format)."""
    return encode_verifier_key(name, SIG_TYPE_COSIGNATURE_V1, raw_public_key(public_key))


def parse_cosigner_key(vkey: str) -> CosignatureVerifier:
    """A witness's key from a verifier key string of signature type 0x04."""
    name, sig_type, public_key = decode_verifier_key(vkey)
    if sig_type != SIG_TYPE_COSIGNATURE_V1 or len(public_key) != 32:
        raise NoteFormatError(
            f"cosigner key for {name!r} is not a cosignature/v1 Ed25519 key "
            "(signature type 0x04, 32-byte public key)"
        )
    return CosignatureVerifier(name, Ed25519PublicKey.from_public_bytes(public_key))


def cosign(checkpoint_text: str, witness_key: Ed25519PrivateKey, name: str, timestamp: int) -> str:
    """The witness's cosignature/v1 signature line for `checkpoint_text`, ending in a newline.

    Append it to the signed checkpoint note. The caller must already have
    checked that the checkpoint is consistent with the last one it cosigned.
    """
    message = cosignature_message(checkpoint_text, timestamp)
    signature = timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + witness_key.sign(message)
    kid = cosignature_key_id(name, witness_key.public_key())
    return format_signature_line(name, kid, signature)


def verify_cosignature(
    checkpoint_text: str, signature_line: str, witness: CosignatureVerifier
) -> Cosignature:
    """Verify one cosignature line over `checkpoint_text` by `witness`; return who and when.

    The line must carry the witness's name and key ID; then the signature
    must verify over the cosignature/v1 message at the timestamp it carries.
    Whether that time is acceptable (not in the future, recent enough) is the
    caller's policy.
    """
    line = parse_signature_line(signature_line)
    if (line.name, line.key_id) != (witness.name, witness.key_id):
        raise SignatureError(
            f"cosignature line is by {line.name} ({line.key_id.hex()}), not by witness "
            f"{witness.name} ({witness.key_id.hex()})"
        )
    return witness.check(checkpoint_text.encode("utf-8"), line.signature)
