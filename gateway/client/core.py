"""The caller's client library: one call signs, sends, verifies, opens and merges.

    async with GerbangClient.connect("127.0.0.1:7443", pki_dir, "dishub-atcs") as client:
        result = await client.query(Query(...))
        result.rows, result.receipt
        bundle = await client.evidence(result)   # with the audit inclusion proof

It speaks mTLS with the caller's certificate and signs each request with the
caller's registered Ed25519 key (a fresh nonce, the time, and the X25519 key
results must be sealed to). For every adapter's part it checks the gateway's
plan signature and the plan's binding to this request, the adapter's signed
attestation of the sealed result, and only then opens the HPKE ciphertext.
Record-level rows are concatenated, group counts summed. A request under a case reference
is accepted only if every plan carried the binding to that case (`check_case_binding`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from google.protobuf.message import DecodeError

from gateway.errors import GerbangError, TransportError, UntrustedInputError
from gateway.protocol.capabilities import Capabilities
from gateway.protocol.evidence import (
    BUNDLE_VERSION,
    NONCE_BYTES,
    SignedBlob,
    b64,
    check_result,
    open_result,
    sha256,
    sign_request,
)
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import Keystore, RegistryFile, Signer
from gateway.protocol.model import Query, QueryPlan, Scalar, rows_from_result
from gateway.protocol.tls import TlsFiles, peer_certificate_identity
from gerbang.v1 import common_pb2, query_pb2, query_pb2_grpc

__all__ = [
    "AuditUnavailable",
    "CallerKeys",
    "GerbangClient",
    "InvalidQuery",
    "Overloaded",
    "PartRefused",
    "PolicyDenied",
    "QueryRefused",
    "QueryResult",
    "Receipt",
    "StreamExpired",
    "TransportError",
    "Unauthenticated",
]

Row = dict[str, Scalar | None]


class QueryRefused(GerbangError):
    """The gateway refused the request; `code` and `message` are its gRPC status.

    The subclasses say why (`PolicyDenied`, `InvalidQuery`, `Unauthenticated`,
    `AuditUnavailable`, `Overloaded`), read from the status's google.rpc ErrorInfo,
    never from its message text: `reason`, `reasons`, `request_id` and `audit_index`.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        reasons: Sequence[str] = (),
        request_id: str = "",
        audit_index: int | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.reasons = tuple(reasons)
        self.request_id = request_id
        self.audit_index = audit_index


class PolicyDenied(QueryRefused):
    """The policy, a privacy budget or an adapter's minimisation check said no."""


class InvalidQuery(QueryRefused):
    """The gateway found the request malformed, out of range, or too large."""


class Unauthenticated(QueryRefused):
    """The gateway did not accept the request's signature, key, freshness or nonce."""


class AuditUnavailable(QueryRefused):
    """The gateway's audit log could not record the request: nothing was released. Retry."""


class Overloaded(QueryRefused):
    """The gateway is at a limit for this caller or overall: retry later."""


class StreamExpired(QueryRefused):
    """A stream reached the caller's maximum lifetime: renew it with a freshly signed request."""


# ErrorInfo reasons (gateway/service/refusals.py) -> the exception a caller catches.
_REASONS: Final[Mapping[str, type[QueryRefused]]] = {
    "POLICY_DENIED": PolicyDenied,
    "PRIVACY_BUDGET_EXHAUSTED": PolicyDenied,
    "ADAPTER_REFUSED": PolicyDenied,
    "INVALID_REQUEST": InvalidQuery,
    "REQUEST_TOO_LARGE": InvalidQuery,
    "REQUEST_NOT_AUTHENTICATED": Unauthenticated,
    "AUDIT_UNAVAILABLE": AuditUnavailable,
    "AUDIT_CORRUPT": AuditUnavailable,
    "OVERLOADED": Overloaded,
    "STREAM_EXPIRED": StreamExpired,
}
# A status without details (from gRPC itself, or a proxy) by its code alone.
_CODES: Final[Mapping[grpc.StatusCode, type[QueryRefused]]] = {
    grpc.StatusCode.PERMISSION_DENIED: PolicyDenied,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidQuery,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
}
_STATUS_DETAILS: Final = "grpc-status-details-bin"


def _error_info(e: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo of a failed call's google.rpc.Status, if it carries one."""
    for key, value in e.trailing_metadata() or ():
        if key != _STATUS_DETAILS or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.TypeName() == info.DESCRIPTOR.full_name and detail.Unpack(info):
                return info
    return None


def refused(e: grpc.aio.AioRpcError) -> QueryRefused:
    """A refusal as its typed exception, from the status's ErrorInfo (or its code alone)."""
    info = _error_info(e)
    details = e.details() or ""
    if info is None:
        return _CODES.get(e.code(), QueryRefused)(e.code(), details)
    index = info.metadata.get("audit_index", "")
    reasons = info.metadata.get("reasons", "")
    kind = _REASONS.get(info.reason) or _CODES.get(e.code(), QueryRefused)
    return kind(
        e.code(),
        details,
        reason=info.reason,
        reasons=tuple(r for r in reasons.split("\n") if r),
        request_id=info.metadata.get("request_id", ""),
        audit_index=int(index) if index.isdigit() else None,
    )


class PartRefused(UntrustedInputError):
    """One adapter's part of an answer does not verify or open; nothing of the answer is
    released. `adapter` is the adapter the gateway named for the part."""

    def __init__(self, adapter: str, message: str) -> None:
        super().__init__(message)
        self.adapter = adapter


@dataclass(frozen=True)
class Receipt:
    """Where the request sits in the audit log: prove it with AuditService.GetInclusionProof."""

    leaf_index: int
    entry_hash: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class CallerKeys:
    """The caller's signing key, its HPKE private keys, and the federation's registry."""

    identity: str
    signer: Signer
    hpke: Mapping[bytes, X25519PrivateKey]  # public bytes -> private key (all in overlap)
    current_hpke: bytes
    registry: RegistryFile

    @classmethod
    def load(cls, keys_dir: Path, slug: str, identity: str) -> CallerKeys:
        registry = RegistryFile(keys_dir / "registry.json")
        now = dt.datetime.now(dt.UTC)
        keystore = Keystore(keys_dir / slug)
        hpke_keys = {
            k.public: keystore.hpke_key(k.key_id)
            for k in registry.get().keys
            if k.owner == identity and k.kind == "hpke" and k.problem_at(now) is None
        }
        current = registry.get().current(identity, "hpke", now)
        return cls(
            identity, Signer.current(keys_dir, slug, identity), hpke_keys, current.public, registry
        )


@dataclass(frozen=True)
class Privacy:
    """How an aggregate answer was released (docs/adr/0009): its mechanism, the noise's
    epsilon and the minimum noisy count k; what it cost (nothing when `held`: the same
    release as an earlier identical question); and the caller's account on the data periods
    it read: the most spent on any, the limit per period, the least left."""

    mechanism: str
    epsilon: float
    min_cell_count: int
    epsilon_charged: float
    held: bool
    periods: str
    spent: float
    limit: float
    remaining: float
    held_until: dt.datetime | None

    @classmethod
    def from_proto(cls, p: query_pb2.PrivacyRelease) -> Privacy:
        return cls(
            p.mechanism,
            p.epsilon,
            p.min_cell_count,
            p.epsilon_charged,
            p.held,
            p.periods,
            p.spent,
            p.limit,
            p.remaining,
            p.held_until.ToDatetime(tzinfo=dt.UTC) if p.HasField("held_until") else None,
        )


def check_mechanism(plans: Sequence[QueryPlan], response: query_pb2.QueryResponse) -> None:
    """Counts for an aggregate-only purpose must have been released with noise: every signed
    plan carries the same epsilon and release, and the gateway says so. Raises
    `UntrustedInputError` otherwise: exact counts could be differenced."""
    counted = [
        p
        for p in plans
        if p.aggregate_only and p.aggregation is not None and p.aggregation.measure == "count"
    ]
    if not counted:
        return
    if len(counted) != len(plans) or any(p.epsilon is None or not p.release_id for p in plans):
        raise UntrustedInputError(
            "aggregate counts came without a privacy mechanism in their signed plans"
        )
    if len({(p.epsilon, p.release_id) for p in plans}) != 1:
        raise UntrustedInputError("the parts of one answer name different releases")
    if not response.HasField("privacy") or response.privacy.epsilon != plans[0].epsilon:
        raise UntrustedInputError("the gateway did not report the release's mechanism")


@dataclass(frozen=True)
class QueryResult:
    rows: list[Row]
    columns: tuple[str, ...]
    receipt: Receipt
    request_id: str
    granted_fields: tuple[str, ...]
    policy_revision: str
    adapters: tuple[str, ...]
    suppressed_groups: int
    # The signed request and each part's signed plan and attestation, for evidence.
    evidence: dict[str, Any] = field(default_factory=dict)
    # A differentially private answer: the epsilon left for this purpose in the budget
    # period after it, and the period ("2026-11"); None and "" when no budget was spent.
    privacy_budget_remaining: float | None = None
    privacy_budget_period: str = ""
    # The plans the adapters answered, as the gateway signed them (obligations included).
    plans: tuple[QueryPlan, ...] = ()
    # How an aggregate answer was released, and the caller's privacy accounts after it.
    privacy: Privacy | None = None


# gRPC's own text when no connection could be made; the gateway never says it.
_NOT_CONNECTED: Final = "failed to connect to all addresses"
# How a TLS handshake the gateway refused shows in it: with TLS 1.3 the server checks the
# client's certificate after the client's side of the handshake is done, and closes.
_TLS_REFUSED: Final = ("Socket closed", "handshake", "Handshake", "SSL", "certificate")


def refusal(e: grpc.aio.AioRpcError) -> TransportError | QueryRefused:
    """What a failed call to the gateway means: refused with a reason (the gateway's
    google.rpc details say so), or else unreachable."""
    if _error_info(e) is not None:
        return refused(e)
    details = e.details() or ""
    if e.code() is grpc.StatusCode.UNAVAILABLE and _NOT_CONNECTED in details:
        if any(word in details for word in _TLS_REFUSED):
            return TransportError(
                "TLS handshake with the gateway failed: it accepts only a client certificate "
                "issued by the federation CA. Check this identity's certificate and key "
                f"(gerbang pki). ({details})"
            )
        return TransportError(f"gateway unreachable ({details})")
    if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not details:
        return TransportError(f"gateway unreachable: {e.code().name}")
    return refused(e)


def merge(parts: Sequence[common_pb2.ResultSet]) -> tuple[tuple[str, ...], list[Row], int]:
    """Merge the federated parts of one answer.

    Aggregates (a trailing `count` column) are summed per group, H3 cells included: each
    adapter holds different incidents, so the noisy parts of a cell add up to a noisy total
    (sums of released counts are post-processing, no extra privacy cost). `exists` is or-ed;
    record-level rows are concatenated.
    """
    if not parts:
        return (), [], 0
    columns = tuple(parts[0].columns)
    if any(tuple(p.columns) != columns for p in parts):
        raise UntrustedInputError("adapters answered with different columns")
    suppressed = sum(p.suppressed_groups for p in parts)
    decoded = [rows_from_result(p) for p in parts]
    if columns == ("exists",):
        hit = any(bool(r["exists"]) for rows in decoded for r in rows)
        return columns, [{"exists": hit}], suppressed
    if columns and columns[-1] == "count":
        keys = columns[:-1]
        totals: dict[tuple[Any, ...], int] = {}
        for rows in decoded:
            for r in rows:
                key = tuple(r[k] for k in keys)
                count = r["count"]
                totals[key] = totals.get(key, 0) + (count if isinstance(count, int) else 0)
        merged = [
            dict(zip(keys, key, strict=True)) | {"count": n}
            for key, n in sorted(totals.items(), key=_sort_key)
        ]
        return columns, merged, suppressed
    return columns, [r for rows in decoded for r in rows], suppressed


def check_case_binding(query: Query, plans: Sequence[QueryPlan]) -> None:
    """A request under a case reference must have been answered within that case: every plan
    the adapters ran carries the binding to it (ADR 0013). Checked on the signed plans, as the
    reported-only filter of analytics is, never assumed."""
    if not query.case_reference:
        return
    for plan in plans:
        binding = plan.case_binding
        if binding is None or binding.reference != query.case_reference:
            raise UntrustedInputError(
                f"plan {plan.plan_id} is not bound to the case the request was made under; "
                "its rows may come from outside the case"
            )


def _sort_key(item: tuple[tuple[Any, ...], int]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in item[0])


class GerbangClient:
    def __init__(self, channel: grpc.aio.Channel, keys: CallerKeys) -> None:
        self._channel = channel
        self._stub = query_pb2_grpc.QueryServiceStub(channel)
        self.keys = keys

    @classmethod
    def connect(
        cls, address: str, pki_dir: Path, identity: str, keys_dir: Path | None = None
    ) -> GerbangClient:
        """`identity` names the caller's certificate and keystore (e.g. "dishub-atcs")."""
        tls = TlsFiles.load(pki_dir, identity)
        spiffe = peer_certificate_identity(tls.cert)
        keys = CallerKeys.load(keys_dir or pki_dir.parent / "keys", identity, spiffe)
        return cls(grpc.aio.secure_channel(address, tls.channel_credentials()), keys)

    @property
    def channel(self) -> grpc.aio.Channel:
        return self._channel

    async def __aenter__(self) -> GerbangClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def query_raw(
        self, request: query_pb2.QueryRequest, timeout: float = 60.0
    ) -> query_pb2.QueryResponse:
        try:
            response: query_pb2.QueryResponse = await self._stub.Query(request, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            raise refusal(e) from e
        return response

    def sign(
        self,
        query: Query,
        now: dt.datetime | None = None,
        nonce: bytes | None = None,
        *,
        user: bytes | None = None,
    ) -> tuple[query_pb2.RequestAuth, bytes]:
        """This caller's signature over `query`, as the request's auth, and the canonical
        bytes it signed. `user` is the end user's 32-byte commitment
        (`gateway.protocol.evidence.user_commitment`), or None when no user is named."""
        auth, canonical = sign_request(
            self.keys.identity,
            query,
            self.keys.signer,
            self.keys.current_hpke,
            now or dt.datetime.now(dt.UTC),
            nonce or os.urandom(NONCE_BYTES),
            user or b"",
        )
        out = query_pb2.RequestAuth(
            nonce=auth.nonce,
            hpke_public_key=auth.hpke_public_key,
            key_id=auth.key_id,
            signature=auth.signature,
            user_commitment=auth.user_commitment,
        )
        out.issued_at.FromDatetime(auth.issued_at)
        return out, canonical

    def signed_request(
        self,
        query: Query,
        now: dt.datetime | None = None,
        nonce: bytes | None = None,
        *,
        user: bytes | None = None,
    ) -> tuple[query_pb2.QueryRequest, bytes, bytes]:
        """The request proto signed by this caller, its canonical bytes and its signature."""
        auth, canonical = self.sign(query, now, nonce, user=user)
        request = query.to_proto()
        request.auth.CopyFrom(auth)
        return request, canonical, auth.signature

    async def query(
        self, query: Query, timeout: float = 60.0, *, user: bytes | None = None
    ) -> QueryResult:
        """Sign, send, verify, open and merge. `user`: the end user's commitment."""
        request, canonical, signature = self.signed_request(query, user=user)
        response = await self.query_raw(request, timeout)
        result = self.open_response(response, canonical, signature)
        check_case_binding(query, result.plans)
        return result

    async def capabilities(self, timeout: float = 30.0) -> Capabilities:
        """What this caller may ask, read from the policy in force (and audited)."""
        try:
            response: query_pb2.CapabilitiesResponse = await self._stub.Capabilities(
                query_pb2.CapabilitiesRequest(), timeout=timeout
            )
        except grpc.aio.AioRpcError as e:
            raise refusal(e) from e
        return Capabilities.from_proto(response)

    def open_response(
        self, response: query_pb2.QueryResponse, canonical: bytes, signature: bytes
    ) -> QueryResult:
        """Verify every part of `response` against the request, then open and merge."""
        if not response.results:
            # An allowed answer always carries one signed part per adapter, even with no
            # rows: an answer with none proves nothing and is not "no data".
            raise UntrustedInputError(
                "the gateway allowed the request but sent no adapter results; refusing it"
            )
        request_hash = sha256(canonical)
        registry = self.keys.registry.get()
        now = dt.datetime.now(dt.UTC)
        parts = []
        plans = []
        evidence_parts = []
        for r in response.results:
            plan = SignedBlob(r.plan.data, r.plan.key_id, r.plan.signature)
            attested = SignedBlob(r.attestation.data, r.attestation.key_id, r.attestation.signature)
            try:
                checked = check_result(
                    plan=plan,
                    attested=attested,
                    ciphertext_sha256=sha256(r.payload),
                    registry=registry,
                    gateway_id=GATEWAY_ID,
                    request_hash=request_hash,
                    caller=self.keys.identity,
                    hpke_public_key=None,
                    now=now,
                )
                key = self.keys.hpke.get(bytes(checked.plan.caller_hpke_public_key))
                if key is None:
                    raise UntrustedInputError(
                        f"result of {checked.adapter_id} is sealed to a key this caller does not "
                        "hold"
                    )
                clear = open_result(r.payload, key, checked.plan_hash)
            except UntrustedInputError as e:
                raise PartRefused(r.adapter_id, str(e)) from e
            plans.append(QueryPlan.from_proto(checked.plan))
            parts.append(common_pb2.ResultSet.FromString(clear))
            evidence_parts.append(
                {
                    "plan": plan.to_json(),
                    "attestation": attested.to_json(),
                    "ciphertext_sha256": b64(checked.ciphertext_sha256),
                }
            )
        check_mechanism(plans, response)
        columns, rows, suppressed = merge(parts)
        return QueryResult(
            rows=rows,
            columns=columns,
            receipt=Receipt(
                response.receipt.leaf_index, response.receipt.entry_hash, response.receipt.leaf_hash
            ),
            request_id=response.request_id,
            granted_fields=tuple(response.granted_fields),
            policy_revision=response.policy_revision,
            adapters=tuple(r.adapter_id for r in response.results),
            suppressed_groups=suppressed,
            evidence={
                "v": BUNDLE_VERSION,
                "request": SignedBlob(canonical, self.keys.signer.key_id, signature).to_json(),
                "results": evidence_parts,
            },
            privacy_budget_remaining=response.privacy_budget_remaining
            if response.privacy_budget_period
            else None,
            privacy_budget_period=response.privacy_budget_period,
            plans=tuple(plans),
            privacy=Privacy.from_proto(response.privacy) if response.HasField("privacy") else None,
        )

    async def evidence(
        self, result: QueryResult, wait: float = 10.0, cosignatures: int = 0
    ) -> dict[str, Any]:
        """The full evidence bundle: `result.evidence` plus the audit entry and its
        inclusion proof against a signed checkpoint (waits for the next checkpoint, and
        for one carrying at least `cosignatures` witness cosignatures)."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                proof = await self._stub.ProveReceipt(
                    query_pb2.ProveReceiptRequest(leaf_index=result.receipt.leaf_index), timeout=5
                )
                # The log's signature line plus one line per cosignature (C2SP signed-note).
                if proof.checkpoint.count("\n\u2014 ".encode()) - 1 >= cosignatures:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise QueryRefused(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no checkpoint with {cosignatures} cosignatures within {wait} s",
                    )
                await asyncio.sleep(0.25)
                continue
            except grpc.aio.AioRpcError as e:
                if (
                    e.code() != grpc.StatusCode.UNAVAILABLE
                    or asyncio.get_running_loop().time() > deadline
                ):
                    raise refused(e) from e
                await asyncio.sleep(0.25)
        return {
            **result.evidence,
            "audit": {
                "leaf": b64(proof.leaf),
                "leaf_index": result.receipt.leaf_index,
                "tree_size": proof.tree_size,
                "proof": [b64(h) for h in proof.proof],
                "checkpoint": proof.checkpoint.decode(),
            },
        }
