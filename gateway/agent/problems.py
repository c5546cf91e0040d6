"""Errors as RFC 9457 problem details (`application/problem+json`).

Every refusal names its reasons, the gateway's request id and, when the gateway recorded it,
the audit entry: a denied officer can quote the receipt to the data protection officer. The
mapping from the library's typed errors to HTTP statuses is here and only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from starlette.responses import JSONResponse

from gateway.client import PartRefused, QueryRefused
from gateway.errors import GerbangError, TransportError, UntrustedInputError
from gateway.protocol.model import InvalidQuery

PROBLEM_TYPE = "https://gerbang.go.id/problems/"
MEDIA_TYPE = "application/problem+json"
# Seconds a client should wait before asking again when the gateway is down.
RETRY_AFTER = 5


@dataclass
class Problem(Exception):
    status: int
    kind: str  # the last segment of the type URI
    title: str
    detail: str
    reasons: tuple[str, ...] = ()
    request_id: str = ""
    audit_entry: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "reasons": list(self.reasons),
            "request_id": self.request_id,
            "audit_receipt": None if self.audit_entry is None else {"leaf_index": self.audit_entry},
        }
        return doc | self.extra

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.document(), status_code=self.status, media_type=MEDIA_TYPE, headers=self.headers
        )


# gRPC status of a gateway refusal -> (HTTP status, problem kind, title)
_REFUSALS = {
    grpc.StatusCode.PERMISSION_DENIED: (403, "denied", "Ditolak oleh kebijakan / Denied by policy"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid-request", "Permintaan tidak sah / Invalid"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "invalid-request", "Permintaan tidak sah / Invalid"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "limited", "Batas terlampaui / Limit reached"),
    grpc.StatusCode.UNAUTHENTICATED: (
        502,
        "agent-refused",
        "Gateway menolak identitas agen / The gateway refused the agent's identity",
    ),
}


def from_error(error: GerbangError | ValueError) -> Problem:
    """The problem a failed gateway call is, for the agent's client."""
    if isinstance(error, InvalidQuery | ValueError):
        # Raised before anything is signed: the ask itself is malformed.
        return bad_request(str(error))
    if isinstance(error, QueryRefused):
        if failed := failed_adapters(error):
            return adapter_failure(error, failed)
        if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return gateway_down(error.message)
        status, kind, title = _REFUSALS.get(
            error.code, (502, "gateway-error", "Kesalahan gateway / Gateway error")
        )
        return Problem(
            status,
            kind,
            title,
            f"{error.code.name}: " + ("; ".join(error.reasons) or error.message),
            reasons=error.reasons,
            request_id=error.request_id,
            audit_entry=error.audit_index,
        )
    if isinstance(error, TransportError):
        return gateway_down(str(error))
    if isinstance(error, PartRefused):
        return Problem(
            502,
            "part-refused",
            "Bagian hasil dari adapter ditolak / An adapter's part was refused",
            f"the part from {error.adapter} does not verify; nothing of the answer is released: "
            f"{error}",
            reasons=(str(error),),
            extra={"adapter": error.adapter, "adapters": [error.adapter]},
        )
    if isinstance(error, UntrustedInputError):
        return Problem(
            502,
            "unverified-answer",
            "Jawaban tidak terverifikasi / The answer does not verify",
            f"nothing is released: {error}",
            reasons=(str(error),),
        )
    return Problem(500, "agent-error", "Kesalahan agen / Agent error", str(error))


def failed_adapters(error: QueryRefused) -> dict[str, str]:
    """The adapters the gateway says failed ("adapter <id> failed: <detail>"), and why."""
    if error.code is not grpc.StatusCode.UNAVAILABLE:
        return {}
    out = {}
    for reason in error.reasons:
        head, sep, detail = reason.partition(" failed: ")
        if sep and head.startswith("adapter "):
            out[head.removeprefix("adapter ")] = detail
    return out


def adapter_failure(error: QueryRefused, failed: dict[str, str]) -> Problem:
    """A federated answer the gateway withheld because an adapter failed. An adapter that could
    not be reached is an outage (503, retry); one whose part did not verify at the gateway
    (signature, attestation, digest) is a bad upstream answer (502). Either way nothing of the
    answer was released, and the audit entry records it."""
    unreachable = all(
        d in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or d.startswith("failed to connect")
        for d in failed.values()
    )
    adapters = sorted(failed)
    named = ", ".join(adapters)
    problem = Problem(
        502,
        "part-refused",
        "Bagian hasil dari adapter ditolak / An adapter's part was refused",
        f"the part from {named} does not verify; nothing of the answer is released: "
        + "; ".join(error.reasons),
        reasons=error.reasons,
        request_id=error.request_id,
        audit_entry=error.audit_index,
        extra={"adapter": adapters[0], "adapters": adapters},
    )
    if unreachable:
        problem.status, problem.kind = 503, "adapter-unavailable"
        problem.title = "Adapter tidak dapat dihubungi / An adapter is unavailable"
        problem.detail = f"{named} could not answer; nothing is released; retry in {RETRY_AFTER} s"
        problem.headers = {"Retry-After": str(RETRY_AFTER)}
    return problem


def gateway_down(detail: str) -> Problem:
    return Problem(
        503,
        "gateway-unavailable",
        "Gateway tidak dapat dihubungi / The gateway is unavailable",
        f"{detail}; try again in {RETRY_AFTER} s",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def internal(kind: str) -> Problem:
    return Problem(
        500,
        "agent-error",
        "Kesalahan agen / Agent error",
        f"the agent failed ({kind}); nothing is released; its log has the details",
    )


def bad_request(detail: str) -> Problem:
    return Problem(400, "invalid-request", "Permintaan tidak sah / Invalid request", detail)


def unauthenticated(detail: str) -> Problem:
    return Problem(
        401,
        "unauthenticated",
        "Tidak terautentikasi / Not authenticated",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="gerbang-agent"'},
    )
