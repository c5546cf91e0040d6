"""`gerbang audit verify`: verification an outsider can rely on (issue 12, item 8).

Regressions: `audit verify --store` trusted the verifier key stored in the log it verified,
and did not check what the store serves proofs from: altering, deleting or swapping rows of
the stored Merkle nodes went unnoticed, and so did altering a stored checkpoint's root
column or deleting a checkpoint row. Every case on SQLite and PostgreSQL (`store_url`),
through the command an oversight body runs.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, and_, delete, select, update

from gateway.audit.checkpoints import ORIGIN, Checkpointer, LogKey
from gateway.audit.store import (
    AuditStore,
    checkpoints_table,
    cosignatures_table,
    meta_table,
    tree_table,
)
from gateway.cli import main as gerbang
from gateway.oversight.witness import WitnessKey, WitnessState, witness_round
from tests.test_audit_log import record


class Log:
    def __init__(self, store: AuditStore, key: LogKey, tmp: Path) -> None:
        self.store, self.key, self.tmp = store, key, tmp
        self.pubkey = tmp / "trusted-log.pub"
        self.pubkey.write_text(key.verifier_key + "\n")

    def verify(self, *extra: str, pubkey: bool = True) -> tuple[int, str]:
        """Run `gerbang audit verify`; (exit code, its output)."""
        argv = ["audit", "verify", "--store", self.store.url, *extra]
        if pubkey:
            argv += ["--pubkey", str(self.pubkey)]
        return gerbang(argv), ""

    def sql(self, statement: object) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(statement)  # type: ignore[call-overload]


@pytest.fixture
def log(store_url: str, tmp_path: Path) -> Iterator[Log]:
    """A log of 13 entries with checkpoints at 5, 8 (cosigned by a witness) and 13."""
    store = AuditStore(store_url)
    store.create()
    key = LogKey.load_or_create(tmp_path / "log.key")
    cp = Checkpointer(store, key)
    witness = WitnessKey.load_or_create(tmp_path / "witness.json", "kompolnas.go.id/witness")
    for batch in (range(5), range(5, 8), range(8, 13)):
        store.append([record(i) for i in batch])
        made = cp.checkpoint_once()
        assert made is not None
        if made.size == 8:

            def submit(size: int, line: str) -> None:
                store.add_cosignature(size, witness.name, line)

            witness_round(
                made.note,
                lambda a, b: store.consistency_proof(a, b)[0],
                log_key=key.verifier_key,
                origin=ORIGIN,
                state_path=tmp_path / "witness.state",
                key=witness,
                submit=submit,
            )
    yield Log(store, key, tmp_path)
    store.close()


def test_intact_log_verifies_with_the_callers_key(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert log.verify()[0] == 0
    out = capsys.readouterr().out
    assert "13 entries" in out
    assert "3 checkpoints checked" in out
    # 13 leaves: 13 + 6 + 3 + 1 complete subtrees
    assert "23 tree nodes checked" in out


def test_progress_goes_to_stderr_only_when_asked(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert log.verify()[0] == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""  # not a terminal, not asked: no bar
    assert log.verify("--progress")[0] == 0
    shown = capsys.readouterr()
    assert "13/13" in shown.err
    assert "entries" in shown.err
    assert shown.out == quiet.out  # the report on stdout is the same, bar or no bar


def test_no_pubkey_is_refused_not_taken_from_the_log(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    assert log.verify(pubkey=False)[0] == 1
    assert "--pubkey" in capsys.readouterr().err


def test_a_key_swapped_in_the_log_does_not_help_a_forger(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log's own published key is replaced by the forger's: the caller's key decides."""
    forger = LogKey.load_or_create(tmp_path / "forger.key")
    log.sql(
        update(meta_table)
        .where(meta_table.c.name == "verifier_key")
        .values(value=forger.verifier_key)
    )
    assert log.verify()[0] == 0  # the stored key is not read at all
    other = tmp_path / "other.pub"
    other.write_text(forger.verifier_key)
    assert log.verify("--pubkey", str(other), pubkey=False)[0] == 1
    assert "not signed by any trusted key" in capsys.readouterr().err


# --- stored Merkle nodes ------------------------------------------------------------------


def _node(log: Log, level: int, idx: int) -> ColumnElement[bool]:
    return and_(tree_table.c.level == level, tree_table.c.idx == idx)


@pytest.mark.parametrize(("level", "idx"), [(0, 0), (0, 12), (1, 3), (2, 2), (3, 0)])
def test_altered_tree_node_is_detected(
    log: Log, level: int, idx: int, capsys: pytest.CaptureFixture[str]
) -> None:
    log.sql(update(tree_table).where(_node(log, level, idx)).values(hash=b"\x07" * 32))
    assert log.verify()[0] == 1
    assert f"Merkle node (level {level}, index {idx}) does not match" in capsys.readouterr().err


@pytest.mark.parametrize(("level", "idx"), [(0, 4), (1, 5), (3, 0)])
def test_deleted_tree_node_is_detected(
    log: Log, level: int, idx: int, capsys: pytest.CaptureFixture[str]
) -> None:
    log.sql(delete(tree_table).where(_node(log, level, idx)))
    assert log.verify()[0] == 1
    assert f"Merkle node (level {level}, index {idx}) is missing" in capsys.readouterr().err


def test_swapped_tree_nodes_are_detected(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    with log.store.engine.connect() as conn:
        a = conn.execute(select(tree_table.c.hash).where(_node(log, 1, 1))).scalar_one()
        b = conn.execute(select(tree_table.c.hash).where(_node(log, 1, 2))).scalar_one()
    log.sql(update(tree_table).where(_node(log, 1, 1)).values(hash=b))
    log.sql(update(tree_table).where(_node(log, 1, 2)).values(hash=a))
    assert log.verify()[0] == 1
    assert "Merkle node (level 1, index 1) does not match" in capsys.readouterr().err


def test_extra_tree_node_is_detected(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    log.sql(tree_table.insert().values(level=2, idx=3, hash=b"\x01" * 32))
    assert log.verify()[0] == 1
    assert "(level 2, index 3) is not a complete subtree" in capsys.readouterr().err


# --- stored checkpoints -------------------------------------------------------------------


def test_altered_checkpoint_root_column_is_detected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    log.sql(
        update(checkpoints_table)
        .where(checkpoints_table.c.size == 5)
        .values(root_hash=b"\x09" * 32)
    )
    assert log.verify()[0] == 1
    assert "stored checkpoint of size 5: its size or root column disagrees" in (
        capsys.readouterr().err
    )


def test_altered_checkpoint_size_column_is_detected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    log.sql(update(checkpoints_table).where(checkpoints_table.c.size == 13).values(size=12))
    assert log.verify()[0] == 1
    assert "stored checkpoint of size 12: its size or root column disagrees" in (
        capsys.readouterr().err
    )


def test_deleted_cosigned_checkpoint_row_is_detected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    log.sql(delete(checkpoints_table).where(checkpoints_table.c.size == 8))
    assert log.verify()[0] == 1
    assert "cosigned the checkpoint of size 8, which the store no longer holds" in (
        capsys.readouterr().err
    )


def test_deleted_checkpoint_row_seen_by_a_witness_is_detected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoint and cosignatures both deleted: the witness's own state still names it."""
    log.sql(delete(checkpoints_table).where(checkpoints_table.c.size == 8))
    log.sql(delete(cosignatures_table).where(cosignatures_table.c.size == 8))
    assert log.verify()[0] == 0  # nothing in the store alone shows it
    capsys.readouterr()
    assert log.verify("--checkpoint", str(log.tmp / "witness.state"))[0] == 1
    assert "holds the checkpoint of size 8, which the store does not hold" in (
        capsys.readouterr().err
    )


def test_deleted_checkpoint_row_in_an_evidence_bundle_is_detected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    note = log.store.checkpoint(13)
    assert note is not None
    bundle = log.tmp / "evidence.json"
    bundle.write_text(json.dumps({"audit": {"checkpoint": note.cosigned_note().decode()}}))
    assert log.verify("--checkpoint", str(bundle))[0] == 0
    log.sql(delete(checkpoints_table).where(checkpoints_table.c.size == 13))
    assert log.verify("--checkpoint", str(bundle))[0] == 1
    assert "size 13, which the store does not hold" in capsys.readouterr().err


# --- checkpoints held outside the store ---------------------------------------------------


def test_store_behind_a_witness_is_detected(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    """The witness saw size 8; the store was rolled back to 5 entries with its checkpoints."""
    from gateway.audit.store import entries_table, head_table

    state = log.tmp / "witness.state"
    first5 = log.store.entries(4, 5)[0]
    log.sql(delete(entries_table).where(entries_table.c.idx >= 5))
    log.sql(delete(tree_table).where(tree_table.c.idx >= 0))  # rebuilt below for 5 leaves
    log.sql(delete(checkpoints_table).where(checkpoints_table.c.size > 5))
    log.sql(delete(cosignatures_table))
    log.sql(update(head_table).values(size=5, head_hash=first5.entry_hash))
    _rebuild_tree(log.store, 5)
    assert log.verify()[0] == 0  # a consistent, shorter log on its own
    capsys.readouterr()
    assert log.verify("--checkpoint", str(state))[0] == 1
    assert "size 8" in capsys.readouterr().err


def test_store_forked_from_a_witness_is_detected(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    state = log.tmp / "witness.state"
    doc = json.loads(state.read_text())
    assert doc["size"] == 8
    # The witness remembers another root at size 8 than the store's tree has.
    WitnessState(ORIGIN, 8, b"\x05" * 32).save(state)
    assert log.verify("--checkpoint", str(state))[0] == 1
    assert "size 8" in capsys.readouterr().err
    doc["root"] = base64.b64encode(log.store.root(8)).decode()
    state.write_text(json.dumps(doc))
    assert log.verify("--checkpoint", str(state))[0] == 0


def test_checkpoint_note_file_under_another_key_is_refused(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.tlog.checkpoint import Checkpoint, sign_checkpoint

    forger = LogKey.load_or_create(tmp_path / "forger.key")
    note = tmp_path / "forged.note"
    note.write_bytes(sign_checkpoint(Checkpoint(ORIGIN, 13, b"\x03" * 32), [forger.signer]))
    assert log.verify("--checkpoint", str(note))[0] == 1
    assert "not signed by any trusted key" in capsys.readouterr().err


def _rebuild_tree(store: AuditStore, size: int) -> None:
    from gateway.tlog.merkle import leaf_hash, nodes_completed_by_append

    class Empty:
        def read_nodes(self, keys: object) -> dict[object, bytes]:
            return {}

    leaves = [leaf_hash(e.leaf) for e in store.entries(0, size)]
    nodes = nodes_completed_by_append(0, leaves, Empty())  # type: ignore[arg-type]
    with store.engine.begin() as conn:
        for (level, idx), digest in nodes.items():
            conn.execute(tree_table.insert().values(level=level, idx=idx, hash=digest))


# --- offline verification needs no database driver ---------------------------------------


def test_offline_verification_imports_no_database_driver(log: Log, tmp_path: Path) -> None:
    """Export the log, then verify the export and import the offline verifiers in a
    process where SQLAlchemy cannot be imported."""
    export = tmp_path / "log.jsonl"
    assert gerbang(["audit", "export", "--store", log.store.url, "--out", str(export)]) == 0
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["sqlalchemy"] = None  # any import of it now fails
        import gateway.oversight.verify, gateway.oversight.remote, gateway.cli.tiles
        import gateway.protocol.evidence, gateway.cli.evidence, gateway.cli.audit
        import argparse
        from gateway.cli.audit import add_audit_commands
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        add_audit_commands(sub.add_parser("audit").add_subparsers(), sub.add_parser("witness"))
        args = parser.parse_args(["audit", "verify", "--export", {str(export)!r},
                                  "--pubkey", {str(log.pubkey)!r},
                                  "--checkpoint", {str(log.tmp / "witness.state")!r}])
        code = args.func(args)
        assert "sqlalchemy" not in {{m.split(".")[0] for m in sys.modules if sys.modules[m]}}
        sys.exit(code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "13 entries" in done.stdout


def test_export_verification_takes_no_key_from_the_export(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export carries the log's key in its header; verifying it still needs --pubkey."""
    export = tmp_path / "log.jsonl"
    assert gerbang(["audit", "export", "--store", log.store.url, "--out", str(export)]) == 0
    capsys.readouterr()
    assert gerbang(["audit", "verify", "--export", str(export)]) == 1
    assert "--pubkey" in capsys.readouterr().err
    assert gerbang(["audit", "verify", "--export", str(export), "--pubkey", str(log.pubkey)]) == 0
