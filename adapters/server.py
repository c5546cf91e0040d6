"""The SQL adapter: serves gerbang.v1.AdapterService over any SQLAlchemy URL.

It answers only the gateway's identity over mTLS, runs exactly the plan it is
given as one Core statement with bound parameters, applies the plan's
obligations (granted fields, appended row filters, aggregate-only, row limit,
small-cell suppression, differential privacy) on its own data, and returns the result
as an opaque serialised ResultSet.

With an epsilon in the plan, the counts are released by `privatise` over a domain fixed
from public geography before the data is read (`adapters.privacy`): discrete Laplace
noise on every cell (drawn while the database counts, `DrawnNoise`; ADR 0029), then the
minimum cell count on the noisy values.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy import Engine, create_engine, event, select

from adapters.call_log import CallLog
from adapters.held import HeldReleases
from adapters.noise import DrawnNoise, laplace_scale, prepare, privatise
from adapters.plans import SeenPlans, admit
from adapters.privacy import public_domain
from adapters.schema import Area, Base
from adapters.sql import (
    PlanRefused,
    Statement,
    compile_plan,
    describe,
    register_h3,
    suppress_small_cells,
)
from gateway.errors import ConfigurationError
from gateway.protocol.attestation import attestation
from gateway.protocol.encoding import sha256
from gateway.protocol.health_port import start_health_port
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import RegistryFile, Signer, x25519_public
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import QueryPlan
from gateway.protocol.reflection import enable_reflection
from gateway.protocol.release import hold_key, release_id
from gateway.protocol.sealing import seal_result
from gateway.protocol.signed_plan import SignedBlob
from gateway.protocol.tls import TlsFiles, peer_identity
from gateway.protocol.values import utc, value_to_proto
from gateway.protocol.wire import MalformedRequests
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc, common_pb2

log = structlog.get_logger("gerbang.adapter")


# Tables the generator keeps for evaluation only; never served.
_INTERNAL_TABLES = frozenset({"seed_truth"})


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _readonly_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA query_only = ON")
            cur.close()
            register_h3(conn)

    return engine


def _cell(value: Any) -> common_pb2.Value:
    if isinstance(value, decimal.Decimal):
        value = float(value)
    elif isinstance(value, dt.datetime):
        value = utc(value)
    return value_to_proto(value)


def encode_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], suppressed: int
) -> common_pb2.ResultSet:
    # Strings and integers (cells, areas, buckets, counts: nearly every value of an aggregate)
    # are set in place, about three times faster than a Value built and copied per value.
    out = common_pb2.ResultSet(columns=list(columns), suppressed_groups=suppressed)
    add_row = out.rows.add
    for row in rows:
        values = add_row().values
        for v in row:
            kind = type(v)
            if kind is str:
                values.add().string_value = v
            elif kind is int:
                values.add().int_value = v
            else:
                values.append(_cell(v))
    return out


class SqlAdapter(adapter_pb2_grpc.AdapterServiceServicer):
    def __init__(
        self,
        adapter_id: str,
        engine: Engine,
        keys: RegistryFile | None = None,
        signer: Signer | None = None,
        seen: SeenPlans | None = None,
        held: HeldReleases | None = None,
    ) -> None:
        self.adapter_id = adapter_id
        self.engine = engine
        self._keys = keys
        self._signer = signer
        self._seen = seen
        self._held = held
        self.tables = {
            t.name: t for t in Base.metadata.sorted_tables if t.name not in _INTERNAL_TABLES
        }
        self.datasets = {d.name: d for d in describe(self.tables.values())}

    @property
    def keys(self) -> RegistryFile:
        if self._keys is None:
            raise ConfigurationError("adapter has no key registry")
        return self._keys

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            raise ConfigurationError("adapter has no result key")
        return self._signer

    @property
    def seen(self) -> SeenPlans:
        if self._seen is None:
            raise ConfigurationError("adapter has no plan replay cache")
        return self._seen

    async def _authorise(self, context: grpc.aio.ServicerContext[Any, Any], method: str) -> str:
        """Log the call with the caller's identity; abort unless the caller is the gateway."""
        peer = peer_identity(context.auth_context())
        allowed = peer == GATEWAY_ID
        log.info("adapter call", method=method, caller=peer, authorised=allowed)
        if not allowed:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"caller {peer!r} is not the gateway"
            )
        assert peer is not None
        return peer

    def run(self, plan: QueryPlan) -> tuple[common_pb2.ResultSet, int]:
        """Compile and run one plan (blocking; called in a worker thread)."""
        table = self.tables.get(plan.dataset)
        dataset = self.datasets.get(plan.dataset)
        if table is None or dataset is None:
            raise PlanRefused(f"this adapter does not serve dataset {plan.dataset!r}")
        stmt: Statement = compile_plan(plan, table, dataset, self.engine.dialect.name)
        if plan.epsilon is not None:
            return self._run_private(plan, stmt)
        if plan.aggregate_only and stmt.aggregated and stmt.columns != ("exists",):
            # Exact counts with small cells suppressed on their true values can be differenced
            # (ADR 0009): an aggregate-only purpose's counts are released with noise or not at all.
            raise PlanRefused(
                "an aggregate-only plan of counts must carry its privacy mechanism (epsilon)"
            )
        with self.engine.connect() as conn:
            rows = stmt.rows(conn.execute(stmt.select))
        suppressed = 0
        if stmt.aggregated and stmt.columns != ("exists",):
            rows, suppressed = suppress_small_cells(rows, stmt.min_cell_count, stmt.max_rows)  # type: ignore[assignment]
        return encode_rows(stmt.columns, rows, suppressed), len(rows)

    def _areas(self) -> dict[str, str]:
        """This adapter's kecamatan and their kota: public geography, not incident data."""
        areas = Area.__table__
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(select(areas.c.kecamatan, areas.c.kota))}

    def _run_private(self, plan: QueryPlan, stmt: Statement) -> tuple[common_pb2.ResultSet, int]:
        """Noisy counts over a public domain, k applied after the noise."""
        if not stmt.aggregated or stmt.columns == ("exists",):
            raise PlanRefused("differential privacy applies to aggregate counts only")
        if plan.epsilon is None:
            raise PlanRefused("a differentially private answer needs the plan's epsilon")
        # The domain is fixed before a single count is read; so is its noise, which is drawn
        # while the database counts (a patrol plan's domain: about 8,700 groups in spans,
        # 150,000 by week).
        domain = public_domain(stmt.dimensions, plan.filters, self._areas())
        noise = DrawnNoise(len(domain), laplace_scale(plan.epsilon))
        with self.engine.connect() as conn:
            counts = {r[:-1]: int(r[-1]) for r in stmt.rows(conn.execute(stmt.select))}
        release = privatise(
            counts,
            domain=domain,
            epsilon=plan.epsilon,
            min_count=stmt.min_cell_count,
            noise=noise,
        )
        kept = sorted(release.counts.items())[: stmt.max_rows]
        rows = [(*key, n) for key, n in kept]
        return encode_rows(stmt.columns, rows, len(release.suppressed)), len(rows)

    def answer(self, plan: QueryPlan, now: dt.datetime) -> tuple[bytes, int]:
        """The serialised ResultSet for `plan`: held, or run (blocking; in a worker thread).

        A noisy plan names its release: held here, it is answered with the held bytes; else
        it is run only if the gateway charged it (`release_fresh`), and then held.
        """
        if plan.epsilon is None:
            result, count = self.run(plan)
            return result.SerializeToString(), count
        if not plan.release_id or plan.release_until is None or self._held is None:
            raise PlanRefused("a plan with noise must name its release and where it is held")
        # A held answer is only ever given for the very question it answered: the release id
        # must be the hash of this plan's own content and hold period (docs/adr/0009).
        if plan.release_id != release_id(plan, hold_key(plan.release_until)):
            raise PlanRefused("the plan's release id does not match what the plan asks")
        held = self._held.get(plan.release_id, now)
        if held is None:
            if not plan.release_fresh:
                raise PlanRefused(
                    "the plan asks for a held release this adapter does not hold; ask again"
                )
            result, _ = self.run(plan)
            held = self._held.hold(
                plan.release_id, result.SerializeToString(), plan.release_until, now
            )
        released = common_pb2.ResultSet.FromString(held)
        return held, len(released.rows)

    async def Execute(
        self, request: adapter_pb2.ExecuteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> adapter_pb2.ExecuteResponse:
        await self._authorise(context, "Execute")
        signed = SignedBlob(request.plan, request.key_id, request.signature)
        try:
            now = dt.datetime.now(dt.UTC)
            plan = admit(signed, self.adapter_id, self.keys, self.seen, now)
            result, count = await asyncio.to_thread(self.answer, plan, now)
        except InvalidQuery as e:
            log.warning("plan refused", reason=str(e))
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"adapter refused the plan: {e}"
            )
            raise
        except Exception as e:  # the database failed: say so without leaking data
            log.error("plan failed", error_type=type(e).__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "adapter failed to run the plan")
            raise
        # Sealed to the caller, bound to this plan: the gateway forwards only ciphertext.
        plan_hash = sha256(signed.data)
        sealed = seal_result(result, x25519_public(plan.caller_hpke_public_key), plan_hash)
        attested = attestation(self.adapter_id, plan_hash, sealed, count, dt.datetime.now(dt.UTC))
        log.info("plan executed", request_id=plan.request_id, rows=count, dataset=plan.dataset)
        return adapter_pb2.ExecuteResponse(
            adapter_id=self.adapter_id,
            payload=sealed,
            payload_sha256=sha256(sealed),
            row_count=count,
            attestation=attested,
            key_id=self.signer.key_id,
            signature=self.signer.sign(attested),
        )

    async def Describe(
        self, request: adapter_pb2.DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> adapter_pb2.DescribeResponse:
        """The datasets and fields served: for the gateway only, like every plan."""
        await self._authorise(context, "Describe")
        return adapter_pb2.DescribeResponse(
            adapter_id=self.adapter_id, datasets=[d.to_proto() for d in self.datasets.values()]
        )

    def _database_answers(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar_one()

    async def Health(
        self, request: adapter_pb2.HealthRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> adapter_pb2.HealthResponse:
        """Serving or not, for operators with any federation certificate: nothing about the
        data (the response's `dataset_rows` is never filled; row counts of police tables
        are not for every certificate holder)."""
        peer = peer_identity(context.auth_context())
        try:
            await asyncio.to_thread(self._database_answers)
            serving = True
        except Exception as e:  # the database is down: say so, no details
            log.error("health check failed", error_type=type(e).__name__)
            serving = False
        log.info("adapter call", method="Health", caller=peer, serving=serving)
        return adapter_pb2.HealthResponse(adapter_id=self.adapter_id, serving=serving)


async def serve(
    adapter_id: str,
    store: str,
    listen: str,
    pki_dir: Path,
    tls_name: str,
    keys_dir: Path,
    state: Path,
    *,
    health_listen: str | None = None,
) -> None:
    """Run the adapter until cancelled."""
    prepare()
    engine = make_engine(store)
    keys = RegistryFile(keys_dir / "registry.json")
    signer = Signer.current(keys_dir, tls_name, adapter_id)
    seen = SeenPlans(state)
    held = HeldReleases(state.with_name(state.stem + "-releases.db"))
    adapter = SqlAdapter(adapter_id, engine, keys, signer, seen, held)
    server = grpc.aio.server(interceptors=[CallLog(), MalformedRequests()])
    adapter_pb2_grpc.add_AdapterServiceServicer_to_server(adapter, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (
        adapter_pb2.DESCRIPTOR.services_by_name["AdapterService"].full_name,
        health.SERVICE_NAME,
    )
    enable_reflection(names, server)
    port = server.add_secure_port(listen, TlsFiles.load(pki_dir, tls_name).server_credentials())
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(names[0], health_pb2.HealthCheckResponse.SERVING)
    # A plaintext health port for Kubernetes gRPC probes, only when asked for.
    health_port = (
        None if health_listen is None else await start_health_port(health_listen, health_servicer)
    )
    log.info(
        "adapter serving", adapter_id=adapter_id, listen=listen, datasets=sorted(adapter.datasets)
    )
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=2)
        if health_port is not None:
            await health_port.stop(grace=None)
        engine.dispose()
        seen.close()
        held.close()
