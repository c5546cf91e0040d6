"""The gateway's refusals as the caller sees them: typed exceptions, read from the status's
google.rpc ErrorInfo, never from its message text (docs/adr/0016).

`refusal` tells a refusal with a reason from a gateway that could not be reached
(`TransportError`); `PartRefused` is one adapter's part that does not verify or open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from gateway.errors import GerbangError, TransportError, UntrustedInputError

__all__ = [
    "AuditUnavailable",
    "InvalidQuery",
    "Overloaded",
    "PartRefused",
    "PolicyDenied",
    "QueryRefused",
    "StreamExpired",
    "Unauthenticated",
    "refusal",
    "refused",
]


class QueryRefused(GerbangError):
    """The gateway refused the request; `code` and `message` are its gRPC status.

    The subclasses say why (`PolicyDenied`, `InvalidQuery`, `Unauthenticated`,
    `AuditUnavailable`, `Overloaded`), read from the status's google.rpc ErrorInfo,
    never from its message text: `reason`, `reasons`, `request_id` and `audit_index`;
    `retry_after` (seconds) when the status says when a retry may succeed (RetryInfo).
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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.reasons = tuple(reasons)
        self.request_id = request_id
        self.audit_index = audit_index
        self.retry_after = retry_after


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


M = TypeVar("M", bound=Message)

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


def _details(e: grpc.aio.AioRpcError) -> list[any_pb2.Any]:
    """The google.rpc.Status details of a failed call (packed), if it carries any."""
    for key, value in e.trailing_metadata() or ():
        if key != _STATUS_DETAILS or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except DecodeError:
            return []
        return list(status.details)
    return []


def _detail(details: Sequence[any_pb2.Any], kind: type[M]) -> M | None:
    """The first of `details` of type `kind`, if there is one."""
    for detail in details:
        found = kind()
        if detail.TypeName() == found.DESCRIPTOR.full_name and detail.Unpack(found):
            return found
    return None


def refused(e: grpc.aio.AioRpcError) -> QueryRefused:
    """A refusal as its typed exception, from the status's ErrorInfo (or its code alone)."""
    packed = _details(e)
    info = _detail(packed, error_details_pb2.ErrorInfo)
    retry = _detail(packed, error_details_pb2.RetryInfo)
    retry_after = retry.retry_delay.ToNanoseconds() / 1e9 if retry is not None else None
    details = e.details() or ""
    if info is None:
        return _CODES.get(e.code(), QueryRefused)(e.code(), details, retry_after=retry_after)
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
        retry_after=retry_after,
    )


class PartRefused(UntrustedInputError):
    """One adapter's part of an answer does not verify or open; nothing of the answer is
    released. `adapter` is the adapter the gateway named for the part."""

    def __init__(self, adapter: str, message: str) -> None:
        super().__init__(message)
        self.adapter = adapter


# gRPC's own text when no connection could be made; the gateway never says it.
_NOT_CONNECTED: Final = "failed to connect to all addresses"
# How a TLS handshake the gateway refused shows in it: with TLS 1.3 the server checks the
# client's certificate after the client's side of the handshake is done, and closes.
_TLS_REFUSED: Final = ("Socket closed", "handshake", "Handshake", "SSL", "certificate")


def refusal(e: grpc.aio.AioRpcError) -> TransportError | QueryRefused:
    """What a failed call to the gateway means: refused with a reason (the gateway's
    google.rpc details say so), or else unreachable."""
    if _detail(_details(e), error_details_pb2.ErrorInfo) is not None:
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
