"""Internal, unstable: the parity corpus, input documents both engines must decide alike.

`parity_corpus()` returns named input documents, deterministically (a fixed seed): for every
purpose requests it allows, then the same requests broken one way at a time (unknown
caller, wrong legal basis, ungranted field, malformed filter, wrong types, missing keys,
limits and clock at and beyond their bounds, expired cases, awkward strings, ...), then
random combinations of those breakages. tests/test_policy_parity.py runs every document
through both engines; the latency measurement reuses the allowed ones.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import random
from collections.abc import Callable, Iterator
from typing import Any, Final

from gateway.protocol.planning import grid_units

__all__ = ["NOW", "parity_corpus", "purpose_bases"]

NOW: Final = 1764396000  # 2026-11-29T06:00:00Z
NOW_RFC3339: Final = "2026-11-29T06:00:00Z"
DAY: Final = 86400
MIDNIGHT: Final = NOW - 46800  # 00:00 WIB on NOW's local day
FEDERATION: Final = "spiffe://gerbang.jakarta.go.id/"
CASE: Final = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
EXPIRED_CASE: Final = "LP/B/0456/III/2025/SPKT/POLDA METRO JAYA"
FUTURE_CASE: Final = "LP/B/2001/XII/2026/SPKT/POLDA METRO JAYA"
SEED: Final = 20261129

BASIS: Final = {
    "traffic_planning": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 22/2009",
    "spatial_planning": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 26/2007",
    "disaster_response": "UU 27/2022 Pasal 20 ayat (2) huruf d; UU 24/2007",
    "public_order_early_warning": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 23/2014",
    "stolen_vehicle_check": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 2/2002",
    "criminal_investigation": "UU 27/2022 Pasal 20 ayat (2) huruf c; UU 2/2002",
    "oversight_statistics": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 2/2002; UU 23/2014",
    "patrol_planning": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 2/2002",
    "security_indicators": "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 23/2014",
}

CALLERS: Final = (
    "dishub/atcs",
    "dishub/parking",
    "citata/spatial",
    "bpbd/pusdalops",
    "jsc/command-centre",
    "pemkot-jaksel/command-centre",
    "polda-metro-jaya/reskrim",
    "dprd/komisi-a",
    "kompolnas/oversight",
    "polda-metro-jaya/samapta",
)

Doc = dict[str, Any]


def _doc(caller: str, request: Doc) -> Doc:
    full: Doc = {
        "dataset": "incidents",
        "fields": [],
        "filters": [],
        "aggregation": None,
        "purpose": "",
        "legal_basis": "",
        "case_reference": "",
        "limit": 0,
    }
    full.update(request)
    full["legal_basis"] = request.get("legal_basis", BASIS.get(str(full["purpose"]), ""))
    return {
        "time": {"now": NOW, "now_rfc3339": NOW_RFC3339},
        "caller": {"id": FEDERATION + caller},
        # The signed request names its end user (rule requires_user); mutations drop it.
        "user_committed": True,
        "request": full,
    }


def _f(field: str, op: str, *values: object) -> Doc:
    return {"field": field, "op": op, "values": list(values)}


def _t(field: str, op: str, t: int) -> Doc:
    """A time filter as the gateway sends it: with the grids its value falls on."""
    aligned = grid_units([dt.datetime.fromtimestamp(t, dt.UTC)])
    return {"field": field, "op": op, "values": [t], "aligned": aligned}


def _between(lower: int, upper: int, field: str = "occurred_at") -> list[Doc]:
    return [_t(field, "ge", lower), _t(field, "lt", upper)]


def _month(year: int, month: int) -> int:
    """00:00 WIB on the first of a month, in epoch seconds."""
    return int(dt.datetime(year, month, 1, tzinfo=dt.timezone(dt.timedelta(hours=7))).timestamp())


def _g(field: str, bucket: str = "none", h3: int | None = None) -> Doc:
    group: Doc = {"field": field, "bucket": bucket}
    if h3 is not None:
        group["h3_resolution"] = h3
    return group


def _count(*groups: Doc) -> Doc:
    return {"group_by": list(groups), "measure": "count"}


def purpose_bases() -> dict[str, Doc]:
    """Named input documents each purpose allows."""
    recent = _t("occurred_at", "ge", NOW - 2 * DAY)
    year = _between(_month(2024, 11), _month(2025, 11))
    return {
        "traffic/hourly": _doc(
            "dishub/atcs",
            {
                "fields": ["kecamatan", "occurred_at"],
                "filters": [
                    _f("kota", "eq", "Jakarta Selatan"),
                    *_between(_month(2025, 11), MIDNIGHT),
                ],
                "aggregation": _count(_g("kecamatan"), _g("occurred_at", "hour_of_day")),
                "purpose": "traffic_planning",
            },
        ),
        "traffic/weekday-by-category": _doc(
            "dishub/atcs",
            {
                "fields": ["category", "occurred_at"],
                "filters": _between(_month(2025, 8), _month(2025, 11)),
                "aggregation": _count(_g("category"), _g("occurred_at", "day_of_week")),
                "purpose": "traffic_planning",
                "limit": 500,
            },
        ),
        "traffic/areas": _doc(
            "dishub/atcs",
            {
                "dataset": "areas",
                "fields": ["kecamatan", "population"],
                "purpose": "traffic_planning",
            },
        ),
        "spatial/heatmap": _doc(
            "citata/spatial",
            {
                "fields": ["location", "occurred_at"],
                "filters": _between(_month(2025, 5), _month(2025, 11)),
                "aggregation": _count(_g("location", "h3", 8), _g("occurred_at", "month")),
                "purpose": "spatial_planning",
                "operation": "heatmap",
            },
        ),
        "spatial/coarse-by-category": _doc(
            "citata/spatial",
            {
                "fields": ["category", "location"],
                "filters": [
                    _f("category", "in", "theft", "robbery"),
                    *_between(_month(2025, 10), _month(2025, 11)),
                ],
                "aggregation": _count(_g("location", "h3", 5), _g("category")),
                "purpose": "spatial_planning",
            },
        ),
        "disaster/nearby": _doc(
            "bpbd/pusdalops",
            {
                "fields": ["category", "location"],
                "filters": _between(NOW - 2 * DAY, NOW),
                "aggregation": _count(_g("category"), _g("location", "h3", 9)),
                "purpose": "disaster_response",
            },
        ),
        "disaster/by-kelurahan": _doc(
            "bpbd/pusdalops",
            {
                "fields": ["kelurahan", "status"],
                "filters": _between(NOW - 7 * DAY, NOW),
                "aggregation": _count(_g("kelurahan"), _g("status")),
                "purpose": "disaster_response",
            },
        ),
        "public-order/city": _doc(
            "jsc/command-centre",
            {
                "fields": ["category", "kecamatan", "occurred_at"],
                "filters": _between(MIDNIGHT - 59 * DAY, MIDNIGHT),
                "aggregation": _count(_g("kecamatan"), _g("occurred_at", "day"), _g("category")),
                "purpose": "public_order_early_warning",
                "operation": "early_warning",
            },
        ),
        "public-order/jaksel": _doc(
            "pemkot-jaksel/command-centre",
            {
                "fields": ["kecamatan", "occurred_at"],
                "filters": [
                    _f("kecamatan", "in", "Tebet", "Setiabudi"),
                    *_between(MIDNIGHT - 120 * DAY, MIDNIGHT),
                ],
                "aggregation": _count(_g("kecamatan"), _g("occurred_at", "week")),
                "purpose": "public_order_early_warning",
            },
        ),
        "stolen-vehicle/plate": _doc(
            "dishub/parking",
            {
                "dataset": "vehicles",
                "filters": [_f("plate", "eq", "B 1234 XYZ")],
                "aggregation": {"group_by": [], "measure": "exists"},
                "purpose": "stolen_vehicle_check",
            },
        ),
        "investigation/person": _doc(
            "polda-metro-jaya/reskrim",
            {
                "dataset": "persons",
                "fields": ["person_id", "nik", "name", "address"],
                "filters": [_f("nik", "eq", "3174011234560001")],
                "purpose": "criminal_investigation",
                "case_reference": CASE,
                "limit": 10,
            },
        ),
        "investigation/incidents": _doc(
            "polda-metro-jaya/reskrim",
            {
                "fields": ["incident_id", "occurred_at", "kecamatan", "modus_operandi"],
                "filters": [_f("category", "eq", "motor_vehicle_theft"), recent],
                "purpose": "criminal_investigation",
                "case_reference": CASE,
                "limit": 1000,
            },
        ),
        "investigation/vehicles": _doc(
            "polda-metro-jaya/reskrim",
            {
                "dataset": "vehicles",
                "fields": ["plate", "owner_person_id", "stolen"],
                "filters": [_f("stolen", "eq", True)],
                "purpose": "criminal_investigation",
                "case_reference": CASE,
            },
        ),
        "investigation/counts": _doc(
            "polda-metro-jaya/reskrim",
            {
                "dataset": "incident_persons",
                "fields": ["role"],
                "aggregation": _count(_g("role")),
                "purpose": "criminal_investigation",
                "case_reference": CASE,
            },
        ),
        "oversight/monthly": _doc(
            "dprd/komisi-a",
            {
                "fields": ["category", "kota", "occurred_at", "status"],
                "filters": year,
                "aggregation": _count(
                    _g("kota"), _g("occurred_at", "month"), _g("category"), _g("status")
                ),
                "purpose": "oversight_statistics",
            },
        ),
        "oversight/cases": _doc(
            "kompolnas/oversight",
            {
                "dataset": "cases",
                "fields": ["status", "unit"],
                "filters": _between(_month(2024, 11), _month(2025, 11), "opened_at"),
                "aggregation": _count(_g("status"), _g("unit")),
                "purpose": "oversight_statistics",
            },
        ),
        "oversight/areas": _doc(
            "kompolnas/oversight",
            {
                "dataset": "areas",
                "fields": ["kota", "population"],
                "purpose": "oversight_statistics",
            },
        ),
        "patrol/risk-cells": _doc(
            "polda-metro-jaya/samapta",
            {
                "filters": _between(MIDNIGHT - 364 * DAY, MIDNIGHT),
                "aggregation": _count(_g("location", "h3", 8), _g("occurred_at", "week")),
                "purpose": "patrol_planning",
                "operation": "risk_scores",
            },
        ),
        "patrol/patterns": _doc(
            "polda-metro-jaya/samapta",
            {
                "filters": [
                    *_between(MIDNIGHT - 90 * DAY, MIDNIGHT),
                    _f("kota", "in", "Jakarta Timur"),
                ],
                "aggregation": _count(
                    _g("kecamatan"),
                    _g("occurred_at", "day_of_week"),
                    _g("occurred_at", "hour_of_day"),
                ),
                "purpose": "patrol_planning",
                "operation": "patterns",
            },
        ),
        "indicators/index": _doc(
            "dprd/komisi-a",
            {
                "filters": year,
                "aggregation": _count(_g("kecamatan"), _g("status"), _g("occurred_at", "month")),
                "purpose": "security_indicators",
                "operation": "security_index",
            },
        ),
    }


Mutation = Callable[[Doc], None]


def _set(path: str, value: object) -> Mutation:
    *parents, leaf = path.split(".")

    def apply(doc: Doc) -> None:
        node = doc
        for p in parents:
            node = node[p]
        node[leaf] = copy.deepcopy(value)

    return apply


def _delete(path: str) -> Mutation:
    *parents, leaf = path.split(".")

    def apply(doc: Doc) -> None:
        node = doc
        for p in parents:
            node = node[p]
        node.pop(leaf, None)

    return apply


def _append(path: str, value: object) -> Mutation:
    *parents, leaf = path.split(".")

    def apply(doc: Doc) -> None:
        node = doc
        for p in parents:
            node = node[p]
        target = node.get(leaf)
        if isinstance(target, list):
            target.append(copy.deepcopy(value))
        else:
            node[leaf] = [copy.deepcopy(value)]

    return apply


def _group_by(*groups: Doc, measure: str = "count") -> Mutation:
    return _set("request.aggregation", {"group_by": list(groups), "measure": measure})


def _fields_from_group_by(doc: Doc) -> None:
    """Ask for exactly the group-by fields (so an aggregation breakage is the only one)."""
    agg = doc["request"].get("aggregation")
    if isinstance(agg, dict) and isinstance(agg.get("group_by"), list):
        doc["request"]["fields"] = [g["field"] for g in agg["group_by"] if isinstance(g, dict)]


def _then(*steps: Mutation) -> Mutation:
    def apply(doc: Doc) -> None:
        for step in steps:
            step(doc)

    return apply


WEIRD_STRINGS: Final = (
    'quote"d',
    "back\\slash",
    "new\nline",
    "tab\there",
    "\u0001control",
    "kecamatan\u00e9",
    "emoji \U0001f600",
    "",
    " ",
    "x" * 300,
    "Jakarta Selatan ",
    "jakarta selatan",
)


def mutations() -> dict[str, Mutation]:
    """Generic ways to break a request, by name."""
    m: dict[str, Mutation] = {
        "caller/unknown": _set("caller.id", FEDERATION + "dishub/unknown"),
        "caller/other-federation": _set("caller.id", "spiffe://example.org/dishub/atcs"),
        "caller/missing": _delete("caller"),
        "caller/id-missing": _delete("caller.id"),
        "caller/id-number": _set("caller.id", 42),
        "caller/id-null": _set("caller.id", None),
        "user/absent": _delete("user_committed"),
        "user/false": _set("user_committed", False),
        "user/string": _set("user_committed", "true"),
        "user/null": _set("user_committed", None),
        "operation/unregistered": _set("request.operation", "patrol_plan"),
        "operation/unknown": _set("request.operation", "predict_persons"),
        "operation/number": _set("request.operation", 7),
        "operation/null": _set("request.operation", None),
        "window/too-wide": _append("request.filters", _f("occurred_at", "ge", NOW - 400 * DAY)),
        "window/open": _set("request.filters", [_f("occurred_at", "ge", NOW - DAY)]),
        "purpose/unknown": _set("request.purpose", "marketing"),
        "purpose/missing": _delete("request.purpose"),
        "purpose/null": _set("request.purpose", None),
        "purpose/list": _set("request.purpose", ["traffic_planning"]),
        "legal-basis/other": _set("request.legal_basis", BASIS["criminal_investigation"]),
        "legal-basis/trailing-space": lambda d: d["request"].update(
            legal_basis=str(d["request"]["legal_basis"]) + " "
        ),
        "legal-basis/empty": _set("request.legal_basis", ""),
        "legal-basis/missing": _delete("request.legal_basis"),
        "dataset/unknown": _set("request.dataset", "cctv"),
        "dataset/persons": _set("request.dataset", "persons"),
        "dataset/areas": _set("request.dataset", "areas"),
        "dataset/number": _set("request.dataset", 7),
        "dataset/missing": _delete("request.dataset"),
        "fields/empty": _set("request.fields", []),
        "fields/add-nik": _append("request.fields", "nik"),
        "fields/add-unknown": _append("request.fields", "weather"),
        "fields/add-location": _append("request.fields", "location"),
        "fields/duplicate": lambda d: (
            d["request"]["fields"].extend(d["request"]["fields"])
            if isinstance(d["request"].get("fields"), list)
            else None
        ),
        "fields/string": _set("request.fields", "kecamatan"),
        "fields/non-string": _append("request.fields", 3),
        "fields/null": _set("request.fields", None),
        "fields/missing": _delete("request.fields"),
        "filters/missing": _delete("request.filters"),
        "filters/object": _set("request.filters", {"field": "kota"}),
        "filters/unknown-op": _append("request.filters", _f("kota", "like", "Jakarta%")),
        "filters/op-number": _append(
            "request.filters", {"field": "kota", "op": 1, "values": ["x"]}
        ),
        "filters/nested-value": _append("request.filters", _f("kota", "in", {"a": 1})),
        "filters/list-value": _append("request.filters", _f("kota", "in", ["Jakarta Barat"])),
        "filters/null-value": _append("request.filters", _f("kota", "eq", None)),
        "filters/no-values": _append("request.filters", _f("kota", "in")),
        "filters/values-missing": _append("request.filters", {"field": "kota", "op": "in"}),
        "filters/many-values": _append(
            "request.filters", _f("kota", "in", *(["Jakarta Barat"] * 101))
        ),
        "filters/hundred-values": _append(
            "request.filters", _f("category", "not_in", *[f"c{i}" for i in range(100)])
        ),
        "filters/eq-two-values": _append(
            "request.filters", _f("kota", "eq", "Jakarta Barat", "Jakarta Timur")
        ),
        "filters/not-object": _append("request.filters", "kota = 'Jakarta Barat'"),
        "filters/field-number": _append(
            "request.filters", {"field": 5, "op": "eq", "values": ["x"]}
        ),
        "filters/kota-outside": _append("request.filters", _f("kota", "eq", "Kota Bekasi")),
        "filters/kota-jakut": _append("request.filters", _f("kota", "in", "Jakarta Utara")),
        "filters/kota-ne": _append("request.filters", _f("kota", "ne", "Jakarta Utara")),
        "filters/kecamatan-koja": _append("request.filters", _f("kecamatan", "eq", "Koja")),
        "filters/ungranted": _append(
            "request.filters", _f("modus_operandi", "eq", "pickpocketing")
        ),
        "filters/unknown-field": _append("request.filters", _f("weather", "eq", "rain")),
        "filters/string-on-time": _append("request.filters", _f("occurred_at", "ge", "2026-11-01")),
        "filters/float-on-time": _append("request.filters", _f("occurred_at", "ge", 1761955200.5)),
        "filters/bool-on-time": _append("request.filters", _f("occurred_at", "ge", True)),
        "filters/range-on-string": _append("request.filters", _f("kota", "gt", "A")),
        "filters/huge-time": _append("request.filters", _f("occurred_at", "ge", 10**30)),
        "filters/location": _append("request.filters", _f("location", "eq", "x")),
        "aggregation/null": _set("request.aggregation", None),
        "aggregation/missing": _delete("request.aggregation"),
        "aggregation/string": _set("request.aggregation", "daily"),
        "aggregation/list": _set("request.aggregation", []),
        "aggregation/exists": _then(_group_by(measure="exists"), _set("request.fields", [])),
        "aggregation/total": _then(_group_by(), _set("request.fields", [])),
        "aggregation/group-by-not-list": _set(
            "request.aggregation", {"group_by": "kota", "measure": "count"}
        ),
        "aggregation/group-by-missing": _set("request.aggregation", {"measure": "count"}),
        "aggregation/measure-unknown": _set(
            "request.aggregation", {"group_by": [], "measure": "sum"}
        ),
        "aggregation/measure-missing": _set("request.aggregation", {"group_by": []}),
        "group-by/nik": _then(_group_by(_g("nik")), _fields_from_group_by),
        "group-by/lat": _then(_group_by(_g("lat")), _fields_from_group_by),
        "group-by/kelurahan": _then(_group_by(_g("kelurahan")), _fields_from_group_by),
        "group-by/time-none": _then(_group_by(_g("occurred_at")), _fields_from_group_by),
        "group-by/time-hour": _then(
            _group_by(_g("occurred_at", "hour_of_day")), _fields_from_group_by
        ),
        "group-by/time-day": _then(_group_by(_g("occurred_at", "day")), _fields_from_group_by),
        "group-by/time-month": _then(_group_by(_g("occurred_at", "month")), _fields_from_group_by),
        "group-by/bucket-on-string": _then(_group_by(_g("kota", "day")), _fields_from_group_by),
        "group-by/bad-bucket": _then(_group_by(_g("kota", "fortnight")), _fields_from_group_by),
        "group-by/h3-on-kota": _then(_group_by(_g("kota", "h3", 7)), _fields_from_group_by),
        "group-by/location-none": _then(_group_by(_g("location")), _fields_from_group_by),
        "group-by/h3-no-resolution": _then(_group_by(_g("location", "h3")), _fields_from_group_by),
        "group-by/h3-16": _then(_group_by(_g("location", "h3", 16)), _fields_from_group_by),
        "group-by/h3-float": _then(
            _group_by({"field": "location", "bucket": "h3", "h3_resolution": 7.5}),
            _fields_from_group_by,
        ),
        # Regression: rego-cpp formatted 9.0 with %d as nothing, the reason vanished and
        # the too-fine resolution was allowed (fixed by formatting reasons with %v).
        "group-by/h3-9-float": _then(
            _group_by({"field": "location", "bucket": "h3", "h3_resolution": 9.0}),
            _fields_from_group_by,
        ),
        "group-by/not-object": _group_by("kota"),  # type: ignore[arg-type]
        "group-by/field-missing": _group_by({"bucket": "none"}),
        **{
            f"group-by/h3-{r}": _then(_group_by(_g("location", "h3", r)), _fields_from_group_by)
            for r in (0, 7, 8, 9, 10, 15)
        },
        "limit/one": _set("request.limit", 1),
        "limit/1000": _set("request.limit", 1000),
        "limit/5000": _set("request.limit", 5000),
        "limit/5001": _set("request.limit", 5001),
        "limit/20001": _set("request.limit", 20001),
        "limit/negative": _set("request.limit", -1),
        "limit/fraction": _set("request.limit", 1.5),
        "limit/float-whole": _set("request.limit", 5.0),
        "limit/string": _set("request.limit", "10"),
        "limit/bool": _set("request.limit", True),
        "limit/null": _set("request.limit", None),
        "limit/huge": _set("request.limit", 10**12),
        "limit/huger": _set("request.limit", 10**20),
        "limit/2^53": _set("request.limit", 2**53),
        "limit/missing": _delete("request.limit"),
        "case/valid": _set("request.case_reference", CASE),
        "case/expired": _set("request.case_reference", EXPIRED_CASE),
        "case/future": _set("request.case_reference", FUTURE_CASE),
        "case/unknown": _set("request.case_reference", "LP/B/9999/XI/2026/SPKT/POLDA METRO JAYA"),
        "case/empty": _set("request.case_reference", ""),
        "case/number": _set("request.case_reference", 1234),
        "case/missing": _delete("request.case_reference"),
        "time/missing": _delete("time"),
        "time/now-missing": _delete("time.now"),
        "time/now-string": _set("time.now", "1764396000"),
        "time/now-float": _set("time.now", NOW + 0.5),
        "time/now-zero": _set("time.now", 0),
        "time/now-huge": _set("time.now", 10**15),
        "time/now-2100": _set("time.now", 4102444800),
        "time/rfc3339-missing": _delete("time.now_rfc3339"),
        "time/rfc3339-space": _set("time.now_rfc3339", "2026-11-29 06:00:00"),
        "time/rfc3339-offset": _set("time.now_rfc3339", "2026-11-29T13:00:00+07:00"),
        "time/rfc3339-number": _set("time.now_rfc3339", NOW),
        "time/case-last-second": _set(
            "time", {"now": 1814399999, "now_rfc3339": "2027-06-30T23:59:59Z"}
        ),
        "time/case-ended": _set("time", {"now": 1814400000, "now_rfc3339": "2027-07-01T00:00:00Z"}),
        "time/case-first-second": _set(
            "time", {"now": 1762041600, "now_rfc3339": "2026-11-02T00:00:00Z"}
        ),
        "time/case-before-start": _set(
            "time", {"now": 1762041599, "now_rfc3339": "2026-11-01T23:59:59Z"}
        ),
        "request/missing": _delete("request"),
        "request/list": _set("request", []),
        "request/string": _set("request", "SELECT * FROM persons"),
        "input/extra-keys": _then(
            _set("extra", {"debug": True}), _set("request.sql", "DROP TABLE")
        ),
    }
    return m


def weird_string_mutations() -> dict[str, Mutation]:
    """Strings the engines might escape, compare or sort differently, in every string slot."""
    m: dict[str, Mutation] = {}
    for i, text in enumerate(WEIRD_STRINGS):
        m[f"weird/{i}/dataset"] = _set("request.dataset", text)
        m[f"weird/{i}/field"] = _append("request.fields", text)
        m[f"weird/{i}/kota"] = _append("request.filters", _f("kota", "eq", text))
        m[f"weird/{i}/purpose"] = _set("request.purpose", text)
        m[f"weird/{i}/case"] = _set("request.case_reference", text)
        m[f"weird/{i}/caller"] = _set("caller.id", FEDERATION + text)
        m[f"weird/{i}/legal-basis"] = _set("request.legal_basis", text)
    return m


def _window(doc: Doc, start: int, op: str = "ge") -> None:
    filters = [
        f
        for f in doc["request"]["filters"]
        if not (isinstance(f, dict) and f.get("field") == "occurred_at")
    ]
    doc["request"]["filters"] = [*filters, _f("occurred_at", op, start)]


def _targeted(bases: dict[str, Doc]) -> Iterator[tuple[str, Doc]]:
    """Boundaries that need a particular base."""
    for offset in (0, 1, -1, 3600):
        doc = copy.deepcopy(bases["disaster/nearby"])
        _window(doc, NOW - 7 * DAY + offset)
        yield f"disaster/window-start{offset:+d}", doc
    for op in ("gt", "le", "eq", "in"):
        doc = copy.deepcopy(bases["disaster/nearby"])
        _window(doc, NOW - DAY, op)
        yield f"disaster/window-op-{op}", doc
    doc = copy.deepcopy(bases["disaster/nearby"])
    _window(doc, NOW - DAY)
    doc["request"]["filters"].append(_f("occurred_at", "ge", NOW - 30 * DAY))
    yield "disaster/two-lower-bounds", doc
    for caller in CALLERS:
        for name in (
            "traffic/hourly",
            "stolen-vehicle/plate",
            "investigation/person",
            "oversight/monthly",
        ):
            doc = copy.deepcopy(bases[name])
            doc["caller"]["id"] = FEDERATION + caller
            yield f"{name}/as/{caller}", doc
    for purpose, basis in BASIS.items():
        doc = copy.deepcopy(bases["oversight/areas"])
        doc["request"]["purpose"] = purpose
        doc["request"]["legal_basis"] = basis
        yield f"areas/under/{purpose}", doc
    plate = bases["stolen-vehicle/plate"]
    for name, filters in {
        "two-plates": [_f("plate", "in", "B 1 A", "B 2 B")],
        "plate-ne": [_f("plate", "ne", "B 1 A")],
        "plate-and-colour": [_f("plate", "eq", "B 1 A"), _f("colour", "eq", "hitam")],
        "no-filter": [],
        "plate-number": [_f("plate", "eq", 1234)],
        "stolen-only": [_f("stolen", "eq", True)],
    }.items():
        doc = copy.deepcopy(plate)
        doc["request"]["filters"] = filters
        yield f"stolen-vehicle/{name}", doc
    doc = copy.deepcopy(plate)
    doc["request"]["aggregation"] = {"group_by": [_g("colour")], "measure": "exists"}
    yield "stolen-vehicle/group-by", doc
    # The case binding on every dataset the case-bound purpose reads, and on one it cannot.
    for dataset, field in {
        "incidents": "incident_id",
        "persons": "birth_date",
        "incident_persons": "role",
        "vehicles": "plate",
        "cases": "case_number",
        "areas": "population",
        "seed_truth": "label",
    }.items():
        doc = copy.deepcopy(bases["investigation/person"])
        doc["request"].update(dataset=dataset, fields=[field], filters=[])
        yield f"investigation/bound/{dataset}", doc
    yield "input/empty", {}


def parity_corpus() -> list[tuple[str, Doc]]:
    """Named input documents, the same on every call."""
    bases = purpose_bases()
    cases: list[tuple[str, Doc]] = [
        (f"allow/{name}", copy.deepcopy(doc)) for name, doc in bases.items()
    ]
    breakages = mutations()
    # Every breakage on one base per purpose.
    firsts: dict[str, str] = {}
    for name, doc in bases.items():
        firsts.setdefault(str(doc["request"]["purpose"]), name)
    for base in firsts.values():
        for m_name, mutate in breakages.items():
            doc = copy.deepcopy(bases[base])
            mutate(doc)
            cases.append((f"{base}/{m_name}", doc))
    for base in ("public-order/jaksel", "investigation/person"):
        for m_name, mutate in weird_string_mutations().items():
            doc = copy.deepcopy(bases[base])
            mutate(doc)
            cases.append((f"{base}/{m_name}", doc))
    cases.extend(_targeted(bases))
    # Random pairs and triples of breakages on random bases.
    rng = random.Random(SEED)
    base_names, m_names = sorted(bases), sorted(breakages)
    for i in range(150):
        base = rng.choice(base_names)
        chosen = rng.sample(m_names, rng.choice((2, 3)))
        doc = copy.deepcopy(bases[base])
        for m_name in chosen:
            # An earlier breakage may have removed what this one edits.
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                breakages[m_name](doc)
        cases.append((f"random/{i}/{base}/{'+'.join(chosen)}", doc))
    return cases
