"""Result attestations: what an adapter signs about its sealed answer, and the caller's check.

The adapter signs an attestation (adapter, plan hash, ciphertext digest, row count, time);
the caller checks the plan's signature, that the plan answers its request, and the
attestation's signature and bindings before it opens anything (`check_result`, docs/adr/0005).
Every check raises `SignatureError` or `UntrustedInputError`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import UntrustedInputError
from gateway.protocol.canonical import canonical_json
from gateway.protocol.encoding import sha256
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.signed_plan import SignedBlob, open_plan
from gateway.protocol.values import time_text
from gerbang.v1 import adapter_pb2


def attestation(
    adapter_id: str, plan_hash: bytes, ciphertext: bytes, rows: int, now: dt.datetime
) -> bytes:
    return canonical_json(
        {
            "v": 1,
            "adapter": adapter_id,
            "plan_sha256": plan_hash.hex(),
            "ciphertext_sha256": sha256(ciphertext).hex(),
            "rows": rows,
            "time": time_text(now),
        }
    )


@dataclass(frozen=True)
class CheckedResult:
    """An adapter's answer whose signatures and bindings all verified (still sealed)."""

    adapter_id: str
    plan: adapter_pb2.QueryPlan
    plan_hash: bytes
    ciphertext_sha256: bytes
    rows: int


def check_result(
    *,
    plan: SignedBlob,
    attested: SignedBlob,
    ciphertext_sha256: bytes,
    registry: KeyRegistry,
    gateway_id: str,
    request_hash: bytes,
    caller: str,
    hpke_public_key: bytes | None,
    now: dt.datetime | None,
) -> CheckedResult:
    """Verify one federated part before opening it.

    Steps: 1. the gateway signed the plan; 2. the plan answers this request (its
    request hash), for this caller and (when given) this sealing key; 3. the
    adapter the plan is addressed to signed the attestation; 4. the attestation
    names this plan and this ciphertext. `now` None checks keys at the signing
    times (offline evidence), else at `now`.
    """
    doc = _attestation_doc(attested.data)
    signed_at = dt.datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00"))
    p = open_plan(plan, registry, gateway_id, now or signed_at)
    if not hmac.compare_digest(p.request_hash, request_hash):
        raise UntrustedInputError(f"plan {p.plan_id} answers another request")
    if p.caller != caller:
        raise UntrustedInputError(f"plan {p.plan_id} is for {p.caller}, not {caller}")
    if hpke_public_key is not None and not hmac.compare_digest(
        p.caller_hpke_public_key, hpke_public_key
    ):
        raise UntrustedInputError(f"plan {p.plan_id} seals results to another key")
    plan_hash = sha256(plan.data)
    rows = _check_attested(
        doc, attested, plan_hash, p.adapter_id, ciphertext_sha256, registry, now or signed_at
    )
    return CheckedResult(p.adapter_id, p, plan_hash, ciphertext_sha256, rows)


def check_attestation(
    *,
    plan_data: bytes,
    adapter_id: str,
    attested: SignedBlob,
    ciphertext_sha256: bytes,
    registry: KeyRegistry,
    now: dt.datetime,
) -> int:
    """The gateway's check of an answer to a plan it signed itself and still holds: steps
    3 and 4 of `check_result`; returns the attested row count.

    Steps 1 and 2 would verify the gateway's own signature over bytes it has not let go of
    and compare fields it wrote itself: they cannot fail there, and the Ed25519
    verification cost as much as the adapter's (BENCHMARKS.md, issue 12). Anyone else
    holding the plan (the caller, an auditor) runs `check_result`.
    """
    doc = _attestation_doc(attested.data)
    return _check_attested(
        doc, attested, sha256(plan_data), adapter_id, ciphertext_sha256, registry, now
    )


def _check_attested(
    doc: Mapping[str, Any],
    attested: SignedBlob,
    plan_hash: bytes,
    adapter_id: str,
    ciphertext_sha256: bytes,
    registry: KeyRegistry,
    at: dt.datetime,
) -> int:
    """The adapter the plan is addressed to signed the attestation, and it names this plan
    and this ciphertext; its row count."""
    attested.verify(registry, adapter_id, at, "result attestation")
    if doc.get("adapter") != adapter_id or doc.get("plan_sha256") != plan_hash.hex():
        raise UntrustedInputError(f"attestation of {adapter_id} is for another plan")
    if doc.get("ciphertext_sha256") != ciphertext_sha256.hex():
        raise UntrustedInputError(f"sealed result of {adapter_id} does not match its attestation")
    rows = doc.get("rows")
    if not isinstance(rows, int):
        raise UntrustedInputError("attestation has no row count")
    return rows


def _attestation_doc(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise UntrustedInputError("attestation is not JSON") from e
    if not isinstance(doc, dict) or doc.get("v") != 1 or "time" not in doc:
        raise UntrustedInputError("attestation has an unknown form")
    return doc
