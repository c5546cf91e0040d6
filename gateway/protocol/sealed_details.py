"""Sealed audit details: what an oversight body may need, readable only with its key.

A leaf never holds personal data in clear: filter values appear there only as
keyed commitments. The values themselves (which plate was checked, which
kecamatan was filtered) are sealed with HPKE (RFC 9180; X25519, HKDF-SHA256,
AES-256-GCM) to the oversight body's X25519 key, stored beside the log, and
bound to it by their SHA-256 in the leaf. Erasing a sealed detail when its
retention ends (or erasing the oversight key) changes no leaf, so every
proof still verifies; an opened detail is checked against its leaf digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.errors import AuditIntegrityError, ConfigurationError
from gateway.protocol.canonical import canonical_json

SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
INFO: Final = b"gerbang/audit/details/v1"


def recipient_id(public_key: X25519PublicKey) -> str:
    """Short name of a details key: hex of the first 8 bytes of SHA-256(public key)."""
    return hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


@dataclass(frozen=True)
class SealedDetails:
    recipient: str
    blob: bytes  # HPKE enc || ciphertext

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()

    def leaf_view(self) -> dict[str, str]:
        """What the leaf records: who can open it and the digest that binds it."""
        return {"recipient": self.recipient, "sha256": self.sha256}


def seal_details(details: Mapping[str, Any], recipient: X25519PublicKey) -> SealedDetails:
    blob = SUITE.encrypt(canonical_json(dict(details)), recipient, info=INFO)
    return SealedDetails(recipient_id(recipient), blob)


def open_details(blob: bytes, leaf_view: Mapping[str, Any], key: X25519PrivateKey) -> Any:
    """Check `blob` against the digest its leaf recorded, then decrypt it."""
    if not hmac.compare_digest(hashlib.sha256(blob).hexdigest(), str(leaf_view.get("sha256"))):
        raise AuditIntegrityError("sealed details do not match the digest in their leaf")
    if leaf_view.get("recipient") != recipient_id(key.public_key()):
        raise ConfigurationError("these details are sealed to another oversight key")
    try:
        return json.loads(SUITE.decrypt(blob, key, info=INFO))
    except InvalidTag as e:
        raise AuditIntegrityError("sealed details do not decrypt with this key") from e


@dataclass(frozen=True)
class DetailsKey:
    """An oversight body's X25519 key pair for sealed details (files: KEY and KEY.pub)."""

    private_key: X25519PrivateKey

    @property
    def public_key(self) -> X25519PublicKey:
        return self.private_key.public_key()

    @classmethod
    def load_or_create(cls, path: Path) -> DetailsKey:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = X25519PrivateKey.generate()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(key.private_bytes_raw()).decode() + "\n")
            path.with_suffix(".pub").write_text(public_key_text(key.public_key()) + "\n")
        raw = base64.b64decode(path.read_text().strip())
        return cls(X25519PrivateKey.from_private_bytes(raw))


def public_key_text(key: X25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes_raw()).decode()


def load_public_key(text: str) -> X25519PublicKey:
    """A details recipient key: standard base64 of 32 bytes, or a file holding that."""
    path = Path(text)
    if path.exists():
        text = path.read_text().strip()
    try:
        raw = base64.b64decode(text, validate=True)
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise ConfigurationError("a details key must be base64 of a 32-byte X25519 key") from e
