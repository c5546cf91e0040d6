"""The gateway: a grpc.aio server, mTLS only, serving QueryService and AuditService.

The servicers here only translate: each request runs through `gateway.service.pipeline` (the
steps below, and its audit entry in every case), and a refusal leaves through
`gateway.service.status` (one table, google.rpc details).

One query, in order (DESIGN.md, "One query, end to end"):
1. the caller's identity is the SPIFFE URI SAN of its verified client certificate;
2. the request is checked for size and shape, then against the adapters' catalogue;
3. the policy engine decides (errors, timeouts and malformed answers are denials);
4. a denial is audited, then returned as PERMISSION_DENIED with its reasons;
5. an allowed query becomes one plan per adapter serving the dataset (fan-out); with a
   differential-privacy epsilon, the release is first charged to the privacy accounts of
   the data periods it reads, or found held (`gateway.service.releasing`; over budget: a denial,
   and no plan is signed or sent);
6. the adapters' opaque payloads come back; the gateway records their digests;
7. the audit entry is durably committed, and only then do the results leave.
Every outcome after authentication, allowed, denied or failed, is one audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn, TypeAlias

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy.exc import SQLAlchemyError

from gateway import errors
from gateway.audit.checkpoints import Checkpointer, LogKey
from gateway.audit.service import MAX_INDEX, AuditService
from gateway.audit.store import AuditStore, AuditWriter
from gateway.audit.tiles import start_gateway_tiles
from gateway.audit.witnessing import TlogWitness
from gateway.errors import AuditIntegrityError, ConfigurationError
from gateway.policy import PolicyEngine
from gateway.policy.bundle import load_bundle
from gateway.protocol.catalog import Catalog, Dataset
from gateway.protocol.health_port import start_health_port
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import RegistryFile, Signer
from gateway.protocol.model import Query
from gateway.protocol.reflection import enable_reflection
from gateway.protocol.sealed_details import load_public_key
from gateway.protocol.tls import TlsFiles, peer_identity
from gateway.protocol.wire import MalformedRequests
from gateway.service import answering, refusals
from gateway.service.admission import AdmissionControl, server_options
from gateway.service.analytics import AnalyticsServicer
from gateway.service.fanout import AdapterLink, FanOut
from gateway.service.pipeline import Pipeline
from gateway.service.recording import Outcome
from gateway.service.refusals import (
    AuditCorrupt,
    FieldViolation,
    InvalidRequest,
    NotFound,
    NotReady,
    RequestRefused,
)
from gateway.service.replay import ReplayGuard
from gateway.service.status import abort, identify, receipted
from gateway.tlog.mldsa import parse_witness_key
from gerbang.v1 import (
    adapter_pb2,
    adapter_pb2_grpc,
    analytics_pb2,
    analytics_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)

log = structlog.get_logger("gerbang.gateway")

# gRPC refuses anything larger before a handler runs; between MAX_REQUEST_BYTES
# and this, the handler refuses it and the refusal is audited.
GRPC_MAX_RECEIVE: Final = 1024 * 1024
_Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class Gateway(query_pb2_grpc.QueryServiceServicer):
    """QueryService: translates gRPC to the request pipeline and its refusals back."""

    def __init__(self, pipeline: Pipeline, store: AuditStore) -> None:
        self.pipeline = pipeline
        self.store = store

    async def Query(
        self, request: query_pb2.QueryRequest, context: _Context
    ) -> query_pb2.QueryResponse:
        caller = await identify(context, "QueryService", "Query")
        auth = request.auth if request.HasField("auth") else None
        try:
            recorded = await self.pipeline.run(
                caller,
                lambda o: answering.query(
                    self.pipeline, request, lambda: Query.from_proto(request), auth, o
                ),
                service="QueryService",
                method="Query",
            )
        except RequestRefused as e:
            await abort(context, e)
            raise
        return receipted(recorded)

    async def Capabilities(
        self, request: query_pb2.CapabilitiesRequest, context: _Context
    ) -> query_pb2.CapabilitiesResponse:
        """What the caller may ask, from the registry in force; one audit entry, as every call."""
        method = "Capabilities"
        caller = await identify(context, "QueryService", method)
        try:
            recorded = await self.pipeline.run(
                caller,
                lambda o: answering.capabilities(self.pipeline, o),
                service="QueryService",
                method=method,
                kind=method,
            )
        except RequestRefused as e:
            await abort(context, e)
            raise
        return receipted(recorded)

    async def ProveReceipt(
        self, request: query_pb2.ProveReceiptRequest, context: _Context
    ) -> query_pb2.ProveReceiptResponse:
        """An inclusion proof of the caller's own entry against the latest checkpoint.

        Not an audit entry of its own: it reads what the caller's entry already recorded,
        and a client polls it until a checkpoint covers the entry."""
        caller = peer_identity(context.auth_context())
        index = request.leaf_index
        try:
            if index > MAX_INDEX:
                raise InvalidRequest(
                    f"leaf_index {index} is beyond any log's size",
                    fields=(FieldViolation("leaf_index", "beyond any log's size"),),
                )
            entries = await asyncio.to_thread(self.store.entries, index, index + 1)
            if not entries or entries[0].fields().get("caller") != caller:
                raise NotFound(f"no entry {index} of yours")
            checkpoint = await asyncio.to_thread(self.store.checkpoint)
            if checkpoint is None or checkpoint.size <= index:
                raise NotReady(f"entry {index} is not checkpointed yet; retry")
            _, proof, _ = await asyncio.to_thread(
                self.store.inclusion_proof, index, checkpoint.size
            )
        except RequestRefused as e:
            await abort(context, e)
            raise
        except AuditIntegrityError as e:
            log.error("audit store corrupt", error=str(e))
            await abort(context, AuditCorrupt(f"the audit log does not verify: {e}"))
            raise
        except (errors.AuditUnavailable, SQLAlchemyError) as e:
            log.error("audit store unreadable", error=str(e))
            await abort(
                context,
                refusals.AuditUnavailable("log audit tidak tersedia / audit log unavailable"),
            )
            raise
        return query_pb2.ProveReceiptResponse(
            leaf=entries[0].leaf,
            tree_size=checkpoint.size,
            proof=proof,
            checkpoint=checkpoint.cosigned_note(),
        )


class Undecodable:
    """Audits a request that did not decode, once the pipeline exists (gateway/protocol/wire.py)."""

    pipeline: Pipeline | None = None

    async def __call__(self, context: _Context, method: str) -> None:
        service, _, name = method.rpartition("/")
        service = service.rsplit(".", 1)[-1]
        caller = await identify(context, service, name)
        if self.pipeline is None:
            raise AssertionError("requests are served only once the pipeline exists")
        refusal = InvalidRequest(
            "permintaan tidak dapat dibaca / the request is not a valid protobuf message "
            "(a string field with invalid UTF-8, or a malformed field)",
            fields=(FieldViolation(name, "does not decode as its request message"),),
        )

        async def steps(_: Outcome) -> None:
            raise refusal

        try:
            await self.pipeline.run(caller, steps, service=service, method=name, kind="undecodable")
        except RequestRefused as e:
            await abort(context, e)
            raise


def _policy_stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    )


async def watch_policies(gateway: Pipeline, directory: Path, interval: float = 2.0) -> None:
    """Reload the policies when their files change (and on SIGHUP), without a restart."""
    last = await asyncio.to_thread(_policy_stamp, directory)
    while True:
        await asyncio.sleep(interval)
        stamp = await asyncio.to_thread(_policy_stamp, directory)
        if stamp != last:
            last = stamp
            await gateway.reload_policy("policy files changed")


@dataclass(frozen=True)
class GatewayConfig:
    listen: str
    pki_dir: Path
    audit_url: str
    policies_dir: Path
    adapters: Mapping[str, str]  # adapter id -> address
    commitment_key: bytes
    engine: str = "wasm"
    opa_url: str | None = None
    opa_tls: Path | None = None  # the mTLS link to OPA (ADR 0018)
    tls_name: str = "gateway"
    audit_readers: frozenset[str] = frozenset()
    log_key: Path = Path(".gerbang/keys/audit-log.key")
    witnesses: tuple[str, ...] = ()  # cosigner verifier keys (C2SP tlog-cosignature)
    tlog_witnesses: tuple[str, ...] = ()  # "URL,VKEY": submitted to (C2SP tlog-witness)
    tiles_listen: str | None = None  # C2SP tlog-tiles over HTTPS, the AuditService's mTLS
    tiles_dir: Path | None = None  # C2SP tlog-tiles as static files, after each checkpoint
    details_key: str | None = None  # oversight's X25519 key for sealed details
    keys_dir: Path = Path(".gerbang/keys")  # registry.json and the gateway's keystore
    startup_timeout: float = 20.0
    health_listen: str | None = None  # plaintext grpc.health.v1 for probes; off by default
    # Defaults until the registry sets them per caller (issue 12, item 4).
    stream_lifetime: float = 3600.0  # the ceiling; a caller's registry limit may be shorter
    adapter_timeout: float = 30.0
    handshake_timeout: float = 5.0  # seconds to finish a TLS handshake
    max_connections: int = 1024


async def connect_adapters(
    tls: TlsFiles,
    adapters: Mapping[str, str],
    timeout: float,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> tuple[dict[str, AdapterLink], Catalog]:
    """Open mTLS channels to the adapters and build the catalogue from their descriptions."""
    links: dict[str, AdapterLink] = {}
    described: list[tuple[str, list[Dataset]]] = []
    creds = tls.channel_credentials()
    for adapter_id, address in adapters.items():
        channel = grpc.aio.secure_channel(address, creds, interceptors=list(interceptors))
        stub = adapter_pb2_grpc.AdapterServiceStub(channel)
        try:
            answer = await stub.Describe(
                adapter_pb2.DescribeRequest(), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as e:
            raise ConfigurationError(
                f"adapter {adapter_id} at {address} did not answer: {e.details()}"
            ) from e
        if answer.adapter_id != adapter_id:
            raise ConfigurationError(
                f"adapter at {address} says it is {answer.adapter_id!r}, not {adapter_id!r}"
            )
        links[adapter_id] = AdapterLink(adapter_id, address, stub, channel)
        described.append((adapter_id, [Dataset.from_proto(d) for d in answer.datasets]))
    return links, Catalog.merge(described)


def _fail(message: str) -> NoReturn:
    raise ConfigurationError(message)


async def serve(
    config: GatewayConfig,
    engine: PolicyEngine,
    *,
    ready: asyncio.Event | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    adapter_interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    reuse_port: bool = False,
) -> None:
    """Run the gateway until cancelled. Interceptors are for tests that observe traffic.

    `reuse_port` is for the workers of one `--workers` set only (gateway/service/workers.py): a
    lone gateway binds its port alone, so a second one on the same port fails to start
    instead of silently sharing its connections.
    """
    tls = TlsFiles.load(config.pki_dir, config.tls_name)
    store = AuditStore(config.audit_url)
    await asyncio.to_thread(store.create)
    writer = AuditWriter(store)
    writer.start()
    replay = ReplayGuard(store)
    replay.start()
    keys = RegistryFile(config.keys_dir / "registry.json")
    plan_signer = Signer.current(config.keys_dir, "gateway", GATEWAY_ID)
    tlog_witnesses = [TlogWitness.parse(w) for w in config.tlog_witnesses]
    checkpointer = Checkpointer(
        store,
        LogKey.load_or_create(config.log_key),
        witnesses=tlog_witnesses,
        static_dir=config.tiles_dir,
    )
    tiles = None
    if config.tiles_listen is not None:  # who may read the tiles: who may call the AuditService
        tiles = start_gateway_tiles(
            config.tiles_listen, store, pki_dir=config.pki_dir, identity=config.tls_name,
            readers=config.audit_readers, reuse_port=reuse_port,
        )  # fmt: skip
    checkpoints = asyncio.get_running_loop().create_task(checkpointer.run(), name="checkpointer")
    witnesses = [parse_witness_key(k) for k in config.witnesses]
    links, catalog = await connect_adapters(
        tls, config.adapters, config.startup_timeout, adapter_interceptors
    )
    if not links:
        _fail("no adapters configured")
    undecodable = Undecodable()
    # Admission first, outermost: a flood is refused before anything else is spent on it.
    admission = AdmissionControl.from_data(load_bundle(config.policies_dir).data)
    server = grpc.aio.server(
        interceptors=[admission.interceptor(), MalformedRequests(undecodable), *interceptors],
        options=[
            ("grpc.max_receive_message_length", GRPC_MAX_RECEIVE),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            *server_options(config.handshake_timeout, config.max_connections),
        ],
    )
    pipeline = Pipeline(
        engine=engine,
        engine_name=config.engine,
        writer=writer,
        catalog=catalog,
        fan_out=FanOut(links, keys, plan_signer, config.adapter_timeout),
        commitment_key=config.commitment_key,
        keys=keys,
        plan_signer=plan_signer,
        replay=replay,
        store=store,
        details_key=None if config.details_key is None else load_public_key(config.details_key),
        policies_dir=config.policies_dir,
        admission=admission,
    )
    admission.start(writer)
    gateway = Gateway(pipeline, store)
    undecodable.pipeline = pipeline
    query_pb2_grpc.add_QueryServiceServicer_to_server(gateway, server)
    analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(
        AnalyticsServicer(pipeline, dt.timedelta(seconds=config.stream_lifetime)), server
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(
        AuditService(store, config.audit_readers, witnesses), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = (
        query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
        analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name,
        audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    )
    enable_reflection((*services, health.SERVICE_NAME), server)
    try:
        port = server.add_secure_port(config.listen, tls.server_credentials())
    except RuntimeError:  # newer grpcio raises where older ones returned 0
        port = 0
    if port == 0:
        _fail(f"cannot listen on {config.listen}: the address is in use or not local")
    await server.start()
    for name in ("", *services):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    # A plaintext health port for Kubernetes gRPC probes, only when asked for.
    health_port = (
        None
        if config.health_listen is None
        else await start_health_port(config.health_listen, health_servicer, reuse_port=reuse_port)
    )
    watcher = asyncio.get_running_loop().create_task(
        watch_policies(pipeline, config.policies_dir), name="policy-watcher"
    )
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP,
            lambda: asyncio.ensure_future(pipeline.reload_policy("SIGHUP")),
        )
    log.info(
        "gateway serving",
        listen=config.listen,
        adapters=sorted(links),
        datasets=sorted(catalog.datasets),
    )
    if ready is not None:
        ready.set()
    try:
        await server.wait_for_termination()
    finally:
        for name in ("", *services):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await server.stop(grace=2)
        if health_port is not None:
            await health_port.stop(grace=None)
        watcher.cancel()
        checkpoints.cancel()
        await admission.stop()  # its last window of refusals reaches the log
        await writer.stop()
        await replay.stop()
        if tiles is not None:
            await asyncio.to_thread(tiles.shutdown)
            tiles.server_close()
        await asyncio.to_thread(checkpointer.final)
        for link in links.values():
            await link.channel.close()
        await engine.close()
        store.close()
