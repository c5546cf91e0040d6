"""C2SP tlog-proof@v1: an offline-verifiable proof that an entry is in a (cosigned) checkpoint.

Internal module: its API may change without notice. Pure functions, no I/O.

Format (https://c2sp.org/tlog-proof, §Format):

    c2sp.org/tlog-proof@v1
    [extra <base64 opaque data>]      here: the audit leaf itself
    index <decimal, no leading zeroes>
    <base64 hash>...                  the RFC 6962 inclusion proof, leaf's sibling first
    <empty line>
    <the checkpoint note, verbatim, with its cosignatures>

Verification (§Verifying a tlog proof): 1. the leaf hash, from the leaf the
caller supplies (or the `extra` line, untrusted until step 4 binds it);
2. the checkpoint is signed by a log key for its origin and 3. its
cosignatures meet the witness policy (`WitnessPolicy.check`); 4. the
inclusion proof binds the leaf hash to the signed root.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.errors import NoteFormatError
from gateway.tlog.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from gateway.tlog.note import Ed25519NoteVerifier
from gateway.tlog.witness_policy import WitnessedCheckpoint, WitnessPolicy

__all__ = ["HEADER", "TlogProof"]

HEADER: Final = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def _b64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as e:
        raise NoteFormatError(f"tlog-proof {what} is not standard base64") from e
    if base64.b64encode(data).decode() != text:
        raise NoteFormatError(f"tlog-proof {what} is not canonical base64")
    return data


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def to_text(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.proof]
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        head, sep, checkpoint = data.partition(b"\n\n")
        if not sep:
            raise NoteFormatError("tlog-proof has no empty line before its checkpoint")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError as e:
            raise NoteFormatError("tlog-proof header lines are not ASCII") from e
        if lines[0] != HEADER:
            raise NoteFormatError(f"tlog-proof does not start with {HEADER!r}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = _b64(rest.pop(0)[6:], "extra data")
        if not rest or not rest[0].startswith("index ") or not _DECIMAL.fullmatch(rest[0][6:]):
            raise NoteFormatError("tlog-proof has no 'index <decimal>' line")
        index = int(rest[0][6:])
        proof = tuple(_b64(h, f"proof line {i + 1}") for i, h in enumerate(rest[1:]))
        if any(len(h) != HASH_SIZE for h in proof):
            raise NoteFormatError("tlog-proof has a proof line that is not a SHA-256 hash")
        return cls(index, proof, checkpoint, extra)

    def verify(
        self,
        leaf: bytes,
        policy: WitnessPolicy,
        extra_logs: Sequence[Ed25519NoteVerifier] = (),
    ) -> WitnessedCheckpoint:
        """Steps 1 to 4: `leaf` is in the checkpoint, which meets `policy`."""
        witnessed = policy.check(self.checkpoint, extra_logs)
        verify_inclusion(
            leaf_hash(leaf),
            self.index,
            witnessed.checkpoint.size,
            list(self.proof),
            witnessed.checkpoint.root_hash,
        )
        return witnessed
