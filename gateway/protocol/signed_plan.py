"""Signed blobs: the gateway's signed plans, and how an adapter opens one (pure).

The gateway signs each plan (serialised QueryPlan bytes: the request hash, the obligations,
the expiry and the adapter it is addressed to) with its Ed25519 key (docs/adr/0005). The
same envelope, `SignedBlob`, carries the signed request and the adapter's attestation in an
evidence bundle. Verification raises `SignatureError` or `UntrustedInputError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from gateway.errors import SignatureError, UntrustedInputError
from gateway.protocol.encoding import b64, unb64
from gateway.protocol.keys import KeyRegistry, Signer
from gerbang.v1 import adapter_pb2


@dataclass(frozen=True)
class SignedBlob:
    data: bytes
    key_id: str
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"data": b64(self.data), "key_id": self.key_id, "signature": b64(self.signature)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], what: str) -> SignedBlob:
        return cls(
            unb64(doc.get("data"), f"{what} data"),
            str(doc.get("key_id")),
            unb64(doc.get("signature"), f"{what} signature"),
        )

    def verify(self, registry: KeyRegistry, owner: str, at: dt.datetime, what: str) -> None:
        key = registry.ed25519(owner, self.key_id, at)
        try:
            key.verify(self.signature, self.data)
        except InvalidSignature:
            raise SignatureError(f"{what} signature by {owner} does not verify") from None


def sign_blob(data: bytes, signer: Signer) -> SignedBlob:
    return SignedBlob(data, signer.key_id, signer.sign(data))


def open_plan(
    signed: SignedBlob, registry: KeyRegistry, gateway_id: str, now: dt.datetime
) -> adapter_pb2.QueryPlan:
    """Verify the gateway's signature on plan bytes, then parse them."""
    signed.verify(registry, gateway_id, now, "plan")
    try:
        return adapter_pb2.QueryPlan.FromString(signed.data)
    except Exception as e:
        raise UntrustedInputError("signed plan does not parse") from e
