"""Each component of the Gerbang path against its own baseline, in this process.

- policy decision latency per engine (Wasm, a real OPA server), each
  against the same engine answering a one-line policy with the same input: the
  difference is the cost of the project's rules (`policy_engines`);
- audit append (AuditStore.append in batches, as the group-commit writer makes
  them) against a plain INSERT of rows of the same size, in the same store, in
  the same batches, one durable transaction each; full-log verification (verify_log
  over store.scan()) against SHA-256 over the same leaf bytes read from the same store;
  inclusion proofs at the log's full size against reading one entry (`audit_log`);
- sealing a result to the caller (HPKE, as the adapters do) against plain AES-GCM on
  the same bytes, and an adapter's seal, attest and sign against its floor (`sealing`).

What one measurement is (`Rate`, `Component`) is here; `timing` times an operation for a
while, and takes the best of alternating rounds.
"""

from __future__ import annotations

from dataclasses import dataclass


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
