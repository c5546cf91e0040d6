"""C2SP tlog-tiles: paths and tile sets per the spec's examples, the store's tiles, the
entry limit, `gerbang audit verify --remote` (static files and mTLS), and torchwood's
client (tests/interop/tiles) reading the tiles and proving every entry."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.checkpoints import Checkpointer, LogKey
from gateway.audit.store import AuditStore
from gateway.audit.tiles import serve_in_thread, serve_tiles, write_static
from gateway.errors import AuditIntegrityError, TransportError
from gateway.oversight.remote import FullTiles, check_upper_tiles, verify_tiles
from gateway.protocol.audit_entry import MAX_LEAF_BYTES, AuditEntryTooLarge, AuditRecord
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.pki import init_pki
from gateway.tlog.merkle import MemoryNodeStore, leaf_hash, root_at
from gateway.tlog.tiles import (
    ENTRIES,
    TILE_WIDTH,
    Tile,
    TileRequestError,
    decode_bundle,
    encode_bundle,
    split_hashes,
    tile_hash,
    tiles_for_size,
)
from tests.conftest import require

INTEROP = Path(__file__).resolve().parent / "interop"
ORIGIN = "gerbang.test/audit"


# --- the spec's own examples -----------------------------------------------------


def test_tile_paths_follow_the_spec() -> None:
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    assert Tile(2, 0, 1).path() == "tile/2/000.p/1"
    assert Tile(ENTRIES, 1000, 17).path() == "tile/entries/x001/000.p/17"
    for tile in (Tile(0, 1234067), Tile(3, 5, 255), Tile(ENTRIES, 0), Tile(ENTRIES, 256, 3)):
        assert Tile.parse(tile.path()) == tile
    bad_paths = ["tile/0/1", "tile/0/x000/001", "tile/0/001.p/0", "tile/0/001.p/256"]
    bad_paths += ["tile/0/001.p/07", "tile/64/000", "tile/01/000", "tile/entries/001/002"]
    for bad in bad_paths:
        with pytest.raises(TileRequestError):
            Tile.parse(bad)


def test_tiles_of_a_tree_of_70000_and_of_256() -> None:
    # §Partial Tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    # one partial level 0 tile of width 112, one full level 1 tile, one partial level 1
    # tile of width 17, and one partial level 2 tile of width 1."
    tiles = [t for t in tiles_for_size(70_000) if t.level != ENTRIES]
    assert sum(1 for t in tiles if t.level == 0 and not t.partial) == 273
    assert [(t.level, t.width) for t in tiles if t.partial] == [(0, 112), (1, 17), (2, 1)]
    assert sum(1 for t in tiles if t.level == 1 and not t.partial) == 1
    bundles = [t for t in tiles_for_size(70_000) if t.level == ENTRIES]
    assert len(bundles) == 274
    assert bundles[-1].width == 112
    assert [(t.level, t.index, t.width) for t in tiles_for_size(256)] == [
        (0, 0, 256),
        (ENTRIES, 0, 256),
        (1, 0, 1),
    ]
    assert list(tiles_for_size(0)) == []


def test_upper_tiles_are_the_stored_subtrees() -> None:
    """Tile (l, n) hash i is node (8l, 256n + i): checked by hashing level-0 tiles up."""
    size = TILE_WIDTH * TILE_WIDTH + 300  # one full level-1 tile, partial tiles at 0, 1, 2
    store = MemoryNodeStore()
    store.append([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])

    def fetch(path: str) -> bytes:
        tile = Tile.parse(path)
        found = store.read_nodes(tile.node_keys())
        return b"".join(found[k] for k in tile.node_keys())

    full: FullTiles = {
        (0, t.index): tile_hash(split_hashes(fetch(t.path()), t))
        for t in tiles_for_size(size)
        if t.level == 0 and not t.partial
    }
    pristine = dict(full)  # check_upper_tiles consumes what it has checked
    assert check_upper_tiles(fetch, size, full) == 3  # 1 full + 1 partial at 1, 1 partial at 2
    # The level-2 partial tile's one hash covers the first 65,536 leaves.
    assert fetch("tile/2/000.p/1") == root_at(TILE_WIDTH * TILE_WIDTH, store)

    def tampered(path: str) -> bytes:
        data = fetch(path)
        return data[:-1] + bytes([data[-1] ^ 1]) if path == "tile/1/001.p/1" else data

    with pytest.raises(AuditIntegrityError, match=r"tile/1/001\.p/1 hash 0"):
        check_upper_tiles(tampered, size, pristine)


def test_bundles_and_the_entry_limit(tmp_path: Path) -> None:
    entries = [b"", b"a", b"x" * MAX_LEAF_BYTES]
    tile = Tile(ENTRIES, 0, 3)
    assert decode_bundle(encode_bundle(entries), tile) == entries
    with pytest.raises(ValueError, match="exceeds 65535"):
        encode_bundle([b"x" * (MAX_LEAF_BYTES + 1)])
    with pytest.raises(AuditIntegrityError, match="holds 2 entries"):
        decode_bundle(encode_bundle(entries[:2]), tile)
    with pytest.raises(AuditIntegrityError, match="inside entry"):
        decode_bundle(encode_bundle(entries)[:-1], tile)
    # The store refuses a record whose leaf would not fit a bundle, and keeps nothing of it.
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.create()
    try:
        with pytest.raises(AuditEntryTooLarge, match="65535"):
            store.append([_record(0, request_id="r" * (MAX_LEAF_BYTES + 1))])
        assert store.head().size == 0
    finally:
        store.close()


# --- a real log, published and read back ----------------------------------------------


def _record(i: int, request_id: str | None = None) -> AuditRecord:
    return AuditRecord(
        time=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
        kind="query",
        request_id=request_id or f"req-{i}",
        caller="spiffe://gerbang.jakarta.go.id/dishub/atcs",
        decision="allow" if i % 3 else "deny",
        status="OK" if i % 3 else "PERMISSION_DENIED",
    )


SIZE = 2 * TILE_WIDTH + 89  # two full level-0 tiles, partial tiles at levels 0 and 1


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[AuditStore, str]]:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    key = LogKey.load_or_create(tmp_path / "log.key", ORIGIN)
    checkpointer = Checkpointer(store, key, ORIGIN)
    for lo, hi in [(0, 7), (7, 300), (300, SIZE)]:
        store.append([_record(i) for i in range(lo, hi)])
        assert checkpointer.checkpoint_once() is not None
    try:
        yield store, key.verifier_key
    finally:
        store.close()


@pytest.fixture
def static_site(published: tuple[AuditStore, str], tmp_path: Path) -> Iterator[tuple[Path, str]]:
    store, _ = published
    site = tmp_path / "site"
    assert write_static(store, site) == (len(list(tiles_for_size(SIZE))) + 1, SIZE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _gerbang(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_verify_remote_from_static_files_and_tampering(
    published: tuple[AuditStore, str], static_site: tuple[Path, str]
) -> None:
    _, vkey = published
    site, url = static_site
    done = _gerbang("audit", "verify", "--remote", url, "--pubkey", vkey)
    assert done.returncode == 0, done.stderr
    assert f"{SIZE} entries" in done.stdout

    # One bit of one entry in a bundle: the level-0 tile no longer matches.
    bundle = site / "tile/entries/001"
    original = bundle.read_bytes()
    bundle.write_bytes(original[:40] + bytes([original[40] ^ 1]) + original[41:])
    done = _gerbang("audit", "verify", "--remote", url, "--pubkey", vkey)
    assert done.returncode != 0
    assert "does not hash to its level-0 tile hash" in done.stderr
    bundle.write_bytes(original)

    # A consistent rewrite of a partial level-1 tile: the checkpoint's root disagrees.
    tile = site / "tile/1/000.p/2"
    data = tile.read_bytes()
    tile.write_bytes(data[:5] + bytes([data[5] ^ 1]) + data[6:])
    done = _gerbang("audit", "verify", "--remote", url, "--pubkey", vkey)
    assert done.returncode != 0
    assert "tile/1/000.p/2 hash 0" in done.stderr


def test_verify_remote_needs_the_pinned_key(
    published: tuple[AuditStore, str], static_site: tuple[Path, str], tmp_path: Path
) -> None:
    other = LogKey.load_or_create(tmp_path / "other.key", ORIGIN).verifier_key
    done = _gerbang("audit", "verify", "--remote", static_site[1], "--pubkey", other)
    assert done.returncode != 0
    assert "not signed by any trusted key" in done.stderr


@pytest.fixture
def mtls_server(published: tuple[AuditStore, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store, _ = published
    pki = tmp_path / "pki"
    init_pki(pki)
    server = serve_tiles(
        ("127.0.0.1", 0),
        store,
        pki_dir=pki,
        readers=[EXAMPLE_CALLERS["kompolnas-oversight"]],
    )
    serve_in_thread(server)
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", pki
    finally:
        server.shutdown()
        server.server_close()


def test_mtls_tiles_for_audit_readers_only(
    published: tuple[AuditStore, str], mtls_server: tuple[str, Path]
) -> None:
    _, vkey = published
    url, pki = mtls_server
    done = _gerbang("audit", "verify", "--remote", url, "--pubkey", vkey, "--pki", str(pki))
    assert done.returncode == 0, done.stderr
    # No client certificate: the handshake fails.
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.check_hostname = False
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(url + "checkpoint", context=context, timeout=10)  # noqa: S310
    # A federation certificate that is not an audit reader: 403.
    done = _gerbang(
        "audit", "verify", "--remote", url, "--pubkey", vkey, "--pki", str(pki),
        "--identity", "dishub-atcs",
    )  # fmt: skip
    assert done.returncode != 0
    assert "HTTP 403" in done.stderr


def test_torchwood_reads_our_tiles_over_mtls_and_proves_every_entry(
    published: tuple[AuditStore, str], mtls_server: tuple[str, Path], tmp_path: Path
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
    _, vkey = published
    url, pki = mtls_server
    who = "kompolnas-oversight"
    result = subprocess.run(
        [
            str(binary),
            "-ca", str(pki / "ca.pem"),
            "-cert", str(pki / f"{who}.pem"),
            "-key", str(pki / f"{who}.key"),
            url,
            vkey,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok: {SIZE} entries of {ORIGIN}" in result.stdout


def test_python_verifier_agrees_with_the_store(published: tuple[AuditStore, str]) -> None:
    from gateway.audit.tiles import TileSource

    store, vkey = published
    source = TileSource(store)
    checkpoint, verified = verify_tiles(lambda p: source.read(p)[0], vkey)
    assert (checkpoint.size, verified.size) == (SIZE, SIZE)
    assert verified.root_hash == store.root(SIZE)
    # Nothing beyond the checkpoint is served.
    with pytest.raises(TileRequestError):
        source.read("tile/0/002.p/90")
    lines = split_hashes(source.read("tile/0/000")[0], Tile(0, 0))
    leaves = [e.leaf for e in store.entries(0, TILE_WIDTH)]
    assert lines == [leaf_hash(x) for x in leaves]


def test_tiles_from_either_store(store_url: str, tmp_path: Path) -> None:
    """SQLite and PostgreSQL serve the same tiles for the same log."""
    from gateway.audit.tiles import TileSource

    store = AuditStore(store_url)
    store.create()
    try:
        key = LogKey.load_or_create(tmp_path / "log.key", ORIGIN)
        store.append([_record(i) for i in range(TILE_WIDTH + 3)])
        assert Checkpointer(store, key, ORIGIN).checkpoint_once() is not None
        source = TileSource(store)
        checkpoint, verified = verify_tiles(lambda p: source.read(p)[0], key.verifier_key)
        assert verified.size == checkpoint.size == TILE_WIDTH + 3
        assert source.read("tile/1/000.p/1")[0] == store.root(TILE_WIDTH)
    finally:
        store.close()


def test_checkpointer_writes_static_tiles_after_each_checkpoint(tmp_path: Path) -> None:
    """Each round's directory verifies on its own; full tiles are written once; the
    checkpoint is never replaced by one that is not larger."""
    from gateway.oversight.remote import file_fetcher

    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    site = tmp_path / "site"
    key = LogKey.load_or_create(tmp_path / "log.key", ORIGIN)
    checkpointer = Checkpointer(store, key, ORIGIN, static_dir=site)
    try:
        inodes: dict[str, int] = {}
        for lo, hi in [(0, 3), (3, TILE_WIDTH + 4), (TILE_WIDTH + 4, 2 * TILE_WIDTH + 1)]:
            store.append([_record(i) for i in range(lo, hi)])
            assert checkpointer.checkpoint_once() is not None
            checkpointer.write_static()
            checkpoint, verified = verify_tiles(file_fetcher(site.as_uri()), key.verifier_key)
            assert checkpoint.size == verified.size == hi
            if (site / "tile/0/000").exists():
                inodes.setdefault("tile/0/000", (site / "tile/0/000").stat().st_ino)
        assert (site / "tile/0/000").stat().st_ino == inodes["tile/0/000"]  # written once
        assert not list(site.rglob("*.tmp"))
        assert write_static(store, site) == (0, 0)  # nothing new to write
        # A cosignature stored later: the same tree, so only the checkpoint is written again.
        line = "\u2014 w.test/w1 " + "A" * 100 + "=\n"
        store.add_cosignature(2 * TILE_WIDTH + 1, "w.test/w1", line)
        partial = (site / "tile/0/002.p/1").stat().st_ino
        checkpointer.write_static()
        assert (site / "checkpoint").read_text().endswith(line)
        assert (site / "tile/0/002.p/1").stat().st_ino == partial
    finally:
        store.close()


def test_tiles_gzip_for_clients_that_accept_it(
    published: tuple[AuditStore, str], mtls_server: tuple[str, Path]
) -> None:
    """Bundles and tiles go out gzip-compressed only to a client that accepts gzip; the
    bytes inside are the tile's; the checkpoint is never compressed."""
    import gzip

    from gateway.audit.tiles import accepts_gzip
    from gateway.oversight.remote import MutualTls, _gunzip

    assert accepts_gzip("gzip")
    assert accepts_gzip("br, GZIP;q=0.5")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("identity, br")
    url, pki = mtls_server
    context = MutualTls.from_pki(pki, "kompolnas-oversight").context()

    def get(path: str, accept: str | None) -> tuple[str | None, bytes]:
        headers = {} if accept is None else {"Accept-Encoding": accept}
        request = urllib.request.Request(url + path, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:  # noqa: S310
            return answer.headers.get("Content-Encoding"), answer.read()

    for path in ("tile/entries/000", "tile/0/002.p/89", "tile/1/000.p/2"):
        plain = get(path, None)
        assert plain[0] is None
        encoding, body = get(path, "gzip, deflate")
        assert encoding == "gzip"
        assert gzip.decompress(body) == plain[1]
        assert len(body) < len(plain[1]) or "p/" in path  # a full bundle compresses
    assert get("checkpoint", "gzip")[0] is None
    # The client refuses a body that inflates beyond any tile.
    bomb = gzip.compress(b"\0" * (TILE_WIDTH * (2 + MAX_LEAF_BYTES) + 1))
    with pytest.raises(TransportError, match="not one tile"):
        _gunzip(bomb, "x")
    bad_crc = bytearray(gzip.compress(b"tile"))
    bad_crc[-8] ^= 1
    with pytest.raises(TransportError, match="corrupt"):
        _gunzip(bytes(bad_crc), "x")
    with pytest.raises(TransportError, match="not one tile"):  # truncated
        _gunzip(gzip.compress(b"tile")[:-3], "x")


def test_gateway_tiles_share_a_port_between_workers_only(
    published: tuple[AuditStore, str], tmp_path: Path
) -> None:
    """`--workers` gateways bind the tiles address together; a second lone one refuses."""
    from gateway.audit.tiles import start_gateway_tiles
    from gateway.errors import ConfigurationError
    from gateway.oversight.remote import MutualTls, http_fetcher
    from tools.federation import free_port

    store, vkey = published
    pki = tmp_path / "pki"
    init_pki(pki)
    readers = [EXAMPLE_CALLERS["kompolnas-oversight"]]
    listen = f"127.0.0.1:{free_port()}"
    servers = [
        start_gateway_tiles(
            listen, store, pki_dir=pki, identity="gateway", readers=readers, reuse_port=True
        )
        for _ in range(2)
    ]
    try:
        fetch = http_fetcher(f"https://{listen}/", MutualTls.from_pki(pki, "kompolnas-oversight"))
        assert verify_tiles(fetch, vkey)[1].size == SIZE
        with pytest.raises(ConfigurationError, match="cannot serve tiles on"):
            start_gateway_tiles(listen, store, pki_dir=pki, identity="gateway", readers=readers)
        with pytest.raises(ConfigurationError, match="not HOST:PORT"):
            start_gateway_tiles("7446", store, pki_dir=pki, identity="gateway", readers=readers)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_verify_remote_against_checkpoints_held_outside(
    published: tuple[AuditStore, str], static_site: tuple[Path, str], tmp_path: Path
) -> None:
    """A witness's state: the served log must reach it and agree with it (issue 12)."""
    from gateway.oversight.witness import WitnessState

    store, vkey = published
    state = tmp_path / "witness.state"
    WitnessState(ORIGIN, 3, store.root(3)).save(state)
    done = _gerbang("audit", "verify", "--remote", static_site[1], "--pubkey", vkey,
                    "--checkpoint", str(state))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 held outside the log" in done.stdout
    WitnessState(ORIGIN, 3, b"\x04" * 32).save(state)  # forked from what the witness saw
    done = _gerbang("audit", "verify", "--remote", static_site[1], "--pubkey", vkey,
                    "--checkpoint", str(state))  # fmt: skip
    assert done.returncode != 0
    assert "up to size 3 do not have the root" in done.stderr
    WitnessState(ORIGIN, SIZE + 5, b"\x04" * 32).save(state)  # the served log is behind
    done = _gerbang("audit", "verify", "--remote", static_site[1], "--pubkey", vkey,
                    "--checkpoint", str(state))  # fmt: skip
    assert done.returncode != 0
    assert f"checkpoint of size {SIZE + 5} was already published" in done.stderr
