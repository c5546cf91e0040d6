"""Our checkpoints, cosignatures and proofs, checked by the Go reference libraries.

tests/interop/ is a small Go program using golang.org/x/mod/sumdb/note,
golang.org/x/mod/sumdb/tlog and github.com/transparency-dev/formats (see its
doc comment). This test builds it, feeds it a tree of a few hundred leaves,
a signed and cosigned checkpoint and several proofs, all made by our Python
code, and requires that it accepts them, and rejects every tampered copy for
the right reason.

Without a Go toolchain the test is skipped, except in CI (CI=true), where it
fails: there, a missing toolchain is a broken setup, not a reason to pass.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.tlog.checkpoint import Checkpoint, cosign, format_cosigner_key, sign_checkpoint
from gateway.tlog.merkle import (
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
)
from gateway.tlog.note import Ed25519NoteSigner

INTEROP = Path(__file__).resolve().parent / "interop"
ORIGIN = "gerbang.test/audit-log"
WITNESS_NAME = "oversight.test/witness"
TREE_SIZE = 300
TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z

LOG_KEY = Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x11" * 32))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(b"\x22" * 32)

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def interop_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        reason = "the Go toolchain is not installed (needed to build tests/interop)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("interop") / "interop"
    build = subprocess.run(
        [go, "build", "-mod=readonly", "-o", str(out), "."],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _signed_checkpoint(checkpoint: Checkpoint) -> str:
    note = sign_checkpoint(checkpoint, [LOG_KEY]).decode()
    return note + cosign(checkpoint.to_text(), WITNESS_KEY, WITNESS_NAME, TIMESTAMP)


def _leaf_data(i: int) -> bytes:
    return json.dumps({"index": i, "kind": "query", "decision": "allow"}).encode()


@pytest.fixture(scope="module")
def document() -> Doc:
    leaves = [_leaf_data(i) for i in range(TREE_SIZE)]
    store = MemoryNodeStore()
    # Appended in uneven batches, as a sequencer would.
    for lo, hi in [(0, 1), (1, 7), (7, 128), (128, 129), (129, 300)]:
        store.append([leaf_hash(d) for d in leaves[lo:hi]])
    checkpoint = Checkpoint(ORIGIN, TREE_SIZE, root_at(TREE_SIZE, store))
    return {
        "verifier_key": LOG_KEY.verifier().to_key_string(),
        "cosigner_key": format_cosigner_key(WITNESS_NAME, WITNESS_KEY.public_key()),
        "checkpoint": _signed_checkpoint(checkpoint),
        "leaves": [_b64(d) for d in leaves],
        "inclusion": [
            {
                "index": i,
                "leaf": _b64(leaves[i]),
                "proof": [_b64(h) for h in inclusion_proof(i, TREE_SIZE, store)],
            }
            for i in (0, 1, 6, 127, 128, 255, 256, 298, 299)
        ],
        "consistency": [
            {
                "size": m,
                "root": _b64(root_at(m, store)),
                "proof": [_b64(h) for h in consistency_proof(m, TREE_SIZE, store)],
            }
            for m in (1, 2, 7, 128, 129, 255, 256, 299, 300)
        ],
    }


def _run(binary: Path, doc: Doc, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(doc))
    return subprocess.run(
        [str(binary), str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_go_accepts_our_checkpoint_cosignature_and_proofs(
    interop_binary: Path, document: Doc, tmp_path: Path
) -> None:
    result = _run(interop_binary, document, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok: checkpoint gerbang.test/audit-log at size 300" in result.stdout


# --- tampered copies -----------------------------------------------------------


def _flip(b64: str, bit: int = 0) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    return _b64(bytes(raw))


def _split_note(note: str) -> tuple[str, list[str]]:
    text, _, sigs = note.rpartition("\n\n")
    return text + "\n", sigs.splitlines(keepends=True)


def _flip_root_unsigned(doc: Doc) -> None:
    # The root changes, the signatures do not: the log signature must fail.
    text, sigs = _split_note(doc["checkpoint"])
    cp = Checkpoint.parse(text)
    bad = Checkpoint(cp.origin, cp.size, base64.b64decode(_flip(_b64(cp.root_hash), 77)))
    doc["checkpoint"] = bad.to_text() + "\n" + "".join(sigs)


def _flip_root_and_resign(doc: Doc) -> None:
    # A validly signed and cosigned checkpoint with the wrong root: the proofs
    # themselves must fail against it.
    cp = Checkpoint.parse(_split_note(doc["checkpoint"])[0])
    bad_root = base64.b64decode(_flip(_b64(cp.root_hash), 200))
    doc["checkpoint"] = _signed_checkpoint(Checkpoint(cp.origin, cp.size, bad_root))


def _flip_signature(line_index: int) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        text, sigs = _split_note(doc["checkpoint"])
        dash, name, b64 = sigs[line_index].split()
        sigs[line_index] = f"{dash} {name} {_flip(b64, 8 * 4 + 8 * 8 + 3)}\n"
        doc["checkpoint"] = text + "\n" + "".join(sigs)

    return mutate


def _set(path: tuple[str | int, ...], change: Callable[[Any], Any]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = change(target[path[-1]])

    return mutate


TAMPERS: dict[str, tuple[Callable[[Doc], None], str]] = {
    "root bit, signatures kept": (_flip_root_unsigned, "FAIL signature"),
    "root bit, re-signed and re-cosigned": (_flip_root_and_resign, "FAIL inclusion"),
    "log signature bit": (_flip_signature(0), "FAIL signature"),
    "cosignature bit": (_flip_signature(1), "FAIL signature"),
    "inclusion proof bit": (_set(("inclusion", 4, "proof", 2), _flip), "FAIL inclusion"),
    "inclusion leaf data": (_set(("inclusion", 2, "leaf"), _flip), "FAIL inclusion"),
    "inclusion index": (_set(("inclusion", 3, "index"), lambda i: i + 1), "FAIL inclusion"),
    "consistency proof bit": (_set(("consistency", 3, "proof", 0), _flip), "FAIL consistency"),
    "consistency old root bit": (_set(("consistency", 5, "root"), _flip), "FAIL consistency"),
    "consistency proof truncated": (
        _set(("consistency", 2, "proof"), lambda p: p[:-1]),
        "FAIL consistency",
    ),
    "a leaf outside the proofs": (_set(("leaves", 42), _flip), "FAIL tree"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_go_rejects_a_tampered_copy(
    interop_binary: Path, document: Doc, tmp_path: Path, name: str
) -> None:
    mutate, expected = TAMPERS[name]
    doc = copy.deepcopy(document)
    mutate(doc)
    assert doc != document
    result = _run(interop_binary, doc, tmp_path)
    assert result.returncode == 1, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    assert expected in result.stderr, result.stderr


# --- what the command line prints from a real audit store ------------------------


def test_go_accepts_what_the_audit_commands_print(interop_binary: Path, tmp_path: Path) -> None:
    """`gerbang audit pubkey/checkpoint/prove/consistency/export` on a store the gateway's
    own code wrote (group-committed batches, a signed checkpoint, a witness cosignature)
    give Go's sumdb note/tlog everything they need, and they accept it."""
    import datetime as dt
    import sys

    from gateway.audit.checkpoints import Checkpointer, LogKey
    from gateway.audit.store import AuditStore
    from gateway.oversight.witness import WitnessKey
    from gateway.protocol.audit_entry import AuditRecord

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = AuditStore(url)
    store.create()
    for batch in range(7):
        store.append(
            [
                AuditRecord(
                    time=dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
                    kind="query",
                    request_id=f"{batch}-{i}",
                    caller="spiffe://gerbang.jakarta.go.id/dishub/atcs",
                    decision="allow" if i % 4 else "deny",
                    status="OK" if i % 4 else "PERMISSION_DENIED",
                )
                for i in range(batch * 5 + 1)
            ]
        )
    checkpointer = Checkpointer(store, LogKey.load_or_create(tmp_path / "log.key"))
    made = checkpointer.checkpoint_once()
    assert made is not None
    size = made.size
    witness = WitnessKey.load_or_create(tmp_path / "witness.json", WITNESS_NAME)
    store.add_cosignature(
        size,
        witness.name,
        cosign(
            Checkpoint.parse(made.note.decode().split("\n\n")[0] + "\n").to_text(),
            witness.private_key,
            witness.name,
            TIMESTAMP,
        ),
    )
    store.close()

    def gerbang(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "audit", *args, "--store", url],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    export = tmp_path / "export.jsonl"
    gerbang("export", "--out", str(export))
    lines = [json.loads(x) for x in export.read_text().splitlines()[1:]]
    leaves = [x["leaf"] for x in lines if "leaf" in x]
    doc: Doc = {
        "verifier_key": gerbang("pubkey").strip(),
        "cosigner_key": witness.verifier_key,
        "checkpoint": gerbang("checkpoint"),
        "leaves": leaves,
        "inclusion": [],
        "consistency": [],
    }
    for index in (0, 1, 17, size - 1):
        proof = json.loads(gerbang("prove", "--index", str(index)))
        assert proof["treeSize"] == size
        doc["inclusion"].append({"index": index, "leaf": leaves[index], "proof": proof["proof"]})
    for m in (1, 6, 64, size - 1):
        cons = json.loads(gerbang("consistency", "--from", str(m)))
        doc["consistency"].append({"size": m, "root": cons["root1"], "proof": cons["proof"]})
    result = _run(interop_binary, doc, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"at size {size}" in result.stdout
