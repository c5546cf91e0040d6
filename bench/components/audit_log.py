"""The audit log's components: append against plain INSERTs (SQLite, and PostgreSQL when one is
named), full-log verification against hashing the leaves, inclusion proofs against reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Table, insert, select

from bench.components import Component, Rate
from bench.components.timing import ROUNDS, alternate, timed_batches
from bench.workload import ADAPTER, CALLER, bench_query
from gateway.audit.schema import entries_table
from gateway.audit.store import AuditStore
from gateway.oversight.verify import verify_log
from gateway.protocol.audit_entry import AuditRecord, ResultDigest, describe_query
from gateway.protocol.identities import EXAMPLE_CALLERS, adapter_id


def bench_record(commitment_key: bytes) -> AuditRecord:
    """The audit record the gateway writes for one allowed benchmark query."""
    from bench.workload import legal_basis

    policies = Path("policies")
    query = bench_query(policies)
    adapter = adapter_id(ADAPTER)
    return AuditRecord(
        time=dt.datetime.now(dt.UTC),
        kind="query",
        request_id=uuid.uuid4().hex,
        caller=EXAMPLE_CALLERS[CALLER],
        decision="allow",
        status="OK",
        purpose=query.purpose,
        legal_basis=legal_basis(policies),
        dataset=query.dataset,
        request=describe_query(commitment_key, query),
        fields_granted=query.fields,
        policy_revision=secrets.token_hex(32),
        adapters=(adapter,),
        results=(ResultDigest(adapter, secrets.token_hex(32), 5),),
    )


def _plain_table(metadata: MetaData) -> Table:
    """A table with the audit entries' columns and nothing else: no chain, no head."""
    return Table(
        "bench_plain_entries",
        metadata,
        *(Column(c.name, c.type, primary_key=c.primary_key) for c in entries_table.columns),
    )


def audit_components(
    url: str, batches: tuple[int, ...], seconds: float, store_name: str = "SQLite"
) -> list[Component]:
    """AuditStore.append in batches vs plain INSERTs of the same rows in the same store."""
    store = AuditStore(url)
    store.create()
    key = secrets.token_bytes(32)
    plain = _plain_table(MetaData())
    plain.create(store.engine)
    out = []
    try:
        next_plain = 0
        for batch in batches:
            records = [bench_record(key) for _ in range(batch)]

            def append(_n: int, records: list[AuditRecord] = records) -> None:
                store.append(records)

            append(0)
            # The rows that batch became, every column as stored: the baseline inserts
            # copies of them, so its rows have exactly the same size.
            size = store.head().size
            with store.engine.connect() as conn:
                template = [
                    dict(row._mapping)
                    for row in conn.execute(
                        select(entries_table).where(entries_table.c.idx >= size - batch)
                    )
                ]

            def insert_plain(_n: int, template: list[dict[str, Any]] = template) -> None:
                nonlocal next_plain
                rows = [row | {"idx": next_plain + i} for i, row in enumerate(template)]
                next_plain += len(rows)
                with store.engine.begin() as conn:
                    conn.execute(insert(plain), rows)

            subject, baseline = alternate(
                ROUNDS,
                partial(timed_batches, "AuditStore.append", batch, seconds / ROUNDS, append),
                partial(timed_batches, "plain INSERT", batch, seconds / ROUNDS, insert_plain),
            )
            out.append(
                Component(
                    f"audit append ({store_name}), batches of {batch}",
                    subject,
                    baseline,
                    f"latency is per batch (one durable commit); best of {ROUNDS} "
                    "alternating rounds",
                )
            )
    finally:
        store.close()
    return out


def postgres_audit_components(batches: tuple[int, ...], seconds: float) -> list[Component]:
    """The audit append components on PostgreSQL, when GERBANG_BENCH_PG_URL names a server.

    A fresh database is created for the run and dropped afterwards. Without the
    variable the component is reported as not measured.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("GERBANG_BENCH_PG_URL")
    if not server:
        return [
            Component(
                "audit append (PostgreSQL)",
                None,
                None,
                "not measured: set GERBANG_BENCH_PG_URL to a PostgreSQL server",
            )
        ]
    name = f"gerbang_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        return audit_components(url, batches, seconds, "PostgreSQL")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def grow_log(url: str, size: int, batch: int = 1000) -> int:
    """Append benchmark records until the log holds at least `size` entries; its size."""
    store = AuditStore(url)
    try:
        store.create()
        key = secrets.token_bytes(32)
        head = store.head().size
        while head < size:
            records = [bench_record(key) for _ in range(min(batch, size - head))]
            head = store.append(records)[-1].index + 1
        return head
    finally:
        store.close()


def verify_component(url: str) -> Component:
    """verify_log over the whole store vs SHA-256 of the same leaves read from it."""
    store = AuditStore(url)
    try:
        t0 = time.perf_counter()
        verified = verify_log(store.scan(), store.head())
        subject = Rate("verify_log(store.scan())", verified.size, time.perf_counter() - t0, "entry")
        t0 = time.perf_counter()
        count = size = 0
        with store.engine.connect() as conn:
            rows = conn.execution_options(yield_per=10_000).execute(
                select(entries_table.c.leaf).order_by(entries_table.c.idx)
            )
            for (leaf,) in rows:
                hashlib.sha256(leaf).digest()
                count += 1
                size += len(leaf)
        baseline = Rate("read leaves + SHA-256", count, time.perf_counter() - t0, "entry")
    finally:
        store.close()
    return Component(
        "full-log verification",
        subject,
        baseline,
        f"{verified.size} entries, {size / verified.size:.0f} bytes per leaf on average",
    )


def proof_component(url: str, seconds: float) -> Component:
    """Inclusion proofs at the log's full size (random leaves) vs reading one leaf by index."""
    import random

    store = AuditStore(url)
    try:
        size = store.head().size
        rng = random.Random(7)

        def prove(_n: int) -> None:
            store.inclusion_proof(rng.randrange(size), size)

        def read(_n: int) -> None:
            i = rng.randrange(size)
            store.entries(i, i + 1)

        subject, baseline = alternate(
            ROUNDS,
            lambda: timed_batches("inclusion proof", 1, seconds, prove, "proof"),
            lambda: timed_batches("read one entry", 1, seconds, read, "read"),
        )
    finally:
        store.close()
    return Component(
        f"inclusion proof at {size:,} entries",
        subject,
        baseline,
        "target: under 2 ms per proof (p50); O(log n) stored subtree reads in one SELECT",
    )
