"""What an adapter checks before it runs a plan, and what it remembers afterwards.

Steps (the adapter answers only plans the gateway signed, for itself, in time, once):
1. the gateway's registered plan key signed these exact plan bytes;
2. the plan parses and is addressed to this adapter;
3. the plan is in its lifetime by this adapter's clock: not expired, and not issued in the
   future (a plan lives PLAN_LIFETIME from when the gateway signed it, so `expires_at`
   also says when that was); outside it, the message names the clock skew to fix;
4. the plan was not seen before (its ID is remembered until it expires, in a
   small SQLite file that survives restarts).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from adapters.sql import PlanRefused
from gateway.protocol.evidence import SignedBlob, open_plan
from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.keys import RegistryFile
from gateway.protocol.model import InvalidQuery, QueryPlan
from gateway.protocol.planning import PLAN_LIFETIME

# How far the gateway's clock may run ahead of this adapter's before its plans are refused.
CLOCK_TOLERANCE = dt.timedelta(seconds=5)


class SeenPlans:
    """Plan IDs already run, until they expire: bounded by the plan rate times their lifetime."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen_plans (plan_id TEXT PRIMARY KEY, expires_at REAL)"
        )
        self._lock = threading.Lock()

    def claim(self, plan_id: str, expires_at: dt.datetime, now: dt.datetime) -> None:
        with self._lock:
            self._db.execute("DELETE FROM seen_plans WHERE expires_at < ?", (now.timestamp(),))
            try:
                self._db.execute(
                    "INSERT INTO seen_plans VALUES (?, ?)", (plan_id, expires_at.timestamp())
                )
            except sqlite3.IntegrityError:
                raise PlanRefused(f"plan {plan_id} was already run (replayed)") from None

    def close(self) -> None:
        self._db.close()


def admit(
    signed: SignedBlob,
    adapter_id: str,
    keys: RegistryFile,
    seen: SeenPlans,
    now: dt.datetime,
) -> QueryPlan:
    """Run the four checks; return the plan to execute, or raise `PlanRefused`."""
    if not signed.signature:
        raise PlanRefused("plan is not signed")
    try:
        proto = open_plan(signed, keys.get(), GATEWAY_ID, now)
    except InvalidQuery:
        raise
    except Exception as e:
        raise PlanRefused(f"plan signature refused: {e}") from e
    plan = QueryPlan.from_proto(proto)
    if plan.adapter_id != adapter_id:
        raise PlanRefused(f"plan is addressed to {plan.adapter_id}, not to this adapter")
    _check_lifetime(plan, now)
    seen.claim(plan.plan_id, plan.expires_at, now)
    return plan


def _check_lifetime(plan: QueryPlan, now: dt.datetime) -> None:
    """Refuse a plan outside its lifetime, naming the clock skew that explains it."""
    issued = plan.expires_at - PLAN_LIFETIME
    if plan.expires_at <= now:
        behind = (now - issued).total_seconds()
        raise PlanRefused(
            f"plan expired at {plan.expires_at.isoformat()}: it was signed {behind:.0f} s "
            f"ago by this adapter's clock (a plan lives {PLAN_LIFETIME.total_seconds():.0f} s); "
            "if the gateway's clock is behind this adapter's, synchronise them (NTP)"
        )
    if issued > now + CLOCK_TOLERANCE:
        ahead = (issued - now).total_seconds()
        raise PlanRefused(
            f"plan signed {ahead:.0f} s in the future by this adapter's clock: the gateway's "
            f"clock is ahead of this adapter's by more than {CLOCK_TOLERANCE.total_seconds():.0f}"
            " s; synchronise them (NTP)"
        )
