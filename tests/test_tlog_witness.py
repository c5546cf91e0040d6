"""C2SP tlog-witness on both sides, against real outside implementations.

- The log as a client: torchwood's litewitness (a standard witness, pinned in
  `make tools`) cosigns the checkpoints Gerbang's `WitnessSubmitter` sends it,
  with consistency proofs, and a fresh submitter recovers through 409.
- Gerbang's witness as a server: `gerbang witness --listen`, a real process,
  driven by tests/interop/tlogwitness, a Go program playing a log with
  golang.org/x/mod/sumdb/{note,tlog} and transparency-dev/formats: every status
  code of §add-checkpoint, rollbacks and forks refused, the monitoring endpoint.
- The atomic check-and-update: concurrent submissions of one size from old 0,
  exactly one wins.

Missing Go tools skip the test locally and fail it under CI=true.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.checkpoints import Checkpointer, LogKey
from gateway.audit.store import AuditStore
from gateway.audit.witnessing import (
    SplitViewSuspected,
    TlogWitness,
    WitnessRefused,
    WitnessSubmitter,
    http_post,
)
from gateway.oversight.witness import WitnessKey
from gateway.oversight.witness_server import (
    WitnessedLogs,
    WitnessState,
    make_server,
    serve_in_thread,
)
from gateway.protocol.audit_entry import AuditRecord
from gateway.tlog.checkpoint import format_cosigner_key
from gateway.tlog.note import (
    format_verifier_key,
    generate_signer_key,
    parse_signature_line,
)
from gateway.tlog.witness_protocol import AddCheckpoint
from tests.conftest import require

INTEROP = Path(__file__).resolve().parent / "interop"
ORIGIN = "gerbang.test/audit"


def _gobin() -> Path:
    go = shutil.which("go")
    require(go, "the Go toolchain is not installed")
    out = subprocess.run(
        ["go", "env", "GOPATH"], capture_output=True, text=True, check=True, timeout=30
    )
    return Path(out.stdout.strip()) / "bin"


def _go_tool(name: str) -> Path:
    path = _gobin() / name
    require(path.exists(), f"{name} is not installed (run `make tools`)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {deadline}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _append(store: AuditStore, n: int, tag: str) -> None:
    store.append(
        [
            AuditRecord(
                time=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
                kind="query",
                request_id=f"{tag}-{i}",
                caller="spiffe://gerbang.jakarta.go.id/dishub/atcs",
                decision="allow",
                status="OK",
            )
            for i in range(n)
        ]
    )


@pytest.fixture
def log(tmp_path: Path) -> Iterator[tuple[AuditStore, Checkpointer]]:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    yield store, Checkpointer(store, LogKey.load_or_create(tmp_path / "log.key", ORIGIN), ORIGIN)
    store.close()


# --- the log as a client, against litewitness ------------------------------------


@pytest.fixture
def litewitness(tmp_path: Path) -> Iterator[tuple[str, Ed25519PrivateKey, str]]:
    """litewitness on loopback with a fresh key in its own ssh-agent; (url, key, its vkey)."""
    from tools.litewitness import find_tools
    from tools.litewitness import litewitness as run_litewitness

    _go_tool("litewitness")
    _go_tool("witnessctl")
    require(shutil.which("ssh-agent") and shutil.which("ssh-add"), "OpenSSH's ssh-agent")
    tools = find_tools()
    assert tools is not None
    log_vkey = (tmp_path / "log.pub").read_text().strip()
    with run_litewitness(
        tmp_path / "litewitness", "litewitness.test/w1", ORIGIN, log_vkey, tools
    ) as w:
        yield w.url, w.key, w.vkey


def test_litewitness_cosigns_our_checkpoints(
    log: tuple[AuditStore, Checkpointer], litewitness: tuple[str, Ed25519PrivateKey, str]
) -> None:
    store, checkpointer = log
    url, key, its_vkey = litewitness
    name = "litewitness.test/w1"
    # litewitness prints its key in the cosignature/v1 form we compute ourselves.
    assert its_vkey == format_cosigner_key(name, key.public_key())
    # Configured by the 0x01 Ed25519 note form of the same key: it must work too.
    witness = TlogWitness.parse(f"{url},{format_verifier_key(name, key.public_key())}")
    submitter = WitnessSubmitter(store, [witness])

    for round_, n in enumerate((5, 17, 1, 40)):
        _append(store, n, f"r{round_}")
        made = checkpointer.checkpoint_once()
        assert made is not None
        lines = submitter.submit(witness, made)
        stored = store.checkpoint(made.size)
        assert stored is not None
        assert stored.cosignatures == ("".join(lines),)
        text = made.note.decode().split("\n\n")[0] + "\n"
        for line in lines:
            witness.key.check(text.encode(), parse_signature_line(line).signature)

    # A fresh process knows nothing: its first try from old 0 gets 409 and resends.
    _append(store, 3, "fresh")
    made = checkpointer.checkpoint_once()
    assert made is not None
    fresh = WitnessSubmitter(store, [witness])
    sent: list[bytes] = []

    def recording_post(url: str, body: bytes) -> tuple[int, str, bytes]:
        sent.append(body)
        return http_post(url, body)

    fresh.post = recording_post
    assert fresh.submit_all(made) == 1
    assert [AddCheckpoint.parse(b).old_size for b in sent] == [0, made.size - 3]
    assert len(AddCheckpoint.parse(sent[1]).proof) > 0


def test_litewitness_refusal_stores_nothing(
    log: tuple[AuditStore, Checkpointer], litewitness: tuple[str, Ed25519PrivateKey, str]
) -> None:
    store, checkpointer = log
    url, _, _ = litewitness
    other = Ed25519PrivateKey.generate()  # not litewitness's key: its answer is ignored
    witness = TlogWitness.parse(
        f"{url},{format_cosigner_key('litewitness.test/w1', other.public_key())}"
    )
    _append(store, 4, "a")
    made = checkpointer.checkpoint_once()
    assert made is not None
    with pytest.raises(WitnessRefused, match="without a cosignature by its key"):
        WitnessSubmitter(store, [witness]).submit(witness, made)
    stored = store.checkpoint(made.size)
    assert stored is not None
    assert stored.cosignatures == ()


# --- Gerbang's witness as a server -----------------------------------------------


@pytest.fixture(scope="module")
def log_player(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("go"), "the Go toolchain is not installed (needed for tests/interop)")
    out = tmp_path_factory.mktemp("go") / "tlogwitness"
    build = subprocess.run(
        ["go", "build", "-mod=readonly", "-o", str(out), "./tlogwitness"],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return out


def test_go_log_drives_gerbang_witness_process(log_player: Path, tmp_path: Path) -> None:
    skey, vkey = generate_signer_key("go.test/log")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gateway.cli", "witness",
            "--listen", f"127.0.0.1:{port}",
            "--key", str(tmp_path / "witness.json"),
            "--name", "kompolnas.test/witness",
            "--witness-log", vkey,
            "--state-db", str(tmp_path / "witness.db"),
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for_port(port, proc)
        witness_vkey = (tmp_path / "witness.pub").read_text().strip()
        result = subprocess.run(
            [str(log_player), f"http://127.0.0.1:{port}", skey, witness_vkey],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        _stop(proc)
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("rollback, old 25 new 20: 400", "rollback, old 20 new 20: 409",
                 "fork, same size other root: 422", "fork, larger size: 422",
                 "unknown origin: 404", "signed by an unknown key: 403",
                 "ok monitoring: size 40"):  # fmt: skip
        assert step in result.stdout


@pytest.fixture
def gerbang_witness(tmp_path: Path) -> Iterator[tuple[str, WitnessKey]]:
    key = WitnessKey.load_or_create(tmp_path / "w.json", "kompolnas.test/witness")
    log_vkey = (tmp_path / "log.pub").read_text().strip()
    server = make_server(
        ("127.0.0.1", 0),
        WitnessState(tmp_path / "witness.db"),
        WitnessedLogs.from_vkeys([log_vkey]),
        key,
    )
    serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", key
    finally:
        server.shutdown()
        server.server_close()


def test_check_and_update_is_atomic(
    log: tuple[AuditStore, Checkpointer], gerbang_witness: tuple[str, WitnessKey]
) -> None:
    store, checkpointer = log
    url, _ = gerbang_witness
    _append(store, 9, "a")
    made = checkpointer.checkpoint_once()
    assert made is not None
    body = AddCheckpoint(0, (), made.note).to_body()
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait(timeout=10)
        statuses.append(http_post(url + "/add-checkpoint", body)[0])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200] + [409] * 7


def test_gerbang_log_and_gerbang_witness_and_a_split_view(
    log: tuple[AuditStore, Checkpointer], gerbang_witness: tuple[str, WitnessKey], tmp_path: Path
) -> None:
    store, checkpointer = log
    url, key = gerbang_witness
    # The log takes the witness's ML-DSA-44 cosignature (it answers with both kinds).
    assert key.mldsa_verifier_key is not None
    witness = TlogWitness.parse(f"{url},{key.mldsa_verifier_key}")
    checkpointer.submitter = WitnessSubmitter(store, [witness])
    _append(store, 30, "a")
    big = checkpointer.checkpoint_once()
    assert big is not None
    assert checkpointer.submitter.submit_all(big) == 1
    with urllib.request.urlopen(  # noqa: S310 - loopback test server
        f"{url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint", timeout=10
    ) as answer:
        served = answer.read()
    stored = store.checkpoint(big.size)
    assert stored is not None
    assert len(stored.cosignatures) == 1
    ed25519_line, mldsa_line = served.decode().splitlines(keepends=True)[-2:]
    assert stored.cosignatures[0] == mldsa_line
    assert served == stored.note + ed25519_line.encode() + mldsa_line.encode()

    # Another log store under the same key and origin, shorter: the witness has seen more.
    other = AuditStore(f"sqlite:///{tmp_path / 'other.db'}")
    other.create()
    try:
        _append(other, 12, "b")
        split = Checkpointer(other, LogKey.load_or_create(tmp_path / "log.key", ORIGIN), ORIGIN)
        made = split.checkpoint_once()
        assert made is not None
        with pytest.raises(SplitViewSuspected, match="cosigned size 30"):
            WitnessSubmitter(other, [witness]).submit(witness, made)
    finally:
        other.close()
    with urllib.request.urlopen(  # noqa: S310 - loopback test server
        f"{url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint", timeout=10
    ) as answer:
        assert answer.read() == served  # the witness still holds the first history


def test_an_mldsa_cosignature_fits_either_store(store_url: str, tmp_path: Path) -> None:
    """Migration 0006: a witness's Ed25519 and ML-DSA-44 lines (about 3,450 characters)."""
    store = AuditStore(store_url)
    store.create()
    try:
        _append(store, 3, "a")
        made = Checkpointer(
            store, LogKey.load_or_create(tmp_path / "log.key", ORIGIN), ORIGIN
        ).checkpoint_once()
        assert made is not None
        key = WitnessKey.load_or_create(tmp_path / "w.json", "kompolnas.test/witness")
        text = made.note.decode().split("\n\n")[0] + "\n"
        from gateway.tlog.checkpoint import Checkpoint

        lines = "".join(key.cosign(Checkpoint.parse(text), 1_767_225_600))
        assert len(lines) > 3000
        store.add_cosignature(made.size, key.name, lines)
        stored = store.checkpoint(made.size)
        assert stored is not None
        assert stored.cosignatures == (lines,)
    finally:
        store.close()
