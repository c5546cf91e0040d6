"""Sealed results: HPKE from the adapter to the caller, bound to the plan (pure).

The adapter seals its ResultSet to the caller's key with HPKE (RFC 9180: X25519,
HKDF-SHA256, AES-256-GCM), binding the plan hash through `info` (docs/adr/0005): the
gateway relays the ciphertext and never holds a key that opens it.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.errors import UntrustedInputError

SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
RESULT_INFO: Final = b"gerbang/result/v1\n"


def seal_result(plaintext: bytes, recipient: X25519PublicKey, plan_hash: bytes) -> bytes:
    return SUITE.encrypt(plaintext, recipient, info=RESULT_INFO + plan_hash)


def open_result(ciphertext: bytes, key: X25519PrivateKey, plan_hash: bytes) -> bytes:
    try:
        return SUITE.decrypt(ciphertext, key, info=RESULT_INFO + plan_hash)
    except (InvalidTag, ValueError) as e:
        raise UntrustedInputError(
            "sealed result does not open: it was altered, sealed to another key, "
            "or bound to another plan"
        ) from e
