"""An in-memory federation: the gateway's request pipeline, real adapters and a real log,
in one process, with no sockets (after python-tuf's `tests/repository_simulator.py`).

What is real: the gateway's servicers, `Pipeline`, `Recorder` and `FanOut`; the Wasm
policy engine over `policies/`; the audit store, writer, replay guard and checkpointer on
an SQLite file; the adapters (`SqlAdapter`) over an SQLite police store, which verify the
gateway's plan signatures, seal their answers to the caller and attest them; the
generated gRPC stubs and the client library (`GerbangClient`, `AnalyticsClient`), which
sign requests and verify and open answers; the interceptor that audits undecodable bytes.

What stands in for the network: `InProcessChannel` hands the serialised request bytes to
`InProcessServer`, which decodes them with the method's own deserializer, runs the
interceptors and the handler with an `InProcessContext` carrying the caller's certificate,
and hands back the serialised answer, or the status and trailing metadata of an abort as
the `grpc.aio.AioRpcError` a real channel raises. TLS, HTTP/2 and admission control (an
interceptor that limits rates per connection) are left out; the process-level tests cover
them. Keys are fixed (`tests.support.determinism`), so a run is repeatable.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn, cast

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from adapters.held import HeldReleases
from adapters.plans import SeenPlans
from adapters.server import SqlAdapter, make_engine
from gateway.audit.checkpoints import ORIGIN, Checkpointer, LogKey
from gateway.audit.store import AuditStore
from gateway.audit.writer import AuditWriter
from gateway.client import CallerKeys, GerbangClient
from gateway.policy import engine_from_config
from gateway.policy.engine import PolicyEngine
from gateway.protocol.catalog import Catalog, Dataset
from gateway.protocol.identities import EXAMPLE_CALLERS, GATEWAY_ID, adapter_id
from gateway.protocol.keys import KeyRegistry, RegisteredKey, RegistryFile, Signer, key_id
from gateway.protocol.wire import MalformedRequests
from gateway.service.analytics import AnalyticsServicer
from gateway.service.fanout import AdapterLink, FanOut
from gateway.service.pipeline import Pipeline
from gateway.service.replay import ReplayGuard
from gateway.service.server import Gateway, Undecodable
from gateway.tlog.note import format_signer_key, format_verifier_key, parse_signer_key
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc, analytics_pb2_grpc, query_pb2_grpc
from tests.support.determinism import hpke_key, seed_bytes, signing_key

ROOT: Final = Path(__file__).resolve().parents[2]
POLICIES: Final = ROOT / "policies"
# Every key is valid from here on; a run's clock must be later.
NOT_BEFORE: Final = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COMMITMENT_KEY: Final = seed_bytes("audit-commitment")
OVERSIGHT: Final = "oversight-kompolnas"


# --- the transport, in process --------------------------------------------------------------


class Aborted(Exception):
    """What `context.abort` raises: the call ends with this status."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailing: Sequence[tuple[str, Any]] = ()
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.trailing = tuple(trailing)


@functools.cache
def certificate_pem(identity: str) -> bytes:
    """A self-signed certificate whose one URI SAN is `identity`, as mTLS would verify it."""
    key = signing_key("certificate:" + identity)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "in-memory federation")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=False
        )
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class InProcessContext:
    """The servicer context of one call: the peer's certificate, and abort."""

    def __init__(self, identity: str | None) -> None:
        self._auth = {} if identity is None else {"x509_pem_cert": [certificate_pem(identity)]}

    def auth_context(self) -> Mapping[str, Sequence[bytes]]:
        return self._auth

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def peer(self) -> str:
        return "in-process"

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Sequence[tuple[str, Any]] = (),
    ) -> NoReturn:
        raise Aborted(code, details, trailing_metadata)

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        raise Aborted(status.code, status.details, status.trailing_metadata)


@dataclass(frozen=True)
class CallDetails:
    method: str
    invocation_metadata: tuple[()] = ()


@dataclass(frozen=True)
class Reply:
    """The end of one call: its status, and the serialised answer when OK."""

    code: grpc.StatusCode
    payload: bytes = b""
    details: str = ""
    trailing: tuple[tuple[str, Any], ...] = ()


class InProcessServer:
    """Collects the handlers a generated `add_*Servicer_to_server` registers, and runs one
    call the way grpc.aio does: decode, interceptors, handler, encode."""

    def __init__(self, interceptors: Sequence[grpc.aio.ServerInterceptor] = ()) -> None:
        self.interceptors = list(interceptors)
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """The generated code registers each service twice; the named handlers suffice."""

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        for name, handler in handlers.items():
            self.handlers[f"/{service}/{name}"] = handler

    def as_grpc(self) -> grpc.aio.Server:
        """This server where the generated code expects one (it calls only the two above)."""
        return cast(grpc.aio.Server, self)

    async def _handler(self, method: str) -> Any:
        async def base(details: grpc.HandlerCallDetails) -> Any:
            return self.handlers.get(details.method)

        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]] = base
        for interceptor in reversed(self.interceptors):
            continuation = functools.partial(interceptor.intercept_service, continuation)
        return await continuation(cast(grpc.HandlerCallDetails, CallDetails(method)))

    async def call(self, method: str, payload: bytes, identity: str | None) -> Reply:
        handler = await self._handler(method)
        if handler is None:
            return Reply(grpc.StatusCode.UNIMPLEMENTED, details=f"no method {method}")
        request = handler.request_deserializer(payload)
        try:
            response = await handler.unary_unary(request, InProcessContext(identity))
        except Aborted as e:
            return Reply(e.code, details=e.details, trailing=e.trailing)
        return Reply(grpc.StatusCode.OK, handler.response_serializer(response))


def _rpc_error(reply: Reply) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        reply.code, grpc.aio.Metadata(), grpc.aio.Metadata(*reply.trailing), reply.details
    )


@dataclass
class _UnaryUnary:
    server: InProcessServer
    identity: str
    method: str
    serialize: Callable[[Any], bytes]
    deserialize: Callable[[bytes], Any]

    async def __call__(self, request: Any, *_: Any, **__: Any) -> Any:
        reply = await self.server.call(self.method, self.serialize(request), self.identity)
        if reply.code is not grpc.StatusCode.OK:
            raise _rpc_error(reply)
        return self.deserialize(reply.payload)


@dataclass
class InProcessChannel:
    """A `grpc.aio.Channel` for the generated stubs, whose peer is `server`, as `identity`."""

    server: InProcessServer
    identity: str

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes],
        response_deserializer: Callable[[bytes], Any],
        **_: Any,
    ) -> _UnaryUnary:
        return _UnaryUnary(
            self.server, self.identity, method, request_serializer, response_deserializer
        )

    def unary_stream(self, method: str, *_: Any, **__: Any) -> Callable[..., NoReturn]:
        def unsupported(*_: Any, **__: Any) -> NoReturn:
            raise NotImplementedError(f"{method}: streams are not simulated in process")

        return unsupported

    async def close(self) -> None:
        return None


def channel(server: InProcessServer, identity: str) -> grpc.aio.Channel:
    return cast(grpc.aio.Channel, InProcessChannel(server, identity))


# --- the parties --------------------------------------------------------------------------


def identities(adapters: Sequence[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """slug -> (SPIFFE ID, key kinds), as `gerbang keys init` makes them for development."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {
        slug: (spiffe, ("signing", "hpke")) for slug, spiffe in EXAMPLE_CALLERS.items()
    }
    out["gateway"] = (GATEWAY_ID, ("signing",))
    for name in adapters:
        out[f"adapter-{name}"] = (adapter_id(name), ("signing",))
    return out


def registered_key(slug: str, owner: str, kind: str) -> RegisteredKey:
    if kind == "signing":
        public = signing_key(slug).public_key().public_bytes_raw()
    else:
        public = hpke_key(slug).public_key().public_bytes_raw()
    return RegisteredKey(owner, kind, key_id(kind, public), public, NOT_BEFORE)


def signer(slug: str, owner: str) -> Signer:
    return Signer(owner, registered_key(slug, owner, "signing").key_id, signing_key(slug))


def log_key() -> LogKey:
    key = signing_key("audit-log")
    return LogKey(
        parse_signer_key(format_signer_key(ORIGIN, key)),
        format_verifier_key(ORIGIN, key.public_key()),
    )


@dataclass
class InMemoryFederation:
    """The gateway and its adapters in this process; `start` and `stop` on one event loop.

    `police` maps each adapter's name to the SQLAlchemy URL of its police store."""

    workdir: Path
    police: Mapping[str, str]
    policies: Path = POLICIES
    details: bool = True  # seal audit details to the oversight key, as deployments do
    gateway: InProcessServer = field(init=False)
    store: AuditStore = field(init=False)
    pipeline: Pipeline = field(init=False)
    checkpointer: Checkpointer = field(init=False)
    adapters: dict[str, SqlAdapter] = field(init=False, default_factory=dict)
    _closers: list[Callable[[], Awaitable[None] | None]] = field(init=False, default_factory=list)

    @property
    def registry_path(self) -> Path:
        return self.workdir / "keys" / "registry.json"

    async def start(self) -> None:
        ids = identities(tuple(self.police))
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        KeyRegistry(
            tuple(
                registered_key(slug, owner, kind)
                for slug, (owner, kinds) in ids.items()
                for kind in kinds
            )
        ).save(self.registry_path)
        keys = RegistryFile(self.registry_path)
        described: list[tuple[str, list[Dataset]]] = []
        links: dict[str, AdapterLink] = {}
        for name, url in self.police.items():
            aid = adapter_id(name)
            engine = make_engine(url)
            seen = SeenPlans(self.workdir / f"adapter-{name}-plans.db")
            held = HeldReleases(self.workdir / f"adapter-{name}-releases.db")
            adapter = SqlAdapter(aid, engine, keys, signer(f"adapter-{name}", aid), seen, held)
            self._closers += [engine.dispose, seen.close, held.close]
            server = InProcessServer([MalformedRequests()])
            adapter_pb2_grpc.add_AdapterServiceServicer_to_server(adapter, server.as_grpc())
            stub = adapter_pb2_grpc.AdapterServiceStub(channel(server, GATEWAY_ID))
            answer = await stub.Describe(adapter_pb2.DescribeRequest())
            described.append((aid, [Dataset.from_proto(d) for d in answer.datasets]))
            links[aid] = AdapterLink(aid, "in-process", stub, channel(server, GATEWAY_ID))
            self.adapters[name] = adapter
        self.store = AuditStore(f"sqlite:///{self.workdir / 'audit.db'}")
        self.store.create()
        writer = AuditWriter(self.store)
        writer.start()
        replay = ReplayGuard(self.store)
        replay.start()
        policy: PolicyEngine = engine_from_config("wasm", self.policies)
        self._closers += [self.store.close, policy.close, replay.stop, writer.stop]
        plan_signer = signer("gateway", GATEWAY_ID)
        self.pipeline = Pipeline(
            engine=policy,
            engine_name="wasm",
            writer=writer,
            catalog=Catalog.merge(described),
            fan_out=FanOut(links, keys, plan_signer),
            commitment_key=COMMITMENT_KEY,
            keys=keys,
            plan_signer=plan_signer,
            replay=replay,
            store=self.store,
            details_key=hpke_key(OVERSIGHT).public_key() if self.details else None,
            policies_dir=self.policies,
        )
        undecodable = Undecodable()
        undecodable.pipeline = self.pipeline
        self.gateway = InProcessServer([MalformedRequests(undecodable)])
        query_pb2_grpc.add_QueryServiceServicer_to_server(
            Gateway(self.pipeline, self.store), self.gateway.as_grpc()
        )
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(
            AnalyticsServicer(self.pipeline), self.gateway.as_grpc()
        )
        self.checkpointer = Checkpointer(self.store, log_key())

    async def stop(self) -> None:
        while self._closers:
            done = self._closers.pop()()
            if done is not None:
                await done

    def caller_keys(self, slug: str) -> CallerKeys:
        owner = EXAMPLE_CALLERS[slug]
        hpke = hpke_key(slug)
        public = hpke.public_key().public_bytes_raw()
        return CallerKeys(
            owner, signer(slug, owner), {public: hpke}, public, RegistryFile(self.registry_path)
        )

    def client(self, slug: str) -> GerbangClient:
        """The real client library for caller `slug`, talking to this gateway in process."""
        return GerbangClient(channel(self.gateway, EXAMPLE_CALLERS[slug]), self.caller_keys(slug))

    async def call(self, method: str, payload: bytes, slug: str | None) -> Reply:
        """Raw request bytes to a gateway method (e.g. "/gerbang.v1.QueryService/Query")."""
        return await self.gateway.call(
            method, payload, None if slug is None else EXAMPLE_CALLERS[slug]
        )

    def size(self) -> int:
        return self.store.head().size

    def leaves(self, start: int = 0) -> list[bytes]:
        return [e.leaf for e in self.store.entries(start, self.size())]
