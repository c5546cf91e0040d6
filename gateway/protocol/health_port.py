"""A plaintext gRPC health port for orchestrators (Kubernetes `grpc:` probes), off by default.

A kubelet's gRPC probe speaks grpc.health.v1 without TLS and without a client certificate,
so it cannot reach the mTLS port. This second server carries the health service only
(the same servicer as the mTLS port, so both report the same state): serving or not, for
each service name, and nothing else; reflection describes the health service only (so
`grpcurl -plaintext ADDR grpc.health.v1.Health/Check` works), no data, no identity to
audit. It listens only where the operator says (`--health-listen`), e.g. the pod's address.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from gateway.errors import ConfigurationError
from gateway.protocol.reflection import enable_reflection

__all__ = ["start_health_port"]


async def start_health_port(
    listen: str, servicer: health.aio.HealthServicer, *, reuse_port: bool = False
) -> grpc.aio.Server:
    """Start a plaintext server on `listen` with `servicer` as its only service.

    Raises `ConfigurationError` if the address cannot be bound. `reuse_port` lets the
    workers of one `--workers` set share it, as they share the main port.
    """
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    enable_reflection((health.SERVICE_NAME,), server)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:  # newer grpcio raises where older ones returned 0
        port = 0
    if port == 0:
        raise ConfigurationError(f"cannot listen for health checks on {listen}")
    await server.start()
    return server
