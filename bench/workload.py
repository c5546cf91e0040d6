"""What the benchmark asks, of which city: one seeded police database and one allowed query.

Both paths (A, the bare relay; B, Gerbang) ask the same adapter, over the same
database, the same question: the transport agency (`dishub-atcs`) counting
incidents by kecamatan and hour of day for traffic planning, in one kota over a
short window (`tools/demo.py` asks the same for a month). The window sets how
much work the adapter's SQL does; it is chosen so that the SQL is a realistic
part of a request, not most of it (BENCHMARKS.md says how much).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.client import CallerKeys
from gateway.protocol.evidence import NONCE_BYTES, sign_request
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, Query
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles, peer_certificate_identity
from gerbang.v1 import query_pb2
from tools.city import seed_city
from tools.federation import AdapterSpec

ADAPTER: Final = "bench"  # its certificate is adapter-bench, its SPIFFE ID adapter_id("bench")
CALLER: Final = "dishub-atcs"
PURPOSE: Final = "traffic_planning"
KOTA: Final = "Jakarta Selatan"
SEED: Final = 20261101
INCIDENTS: Final = 100_000
WINDOW_DAYS: Final = 14
# The seeded city ends on 2026-11-01 (tools.city.DEFAULT_END); the window ends there.
WINDOW_END: Final = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Obligations:
    """The purpose's obligations that the relay applies too, so the adapter does the same work."""

    aggregate_only: bool
    max_rows: int
    min_cell_count: int
    epsilon: float | None  # the noise of every release (docs/adr/0009)


@dataclass(frozen=True)
class City:
    """A prepared benchmark directory: the PKI and one seeded, analysed police database."""

    workdir: Path
    pki: Path
    adapter: AdapterSpec
    incidents: int
    seed_seconds: float
    analyse_seconds: float


def legal_basis(policies: Path, purpose: str = PURPOSE) -> str:
    purposes = json.loads((policies / "registry" / "purposes" / "data.json").read_text())
    basis: str = purposes[purpose]["legal_basis"]
    return basis


def obligations(policies: Path, purpose: str = PURPOSE) -> Obligations:
    """The obligations the policy attaches to this purpose, read from the registry."""
    p = json.loads((policies / "registry" / "purposes" / "data.json").read_text())[purpose]
    epsilon = None if p["epsilon"] is None else float(p["epsilon"])
    return Obligations(
        bool(p["aggregate_only"]), int(p["max_rows"]), int(p["min_cell_count"]), epsilon
    )


def bench_query(policies: Path, window_days: int = WINDOW_DAYS) -> Query:
    """Incident counts by kecamatan and hour of day in one kota over the last `window_days`."""
    start = WINDOW_END - dt.timedelta(days=window_days)
    return Query(
        dataset="incidents",
        fields=("kecamatan", "occurred_at"),
        filters=(
            Filter("kota", Op.EQ, (KOTA,)),
            Filter("occurred_at", Op.GE, (start,)),
            Filter("occurred_at", Op.LT, (WINDOW_END,)),
        ),
        aggregation=Aggregation((GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.HOUR_OF_DAY))),
        purpose=PURPOSE,
        legal_basis=legal_basis(policies),
    )


def analyse(path: Path) -> None:
    """Give SQLite's planner statistics, as any database that has served queries has.

    Without them SQLite answers `kota IN (...)` (the policy's jurisdiction filter) by
    the kota index instead of the time index, and the same query costs 20 to 100
    times more on path B than on path A (BENCHMARKS.md, "Findings").
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


def prepare_city(workdir: Path, incidents: int = INCIDENTS, seed: int = SEED) -> City:
    """Create the PKI and seed one police database (all five kota) under `workdir`."""
    pki = workdir / "pki"
    init_pki(pki, adapters=(ADAPTER,))
    db = workdir / f"police-{ADAPTER}.db"
    url = f"sqlite:///{db}"
    summary = seed_city(url, incidents=incidents, seed=seed)
    t0 = time.perf_counter()
    analyse(db)
    return City(
        workdir=workdir,
        pki=pki,
        adapter=AdapterSpec(ADAPTER, url),
        incidents=summary.incidents,
        seed_seconds=summary.elapsed_seconds,
        analyse_seconds=time.perf_counter() - t0,
    )


class SignedRequests:
    """The benchmark query, signed afresh for each call as a caller must (new nonce, time).

    The gateway refuses a nonce it has seen, so no two calls may send the same bytes.
    Both paths receive requests made this way, so the client's work is the same for both.
    """

    def __init__(self, pki: Path, keys_dir: Path, query: Query, identity: str = CALLER) -> None:
        spiffe = peer_certificate_identity(TlsFiles.load(pki, identity).cert)
        self.keys = CallerKeys.load(keys_dir, identity, spiffe)
        self.query = query
        # A message's fields may arrive in several pieces: the query's bytes, then `auth`'s.
        self._template = query.to_proto().SerializeToString()

    def __call__(self) -> bytes:
        auth, _ = sign_request(
            self.keys.identity,
            self.query,
            self.keys.signer,
            self.keys.current_hpke,
            dt.datetime.now(dt.UTC),
            os.urandom(NONCE_BYTES),
        )
        tail = query_pb2.QueryRequest()
        tail.auth.nonce = auth.nonce
        tail.auth.issued_at.FromDatetime(auth.issued_at)
        tail.auth.hpke_public_key = auth.hpke_public_key
        tail.auth.key_id = auth.key_id
        tail.auth.signature = auth.signature
        return self._template + tail.SerializeToString()
