"""Faults against real processes: each ends in a clear status and one audit entry (issue 12).

The gateway and two adapters run as processes over mTLS (tools/federation.py). Each fault
is injected from outside, as an operator or an attacker would cause it:

- an adapter killed, hung (SIGSTOP) or killed while it holds a plan (mid-answer);
- the audit disk full (a small tmpfs when running as root; skipped otherwise, except
  under CI): the entry and the nonce claim are one commit, so "nonce" and "entry" are one
  step here; the checkpointer fails beside it and catches up once there is room;
- a stream whose signing key is revoked while it runs, and one past its lifetime;
- every input that crashed a handler (tests/e2e/test_wire_values.py lists them), requests
  that do not decode, and a proof of leaf 2^64-1;
- Hypothesis over the filter compiler (bounded examples).

Each authenticated request is exactly one audit entry with the status the caller got,
refusals carry google.rpc details that the client maps to typed exceptions, and
`gerbang audit verify` passes at the end. Also measured here: one durable commit per
request (gerbang_store_commits_total).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.analytics import operations as ops
from gateway.audit.checkpoints import LogKey
from gateway.audit.store import AuditStore
from gateway.cli import main as gerbang
from gateway.client import (
    AuditUnavailable,
    GerbangClient,
    PolicyDenied,
    QueryRefused,
    Unauthenticated,
)
from gateway.client.analytics import AnalyticsClient
from gateway.errors import GerbangError
from gateway.oversight.verify import verify_log
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import query_pb2, query_pb2_grpc
from tests.conftest import month_window, require
from tests.e2e.test_wire_values import CASES, GOOD, invalid_utf8, same, time_filter
from tests.support.audit_log import entry, log_size
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, Process, free_port, wait_healthy

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
QUERY = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    PURPOSES["traffic_planning"]["legal_basis"],
)
ADAPTER_TIMEOUT = 3.0
STREAM_LIFETIME = 8.0
END = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("faults")
    init_pki(work / "pki", adapters=("f1", "f2"))
    specs = []
    for i, (name, kota) in enumerate((("f1", "Jakarta Pusat"), ("f2", "Jakarta Timur"))):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=1500, seed=31 + i, kota=(kota,))
        specs.append(AdapterSpec(name, url))
    metrics = free_port()
    args = ["--metrics-port", str(metrics), "--adapter-timeout", str(ADAPTER_TIMEOUT)]
    args += ["--stream-lifetime", str(STREAM_LIFETIME)]
    with LocalFederation(work, specs, extra_gateway_args=args) as fed:
        fed.metrics_port = metrics  # type: ignore[attr-defined]
        yield fed


def client(federation: LocalFederation, slug: str = "dishub-atcs") -> GerbangClient:
    return GerbangClient.connect(federation.address, federation.pki, slug)


def adapter(federation: LocalFederation, name: str) -> Process:
    return next(p for p in federation.processes if p.name == f"adapter-{name}")


def restart(federation: LocalFederation, name: str) -> None:
    p = adapter(federation, name)
    with contextlib.suppress(Exception):
        p.stop(timeout=5)
    p.start()
    probe = TlsFiles.load(federation.pki, "gateway")
    wait_healthy(federation.adapter_addresses[name], probe, p)


def metric(federation: LocalFederation, name: str, **labels: str) -> float:
    port = federation.metrics_port  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not want and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def refusal(call: Awaitable[Any]) -> QueryRefused:
    """The refusal `call` ends in; it must end in one."""
    try:
        await call
    except QueryRefused as e:
        return e
    raise AssertionError("the call was answered; a refusal was expected")


async def served_again(federation: LocalFederation, within: float = 15.0) -> None:
    """The gateway answers again once its channel to a restarted adapter reconnects (gRPC's
    reconnect backoff); until then each attempt is a refusal, audited like any other."""
    deadline = asyncio.get_running_loop().time() + within
    async with client(federation) as c:
        while True:
            try:
                assert (await c.query(QUERY)).rows
                return
            except QueryRefused as e:
                if e.reason != "ADAPTER_FAILED" or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)


def assert_one_entry(
    federation: LocalFederation, before: int, refused: QueryRefused, status: str, decision: str
) -> dict[str, Any]:
    assert log_size(federation) == before + 1
    assert refused.audit_index == before
    assert refused.request_id
    e = entry(federation, before)
    assert e["status"] == status
    assert e["decision"] == decision
    assert e["request_id"] == refused.request_id
    assert e["row_count"] == 0
    return e


# --- one durable commit per request -----------------------------------------------------------


async def test_one_durable_commit_per_request(federation: LocalFederation) -> None:
    """Before issue 12 a request cost two commits: the nonce claim, then the entry."""
    entries = metric(federation, "gerbang_store_commits_total", kind="entries")
    nonces = metric(federation, "gerbang_store_commits_total", kind="nonces")
    before = log_size(federation)
    async with client(federation) as c:
        for _ in range(5):  # one at a time: group commit cannot share a transaction
            assert (await c.query(QUERY)).rows
    assert log_size(federation) == before + 5
    assert metric(federation, "gerbang_store_commits_total", kind="entries") == entries + 5
    assert metric(federation, "gerbang_store_commits_total", kind="nonces") == nonces


# --- typed refusals on the wire ---------------------------------------------------------------


async def test_policy_denial_is_typed_from_its_details(federation: LocalFederation) -> None:
    before = log_size(federation)
    asked = Query(
        "incidents",
        ("kecamatan",),
        month_window(2026, 10),
        Aggregation((GroupBy("kecamatan"),)),
        "criminal_investigation",
        "KUHAP Pasal 5",
    )
    async with client(federation) as c:
        with pytest.raises(PolicyDenied) as refused:
            await c.query(asked)
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.reason == "POLICY_DENIED"
    assert refused.value.reasons
    e = assert_one_entry(federation, before, refused.value, "PERMISSION_DENIED", "deny")
    assert tuple(e["reasons"]) == refused.value.reasons


def test_unsigned_request_has_error_info_with_its_entry(federation: LocalFederation) -> None:
    before = log_size(federation)
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as ch, pytest.raises(grpc.RpcError) as err:
        query_pb2_grpc.QueryServiceStub(ch).Query(
            time_filter(GOOD),
            timeout=10,  # well formed, but unsigned
        )
    status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
    assert status is not None
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "REQUEST_NOT_AUTHENTICATED"
    assert info.domain == "gerbang.id"
    assert info.metadata["audit_index"] == str(before)
    assert entry(federation, before)["status"] == "UNAUTHENTICATED"


# --- requests that crashed handlers, and requests that do not decode -------------------------


@pytest.mark.parametrize("case", CASES)
def test_crash_input_is_a_typed_refusal_and_one_entry(
    federation: LocalFederation, case: str
) -> None:
    call, words = CASES[case]
    before = log_size(federation)
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as ch, pytest.raises(grpc.RpcError) as err:
        call(ch)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert words in str(err.value.details())
    assert "Error" not in str(err.value.details())  # no Python exception name
    status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
    assert status is not None
    assert status.details, "no google.rpc details"
    assert log_size(federation) == before + 1
    assert entry(federation, before)["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        (
            "/gerbang.v1.QueryService/Query",
            invalid_utf8(query_pb2.QueryRequest(dataset="incidents", purpose="MARK")),
        ),
        ("/gerbang.v1.QueryService/Capabilities", b"\x0a\xff"),
        ("/gerbang.v1.AnalyticsService/Heatmap", b"\x0a\x05\x0a\x03\xff\xfe\xff"),
    ],
    ids=["query-utf8", "capabilities-truncated", "heatmap-utf8"],
)
def test_undecodable_request_is_one_audit_entry(
    federation: LocalFederation, method: str, raw: bytes
) -> None:
    before = log_size(federation)
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as ch, pytest.raises(grpc.RpcError) as err:
        ch.unary_unary(method, same, same)(raw, timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "DecodeError" not in str(err.value.details())
    assert log_size(federation) == before + 1
    e = entry(federation, before)
    assert e["kind"] == "undecodable"
    assert e["status"] == "INVALID_ARGUMENT"
    assert e["caller"] == EXAMPLE_CALLERS["dishub-atcs"]


def test_proof_of_leaf_2_64_minus_1_is_invalid_argument(federation: LocalFederation) -> None:
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as ch, pytest.raises(grpc.RpcError) as err:
        query_pb2_grpc.QueryServiceStub(ch).ProveReceipt(
            query_pb2.ProveReceiptRequest(leaf_index=2**64 - 1), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "beyond any log's size" in str(err.value.details())


# --- adapters killed, hung, killed mid-answer ------------------------------------------------


async def test_adapter_killed(federation: LocalFederation) -> None:
    p = adapter(federation, "f2")
    assert p.popen is not None
    p.popen.kill()
    p.popen.wait()
    before = log_size(federation)
    try:
        async with client(federation) as c:
            with pytest.raises(QueryRefused) as refused:
                await c.query(QUERY)
        assert refused.value.code is grpc.StatusCode.UNAVAILABLE
        assert refused.value.reason == "ADAPTER_FAILED"
        e = assert_one_entry(federation, before, refused.value, "UNAVAILABLE", "error")
        assert any("f2" in r for r in e["reasons"])
    finally:
        restart(federation, "f2")
    await served_again(federation)


async def test_adapter_hung(federation: LocalFederation) -> None:
    p = adapter(federation, "f1")
    assert p.popen is not None
    os.kill(p.popen.pid, signal.SIGSTOP)
    before = log_size(federation)
    started = asyncio.get_running_loop().time()
    try:
        async with client(federation) as c:
            with pytest.raises(QueryRefused) as refused:
                await c.query(QUERY, timeout=ADAPTER_TIMEOUT * 4)
    finally:
        os.kill(p.popen.pid, signal.SIGCONT)
    assert asyncio.get_running_loop().time() - started < ADAPTER_TIMEOUT * 3
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
    assert refused.value.reason == "ADAPTER_FAILED"
    assert_one_entry(federation, before, refused.value, "UNAVAILABLE", "error")


async def test_adapter_killed_mid_answer(federation: LocalFederation) -> None:
    """The adapter holds the plan (stopped after accepting the call), then dies."""
    p = adapter(federation, "f2")
    assert p.popen is not None
    before = log_size(federation)
    try:
        async with client(federation) as c:
            os.kill(p.popen.pid, signal.SIGSTOP)
            pending = asyncio.ensure_future(c.query(QUERY))
            await asyncio.sleep(0.5)
            p.popen.kill()
            p.popen.wait()
            with pytest.raises(QueryRefused) as refused:
                await pending
        assert refused.value.code is grpc.StatusCode.UNAVAILABLE
        assert_one_entry(federation, before, refused.value, "UNAVAILABLE", "error")
    finally:
        restart(federation, "f2")
    await served_again(federation)


# --- streams re-checked before each release --------------------------------------------------


def watch_scope() -> ops.Scope:
    purpose = "public_order_early_warning"
    start = END - dt.timedelta(days=60)
    return ops.Scope(purpose, str(PURPOSES[purpose]["legal_basis"]), start=start, end=END)


async def test_stream_ends_at_its_lifetime(federation: LocalFederation) -> None:
    days: list[Any] = []

    async def read_all(c: GerbangClient) -> None:
        async for day in AnalyticsClient(c).watch_warnings(
            watch_scope(), dt.timedelta(seconds=1.5)
        ):
            days.append(day)

    async with client(federation, "jsc-command-centre") as c:
        refused = await refusal(read_all(c))
    assert 1 <= len(days) < 60
    assert refused.code is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.reason == "STREAM_EXPIRED"
    assert refused.audit_index is not None
    e = entry(federation, refused.audit_index)
    assert e["status"] == "FAILED_PRECONDITION"
    assert e["row_count"] == 0
    # No release after the end: the refusal is the log's last word on this stream.
    assert refused.audit_index > days[-1].result.receipt.leaf_index


async def test_stream_ends_when_its_signing_key_is_revoked(federation: LocalFederation) -> None:
    jsc = EXAMPLE_CALLERS["jsc-command-centre"]
    registry = federation.keys_dir / "registry.json"
    now = dt.datetime.now(dt.UTC)
    old = KeyRegistry.load(registry).current(jsc, "signing", now).key_id
    days: list[Any] = []
    async with client(federation, "jsc-command-centre") as c:
        stream = AnalyticsClient(c).watch_warnings(watch_scope(), dt.timedelta(seconds=1))
        days.append(await anext(stream))
        # A successor first (so that later requests can be signed), then the revocation.
        keys = ["--dir", str(federation.keys_dir), "--adapter", "f1", "--adapter", "f2"]
        assert gerbang(["keys", "rotate", "--identity", "jsc-command-centre", *keys]) == 0
        assert gerbang(["keys", "revoke", "--key-id", old, *keys]) == 0

        async def read_on() -> None:
            while True:
                days.append(await asyncio.wait_for(anext(stream), timeout=20))

        refused = await refusal(read_on())
    assert isinstance(refused, Unauthenticated)
    assert refused.code is grpc.StatusCode.UNAUTHENTICATED
    assert refused.audit_index is not None
    e = entry(federation, refused.audit_index)
    assert e["status"] == "UNAUTHENTICATED"
    assert any("revoked" in r for r in e["reasons"])
    assert e["row_count"] == 0
    # At most the tick already in flight when the registry changed was released.
    assert len(days) <= 3
    assert log_size(federation) == refused.audit_index + 1


# --- the filter compiler under Hypothesis ----------------------------------------------------


VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.datetimes(timezones=st.just(dt.UTC)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(["kecamatan", "occurred_at", "category", "kota", "lat", "nope", ""]),
    op=st.sampled_from(["eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "like", "x"]),
    values=st.lists(VALUES, max_size=4),
)
def test_filter_compiler_raises_only_typed_errors(
    compiler: Any, field: str, op: str, values: list[object]
) -> None:
    with contextlib.suppress(GerbangError):
        compiler(field, op, values)


@pytest.fixture(scope="module")
def compiler(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Filter -> the adapter's SQL on a real SQLite police database, executed."""
    from sqlalchemy import create_engine

    from adapters.schema import Base, create_schema
    from adapters.sql import compile_plan, describe
    from gateway.protocol.model import Filter, Op, QueryPlan

    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('compiler') / 'p.db'}")
    create_schema(engine)
    table = Base.metadata.tables["incidents"]
    dataset = next(d for d in describe(Base.metadata.tables.values()) if d.name == "incidents")

    def compile_and_run(field: str, op: str, values: list[object]) -> None:
        try:
            operator = Op(op)
        except ValueError as e:
            raise InvalidQueryError(str(e)) from e
        f = Filter(field, operator, tuple(values))  # type: ignore[arg-type]
        query = Query("incidents", ("kecamatan",), (f,), None, "p", "b")
        dataset.check(query)
        plan = QueryPlan(
            plan_id="p",
            request_id="r",
            adapter_id="a",
            dataset="incidents",
            fields=("kecamatan",),
            filters=(f,),
            aggregation=Aggregation((GroupBy("kecamatan"),)),
            aggregate_only=False,
            max_rows=10,
            min_cell_count=1,
            purpose="p",
            expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
            policy_revision="r",
        )
        statement = compile_plan(plan, table, dataset, "sqlite")
        with engine.connect() as conn:
            conn.execute(statement.select).all()

    return compile_and_run


class InvalidQueryError(GerbangError):
    """An operator name the wire cannot carry."""


# --- the audit disk full ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require(hasattr(os, "geteuid") and os.geteuid() == 0, "a tmpfs mount needs root")
    mount = tmp_path_factory.mktemp("audit-disk")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    require(done.returncode == 0, f"cannot mount a tmpfs: {done.stderr.decode()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write to `path` until the disk is full."""
    with path.open("wb") as f:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
                f.flush()
                os.fsync(f.fileno())


async def test_audit_disk_full_releases_nothing_then_recovers(
    small_disk: Path, tmp_path: Path
) -> None:
    init_pki(tmp_path / "pki", adapters=("d1",))
    url = f"sqlite:///{tmp_path / 'd1.db'}"
    seed_city(url, incidents=500, seed=41, kota=("Jakarta Pusat",))
    audit_url = f"sqlite:///{small_disk / 'audit.db'}"
    with LocalFederation(tmp_path, [AdapterSpec("d1", url)], audit_url=audit_url) as fed:
        async with client(fed) as c:
            assert (await c.query(QUERY)).rows
            before = log_size(fed)
            filler = small_disk / "filler"
            fill(filler)  # at once: the checkpointer (every 0.5 s) has usually not run yet
            try:
                # The checkpoint step: it cannot be written, the gateway keeps serving.
                behind = checkpoint_size(fed) < before
                await asyncio.sleep(1.5)
                if behind:
                    assert checkpoint_size(fed) < before
                    gateway = fed.gateway
                    assert gateway is not None
                    assert "checkpoint failed" in gateway.log_path.read_text()
                # The entry step, with its nonce claim in the same commit.
                for _ in range(3):
                    refused = await refusal(c.query(QUERY))
                    assert isinstance(refused, AuditUnavailable)
                    assert refused.code is grpc.StatusCode.UNAVAILABLE
                    assert refused.reason == "AUDIT_UNAVAILABLE"
                    assert refused.audit_index is None  # nothing could be recorded
                    assert "AuditIntegrityError" not in refused.message
            finally:
                filler.unlink()
            assert log_size(fed) == before  # nothing was appended, nothing released
            assert (await c.query(QUERY)).rows  # room again: served and recorded
            assert log_size(fed) == before + 1
        await wait_checkpointed(fed)
        verify(fed)


def checkpoint_size(federation: LocalFederation) -> int:
    store = AuditStore(federation.audit_url)
    try:
        cp = store.checkpoint()
        return 0 if cp is None else cp.size
    finally:
        store.close()


async def wait_checkpointed(federation: LocalFederation, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        store = AuditStore(federation.audit_url)
        try:
            cp = store.checkpoint()
            if cp is not None and cp.size == store.head().size:
                return
        finally:
            store.close()
        await asyncio.sleep(0.3)
    raise AssertionError("the checkpointer did not catch up")


def verify(federation: LocalFederation) -> None:
    store = AuditStore(federation.audit_url)
    try:
        assert verify_log(store.scan(), store.head()).size == store.head().size
    finally:
        store.close()
    pubkey = LogKey.load_or_create(federation.log_key_path).verifier_key
    assert gerbang(["audit", "verify", "--store", federation.audit_url, "--pubkey", pubkey]) == 0


# --- afterwards ------------------------------------------------------------------------------


async def test_log_verifies_after_every_fault(federation: LocalFederation) -> None:
    await wait_checkpointed(federation)
    verify(federation)
