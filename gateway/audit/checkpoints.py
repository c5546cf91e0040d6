"""Signed checkpoints of the audit log, and the log's signing key.

The writer sequences entries in batches (group commit) and extends the Merkle
tree in the same transaction, so every receipt names a leaf index and leaf
hash at once. `Checkpointer` signs a C2SP tlog-checkpoint of the current tree
whenever the log has grown, at most `interval` apart (0.5 s by default, so at
least once a second while entries arrive). Several gateway processes may run
one each: a size is checkpointed once, the first signature wins, and every
process signs the same root for a size, because the tree is append-only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError

from gateway.audit.store import AuditStore, StoredCheckpoint
from gateway.audit.tiles import write_static as write_tiles
from gateway.audit.witnessing import TlogWitness, WitnessSubmitter
from gateway.errors import ConfigurationError
from gateway.protocol.identities import FEDERATION
from gateway.tlog.checkpoint import Checkpoint, sign_checkpoint
from gateway.tlog.note import (
    NoteSigner,
    generate_signer_key,
    parse_signer_key,
    parse_verifier_key,
)

log = structlog.get_logger("gerbang.audit")

ORIGIN = f"{FEDERATION}/gerbang/audit"


@dataclass(frozen=True)
class LogKey:
    """The audit log's Ed25519 note key: the signer (secret) and its verifier key string."""

    signer: NoteSigner
    verifier_key: str

    @classmethod
    def load_or_create(cls, path: Path, origin: str = ORIGIN) -> LogKey:
        """Read `path` (a signer key string, mode 0600) or create it; `path`.pub holds the vkey."""
        pub = path.with_suffix(".pub")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            skey, vkey = generate_signer_key(origin)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(skey + "\n")
            pub.write_text(vkey + "\n")
        signer = parse_signer_key(path.read_text().strip())
        if signer.name != origin:
            raise ConfigurationError(f"log key {path} is for {signer.name!r}, not {origin!r}")
        vkey = pub.read_text().strip() if pub.exists() else ""
        verifier = parse_verifier_key(vkey) if vkey else None
        if verifier is None or verifier.key_id != signer.key_id:
            raise ConfigurationError(f"{pub} is missing or does not match {path}")
        return cls(signer, vkey)


class Checkpointer:
    def __init__(
        self,
        store: AuditStore,
        key: LogKey,
        origin: str = ORIGIN,
        interval: float = 0.5,
        witnesses: Sequence[TlogWitness] = (),
        static_dir: Path | None = None,
    ) -> None:
        self.store = store
        # C2SP tlog-tiles as static files: rewritten after each checkpoint (and its witnesses).
        self.static_dir = static_dir
        self._static_size = 0  # the size last written there by this process
        # C2SP tlog-witness: each new checkpoint goes to every configured witness.
        self.submitter = WitnessSubmitter(store, witnesses) if witnesses else None
        self.key = key
        self.origin = origin
        self.interval = interval
        store.publish("origin", origin)
        store.publish("verifier_key", key.verifier_key)

    def checkpoint_once(self) -> StoredCheckpoint | None:
        """Sign and store a checkpoint of the current tree if it grew; return it.

        First it brings the leaf-hash index up to date (`AuditStore.index_leaves`): one
        sorted batch per interval instead of one index update per append."""
        while self.store.index_leaves():
            pass
        size = self.store.head().size
        latest = self.store.checkpoint()
        if size == 0 or (latest is not None and latest.size >= size):
            return None
        root = self.store.root(size)
        note = sign_checkpoint(Checkpoint(self.origin, size, root), [self.key.signer])
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            if not self.store.add_checkpoint(size, root, note, now):
                return None
        except IntegrityError:
            return None  # another gateway process checkpointed this size first
        return StoredCheckpoint(size, root, note, ())

    def write_static(self) -> None:
        """Publish the latest checkpoint and its tiles under `static_dir`, if configured."""
        if self.static_dir is None:
            return
        written, size = write_tiles(self.store, self.static_dir, since=self._static_size)
        if written:  # every full tile of `size` is there now
            self._static_size = size
            log.debug("tiles written", files=written, size=size, dir=str(self.static_dir))

    def final(self) -> StoredCheckpoint | None:
        """At shutdown: a last checkpoint, written out as tiles; no witness is waited for."""
        made = self.checkpoint_once()
        self.write_static()  # also a checkpoint whose round was cut short; no-op if written
        return made

    async def run(self) -> None:
        while True:
            try:
                made = await asyncio.to_thread(self.checkpoint_once)
                if made is not None:
                    log.debug("checkpoint signed", size=made.size)
                    if self.submitter is not None:
                        await asyncio.to_thread(self.submitter.submit_all, made)
                # After the witnesses, so the static checkpoint carries their cosignatures;
                # every round, so later ones (pull mode) and other workers' checkpoints too.
                if self.static_dir is not None:
                    await asyncio.to_thread(self.write_static)
            except Exception as e:  # keep signing later; the log itself is unaffected
                log.error("checkpoint failed", error=str(e))
            await asyncio.sleep(self.interval)
