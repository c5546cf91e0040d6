"""Where a request's time goes inside the gateway, from the gateway's own Prometheus metrics.

The gateway times each query (`gerbang_request_seconds`), its policy decision
(`gerbang_policy_decision_seconds`) and its wait for the durable audit commit
(`gerbang_audit_append_seconds`). Scraping `/metrics` before and after a run
gives the mean of each over the run; what is left of the request's time is
everything else the gateway waits for (the signature and replay check with its
own durable commit, the adapter's round trip, the event loop).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

# Stage name -> metric family (a histogram's _sum and _count, summed over its labels).
FAMILIES: Final = {
    "request": "gerbang_request_seconds",
    "policy": "gerbang_policy_decision_seconds",
    "audit": "gerbang_audit_append_seconds",
}


def scrape(port: int) -> dict[str, float]:
    """`<stage>_sum` and `<stage>_count` for each stage; empty if the metrics cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    wanted = {metric: stage for stage, metric in FAMILIES.items()}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return {}
    for family in families:
        stage = wanted.get(family.name)
        if stage is None:
            continue
        for sample in family.samples:
            for part in ("sum", "count"):
                if sample.name == f"{family.name}_{part}":
                    key = f"{stage}_{part}"
                    out[key] = out.get(key, 0.0) + sample.value
    return out


def mean_ms(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Mean milliseconds per observation of each stage between two scrapes."""
    out = {}
    for stage in FAMILIES:
        count = after.get(f"{stage}_count", 0.0) - before.get(f"{stage}_count", 0.0)
        total = after.get(f"{stage}_sum", 0.0) - before.get(f"{stage}_sum", 0.0)
        if count > 0:
            out[stage] = 1000 * total / count
    if {"request", "policy", "audit"} <= out.keys():
        out["rest"] = out["request"] - out["policy"] - out["audit"]
    return out
