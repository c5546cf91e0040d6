"""Requests that do not parse are INVALID_ARGUMENT, not UNKNOWN.

gRPC decodes a request before any handler runs. When the bytes are not a valid message
(a string field holding invalid UTF-8, a truncated field), grpcio answers
`UNKNOWN: Unexpected <class 'DecodeError'>: ...`, which names a Python exception and
tells the caller nothing it can act on. `MalformedRequests` wraps every method's decoder:
a message that does not parse becomes a marker, and the method answers INVALID_ARGUMENT
with the message type's name before the handler runs. The refusal is logged with the
caller's identity. On the gateway, `on_malformed` records it as one audit entry through
the request pipeline (gateway/service/server.py, `Undecodable`) and answers with its typed status;
on an adapter, which keeps no audit log, it is logged and refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc
import structlog
from google.protobuf.message import DecodeError

from gateway.protocol.tls import peer_identity

__all__ = ["MalformedRequests", "OnMalformed"]

# Ends the call (by aborting) for a request that did not decode: (context, method).
OnMalformed = Callable[["grpc.aio.ServicerContext[Any, Any]", str], Awaitable[None]]

log = structlog.get_logger("gerbang.wire")


class _Malformed:
    """Stands for a request that did not parse."""


_MALFORMED: Final = _Malformed()


def _decoder(decode: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def guarded(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError:
            return _MALFORMED

    return guarded


async def _refuse(context: grpc.aio.ServicerContext[Any, Any], method: str) -> None:
    caller = peer_identity(context.auth_context())
    log.warning("malformed request refused", method=method, caller=caller)
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        "the request is not a valid protobuf message (a string field with invalid UTF-8, "
        "or a malformed field); permintaan tidak dapat dibaca",
    )


class MalformedRequests(grpc.aio.ServerInterceptor):
    """Answer INVALID_ARGUMENT to requests that do not decode (unary and server-streaming
    methods: every request-side method of the gateway and the adapters)."""

    def __init__(self, on_malformed: OnMalformed = _refuse) -> None:
        self._on_malformed = on_malformed

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler: Any = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        method = str(handler_call_details.method)
        decode = _decoder(handler.request_deserializer)
        if handler.response_streaming:
            stream = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                if request is _MALFORMED:
                    await self._on_malformed(context, method)
                    return
                async for message in stream(request, context):
                    yield message

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=decode,
                response_serializer=handler.response_serializer,
            )
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            if request is _MALFORMED:
                await self._on_malformed(context, method)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=decode,
            response_serializer=handler.response_serializer,
        )
