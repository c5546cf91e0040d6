"""Each component of the Gerbang path against its own baseline, in this process.

- policy decision latency per engine (embedded regopy, a real OPA server), each
  against the same engine answering a one-line policy with the same input: the
  difference is the cost of the project's rules;
- audit append (AuditStore.append in batches, as the group-commit writer makes
  them) against a plain INSERT of rows of the same size, in the same store, in
  the same batches, one durable transaction each;
- full-log verification (verify_log over store.scan()) against SHA-256 over the
  same leaf bytes read from the same store;
- sealing a result to the caller (HPKE, as the adapters do) against plain
  AES-GCM on the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, MetaData, Table, insert, select

from bench.load import percentiles_ms
from bench.workload import ADAPTER, CALLER, bench_query
from gateway.audit.store import AuditStore, entries_table
from gateway.oversight.verify import verify_log
from gateway.protocol.audit_entry import AuditRecord, ResultDigest, describe_query
from gateway.protocol.identities import EXAMPLE_CALLERS, adapter_id
from gateway.protocol.planning import policy_input

# The engines' baseline: the same decision document for every input, no rules to evaluate.
# `allow` reads the input: rego-cpp's bundle entrypoint answers a wholly constant rule with
# output that is not JSON (regopy 1.5.2), which the engine rightly takes as a denial.
TRIVIAL_POLICY: Final = """package gerbang.authz

decision := {
\t"allow": is_object(input),
\t"reasons": [],
\t"obligations": {
\t\t"fields": ["kecamatan", "occurred_at"],
\t\t"row_filters": [],
\t\t"aggregate_only": true,
\t\t"min_cell_count": 10,
\t\t"max_rows": 5000,
\t\t"epsilon": null,
\t\t"generalisation": {"place": "kecamatan", "time": "hour", "h3_max_resolution": null},
\t\t"pseudonymised_fields": [],
\t\t"retention_days": 30,
\t\t"max_window_days": null,
\t\t"case_binding": null,
\t},
}
"""


@dataclass(frozen=True)
class Rate:
    """Operations per second, and per-operation latency where one operation is timed alone."""

    what: str
    ops: int
    seconds: float
    unit: str  # what one operation is: "decision", "entry", "byte"...
    p50_us: float | None = None
    p99_us: float | None = None

    @property
    def per_second(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Component:
    """One component and its baseline; `subject` is None where the component is missing."""

    name: str
    subject: Rate | None
    baseline: Rate | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Subject throughput over baseline throughput (1.0: no cost over the baseline)."""
        if self.subject is None or self.baseline is None or self.baseline.per_second == 0:
            return None
        return self.subject.per_second / self.baseline.per_second


# --- policy ------------------------------------------------------------------------------


async def _time_async(
    what: str, unit: str, op: Callable[[], Awaitable[object]], seconds: float
) -> Rate:
    for _ in range(20):  # warm caches and connection pools
        await op()
    latencies: list[float] = []
    start = time.perf_counter()
    end = start + seconds
    while True:
        t0 = time.perf_counter()
        await op()
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 >= end:
            break
    p50, p99, _ = percentiles_ms(latencies)
    return Rate(what, len(latencies), time.perf_counter() - start, unit, p50 * 1000, p99 * 1000)


def trivial_policies(policies: Path, directory: Path) -> Path:
    """The project's bundle with its rules replaced by one constant decision (the baseline).

    The registry is kept: loading a bundle validates it, and both bundles then carry the
    same data into the engine.
    """
    shutil.copytree(policies / "registry", directory / "registry", dirs_exist_ok=True)
    rego = directory / "gerbang"
    rego.mkdir(parents=True, exist_ok=True)
    (rego / "authz.rego").write_text(TRIVIAL_POLICY)
    return directory


async def policy_component(
    engine_name: str,
    policies: Path,
    baseline_policies: Path,
    seconds: float,
    *,
    opa_url: str | None = None,
    baseline_opa_url: str | None = None,
    opa_tls: Path | None = None,
    baseline_opa_tls: Path | None = None,
) -> Component:
    """Sequential decisions on the benchmark's input: the project's rules vs a constant."""
    from gateway.policy import engine_from_config

    query = bench_query(policies)
    doc: dict[str, Any] = policy_input(EXAMPLE_CALLERS[CALLER], query, dt.datetime.now(dt.UTC))
    engines = []
    try:
        for label, directory, url, tls in (
            ("project policies", policies, opa_url, opa_tls),
            ("one constant rule", baseline_policies, baseline_opa_url, baseline_opa_tls),
        ):
            engine = engine_from_config(engine_name, directory, opa_url=url, opa_tls=tls)
            engines.append(engine)
            decision = await engine.decide(doc)
            if not decision.allow:
                raise RuntimeError(
                    f"{engine_name} engine denied the benchmark query ({label}): "
                    f"{'; '.join(decision.reasons)}"
                )
        rates: list[list[Rate]] = [[], []]
        for _ in range(ROUNDS):
            for i, (label, engine) in enumerate(
                zip(("project policies", "one constant rule"), engines, strict=True)
            ):
                rates[i].append(
                    await _time_async(
                        label, "decision", partial(engine.decide, doc), seconds / ROUNDS
                    )
                )
    finally:
        for engine in engines:
            await engine.close()
    return Component(
        f"policy decision, {engine_name} engine",
        _best(rates[0]),
        _best(rates[1]),
        f"best of {ROUNDS} alternating rounds",
    )


# --- audit log ---------------------------------------------------------------------------


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


def _timed_batches(
    what: str, batch: int, seconds: float, op: Callable[[int], None], unit: str = "entry"
) -> Rate:
    latencies: list[float] = []
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while True:
        t0 = time.perf_counter()
        op(n)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        n += 1
        if t1 >= end:
            break
    p50, p99, _ = percentiles_ms(latencies)
    return Rate(what, n * batch, time.perf_counter() - start, unit, p50 * 1000, p99 * 1000)


ROUNDS: Final = 3


def _best(rates: list[Rate]) -> Rate:
    """The round with the highest rate: on a shared machine, noise only ever slows a round."""
    return max(rates, key=lambda r: r.per_second)


def _alternate(
    rounds: int, subject: Callable[[], Rate], baseline: Callable[[], Rate]
) -> tuple[Rate, Rate]:
    """Measure subject and baseline in alternating rounds; the best round of each."""
    subjects, baselines = [], []
    for _ in range(rounds):
        subjects.append(subject())
        baselines.append(baseline())
    return _best(subjects), _best(baselines)


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

            subject, baseline = _alternate(
                ROUNDS,
                partial(_timed_batches, "AuditStore.append", batch, seconds / ROUNDS, append),
                partial(_timed_batches, "plain INSERT", batch, seconds / ROUNDS, insert_plain),
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


# --- sealing -----------------------------------------------------------------------------


def sealing_component(payload: bytes, seconds: float) -> Component:
    """HPKE sealing of a result to the caller (as adapters do) vs plain AES-256-GCM.

    Both over the same bytes: the benchmark's result payload. Sealing adds an X25519
    key agreement and HKDF per result to the AEAD both share (RFC 9180 base mode).
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from gateway.protocol.evidence import seal_result

    recipient = X25519PrivateKey.generate().public_key()
    plan_hash = hashlib.sha256(b"benchmark plan").digest()
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)

    def seal(_n: int) -> None:
        seal_result(payload, recipient, plan_hash)

    def encrypt(_n: int) -> None:
        aead.encrypt(nonce, payload, None)

    subject = _timed_batches("seal_result (HPKE)", 1, seconds, seal, unit="payload")
    baseline = _timed_batches("AES-256-GCM", 1, seconds, encrypt, unit="payload")
    return Component(
        "sealing a result", subject, baseline, f"over the {len(payload)}-byte benchmark payload"
    )


def seal_and_sign_components(sizes: tuple[int, ...], seconds: float) -> list[Component]:
    """An adapter's result work vs its floor, per result size (issue 6's target).

    Subject, as `adapters/server.py` does it: HPKE-seal the result to the caller
    (bound to the plan hash), hash the ciphertext, build the attestation, sign it.
    Floor, over the same bytes: one X25519 key agreement, one Ed25519 signature
    (of an attestation-sized message), one AES-256-GCM pass and one SHA-256 pass.
    The target is cost <= 1.3 x floor, i.e. rate / baseline >= 0.77.
    """
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from gateway.protocol.evidence import attestation, seal_result

    caller = X25519PrivateKey.generate()
    signer = Ed25519PrivateKey.generate()
    plan_hash = hashlib.sha256(b"benchmark plan").digest()
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    now = dt.datetime.now(dt.UTC)
    out = []
    for size in sizes:
        payload = os.urandom(size)
        sample = attestation("spiffe://bench/adapter", plan_hash, payload, 1, now)

        def result(_n: int, payload: bytes = payload) -> None:
            sealed = seal_result(payload, caller.public_key(), plan_hash)
            signer.sign(attestation("spiffe://bench/adapter", plan_hash, sealed, 1, now))

        def floor(_n: int, payload: bytes = payload, sample: bytes = sample) -> None:
            X25519PrivateKey.generate().exchange(caller.public_key())
            signer.sign(sample)
            aead.encrypt(nonce, payload, None)
            hashlib.sha256(payload).digest()

        def measured(op: Callable[[int], None] = result) -> Rate:
            return _timed_batches("seal + attest + sign", 1, seconds, op, "result")

        def floored(op: Callable[[int], None] = floor) -> Rate:
            return _timed_batches("X25519 + Ed25519 + AES-GCM + SHA-256", 1, seconds, op, "result")

        subject, baseline = _alternate(ROUNDS, measured, floored)
        out.append(
            Component(
                f"sealing and signing a {size:,}-byte result",
                subject,
                baseline,
                f"target: within 1.3 x the floor (ratio >= 0.77); best of {ROUNDS} rounds",
            )
        )
    return out


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

        subject, baseline = _alternate(
            ROUNDS,
            lambda: _timed_batches("inclusion proof", 1, seconds, prove, "proof"),
            lambda: _timed_batches("read one entry", 1, seconds, read, "read"),
        )
    finally:
        store.close()
    return Component(
        f"inclusion proof at {size:,} entries",
        subject,
        baseline,
        "target: under 2 ms per proof (p50); O(log n) stored subtree reads in one SELECT",
    )


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
