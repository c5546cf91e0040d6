"""The frame of every request: run its steps, write its audit entry, then release.

`Recorder.run` is the one place a request ends: whatever its steps do (answer, refuse with
a typed `RequestRefused`, fail unexpectedly, be cancelled), its entry is appended in a
`finally`, together with its nonce claim in the same durable commit. An unexpected failure
is decision `error` in the entry and `Internal` to the caller, raised only once the entry
is durable; if the append fails, `AuditUnavailable` (or `AuditCorrupt`), nothing released.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from gateway.audit.store import AuditWriter, NonceClaim
from gateway.errors import AuditIntegrityError, GerbangError
from gateway.protocol.audit_entry import AuditRecord, Entry, ResultDigest
from gateway.protocol.observability import AUDIT_APPEND, LATENCY, REQUESTS
from gateway.protocol.sealed_details import seal_details
from gateway.service.refusals import (
    AuditCorrupt,
    AuditUnavailable,
    Internal,
    RequestRefused,
    Unauthenticated,
)
from gateway.service.replay import ReplayGuard
from gateway.tlog.merkle import leaf_hash

log = structlog.get_logger("gerbang.gateway")

# How long sealed details of a denied or refused request are kept (allowed requests
# keep them as long as their purpose's retention).
DENIAL_RETENTION_DAYS: Final = 365
_REPLAYED: Final = "replayed request: this nonce was already used"

T = TypeVar("T")


@dataclass
class Outcome:
    """What happened to one request, gathered for its audit entry."""

    request_id: str
    caller: str
    decision: str = "deny"
    status: str = "OK"
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
    # The request's nonce, claimed durably in the same transaction as this entry.
    nonce: NonceClaim | None = None

    def record(self, details_key: X25519PublicKey | None) -> AuditRecord:
        return AuditRecord(
            time=dt.datetime.now(dt.UTC),
            kind=self.kind,
            request_id=self.request_id,
            caller=self.caller,
            decision=self.decision,
            status=self.status,
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

    def refused(self, error: RequestRefused) -> None:
        """Take a refusal's status, decision and reasons into the entry."""
        self.status = error.status
        self.decision = error.decision
        self.reasons = error.reasons
        if error.decision == "deny":
            self.fields_granted = ()


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """A step's result whose audit entry is durable: now it may be released."""

    value: T
    request_id: str
    entry: Entry

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.entry.leaf)


class Recorder:
    """The frame of every request: its steps run, then its entry is written, in a `finally`
    that also covers unexpected failures; only then does a result or a refusal leave."""

    def __init__(
        self, writer: AuditWriter, replay: ReplayGuard, details_key: X25519PublicKey | None
    ) -> None:
        self.writer = writer
        self.replay = replay
        self.details_key = details_key

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
        """Run `steps` for an authenticated `caller`; record its entry; then release."""
        started = time.perf_counter()
        outcome = Outcome(uuid.uuid4().hex, caller, kind=kind, request_hash=request_hash)
        refusal: RequestRefused | None = None
        value: T | None = None
        entry: Entry | None = None
        try:
            value = await steps(outcome)
        except RequestRefused as e:
            refusal = e
            outcome.refused(e)
        except asyncio.CancelledError:
            outcome.decision, outcome.status = "error", "CANCELLED"
            outcome.reasons = ("the caller cancelled the request; nothing was released",)
            raise
        except Exception as e:
            log.exception("unexpected failure", request_id=outcome.request_id, caller=caller)
            refusal = Internal(
                f"internal error ({type(e).__name__}); nothing was released, the request is "
                "in the audit log / kesalahan internal; tidak ada data yang dirilis"
            )
            outcome.refused(refusal)
        finally:
            entry = await asyncio.shield(self._record(outcome, service, method))
            LATENCY.labels(service, method).observe(time.perf_counter() - started)
        if refusal is not None:
            refusal.request_id = outcome.request_id
            refusal.audit_index = entry.index
            raise refusal
        assert value is not None
        return Recorded(value, outcome.request_id, entry)

    async def _record(self, outcome: Outcome, service: str, method: str) -> Entry:
        """Append the entry (and claim the nonce) in one durable commit, or refuse."""
        bound = log.bind(request_id=outcome.request_id, caller=outcome.caller)
        t0 = time.perf_counter()
        record = outcome.record(self.details_key)
        replayed = None
        if outcome.nonce is not None:
            # What the log holds instead if another process claimed the nonce first: this
            # record refused as a replay, with nothing released. The same details, so the
            # same sealed blob (sealing them again, a fresh X25519 agreement, for a record
            # that is almost never written cost as much as the first seal).
            refusal = Unauthenticated("request refused: " + _REPLAYED)
            replayed = dataclasses.replace(
                record,
                decision=refusal.decision,
                status=refusal.status,
                reasons=refusal.reasons,
                fields_granted=() if refusal.decision == "deny" else record.fields_granted,
                results=(),
                adapters=(),
                policy_revision="",
            )
        try:
            entry, fresh = await self.writer.append_claimed(record, outcome.nonce, replayed)
        except AuditIntegrityError as e:
            bound.error("audit store corrupt", error=str(e))
            REQUESTS.labels(service, method, outcome.decision, "DATA_LOSS").inc()
            raise AuditCorrupt(
                "the audit log shows evidence of corruption; nothing released / log audit "
                "rusak; tidak ada data yang dirilis"
            ) from e
        except GerbangError as e:
            bound.error("audit append failed", error=str(e))
            REQUESTS.labels(service, method, outcome.decision, "UNAVAILABLE").inc()
            raise AuditUnavailable(
                "log audit tidak tersedia; tidak ada data yang dirilis / audit log "
                "unavailable; nothing released"
            ) from e
        finally:
            if outcome.nonce is not None:
                self.replay.settle(outcome.nonce)
        AUDIT_APPEND.observe(time.perf_counter() - t0)
        if not fresh:
            # Another gateway process claimed the nonce first: the entry says so, and the
            # answer gathered for it is not released.
            outcome.refused(Unauthenticated("request refused: " + _REPLAYED))
        REQUESTS.labels(service, method, outcome.decision, outcome.status).inc()
        bound.info(
            "request",
            method=method,
            purpose=outcome.purpose,
            dataset=outcome.dataset,
            decision=outcome.decision,
            code=outcome.status,
            audit_index=entry.index,
            rows=sum(r.rows for r in outcome.results),
        )
        if not fresh:
            refusal = Unauthenticated("request refused: " + _REPLAYED)
            refusal.request_id, refusal.audit_index = outcome.request_id, entry.index
            raise refusal
        return entry
