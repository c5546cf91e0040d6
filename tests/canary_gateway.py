"""Run the real gateway with interceptors that record every message it receives and sends.

Used by tests/test_canary.py: `python tests/canary_gateway.py CAPTURE_DIR gateway serve ...`.
Each message, serialised, is appended to CAPTURE_DIR/messages.bin, on both sides
of the gateway (callers' requests and responses, and its calls to adapters).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from gateway.cli import _run_until_signal, build_parser, gateway_config
from gateway.policy import engine_from_config
from gateway.protocol.observability import configure_logging
from gateway.service.server import serve


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, message: Any) -> None:
        with self.path.open("ab") as f:
            f.write(message.SerializeToString() + b"\n--\n")


class ServerCapture(grpc.aio.ServerInterceptor):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def recorded(request: Any, context: Any) -> Any:
            self.recorder.write(request)
            response = await inner(request, context)
            self.recorder.write(response)
            return response

        return grpc.unary_unary_rpc_method_handler(
            recorded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ClientCapture(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.recorder.write(request)
        call = await continuation(details, request)
        response = await call
        self.recorder.write(response)
        return response


def main() -> None:
    capture = Path(sys.argv[1])
    capture.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(capture / "messages.bin")
    args = build_parser().parse_args(sys.argv[2:])
    configure_logging()
    config = gateway_config(args)

    async def run() -> None:
        engine = engine_from_config(config.engine, config.policies_dir, opa_url=config.opa_url)
        await serve(
            config,
            engine,
            interceptors=[ServerCapture(recorder)],
            adapter_interceptors=[ClientCapture(recorder)],
        )

    asyncio.run(_run_until_signal(run()))


if __name__ == "__main__":
    main()
