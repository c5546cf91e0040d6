"""Signed requests, signed plans, sealed and attested results, and the evidence bundle (pure).

The protocol (docs/adr/0005):
- the caller signs the canonical request (its query, a nonce, the time, the
  X25519 key results must be sealed to and, when it names one, its end user's
  keyed commitment) with its registered Ed25519 key;
- the gateway signs each plan (serialised QueryPlan bytes: the request hash,
  the obligations, the expiry and the adapter it is addressed to);
- the adapter seals its ResultSet to the caller's key with HPKE (RFC 9180:
  X25519, HKDF-SHA256, AES-256-GCM), binding the plan hash through `info`, and
  signs an attestation: adapter, plan hash, ciphertext digest, row count, time;
- the caller checks every signature and binding before it opens anything, and
  keeps an evidence bundle that a third party can check offline with only the
  public keys and a checkpoint.
Every check raises (`SignatureError`, `UntrustedInputError`, `AuditIntegrityError`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.errors import GerbangError, SignatureError, UntrustedInputError
from gateway.protocol.canonical import canonical_json
from gateway.protocol.keys import KeyRegistry, Signer
from gateway.protocol.model import Query, time_text, typed_value, utc
from gerbang.v1 import adapter_pb2

if TYPE_CHECKING:
    from gateway.tlog.proof import TlogProof
    from gateway.tlog.witness_policy import WitnessPolicy

REQUEST_VERSION: Final = 1
# A request is fresh within this much of the gateway's clock (both directions).
FRESHNESS: Final = dt.timedelta(seconds=120)
NONCE_BYTES: Final = 16
# An end user's commitment: HMAC-SHA256 under the organisation's key (docs/protocol.md).
USER_COMMITMENT_BYTES: Final = 32
SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
RESULT_INFO: Final = b"gerbang/result/v1\n"


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


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- plans -----------------------------------------------------------------------------


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


# --- sealed, attested results ------------------------------------------------------------


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
    attested.verify(registry, p.adapter_id, now or signed_at, "result attestation")
    plan_hash = sha256(plan.data)
    if doc.get("adapter") != p.adapter_id or doc.get("plan_sha256") != plan_hash.hex():
        raise UntrustedInputError(f"attestation of {p.adapter_id} is for another plan")
    if doc.get("ciphertext_sha256") != ciphertext_sha256.hex():
        raise UntrustedInputError(f"sealed result of {p.adapter_id} does not match its attestation")
    rows = doc.get("rows")
    if not isinstance(rows, int):
        raise UntrustedInputError("attestation has no row count")
    return CheckedResult(p.adapter_id, p, plan_hash, ciphertext_sha256, rows)


def _attestation_doc(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise UntrustedInputError("attestation is not JSON") from e
    if not isinstance(doc, dict) or doc.get("v") != 1 or "time" not in doc:
        raise UntrustedInputError("attestation has an unknown form")
    return doc


# --- the evidence bundle ---------------------------------------------------------------


BUNDLE_VERSION: Final = 1


@dataclass(frozen=True)
class EvidenceSummary:
    """What a verified bundle proves, for a person to read."""

    caller: str
    purpose: str
    dataset: str
    case_reference: str
    adapters: tuple[str, ...]
    rows: int
    leaf_index: int
    checkpoint_size: int
    witnesses: tuple[str, ...] = ()
    # The end user's commitment (hex) the request and its audit entry name, or "".
    user_commitment: str = ""


def verify_bundle(
    bundle: Mapping[str, Any],
    registry: KeyRegistry,
    log_key: str,
    policy: WitnessPolicy | None = None,
) -> EvidenceSummary:
    """Check an evidence bundle offline: only public keys and the log's checkpoint key needed.

    Raises only `GerbangError`s: a bundle of the wrong shape (a missing key, a value of the
    wrong type, text that is not JSON) is `UntrustedInputError`, like one that does not
    verify. The steps are in `_verify_bundle`.
    """
    try:
        return _verify_bundle(bundle, registry, log_key, policy)
    except GerbangError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError) as e:
        # ValueError covers json.JSONDecodeError and UnicodeDecodeError. The message names
        # the kind of fault only: the bundle may hold values not to be repeated.
        raise UntrustedInputError(
            f"evidence bundle is malformed ({type(e).__name__}); it cannot be verified"
        ) from e


def _verify_bundle(
    bundle: Mapping[str, Any],
    registry: KeyRegistry,
    log_key: str,
    policy: WitnessPolicy | None,
) -> EvidenceSummary:
    """Check an evidence bundle offline: only public keys and the log's checkpoint key needed.

    Steps: 1. the caller signed the request; 2. for each adapter, the gateway signed
    the plan for this request and the adapter attested its sealed answer to that plan;
    3. the log's key signed the checkpoint, and the audit entry is included in it;
    4. the entry is this caller's allowed request, with this request hash, the same end
    user commitment (or none) and exactly these sealed results; 5. with a witness
    `policy` (C2SP tlog-policy), the checkpoint's cosignatures meet its quorum, so the
    log cannot have shown this entry in a history the witnesses never saw. Keys are
    checked as of the time each signature was made.
    """
    from gateway.protocol.identities import GATEWAY_ID
    from gateway.tlog.checkpoint import open_checkpoint
    from gateway.tlog.merkle import leaf_hash, verify_inclusion
    from gateway.tlog.note import parse_verifier_key

    if bundle.get("v") != BUNDLE_VERSION:
        raise UntrustedInputError("unknown evidence bundle version")
    req = bundle.get("request")
    if not isinstance(req, Mapping):
        raise UntrustedInputError("evidence bundle has no request")
    signed_request = SignedBlob.from_json(req, "request")
    doc = json.loads(signed_request.data)
    caller = str(doc.get("caller"))
    issued_at = dt.datetime.fromisoformat(str(doc.get("issued_at")).replace("Z", "+00:00"))
    signed_request.verify(registry, caller, issued_at, "request")  # 1.
    request_hash = sha256(signed_request.data)
    checked = []
    for i, part in enumerate(bundle.get("results") or []):  # 2.
        checked.append(
            check_result(
                plan=SignedBlob.from_json(part["plan"], f"plan {i}"),
                attested=SignedBlob.from_json(part["attestation"], f"attestation {i}"),
                ciphertext_sha256=unb64(part["ciphertext_sha256"], "ciphertext digest"),
                registry=registry,
                gateway_id=GATEWAY_ID,
                request_hash=request_hash,
                caller=caller,
                hpke_public_key=unb64(doc.get("hpke_public_key"), "sealing key"),
                now=None,
            )
        )
    if not checked:
        raise UntrustedInputError("evidence bundle has no results")
    audit = bundle.get("audit")
    if not isinstance(audit, Mapping):
        raise UntrustedInputError("evidence bundle has no audit proof")
    verifier = parse_verifier_key(log_key)
    checkpoint = open_checkpoint(str(audit["checkpoint"]).encode(), verifier, verifier.name)  # 3.
    if int(audit["tree_size"]) != checkpoint.size:
        raise UntrustedInputError("the proof's tree size is not the checkpoint's")
    leaf = unb64(audit["leaf"], "audit leaf")
    index = int(audit["leaf_index"])
    verify_inclusion(
        leaf_hash(leaf),
        index,
        checkpoint.size,
        [unb64(h, "proof hash") for h in audit["proof"]],
        checkpoint.root_hash,
    )
    entry = json.loads(leaf)  # 4.
    if entry.get("caller") != caller or entry.get("request_hash") != request_hash.hex():
        raise UntrustedInputError("the audit entry records another request")
    if entry.get("decision") != "allow" or entry.get("index") != index:
        raise UntrustedInputError("the audit entry is not this allowed request")
    if entry.get("user_commitment", "") != doc.get("user", ""):
        raise UntrustedInputError("the audit entry records another end user than the request")
    logged = sorted(str(r.get("sha256")) for r in entry.get("results", []))
    if logged != sorted(r.ciphertext_sha256.hex() for r in checked):
        raise UntrustedInputError("the audit entry records other results than the bundle's")
    witnesses: tuple[str, ...] = ()
    if policy is not None:  # 5.
        witnesses = policy.check(str(audit["checkpoint"]).encode(), [verifier]).cosigners
    return EvidenceSummary(
        witnesses=witnesses,
        caller=caller,
        purpose=str(doc.get("purpose")),
        dataset=str(doc.get("dataset")),
        case_reference=str(doc.get("case_reference")),
        adapters=tuple(r.adapter_id for r in checked),
        rows=sum(r.rows for r in checked),
        leaf_index=index,
        checkpoint_size=checkpoint.size,
        user_commitment=str(doc.get("user", "")),
    )


def bundle_tlog_proof(bundle: Mapping[str, Any]) -> TlogProof:
    """The bundle's audit proof as C2SP tlog-proof@v1, the audit leaf as its extra data."""
    from gateway.tlog.proof import TlogProof

    audit = bundle.get("audit")
    if not isinstance(audit, Mapping):
        raise UntrustedInputError("evidence bundle has no audit proof")
    return TlogProof(
        index=int(audit["leaf_index"]),
        proof=tuple(unb64(h, "proof hash") for h in audit["proof"]),
        checkpoint=str(audit["checkpoint"]).encode(),
        extra=unb64(audit["leaf"], "audit leaf"),
    )
