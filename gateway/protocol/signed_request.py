"""Signed requests: what a caller signs, and how the gateway checks it (pure).

The caller signs the canonical request (its query, a nonce, the time, the X25519 key results
must be sealed to and, when it names one, its end user's keyed commitment) with its
registered Ed25519 key (docs/adr/0005). `verify_request` raises (`SignatureError`,
`UntrustedInputError`); the nonce's novelty is the replay cache's job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature

from gateway.errors import SignatureError, UntrustedInputError
from gateway.protocol.canonical import canonical_json
from gateway.protocol.encoding import b64
from gateway.protocol.keys import KeyRegistry, Signer
from gateway.protocol.model import Query
from gateway.protocol.values import time_text, typed_value, utc

REQUEST_VERSION: Final = 1
# A request is fresh within this much of the gateway's clock (both directions).
FRESHNESS: Final = dt.timedelta(seconds=120)
NONCE_BYTES: Final = 16
# An end user's commitment: HMAC-SHA256 under the organisation's key (docs/protocol.md).
USER_COMMITMENT_BYTES: Final = 32


@dataclass(frozen=True)
class RequestAuth:
    nonce: bytes
    issued_at: dt.datetime
    hpke_public_key: bytes
    key_id: str
    signature: bytes
    # The end user's commitment, or b"" when the request names no user.
    user_commitment: bytes = b""


def user_commitment(org_key: bytes, issuer: str, subject: str) -> bytes:
    """The organisation's keyed commitment to one end user (docs/protocol.md).

    HMAC-SHA256 under `org_key` over the canonical JSON array [issuer, subject]: the
    organisation, holding the key and its users, can open it; nobody else can.
    """
    if len(org_key) < 32:
        raise ValueError("the organisation's user commitment key must be at least 32 bytes")
    return hmac.new(org_key, canonical_json([issuer, subject]), hashlib.sha256).digest()


def check_user_commitment(commitment: bytes) -> None:
    if commitment and len(commitment) != USER_COMMITMENT_BYTES:
        raise UntrustedInputError(
            f"user commitment must be {USER_COMMITMENT_BYTES} bytes, not {len(commitment)}"
        )


def canonical_request(
    caller: str,
    query: Query,
    nonce: bytes,
    issued_at: dt.datetime,
    hpke_public_key: bytes,
    user: bytes = b"",
) -> bytes:
    """The bytes a caller signs: its identity, the whole query, nonce, time, sealing key and,
    when it names one, its end user's commitment."""
    check_user_commitment(user)
    agg = query.aggregation
    return canonical_json(
        {
            "v": REQUEST_VERSION,
            "caller": caller,
            "dataset": query.dataset,
            "fields": list(query.fields),
            "filters": [
                {"field": f.field, "op": str(f.op), "values": [typed_value(v) for v in f.values]}
                for f in query.filters
            ],
            "aggregation": None if agg is None else agg.document(),
            "purpose": query.purpose,
            "legal_basis": query.legal_basis,
            "case_reference": query.case_reference,
            "limit": query.limit,
            "nonce": nonce.hex(),
            "issued_at": time_text(issued_at),
            "hpke_public_key": b64(hpke_public_key),
        }
        # Only analytics requests name an operation, so plain requests keep their encoding.
        | ({"operation": query.operation} if query.operation else {})
        # Likewise the user: requests without one keep their bytes and signatures.
        | ({"user": user.hex()} if user else {})
    )


def sign_request(
    caller: str,
    query: Query,
    signer: Signer,
    hpke_public_key: bytes,
    now: dt.datetime,
    nonce: bytes,
    user: bytes = b"",
) -> tuple[RequestAuth, bytes]:
    canonical = canonical_request(caller, query, nonce, now, hpke_public_key, user)
    auth = RequestAuth(
        nonce, utc(now), hpke_public_key, signer.key_id, signer.sign(canonical), user
    )
    return auth, canonical


def verify_request(
    caller: str, query: Query, auth: RequestAuth, registry: KeyRegistry, now: dt.datetime
) -> bytes:
    """Check a request's signature and freshness; return its canonical bytes.

    Steps: 1. the signing key is the mTLS identity's own registered key, valid now;
    2. the signature verifies over the canonical request (the user commitment, if any,
    included, and 32 bytes long); 3. the request is fresh;
    4. the sealing key is the caller's registered HPKE key. (The nonce's novelty
    is the replay cache's job.)
    """
    key = registry.ed25519(caller, auth.key_id, now)
    if len(auth.nonce) < NONCE_BYTES:
        raise UntrustedInputError(f"request nonce must be at least {NONCE_BYTES} bytes")
    canonical = canonical_request(
        caller, query, auth.nonce, auth.issued_at, auth.hpke_public_key, auth.user_commitment
    )
    try:
        key.verify(auth.signature, canonical)
    except InvalidSignature:
        raise SignatureError(
            "request signature does not verify (altered, or another key signed it)"
        ) from None
    skew = abs(utc(now) - utc(auth.issued_at))
    if skew > FRESHNESS:
        raise UntrustedInputError(
            f"request is not fresh: issued {skew.total_seconds():.0f} s from the gateway's clock "
            f"(limit {FRESHNESS.total_seconds():.0f} s)"
        )
    registry.hpke_key_of(caller, auth.hpke_public_key, now)
    return canonical
