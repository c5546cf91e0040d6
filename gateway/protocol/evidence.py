"""The evidence bundle: what a caller keeps, and its offline check (pure).

A bundle holds the signed request, each adapter's signed plan and attestation, and the audit
entry with its inclusion proof and checkpoint; a third party checks it with only the public
keys and the log's checkpoint key (docs/adr/0005). The envelopes it checks are
`gateway.protocol.signed_request`, `signed_plan`, `attestation` and `sealing`.
Every check raises (`SignatureError`, `UntrustedInputError`, `AuditIntegrityError`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from gateway.errors import GerbangError, UntrustedInputError
from gateway.protocol.attestation import check_result
from gateway.protocol.encoding import sha256, unb64
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.signed_plan import SignedBlob

if TYPE_CHECKING:
    from gateway.tlog.proof import TlogProof
    from gateway.tlog.witness_policy import WitnessPolicy


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
