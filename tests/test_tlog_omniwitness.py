"""transparency-dev's omniwitness (a second standard C2SP tlog-witness) cosigns our checkpoints.

omniwitness is pinned in `make tools` (OMNIWITNESS_VERSION). It runs here with an
Ed25519 note signer key we generate, a SQLite state file, and Gerbang's log added
by `--additional_logs` (origin and verifier key); no distributor, bastion or public
witness network is configured, so it makes no outbound request. The log reaches it
through `WitnessSubmitter` (tlog-witness §add-checkpoint), as it does litewitness.
A missing omniwitness skips locally and fails under CI=true.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.checkpoints import Checkpointer
from gateway.audit.store import AuditStore, StoredCheckpoint
from gateway.audit.witnessing import TlogWitness, WitnessRefused, WitnessSubmitter, http_post
from gateway.tlog.checkpoint import Checkpoint, sign_checkpoint
from gateway.tlog.note import generate_signer_key, parse_signature_line, parse_signer_key
from gateway.tlog.witness_protocol import AddCheckpoint
from tests.test_tlog_witness import ORIGIN, _append, _free_port, _go_tool, _stop, _wait_for_port
from tests.test_tlog_witness import log as log

NAME = "omniwitness.test/w1"


@pytest.fixture
def omniwitness(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """omniwitness on loopback witnessing our log only; (url, its 0x01 verifier key)."""
    binary = _go_tool("omniwitness")
    skey, vkey = generate_signer_key(NAME)
    key_file = tmp_path / "omniwitness.key"
    key_file.write_text(skey)
    key_file.chmod(0o600)
    log_vkey = (tmp_path / "log.pub").read_text().strip()
    logs = tmp_path / "logs.yaml"
    logs.write_text(f'Logs:\n  - Origin: "{ORIGIN}"\n    PublicKey: "{log_vkey}"\n')
    port = _free_port()
    err = (tmp_path / "omniwitness.log").open("wb")
    proc = subprocess.Popen(
        [
            str(binary),
            f"--listen=127.0.0.1:{port}",
            "--metrics_listen=",
            f"--db_file={tmp_path / 'omniwitness.db'}",
            f"--private_key_path={key_file}",
            f"--additional_logs={logs}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}", vkey
    finally:
        _stop(proc)
        err.close()


def test_omniwitness_cosigns_our_checkpoints(
    log: tuple[AuditStore, Checkpointer],
    omniwitness: tuple[str, str],
) -> None:
    store, checkpointer = log
    url, vkey = omniwitness
    witness = TlogWitness.parse(f"{url},{vkey}")  # the 0x01 note form of its key
    submitter = WitnessSubmitter(store, [witness])
    for round_, n in enumerate((3, 30, 1)):
        _append(store, n, f"r{round_}")
        made = checkpointer.checkpoint_once()
        assert made is not None
        lines = submitter.submit(witness, made)  # old size + consistency proof from round 2 on
        stored = store.checkpoint(made.size)
        assert stored is not None
        assert stored.cosignatures == ("".join(lines),)
        text = made.note.decode().split("\n\n")[0] + "\n"
        for line in lines:
            witness.key.check(text.encode(), parse_signature_line(line).signature)

    # A fresh submitter starts from old 0: omniwitness answers 409 with its size, we resend.
    _append(store, 2, "fresh")
    made = checkpointer.checkpoint_once()
    assert made is not None
    fresh = WitnessSubmitter(store, [witness])
    sent: list[bytes] = []

    def recording_post(url: str, body: bytes) -> tuple[int, str, bytes]:
        sent.append(body)
        return http_post(url, body)

    fresh.post = recording_post
    assert fresh.submit_all(made) == 1
    assert [AddCheckpoint.parse(b).old_size for b in sent] == [0, made.size - 2]

    # Refusals store nothing: a log omniwitness does not witness, and our log's tree signed by
    # a key it does not trust for our origin. The spec says 404 and 403; this omniwitness
    # answers 500 to both (its SQLite state reports an unknown origin as a database error, and
    # a bad signature is not mapped to 403). Any non-200 is a refusal to the log.
    before = store.checkpoint(made.size)
    assert before is not None
    assert len(before.cosignatures) == 1
    for origin in ("gerbang.test/unknown-log", ORIGIN):
        signer = parse_signer_key(generate_signer_key(origin)[0])
        forged = sign_checkpoint(Checkpoint(origin, made.size, made.root_hash), [signer])
        with pytest.raises(WitnessRefused, match=r"refused the checkpoint of size \d+ with HTTP"):
            fresh.submit(witness, StoredCheckpoint(made.size, made.root_hash, forged, ()))
    assert store.checkpoint(made.size) == before
