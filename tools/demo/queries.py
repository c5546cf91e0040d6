"""Queries 1 to 3 over mTLS: an allowed aggregate, a denied request for persons, and an
investigator's records under a case, kept as an evidence bundle and checked as a third party.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from gateway.analytics import operations as ops
from gateway.client import GerbangClient, QueryRefused, Receipt
from gateway.protocol.canonical import canonical_json
from gateway.protocol.evidence import verify_bundle
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, Query
from gateway.protocol.signed_request import user_commitment
from gateway.tlog.witness_policy import WitnessPolicy
from tools.demo.show import heading, receipt, show_hourly, show_privacy, show_records
from tools.demo.workdir import WORKDIR, legal_basis

CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
# The investigator behind query 3, as the organisation's identity provider names them, and
# the organisation's own commitment key (a demo constant; a real one is a kept secret).
INVESTIGATOR = ("https://sso.polri.go.id/realms/metro", "penyidik-0042")
DEMO_ORG_KEY = hashlib.sha256(b"gerbang demo: Polda Metro Jaya user commitment key").digest()


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
    """Queries 1 to 3; query 1's receipt, for oversight to prove in the log."""
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
    return first


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
