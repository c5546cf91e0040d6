"""Fault suite, flood (issue 12, item 4): one caller floods, another still gets its answers.

Real processes: an adapter and the gateway on loopback, over mTLS. The flooding caller
(the JSC command centre) has small limits in a copy of the registry; the other caller
(Dishub ATCS) keeps the defaults. Each flood is bounded in count and time:

- 150 live streams, then 60 unread streams: at most `open_streams` are admitted;
- 40 maximal requests at once: refused by the concurrency cap or the plan's cost;
- 40 unsigned requests at a time in a closed loop: the refusals are paced, about the
  caller's rate a second instead of as fast as the gateway can refuse;
- 3,000 unsigned requests: the rate limiter refuses most of them before authentication,
  counted in Prometheus and summed into one audit entry per window, not one each;
- a few hundred idle TCP connections without a certificate: past the connection cap they
  are closed at once, the rest when the TLS handshake deadline passes.

Every refusal is RESOURCE_EXHAUSTED (never PERMISSION_DENIED). The other caller's latency
is measured and printed; only its success is asserted. `gerbang audit verify` passes after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import selectors
import shutil
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.analytics import operations as ops
from gateway.client import GerbangClient
from gateway.client.analytics import AnalyticsClient
from gateway.client.refusals import Overloaded, refused
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.limits import MAX_TOTAL_VALUES, MAX_VALUES
from gateway.protocol.model import Aggregation, Filter, GroupBy, Op, Query
from gateway.protocol.pki import init_pki
from gateway.service.admission import HOLD_MAX_SECONDS
from gerbang.v1 import analytics_pb2, analytics_pb2_grpc, query_pb2_grpc
from tests.conftest import month_window
from tests.support.audit_log import entries, log_size
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, free_port, gerbang_command

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
FLOODER = "jsc-command-centre"
OTHER = "dishub-atcs"
LIMITS = {
    "concurrent_requests": 4,
    "open_streams": 3,
    "rate_per_second": 10,
    "burst": 20,
    "max_plan_cost": 2000,
    "stream_lifetime_seconds": 8,
}
MAX_CONNECTIONS = 64
HANDSHAKE_TIMEOUT = 2.0
TRAFFIC = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    str(PURPOSES["traffic_planning"]["legal_basis"]),
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("flood")
    policies = work / "policies"
    shutil.copytree("policies", policies)
    callers_file = policies / "registry" / "callers" / "data.json"
    callers = json.loads(callers_file.read_text())
    callers[EXAMPLE_CALLERS[FLOODER]]["limits"] = LIMITS
    callers_file.write_text(json.dumps(callers, indent=2))
    init_pki(work / "pki", adapters=("c1",))
    url = f"sqlite:///{work / 'c1.db'}"
    seed_city(url, incidents=500, seed=5, kota=("Jakarta Pusat",))
    metrics = free_port()
    args = ["--metrics-port", str(metrics), "--max-connections", str(MAX_CONNECTIONS)]
    args += ["--handshake-timeout", str(HANDSHAKE_TIMEOUT)]
    fed = LocalFederation(
        work, [AdapterSpec("c1", url)], policies=policies, extra_gateway_args=args
    )
    fed.metrics_port = metrics  # type: ignore[attr-defined]
    with fed:
        yield fed


def connect(federation: LocalFederation, identity: str) -> GerbangClient:
    return GerbangClient.connect(federation.address, federation.pki, identity)


async def other_caller_succeeds(federation: LocalFederation, label: str, n: int = 3) -> None:
    """The other caller's queries succeed; their latency is printed, not asserted."""
    latencies = []
    async with connect(federation, OTHER) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            result = await c.query(TRAFFIC, timeout=30)
            latencies.append(time.perf_counter() - t0)
            assert result.plans
    print(f"{label}: other caller's latencies (ms) {[round(x * 1000) for x in latencies]}")


def warning_scope(start: dt.datetime, end: dt.datetime | None) -> ops.Scope:
    purpose = "public_order_early_warning"
    return ops.Scope(purpose, str(PURPOSES[purpose]["legal_basis"]), start=start, end=end)


async def open_streams(
    c: GerbangClient, scope: ops.Scope, n: int
) -> tuple[list[Any], Counter[str]]:
    """Open `n` signed streams without reading; the ones still open after a moment, and the
    status codes of those that ended."""
    analytics = AnalyticsClient(c)
    stub = analytics_pb2_grpc.AnalyticsServiceStub(c.channel)
    calls = []
    for _ in range(n):
        proto, _ = analytics._scope(scope, ops.warning_query(scope), None)
        calls.append(stub.WatchWarnings(analytics_pb2.WatchWarningsRequest(scope=proto)))
    await asyncio.sleep(2.0)
    open_, ended = [], Counter[str]()
    for call in calls:
        if call.done():
            ended[(await call.code()).name] += 1
        else:
            open_.append(call)
    return open_, ended


async def test_live_and_unread_streams_do_not_starve_another_caller(
    federation: LocalFederation,
) -> None:
    today = ops.local_day(dt.datetime.now(dt.UTC))
    live = warning_scope(ops.local_midnight(today), None)  # waits for today to end
    unread = warning_scope(
        dt.datetime(2026, 10, 1, tzinfo=ops.WIB), dt.datetime(2026, 10, 31, tzinfo=ops.WIB)
    )
    lifetime = LIMITS["stream_lifetime_seconds"]
    async with connect(federation, FLOODER) as c:
        for scope, n in ((live, 150), (unread, 60)):
            await asyncio.sleep(LIMITS["burst"] / LIMITS["rate_per_second"])  # a full bucket
            held, ended = await open_streams(c, scope, n)
            assert len(held) == LIMITS["open_streams"], ended
            assert ended == {"RESOURCE_EXHAUSTED": n - LIMITS["open_streams"]}
            await other_caller_succeeds(federation, f"{n} streams held")
            if scope is live:
                # Nothing ends them but their lifetime: the pipeline's re-check ends each
                # with STREAM_EXPIRED (FAILED_PRECONDITION), before admission's backstop
                # (DEADLINE_EXCEEDED, a second past it) would have to.
                ends = await asyncio.wait_for(
                    asyncio.gather(*(call.code() for call in held)), lifetime + 5
                )
                assert set(ends) == {grpc.StatusCode.FAILED_PRECONDITION}
            else:
                # An unread stream's status waits behind its unread messages; what matters
                # is that the gateway freed its slots: new streams are admitted again.
                await asyncio.sleep(lifetime + 2)
                again, ended = await open_streams(c, live, LIMITS["open_streams"])
                assert len(again) == LIMITS["open_streams"], ended
                for call in (*held, *again):
                    call.cancel()


def maximal_query() -> Query:
    """Many filters, many values each: as many as a query may carry (MAX_TOTAL_VALUES, so
    that its audit leaf can still record each as a commitment)."""
    names = tuple(f"kecamatan-{i:03d}" for i in range(MAX_VALUES))
    window = month_window(2026, 10)
    rest = MAX_TOTAL_VALUES - len(window) - MAX_VALUES
    filters = (
        *window,
        Filter("kecamatan", Op.IN, names),
        Filter("kecamatan", Op.IN, names[:rest]),
    )
    purpose = "security_indicators"
    return Query(
        "incidents",
        ("kecamatan",),
        filters,
        Aggregation((GroupBy("kecamatan"),)),
        purpose,
        str(PURPOSES[purpose]["legal_basis"]),
    )


async def test_maximal_requests_are_refused_as_overload(federation: LocalFederation) -> None:
    await asyncio.sleep(LIMITS["burst"] / LIMITS["rate_per_second"])
    async with connect(federation, FLOODER) as c:
        requests = [c.signed_request(maximal_query())[0] for _ in range(40)]
        stub = query_pb2_grpc.QueryServiceStub(c.channel)
        flood = [asyncio.ensure_future(stub.Query(r, timeout=30)) for r in requests]
        await other_caller_succeeds(federation, "40 maximal requests")
        outcomes = await asyncio.gather(*flood, return_exceptions=True)
    codes = Counter(
        o.code().name if isinstance(o, grpc.aio.AioRpcError) else "OK" for o in outcomes
    )
    assert codes == {"RESOURCE_EXHAUSTED": 40}
    costly = [o for o in outcomes if "too large" in str(o)]
    assert costly, "no request reached the plan's cost check"
    # Authenticated refusals are audited, one entry each, and say so.
    for o in costly:
        assert isinstance(o, grpc.aio.AioRpcError)
        assert "audit entry" in (o.details() or "")


def scrape(port: int, name: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels] = float(value)
    return out


def entries_of(federation: LocalFederation, caller: str, since: int) -> list[dict[str, Any]]:
    return [e for e in entries(federation, since) if e["caller"] == EXAMPLE_CALLERS[caller]]


async def test_a_closed_loop_flood_gets_its_refusals_paced(federation: LocalFederation) -> None:
    """40 unsigned calls at a time, each sent again as soon as it is answered, for 3 s.

    Unpaced, the gateway refuses such a loop as fast as it can (thousands a second, about half
    a millisecond of its CPU each, which other callers wait behind). Paced, the k-th refusal
    waiting at once is answered k / rate later, at most HOLD_MAX_SECONDS: the loop gets about
    40 / HOLD_MAX_SECONDS refusals a second, plus its rate admitted. Each refusal says when to
    retry (RetryInfo: one token's time), and the client reads it."""
    await asyncio.sleep(LIMITS["burst"] / LIMITS["rate_per_second"])
    unsigned = TRAFFIC.to_proto()
    codes: Counter[str] = Counter()
    retry_after: set[float | None] = set()
    concurrency, seconds = 40, 3.0
    started = time.monotonic()
    async with connect(federation, FLOODER) as c:
        stub = query_pb2_grpc.QueryServiceStub(c.channel)

        async def loop() -> None:
            while time.monotonic() - started < seconds:
                try:
                    await stub.Query(unsigned, timeout=30)
                    codes["OK"] += 1
                except grpc.aio.AioRpcError as e:
                    codes[e.code().name] += 1
                    if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        refusal = refused(e)
                        assert isinstance(refusal, Overloaded)
                        assert refusal.reason == "OVERLOADED"
                        retry_after.add(refusal.retry_after)

        other = asyncio.ensure_future(other_caller_succeeds(federation, "paced flood"))
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        await other
    elapsed = time.monotonic() - started
    assert set(codes) <= {"UNAUTHENTICATED", "RESOURCE_EXHAUSTED"}, codes
    refusals = codes["RESOURCE_EXHAUSTED"]
    paced = concurrency + (concurrency / HOLD_MAX_SECONDS + LIMITS["rate_per_second"]) * elapsed
    assert 0 < refusals <= paced, (refusals, elapsed)
    assert retry_after == {1 / LIMITS["rate_per_second"]}
    print(f"paced flood: {dict(codes)} in {elapsed:.1f} s (at most {paced:.0f} refusals)")


async def test_unsigned_flood_writes_a_bounded_number_of_entries(
    federation: LocalFederation,
) -> None:
    await asyncio.sleep(LIMITS["burst"] / LIMITS["rate_per_second"])
    before = log_size(federation)
    port = federation.metrics_port  # type: ignore[attr-defined]
    refused_before = sum(scrape(port, "gerbang_admission_refused_total").values())
    unsigned = TRAFFIC.to_proto()  # no auth: an unsigned request
    codes: Counter[str] = Counter()
    started = time.monotonic()
    async with connect(federation, FLOODER) as c:
        stub = query_pb2_grpc.QueryServiceStub(c.channel)

        async def one() -> None:
            try:
                await stub.Query(unsigned, timeout=30)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as e:
                codes[e.code().name] += 1

        other = asyncio.ensure_future(other_caller_succeeds(federation, "3,000 unsigned"))
        for _ in range(30):
            await asyncio.gather(*(one() for _ in range(100)))
        await other
    elapsed = time.monotonic() - started
    assert sum(codes.values()) == 3000
    assert set(codes) <= {"UNAUTHENTICATED", "RESOURCE_EXHAUSTED"}, codes
    admitted = codes["UNAUTHENTICATED"]
    # The bucket lets through its burst and its rate over the flood, and no more.
    assert admitted <= LIMITS["burst"] + LIMITS["rate_per_second"] * (elapsed + 1)
    refused = codes["RESOURCE_EXHAUSTED"]
    assert refused >= 3000 - admitted
    metric = sum(scrape(port, "gerbang_admission_refused_total").values())
    assert metric - refused_before == refused
    # Every refusal counted is in exactly one summary entry, once its window has ended;
    # authenticated requests are one entry each.
    deadline = time.monotonic() + 15
    while True:
        everything = entries_of(federation, FLOODER, 0)
        summed = sum(
            int(e["reasons"][0].split()[0]) for e in everything if e["kind"] == "admission"
        )
        if summed == metric or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert summed == metric
    mine = entries_of(federation, FLOODER, before)
    summaries = [e for e in mine if e["kind"] == "admission"]
    assert 1 <= len(summaries) <= elapsed / 10 + 3
    assert all(
        e["status"] == "RESOURCE_EXHAUSTED" and e["decision"] == "refused" for e in summaries
    )
    assert len([e for e in mine if e["kind"] != "admission"]) == admitted
    print(
        f"3,000 unsigned in {elapsed:.1f} s: {admitted} audited one each, {refused} refused in "
        f"{len(summaries)} summary entries"
    )


def test_idle_connections_close_at_the_handshake_deadline_and_the_cap(
    federation: LocalFederation,
) -> None:
    host, port = federation.address.rsplit(":", 1)
    n = 300
    sockets = []
    t0 = time.monotonic()
    try:
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=5)
            sockets.append(s)
        closed_at: list[float] = []
        waiting = selectors.DefaultSelector()
        for s in sockets:
            waiting.register(s, selectors.EVENT_READ)
        deadline = t0 + HANDSHAKE_TIMEOUT + 8
        while waiting.get_map() and time.monotonic() < deadline:
            for key, _ in waiting.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1)
                except ConnectionResetError:
                    data = b""
                assert data == b"", "the gateway sent bytes to a connection that said nothing"
                closed_at.append(time.monotonic() - t0)
                waiting.unregister(sock)
        assert not waiting.get_map(), "an idle connection was still open past the deadline"
    finally:
        for s in sockets:
            s.close()
    quick = sum(1 for t in closed_at if t < HANDSHAKE_TIMEOUT * 0.75)
    print(
        f"closed within {HANDSHAKE_TIMEOUT * 0.75:.1f} s: {quick}; last at {max(closed_at):.1f} s"
    )
    # Past the cap, connections are closed as they are accepted...
    assert quick >= n - MAX_CONNECTIONS - 8
    # ...and the rest when the handshake deadline passes, not after gRPC's default 120 s.
    assert max(closed_at) < HANDSHAKE_TIMEOUT + 6
    asyncio.run(other_caller_succeeds(federation, "after idle connections"))


def test_audit_verify_passes_after_the_floods(federation: LocalFederation) -> None:
    federation.stop()  # the gateway flushes its last window and checkpoints on the way out
    key = str(federation.log_key_path.with_suffix(".pub"))
    done = subprocess.run(
        [*gerbang_command(), "audit", "verify", "--store", federation.audit_url, "--pubkey", key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "audit log OK" in done.stdout
