"""Proof that the gateway cannot read: unique markers in police data reach only the caller.

Markers are planted in the police databases and queried back. The caller's
opened results hold them; the gateway's log, the audit store (every file of
it) and every message the gateway received or sent (recorded by interceptors
on both of its sides) do not.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from gateway.client import GerbangClient
from gateway.protocol.evidence import user_commitment
from gateway.protocol.model import Filter, Op, Query
from gateway.protocol.pki import init_pki
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
# The investigator behind the record-level requests: a keyed commitment by the organisation.
INVESTIGATOR = user_commitment(b"\x42" * 32, "https://idp.polda-metro-jaya.test", "penyidik-0042")


def plant(url: str, marker: str) -> None:
    """Give the newest robberies a unique modus operandi and file them under the case (the
    data the caller will read: under a case, only the case's rows come back, ADR 0013)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        case_id = conn.execute(
            text(
                "INSERT INTO cases (case_id, case_number, opened_at, status, unit) "
                "SELECT max(case_id) + 1, :c, '2026-11-02 00:00:00', 'open', 'Jatanras' "
                "FROM cases RETURNING case_id"
            ),
            {"c": CASE},
        ).scalar_one()
        conn.execute(
            text(
                "UPDATE incidents SET modus_operandi = :m, case_id = :case WHERE incident_id IN "
                "(SELECT incident_id FROM incidents WHERE category = 'robbery' "
                "ORDER BY incident_id DESC LIMIT 3)"
            ),
            {"m": marker, "case": case_id},
        )
    engine.dispose()


async def test_markers_reach_the_caller_and_nothing_else(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki", adapters=("k1", "k2"))
    markers = {}
    specs = []
    for i, (name, kota) in enumerate({"k1": "Jakarta Utara", "k2": "Jakarta Barat"}.items()):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        seed_city(url, incidents=2000, seed=21 + i, kota=(kota,))
        markers[name] = f"CANARY-{uuid.uuid4().hex}"
        plant(url, markers[name])
        specs.append(AdapterSpec(name, url))
    capture = tmp_path / "capture"
    launcher = [sys.executable, str(Path(__file__).parent / "canary_gateway.py"), str(capture)]
    with LocalFederation(tmp_path, specs, gateway_launcher=launcher) as federation:
        async with GerbangClient.connect(federation.address, federation.pki, "reskrim") as c:
            result = await c.query(
                Query(
                    "incidents",
                    ("incident_id", "kecamatan", "modus_operandi"),
                    (Filter("category", Op.EQ, ("robbery",)),),
                    None,
                    "criminal_investigation",
                    PURPOSES["criminal_investigation"]["legal_basis"],
                    case_reference=CASE,
                    limit=500,
                ),
                user=INVESTIGATOR,
            )
            await c.evidence(result)
    opened = {str(r["modus_operandi"]) for r in result.rows}
    assert set(markers.values()) <= opened, "the caller did not receive the planted markers"
    assert_nowhere_but_the_caller(tmp_path, capture, list(markers.values()))


def assert_nowhere_but_the_caller(workdir: Path, capture: Path, markers: list[str]) -> None:

    messages = (capture / "messages.bin").read_bytes()
    assert messages.count(b"\n--\n") >= 8  # caller request/response, two adapter calls, proof
    # The capture does see what the gateway may read: the request's own filter value.
    assert b"robbery" in messages
    places = {
        "messages the gateway received or sent": messages,
        "the gateway's log": (workdir / "logs" / "gateway.log").read_bytes(),
    }
    for path in workdir.glob("audit.db*"):
        places[f"audit store file {path.name}"] = path.read_bytes()
    for marker in markers:
        for where, data in places.items():
            assert marker.encode() not in data, f"marker found in {where}"
