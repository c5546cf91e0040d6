"""Refusals on the wire: one table from domain error to gRPC status with google.rpc details.

Every refusal leaves as its status code (`RequestRefused.status`, the google.rpc.Code
name the audit entry also records) and a `google.rpc.Status` in the trailing metadata
(grpcio-status), carrying:

- `ErrorInfo`: the reason (e.g. POLICY_DENIED), domain `gerbang.id`, and metadata
  `request_id` and `audit_index` (the entry that recorded the refusal, when there is one);
- `BadRequest`: the fields of an invalid request;
- `PreconditionFailure`: what a stream or a reload needs and did not find;
- `RetryInfo`: when a retry may succeed (admission control's refusals).

The message stays readable by a person: the refusal's text, then the request and entry.
The client (`gateway.client.refusals`) reads the details, never the message text.

Also here, the rest of the gRPC edge every servicer shares: the caller's identity from
its certificate, and the receipt an answer leaves with.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias, TypeVar

import google.rpc.code_pb2 as code_pb2
import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from grpc_status import rpc_status

from gateway.protocol.observability import REQUESTS
from gateway.protocol.tls import peer_identity
from gateway.service.recording import Recorded
from gateway.service.refusals import RequestRefused
from gerbang.v1 import query_pb2

log = structlog.get_logger("gerbang.gateway")
_Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
# The answers that carry an audit receipt.
_Answer = TypeVar("_Answer", query_pb2.QueryResponse, query_pb2.CapabilitiesResponse)

DOMAIN: Final = "gerbang.id"
# gRPC clients refuse trailers over 8 KiB by default (grpc.max_metadata_size), and the
# message travels twice (grpc-message and inside the details): a refusal must fit.
MAX_TEXT: Final = 2000


def _fit(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def wire_code(error: RequestRefused) -> grpc.StatusCode:
    """The gRPC code of a refusal: the table is each class's `status`."""
    return grpc.StatusCode[error.status]


def message(error: RequestRefused) -> str:
    """The text for people: the refusal's, then the request and entry that recorded it."""
    if error.audit_index is None:
        return _fit(error.message)
    return f"{_fit(error.message)} [request {error.request_id}, audit entry {error.audit_index}]"


def to_status(error: RequestRefused) -> grpc.Status:
    """The refusal as a gRPC status with its google.rpc details."""
    metadata = {"request_id": error.request_id} if error.request_id else {}
    if error.audit_index is not None:
        metadata["audit_index"] = str(error.audit_index)
    if error.reasons:
        metadata["reasons"] = _fit("\n".join(error.reasons))
    details: list[Message] = [
        error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata)
    ]
    if error.fields:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=f.field, description=f.description
                    )
                    for f in error.fields
                ]
            )
        )
    if error.preconditions:
        details.append(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=v.type, subject=v.subject, description=v.description
                    )
                    for v in error.preconditions
                ]
            )
        )
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(max(0, round(error.retry_after * 1e9)))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    status = status_pb2.Status(
        code=getattr(code_pb2, error.status), message=message(error), details=packed
    )
    return rpc_status.to_status(status)


async def abort(context: _Context, error: RequestRefused) -> None:
    """End the call with the refusal's status; raises, as `context.abort` does."""
    await context.abort_with_status(to_status(error))
    raise AssertionError("unreachable: abort raises")


async def identify(context: _Context, service: str, method: str) -> str:
    """The caller's SPIFFE identity from its verified certificate, or abort (unaudited:
    there is no one to attribute the request to)."""
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


def receipted(recorded: Recorded[_Answer]) -> _Answer:
    """The answer with its receipt: released only once its entry is durable."""
    response = recorded.value
    response.receipt.leaf_index = recorded.entry.index
    response.receipt.entry_hash = recorded.entry.entry_hash
    response.receipt.leaf_hash = recorded.leaf_hash
    return response
