"""C2SP signed notes with Ed25519 (https://c2sp.org/signed-note), as golang.org/x/mod/sumdb/note.

Internal module: its API may change without notice. Pure functions, no I/O.

A signed note (signed-note §Format) is a UTF-8 text ending in a newline, a
blank line, then one or more signature lines

    — <key name> base64(4-byte key ID || signature)

with no ASCII control characters other than newline anywhere. Key names are
non-empty and hold no Unicode space and no "+". The key ID of an Ed25519 key
(signed-note §Ed25519 signatures) is

    SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]

and keys travel as strings in the sumdb/note format:

    verifier key:  <name>+<hex key ID>+base64(0x01 || 32-byte public key)
    signer key:    PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)

Opening a note (signed-note §Signatures): signatures from unknown keys are kept
but not trusted; a signature from a known key must verify, or the whole note
is rejected (the spec allows that, and it is the fail-closed choice); a note
with no verified signature from a known key is rejected. Verification raises.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.errors import ConfigurationError, NoteFormatError, SignatureError

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_TYPE_ED25519",
    "Ed25519NoteSigner",
    "Ed25519NoteVerifier",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "VerifiedNote",
    "decode_verifier_key",
    "encode_verifier_key",
    "format_signature_line",
    "format_signer_key",
    "format_verifier_key",
    "generate_signer_key",
    "key_id",
    "open_note",
    "parse_signature_line",
    "parse_signer_key",
    "parse_verifier_key",
    "raw_public_key",
    "sign_note",
]

SIG_TYPE_ED25519: Final = 0x01
"""signed-note §Signature types: plain Ed25519 over the note text."""

MAX_SIGNATURES: Final = 100
"""Signature lines read from one note; the spec requires at least 16 (sumdb/note uses 100)."""

MAX_NOTE_BYTES: Final = 1 << 20
"""A note larger than this is refused before parsing."""

_SIG_PREFIX: Final = "\u2014 "  # em dash, space
_ED25519_SIGNATURE_SIZE: Final = 64
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


# --- names, key IDs, key strings ------------------------------------------


def _check_key_name(name: str) -> None:
    # signed-note §Format: non-empty, no Unicode space, no "+". Control
    # characters cannot appear in a note either, so refuse them here too.
    if not name:
        raise NoteFormatError("key name is empty")
    bad = next((c for c in name if c.isspace() or c == "+" or ord(c) < 0x20 or c == "\x7f"), None)
    if bad is not None:
        raise NoteFormatError(
            f"key name {name!r} contains {bad!r}: names hold no spaces, '+' or control characters"
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteFormatError(f"key name {name!r} is not valid Unicode text") from e


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """signed-note §Signatures: SHA-256(name || 0x0A || sig_type || public key)[:4]."""
    _check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of an Ed25519 public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64decode(text: str, what: str) -> bytes:
    # Standard base64 (RFC 4648 §4), canonical only: one encoding per value.
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise NoteFormatError(f"{what} is not standard base64") from e
    if base64.b64encode(data).decode() != text:
        raise NoteFormatError(f"{what} is not canonical standard base64")
    return data


def encode_verifier_key(name: str, sig_type: int, public_key: bytes) -> str:
    """`<name>+<hex key ID>+base64(sig_type || public key)`, for any signature type."""
    kid = key_id(name, sig_type, public_key)
    return f"{name}+{kid.hex()}+{base64.b64encode(bytes([sig_type]) + public_key).decode()}"


def decode_verifier_key(vkey: str) -> tuple[str, int, bytes]:
    """Split a verifier key string into (name, signature type, public key), checking its key ID."""
    name, _, rest = vkey.partition("+")
    hex_id, _, b64 = rest.partition("+")
    _check_key_name(name)
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteFormatError(
            f"verifier key for {name!r}: key ID {hex_id!r} is not 8 hex digits; "
            "the format is name+keyid+base64key"
        )
    key = _b64decode(b64, f"verifier key for {name!r}: key")
    if len(key) < 2:
        raise NoteFormatError(f"verifier key for {name!r} holds no public key")
    sig_type, public_key = key[0], key[1:]
    if key_id(name, sig_type, public_key) != bytes.fromhex(hex_id):
        raise NoteFormatError(
            f"verifier key for {name!r}: key ID {hex_id} does not match the name and key; "
            "the key string was altered or mistyped"
        )
    return name, sig_type, public_key


def format_verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The sumdb/note verifier key string of an Ed25519 key."""
    return encode_verifier_key(name, SIG_TYPE_ED25519, raw_public_key(public_key))


def parse_verifier_key(vkey: str) -> Ed25519NoteVerifier:
    """A verifier from a sumdb/note verifier key string (Ed25519, type 0x01, only)."""
    name, sig_type, public_key = decode_verifier_key(vkey)
    if sig_type != SIG_TYPE_ED25519:
        raise NoteFormatError(
            f"verifier key for {name!r} has signature type 0x{sig_type:02x}; "
            "only Ed25519 (0x01) note keys are accepted here"
        )
    if len(public_key) != 32:
        raise NoteFormatError(
            f"verifier key for {name!r}: an Ed25519 public key is 32 bytes, got {len(public_key)}"
        )
    return Ed25519NoteVerifier(name, Ed25519PublicKey.from_public_bytes(public_key))


def format_signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The sumdb/note signer key string: PRIVATE+KEY+name+keyid+base64(0x01 || seed). Secret."""
    kid = key_id(name, SIG_TYPE_ED25519, raw_public_key(private_key.public_key()))
    key = base64.b64encode(bytes([SIG_TYPE_ED25519]) + private_key.private_bytes_raw()).decode()
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{key}"


def parse_signer_key(skey: str) -> Ed25519NoteSigner:
    """A signer from a sumdb/note signer key string; its key ID must match the derived key."""
    private, _, rest = skey.partition("+")
    key_word, _, rest = rest.partition("+")
    if private != "PRIVATE" or key_word != "KEY":
        # Never echo any part of a signer key: it is a secret.
        raise NoteFormatError("signer key does not start with PRIVATE+KEY+")
    name, _, rest = rest.partition("+")
    hex_id, _, b64 = rest.partition("+")
    _check_key_name(name)
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteFormatError(f"signer key for {name!r}: key ID is not 8 hex digits")
    key = _b64decode(b64, f"signer key for {name!r}: key")
    if len(key) != 33 or key[0] != SIG_TYPE_ED25519:
        raise NoteFormatError(
            f"signer key for {name!r}: want 0x01 followed by a 32-byte Ed25519 seed"
        )
    signer = Ed25519NoteSigner(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
    if signer.key_id != bytes.fromhex(hex_id):
        raise NoteFormatError(
            f"signer key for {name!r}: key ID {hex_id} does not match the name and key"
        )
    return signer


def generate_signer_key(name: str) -> tuple[str, str]:
    """A new Ed25519 key as (signer key string, verifier key string). Keep the first secret."""
    private_key = Ed25519PrivateKey.generate()
    return format_signer_key(name, private_key), format_verifier_key(name, private_key.public_key())


# --- signers and verifiers ----------------------------------------------------


class NoteVerifier(Protocol):
    """A key a note can be verified with: its name, key ID, and the check itself."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: bytes, signature: bytes) -> None:
        """Raise `SignatureError` unless `signature` (after the key ID) signs `text`."""
        ...


class NoteSigner(Protocol):
    """A key a note can be signed with."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, text: bytes) -> bytes:
        """The signature over `text` (without the key ID)."""
        ...


@dataclass(frozen=True)
class Ed25519NoteVerifier:
    """signed-note Ed25519 (type 0x01): a plain Ed25519 signature over the note text."""

    name: str
    public_key: Ed25519PublicKey
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        kid = key_id(self.name, SIG_TYPE_ED25519, raw_public_key(self.public_key))
        object.__setattr__(self, "key_id", kid)

    def verify(self, text: bytes, signature: bytes) -> None:
        if len(signature) != _ED25519_SIGNATURE_SIZE:
            raise SignatureError(
                f"signature by {self.name} is {len(signature)} bytes; Ed25519 signatures are 64"
            )
        try:
            self.public_key.verify(signature, text)
        except InvalidSignature:
            raise SignatureError(
                f"signature by {self.name} ({self.key_id.hex()}) does not verify: "
                "the note text was altered or signed by another key"
            ) from None

    def to_key_string(self) -> str:
        return format_verifier_key(self.name, self.public_key)


@dataclass(frozen=True)
class Ed25519NoteSigner:
    """signed-note Ed25519 (type 0x01) signing key."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        public = raw_public_key(self.private_key.public_key())
        object.__setattr__(self, "key_id", key_id(self.name, SIG_TYPE_ED25519, public))

    def sign(self, text: bytes) -> bytes:
        return self.private_key.sign(text)

    def verifier(self) -> Ed25519NoteVerifier:
        return Ed25519NoteVerifier(self.name, self.private_key.public_key())


# --- notes -----------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the key ID."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class VerifiedNote:
    """A note with at least one verified signature from a trusted key.

    `signatures` verified against trusted keys; `unverified_signatures` are
    from keys not configured and carry no trust at all.
    """

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified_signatures: tuple[NoteSignature, ...] = ()


def _check_note_chars(text: str, what: str) -> None:
    for i, c in enumerate(text):
        if ord(c) < 0x20 and c != "\n":
            raise NoteFormatError(
                f"{what} has control character {c!r} at offset {i}; only newline is allowed"
            )


def _check_note_text(text: str) -> bytes:
    if not text.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    _check_note_chars(text, "note text")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteFormatError("note text is not valid Unicode (lone surrogate)") from e


def format_signature_line(name: str, kid: bytes, signature: bytes) -> str:
    """`— <name> base64(key ID || signature)` and the newline that ends it."""
    _check_key_name(name)
    if len(kid) != 4:
        raise ValueError(f"a key ID is 4 bytes, got {len(kid)}")
    return f"{_SIG_PREFIX}{name} {base64.b64encode(kid + signature).decode()}\n"


def parse_signature_line(line: str) -> NoteSignature:
    """One signature line, with or without its final newline."""
    body = line.removesuffix("\n")
    if not body.startswith(_SIG_PREFIX):
        raise NoteFormatError("signature line does not start with an em dash (U+2014) and a space")
    name, _, b64 = body[len(_SIG_PREFIX) :].partition(" ")
    _check_key_name(name)
    if not b64:
        raise NoteFormatError(f"signature line for {name!r} has no signature")
    raw = _b64decode(b64, f"signature by {name!r}")
    if len(raw) < 5:
        raise NoteFormatError(f"signature by {name!r} is too short to hold a key ID and signature")
    return NoteSignature(name, raw[:4], raw[4:])


def sign_note(text: str, signers: Sequence[NoteSigner]) -> bytes:
    """Sign `text` with every signer: the text, a blank line, one signature line per signer."""
    if not signers:
        raise ConfigurationError("signing a note needs at least one signer key")
    data = _check_note_text(text)
    seen: set[tuple[str, bytes]] = set()
    lines: list[str] = []
    for signer in signers:
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise ConfigurationError(f"signer {signer.name} ({signer.key_id.hex()}) given twice")
        seen.add(ident)
        lines.append(format_signature_line(signer.name, signer.key_id, signer.sign(data)))
    return data + b"\n" + "".join(lines).encode("utf-8")


def open_note(note: bytes, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
    """Parse a signed note and verify it against trusted keys.

    Steps:
      1. At least one trusted key, and no two with the same name and key ID.
      2. The note is at most MAX_NOTE_BYTES of valid UTF-8 with no control
         characters other than newline.
      3. Split at the last blank line into the text (ending in a newline) and
         a non-empty block of newline-terminated signature lines.
      4. Parse each signature line (at most MAX_SIGNATURES).
      5. Verify every signature whose (name, key ID) is a trusted key; any
         failure rejects the note. Others are kept as unverified.
      6. At least one signature from a trusted key must have verified.

    Raises `NoteFormatError` for a malformed note, `SignatureError` when a
    signature fails or no trusted key signed, `ConfigurationError` for step 1.
    """
    # 1.
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        ident = (v.name, v.key_id)
        if ident in known:
            raise ConfigurationError(
                f"two trusted keys share name {v.name!r} and key ID {v.key_id.hex()}"
            )
        known[ident] = v
    if not known:
        raise ConfigurationError("no trusted keys configured: no note can be verified")
    # 2.
    if len(note) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"note is {len(note)} bytes; the limit is {MAX_NOTE_BYTES}")
    try:
        message = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NoteFormatError(f"note is not valid UTF-8 at byte {e.start}") from e
    _check_note_chars(message, "note")
    # 3.
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteFormatError(
            "note has no blank line before its signatures (or its text does not end in a newline)"
        )
    text, block = message[: split + 1], message[split + 2 :]
    if not block:
        raise NoteFormatError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteFormatError("the last signature line of the note does not end in a newline")
    lines = block[:-1].split("\n")
    # 4.
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"note has {len(lines)} signatures; the limit is {MAX_SIGNATURES}")
    parsed = [parse_signature_line(line) for line in lines]
    # 5.
    data = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for sig in parsed:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        verifier.verify(data, sig.signature)
        if sig not in verified:
            verified.append(sig)
    # 6.
    if not verified:
        signed_by = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in unverified)
        trusted = ", ".join(f"{name} ({kid.hex()})" for name, kid in known)
        raise SignatureError(
            f"note is not signed by any trusted key: signed by {signed_by}; trusted: {trusted}"
        )
    return VerifiedNote(text, tuple(verified), tuple(unverified))
