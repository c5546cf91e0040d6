"""The gateway publishes its own log as C2SP tlog-tiles (issue 16, item 4).

A real gateway process (`gerbang gateway serve --tiles-listen --tiles-dir`) with one
adapter, after real queries:
- over HTTPS with the AuditService's trust: `gerbang audit verify --remote` and
  `gerbang monitor` with an audit reader's certificate verify the whole log; another
  federation certificate gets 403; no client certificate, no handshake;
- as static files its checkpointer wrote right after each checkpoint: no temporary file
  left, the checkpoint the same as served over mTLS, `audit verify --remote file://...`
  and torchwood's tile client (tests/interop/tiles) over a plain static HTTP server read
  and prove every entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.protocol.pki import init_pki
from tests.conftest import month_window, require
from tests.test_monitor import RULES
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, free_port

INTEROP = Path(__file__).resolve().parent / "interop"
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
QUERIES = 6


@dataclass(frozen=True)
class Published:
    fed: LocalFederation
    url: str  # the gateway's tiles prefix, https
    site: Path  # the static directory
    vkey: str
    size: int


def _query(purpose: str) -> Query:
    return Query(
        dataset="incidents",
        fields=("kecamatan",),
        filters=month_window(2026, 10),
        aggregation=Aggregation((GroupBy("kecamatan"),)),
        purpose=purpose,
        legal_basis=PURPOSES[purpose]["legal_basis"] if purpose in PURPOSES else "none",
    )


async def _requests(fed: LocalFederation) -> None:
    async with GerbangClient.connect(fed.address, fed.pki, "dishub-atcs") as client:
        for i in range(QUERIES):  # allowed and refused requests alike are one entry each
            with contextlib.suppress(QueryRefused):
                await client.query(_query("traffic_planning" if i % 2 else "no_such_purpose"))


def _static_size(site: Path) -> int:
    try:
        return int((site / "checkpoint").read_text().split("\n")[1])
    except (OSError, IndexError, ValueError):
        return 0


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    work = tmp_path_factory.mktemp("tiles")
    init_pki(work / "pki", adapters=("g1",))
    police = f"sqlite:///{work / 'g1.db'}"
    seed_city(police, incidents=200, seed=5, kota=("Jakarta Barat",))
    tiles_port = free_port()
    site = work / "site"
    args = ["--tiles-listen", f"127.0.0.1:{tiles_port}", "--tiles-dir", str(site)]
    fed = LocalFederation(work, [AdapterSpec("g1", police)], extra_gateway_args=args)
    # Kompolnas's ML-DSA-44 key beside its Ed25519 one (LocalFederation passes that one).
    mldsa_vkey = fed.witness_key().mldsa_verifier_key
    assert mldsa_vkey is not None
    fed.extra_gateway_args += ["--witness-key", mldsa_vkey]
    with fed:
        asyncio.run(_requests(fed))
        store = AuditStore(fed.audit_url)
        try:
            size = store.head().size
            assert size >= QUERIES
            deadline = time.monotonic() + 20  # the checkpointer runs every 0.5 s
            while _static_size(site) < size and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _static_size(site) == size, "no static checkpoint of the whole log"
        finally:
            store.close()
        vkey = fed.log_key_path.with_suffix(".pub").read_text().strip()
        yield Published(fed, f"https://127.0.0.1:{tiles_port}/", site, vkey, size)


def _gerbang(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_gateway_serves_tiles_to_audit_readers_only(published: Published) -> None:
    p = published
    pki = str(p.fed.pki)
    done = _gerbang("audit", "verify", "--remote", p.url, "--pubkey", p.vkey, "--pki", pki)
    assert done.returncode == 0, done.stderr
    assert f"{p.size} entries" in done.stdout
    # A federation certificate that may not call the AuditService may not read the tiles.
    done = _gerbang(
        "audit", "verify", "--remote", p.url, "--pubkey", p.vkey, "--pki", pki,
        "--identity", "dishub-atcs",
    )  # fmt: skip
    assert done.returncode != 0
    assert "HTTP 403" in done.stderr
    # No client certificate: no TLS handshake.
    context = ssl.create_default_context(cafile=str(p.fed.pki / "ca.pem"))
    context.check_hostname = False
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(p.url + "checkpoint", context=context, timeout=10)  # noqa: S310


def test_the_monitor_follows_the_gateway(published: Published, tmp_path: Path) -> None:
    p = published
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    state = tmp_path / "monitor.json"
    done = _gerbang(
        "monitor", "--remote", p.url, "--pubkey", p.vkey, "--rules", str(rules),
        "--state", str(state), "--pki", str(p.fed.pki),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(state.read_text())["size"] >= p.size


def test_pull_mode_witness_cosigns_with_mldsa_too(published: Published, tmp_path: Path) -> None:
    """`gerbang witness --mldsa` (pull mode, over the AuditService) submits both of its
    cosignatures; the gateway verifies each by its key, keeps them together, and serves
    them with the checkpoint, also through the tiles."""
    from gateway.oversight.remote import MutualTls, http_fetcher
    from gateway.tlog.mldsa import parse_witness_key
    from gateway.tlog.note import parse_signature_line

    p = published
    key = p.fed.witness_key()
    assert key.mldsa_verifier_key is not None
    done = _gerbang(
        "witness", "--gateway", p.fed.address, "--pki", str(p.fed.pki),
        "--key", str(p.fed.keys_dir / "witness-kompolnas.json"), "--name", key.name,
        "--state", str(tmp_path / "state.json"), "--log-key", p.vkey, "--mldsa",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    size = int(done.stdout.split(" at size ")[1].split(",")[0])
    store = AuditStore(p.fed.audit_url)
    try:
        stored = store.checkpoint(size)
    finally:
        store.close()
    assert stored is not None
    text = stored.note.decode().split("\n\n")[0] + "\n"
    lines = "".join(stored.cosignatures).splitlines(keepends=True)
    keys = [parse_witness_key(key.verifier_key), parse_witness_key(key.mldsa_verifier_key)]
    assert sorted(parse_signature_line(x).key_id for x in lines) == sorted(k.key_id for k in keys)
    for k in keys:
        (line,) = [x for x in lines if parse_signature_line(x).key_id == k.key_id]
        k.check(text.encode(), parse_signature_line(line).signature)
    assert max(len(x) for x in lines) > 3000  # an ML-DSA-44 line is about 3,300 characters
    # Served with the checkpoint by the tiles server, once it is the latest.
    tls = MutualTls.from_pki(p.fed.pki, "kompolnas-oversight")
    served = http_fetcher(p.url, tls)("checkpoint").decode()
    assert served.split("\n")[1] == str(size)
    assert all(line in served for line in lines)
    # And in the static mirror: the checkpointer rewrites the checkpoint file when the same
    # tree gains cosignatures.
    deadline = time.monotonic() + 10
    while not all(line in (p.site / "checkpoint").read_text() for line in lines):
        assert time.monotonic() < deadline, "the static checkpoint lacks the cosignatures"
        time.sleep(0.1)


def test_static_tiles_written_after_each_checkpoint(published: Published) -> None:
    p = published
    assert not list(p.site.rglob("*.tmp")), "a temporary file was left in the mirror"
    # The static checkpoint is one the gateway signed (it may have moved on since).
    done = _gerbang("audit", "verify", "--remote", p.site.as_uri(), "--pubkey", p.vkey)
    assert done.returncode == 0, done.stderr
    assert f"{_static_size(p.site)} entries" in done.stdout
    store = AuditStore(p.fed.audit_url)
    try:
        stored = store.checkpoint(_static_size(p.site))
    finally:
        store.close()
    assert stored is not None
    assert (p.site / "checkpoint").read_bytes().startswith(stored.note)


@pytest.fixture
def static_server(published: Published) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(published.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_torchwood_reads_the_static_mirror(
    published: Published, static_server: str, tmp_path: Path
) -> None:
    require(shutil.which("go"), "the Go toolchain is not installed (needed for tests/interop)")
    binary = tmp_path / "tiles"
    build = subprocess.run(
        ["go", "build", "-mod=readonly", "-o", str(binary), "./tiles"],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    result = subprocess.run(
        [str(binary), static_server, published.vkey],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok: {_static_size(published.site)} entries" in result.stdout
