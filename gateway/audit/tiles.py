"""The audit log published as C2SP tlog-tiles: from the store, over HTTPS (mTLS), or as files.

What is published is bounded by the latest signed checkpoint: `checkpoint`
(with its cosignatures), every tile and entry bundle of its tree, and the
partial tiles of earlier checkpoints that are still partial-width subsets of
it (they are deterministic, so serving any whose range the checkpoint covers
is safe). Tile hashes are the complete subtrees the store already keeps
(`gateway.tlog.tiles`); nothing new is stored.

Two ways to publish, as the deployment chooses (both may run):
- `serve_tiles`: an HTTPS server requiring a client certificate from the
  federation CA, and, when `readers` is given, one of those SPIFFE IDs (the
  AuditService's audit readers): the default, the log stays inside the federation.
  The gateway runs one itself (`gerbang gateway serve --tiles-listen`,
  `start_gateway_tiles`); `gerbang audit tiles serve` runs one apart;
- `write_static`: files under a directory, written by the gateway's checkpointer
  right after each checkpoint (`gerbang gateway serve --tiles-dir`), for a public
  mirror behind any static web server.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import ssl
import threading
from collections.abc import Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gateway.audit.store import AuditStore
from gateway.errors import AuditIntegrityError, ConfigurationError, GerbangError
from gateway.tlog.tiles import (
    ENTRIES,
    TILE_WIDTH,
    Tile,
    TileRequestError,
    encode_bundle,
    tiles_for_size,
)

CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"


def covered(tile: Tile, size: int) -> bool:
    """Whether the leaves a tile spans all lie inside a tree of `size`."""
    level = 0 if tile.level == ENTRIES else tile.level
    end = (tile.index * TILE_WIDTH + tile.width) << (8 * level)
    return end <= size


class TileSource:
    """Reads the checkpoint, tiles and entry bundles of the log out of its store."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def checkpoint(self) -> bytes:
        cp = self.store.checkpoint()
        if cp is None:
            raise TileRequestError("the log has no signed checkpoint yet")
        return cp.cosigned_note()

    def tile(self, tile: Tile, size: int | None = None) -> bytes:
        """The bytes of `tile`; it must lie inside the latest checkpoint (or `size`)."""
        if size is None:
            cp = self.store.checkpoint()
            size = 0 if cp is None else cp.size
        if not covered(tile, size):
            raise TileRequestError(f"{tile.path()} is not inside the latest checkpoint")
        if tile.level == ENTRIES:
            start, end = tile.entry_range()
            leaves = [e.leaf for e in self.store.entries(start, end)]
            if len(leaves) != tile.width:
                raise AuditIntegrityError(f"the store lacks entries for {tile.path()}")
            return encode_bundle(leaves)
        first = tile.index * TILE_WIDTH
        hashes = self.store.node_run(8 * tile.level, first, first + tile.width)
        if len(hashes) != tile.width:
            raise AuditIntegrityError(f"the store lacks tree nodes for {tile.path()}")
        return b"".join(hashes)

    def read(self, path: str) -> tuple[bytes, str, bool]:
        """(body, content type, immutable) for a path below the prefix."""
        if path == "checkpoint":
            return self.checkpoint(), CHECKPOINT_TYPE, False
        return self.tile(Tile.parse(path)), TILE_TYPE, True


def write_static(store: AuditStore, out: Path, since: int = 0) -> tuple[int, int]:
    """Write the checkpoint and the tiles of its tree under `out`.

    Returns (files written, size of the checkpoint written), (0, 0) when nothing was.

    Full tiles never change: those inside a tree of `since` (the size last written by
    this process) are skipped unseen, and any other that exists is kept. New tiles and
    partial tiles go to a temporary name and are renamed into place, and the checkpoint
    last, so a mirror never serves a checkpoint whose tiles are missing. An exclusive
    lock on `out/.lock` serialises writers (the workers of one gateway), and a checkpoint
    never replaces a larger one already written: the mirror does not roll back. The same
    checkpoint with cosignatures added since is written again (the checkpoint file only).
    """
    cp = store.checkpoint()
    if cp is None:
        return 0, 0
    note = cp.cosigned_note()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        there = _read(out / "checkpoint")
        if _size_of(there) > cp.size or there == note:
            return 0, 0
        if _size_of(there) == cp.size:  # the same tree with new cosignatures: tiles are there
            _write_atomic(out / "checkpoint", note)
            return 1, cp.size
        source = TileSource(store)
        written = 0
        for tile in tiles_for_size(cp.size):
            if not tile.partial and covered(tile, since):
                continue
            path = out / tile.path()
            if not tile.partial and path.exists():
                continue
            _write_atomic(path, source.tile(tile, cp.size))
            written += 1
        _write_atomic(out / "checkpoint", note)
        return written + 1, cp.size


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _size_of(note: bytes) -> int:
    """The size a checkpoint note states (0 when there is none or it is unreadable)."""
    lines = note.split(b"\n", 2)
    return int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else 0


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (RFC 9110 §12.5.3; `q=0` refuses)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.", "0.0", "0.00", "0.000"))
    return False


def _uri_sans(cert: dict[str, object]) -> list[str]:
    sans = cert.get("subjectAltName", ())
    assert isinstance(sans, tuple)
    return [str(value) for kind, value in sans if kind == "URI"]


def _handler(source: TileSource, prefix: str, readers: Collection[str] | None) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY a keep-alive
        # client waits for the delayed ACK (40 ms) on every response.
        disable_nagle_algorithm = True

        def _send(
            self, status: int, body: bytes, content_type: str, cache: str, gzipped: bool = False
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            if status == 200:
                self.send_header("Vary", "Accept-Encoding")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if readers is not None:
                getpeercert = getattr(self.connection, "getpeercert", None)
                cert = getpeercert() if getpeercert is not None else None
                if not cert or not set(_uri_sans(cert)) & set(readers):
                    self._send(403, b"not an audit reader\n", "text/plain", "no-store")
                    return
            if not self.path.startswith(prefix):
                self._send(404, b"not found\n", "text/plain", "no-store")
                return
            try:
                body, ctype, immutable = source.read(self.path[len(prefix) :])
            except TileRequestError as e:
                self._send(404, f"{e}\n".encode(), "text/plain", "no-store")
                return
            except GerbangError as e:
                self._send(500, f"{e}\n".encode(), "text/plain", "no-store")
                return
            # §Checkpoints: mutable, cache a few seconds at most; tiles are immutable.
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            # Tiles and bundles compressed for a client that accepts it (tlog-tiles allows
            # gzip Content-Encoding); mtime 0, so the same tile is the same bytes.
            if immutable and accepts_gzip(self.headers.get("Accept-Encoding", "")):
                self._send(200, gzip.compress(body, mtime=0), ctype, cache, gzipped=True)
                return
            self._send(200, body, ctype, cache)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve_tiles(
    address: tuple[str, int],
    store: AuditStore,
    *,
    pki_dir: Path | None,
    identity: str = "gateway",
    readers: Collection[str] | None = None,
    prefix: str = "/",
    reuse_port: bool = False,
) -> ThreadingHTTPServer:
    """An HTTP server for the tiles; over mTLS with `pki_dir` (the default deployment).

    `reuse_port` lets the workers of one gateway (`--workers`) share the address."""
    server_class = _ReusePortServer if reuse_port else ThreadingHTTPServer
    server = server_class(address, _handler(TileSource(store), prefix, readers))
    server.daemon_threads = True
    if pki_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(pki_dir / f"{identity}.pem", pki_dir / f"{identity}.key")
        context.load_verify_locations(pki_dir / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED  # no certificate from the federation CA, no tiles
        # The handshake runs in the request's thread, so a slow client holds only its own.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    return server


class _ReusePortServer(ThreadingHTTPServer):
    allow_reuse_port = True


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="tlog-tiles", daemon=True)
    thread.start()
    return thread


def start_gateway_tiles(
    listen: str,
    store: AuditStore,
    *,
    pki_dir: Path,
    identity: str,
    readers: Collection[str],
    reuse_port: bool = False,
) -> ThreadingHTTPServer:
    """The gateway's own tiles server (`gerbang gateway serve --tiles-listen`), started.

    The AuditService's trust, over HTTPS: the gateway's certificate, a client certificate
    from the federation CA required, and only the AuditService's readers served (an
    empty set serves nobody, as the AuditService answers nobody). Stop it with
    `shutdown()` and `server_close()`."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigurationError(f"--tiles-listen {listen!r} is not HOST:PORT")
    try:
        server = serve_tiles(
            (host, int(port)), store, pki_dir=pki_dir, identity=identity,
            readers=frozenset(readers), reuse_port=reuse_port,
        )  # fmt: skip
    except OSError as e:
        raise ConfigurationError(f"cannot serve tiles on {listen}: {e.strerror or e}") from e
    serve_in_thread(server)
    return server
