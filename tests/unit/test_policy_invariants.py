"""What any allowed decision must respect, restated in Python and checked over the corpus.

Parity shows the two engines agree; this shows what they agree on is right. For every
corpus input the policy allows, an independent reading of docs/policy.md's rules (written
from the registry, not from the Rego) must find nothing wrong.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any, cast

import pytest

from gateway.policy import load_bundle
from gateway.policy.wasm import WasmEngine
from tools.policy_corpus import parity_corpus

POLICIES = Path(__file__).resolve().parents[2] / "policies"
REGISTRY = cast(dict[str, Any], load_bundle(POLICIES).data["registry"])
DAY = 86400
# Spans are unions of whole local weeks (ADR 0032): wherever weeks are.
TIME_BUCKETS = {
    "none": {"none", "hour_of_day", "day_of_week", "day", "week", "spans", "month"},
    "hour": {"hour_of_day", "day_of_week", "day", "week", "spans", "month"},
    "day": {"day_of_week", "day", "week", "spans", "month"},
    "week": {"week", "spans", "month"},
    "month": {"month"},
}
TYPES = {
    "string": lambda v: isinstance(v, str),
    "time": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v == int(v),
    "coordinate": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def spans_violations(g: dict[str, Any], filters: list[dict[str, Any]]) -> list[str]:
    """ADR 0032: 2 to 64 boundaries, each a Monday 00:00 WIB, strictly increasing, the first and
    last the window that the request's only bounds on the field (ge and lt) put on it."""
    b = g["boundaries"]
    if not 2 <= len(b) <= 64:
        return ["spans with too few or too many boundaries"]
    out = []
    monday = dt.datetime(2026, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=7))).timestamp()
    if any((t - monday) % (7 * DAY) != 0 for t in b):
        out.append("a span boundary off the local week starts")
    if any(x >= y for x, y in itertools.pairwise(b)):
        out.append("span boundaries not strictly increasing")
    bounds = [
        f for f in filters if f["field"] == g["field"] and f["op"] in ("ge", "gt", "lt", "le")
    ]
    lower = [f["values"][0] for f in bounds if f["op"] == "ge"]
    upper = [f["values"][0] for f in bounds if f["op"] == "lt"]
    if (
        any(f["op"] in ("gt", "le") for f in bounds)
        or not lower
        or not upper
        or (max(lower), min(upper)) != (b[0], b[-1])
    ):
        out.append("spans not exactly the window")
    return out


def violations(doc: dict[str, Any], obligations: dict[str, Any]) -> list[str]:
    """Everything an allowed decision for `doc` should not have let through."""
    out: list[str] = []
    req = doc["request"]
    caller = REGISTRY["callers"].get(doc["caller"]["id"])
    purpose = REGISTRY["purposes"].get(req["purpose"])
    dataset = REGISTRY["datasets"].get(req["dataset"])
    if caller is None or purpose is None or dataset is None:
        return ["allowed an unknown caller, purpose or dataset"]
    grant = purpose["datasets"].get(req["dataset"])
    if grant is None or req["purpose"] not in caller["purposes"]:
        return ["allowed a purpose the caller or dataset does not have"]
    if req["legal_basis"] != purpose["legal_basis"]:
        out.append("legal basis differs")
    granted, fields = set(grant["fields"]), dataset["fields"]
    agg = req["aggregation"]
    groups = agg["group_by"] if agg is not None else []
    group_fields = {g["field"] for g in groups}
    for f in req["fields"]:
        if (f not in group_fields) if agg is not None else (f not in granted):
            out.append(f"returns {f}")
    for flt in req["filters"]:
        spec = fields.get(flt["field"])
        if flt["field"] not in granted or spec is None:
            out.append(f"filters on {flt['field']}")
        elif not all(TYPES[spec["type"]](v) for v in flt["values"]):
            out.append(f"filter on {flt['field']} with mistyped values")
        outside = set(flt["values"]) - set(caller["jurisdiction"]["kota"])
        scoped = dataset["jurisdiction_scoped"]
        if scoped and flt["field"] == "kota" and flt["op"] in ("eq", "in") and outside:
            out.append("kota outside jurisdiction")
    h3_max = purpose["generalisation"]["h3_max_resolution"]
    for g in groups:
        if g["field"] == "location":
            if g["bucket"] != "h3" or h3_max is None or g["h3_resolution"] > h3_max:
                out.append("location cell too fine")
            if not {"lat", "lon"} <= granted:
                out.append("location without coordinates granted")
            continue
        spec = fields.get(g["field"])
        if spec is None or g["field"] not in granted:
            out.append(f"groups by {g['field']}")
        elif spec["class"] == "direct_identifier" or spec["type"] == "coordinate":
            out.append(f"groups by identifying {g['field']}")
        elif spec["type"] == "time":
            if g["bucket"] not in TIME_BUCKETS[purpose["generalisation"]["time"]]:
                out.append(f"time bucket {g['bucket']} too fine")
            if g["bucket"] == "spans":
                out.extend(spans_violations(g, req["filters"]))
        elif g["bucket"] != "none":
            out.append(f"time bucket on {g['field']}")
    personal = any(s["class"] != "non_personal" for s in fields.values())
    if agg is None and purpose["aggregate_only"] and personal:
        out.append("records under an aggregate-only purpose")
    if agg is not None and agg["measure"] not in purpose["measures"]:
        out.append("measure not allowed")
    if agg is not None and agg["measure"] == "exists":
        only = req["filters"]
        if len(only) != 1 or only[0]["op"] != "eq" or only[0]["field"] != purpose["lookup_field"]:
            out.append("exists without exactly one lookup")
    if purpose["case_reference_required"]:
        case = REGISTRY["cases"].get(req["case_reference"])
        now = doc["time"]["now_rfc3339"]
        if case is None or not case["valid_from"] <= now <= case["valid_until"]:
            out.append("no current case")
        elif doc["caller"]["id"] not in case["authorised_callers"]:
            out.append("case not authorised for caller")
        elif obligations["case_binding"] != {
            "reference": req["case_reference"],
            "police_cases": sorted(case["police_cases"]),
        }:
            out.append("no binding to the case (ADR 0013)")
        if personal and req["dataset"] not in (
            "incidents",
            "incident_persons",
            "persons",
            "vehicles",
            "cases",
        ):
            out.append("case-bound purpose reads a dataset that cannot be bound")
    elif obligations["case_binding"] is not None:
        out.append("case binding on a purpose without cases")
    window = purpose["max_window_days"]
    event = dataset["event_time_field"]
    if window is not None and event is not None:
        start = doc["time"]["now"] - window * DAY
        if not any(
            f["field"] == event and f["op"] in ("ge", "gt") and f["values"][0] >= start
            for f in req["filters"]
        ):
            out.append("no time window")
    if req["limit"] > purpose["max_rows"] or obligations["max_rows"] > purpose["max_rows"]:
        out.append("too many rows")
    if (
        dataset["jurisdiction_scoped"]
        and {
            "field": "kota",
            "op": "in",
            "values": sorted(caller["jurisdiction"]["kota"]),
        }
        not in obligations["row_filters"]
    ):
        out.append("no jurisdiction row filter")
    return out


@pytest.mark.slow  # the whole corpus through rego-cpp: over a minute; `make test` runs it
async def test_every_allowed_corpus_input_respects_the_rules() -> None:
    engine = WasmEngine(POLICIES, timeout=10)
    found: dict[str, list[str]] = {}
    allowed = 0
    try:
        for name, doc in parity_corpus():
            document = await engine.evaluate(doc)
            assert isinstance(document, dict)
            if document["allow"]:
                allowed += 1
                wrong = violations(doc, document["obligations"])
                if wrong:
                    found[name] = wrong
    finally:
        await engine.close()
    assert allowed > 100
    if found:
        pytest.fail(
            "allowed but should not be:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())
        )
