"""Path A of the benchmark: a bare two-hop relay, caller → relay → adapter, over mTLS.

It serves `gerbang.v1.QueryService/Query` with the gateway's own certificate
(the adapter answers only the gateway's identity), turns the request into the
same `QueryPlan` bytes as the gateway would (`gateway.protocol.planning.narrow` with the
purpose's obligations and no extra filters, bound to the caller's HPKE key so
that the adapter can seal the result), signs the plan with the gateway's plan
key (the adapter runs only signed plans), calls the adapter's Execute and
returns the sealed payload, the signed plan and the adapter's attestation in a
QueryResponse. It checks no request signature, asks no policy, writes no audit
entry, verifies no attestation and logs nothing per request: what is left is
what any relay in front of these adapters must do.

    python -m bench.relay --listen 127.0.0.1:7600 --pki DIR --keys DIR --adapter ID=HOST:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bench.workload import Obligations, obligations
from gateway.protocol.evidence import sha256, sign_blob
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import Signer
from gateway.protocol.model import InvalidQuery, Query
from gateway.protocol.planning import narrow
from gateway.protocol.release import hold_key, release_id
from gateway.protocol.tls import TlsFiles, peer_identity
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc, query_pb2, query_pb2_grpc

ADAPTER_TIMEOUT: Final = 30.0
# One hold period for the relay's whole run, as the gateway's month would be.
RELAY_UNTIL: Final = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)


class Relay(query_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        adapter_id: str,
        stub: adapter_pb2_grpc.AdapterServiceAsyncStub,
        ob: Obligations,
        signer: Signer,
    ) -> None:
        self.adapter_id = adapter_id
        self.stub = stub
        self.ob = ob
        self.signer = signer

    async def Query(
        self, request: query_pb2.QueryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> query_pb2.QueryResponse:
        request_id = uuid.uuid4().hex
        try:
            query = Query.from_proto(request)
            plan = narrow(
                query,
                fields=query.fields,
                extra_filters=(),
                aggregate_only=self.ob.aggregate_only,
                max_rows=self.ob.max_rows,
                min_cell_count=self.ob.min_cell_count,
                request_id=request_id,
                adapter_id=self.adapter_id,
                policy_revision="",
                now=dt.datetime.now(dt.UTC),
                request_hash=sha256(request.SerializeToString()),
                caller=peer_identity(context.auth_context()) or "",
                caller_hpke_public_key=request.auth.hpke_public_key,
                epsilon=self.ob.epsilon,
            )
            if plan.epsilon is not None:
                # The same release every time, as the gateway's held release: the adapter does
                # the same work on both paths (docs/adr/0009).
                plan = dataclasses.replace(plan, release_fresh=True, release_until=RELAY_UNTIL)
                plan = dataclasses.replace(plan, release_id=release_id(plan, hold_key(RELAY_UNTIL)))
        except InvalidQuery as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        blob = sign_blob(plan.to_proto().SerializeToString(), self.signer)
        try:
            answer: adapter_pb2.ExecuteResponse = await self.stub.Execute(
                adapter_pb2.ExecuteRequest(
                    plan=blob.data, key_id=blob.key_id, signature=blob.signature
                ),
                timeout=ADAPTER_TIMEOUT,
            )
        except grpc.aio.AioRpcError as e:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"adapter failed: {e.details()}")
        return query_pb2.QueryResponse(
            request_id=request_id,
            results=[
                query_pb2.AdapterResult(
                    adapter_id=answer.adapter_id,
                    payload=answer.payload,
                    payload_sha256=answer.payload_sha256,
                    row_count=answer.row_count,
                    plan=query_pb2.SignedBlob(
                        data=blob.data, key_id=blob.key_id, signature=blob.signature
                    ),
                    attestation=query_pb2.SignedBlob(
                        data=answer.attestation, key_id=answer.key_id, signature=answer.signature
                    ),
                )
            ],
            granted_fields=list(plan.fields),
        )

    async def ProveReceipt(
        self, request: query_pb2.ProveReceiptRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> query_pb2.ProveReceiptResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the relay keeps no audit log")
        raise AssertionError("unreachable: abort raises")

    async def Capabilities(
        self, request: query_pb2.CapabilitiesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> query_pb2.CapabilitiesResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the relay has no policy")
        raise AssertionError("unreachable: abort raises")


async def serve(
    listen: str, pki: Path, keys: Path, adapter_id: str, address: str, ob: Obligations
) -> None:
    """Run the relay until cancelled."""
    tls = TlsFiles.load(pki, "gateway")
    signer = Signer.current(keys, "gateway", GATEWAY_ID)
    channel = grpc.aio.secure_channel(address, tls.channel_credentials())
    server = grpc.aio.server()
    query_pb2_grpc.add_QueryServiceServicer_to_server(
        Relay(adapter_id, adapter_pb2_grpc.AdapterServiceStub(channel), ob, signer), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    if server.add_secure_port(listen, tls.server_credentials()) == 0:
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=1)
        await channel.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--pki", required=True, type=Path)
    parser.add_argument("--keys", required=True, type=Path, help="keys dir (registry.json)")
    parser.add_argument("--adapter", required=True, help="ID=HOST:PORT")
    parser.add_argument("--policies", default=Path("policies"), type=Path)
    args = parser.parse_args(argv)
    adapter_id, _, address = str(args.adapter).partition("=")
    ob = obligations(args.policies)

    async def run() -> None:
        task = asyncio.ensure_future(
            serve(args.listen, args.pki, args.keys, adapter_id, address, ob)
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
