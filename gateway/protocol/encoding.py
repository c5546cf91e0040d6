"""Strict standard base64 and SHA-256: the encodings the protocol's envelopes share (pure)."""

from __future__ import annotations

import base64
import hashlib

from gateway.errors import UntrustedInputError


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: object, what: str) -> bytes:
    """Strict standard base64: canonical only, so no two encodings of the same bytes verify."""
    try:
        raw = base64.b64decode(str(text), validate=True)
    except ValueError as e:
        raise UntrustedInputError(f"{what} is not standard base64") from e
    if b64(raw) != text:
        raise UntrustedInputError(f"{what} is not canonical base64 (non-zero padding bits)")
    return raw


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
