"""Every RPC an adapter serves is logged with the caller's identity (issue 12).

`AdapterService` methods log their own call (with whether the caller was authorised); this
interceptor logs the others an adapter also serves (grpc.health.v1, reflection), so no RPC
reaches an adapter unrecorded. The identity is the SPIFFE URI of the client certificate,
known only inside the call, so each handler is wrapped rather than the call's details read.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import structlog

from gateway.protocol.tls import peer_identity

__all__ = ["CallLog"]

log = structlog.get_logger("gerbang.adapter")

# Methods that log their own call, with the authorisation outcome.
SELF_LOGGED = "/gerbang.v1.AdapterService/"


def _logged(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    def note(context: grpc.aio.ServicerContext[Any, Any]) -> None:
        log.info("adapter call", method=method, caller=peer_identity(context.auth_context()))

    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            note(context)
            async for item in behavior(request, context):
                yield item

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        note(context)
        return await behavior(request, context)

    return call


class CallLog(grpc.aio.ServerInterceptor):
    """Log each call not logged by its own method: method name and caller identity."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler: Any = await continuation(handler_call_details)
        method = str(handler_call_details.method)
        if handler is None or method.startswith(SELF_LOGGED):
            return handler
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _logged(method, handler.unary_unary), **codec
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _logged(method, handler.unary_stream), **codec
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _logged(method, handler.stream_unary), **codec
            )
        return grpc.stream_stream_rpc_method_handler(
            _logged(method, handler.stream_stream), **codec
        )
