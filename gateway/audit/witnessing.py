"""The log as a C2SP tlog-witness client: submit each checkpoint to every configured witness.

For one witness and one new checkpoint of size N (tlog-witness §add-checkpoint):
1. POST `old M`, the consistency proof from M to N, a blank line and the
   log-signed checkpoint, where M is the size this witness last cosigned as far
   as this process knows (0 at start);
2. on 409 (`text/x.tlog.size`) the witness says its size M'; M' larger than N
   means it saw a larger tree than this log has: a split view, reported, never
   retried; otherwise resend once from M';
3. any other answer but 200 is a refusal: reported, nothing stored;
4. on 200, keep the signature lines by this witness's key (others are ignored,
   as the spec says), verify each over the checkpoint, and store them with the
   checkpoint, where `gerbang audit checkpoint` and the AuditService serve them.
Witness keys are given as verifier keys, either the cosignature/v1 form
(type 0x04) or the plain Ed25519 note form (type 0x01) of the same key.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from gateway.audit.store import AuditStore, StoredCheckpoint
from gateway.errors import AuditIntegrityError, GerbangError, NoteFormatError, TransportError
from gateway.tlog.mldsa import WitnessVerifier, parse_witness_key
from gateway.tlog.note import parse_signature_line
from gateway.tlog.witness_protocol import AddCheckpoint, parse_conflict_size

log = structlog.get_logger("gerbang.audit")

Post = Callable[[str, bytes], tuple[int, str, bytes]]
"""POST (url, body) and return (status, content type, body)."""


class WitnessRefused(GerbangError):
    """A witness answered add-checkpoint with something other than a cosignature."""


class SplitViewSuspected(AuditIntegrityError):
    """A witness has cosigned a larger tree of this log than the log itself has."""


@dataclass(frozen=True)
class TlogWitness:
    """A witness reached over HTTP: its submission prefix and its cosigning key."""

    url: str
    key: WitnessVerifier

    @classmethod
    def parse(cls, spec: str) -> TlogWitness:
        """`URL,VKEY`: the submission prefix, a comma, the witness's verifier key."""
        url, sep, vkey = spec.partition(",")
        if not sep or not url.startswith(("http://", "https://")):
            raise NoteFormatError(
                f"witness {spec[:60]!r} is not 'URL,VKEY' (an http(s) URL, a comma, a verifier key)"
            )
        return cls(url.rstrip("/"), parse_witness_key(vkey.strip()))


def http_post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - http(s) only
    request.add_header("Content-Type", "text/plain; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, answer.headers.get("Content-Type", ""), answer.read(1 << 16)
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read(1 << 16)
    except (urllib.error.URLError, OSError) as e:
        raise TransportError(f"witness {url} is unreachable: {e}") from e


def _cosignatures(answer: bytes, checkpoint_text: str, key: WitnessVerifier) -> list[str]:
    lines = []
    for raw in answer.decode("utf-8").splitlines(keepends=True):
        sig = parse_signature_line(raw)
        if (sig.name, sig.key_id) != (key.name, key.key_id):
            continue  # §add-checkpoint: the client MUST ignore cosignatures from unknown keys
        key.check(checkpoint_text.encode(), sig.signature)
        lines.append(raw if raw.endswith("\n") else raw + "\n")
    if not lines:
        raise WitnessRefused(f"witness {key.name} answered 200 without a cosignature by its key")
    return lines


@dataclass
class WitnessSubmitter:
    """Submits checkpoints of one log to its witnesses and stores their cosignatures."""

    store: AuditStore
    witnesses: Sequence[TlogWitness]
    post: Post = http_post
    known_sizes: dict[str, int] = field(default_factory=dict)

    def submit(self, witness: TlogWitness, checkpoint: StoredCheckpoint) -> list[str]:
        """Steps 1 to 4 for one witness; return the cosignature lines stored."""
        text = checkpoint.note.decode().split("\n\n", 1)[0] + "\n"
        old = min(self.known_sizes.get(witness.url, 0), checkpoint.size)
        for attempt in range(2):
            proof = (
                self.store.consistency_proof(old, checkpoint.size)[0]
                if 0 < old < checkpoint.size
                else []
            )
            body = AddCheckpoint(old, tuple(proof), checkpoint.note).to_body()
            status, _, answer = self.post(witness.url + "/add-checkpoint", body)
            if status == 409 and attempt == 0:
                theirs = parse_conflict_size(answer)
                if theirs > checkpoint.size:
                    raise SplitViewSuspected(
                        f"witness {witness.key.name} has cosigned size {theirs} of this log, "
                        f"larger than the checkpoint of size {checkpoint.size}: a split view, or "
                        "the log lost entries"
                    )
                old = theirs
                continue
            if status != 200:
                reason = answer[:200].decode("utf-8", errors="replace").strip()
                raise WitnessRefused(
                    f"witness {witness.key.name} refused the checkpoint of size "
                    f"{checkpoint.size} with HTTP {status}: {reason}"
                )
            try:
                lines = _cosignatures(answer, text, witness.key)
            except UnicodeDecodeError:
                raise WitnessRefused(f"witness {witness.key.name} answered non-UTF-8") from None
            # One row per witness: its lines (Ed25519, ML-DSA-44) together.
            self.store.add_cosignature(checkpoint.size, witness.key.name, "".join(lines))
            self.known_sizes[witness.url] = checkpoint.size
            return lines
        raise WitnessRefused(f"witness {witness.key.name} answered 409 twice")

    def submit_all(self, checkpoint: StoredCheckpoint) -> int:
        """Submit to every witness; report failures; return how many cosigned."""
        cosigned = 0
        for witness in self.witnesses:
            try:
                self.submit(witness, checkpoint)
                cosigned += 1
            except GerbangError as e:
                log.error(
                    "witness did not cosign",
                    witness=witness.key.name,
                    size=checkpoint.size,
                    error=str(e),
                )
        return cosigned
