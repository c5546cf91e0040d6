"""Mirror and verify the whole audit log through C2SP tlog-tiles, with no database access.

Steps, in order (`verify_tiles`):
1. fetch `<prefix>/checkpoint` and verify the log's signature with the pinned
   verifier key (origin = the key's name);
2. fetch every entry bundle of its tree, in index order; each must hold the
   tile's width of length-prefixed entries;
3. fetch the level-0 tile beside each bundle: its hashes must be the RFC 6962
   leaf hashes of the bundle's entries;
4. fetch every tile above: each hash must be the Merkle hash of the full
   tile below it (tlog-tiles §Merkle Tree);
5. the entries go through the same verification as a stored log
   (`verify_log`: indexes, hash chain, leaf format, and the Merkle root at
   the checkpoint's size equal to the signed root), so tiles, entries and the
   signed checkpoint agree, and any client reading these tiles sees this log.
The first failing step raises (`AuditIntegrityError`, `SignatureError`,
`TransportError`).
"""

from __future__ import annotations

import hashlib
import ssl
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from gateway.errors import AuditIntegrityError, TransportError
from gateway.oversight.verify import CheckpointClaim, VerifiedLog, verify_log
from gateway.protocol.audit_entry import Entry
from gateway.protocol.audit_rows import StoredEntry
from gateway.tlog.checkpoint import Checkpoint, open_checkpoint
from gateway.tlog.merkle import leaf_hash
from gateway.tlog.note import parse_verifier_key
from gateway.tlog.tiles import (
    ENTRIES,
    MAX_ENTRY_BYTES,
    TILE_WIDTH,
    Tile,
    decode_bundle,
    split_hashes,
    tile_hash,
    tiles_for_size,
)

Fetch = Callable[[str], bytes]
"""GET a path below the prefix (`checkpoint`, `tile/0/000`, ...) and return its body."""


@dataclass(frozen=True)
class MutualTls:
    """A client certificate for a tiles server behind the federation's mTLS."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_pki(cls, pki_dir: Path, identity: str) -> MutualTls:
        return cls(pki_dir / "ca.pem", pki_dir / f"{identity}.pem", pki_dir / f"{identity}.key")

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(self.cert, self.key)
        context.check_hostname = False  # federation certificates name SPIFFE IDs, not hosts
        return context


def http_fetcher(prefix: str, tls: MutualTls | None = None, timeout: float = 30.0) -> Fetch:
    base = prefix if prefix.endswith("/") else prefix + "/"
    if not base.startswith(("http://", "https://")):
        raise TransportError(f"{prefix!r} is not an http(s) URL")
    context = tls.context() if tls is not None else None

    def fetch(path: str) -> bytes:
        url = base + path
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310
                body: bytes = answer.read()
                if answer.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = _gunzip(body, url)
                return body
        except urllib.error.HTTPError as e:
            raise TransportError(f"{url}: HTTP {e.code}") from e
        except (urllib.error.URLError, OSError) as e:
            raise TransportError(f"{url}: {e}") from e

    return fetch


MAX_TILE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
"""The largest tile: a full entry bundle of maximal entries (hash tiles are 8 KiB)."""


def _gunzip(data: bytes, url: str) -> bytes:
    """A gzip body, refused when corrupt or larger than any tile (no decompression bomb)."""
    inflate = zlib.decompressobj(wbits=31)  # gzip header and trailer
    try:
        out = inflate.decompress(data, MAX_TILE_BYTES + 1)
    except zlib.error as e:
        raise TransportError(f"{url}: a corrupt gzip body: {e}") from e
    if len(out) > MAX_TILE_BYTES or not inflate.eof or inflate.unused_data:
        raise TransportError(f"{url}: the gzip body is not one tile of at most {MAX_TILE_BYTES}")
    return out


def file_fetcher(prefix: str) -> Fetch:
    """Read a static tlog-tiles directory given as a `file://` URL (or a plain path)."""
    root = Path(url2pathname(urlparse(prefix).path)) if prefix.startswith("file:") else Path(prefix)

    def fetch(path: str) -> bytes:
        if ".." in path.split("/"):
            raise TransportError(f"{path!r} is not a path below the prefix")
        try:
            return (root / path).read_bytes()
        except OSError as e:
            raise TransportError(f"{root / path}: {e.strerror or e}") from e

    return fetch


def fetcher(prefix: str, tls: MutualTls | None = None) -> Fetch:
    """`http(s)://` through `http_fetcher`, `file://` through `file_fetcher`."""
    return file_fetcher(prefix) if prefix.startswith("file:") else http_fetcher(prefix, tls)


def fetch_checkpoint(fetch: Fetch, vkey: str) -> tuple[Checkpoint, bytes]:
    """Step 1: the latest checkpoint, verified with the log's pinned key."""
    verifier = parse_verifier_key(vkey)
    note = fetch("checkpoint")
    return open_checkpoint(note, verifier, verifier.name), note


FullTiles = dict[tuple[int, int], bytes]
"""(level, index) of a full tile to its Merkle hash, kept until the tile above checks it."""


def read_entries(
    fetch: Fetch, size: int, full_tiles: FullTiles, start: int = 0
) -> Iterator[StoredEntry]:
    """Steps 2 and 3: the entries [start, size), each checked against its level-0 tile."""
    for tile in tiles_for_size(size):
        if tile.level != 0 or (tile.index + 1) * TILE_WIDTH <= start:
            continue
        hashes = split_hashes(fetch(tile.path()), tile)
        if not tile.partial:
            full_tiles[(0, tile.index)] = tile_hash(hashes)
        bundle = decode_bundle(fetch(Tile(ENTRIES, tile.index, tile.width).path()), tile)
        for i, (leaf, h) in enumerate(zip(bundle, hashes, strict=True)):
            index = tile.index * TILE_WIDTH + i
            if leaf_hash(leaf) != h:
                raise AuditIntegrityError(
                    f"entry {index} does not hash to its level-0 tile hash: the tiles and "
                    "the entry bundles disagree",
                    index=index,
                )
            if index >= start:
                yield StoredEntry(Entry(index, leaf, hashlib.sha256(leaf).digest()))


def check_upper_tiles(fetch: Fetch, size: int, full_tiles: FullTiles) -> int:
    """Step 4: every tile above level 0 hashes the full tiles below it; return how many.

    `full_tiles` holds the hashes of the full level-0 tiles (from step 3)."""
    checked = 0
    for tile in tiles_for_size(size):
        if tile.level in (ENTRIES, 0):
            continue
        hashes = split_hashes(fetch(tile.path()), tile)
        if not tile.partial:
            full_tiles[(tile.level, tile.index)] = tile_hash(hashes)
        for i, h in enumerate(hashes):
            below = full_tiles.pop((tile.level - 1, tile.index * TILE_WIDTH + i), None)
            if below != h:
                raise AuditIntegrityError(
                    f"{tile.path()} hash {i} is not the hash of the full tile below it",
                    index=(tile.index * TILE_WIDTH + i) << (8 * tile.level),
                )
        checked += 1
    return checked


def verify_tiles(
    fetch: Fetch,
    vkey: str,
    progress: Callable[[int], None] | None = None,
    outside: Sequence[CheckpointClaim] = (),
) -> tuple[Checkpoint, VerifiedLog]:
    """Steps 1 to 5 over the whole log; return the checkpoint and what was verified.

    `outside` are checkpoints held elsewhere (a witness's state, an evidence bundle): the
    served log must reach each and agree with it, or verification fails (behind, or forked).
    """
    checkpoint, _ = fetch_checkpoint(fetch, vkey)
    claim = CheckpointClaim(checkpoint.size, checkpoint.root_hash, "the served checkpoint")
    full_tiles: FullTiles = {}
    verified = verify_log(
        read_entries(fetch, checkpoint.size, full_tiles), None, [claim, *outside], progress
    )
    check_upper_tiles(fetch, checkpoint.size, full_tiles)
    return checkpoint, verified
