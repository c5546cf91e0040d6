"""One request, from receipt to release, independent of gRPC.

Every request after mTLS authentication takes these steps, in order (DESIGN.md, "One
query, end to end"), and each raises a typed refusal (`gateway.service.refusals`):

1. admit: size and shape, the catalogue (`InvalidRequest`, `RequestTooLarge`);
2. authenticate: the request is signed by the caller's own key, fresh, and its nonce new
   in this process (`Unauthenticated`); the durable nonce claim waits for step 7;
3. decide: the policy engine (`PolicyDenied`);
4. spend: a differential-privacy release is charged first (`BudgetExhausted`);
5. plan: one signed plan per adapter serving the dataset (`ObligationsInapplicable`);
6. fan out: all adapters answer, attested, or none is used (`AdapterFailed`);
7. record: the audit entry and the nonce claim are one durable commit, written in a
   `finally` that also covers unexpected failures (decision `error`, then `Internal`);
   if the write fails, `AuditUnavailable` and nothing is released;
8. release: only now does the caller get an answer, with its receipt.

QueryService.Query, Capabilities, every AnalyticsService operation and each tick of a
WatchWarnings stream go through `Pipeline.run`. The gRPC servicers (gateway/service/server.py,
gateway/service/analytics.py) only translate; `gateway.service.status` maps refusals to the wire.

The frame (step 7 and the release after it) is `gateway.service.recording.Recorder`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from google.protobuf.message import Message

from gateway.audit.releases import ReleaseLedger
from gateway.audit.store import AuditStore, AuditWriter, NonceClaim
from gateway.errors import GerbangError, UntrustedInputError
from gateway.policy import PolicyEngine
from gateway.policy.bundle import PolicyBundle, load_bundle
from gateway.protocol import model
from gateway.protocol.audit_entry import AuditRecord, describe_query, query_details
from gateway.protocol.audit_names import RegisteredNames, committed_unless
from gateway.protocol.catalog import Catalog, Dataset
from gateway.protocol.evidence import FRESHNESS, RequestAuth, sha256, verify_request
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import RegistryFile, Signer
from gateway.protocol.model import MAX_REQUEST_BYTES, InvalidQuery
from gateway.service.admission import AdmissionControl
from gateway.service.recording import Outcome, Recorded, Recorder
from gateway.service.refusals import (
    FieldViolation,
    InvalidRequest,
    RequestTooLarge,
    StreamExpired,
    Unauthenticated,
)
from gateway.service.releasing import PrivacyRegistry
from gateway.service.replay import ReplayGuard
from gerbang.v1 import query_pb2

log = structlog.get_logger("gerbang.gateway")

# A stream's authority ends after this long unless the registry says otherwise; the
# caller renews it with a freshly signed request.
STREAM_LIFETIME: Final = dt.timedelta(hours=1)

T = TypeVar("T")


class AdapterCall(Protocol):
    """Sends signed plans and returns the attested answers (gateway.service.fanout)."""

    async def __call__(self, plans: Sequence[model.QueryPlan], outcome: Outcome) -> Any: ...


@dataclass(frozen=True)
class StreamGrant:
    """An opened stream's signed request, as each tick re-checks it."""

    query: model.Query
    dataset: Dataset
    auth: RequestAuth
    request_hash: bytes
    opened_at: dt.datetime
    expires_at: dt.datetime


class Pipeline:
    """The request steps and the state they read: policy, catalogue, keys, log."""

    def __init__(
        self,
        *,
        engine: PolicyEngine,
        engine_name: str,
        writer: AuditWriter,
        catalog: Catalog,
        fan_out: AdapterCall,
        commitment_key: bytes,
        keys: RegistryFile,
        plan_signer: Signer,
        replay: ReplayGuard,
        store: AuditStore,
        details_key: X25519PublicKey | None = None,
        policies_dir: Path | None = None,
        admission: AdmissionControl | None = None,
    ) -> None:
        self.keys = keys
        self.plan_signer = plan_signer
        self.replay = replay
        self.store = store
        self.engine = engine
        self.engine_name = engine_name
        self.writer = writer
        self.catalog = catalog
        self.fan_out = fan_out
        self.commitment_key = commitment_key
        self.details_key = details_key
        self.ledger = ReleaseLedger(store)
        self.policies_dir = policies_dir
        data = {} if policies_dir is None else load_bundle(policies_dir).data
        self.privacy = PrivacyRegistry.from_data(data)
        # The registry constants a leaf may name in clear; anything else is committed.
        self.names = RegisteredNames.from_data(data)
        # Limits per caller (gateway/service/admission.py): plan cost here, the rest in its
        # interceptor.
        self.admission = admission or AdmissionControl.from_data(data)
        # The bundle the engine evaluates, read again whenever the engine's revision moves.
        self.bundle: PolicyBundle | None = None
        self.recorder = Recorder(writer, replay, details_key)

    async def run(
        self,
        caller: str,
        steps: Callable[[Outcome], Awaitable[T]],
        *,
        service: str,
        method: str,
        kind: str = "query",
        request_hash: bytes = b"",
    ) -> Recorded[T]:
        """`steps` for `caller` inside the frame that records them (`Recorder.run`)."""
        return await self.recorder.run(
            caller, steps, service=service, method=method, kind=kind, request_hash=request_hash
        )

    # --- admit and authenticate ---------------------------------------------------------

    def admit(
        self, request: Message, build: Callable[[], model.Query], outcome: Outcome
    ) -> tuple[model.Query, Dataset]:
        """Size, shape and catalogue: the request as a valid query."""
        # What the log may say about a request that failed to parse: registered names only,
        # anything else as a keyed commitment (ADR 0013).
        scope = getattr(request, "scope", request)
        outcome.purpose = self.named("purpose", str(getattr(scope, "purpose", "")))
        outcome.dataset = self.named("dataset", str(getattr(request, "dataset", "incidents")))
        size = request.ByteSize()
        if size > MAX_REQUEST_BYTES:
            raise RequestTooLarge(
                f"request of {size} bytes exceeds the limit of {MAX_REQUEST_BYTES}"
            )
        try:
            query = build()
            dataset = self.catalog.dataset(query.dataset)
            dataset.check(query)
        except InvalidQuery as e:
            raise InvalidRequest(
                f"invalid request: {e}",
                reasons=(str(e),),
                fields=(FieldViolation(type(request).__name__, str(e)),),
            ) from e
        self.describe(outcome, query)
        return query, dataset

    def named(self, slot: str, text: str) -> str:
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
        named = {slot: self.named(slot, text) for slot, text in typed.items()}
        outcome.purpose = named["purpose"]
        outcome.legal_basis = named["legal_basis"]
        outcome.case_reference = named["case_reference"]
        committed = {slot: typed[slot] for slot in typed if named[slot] != typed[slot]}
        if committed:
            outcome.details["typed"] = committed

    def authenticate(
        self,
        a: query_pb2.RequestAuth | None,
        query: model.Query,
        outcome: Outcome,
        now: dt.datetime,
    ) -> RequestAuth:
        """The request is signed by the mTLS identity's own key, fresh, and new."""
        if a is None or not a.signature:
            raise Unauthenticated("request is not signed")
        try:
            issued_at = model.timestamp_from_proto(a.issued_at, "issued_at")
        except InvalidQuery as e:
            raise InvalidRequest(
                f"invalid request: {e}",
                reasons=(str(e),),
                fields=(FieldViolation("auth.issued_at", str(e)),),
            ) from e
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
            # Kept past the last moment the request could still be fresh.
            claim = NonceClaim(outcome.caller, auth.nonce.hex(), auth.issued_at + 2 * FRESHNESS)
            self.replay.reserve(claim)
        except UntrustedInputError as e:
            raise Unauthenticated(f"request refused: {e}") from e
        outcome.nonce = claim
        return auth

    def within_limits(self, query: model.Query, outcome: Outcome) -> None:
        """The plan's cost (filters x values x adapters) within the caller's limit: over it,
        the request is refused as overload, audited with it, never as a policy denial."""
        adapters = len(self.catalog.adapters.get(query.dataset, ()))
        self.admission.check_plan(outcome.caller, query, adapters)  # limits.Overloaded

    def stream_lifetime(self, caller: str, ceiling: dt.timedelta) -> dt.timedelta:
        """How long `caller`'s stream may stay open: its registry limit, within the
        deployment's ceiling (`--stream-lifetime`)."""
        return min(ceiling, dt.timedelta(seconds=self.admission.stream_lifetime(caller)))

    # --- streams ------------------------------------------------------------------------

    def grant(
        self,
        query: model.Query,
        dataset: Dataset,
        auth: RequestAuth,
        outcome: Outcome,
        now: dt.datetime,
        lifetime: dt.timedelta = STREAM_LIFETIME,
    ) -> StreamGrant:
        return StreamGrant(query, dataset, auth, outcome.request_hash, now, now + lifetime)

    def recheck(self, grant: StreamGrant, outcome: Outcome, now: dt.datetime) -> None:
        """Before a tick's release: the stream's lifetime and its signing key still hold.

        The purpose, the budget and the policy revision are re-checked by the tick's own
        decision and charge (`gateway.deciding.release`)."""
        if now >= grant.expires_at:
            raise StreamExpired(
                "aliran berakhir: masa berlakunya habis; perbarui dengan permintaan bertanda "
                "tangan baru / the stream reached its maximum lifetime; renew it with a "
                "freshly signed request"
            )
        try:
            registry = self.keys.get()
            registry.ed25519(outcome.caller, grant.auth.key_id, now)
            registry.hpke_key_of(outcome.caller, grant.auth.hpke_public_key, now)
        except UntrustedInputError as e:
            raise Unauthenticated(f"stream ended: {e}") from e

    # --- policies -----------------------------------------------------------------------

    async def bundle_in_force(self) -> PolicyBundle | None:
        """The registry data of the engine's own revision, or None if it cannot be read."""
        revision = self.engine.revision
        bundle = self.bundle
        if self.policies_dir is not None and (bundle is None or bundle.revision != revision):
            try:
                bundle = await asyncio.to_thread(load_bundle, self.policies_dir)
            except GerbangError as e:
                bundle = None
                log.error("policy bundle unreadable", error=str(e))
            self.bundle = bundle
        if bundle is None or bundle.revision != revision:
            return None
        return bundle

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
                    self.admission.update(data)
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


def registry_of(bundle: PolicyBundle) -> Mapping[str, Any]:
    registry = bundle.data.get("registry")
    return registry if isinstance(registry, Mapping) else {}
