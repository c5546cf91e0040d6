"""A run's settings, full and quick (`--quick`, the smoke test's), and how it tells progress."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    seconds: float = 10.0
    warmup: float = 2.0
    concurrencies: tuple[int, ...] = (1, 16, 64)
    connections: int = 8
    ghz_seconds: float = 8.0
    soak_seconds: float = 120.0
    soak_window: float = 30.0
    workers_seconds: float = 10.0
    incidents: int = 100_000
    window_days: int = 14
    component_seconds: float = 3.0
    audit_batches: tuple[int, ...] = (1, 64, 1024)
    verify_entries: int = 50_000
    proof_entries: int = 1_000_000  # inclusion proofs are measured at this log size
    seal_sizes: tuple[int, ...] = (1_000, 100_000, 10_000_000)
    engine: str = ""  # the gateway's policy engine on path B; "" for the gateway's default
    heatmap_incidents: int = 1_000_000  # issue 7: the heatmap end to end (bench/heatmap.py)
    heatmap_runs: int = 9
    agent_requests: int = 200  # issue 14: the agent against the client library, sequential


QUICK = Settings(
    seconds=1.0,
    warmup=0.3,
    ghz_seconds=1.0,
    soak_seconds=4.0,
    soak_window=1.0,
    workers_seconds=1.0,
    incidents=3_000,
    window_days=90,
    component_seconds=0.2,
    audit_batches=(1, 64),
    verify_entries=300,
    proof_entries=600,
    seal_sizes=(1_000,),
    heatmap_incidents=3_000,
    heatmap_runs=2,
    agent_requests=10,
)


def say(text: str) -> None:
    print(text, flush=True)
