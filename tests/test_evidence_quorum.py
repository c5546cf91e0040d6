"""Evidence that survives a split view: a real gateway submits every checkpoint to two
C2SP tlog-witness servers (Gerbang's witness, two oversight bodies), the caller's evidence
bundle carries the cosigned checkpoint, and `gerbang evidence verify --policy` accepts it
with a 2-of-2 tlog-policy quorum and refuses it when one witness is taken out."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.checkpoints import ORIGIN, LogKey
from gateway.audit.store import AuditStore
from gateway.client import GerbangClient
from gateway.oversight.witness import WitnessKey
from gateway.oversight.witness_server import (
    WitnessedLogs,
    WitnessState,
    make_server,
    serve_in_thread,
)
from gateway.protocol.canonical import canonical_json
from gateway.protocol.evidence import user_commitment
from gateway.protocol.model import Filter, Op, Query
from gateway.protocol.pki import init_pki
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
BODIES = ("kompolnas", "komnasham")


@pytest.fixture(scope="module")
def witnessed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalFederation, dict[str, str]]]:
    work = tmp_path_factory.mktemp("quorum")
    init_pki(work / "pki", adapters=("s1",))
    url = f"sqlite:///{work / 's1.db'}"
    seed_city(url, incidents=2000, seed=5, kota=("Jakarta Pusat",))
    # The log's key exists before the gateway starts, so the witnesses can be told it.
    log_vkey = LogKey.load_or_create(work / "keys" / "audit-log.key", ORIGIN).verifier_key
    servers, vkeys, args = [], {}, []
    for body in BODIES:
        key = WitnessKey.load_or_create(work / f"{body}.json", f"{body}.go.id/witness")
        server = make_server(
            ("127.0.0.1", 0),
            WitnessState(work / f"{body}.db"),
            WitnessedLogs.from_vkeys([log_vkey]),
            key,
        )
        serve_in_thread(server)
        servers.append(server)
        vkeys[body] = key.verifier_key
        args += [
            "--tlog-witness",
            f"http://127.0.0.1:{server.server_address[1]},{key.verifier_key}",
        ]
    try:
        with LocalFederation(work, [AdapterSpec("s1", url)], extra_gateway_args=args) as fed:
            yield fed, vkeys
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _policy(log_vkey: str, vkeys: dict[str, str], quorum: str) -> str:
    lines = [f"log {log_vkey}"] + [f"witness {b} {k}" for b, k in vkeys.items()]
    return "\n".join(lines) + "\n" + quorum + "\n"


def _verify(fed: LocalFederation, bundle: Path, policy: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "gateway.cli", "evidence", "verify", str(bundle),
            "--registry", str(fed.keys_dir / "registry.json"),
            "--log-key", str(fed.log_key_path.with_suffix(".pub")),
            "--policy", str(policy),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
async def bundle(witnessed: tuple[LocalFederation, dict[str, str]]) -> dict[str, Any]:
    """An investigator's evidence bundle, taken once its checkpoint carries both cosignatures."""
    fed, _ = witnessed
    async with GerbangClient.connect(fed.address, fed.pki, "reskrim") as client:
        result = await client.query(
            Query(
                "incidents",
                ("incident_id", "kecamatan", "category"),
                (Filter("category", Op.EQ, ("robbery",)),),
                None,
                "criminal_investigation",
                str(PURPOSES["criminal_investigation"]["legal_basis"]),
                case_reference=CASE,
                limit=5,
            ),
            user=user_commitment(b"\x42" * 32, "https://idp.polda-metro-jaya.test", "penyidik-7"),
        )
        return await client.evidence(result, wait=30, cosignatures=2)


def test_bundle_meets_the_quorum_and_fails_without_one_witness(
    witnessed: tuple[LocalFederation, dict[str, str]], bundle: dict[str, Any], tmp_path: Path
) -> None:
    fed, vkeys = witnessed
    path = tmp_path / "bundle.json"
    path.write_bytes(canonical_json(bundle))
    log_vkey = fed.log_key_path.with_suffix(".pub").read_text().strip()

    both = tmp_path / "both.policy"
    both.write_text(
        _policy(log_vkey, vkeys, "group oversight all " + " ".join(BODIES) + "\nquorum oversight")
    )
    done = _verify(fed, path, both)
    assert done.returncode == 0, done.stderr
    assert "quorum 'oversight' met: cosigned by kompolnas, komnasham" in done.stdout

    # One witness's cosignature taken out of the bundle: the quorum is not met.
    note = bundle["audit"]["checkpoint"]
    kept = [ln for ln in note.split("\n") if not ln.startswith("\u2014 komnasham.go.id/")]
    stripped = dict(bundle, audit=dict(bundle["audit"], checkpoint="\n".join(kept)))
    path2 = tmp_path / "stripped.json"
    path2.write_bytes(canonical_json(stripped))
    done = _verify(fed, path2, both)
    assert done.returncode != 0
    assert "does not meet the witness quorum 'oversight'" in done.stderr
    assert "cosigned by kompolnas" in done.stderr

    # A policy with any one of the two accepts the stripped bundle.
    any_one = tmp_path / "any.policy"
    any_one.write_text(
        _policy(log_vkey, vkeys, "group oversight any " + " ".join(BODIES) + "\nquorum oversight")
    )
    done = _verify(fed, path2, any_one)
    assert done.returncode == 0, done.stderr

    # The same proof as c2sp.org/tlog-proof@v1, verified against the policy.
    proof = tmp_path / "entry.tlog-proof"
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "evidence", "tlog-proof", str(path),
         "--out", str(proof)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert proof.read_bytes().startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    done = subprocess.run(
        [
            sys.executable, "-m", "gateway.cli", "evidence", "verify-proof", str(proof),
            "--policy", str(both), "--log-key", log_vkey,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"entry {bundle['audit']['leaf_index']} is in the checkpoint" in done.stdout

    # The witnesses' cosignatures are stored with the checkpoint, where the log serves them.
    store = AuditStore(fed.audit_url)
    try:
        stored = store.checkpoint(int(bundle["audit"]["tree_size"]))
    finally:
        store.close()
    assert stored is not None
    assert len(stored.cosignatures) == 2
    assert (
        json.loads(canonical_json(bundle))["audit"]["checkpoint"] == stored.cosigned_note().decode()
    )
