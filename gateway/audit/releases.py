"""The release ledger: privacy accounts charged per data period, and the releases held.

Tables `privacy_accounts` and `privacy_releases` (migration 0005) in the audit store's
database, so every gateway process sharing the store shares them and they survive restarts.
`ReleaseLedger.charge` is one transaction under the store's write lock (SQLite BEGIN IMMEDIATE,
a PostgreSQL advisory lock): it answers "held" for a release already charged in this hold period
(nothing charged again), or checks every account the release is charged to, the caller's and
the purpose's for each data period it reads, and adds the epsilon to all of them, or to none
(docs/adr/0009).

A release is charged once per hold period, even while its first answer is still being made:
concurrent identical requests all reach the adapters, and each adapter keeps the first answer
it made and gives that one to all of them (`adapters.held`), so one charge covers the one
noisy answer anybody sees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Column, Connection, Float, String, Table, insert, select, update

from gateway.audit.store import AuditStore, metadata
from gateway.errors import PolicyDenied
from gateway.protocol.release import BUDGET_SLACK, PrivacyBudget, iter_accounts

__all__ = ["BudgetExhausted", "ReleaseCharge", "ReleaseLedger"]

PURPOSE_ACCOUNT: Final = "*"
_LOCK: Final = 727277

accounts_table = Table(
    "privacy_accounts",
    metadata,
    Column("caller", String(256), primary_key=True),
    Column("purpose", String(128), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("spent", Float(precision=53), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

releases_table = Table(
    "privacy_releases",
    metadata,
    Column("release_id", String(64), primary_key=True),
    Column("purpose", String(128), nullable=False),
    Column("first_caller", String(256), nullable=False),
    Column("epsilon", Float(precision=53), nullable=False),
    Column("held_until", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)


# The held read on SQLite, through the driver: it runs once per request of a held release
# (most requests), and SQLAlchemy's statement building and result processing cost several
# times SQLite's own two primary-key lookups (BENCHMARKS.md, the profile of issue 12). The
# same two SELECTs as `_held` and `_spent`, in one deferred read transaction.
_HELD_SQL: Final = "SELECT held_until FROM privacy_releases WHERE release_id = ?"
_SPENT_SQL: Final = (
    "SELECT caller, purpose, period, spent FROM privacy_accounts "
    "WHERE purpose = ? AND caller IN (?, ?) AND period IN ({})"
)


def _held_sqlite(
    conn: Connection, rid: str, stamp: str, caller: str, purpose: str, periods: Sequence[str]
) -> dict[tuple[str, str, str], float] | None:
    """The spent accounts if the release is held (as `_held`, then `_spent`), else None."""
    driver: Any = conn.connection.driver_connection
    cur = driver.cursor()
    try:
        cur.execute("BEGIN")
        try:
            row = cur.execute(_HELD_SQL, (rid,)).fetchone()
            if row is None or row[0] is None or not str(row[0]) > stamp:
                return None
            marks = ", ".join("?" * len(periods))
            rows = cur.execute(
                _SPENT_SQL.format(marks), (purpose, caller, PURPOSE_ACCOUNT, *periods)
            ).fetchall()
        finally:
            cur.execute("ROLLBACK")
    finally:
        cur.close()
    return {(str(c), str(p), str(d)): float(v) for c, p, d, v in rows}


def _text(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ReleaseCharge:
    """What one release cost, and what its caller has left on the periods it reads."""

    held: bool  # answered from the release already made: nothing charged
    epsilon: float  # charged now (0 when held)
    periods: tuple[str, ...]
    spent: float  # the most the caller has spent on any of those periods, this included
    limit: float  # per caller and period
    remaining: float  # the least left, for the caller or the purpose, on any of them

    @property
    def period_range(self) -> str:
        """ "2026-09..2026-10", or the one period."""
        if not self.periods:
            return ""
        first, last = self.periods[0], self.periods[-1]
        return first if first == last else f"{first}..{last}"


class BudgetExhausted(PolicyDenied):
    """A release would spend more than an account allows. The reason names the account and
    the rule, not the window (a caller's value)."""

    def __init__(self, purpose: str, whose: str, spent: float, limit: float, epsilon: float):
        self.remaining = max(0.0, limit - spent)
        super().__init__(
            [
                f"privacy budget spent: {whose} has spent epsilon {spent:g} of {limit:g} for "
                f"purpose '{purpose}' on a data period this window reads, and this release "
                f"needs {epsilon:g}. The same question again within its hold period gets the "
                "held release"
            ]
        )


class ReleaseLedger:
    """Charges releases to their accounts; remembers which releases are held."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def charge(
        self,
        release: bytes,
        *,
        caller: str,
        purpose: str,
        periods: Sequence[str],
        budget: PrivacyBudget,
        now: dt.datetime,
        held_until: dt.datetime,
    ) -> ReleaseCharge:
        """Held, or charged to every account of every period; raises `BudgetExhausted` and
        charges nothing when any account would go over its limit."""
        rid = release.hex()
        a = accounts_table.c
        stamp = _text(now)
        # Most requests for a release ask for one already made (a dashboard refreshing): a
        # deferred read answers them without the write lock that appends need.
        with self._store.engine.connect() as conn:
            if self._store.dialect == "sqlite":
                found = _held_sqlite(conn, rid, stamp, caller, purpose, periods)
                if found is not None:
                    return self._result(True, 0.0, periods, caller, found, budget)
            elif self._held(conn, rid, stamp):
                spent = self._spent(conn, caller, purpose, periods)
                return self._result(True, 0.0, periods, caller, spent, budget)
        with self._store.write_engine.begin() as conn:
            if self._store.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
            held = self._held(conn, rid, stamp)
            exists = (
                held
                or conn.execute(
                    select(releases_table.c.release_id).where(releases_table.c.release_id == rid)
                ).first()
                is not None
            )
            keys = list(iter_accounts(caller, purpose, periods))
            spent = self._spent(conn, caller, purpose, periods)
            if held:
                return self._result(True, 0.0, periods, caller, spent, budget)
            for key in keys:
                limit = budget.per_purpose if key[0] == PURPOSE_ACCOUNT else budget.per_caller
                if spent.get(key, 0.0) + budget.epsilon > limit + BUDGET_SLACK:
                    whose = "the purpose (all callers)" if key[0] == PURPOSE_ACCOUNT else caller
                    raise BudgetExhausted(
                        purpose, whose, spent.get(key, 0.0), limit, budget.epsilon
                    )
            for key in keys:
                total = spent.get(key, 0.0) + budget.epsilon
                if key in spent:
                    conn.execute(
                        update(accounts_table)
                        .where(a.caller == key[0], a.purpose == key[1], a.period == key[2])
                        .values(spent=total, updated_at=stamp)
                    )
                else:
                    conn.execute(
                        insert(accounts_table).values(
                            caller=key[0],
                            purpose=key[1],
                            period=key[2],
                            spent=total,
                            updated_at=stamp,
                        )
                    )
                spent[key] = total
            values = {
                "purpose": purpose,
                "first_caller": caller,
                "epsilon": budget.epsilon,
                "held_until": _text(held_until),
                "created_at": stamp,
            }
            if not exists:
                conn.execute(insert(releases_table).values(release_id=rid, **values))
            else:
                conn.execute(
                    update(releases_table)
                    .where(releases_table.c.release_id == rid)
                    .values(**values)
                )
        return self._result(False, budget.epsilon, periods, caller, spent, budget)

    @staticmethod
    def _held(conn: Connection, rid: str, stamp: str) -> bool:
        """Whether the release was charged in a hold period that has not ended."""
        until = conn.execute(
            select(releases_table.c.held_until).where(releases_table.c.release_id == rid)
        ).scalar()
        return until is not None and str(until) > stamp

    @staticmethod
    def _spent(
        conn: Connection, caller: str, purpose: str, periods: Sequence[str]
    ) -> dict[tuple[str, str, str], float]:
        a = accounts_table.c
        return {
            (r.caller, r.purpose, r.period): float(r.spent)
            for r in conn.execute(
                select(a.caller, a.purpose, a.period, a.spent).where(
                    a.purpose == purpose,
                    a.caller.in_([caller, PURPOSE_ACCOUNT]),
                    a.period.in_(list(periods)),
                )
            )
        }

    def remaining(self, caller: str, purpose: str, period: str, budget: PrivacyBudget) -> float:
        """The epsilon `caller` has left on one data period: the smaller of what its own
        account and the purpose's allow."""
        a = accounts_table.c
        with self._store.engine.connect() as conn:
            spent = {
                r.caller: float(r.spent)
                for r in conn.execute(
                    select(a.caller, a.spent).where(
                        a.purpose == purpose,
                        a.period == period,
                        a.caller.in_([caller, PURPOSE_ACCOUNT]),
                    )
                )
            }
        return max(
            0.0,
            min(
                budget.per_caller - spent.get(caller, 0.0),
                budget.per_purpose - spent.get(PURPOSE_ACCOUNT, 0.0),
            ),
        )

    @staticmethod
    def _result(
        held: bool,
        epsilon: float,
        periods: Sequence[str],
        caller: str,
        spent: dict[tuple[str, str, str], float],
        budget: PrivacyBudget,
    ) -> ReleaseCharge:
        mine = [v for (c, _, _), v in spent.items() if c == caller]
        theirs = [v for (c, _, _), v in spent.items() if c == PURPOSE_ACCOUNT]
        left = [budget.per_caller - v for v in mine] + [budget.per_purpose - v for v in theirs]
        return ReleaseCharge(
            held,
            epsilon,
            tuple(periods),
            max(mine, default=0.0),
            budget.per_caller,
            max(0.0, min(left, default=budget.per_caller)),
        )
