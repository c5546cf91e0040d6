"""The demonstration behind `make run`: a federation on loopback and three municipal queries.

1. prepares `.gerbang/`: the development PKI, two regional police databases
   (a synthetic Jakarta split between two adapters), the audit log;
2. starts both adapters and the gateway as real processes (logs in `.gerbang/logs/`);
3. asks, over mTLS with each caller's own certificate:
   - the transport agency: incident counts by kecamatan and hour of day (allowed, aggregate);
   - the planning agency: personal fields of persons (denied, with the reasons);
   - police investigators: incident records under a case reference (allowed);
4. verifies the audit log, prints its size and head hash, and stops everything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from gateway._canonical import canonical_json
from gateway.audit._checkpoint import open_checkpoint
from gateway.audit._merkle import verify_inclusion
from gateway.audit._note import parse_verifier_key
from gateway.audit.checkpoints import ORIGIN
from gateway.audit.commands import b64, witness_via_gateway
from gateway.audit.store import AuditStore
from gateway.audit.verify import CheckpointClaim, verify_log
from gateway.client import GerbangClient, QueryRefused, QueryResult, Receipt
from gateway.evidence import verify_bundle
from gateway.keys import KeyRegistry
from gateway.local import AdapterSpec, LocalFederation
from gateway.model import Aggregation, Bucket, Filter, GroupBy, Op, Query
from gateway.tls import TlsFiles
from gerbang.v1 import audit_pb2, audit_pb2_grpc

WORKDIR = Path(".gerbang")
POLICIES = Path("policies")
# Two regional police databases, each serving part of the city.
REGIONS = {
    "pmj-1": ("Jakarta Pusat", "Jakarta Utara", "Jakarta Barat"),
    "pmj-2": ("Jakarta Selatan", "Jakarta Timur"),
}
SEED = 20261101
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
SPARK = " ▁▂▃▄▅▆▇█"


def legal_basis(purpose: str) -> str:
    purposes = json.loads((POLICIES / "registry" / "purposes" / "data.json").read_text())
    basis: str = purposes[purpose]["legal_basis"]
    return basis


def prepare(workdir: Path, incidents: int) -> list[AdapterSpec]:
    from adapters.seed import seed_city
    from gateway.pki import init_pki

    if not (workdir / "pki" / "ca.pem").exists():
        init_pki(workdir / "pki")
        print(f"created the development PKI in {workdir / 'pki'}")
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        path = workdir / f"police-{name}.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            summary = seed_city(url, incidents=incidents // len(REGIONS), seed=SEED + i, kota=kota)
            print(
                f"seeded {path}: {summary.incidents} incidents in {', '.join(kota)} "
                f"({summary.elapsed_seconds:.1f} s)"
            )
        specs.append(AdapterSpec(name, url))
    return specs


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


async def scripted_queries(address: str, pki: Path) -> Receipt:
    month_start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    month_end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

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
            )
        )
        print("ALLOWED")
        show_records(result)
        receipt(result)
        bundle = await client.evidence(result)
    write_evidence(bundle, result.request_id)
    return first


def write_evidence(bundle: dict[str, Any], request_id: str) -> None:
    """Keep the investigator's evidence bundle and check it as a third party would."""
    directory = WORKDIR / "evidence"
    directory.mkdir(exist_ok=True)
    path = directory / f"{request_id}.json"
    path.write_bytes(canonical_json(bundle))
    keys = WORKDIR / "keys"
    summary = verify_bundle(
        bundle,
        KeyRegistry.load(keys / "registry.json"),
        (keys / "audit-log.pub").read_text().strip(),
    )
    print(
        f"evidence bundle {path}: request signed by the caller, {len(summary.adapters)} plans "
        f"signed by the gateway, results sealed to the caller and attested by each adapter, "
        f"audit entry {summary.leaf_index} proven in the signed checkpoint of size "
        f"{summary.checkpoint_size}"
    )
    print(f"check it yourself: .venv/bin/gerbang evidence verify {path}")


def main() -> int:
    incidents = int(os.environ.get("GERBANG_DEMO_INCIDENTS", "200000"))
    WORKDIR.mkdir(exist_ok=True)
    specs = prepare(WORKDIR, incidents)
    federation = LocalFederation(WORKDIR, specs, policies=POLICIES)
    heading(f"Starting {len(specs)} adapters and the gateway (logs in {WORKDIR / 'logs'})")
    with federation:
        print(f"gateway listening on {federation.address} (mTLS)")
        first = asyncio.run(scripted_queries(federation.address, federation.pki))
        heading("Oversight: Kompolnas witnesses the audit log")
        oversee(federation, first)
    heading("Audit log, verified offline")
    store = AuditStore(federation.audit_url)
    try:
        verifier = parse_verifier_key(
            federation.log_key_path.with_suffix(".pub").read_text().strip()
        )
        claims = [
            CheckpointClaim(cp.size, open_checkpoint(cp.note, verifier, ORIGIN).root_hash)
            for cp in store.checkpoints()
        ]
        verified = verify_log(store.scan(), store.head(), claims)
        latest = store.checkpoint()
    finally:
        store.close()
    print(
        f"verified: {verified.size} entries, head hash {verified.head_hash.hex()}\n"
        f"Merkle root {b64(verified.root_hash)}, {verified.checkpoints_checked} signed checkpoints"
    )
    if latest is not None:
        print("latest checkpoint, with its cosignature:")
        print("  " + latest.cosigned_note().decode().rstrip("\n").replace("\n", "\n  "))
    print(f"check it yourself: .venv/bin/gerbang audit verify --store {federation.audit_url}")
    return 0


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
