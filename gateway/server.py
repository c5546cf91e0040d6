"""The gateway: a grpc.aio server, mTLS only, serving QueryService and AuditService.

One query, in order (DESIGN.md, "One query, end to end"):
1. the caller's identity is the SPIFFE URI SAN of its verified client certificate;
2. the request is checked for size and shape, then against the adapters' catalogue;
3. the policy engine decides (errors, timeouts and malformed answers are denials);
4. a denial is audited, then returned as PERMISSION_DENIED with its reasons;
5. an allowed query becomes one plan per adapter serving the dataset (fan-out); with a
   differential-privacy epsilon, the release is first charged to the privacy accounts of
   the data periods it reads, or found held (`gateway.releasing`; over budget: a denial,
   and no plan is signed or sent);
6. the adapters' opaque payloads come back; the gateway records their digests;
7. the audit entry is durably committed, and only then do the results leave.
Every outcome after authentication, allowed, denied or failed, is one audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn, TypeAlias, TypeVar

import grpc
import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway import model
from gateway.analytics.service import AnalyticsServicer
from gateway.audit._checkpoint import parse_cosigner_key
from gateway.audit._merkle import leaf_hash
from gateway.audit.checkpoints import Checkpointer, LogKey
from gateway.audit.details import load_public_key, seal_details
from gateway.audit.entry import AuditRecord, ResultDigest, describe_query, query_details
from gateway.audit.names import RegisteredNames, committed_unless
from gateway.audit.releases import BudgetExhausted, ReleaseLedger
from gateway.audit.service import AuditService
from gateway.audit.store import AuditStore, AuditWriter
from gateway.audit.witnessing import TlogWitness
from gateway.capabilities import describe
from gateway.catalog import Catalog, Dataset
from gateway.errors import ConfigurationError, GerbangError, PolicyDenied, UntrustedInputError
from gateway.evidence import (
    RequestAuth,
    SignedBlob,
    check_result,
    sha256,
    sign_blob,
    verify_request,
)
from gateway.health_port import start_health_port
from gateway.identities import GATEWAY_ID
from gateway.keys import RegistryFile, Signer
from gateway.model import MAX_REQUEST_BYTES, InvalidQuery, Query
from gateway.observability import AUDIT_APPEND, LATENCY, POLICY_DECISION, REQUESTS
from gateway.planning import narrow, policy_input, row_filters
from gateway.policy import Decision, PolicyEngine
from gateway.policy.bundle import PolicyBundle, load_bundle
from gateway.reflection import enable_reflection
from gateway.release import PrivacyBudget, data_periods
from gateway.releasing import PrivacyRegistry, charge_release, privacy_message
from gateway.replay import ReplayGuard
from gateway.tls import TlsFiles, peer_identity
from gateway.wire import MalformedRequests
from gerbang.v1 import (
    adapter_pb2,
    adapter_pb2_grpc,
    analytics_pb2,
    analytics_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)

log = structlog.get_logger("gerbang.gateway")

ADAPTER_TIMEOUT: Final = 30.0
# How long sealed details of a denied or refused request are kept (allowed requests
# keep them as long as their purpose's retention).
DENIAL_RETENTION_DAYS: Final = 365
# gRPC refuses anything larger before a handler runs; between MAX_REQUEST_BYTES
# and this, the handler refuses it and the refusal is audited.
GRPC_MAX_RECEIVE: Final = 1024 * 1024
_Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
# The answers that carry an audit receipt.
_Answer = TypeVar("_Answer", query_pb2.QueryResponse, query_pb2.CapabilitiesResponse)


@dataclass(frozen=True)
class AdapterLink:
    adapter_id: str
    address: str
    stub: adapter_pb2_grpc.AdapterServiceAsyncStub
    channel: grpc.aio.Channel


@dataclass
class Outcome:
    """What happened to one request, gathered for its audit entry."""

    request_id: str
    caller: str
    decision: str = "deny"
    code: grpc.StatusCode = grpc.StatusCode.OK
    reasons: tuple[str, ...] = ()
    request: dict[str, Any] = field(default_factory=dict)
    purpose: str = ""
    legal_basis: str = ""
    case_reference: str = ""
    dataset: str = ""
    fields_granted: tuple[str, ...] = ()
    revision: str = ""
    adapters: tuple[str, ...] = ()
    results: tuple[ResultDigest, ...] = ()
    details: dict[str, Any] | None = None
    retention_days: int = DENIAL_RETENTION_DAYS
    request_hash: bytes = b""
    # The end user's commitment, once the request's signature over it verified.
    user_commitment: bytes = b""
    kind: str = "query"

    def record(self, details_key: X25519PublicKey | None) -> AuditRecord:
        return AuditRecord(
            time=dt.datetime.now(dt.UTC),
            kind=self.kind,
            request_id=self.request_id,
            caller=self.caller,
            decision=self.decision,
            status=self.code.name,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            case_reference=self.case_reference,
            dataset=self.dataset,
            request=self.request,
            fields_granted=self.fields_granted,
            reasons=self.reasons,
            policy_revision=self.revision,
            adapters=self.adapters,
            results=self.results,
            sealed=None
            if details_key is None or self.details is None
            else seal_details(self.details, details_key),
            retention_days=self.retention_days,
            request_hash=self.request_hash.hex(),
            user_commitment=self.user_commitment.hex(),
        )


class Refusal(Exception):
    """Ends a request with a gRPC status after it has been audited."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Gateway(query_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        *,
        engine: PolicyEngine,
        engine_name: str,
        writer: AuditWriter,
        catalog: Catalog,
        adapters: Mapping[str, AdapterLink],
        commitment_key: bytes,
        keys: RegistryFile,
        plan_signer: Signer,
        replay: ReplayGuard,
        store: AuditStore,
        details_key: X25519PublicKey | None = None,
        policies_dir: Path | None = None,
    ) -> None:
        self.keys = keys
        self.plan_signer = plan_signer
        self.replay = replay
        self.store = store
        self.engine = engine
        self.engine_name = engine_name
        self.writer = writer
        self.catalog = catalog
        self.adapters = adapters
        self.commitment_key = commitment_key
        self.details_key = details_key
        self.ledger = ReleaseLedger(store)
        self.policies_dir = policies_dir
        data = {} if policies_dir is None else load_bundle(policies_dir).data
        self.privacy = PrivacyRegistry.from_data(data)
        # The registry constants a leaf may name in clear; anything else is committed.
        self.names = RegisteredNames.from_data(data)
        # The bundle the engine evaluates, read again whenever the engine's revision moves.
        self._bundle: PolicyBundle | None = None

    async def Query(
        self, request: query_pb2.QueryRequest, context: _Context
    ) -> query_pb2.QueryResponse:
        return await self.serve(
            request,
            lambda: Query.from_proto(request),
            request.auth if request.HasField("auth") else None,
            context,
            method="Query",
        )

    async def serve(
        self,
        request: Message,
        build: Callable[[], model.Query],
        auth: query_pb2.RequestAuth | None,
        context: _Context,
        *,
        method: str,
        service: str = "QueryService",
    ) -> query_pb2.QueryResponse:
        """One request from receipt to release: `build` makes the query from `request`
        (QueryService sends one; AnalyticsService compiles one from an operation)."""
        started = time.perf_counter()
        caller = await self.identify(context, service, method)
        outcome = Outcome(uuid.uuid4().hex, caller)
        response: query_pb2.QueryResponse | None = None
        message = ""
        try:
            now = dt.datetime.now(dt.UTC)
            query, dataset, signed = await self.admit(request, build, auth, outcome, now)
            response = await self.release(query, dataset, signed, outcome, now)
        except Refusal as r:
            outcome.code = r.code
            message = r.message
        response = await self.finish(outcome, response, message, context, service, method)
        LATENCY.labels(service, method).observe(time.perf_counter() - started)
        return response

    async def identify(self, context: _Context, service: str, method: str) -> str:
        """The caller's SPIFFE identity from its verified certificate, or abort."""
        caller = peer_identity(context.auth_context())
        if caller is None:
            REQUESTS.labels(service, method, "deny", "UNAUTHENTICATED").inc()
            log.warning("no SPIFFE identity in client certificate")
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "client certificate carries no single spiffe:// URI SAN",
            )
            raise AssertionError("unreachable: abort raises")
        return caller

    async def finish(
        self,
        outcome: Outcome,
        response: _Answer | None,
        message: str,
        context: _Context,
        service: str,
        method: str,
    ) -> _Answer:
        """Append the request's audit entry; only once it is durable does anything leave."""
        bound = log.bind(request_id=outcome.request_id, caller=outcome.caller)
        t0 = time.perf_counter()
        try:
            entry = await self.writer.append(outcome.record(self.details_key))
        except Exception as e:
            bound.error("audit append failed", error=str(e))
            REQUESTS.labels(service, method, outcome.decision, "UNAVAILABLE").inc()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "audit log unavailable; nothing released"
            )
            raise  # abort raises; this line is never reached
        AUDIT_APPEND.observe(time.perf_counter() - t0)
        REQUESTS.labels(service, method, outcome.decision, outcome.code.name).inc()
        bound.info(
            "query",
            method=method,
            purpose=outcome.purpose,
            dataset=outcome.dataset,
            decision=outcome.decision,
            code=outcome.code.name,
            audit_index=entry.index,
            rows=sum(r.rows for r in outcome.results),
        )
        if response is None:
            await context.abort(
                outcome.code,
                f"{message} [request {outcome.request_id}, audit entry {entry.index}]",
            )
            raise AssertionError("unreachable: abort raises")
        response.receipt.leaf_index = entry.index
        response.receipt.entry_hash = entry.entry_hash
        response.receipt.leaf_hash = leaf_hash(entry.leaf)
        return response

    async def admit(
        self,
        request: Message,
        build: Callable[[], model.Query],
        auth: query_pb2.RequestAuth | None,
        outcome: Outcome,
        now: dt.datetime,
    ) -> tuple[model.Query, Dataset, RequestAuth]:
        """Size, shape, catalogue and signature: the request as a valid, signed, new query."""
        # What the log may say about a request that failed to parse: registered names only,
        # anything else as a keyed commitment (ADR 0013).
        scope = getattr(request, "scope", request)
        outcome.purpose = self._named("purpose", str(getattr(scope, "purpose", "")))
        outcome.dataset = self._named("dataset", str(getattr(request, "dataset", "incidents")))
        size = request.ByteSize()
        if size > MAX_REQUEST_BYTES:
            outcome.reasons = (f"request of {size} bytes exceeds the limit of {MAX_REQUEST_BYTES}",)
            raise Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, outcome.reasons[0])
        try:
            query = build()
            dataset = self.catalog.dataset(query.dataset)
            dataset.check(query)
        except InvalidQuery as e:
            outcome.reasons = (str(e),)
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {e}") from e
        self.describe(outcome, query)
        signed = await self._authenticate(auth, query, outcome, now)
        return query, dataset, signed

    def _named(self, slot: str, text: str) -> str:
        """`text` as a leaf may hold it: in clear if a registry constant, else committed."""
        registered = {
            "purpose": self.names.purposes,
            "dataset": self.names.datasets | self.catalog.datasets.keys(),
            "legal_basis": self.names.legal_bases,
            "case_reference": self.names.cases,
        }[slot]
        return committed_unless(self.commitment_key, slot, text, registered)

    def describe(self, outcome: Outcome, query: model.Query) -> None:
        """What the audit entry says about the query: filter values only as commitments, and
        the purpose, legal basis and case reference in clear only when registered (the typed
        text then goes only into the sealed details)."""
        outcome.request = describe_query(self.commitment_key, query)
        if query.operation:
            outcome.request["operation"] = query.operation
        outcome.details = query_details(query)
        outcome.dataset = query.dataset  # in the catalogue: the adapters serve it
        typed = {
            "purpose": query.purpose,
            "legal_basis": query.legal_basis,
            "case_reference": query.case_reference,
        }
        named = {slot: self._named(slot, text) for slot, text in typed.items()}
        outcome.purpose = named["purpose"]
        outcome.legal_basis = named["legal_basis"]
        outcome.case_reference = named["case_reference"]
        committed = {slot: typed[slot] for slot in typed if named[slot] != typed[slot]}
        if committed:
            outcome.details["typed"] = committed

    async def release(
        self,
        query: model.Query,
        dataset: Dataset,
        auth: RequestAuth,
        outcome: Outcome,
        now: dt.datetime,
    ) -> query_pb2.QueryResponse:
        """Decide, spend any privacy budget, fan the plans out and collect sealed answers."""
        t0 = time.perf_counter()
        outcome.user_commitment = auth.user_commitment
        decision: Decision = await self.engine.decide(
            policy_input(outcome.caller, query, now, user_committed=bool(auth.user_commitment))
        )
        POLICY_DECISION.labels(self.engine_name).observe(time.perf_counter() - t0)
        outcome.revision = decision.revision
        outcome.reasons = tuple(decision.reasons)
        if decision.failed:
            # No decision was made (engine down, late, untrusted): an outage, not a denial.
            outcome.decision = "error"
            raise Refusal(
                grpc.StatusCode.UNAVAILABLE,
                f"policy decision point unavailable; nothing released: {decision.reasons[0]}",
            )
        if not decision.allow:
            denied = PolicyDenied(decision.reasons)
            raise Refusal(grpc.StatusCode.PERMISSION_DENIED, f"denied by policy: {denied}")
        outcome.decision = "allow"
        ob = decision.obligations
        outcome.retention_days = ob.retention_days
        try:
            extra = row_filters(dataset, ob.row_filters)
            adapters = self.catalog.adapters.get(query.dataset, ())
            plans = [
                narrow(
                    query,
                    fields=ob.fields,
                    extra_filters=extra,
                    aggregate_only=ob.aggregate_only,
                    max_rows=ob.max_rows,
                    min_cell_count=ob.min_cell_count,
                    request_id=outcome.request_id,
                    adapter_id=a,
                    policy_revision=decision.revision,
                    now=now,
                    request_hash=outcome.request_hash,
                    caller=outcome.caller,
                    caller_hpke_public_key=auth.hpke_public_key,
                    epsilon=ob.epsilon,
                    case_binding=ob.case_binding,
                )
                for a in adapters
            ]
        except InvalidQuery as e:
            outcome.decision = "error"
            outcome.reasons = (f"cannot apply the policy's obligations: {e}",)
            raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, outcome.reasons[0]) from e
        outcome.fields_granted = plans[0].fields if plans else ()
        charge = None
        if ob.epsilon is not None and plans:
            plans, charge = await self._charge(plans, outcome, now)
        outcome.adapters = tuple(adapters)
        results = await self._fan_out(plans, outcome)
        response = query_pb2.QueryResponse(
            request_id=outcome.request_id,
            results=results,
            granted_fields=list(outcome.fields_granted),
            policy_revision=decision.revision,
        )
        if charge is not None:
            response.privacy_budget_remaining = charge.remaining
            response.privacy_budget_period = charge.period_range
            response.privacy.CopyFrom(privacy_message(plans[0], charge))
        return response

    async def _charge(
        self, plans: list[model.QueryPlan], outcome: Outcome, now: dt.datetime
    ) -> tuple[list[model.QueryPlan], Any]:
        """Charge the release to its privacy accounts before any plan is signed (ADR 0009).

        Charged even if an adapter then fails: the budget errs on the side of the persons in
        the data. Over budget is a denial, audited like any other.
        """
        try:
            return await charge_release(
                self.ledger, self.privacy, plans, caller=outcome.caller, now=now
            )
        except InvalidQuery as e:
            outcome.decision = "error"
            outcome.reasons = (f"cannot account for the release: {e}",)
            raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, outcome.reasons[0]) from e
        except BudgetExhausted as e:
            outcome.decision = "deny"
            outcome.fields_granted = ()
            outcome.reasons = e.reasons
            raise Refusal(grpc.StatusCode.PERMISSION_DENIED, f"denied by policy: {e}") from e

    async def _fan_out(
        self, plans: Sequence[Any], outcome: Outcome
    ) -> list[query_pb2.AdapterResult]:
        registry = self.keys.get()
        signed = [sign_blob(p.to_proto().SerializeToString(), self.plan_signer) for p in plans]

        async def one(plan: Any, blob: SignedBlob) -> adapter_pb2.ExecuteResponse:
            link = self.adapters[plan.adapter_id]
            req = adapter_pb2.ExecuteRequest(
                plan=blob.data, key_id=blob.key_id, signature=blob.signature
            )
            response: adapter_pb2.ExecuteResponse = await link.stub.Execute(
                req, timeout=ADAPTER_TIMEOUT
            )
            # The gateway cannot open the result, but it refuses to forward (and
            # records) an answer that its adapter did not attest to this plan.
            check_result(
                plan=blob,
                attested=SignedBlob(response.attestation, response.key_id, response.signature),
                ciphertext_sha256=sha256(response.payload),
                registry=registry,
                gateway_id=GATEWAY_ID,
                request_hash=outcome.request_hash,
                caller=outcome.caller,
                hpke_public_key=None,
                now=dt.datetime.now(dt.UTC),
            )
            return response

        answers = await asyncio.gather(
            *(one(p, b) for p, b in zip(plans, signed, strict=True)), return_exceptions=True
        )
        failures = [
            (p.adapter_id, a)
            for p, a in zip(plans, answers, strict=True)
            if isinstance(a, BaseException)
        ]
        if failures:
            # All or nothing: a partial federated answer would mislead the caller.
            outcome.decision = "error"
            reasons = []
            for adapter_id, err in failures:
                if isinstance(err, grpc.aio.AioRpcError):
                    detail = err.details() or err.code().name
                elif isinstance(err, GerbangError):
                    detail = str(err)
                else:
                    detail = type(err).__name__
                reasons.append(f"adapter {adapter_id} failed: {detail}")
            outcome.reasons = tuple(reasons)
            denied = [
                e
                for _, e in failures
                if isinstance(e, grpc.aio.AioRpcError)
                and e.code() == grpc.StatusCode.PERMISSION_DENIED
            ]
            if denied:
                # An adapter's own minimisation check refused the plan (e.g. a category
                # that would isolate fewer than k incidents): a denial, not an outage.
                outcome.decision = "deny"
                outcome.fields_granted = ()
                raise Refusal(grpc.StatusCode.PERMISSION_DENIED, "; ".join(reasons))
            raise Refusal(grpc.StatusCode.UNAVAILABLE, "; ".join(reasons))
        ok = [a for a in answers if isinstance(a, adapter_pb2.ExecuteResponse)]
        outcome.results = tuple(
            ResultDigest(a.adapter_id, sha256(a.payload).hex(), int(a.row_count)) for a in ok
        )
        return [
            query_pb2.AdapterResult(
                adapter_id=a.adapter_id,
                payload=a.payload,
                payload_sha256=sha256(a.payload),
                row_count=a.row_count,
                plan=query_pb2.SignedBlob(data=b.data, key_id=b.key_id, signature=b.signature),
                attestation=query_pb2.SignedBlob(
                    data=a.attestation, key_id=a.key_id, signature=a.signature
                ),
            )
            for a, b in zip(ok, signed, strict=True)
        ]

    async def reload_policy(self, trigger: str) -> None:
        """Reload the policies; the reload, done or refused, is itself an audit entry."""
        before = self.engine.revision
        try:
            after = await self.engine.reload()
        except GerbangError as e:
            decision, status, revision = "error", "FAILED_PRECONDITION", before
            reasons: tuple[str, ...] = (
                f"{trigger}: reload refused, revision {before} stays in force: {e}",
            )
        else:
            decision, status, revision = "allow", "OK", after
            reasons = (f"{trigger}: revision {before} replaced by {after}",)
            if self.policies_dir is not None:
                try:
                    data = load_bundle(self.policies_dir).data
                    self.privacy = PrivacyRegistry.from_data(data)
                    self.names = RegisteredNames.from_data(data)
                except GerbangError as e:  # the engine took it; keep the budgets in force
                    log.error("privacy budgets not reloaded", error=str(e))
        entry = await self.writer.append(
            AuditRecord(
                time=dt.datetime.now(dt.UTC),
                kind="policy_reload",
                request_id=uuid.uuid4().hex,
                caller=GATEWAY_ID,
                decision=decision,
                status=status,
                reasons=reasons,
                policy_revision=revision,
            )
        )
        log.info("policy reload", decision=decision, revision=revision, audit_index=entry.index)

    async def _authenticate(
        self,
        a: query_pb2.RequestAuth | None,
        query: model.Query,
        outcome: Outcome,
        now: dt.datetime,
    ) -> RequestAuth:
        """The request is signed by the mTLS identity's own key, fresh, and new."""
        if a is None or not a.signature:
            outcome.reasons = ("request is not signed",)
            raise Refusal(grpc.StatusCode.UNAUTHENTICATED, outcome.reasons[0])
        try:
            issued_at = model.timestamp_from_proto(a.issued_at, "issued_at")
        except InvalidQuery as e:
            outcome.reasons = (str(e),)
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {e}") from e
        auth = RequestAuth(
            bytes(a.nonce),
            issued_at,
            bytes(a.hpke_public_key),
            a.key_id,
            bytes(a.signature),
            bytes(a.user_commitment),
        )
        try:
            canonical = verify_request(outcome.caller, query, auth, self.keys.get(), now)
            outcome.request_hash = sha256(canonical)
            await self.replay.claim(outcome.caller, auth.nonce, auth.issued_at)
        except UntrustedInputError as e:
            outcome.reasons = (f"request refused: {e}",)
            raise Refusal(grpc.StatusCode.UNAUTHENTICATED, outcome.reasons[0]) from e
        return auth

    async def Capabilities(
        self, request: query_pb2.CapabilitiesRequest, context: _Context
    ) -> query_pb2.CapabilitiesResponse:
        """What the caller may ask, from the registry in force; one audit entry, as every call."""
        method = "Capabilities"
        started = time.perf_counter()
        outcome = Outcome(
            uuid.uuid4().hex, await self.identify(context, "QueryService", method), kind=method
        )
        response = None
        message = ""
        try:
            response = await self._capabilities(outcome)
        except Refusal as r:
            outcome.code = r.code
            message = r.message
        response = await self.finish(outcome, response, message, context, "QueryService", method)
        LATENCY.labels("QueryService", method).observe(time.perf_counter() - started)
        return response

    async def _capabilities(self, outcome: Outcome) -> query_pb2.CapabilitiesResponse:
        bundle = await self._bundle_in_force()
        outcome.revision = bundle.revision
        now = dt.datetime.now(dt.UTC)

        def left(purpose: str, budget: PrivacyBudget) -> tuple[str, float]:
            (current,) = data_periods(now, now + dt.timedelta(seconds=1), budget.period)
            return current, self.ledger.remaining(outcome.caller, purpose, current, budget)

        registry = bundle.data.get("registry")
        try:
            response = await asyncio.to_thread(
                describe, registry if isinstance(registry, Mapping) else {}, outcome.caller, left
            )
        except PolicyDenied as e:
            outcome.reasons = e.reasons
            raise Refusal(grpc.StatusCode.PERMISSION_DENIED, f"denied by policy: {e}") from e
        outcome.decision = "allow"
        response.request_id = outcome.request_id
        response.policy_revision = bundle.revision
        return response

    async def _bundle_in_force(self) -> PolicyBundle:
        """The registry data of the engine's own revision: never a copy that could differ."""
        revision = self.engine.revision
        bundle = self._bundle
        if self.policies_dir is not None and (bundle is None or bundle.revision != revision):
            try:
                bundle = await asyncio.to_thread(load_bundle, self.policies_dir)
            except ConfigurationError as e:
                bundle = None
                log.error("policy bundle unreadable for capabilities", error=str(e))
            self._bundle = bundle
        if bundle is None or bundle.revision != revision:
            raise Refusal(
                grpc.StatusCode.UNAVAILABLE,
                "kebijakan sedang dimuat ulang; coba lagi / the policy is being reloaded; retry",
            )
        return bundle

    async def ProveReceipt(
        self, request: query_pb2.ProveReceiptRequest, context: _Context
    ) -> query_pb2.ProveReceiptResponse:
        """An inclusion proof of the caller's own entry against the latest checkpoint."""
        caller = peer_identity(context.auth_context())
        index = request.leaf_index
        entries = await asyncio.to_thread(self.store.entries, index, index + 1)
        if not entries or entries[0].fields().get("caller") != caller:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no entry {index} of yours")
        checkpoint = await asyncio.to_thread(self.store.checkpoint)
        if checkpoint is None or checkpoint.size <= index:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"entry {index} is not checkpointed yet; retry"
            )
        assert checkpoint is not None
        _, proof, _ = await asyncio.to_thread(self.store.inclusion_proof, index, checkpoint.size)
        return query_pb2.ProveReceiptResponse(
            leaf=entries[0].leaf,
            tree_size=checkpoint.size,
            proof=proof,
            checkpoint=checkpoint.cosigned_note(),
        )


def _policy_stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    )


async def watch_policies(gateway: Gateway, directory: Path, interval: float = 2.0) -> None:
    """Reload the policies when their files change (and on SIGHUP), without a restart."""
    last = await asyncio.to_thread(_policy_stamp, directory)
    while True:
        await asyncio.sleep(interval)
        stamp = await asyncio.to_thread(_policy_stamp, directory)
        if stamp != last:
            last = stamp
            await gateway.reload_policy("policy files changed")


@dataclass(frozen=True)
class GatewayConfig:
    listen: str
    pki_dir: Path
    audit_url: str
    policies_dir: Path
    adapters: Mapping[str, str]  # adapter id -> address
    commitment_key: bytes
    engine: str = "wasm"
    opa_url: str | None = None
    opa_tls: Path | None = None  # the mTLS link to OPA (ADR 0018)
    tls_name: str = "gateway"
    audit_readers: frozenset[str] = frozenset()
    log_key: Path = Path(".gerbang/keys/audit-log.key")
    witnesses: tuple[str, ...] = ()  # cosigner verifier keys (C2SP tlog-cosignature)
    tlog_witnesses: tuple[str, ...] = ()  # "URL,VKEY": submitted to (C2SP tlog-witness)
    details_key: str | None = None  # oversight's X25519 key for sealed details
    keys_dir: Path = Path(".gerbang/keys")  # registry.json and the gateway's keystore
    startup_timeout: float = 20.0
    health_listen: str | None = None  # plaintext grpc.health.v1 for probes; off by default


async def connect_adapters(
    tls: TlsFiles,
    adapters: Mapping[str, str],
    timeout: float,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> tuple[dict[str, AdapterLink], Catalog]:
    """Open mTLS channels to the adapters and build the catalogue from their descriptions."""
    links: dict[str, AdapterLink] = {}
    described: list[tuple[str, list[Dataset]]] = []
    creds = tls.channel_credentials()
    for adapter_id, address in adapters.items():
        channel = grpc.aio.secure_channel(address, creds, interceptors=list(interceptors))
        stub = adapter_pb2_grpc.AdapterServiceStub(channel)
        try:
            answer = await stub.Describe(
                adapter_pb2.DescribeRequest(), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as e:
            raise ConfigurationError(
                f"adapter {adapter_id} at {address} did not answer: {e.details()}"
            ) from e
        if answer.adapter_id != adapter_id:
            raise ConfigurationError(
                f"adapter at {address} says it is {answer.adapter_id!r}, not {adapter_id!r}"
            )
        links[adapter_id] = AdapterLink(adapter_id, address, stub, channel)
        described.append((adapter_id, [Dataset.from_proto(d) for d in answer.datasets]))
    return links, Catalog.merge(described)


def _fail(message: str) -> NoReturn:
    raise ConfigurationError(message)


async def serve(
    config: GatewayConfig,
    engine: PolicyEngine,
    *,
    ready: asyncio.Event | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    adapter_interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    reuse_port: bool = False,
) -> None:
    """Run the gateway until cancelled. Interceptors are for tests that observe traffic.

    `reuse_port` is for the workers of one `--workers` set only (gateway/workers.py): a
    lone gateway binds its port alone, so a second one on the same port fails to start
    instead of silently sharing its connections.
    """
    tls = TlsFiles.load(config.pki_dir, config.tls_name)
    store = AuditStore(config.audit_url)
    await asyncio.to_thread(store.create)
    writer = AuditWriter(store)
    writer.start()
    replay = ReplayGuard(store)
    replay.start()
    keys = RegistryFile(config.keys_dir / "registry.json")
    plan_signer = Signer.current(config.keys_dir, "gateway", GATEWAY_ID)
    tlog_witnesses = [TlogWitness.parse(w) for w in config.tlog_witnesses]
    checkpointer = Checkpointer(
        store, LogKey.load_or_create(config.log_key), witnesses=tlog_witnesses
    )
    checkpoints = asyncio.get_running_loop().create_task(checkpointer.run(), name="checkpointer")
    witnesses = {w.name: w for w in (parse_cosigner_key(k) for k in config.witnesses)}
    links, catalog = await connect_adapters(
        tls, config.adapters, config.startup_timeout, adapter_interceptors
    )
    if not links:
        _fail("no adapters configured")
    server = grpc.aio.server(
        interceptors=[MalformedRequests(), *interceptors],
        options=[
            ("grpc.max_receive_message_length", GRPC_MAX_RECEIVE),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
    )
    gateway = Gateway(
        engine=engine,
        engine_name=config.engine,
        writer=writer,
        catalog=catalog,
        adapters=links,
        commitment_key=config.commitment_key,
        keys=keys,
        plan_signer=plan_signer,
        replay=replay,
        store=store,
        details_key=None if config.details_key is None else load_public_key(config.details_key),
        policies_dir=config.policies_dir,
    )
    query_pb2_grpc.add_QueryServiceServicer_to_server(gateway, server)
    analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(AnalyticsServicer(gateway), server)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(
        AuditService(store, config.audit_readers, witnesses), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = (
        query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
        analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name,
        audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    )
    enable_reflection((*services, health.SERVICE_NAME), server)
    try:
        port = server.add_secure_port(config.listen, tls.server_credentials())
    except RuntimeError:  # newer grpcio raises where older ones returned 0
        port = 0
    if port == 0:
        _fail(f"cannot listen on {config.listen}: the address is in use or not local")
    await server.start()
    for name in ("", *services):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    # A plaintext health port for Kubernetes gRPC probes, only when asked for.
    health_port = (
        None
        if config.health_listen is None
        else await start_health_port(config.health_listen, health_servicer, reuse_port=reuse_port)
    )
    watcher = asyncio.get_running_loop().create_task(
        watch_policies(gateway, config.policies_dir), name="policy-watcher"
    )
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP,
            lambda: asyncio.ensure_future(gateway.reload_policy("SIGHUP")),
        )
    log.info(
        "gateway serving",
        listen=config.listen,
        adapters=sorted(links),
        datasets=sorted(catalog.datasets),
    )
    if ready is not None:
        ready.set()
    try:
        await server.wait_for_termination()
    finally:
        for name in ("", *services):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await server.stop(grace=2)
        if health_port is not None:
            await health_port.stop(grace=None)
        watcher.cancel()
        checkpoints.cancel()
        await writer.stop()
        await replay.stop()
        await asyncio.to_thread(checkpointer.checkpoint_once)
        for link in links.values():
            await link.channel.close()
        await engine.close()
        store.close()
