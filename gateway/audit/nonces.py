"""The replay cache's store side: nonces of signed requests, claimed once per caller.

A signed request's nonce is claimed in the audit store's database, so every gateway process
sharing it shares the cache and it survives restarts. A claim is `INSERT ... ON CONFLICT DO
NOTHING RETURNING` (SQLite >= 3.35, PostgreSQL), sent in pages of bound rows by the store's
backend: the rows it returns are the new nonces. Expired nonces are pruned in the same
transaction. (One OR-ed lookup per nonce went past SQLite's expression-depth limit at 999
nonces and failed the whole batch.) The pipeline's freshness rules are `gateway.service.replay`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection

from gateway.audit.backend import StoreBackend


class NonceClaim(NamedTuple):
    """A signed request's nonce, kept until the request could no longer be fresh."""

    caller: str
    nonce: str  # hex
    expires_at: dt.datetime


def claim_in(conn: Connection, backend: StoreBackend, items: Sequence[NonceClaim]) -> list[bool]:
    """Claim `items` in the transaction of `conn` (a write transaction): True for each nonce
    not seen before. A nonce repeated within `items` is new only the first time."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    first: dict[tuple[str, str], str] = {}
    for caller, nonce, expires in items:
        if (caller, nonce) not in first:
            first[caller, nonce] = expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    keys = list(first.items())
    new = backend.claim_nonces(conn, keys, now)
    fresh: list[bool] = []
    for caller, nonce, _ in items:
        fresh.append((caller, nonce) in new)
        new.discard((caller, nonce))  # a repeat within the batch is not new
    return fresh
