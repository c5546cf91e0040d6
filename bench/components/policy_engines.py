"""Policy decision latency per engine, against the same engine answering one constant rule."""

from __future__ import annotations

import datetime as dt
import shutil
from functools import partial
from pathlib import Path
from typing import Any, Final

from bench.components import Component, Rate
from bench.components.timing import ROUNDS, best, time_async
from bench.workload import CALLER, bench_query
from gateway.protocol.identities import EXAMPLE_CALLERS
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
                    await time_async(
                        label, "decision", partial(engine.decide, doc), seconds / ROUNDS
                    )
                )
    finally:
        for engine in engines:
            await engine.close()
    return Component(
        f"policy decision, {engine_name} engine",
        best(rates[0]),
        best(rates[1]),
        f"best of {ROUNDS} alternating rounds",
    )
