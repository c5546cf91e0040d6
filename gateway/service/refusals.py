"""How a request ends when it is not answered: typed domain errors, independent of gRPC.

The request pipeline (`gateway.service.pipeline`) raises these; the gRPC servicers translate
them through one table (`gateway.service.status`) into a status code with `google.rpc` details.
Each class names its status in the vocabulary of `google.rpc.Code`, which is also what
the audit entry records in its `status` field, so the log and the wire never disagree.

- `reason` is the machine-readable ErrorInfo reason (UPPER_SNAKE_CASE).
- `reasons` are the human-readable reasons, in order (the policy's, the adapters'); the
  audit entry records them.
- `request_id` and `audit_index` are filled in by the pipeline once the refusal is in the
  log: the caller can then prove it with the audit inclusion proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from gateway import errors
from gateway.errors import GerbangError

__all__ = [
    "AdapterFailed",
    "AdapterRefused",
    "AuditCorrupt",
    "AuditUnavailable",
    "BudgetExhausted",
    "FieldViolation",
    "Internal",
    "InvalidRequest",
    "NotFound",
    "NotReady",
    "ObligationsInapplicable",
    "Overloaded",
    "PolicyDenied",
    "PolicyUnavailable",
    "PreconditionViolation",
    "RequestRefused",
    "RequestTooLarge",
    "StreamExpired",
    "Unauthenticated",
]


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request (google.rpc.BadRequest.FieldViolation)."""

    field: str
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    """A state the request needed and did not find (google.rpc.PreconditionFailure)."""

    type: str
    subject: str
    description: str


class RequestRefused(GerbangError):
    """A request ended without an answer; the subclass says why."""

    status: ClassVar[str] = "UNKNOWN"
    reason: ClassVar[str] = "REFUSED"
    # The audit entry's decision for this refusal.
    decision: ClassVar[str] = "deny"

    def __init__(
        self,
        message: str,
        *,
        reasons: Iterable[str] | None = None,
        fields: Iterable[FieldViolation] = (),
        preconditions: Iterable[PreconditionViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        # The audit entry's reasons: the message alone unless the step names them (a
        # policy's reasons, which may be none).
        self.reasons = (message,) if reasons is None else tuple(reasons)
        self.fields = tuple(fields)
        self.preconditions = tuple(preconditions)
        self.request_id = ""
        self.audit_index: int | None = None
        # Seconds after which a retry may succeed (google.rpc.RetryInfo), when the step knows.
        self.retry_after: float | None = None


class InvalidRequest(RequestRefused):
    """The request is malformed, out of range, or asks what the catalogue does not hold."""

    status = "INVALID_ARGUMENT"
    reason = "INVALID_REQUEST"


class RequestTooLarge(RequestRefused):
    """The request is larger than the gateway accepts."""

    status = "RESOURCE_EXHAUSTED"
    reason = "REQUEST_TOO_LARGE"


class Unauthenticated(RequestRefused):
    """The request's signature, key, freshness or nonce does not hold."""

    status = "UNAUTHENTICATED"
    reason = "REQUEST_NOT_AUTHENTICATED"


class PolicyDenied(RequestRefused):
    """The policy decision point, or an adapter's own minimisation check, said no."""

    status = "PERMISSION_DENIED"
    reason = "POLICY_DENIED"


class BudgetExhausted(PolicyDenied):
    """The release would overspend a privacy budget (ADR 0009): a denial."""

    reason = "PRIVACY_BUDGET_EXHAUSTED"


class AdapterRefused(PolicyDenied):
    """An adapter's own minimisation check refused its plan."""

    reason = "ADAPTER_REFUSED"


class ObligationsInapplicable(RequestRefused):
    """The policy allowed, but its obligations cannot be applied to this request."""

    status = "FAILED_PRECONDITION"
    reason = "OBLIGATIONS_INAPPLICABLE"
    decision = "error"


class StreamExpired(RequestRefused):
    """A stream reached its maximum lifetime; renew it with a freshly signed request."""

    status = "FAILED_PRECONDITION"
    reason = "STREAM_EXPIRED"
    decision = "error"


class AdapterFailed(RequestRefused):
    """An adapter did not answer, or answered what does not verify: all or nothing."""

    status = "UNAVAILABLE"
    reason = "ADAPTER_FAILED"
    decision = "error"


class NotReady(RequestRefused):
    """The gateway cannot answer yet (a policy reload, a checkpoint not signed); retry."""

    status = "UNAVAILABLE"
    reason = "NOT_READY"
    decision = "error"


class NotFound(RequestRefused):
    """What the request names does not exist, or is not the caller's."""

    status = "NOT_FOUND"
    reason = "NOT_FOUND"


class Overloaded(RequestRefused):
    """Too many requests at once; retry later. Never a policy denial."""

    status = "RESOURCE_EXHAUSTED"
    reason = "OVERLOADED"
    decision = "error"


class PolicyUnavailable(RequestRefused):
    """No decision was made (the policy server down, late or untrusted, ADR 0018): an
    outage, never a denial; nothing is released. Retry."""

    status = "UNAVAILABLE"
    reason = "POLICY_UNAVAILABLE"
    decision = "error"


class AuditUnavailable(RequestRefused, errors.AuditUnavailable):
    """The audit log could not be written: nothing is released; retry later."""

    status = "UNAVAILABLE"
    reason = "AUDIT_UNAVAILABLE"
    decision = "error"


class AuditCorrupt(RequestRefused):
    """The audit store shows evidence of corruption or tampering."""

    status = "DATA_LOSS"
    reason = "AUDIT_CORRUPT"
    decision = "error"


class Internal(RequestRefused):
    """An unexpected failure inside the gateway; it is in the log as decision `error`."""

    status = "INTERNAL"
    reason = "INTERNAL"
    decision = "error"
