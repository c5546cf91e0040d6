"""The replay cache: a signed request's nonce is accepted once.

The store (the audit database's `request_nonces`) is the authority, shared by every
gateway process and kept across restarts; the claim is written in the same transaction
as the request's audit entry (`AuditStore.append_claimed`), so a request costs one
durable commit, not two. In front of it, this process refuses at once a nonce it has
recently seen or has in flight; a nonce claimed first by another process is found at the
commit, and that request's entry then records the replay instead of its answer.

A nonce is kept until its request could no longer pass the freshness check, then pruned,
so the cache is bounded by the request rate times the freshness window.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from gateway.audit.store import AuditStore, NonceClaim
from gateway.errors import UntrustedInputError

MEMORY: Final = 100_000


class ReplayedRequest(UntrustedInputError):
    """The request's nonce was used before."""


class ReplayGuard:
    def __init__(self, store: AuditStore, memory: int = MEMORY) -> None:
        self._store = store
        self._memory = memory
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._in_flight: set[tuple[str, str]] = set()

    def start(self) -> None:
        """Nothing runs in the background: claims ride on the audit writer's commits."""

    async def stop(self) -> None:
        self._in_flight.clear()

    def reserve(self, claim: NonceClaim) -> None:
        """Hold `claim`'s nonce for this request; raise `ReplayedRequest` if this process
        has seen it or has it in flight. The durable claim is made with the audit entry."""
        key = (claim.caller, claim.nonce)
        if key in self._recent or key in self._in_flight:
            raise ReplayedRequest("replayed request: this nonce was already used")
        self._in_flight.add(key)

    def settle(self, claim: NonceClaim) -> None:
        """The claim's commit is over (made or failed): remember the nonce as used."""
        key = (claim.caller, claim.nonce)
        self._in_flight.discard(key)
        self._recent[key] = None
        while len(self._recent) > self._memory:
            self._recent.popitem(last=False)
