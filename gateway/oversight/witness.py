"""The witness an oversight body runs: verify the log only grows, then cosign its checkpoint.

One round, in order:
1. fetch the latest checkpoint note from the gateway's audit service (mTLS, as
   an oversight identity) and verify the log's signature on it;
2. compare it with the last checkpoint this witness cosigned (its state):
   a smaller size is a rollback, the same size with another root is a fork;
3. for a larger size, fetch a consistency proof from the old size and verify
   it against the old root and the new one; a failing proof is a fork;
4. cosign (C2SP tlog-cosignature/v1), hand the cosignature to the gateway,
   and only then replace the state file atomically.
Rollbacks and forks raise `ForkDetected`: the command exits non-zero, loudly.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey

from gateway.errors import AuditIntegrityError, ConfigurationError, ProofError
from gateway.tlog.checkpoint import Checkpoint, cosign, format_cosigner_key, open_checkpoint
from gateway.tlog.merkle import verify_consistency
from gateway.tlog.mldsa import cosign_mldsa, format_mldsa_key
from gateway.tlog.note import parse_verifier_key


class ForkDetected(AuditIntegrityError):
    """The log showed this witness a history inconsistent with one it saw before."""


@dataclass(frozen=True)
class WitnessState:
    origin: str
    size: int
    root_hash: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "origin": self.origin,
                "size": self.size,
                "root": base64.b64encode(self.root_hash).decode(),
            }
        )

    @classmethod
    def load(cls, path: Path, origin: str) -> WitnessState:
        if not path.exists():
            return cls(origin, 0, b"")
        doc = json.loads(path.read_text())
        if doc.get("origin") != origin:
            raise ConfigurationError(
                f"{path} is the state for log {doc.get('origin')!r}, not {origin!r}"
            )
        return cls(origin, int(doc["size"]), base64.b64decode(doc["root"]))

    def save(self, path: Path) -> None:
        """Write the state atomically: a crash leaves the old state or the new one, whole."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class WitnessKey:
    """A witness's cosigning keys: Ed25519 (cosignature/v1), and ML-DSA-44 (subtree/v1),
    which tlog-cosignature recommends for new deployments. Key files made before ML-DSA
    have only the Ed25519 key; new ones have both."""

    name: str
    private_key: Ed25519PrivateKey
    mldsa_key: MLDSA44PrivateKey | None = None

    @property
    def verifier_key(self) -> str:
        return format_cosigner_key(self.name, self.private_key.public_key())

    @property
    def mldsa_verifier_key(self) -> str | None:
        if self.mldsa_key is None:
            return None
        return format_mldsa_key(self.name, self.mldsa_key.public_key())

    def cosign(self, checkpoint: Checkpoint, now: int) -> list[str]:
        """Every cosignature line this witness makes for `checkpoint` (the caller checked it)."""
        text = checkpoint.to_text()
        lines = [cosign(text, self.private_key, self.name, now)]
        if self.mldsa_key is not None:
            lines.append(cosign_mldsa(text, self.mldsa_key, self.name, now))
        return lines

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> WitnessKey:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            mldsa_seed = os.urandom(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(
                    json.dumps(
                        {
                            "name": name,
                            "seed": base64.b64encode(key.private_bytes_raw()).decode(),
                            "mldsa_seed": base64.b64encode(mldsa_seed).decode(),
                        }
                    )
                )
            path.with_suffix(".pub").write_text(format_cosigner_key(name, key.public_key()) + "\n")
            mldsa = MLDSA44PrivateKey.from_seed_bytes(mldsa_seed)
            path.with_suffix(".mldsa.pub").write_text(
                format_mldsa_key(name, mldsa.public_key()) + "\n"
            )
        doc = json.loads(path.read_text())
        seed = doc.get("mldsa_seed")
        return cls(
            doc["name"],
            Ed25519PrivateKey.from_private_bytes(base64.b64decode(doc["seed"])),
            MLDSA44PrivateKey.from_seed_bytes(base64.b64decode(seed)) if seed else None,
        )


def check_advance(state: WitnessState, new: Checkpoint, proof: list[bytes] | None) -> WitnessState:
    """Steps 2 and 3: raise `ForkDetected` unless `new` extends the state consistently (pure)."""
    if new.size < state.size:
        raise ForkDetected(
            f"ROLLBACK: log {new.origin} now shows size {new.size}, but this witness "
            f"already cosigned size {state.size}"
        )
    if state.size == 0:
        return WitnessState(new.origin, new.size, new.root_hash)
    if new.size == state.size:
        if new.root_hash != state.root_hash:
            raise ForkDetected(
                f"FORK: log {new.origin} shows two different roots for size {new.size}"
            )
        return state
    if proof is None:
        raise ForkDetected(f"log {new.origin} gave no consistency proof from size {state.size}")
    try:
        verify_consistency(state.size, new.size, proof, state.root_hash, new.root_hash)
    except ProofError as e:
        raise ForkDetected(
            f"FORK: checkpoint of size {new.size} is not consistent with the size "
            f"{state.size} this witness cosigned: {e}"
        ) from e
    return WitnessState(new.origin, new.size, new.root_hash)


def witness_round(
    note: bytes,
    fetch_proof: Callable[[int, int], list[bytes]],
    *,
    log_key: str,
    origin: str,
    state_path: Path,
    key: WitnessKey,
    submit: Callable[[int, str], None],
    now: int | None = None,
    mldsa: bool = False,
) -> tuple[Checkpoint, str]:
    """Run one round; `fetch_proof(size1, size2)` and `submit(size, line)` do the I/O.

    Submits the Ed25519 cosignature line, and with `mldsa` then the ML-DSA-44 one (the
    log must know that key too); returns the lines submitted."""
    checkpoint = open_checkpoint(note, parse_verifier_key(log_key), origin)
    state = WitnessState.load(state_path, origin)
    proof = None
    if 0 < state.size < checkpoint.size:
        proof = fetch_proof(state.size, checkpoint.size)
    new_state = check_advance(state, checkpoint, proof)
    when = now or int(time.time())
    if mldsa:
        if key.mldsa_key is None:
            raise ConfigurationError(f"witness key {key.name} predates ML-DSA-44 and holds none")
        lines = key.cosign(checkpoint, when)
    else:
        lines = [cosign(checkpoint.to_text(), key.private_key, key.name, when)]
    for line in lines:
        submit(checkpoint.size, line)
    new_state.save(state_path)
    return checkpoint, "".join(lines)
