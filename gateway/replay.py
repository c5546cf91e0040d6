"""The replay cache: a signed request's nonce is accepted once.

A bounded in-memory front answers repeats cheaply; the store behind it (the
audit database's `request_nonces`) is the authority, shared by every gateway
process and kept across restarts. A nonce is kept until its request could no
longer pass the freshness check, then pruned, so the cache is bounded by the
request rate times the freshness window.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Final

from gateway.audit.store import AuditStore, GroupCommit
from gateway.errors import UntrustedInputError
from gateway.evidence import FRESHNESS

MEMORY: Final = 100_000


class ReplayedRequest(UntrustedInputError):
    """The request's nonce was used before."""


class ReplayGuard:
    def __init__(self, store: AuditStore, memory: int = MEMORY) -> None:
        self._memory = memory
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._commit: GroupCommit[tuple[str, str, dt.datetime], bool] = GroupCommit(
            store.claim_nonces, "replay cache"
        )

    def start(self) -> None:
        self._commit.start()

    async def stop(self) -> None:
        await self._commit.stop()

    async def claim(self, caller: str, nonce: bytes, issued_at: dt.datetime) -> None:
        """Accept `nonce` once per caller; raise `ReplayedRequest` on any repeat."""
        key = (caller, nonce.hex())
        if key in self._recent:
            raise ReplayedRequest("replayed request: this nonce was already used")
        # Kept past the last moment the request could still be fresh.
        fresh = await self._commit.submit((caller, key[1], issued_at + 2 * FRESHNESS))
        if not fresh:
            raise ReplayedRequest("replayed request: this nonce was already used")
        self._recent[key] = None
        while len(self._recent) > self._memory:
            self._recent.popitem(last=False)
