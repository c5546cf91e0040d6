"""Group commit of audit entries: the queue in front of the store's append.

Concurrent requests share one durable transaction: each waits for the commit of the batch it
joined, and nothing proceeds on an uncommitted write (audit before release, docs/adr/0008).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from gateway.audit.nonces import NonceClaim
from gateway.audit.store import AuditStore, AuditWrite
from gateway.errors import AuditIntegrityError, AuditUnavailable
from gateway.protocol.audit_entry import AuditRecord, Entry

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Concurrent callers share one transaction: `submit` waits for the batch's commit.

    `commit` takes a batch of items and returns one result per item, in order, in
    one durable transaction (run in a worker thread). If it fails, every waiter
    in the batch fails with it, so nothing proceeds on an uncommitted write.
    """

    def __init__(
        self, commit: Callable[[list[T]], Sequence[R]], name: str, max_batch: int = 1024
    ) -> None:
        self._commit = commit
        self._name = name
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(AuditUnavailable(f"{self._name} stopped before commit"))
        self._pending.clear()

    async def submit(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wakeup.set()
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await asyncio.to_thread(self._commit, [item for item, _ in batch])
                except Exception as e:
                    # Evidence of tampering stays what it is; any other failure (a full disk,
                    # a lost connection, a failed commit) is an outage, not tampering.
                    failure: Exception = (
                        e
                        if isinstance(e, AuditIntegrityError)
                        else AuditUnavailable(f"{self._name} failed: {type(e).__name__}: {e}")
                    )
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(failure)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)


class AuditWriter(GroupCommit[AuditWrite, tuple[Entry, bool]]):
    """Group commit of audit entries: `append` returns once the entry is durable."""

    def __init__(self, store: AuditStore, max_batch: int = 1024) -> None:
        super().__init__(store.append_claimed, "audit writer", max_batch)

    async def append(self, record: AuditRecord) -> Entry:
        entry, _ = await self.submit(AuditWrite(record))
        return entry

    async def append_claimed(
        self, record: AuditRecord, nonce: NonceClaim | None, replayed: AuditRecord | None
    ) -> tuple[Entry, bool]:
        """Append `record` and claim `nonce` in one commit; False if the nonce was used (then
        `replayed` is what the log holds)."""
        return await self.submit(AuditWrite(record, nonce, replayed))
