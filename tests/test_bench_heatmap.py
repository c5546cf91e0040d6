"""The heatmap benchmark's own policies and cache keys (the timed run is in the bench smoke test).

The benchmark repeats a heatmap that the real policy allows once a month per caller; it must
do so without weakening that policy: only clones, labelled, in a copy.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bench.heatmap import (
    BENCH_LABEL,
    CALLER,
    PURPOSE,
    bench_policies,
    bench_purposes,
    cache_key,
    heatmap_query,
)
from gateway.protocol.model import Op

POLICIES = Path("policies")


def registry(root: Path, section: str) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(
        (root / "registry" / section / "data.json").read_text()
    )
    return data


def test_the_copy_adds_labelled_clones_and_leaves_the_real_purpose_alone(tmp_path: Path) -> None:
    copy = bench_policies(POLICIES, tmp_path, 3)
    original, cloned = registry(POLICIES, "purposes"), registry(copy, "purposes")
    assert cloned[PURPOSE] == original[PURPOSE]
    assert {k: v for k, v in cloned.items() if k not in bench_purposes(3)} == original
    for name in bench_purposes(3):
        assert cloned[name]["description"] == BENCH_LABEL
        assert {k: v for k, v in cloned[name].items() if k != "description"} == {
            k: v for k, v in original[PURPOSE].items() if k != "description"
        }
    callers = registry(copy, "callers")
    assert callers[CALLER]["purposes"] == [
        *registry(POLICIES, "callers")[CALLER]["purposes"],  # type: ignore[misc]
        *bench_purposes(3),
    ]
    # The Rego is the project's own, byte for byte.
    for rego in POLICIES.rglob("*.rego"):
        assert (copy / rego.relative_to(POLICIES)).read_bytes() == rego.read_bytes()


def test_cache_key_follows_the_parameters() -> None:
    assert cache_key(1_000_000, 1) == cache_key(1_000_000, 1)
    assert cache_key(1_000_000, 1) != cache_key(1_000_000, 2)
    assert cache_key(1_000_000, 1) != cache_key(999_998, 1)


def test_the_query_spans_the_seeded_year_at_resolution_8() -> None:
    q = heatmap_query("basis")
    assert q.purpose == PURPOSE
    assert q.aggregation is not None
    (group,) = q.aggregation.group_by
    assert (group.field, group.h3_resolution) == ("location", 8)
    ge, lt = q.filters
    assert (ge.op, lt.op) == (Op.GE, Op.LT)
    start, end = ge.values[0], lt.values[0]
    assert isinstance(start, dt.datetime)
    assert isinstance(end, dt.datetime)
    assert (end - start).days == 365
