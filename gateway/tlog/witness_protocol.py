"""C2SP tlog-witness add-checkpoint: the request body, the witness's checks, the answers.

Internal module: its API may change without notice. Pure functions, no I/O;
the HTTP server (`gateway.oversight.witness_server`) and the log's client
(`gateway.audit.witnessing`) are thin layers around it.

Request body (https://c2sp.org/tlog-witness, §add-checkpoint):

    old <size>\\n                 ASCII decimal, no leading zeroes
    <base64 hash>\\n ...          0 to 63 consistency proof lines
    \\n
    <signed checkpoint note>

The witness's checks, in the order the spec lists them, each with its status:

    1. malformed body, more than 63 proof lines       400 Bad Request
    2. the checkpoint's origin is not a configured log   404 Not Found
    3. no valid signature by a trusted log key, or a
       trusted key's signature fails                     403 Forbidden
    4. old size larger than the checkpoint size          400 Bad Request
    5. old size is not the size last cosigned            409 Conflict, body "<size>\\n",
                                                         Content-Type text/x.tlog.size
    6. size 0 with a root other than SHA-256("")         422 Unprocessable Entity
    7. old size 0 with a non-empty proof, a proof that
       does not verify, or the same size, another root   422 Unprocessable Entity

Only when all pass may the witness record the checkpoint and cosign it; the
check against the recorded state and the update must be one atomic step
(§add-checkpoint, last paragraph), which is the caller's storage's job.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.errors import NoteFormatError, ProofError, SignatureError, UntrustedInputError
from gateway.tlog.checkpoint import Checkpoint
from gateway.tlog.merkle import HASH_SIZE, verify_consistency
from gateway.tlog.note import NoteVerifier, VerifiedNote, format_signature_line, open_note

__all__ = [
    "EMPTY_ROOT",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "LogState",
    "WitnessRefusal",
    "check_add_checkpoint",
    "origin_hash",
    "parse_conflict_size",
]

MAX_PROOF_LINES: Final = 63
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""RFC 6962 §2.1: the hash of the empty tree is the hash of the empty string."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_BODY: Final = 1 << 20


class WitnessRefusal(UntrustedInputError):
    """The witness will not cosign: `status` is the HTTP status code the spec requires."""

    def __init__(self, status: int, message: str, *, conflict_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.conflict_size = conflict_size

    def body(self) -> tuple[bytes, str]:
        """The response body and its content type."""
        if self.conflict_size is not None:
            return f"{self.conflict_size}\n".encode(), SIZE_CONTENT_TYPE
        return (str(self) + "\n").encode(), "text/plain; charset=utf-8"


def _decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise NoteFormatError(f"{what} {text[:24]!r} is not a decimal without leading zeroes")
    return int(text)


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the old size, a consistency proof, a signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes

    def to_body(self) -> bytes:
        if len(self.proof) > MAX_PROOF_LINES:
            raise ValueError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
        lines = [f"old {self.old_size}\n"] + [
            f"{base64.b64encode(h).decode()}\n" for h in self.proof
        ]
        return "".join(lines).encode() + b"\n" + self.note

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body; raise `WitnessRefusal(400)` naming what is malformed."""
        try:
            return cls._parse(body)
        except (NoteFormatError, UnicodeDecodeError) as e:
            raise WitnessRefusal(400, f"malformed add-checkpoint request: {e}") from e

    @classmethod
    def _parse(cls, body: bytes) -> AddCheckpoint:
        if len(body) > _MAX_BODY:
            raise NoteFormatError(f"request is {len(body)} bytes; the limit is {_MAX_BODY}")
        head, sep, note = body.partition(b"\n\n")
        if not sep:
            raise NoteFormatError("no empty line between the old size and proof and the checkpoint")
        lines = head.decode("ascii").split("\n")
        first, proof_lines = lines[0], lines[1:]
        if not first.startswith("old "):
            raise NoteFormatError("the first line is not 'old <size>'")
        old_size = _decimal(first[4:], "old size")
        if len(proof_lines) > MAX_PROOF_LINES:
            raise NoteFormatError(
                f"{len(proof_lines)} consistency proof lines; the limit is {MAX_PROOF_LINES}"
            )
        proof = []
        for i, line in enumerate(proof_lines):
            try:
                h = base64.b64decode(line, validate=True)
            except ValueError as e:
                raise NoteFormatError(f"proof line {i + 1} is not standard base64") from e
            if len(h) != HASH_SIZE or base64.b64encode(h).decode() != line:
                raise NoteFormatError(f"proof line {i + 1} is not a canonical base64 SHA-256 hash")
            proof.append(h)
        return cls(old_size, tuple(proof), note)


@dataclass(frozen=True)
class LogState:
    """What a witness recorded for one log: the last cosigned size and root (0 and empty: none)."""

    size: int = 0
    root_hash: bytes = EMPTY_ROOT


def note_origin(note: bytes) -> str:
    """The first line of a note, before any signature is checked (to pick the log's keys)."""
    first, sep, _ = note.partition(b"\n")
    if not sep:
        raise WitnessRefusal(400, "the checkpoint has no origin line")
    try:
        return first.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefusal(400, "the checkpoint's origin line is not UTF-8") from None


def check_add_checkpoint(
    request: AddCheckpoint,
    log_keys: Mapping[str, Sequence[NoteVerifier]],
    state: LogState,
) -> tuple[Checkpoint, VerifiedNote]:
    """Steps 2 to 7 above for a parsed request against the recorded `state` of its log.

    Returns the checkpoint to cosign and the note with the log signatures that
    verified; raises `WitnessRefusal` with the spec's status code otherwise.
    """
    # 2.
    origin = note_origin(request.note)
    keys = log_keys.get(origin)
    if not keys:
        raise WitnessRefusal(404, f"this witness does not witness the log {origin!r}")
    # 3.
    try:
        verified = open_note(request.note, keys)
    except SignatureError as e:
        raise WitnessRefusal(403, f"the checkpoint is not validly signed by the log: {e}") from e
    except NoteFormatError as e:
        raise WitnessRefusal(400, f"the checkpoint note is malformed: {e}") from e
    try:
        checkpoint = Checkpoint.parse(verified.text)
    except NoteFormatError as e:
        raise WitnessRefusal(400, f"the signed note is not a checkpoint: {e}") from e
    if checkpoint.origin != origin:  # pragma: no cover - the first line is the origin
        raise WitnessRefusal(400, "the checkpoint's origin is not its first line")
    # 4.
    if request.old_size > checkpoint.size:
        raise WitnessRefusal(
            400, f"old size {request.old_size} is larger than the checkpoint size {checkpoint.size}"
        )
    # 5.
    if request.old_size != state.size:
        raise WitnessRefusal(
            409,
            f"old size {request.old_size} is not the size {state.size} this witness last cosigned",
            conflict_size=state.size,
        )
    # 6.
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise WitnessRefusal(422, "a checkpoint of size 0 must carry the empty tree's root")
    # 7.
    if request.old_size == 0:
        if request.proof:
            raise WitnessRefusal(422, "old size is 0, so the consistency proof must be empty")
    elif request.old_size == checkpoint.size:
        if checkpoint.root_hash != state.root_hash:
            raise WitnessRefusal(
                422, f"FORK: a second root for size {checkpoint.size} of {origin!r}"
            )
    else:
        try:
            verify_consistency(
                state.size,
                checkpoint.size,
                list(request.proof),
                state.root_hash,
                checkpoint.root_hash,
            )
        except ProofError as e:
            raise WitnessRefusal(
                422,
                f"FORK: the checkpoint of size {checkpoint.size} is not consistent with size "
                f"{state.size}: {e}",
            ) from e
    return checkpoint, verified


def parse_conflict_size(body: bytes) -> int:
    """The witness's size from a 409 answer (`text/x.tlog.size`: a decimal and a newline)."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise NoteFormatError("a 409 answer's size does not end in a newline")
    return _decimal(text[:-1], "witness tree size")


def origin_hash(origin: str) -> str:
    """§Monitor Retrieval Mechanism: lowercase hex SHA-256 of the origin."""
    return hashlib.sha256(origin.encode()).hexdigest()


def verified_note(verified: VerifiedNote, extra_lines: Sequence[str]) -> bytes:
    """The checkpoint with the log signatures that verified and `extra_lines` (cosignatures)."""
    log_lines = [format_signature_line(s.name, s.key_id, s.signature) for s in verified.signatures]
    return (verified.text + "\n" + "".join(log_lines) + "".join(extra_lines)).encode()
