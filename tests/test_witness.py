"""Checkpoints signed by the log and cosigned by a witness that refuses rollbacks and forks."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit.checkpoints import ORIGIN, Checkpointer, LogKey
from gateway.audit.store import AuditStore
from gateway.oversight.witness import ForkDetected, WitnessKey, WitnessState, witness_round
from gateway.protocol.audit_entry import AuditRecord
from gateway.tlog.checkpoint import open_checkpoint, parse_cosigner_key, verify_cosignature
from gateway.tlog.merkle import verify_inclusion
from gateway.tlog.note import parse_verifier_key


def record(i: int) -> AuditRecord:
    return AuditRecord(
        time=dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
        kind="query",
        request_id=f"r{i}",
        caller="spiffe://x/y",
        decision="allow",
        status="OK",
    )


@pytest.fixture
def log(tmp_path: Path, store_url: str) -> tuple[AuditStore, Checkpointer]:
    store = AuditStore(store_url)
    store.create()
    return store, Checkpointer(store, LogKey.load_or_create(tmp_path / "log.key"))


def test_checkpoints_are_signed_notes_over_the_tree(log: tuple[AuditStore, Checkpointer]) -> None:
    store, cp = log
    assert cp.checkpoint_once() is None  # empty log: nothing to sign
    store.append([record(i) for i in range(5)])
    made = cp.checkpoint_once()
    assert made is not None
    assert made.size == 5
    assert cp.checkpoint_once() is None  # no growth, no new checkpoint
    checkpoint = open_checkpoint(made.note, parse_verifier_key(cp.key.verifier_key), ORIGIN)
    assert checkpoint.root_hash == store.root(5)
    leaf, proof, _root = store.inclusion_proof(3, 5)
    verify_inclusion(leaf, 3, 5, proof, checkpoint.root_hash)
    assert store.published("verifier_key") == cp.key.verifier_key
    store.close()


def _round(store: AuditStore, cp: Checkpointer, key: WitnessKey, state: Path) -> str:
    latest = store.checkpoint()
    assert latest is not None

    def fetch(m: int, n: int) -> list[bytes]:
        return store.consistency_proof(m, n)[0]

    submitted: list[tuple[int, str]] = []
    witness_round(
        latest.cosigned_note(),
        fetch,
        log_key=cp.key.verifier_key,
        origin=ORIGIN,
        state_path=state,
        key=key,
        submit=lambda size, line: submitted.append((size, line)),
    )
    size, line = submitted[0]
    store.add_cosignature(size, key.name, line)
    return line


def test_witness_cosigns_a_growing_log(
    log: tuple[AuditStore, Checkpointer], tmp_path: Path
) -> None:
    store, cp = log
    key = WitnessKey.load_or_create(tmp_path / "w.json", "kompolnas.go.id/witness")
    state = tmp_path / "state"
    for batch in range(3):
        store.append([record(batch * 10 + i) for i in range(7)])
        cp.checkpoint_once()
        line = _round(store, cp, key, state)
        latest = store.checkpoint()
        assert latest is not None
        text = latest.note.decode().split("\n\n")[0] + "\n"
        verify_cosignature(text, line, parse_cosigner_key(key.verifier_key))
        assert line in latest.cosigned_note().decode()
    assert json.loads(state.read_text())["size"] == 21
    store.close()


def test_witness_refuses_rollback_and_fork(
    log: tuple[AuditStore, Checkpointer], tmp_path: Path
) -> None:
    store, cp = log
    key = WitnessKey.load_or_create(tmp_path / "w.json", "kompolnas.go.id/witness")
    state = tmp_path / "state"
    store.append([record(i) for i in range(8)])
    cp.checkpoint_once()
    _round(store, cp, key, state)
    saved = state.read_text()

    # Rollback: the state says the witness already saw a larger tree.
    WitnessState(ORIGIN, 50, b"\1" * 32).save(state)
    with pytest.raises(ForkDetected, match="ROLLBACK"):
        _round(store, cp, key, state)
    # Fork: same size, another root.
    WitnessState(ORIGIN, 8, b"\2" * 32).save(state)
    with pytest.raises(ForkDetected, match="FORK"):
        _round(store, cp, key, state)
    # Fork: an older tree the new one does not extend.
    store.append([record(100 + i) for i in range(5)])
    cp.checkpoint_once()
    WitnessState(ORIGIN, 4, b"\3" * 32).save(state)
    with pytest.raises(ForkDetected, match="not consistent"):
        _round(store, cp, key, state)
    assert state.read_text() != saved  # untouched by the refused rounds
    assert json.loads(state.read_text())["size"] == 4
    store.close()


def test_cli_prints_checkpoint_pubkey_and_proofs(log: tuple[AuditStore, Checkpointer]) -> None:
    store, cp = log
    store.append([record(i) for i in range(9)])
    cp.checkpoint_once()

    def gerbang(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args, "--store", store.url],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    assert gerbang("audit", "pubkey").strip() == cp.key.verifier_key
    assert gerbang("audit", "checkpoint").startswith(f"{ORIGIN}\n9\n")
    proof = json.loads(gerbang("audit", "prove", "--index", "4"))
    assert set(proof) == {"leafIdx", "treeSize", "root", "leafHash", "proof"}
    assert proof["treeSize"] == 9
    cons = json.loads(gerbang("audit", "consistency", "--from", "3"))
    assert set(cons) == {"size1", "size2", "root1", "root2", "proof"}
    assert "9 entries" in gerbang("audit", "verify", "--pubkey", cp.key.verifier_key)
    store.close()
