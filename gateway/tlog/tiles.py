"""C2SP tlog-tiles: tile paths, which tiles a tree has, tile contents, entry bundles.

Internal module: its API may change without notice. Pure functions, no I/O.

https://c2sp.org/tlog-tiles, §Merkle Tree: the n-th tile at level l holds,
for i in 0..255, MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]):
the complete subtree of height 8*l with index n*256 + i, which is exactly the
node `(8*l, n*256 + i)` the audit store keeps. A partial tile (§Partial
Tiles) at level l of a tree of size s has floor(s / 256**l) mod 256 hashes.
Paths are `tile/<L>/<N>[.p/<W>]` with N in zero-padded 3-digit elements, all
but the last prefixed by `x`; entry bundles (§Log entries) are
`tile/entries/<N>[.p/<W>]`, each entry a big-endian uint16 length and the
entry, so no entry can exceed 65,535 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.errors import AuditIntegrityError, UntrustedInputError
from gateway.tlog.merkle import HASH_SIZE, NodeKey, node_hash

__all__ = [
    "MAX_ENTRY_BYTES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "decode_bundle",
    "encode_bundle",
    "tile_hash",
    "tiles_for_size",
]

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
MAX_ENTRY_BYTES: Final = 0xFFFF
"""§Log entries: a bundle entry's length is a uint16."""

ENTRIES: Final = -1
"""The `level` of an entry bundle: it lives beside level 0, under `tile/entries/`."""

_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?")


class TileRequestError(UntrustedInputError):
    """A tile path that the spec does not allow, or a tile the tree does not have."""


@dataclass(frozen=True)
class Tile:
    """A tile (`level` >= 0) or an entry bundle (`level` == ENTRIES): index and width."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (self.level == ENTRIES or 0 <= self.level <= 63) or self.index < 0:
            raise TileRequestError(f"no tile at level {self.level}, index {self.index}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TileRequestError(f"a tile is 1 to {TILE_WIDTH} hashes wide, not {self.width}")

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """§Merkle Tree: e.g. `tile/0/x001/x234/067.p/8`."""
        digits = f"{self.index:03d}"
        digits = "0" * (-len(digits) % 3) + digits
        parts = [digits[i : i + 3] for i in range(0, len(digits), 3)]
        n = "/".join([*(f"x{p}" for p in parts[:-1]), parts[-1]])
        level = "entries" if self.level == ENTRIES else str(self.level)
        return f"tile/{level}/{n}" + (f".p/{self.width}" if self.partial else "")

    @classmethod
    def parse(cls, path: str) -> Tile:
        m = _PATH.fullmatch(path)
        if m is None:
            raise TileRequestError(f"{path[:80]!r} is not a tlog-tiles path")
        level = ENTRIES if m[1] == "entries" else int(m[1])
        index = int(m[2].replace("x", "").replace("/", ""))
        width = TILE_WIDTH
        if m[3] is not None:
            width = int(m[3])
            if str(width) != m[3] or not 1 <= width < TILE_WIDTH:
                raise TileRequestError(f"{path!r}: a partial width is 1 to 255, no leading zero")
        tile = cls(level, index, width)
        if tile.path() != path:  # e.g. "x000/001" for 1: one spelling per tile
            raise TileRequestError(f"{path!r} is not the canonical path of its tile")
        return tile

    def node_keys(self) -> list[NodeKey]:
        """The stored complete subtrees whose hashes make up this tile, left to right."""
        level = 0 if self.level == ENTRIES else self.level
        first = self.index * TILE_WIDTH
        return [(TILE_HEIGHT * level, first + i) for i in range(self.width)]

    def entry_range(self) -> tuple[int, int]:
        """The leaf indexes [start, end) an entry bundle holds (level ENTRIES or 0)."""
        start = self.index * TILE_WIDTH
        return start, start + self.width

    def exists_in(self, size: int) -> bool:
        """Whether a tree of `size` has exactly this tile (full, or partial of this width)."""
        level = 0 if self.level == ENTRIES else self.level
        full = size >> (TILE_HEIGHT * (level + 1))
        if self.index < full:
            return not self.partial
        return (
            self.index == full
            and self.partial
            and (size >> (TILE_HEIGHT * level)) % TILE_WIDTH == self.width
        )


def tiles_for_size(size: int) -> Iterator[Tile]:
    """Every tile and entry bundle of a tree of `size`: the full ones, then the partial ones."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        for n in range(hashes // TILE_WIDTH):
            yield Tile(level, n)
            if level == 0:
                yield Tile(ENTRIES, n)
        if rest := hashes % TILE_WIDTH:
            yield Tile(level, hashes // TILE_WIDTH, rest)
            if level == 0:
                yield Tile(ENTRIES, hashes // TILE_WIDTH, rest)
        level += 1


def tile_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a full tile's 256 hashes: the hash the tile above keeps for it."""
    if len(hashes) != TILE_WIDTH:
        raise ValueError("only a full tile is hashed into the level above")
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def split_hashes(data: bytes, tile: Tile) -> list[bytes]:
    """A tile's bytes as its hashes; raise if the length is not the tile's width."""
    if len(data) != HASH_SIZE * tile.width:
        raise AuditIntegrityError(
            f"{tile.path()} is {len(data)} bytes; it must be {tile.width} hashes of 32 bytes",
            index=tile.index * TILE_WIDTH,
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """§Log entries: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise ValueError(f"an entry of {len(entry)} bytes exceeds {MAX_ENTRY_BYTES}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, tile: Tile) -> list[bytes]:
    """An entry bundle's entries; raise unless it holds exactly `tile.width` of them."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise AuditIntegrityError(f"{tile.path()} ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            raise AuditIntegrityError(f"{tile.path()} ends inside entry {len(entries)}")
        entries.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    if len(entries) != tile.width:
        raise AuditIntegrityError(
            f"{tile.path()} holds {len(entries)} entries; it must hold {tile.width}",
            index=tile.index * TILE_WIDTH,
        )
    return entries
