"""gRPC server reflection under both protocol versions, resolving method symbols.

grpcio-reflection serves only `grpc.reflection.v1alpha`, and its symbol lookup finds
services and messages but not methods (the Python descriptor pool has no method
symbols). Current tools ask `grpc.reflection.v1` first, and `grpcurl describe
gerbang.v1.QueryService.Query` or `ghz` without a protoset ask for a method's file.

The v1 protocol is the v1alpha one under a new package: the same messages with the same
field numbers (grpc/reflection/v1/reflection.proto). So one servicer answers both, each
service name registered through a generic handler with the v1alpha message classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

# The library's stubs do not declare the servicer's lookup helpers overridden below.
_Servicer: Any = ReflectionServicer

__all__ = ["V1_SERVICE_NAME", "enable_reflection"]

V1_SERVICE_NAME: Final = "grpc.reflection.v1.ServerReflection"


class _Reflection(_Servicer):  # type: ignore[misc]
    """The library's servicer, with `Service.Method` resolved to the service's file."""

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        service, _, method = fully_qualified_name.rpartition(".")
        if service and method:
            try:
                descriptor = self._pool.FindServiceByName(service)
            except KeyError:
                pass
            else:
                if method in descriptor.methods_by_name:
                    fully_qualified_name = service
        return super()._file_containing_symbol(request, fully_qualified_name)


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection for `service_names` (and itself) as v1 and v1alpha on `server`."""
    names = (*service_names, reflection.SERVICE_NAME, V1_SERVICE_NAME)
    servicer = _Reflection(names)
    for name in (reflection.SERVICE_NAME, V1_SERVICE_NAME):
        handler = grpc.method_handlers_generic_handler(
            name,
            {
                "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                    servicer.ServerReflectionInfo,
                    request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                    response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
