"""The audit log published as C2SP tlog-tiles: from the store, over HTTPS (mTLS), or as files.

What is published is bounded by the latest signed checkpoint: `checkpoint`
(with its cosignatures), every tile and entry bundle of its tree, and the
partial tiles of earlier checkpoints that are still partial-width subsets of
it (they are deterministic, so serving any whose range the checkpoint covers
is safe). Tile hashes are the complete subtrees the store already keeps
(`gateway.audit._tiles`); nothing new is stored.

Two ways to publish, as the deployment chooses:
- `serve_tiles`: an HTTPS server requiring a client certificate from the
  federation CA, and, when `readers` is given, one of those SPIFFE IDs (the
  AuditService's audit readers): the default, the log stays inside the federation;
- `write_static`: files under a directory, written after each checkpoint, for
  a public mirror behind any static web server.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gateway.audit._tiles import ENTRIES, TILE_WIDTH, Tile, TileRequestError, encode_bundle
from gateway.audit.store import AuditStore
from gateway.errors import AuditIntegrityError, GerbangError

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


def write_static(store: AuditStore, out: Path) -> int:
    """Write the checkpoint and every tile of its tree under `out`; return files written.

    Full tiles never change, so an existing one is kept; partial tiles and the
    checkpoint are written to a temporary name and renamed, and the checkpoint
    last, so a mirror never serves a checkpoint whose tiles are missing.
    """
    from gateway.audit._tiles import tiles_for_size

    source = TileSource(store)
    cp = store.checkpoint()
    if cp is None:
        return 0
    written = 0
    for tile in tiles_for_size(cp.size):
        path = out / tile.path()
        if not tile.partial and path.exists():
            continue
        _write_atomic(path, source.tile(tile, cp.size))
        written += 1
    _write_atomic(out / "checkpoint", cp.cosigned_note())
    return written + 1


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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

        def _send(self, status: int, body: bytes, content_type: str, cache: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
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
) -> ThreadingHTTPServer:
    """An HTTP server for the tiles; over mTLS with `pki_dir` (the default deployment)."""
    server = ThreadingHTTPServer(address, _handler(TileSource(store), prefix, readers))
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


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="tlog-tiles", daemon=True)
    thread.start()
    return thread
