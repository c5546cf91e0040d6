"""The demonstration behind `make run`: a federation on loopback, queries and analytics.

1. prepares `.gerbang/`: the development PKI, two regional police databases
   (a synthetic Jakarta split between two adapters), the audit log;
2. starts both adapters and the gateway as real processes (logs in `.gerbang/logs/`);
3. asks, over mTLS with each caller's own certificate:
   - the transport agency: incident counts by kecamatan and hour of day (allowed, aggregate);
   - the planning agency: personal fields of persons (denied, with the reasons);
   - police investigators: incident records under a case reference (allowed);
   - the planning agency: a differentially private heatmap of one kota, as a PNG under
     `.gerbang/` and in the terminal;
   - the city command centre: the early-warning stream over a planted surge, to its alert;
   - the police patrol directorate: a patrol plan capped per kecamatan;
   - the same over HTTP: the transport agency's agent asked with curl (JSON, CSV, a denial),
     and the command centre's warning stream as Server-Sent Events;
4. verifies the audit log, prints its size and head hash, and stops everything.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import sqlite3
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import grpc

from adapters.privacy import public_domain
from gateway.analytics import operations as ops
from gateway.audit.checkpoints import ORIGIN, LogKey
from gateway.audit.store import AuditStore
from gateway.cli.audit import b64, witness_via_gateway
from gateway.client import GerbangClient, QueryRefused, QueryResult, Receipt
from gateway.client.analytics import AnalyticsClient
from gateway.client.render import Legend, basemap_from_geojson, render_png, render_terminal
from gateway.oversight.remote import MutualTls, http_fetcher, verify_tiles
from gateway.oversight.verify import (
    stored_checkpoint_claims,
    verify_log,
    verify_tree_nodes,
)
from gateway.protocol.canonical import canonical_json
from gateway.protocol.evidence import user_commitment, verify_bundle
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, Query
from gateway.protocol.tls import TlsFiles
from gateway.tlog.merkle import verify_inclusion
from gateway.tlog.note import parse_verifier_key
from gateway.tlog.witness_policy import WitnessPolicy
from gerbang.v1 import audit_pb2, audit_pb2_grpc
from tools.agent_demo import serve_consoles, show_agent
from tools.federation import AdapterSpec, LocalFederation, free_port
from tools.litewitness import find_tools, litewitness

WORKDIR = Path(".gerbang")
AGENT_PURPOSES = ("traffic_planning", "public_order_early_warning")
POLICIES = Path("policies")
# Two regional police databases, each serving part of the city.
REGIONS = {
    "pmj-1": ("Jakarta Pusat", "Jakarta Utara", "Jakarta Barat"),
    "pmj-2": ("Jakarta Selatan", "Jakarta Timur"),
}
SEED = 20261101
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
# The investigator behind query 3, as the organisation's identity provider names them, and
# the organisation's own commitment key (a demo constant; a real one is a kept secret).
INVESTIGATOR = ("https://sso.polri.go.id/realms/metro", "penyidik-0042")
DEMO_ORG_KEY = hashlib.sha256(b"gerbang demo: Polda Metro Jaya user commitment key").digest()
SPARK = " ▁▂▃▄▅▆▇█"
HEATMAP_GROUP = GroupBy("location", Bucket.H3, 8)


def legal_basis(purpose: str) -> str:
    purposes = json.loads((POLICIES / "registry" / "purposes" / "data.json").read_text())
    basis: str = purposes[purpose]["legal_basis"]
    return basis


def prepare(workdir: Path, incidents: int) -> list[AdapterSpec]:
    from gateway.protocol.pki import complete_pki, init_pki
    from tools.city import seed_city

    if not (workdir / "pki" / "ca.pem").exists():
        init_pki(workdir / "pki")
        print(f"created the development PKI in {workdir / 'pki'}")
    elif issued := complete_pki(workdir / "pki"):
        print(f"issued development certificates to {', '.join(issued)}")
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        path = workdir / f"police-{name}.db"
        url = f"sqlite:///{path}"
        if path.exists() and not _has_stored_cells(path):
            print(f"{path} predates the stored H3 cells; seeding it again")
            path.unlink()
        if path.exists() and not _has_demo_case(path):
            print(f"{path} predates the demo case files (ADR 0013); seeding it again")
            path.unlink()
        if not path.exists():
            summary = seed_city(url, incidents=incidents // len(REGIONS), seed=SEED + i, kota=kota)
            print(
                f"seeded {path}: {summary.incidents} incidents in {', '.join(kota)} "
                f"({summary.elapsed_seconds:.1f} s)"
            )
        specs.append(AdapterSpec(name, url))
    return specs


def _has_stored_cells(path: Path) -> bool:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(incidents)")}
    return "h3_r8" in columns


def _has_demo_case(path: Path) -> bool:
    """The database files one of the demo cases (seeded since ADR 0013)."""
    from tools.city import DEMO_CASES

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return any(
            conn.execute("SELECT 1 FROM cases WHERE case_number = ?", (c.number,)).fetchone()
            for c in DEMO_CASES
        )


def heading(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")


def spark(values: list[int]) -> str:
    top = max(values) or 1
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def show_hourly(result: QueryResult) -> None:
    by_area: dict[str, list[int]] = {}
    for row in result.rows:
        hours = by_area.setdefault(str(row["kecamatan"]), [0] * 24)
        hour, count = row["occurred_at_hour_of_day"], row["count"]
        if isinstance(hour, int) and isinstance(count, int):
            hours[hour] += count
    print(f"{'kecamatan':<20} {'total':>6}  {'00h' + ' ' * 18 + '23h':<24}  peak")
    for area, hours in sorted(by_area.items(), key=lambda kv: -sum(kv[1])):
        peak = max(range(24), key=hours.__getitem__)
        print(f"{area:<20} {sum(hours):>6}  {spark(hours):<24}  {peak:02d}:00")
    print(
        f"({len(result.rows)} cells from {', '.join(result.adapters)}; "
        f"{result.suppressed_groups} cells below the minimum count suppressed)"
    )


def show_records(result: QueryResult, limit: int = 8) -> None:
    cols = result.columns
    widths = (
        {c: max(len(c), *(len(_text(r[c])) for r in result.rows[:limit])) for c in cols}
        if result.rows
        else {}
    )
    print("  ".join(c.ljust(widths.get(c, len(c))) for c in cols))
    for row in result.rows[:limit]:
        print("  ".join(_text(row[c]).ljust(widths[c]) for c in cols))
    print(f"({len(result.rows)} records, fields granted: {', '.join(result.granted_fields)})")


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def receipt(result: QueryResult) -> None:
    print(
        f"audit receipt: entry {result.receipt.leaf_index}, "
        f"hash {result.receipt.entry_hash.hex()[:16]}…"
    )


def heatmap_legend(result: QueryResult, scope: ops.Scope) -> Legend:
    """The picture's legend: the period, ε and k of the release, and its audit receipt."""
    p = result.privacy
    period = ""
    if scope.start is not None and scope.end is not None:
        last = scope.end - dt.timedelta(days=1)
        period = f"{scope.start:%Y-%m-%d} s.d./to {last:%Y-%m-%d}"
    return Legend(
        period=period,
        epsilon="" if p is None else f"{p.epsilon:g}",
        k=None if p is None else p.min_cell_count,
        receipt=f"entri / entry {result.receipt.leaf_index}, "
        f"hash {result.receipt.entry_hash.hex()[:16]}…",
        source=", ".join(result.adapters),
    )


def show_privacy(result: QueryResult) -> None:
    """How the counts were released and what they cost (docs/adr/0009)."""
    p = result.privacy
    if p is None:
        return
    cost = (
        "held release (asked before in its hold period): nothing charged"
        if p.held
        else f"charged epsilon {p.epsilon_charged:g} to each data period read"
    )
    until = (
        ""
        if p.held_until is None
        else f", held until {p.held_until.astimezone(ops.WIB):%Y-%m-%d %H:%M} WIB"
    )
    print(
        f"privacy / privasi: {p.mechanism}, epsilon {p.epsilon:g}, k = {p.min_cell_count} on noisy "
        f"counts; {cost}; data periods {p.periods}: spent {p.spent:g} of {p.limit:g}, "
        f"left {p.remaining:g}{until}"
    )


def committed_user(bundle: dict[str, Any]) -> None:
    """The person behind the request, as its audit entry records them: a commitment only,
    which the organisation (holding the key) opens for oversight."""
    leaf = json.loads(base64.b64decode(bundle["audit"]["leaf"]))
    committed = str(leaf.get("user_commitment", ""))
    print(f"audit entry {leaf['index']} names its user only as commitment {committed[:16]}…")
    if committed != user_commitment(DEMO_ORG_KEY, *INVESTIGATOR).hex():
        raise SystemExit("the audit entry does not commit to the investigator who asked")
    print(f"the organisation opens it with its key: {INVESTIGATOR[1]} at {INVESTIGATOR[0]}")


async def scripted_queries(address: str, pki: Path, cosignatures: int = 0) -> Receipt:
    month_start = dt.datetime(2026, 10, 1, tzinfo=ops.WIB)
    month_end = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)

    heading(
        "1. Dinas Perhubungan, traffic planning: incidents by kecamatan and hour, "
        "Jakarta Selatan, October 2026"
    )
    async with GerbangClient.connect(address, pki, "dishub-atcs") as client:
        result = await client.query(
            Query(
                dataset="incidents",
                fields=("kecamatan", "occurred_at"),
                filters=(
                    Filter("kota", Op.EQ, ("Jakarta Selatan",)),
                    Filter("occurred_at", Op.GE, (month_start,)),
                    Filter("occurred_at", Op.LT, (month_end,)),
                ),
                aggregation=Aggregation(
                    (GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.HOUR_OF_DAY))
                ),
                purpose="traffic_planning",
                legal_basis=legal_basis("traffic_planning"),
            )
        )
    print("ALLOWED (sealed by each adapter to the caller's key; verified and opened by the client)")
    show_hourly(result)
    show_privacy(result)
    receipt(result)
    first = result.receipt

    heading(
        "2. Dinas Cipta Karya, Tata Ruang dan Pertanahan, spatial planning: "
        "names and NIK of persons"
    )
    async with GerbangClient.connect(address, pki, "citata-spatial") as client:
        try:
            await client.query(
                Query(
                    dataset="persons",
                    fields=("nik", "name", "address", "kecamatan"),
                    filters=(),
                    aggregation=None,
                    purpose="spatial_planning",
                    legal_basis=legal_basis("spatial_planning"),
                )
            )
            raise SystemExit("the personal-data request was not denied: the policy is broken")
        except QueryRefused as refused:
            print(f"DENIED ({refused.code.name}), recorded as audit entry {refused.audit_index}:")
            for reason in refused.reasons:
                print(f"  - {reason}")

    heading(f"3. Ditreskrimum Polda Metro Jaya, criminal investigation under {CASE}")
    async with GerbangClient.connect(address, pki, "reskrim") as client:
        result = await client.query(
            Query(
                dataset="incidents",
                fields=(
                    "incident_id",
                    "occurred_at",
                    "kelurahan",
                    "kecamatan",
                    "category",
                    "modus_operandi",
                    "status",
                ),
                filters=(
                    Filter("kecamatan", Op.EQ, ("Tebet",)),
                    Filter("category", Op.EQ, ("motor_vehicle_theft",)),
                    Filter("occurred_at", Op.GE, (dt.datetime(2026, 10, 15, tzinfo=dt.UTC),)),
                ),
                aggregation=None,
                purpose="criminal_investigation",
                legal_basis=legal_basis("criminal_investigation"),
                case_reference=CASE,
                limit=50,
            ),
            user=user_commitment(DEMO_ORG_KEY, *INVESTIGATOR),
        )
        print("ALLOWED")
        show_records(result)
        receipt(result)
        # With a standard witness configured, the bundle waits for its cosignature.
        bundle = await client.evidence(result, wait=15, cosignatures=cosignatures)
    write_evidence(bundle, result.request_id)
    committed_user(bundle)

    await heatmap_picture(address, pki)
    await early_warning(address, pki)
    await patrol_plan(address, pki)
    return first


HEATMAP_KOTA = "Jakarta Selatan"
# The seeded year (local time): the generator's default end.
YEAR_END = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)


async def heatmap_picture(address: str, pki: Path) -> None:
    """The planning agency's heatmap of one kota, drawn. The release is charged to the twelve
    months of data it reads; a rerun in the same hold period gets the same release back,
    charged nothing (docs/adr/0009)."""
    heading(
        f"4. Dinas Cipta Karya, spatial planning: heatmap of reported incidents, {HEATMAP_KOTA}, "
        "H3 resolution 8, the last 12 months (epsilon 1.0, k = 10)"
    )
    slug = HEATMAP_KOTA.lower().replace(" ", "-")
    kept = WORKDIR / f"heatmap-{slug}.json"
    scope = ops.Scope(
        "spatial_planning",
        legal_basis("spatial_planning"),
        start=YEAR_END - dt.timedelta(days=365),
        end=YEAR_END,
        kota=(HEATMAP_KOTA,),
    )
    async with GerbangClient.connect(address, pki, "citata-spatial") as client:
        try:
            heat = await AnalyticsClient(client).heatmap(scope, resolution=8)
        except QueryRefused as refused:
            if not kept.exists():
                raise
            print(f"DENIED ({refused.code.name}), audit entry {refused.audit_index}:")
            for reason in refused.reasons:
                print(f"  - {reason}")
            release = json.loads(kept.read_text())
            print(f"showing this month's release, kept from audit entry {release['entry']}")
            cells: dict[str, int] = release["cells"]
            legend = Legend(**release.get("legend", {}))
        else:
            cells = heat.value
            print(
                f"ALLOWED: {len(cells)} cells released by {', '.join(heat.result.adapters)}, "
                f"{heat.result.suppressed_groups} withheld below k after the noise"
            )
            show_privacy(heat.result)
            receipt(heat.result)
            legend = heatmap_legend(heat.result, scope)
            kept.write_text(
                json.dumps(
                    {
                        "entry": heat.result.receipt.leaf_index,
                        "cells": cells,
                        "legend": dataclasses.asdict(legend),
                    },
                    indent=1,
                )
            )
    areas = {k.name: k.kota for k in KECAMATAN if k.kota == HEATMAP_KOTA}
    domain = [str(key[0]) for key in public_domain((HEATMAP_GROUP,), (), areas)]
    picture: dict[str, int | None] = {c: None for c in domain} | dict(cells)
    png = WORKDIR / f"heatmap-{slug}.png"
    basemap = basemap_from_geojson(
        resources.files("gateway.agent").joinpath("consoles", "basemap.geojson").read_bytes()
    )
    png.write_bytes(
        render_png(
            picture,
            width=900,
            title=f"Insiden dilaporkan / Reported incidents, {HEATMAP_KOTA}",
            legend=legend,
            basemap=basemap,
        )
    )
    print(render_terminal(picture, columns=72, colour=sys.stdout.isatty()))
    print(f"picture: {png} (grey: withheld, fewer than k after the noise)")


def planted_surges() -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The surges the generator planted (its truth table; not served to anyone)."""
    surges = []
    for name in REGIONS:
        with contextlib.closing(sqlite3.connect(WORKDIR / f"police-{name}.db")) as conn:
            for kecamatan, start_at, end_at in conn.execute(
                "SELECT kecamatan, start_at, end_at FROM seed_truth WHERE kind = 'surge'"
            ):
                surges.append(
                    (
                        str(kecamatan),
                        dt.datetime.fromisoformat(start_at).replace(tzinfo=dt.UTC),
                        dt.datetime.fromisoformat(end_at).replace(tzinfo=dt.UTC),
                    )
                )
    return sorted(surges, key=lambda s: s[1])


async def early_warning(address: str, pki: Path) -> None:
    """Replay the days around a surge the generator planted, as the command centre's stream."""
    surges = planted_surges()
    if not surges:
        print("no planted surge to replay")
        return
    kecamatan, first, last = surges[-1]
    heading(
        "5. Jakarta Smart City command centre, early warning: the daily stream replayed over "
        f"{ops.local_day(first)} to {ops.local_day(last)} "
        f"(the generator planted a +60 % surge in {kecamatan} then)"
    )

    def planted(area: str, day: dt.date) -> str:
        hit = any(
            k == area and ops.local_day(a) <= day + dt.timedelta(days=2) and day < ops.local_day(b)
            for k, a, b in surges
        )
        return "planted surge" if hit else "no surge planted here: a false alarm"

    scope = ops.Scope(
        "public_order_early_warning",
        legal_basis("public_order_early_warning"),
        start=first - dt.timedelta(days=1),
        end=last,
    )
    async with GerbangClient.connect(address, pki, "jsc-command-centre") as client:
        async for day in AnalyticsClient(client).watch_warnings(scope):
            if not day.alerts:
                print(f"{day.day}: no alert (audit entry {day.result.receipt.leaf_index})")
                continue
            for a in day.alerts:
                print(
                    f"{day.day}: ALERT {a.area}: {a.statistic} reported incidents in the "
                    f"{a.window_days} day(s) to {a.day}, {a.baseline:.1f} expected from the "
                    f"seasonal baseline, alert threshold {a.threshold}, p = {a.p_value:.1e} "
                    f"(audit entry {day.result.receipt.leaf_index}; {planted(a.area, a.day)})"
                )
            if any(a.area == kecamatan for a in day.alerts):
                break
        else:
            print(f"no alert for {kecamatan} during the planted surge")


async def patrol_plan(address: str, pki: Path) -> None:
    heading(
        "6. Direktorat Samapta Polda Metro Jaya, patrol planning: 12 units over H3 cells by "
        "risk, at most 2 per kecamatan, as of the week of 2026-11-01"
    )
    scope = ops.Scope("patrol_planning", legal_basis("patrol_planning"), end=YEAR_END)
    async with GerbangClient.connect(address, pki, "samapta") as client:
        answer = await AnalyticsClient(client).patrol_plan(scope, units=12, cap_per_area=2)
    plan, scores = answer.value
    by_cell = {s.unit: s for s in scores}
    print(f"{'cell':<16} {'kecamatan':<20} {'per day':>7}  {'risk (90 % interval)':<22} factors")
    for a in plan.assignments:
        s = by_cell[a.cell]
        factors = ", ".join(f"{k} {v:.2f}" for k, v in s.factors.items())
        interval = f"{s.score:.2f} ({s.low:.2f}-{s.high:.2f})"
        print(f"{a.cell:<16} {a.area:<20} {a.expected:>7.2f}  {interval:<22} {factors}")
    print(
        f"expected coverage: {plan.expected_coverage:.1%} of the reported incidents expected "
        f"city-wide; units per kecamatan: {max(plan.per_area.values())} at most"
    )
    show_privacy(answer.result)
    receipt(answer.result)


def write_evidence(bundle: dict[str, Any], request_id: str) -> None:
    """Keep the investigator's evidence bundle and check it as a third party would."""
    directory = WORKDIR / "evidence"
    directory.mkdir(exist_ok=True)
    path = directory / f"{request_id}.json"
    path.write_bytes(canonical_json(bundle))
    keys = WORKDIR / "keys"
    policy_path = WORKDIR / "oversight.policy"
    policy = WitnessPolicy.parse(policy_path.read_text()) if policy_path.exists() else None
    summary = verify_bundle(
        bundle,
        KeyRegistry.load(keys / "registry.json"),
        (keys / "audit-log.pub").read_text().strip(),
        policy,
    )
    print(
        f"evidence bundle {path}: request signed by the caller, {len(summary.adapters)} plans "
        f"signed by the gateway, results sealed to the caller and attested by each adapter, "
        f"audit entry {summary.leaf_index} proven in the signed checkpoint of size "
        f"{summary.checkpoint_size}"
    )
    if policy is not None:
        print(f"its checkpoint is cosigned by {', '.join(summary.witnesses)}: quorum met")
        print(f"check it yourself: .venv/bin/gerbang evidence verify {path} --policy {policy_path}")
    else:
        print(f"check it yourself: .venv/bin/gerbang evidence verify {path}")


def main() -> int:
    incidents = int(os.environ.get("GERBANG_DEMO_INCIDENTS", "200000"))
    WORKDIR.mkdir(exist_ok=True)
    specs = prepare(WORKDIR, incidents)
    with contextlib.ExitStack() as stack:
        args = standard_witness(stack)
        # The log as C2SP tlog-tiles: over the AuditService's mTLS, and as a static mirror.
        tiles = f"127.0.0.1:{free_port()}"
        tiles_args = ["--tiles-listen", tiles, "--tiles-dir", str(WORKDIR / "tiles")]
        federation = LocalFederation(
            WORKDIR, specs, policies=POLICIES, extra_gateway_args=[*args, *tiles_args]
        )
        heading(f"Starting {len(specs)} adapters and the gateway (logs in {WORKDIR / 'logs'})")
        with federation:
            print(f"gateway listening on {federation.address} (mTLS)")
            first = asyncio.run(
                scripted_queries(federation.address, federation.pki, 1 if args else 0)
            )
            heading(
                "7. The same over HTTP: the transport agency's agent (gerbang agent serve), curl"
            )
            show_agent(federation, {p: legal_basis(p) for p in AGENT_PURPOSES})
            heading("Oversight: Kompolnas witnesses the audit log")
            oversee(federation, first)
            mirror_through_tiles(federation, f"https://{tiles}/")
            heading("8. Konsol di peramban / Consoles in the browser (served by each agent)")
            serve_consoles(federation, wait=sys.stdin.isatty())
    heading("Audit log, verified offline")
    store = AuditStore(federation.audit_url)
    try:
        verifier = parse_verifier_key(
            federation.log_key_path.with_suffix(".pub").read_text().strip()
        )
        # As `gerbang audit verify` does: stored checkpoints against their notes, every
        # stored Merkle node against the leaves.
        claims = stored_checkpoint_claims(
            ((cp.size, cp.root_hash, cp.note) for cp in store.checkpoints()),
            store.cosigned_sizes(),
            verifier,
            ORIGIN,
        )
        leaves: list[bytes] = []
        verified = verify_log(store.scan(), store.head(), claims, leaf_hashes=leaves)
        verify_tree_nodes(leaves, store.scan_nodes())
        latest = store.checkpoint()
    finally:
        store.close()
    print(
        f"verified: {verified.size} entries, head hash {verified.head_hash.hex()}\n"
        f"Merkle root {b64(verified.root_hash)}, {verified.checkpoints_checked} signed checkpoints"
    )
    if latest is not None:
        print("latest checkpoint, with its cosignatures (standard witness, Kompolnas):")
        print("  " + latest.cosigned_note().decode().rstrip("\n").replace("\n", "\n  "))
    print(
        "check it yourself: .venv/bin/gerbang audit verify --store "
        f"{federation.audit_url} --pubkey {federation.log_key_path.with_suffix('.pub')}"
    )
    return 0


def standard_witness(stack: contextlib.ExitStack) -> list[str]:
    """Start torchwood's litewitness (a standard C2SP tlog-witness) for the log, if installed
    (`make tools`); return the gateway arguments that submit every checkpoint to it."""
    tools = find_tools()
    heading("A standard witness: torchwood's litewitness (C2SP tlog-witness)")
    policy_path = WORKDIR / "oversight.policy"
    policy_path.unlink(missing_ok=True)
    if tools is None:
        print("litewitness is not installed (run `make tools`): the log is witnessed by Kompolnas")
        return []
    log_vkey = LogKey.load_or_create(WORKDIR / "keys" / "audit-log.key").verifier_key
    name = "litewitness.example/w1"
    running = stack.enter_context(
        litewitness(WORKDIR / "litewitness", name, ORIGIN, log_vkey, tools)
    )
    print(f"litewitness {name} on {running.url}; every checkpoint goes to it (add-checkpoint)")
    # The oversight body's tlog-policy: this log, the standard witness, its quorum.
    policy_path.write_text(
        f"log {log_vkey}\nwitness litewitness {running.vkey} {running.url}\nquorum litewitness\n"
    )
    return ["--tlog-witness", f"{running.url},{running.vkey}"]


def mirror_through_tiles(federation: LocalFederation, url: str) -> None:
    """Kompolnas mirrors and verifies the whole log through the gateway's tlog-tiles."""
    vkey = federation.log_key_path.with_suffix(".pub").read_text().strip()
    tls = MutualTls.from_pki(federation.pki, "kompolnas-oversight")
    checkpoint, verified = verify_tiles(http_fetcher(url, tls), vkey)
    print(
        f"mirrored through tlog-tiles at {url} (mTLS, audit readers only): {verified.size} "
        f"entries verified against the checkpoint of size {checkpoint.size}; a static copy "
        f"for a public mirror is in {WORKDIR / 'tiles'}"
    )


def oversee(federation: LocalFederation, receipt: Receipt) -> None:
    """Wait for a checkpoint covering every entry, witness it, prove the first receipt in it."""
    creds = TlsFiles.load(federation.pki, "kompolnas-oversight").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        deadline = time.monotonic() + 10
        while True:
            latest = stub.GetLatestCheckpoint(audit_pb2.GetLatestCheckpointRequest(), timeout=5)
            if latest.checkpoint_size == latest.size or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        log_key = federation.log_key_path.with_suffix(".pub").read_text().strip()
        cp = witness_via_gateway(
            federation.address,
            federation.pki,
            "kompolnas-oversight",
            federation.witness_key(),
            federation.workdir / "witness-kompolnas.state",
            log_key,
        )
        print(f"witness checked consistency and cosigned the checkpoint of size {cp.size}")
        proof = stub.GetInclusionProof(
            audit_pb2.GetInclusionProofRequest(index=receipt.leaf_index, tree_size=cp.size),
            timeout=5,
        )
    verify_inclusion(
        receipt.leaf_hash, receipt.leaf_index, cp.size, list(proof.proof), cp.root_hash
    )
    print(
        f"receipt of query 1 (entry {receipt.leaf_index}) proven in that checkpoint "
        f"with {len(proof.proof)} hashes (RFC 9162 inclusion proof)"
    )


if __name__ == "__main__":
    sys.exit(main())
