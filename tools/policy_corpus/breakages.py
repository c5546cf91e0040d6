"""Data: the named ways to break a request, generic and per base, and the awkward strings."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Final

from tools.policy_corpus.documents import (
    BASIS,
    CALLERS,
    CASE,
    DAY,
    EXPIRED_CASE,
    FEDERATION,
    FUTURE_CASE,
    MIDNIGHT,
    NOW,
    Doc,
    Mutation,
    _append,
    _between,
    _count,
    _delete,
    _f,
    _fields_from_group_by,
    _g,
    _group_by,
    _set,
    _t,
    _then,
)

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


def targeted(bases: dict[str, Doc]) -> Iterator[tuple[str, Doc]]:
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
    yield from _spans(bases)
    yield "input/empty", {}


def _spans(bases: dict[str, Doc]) -> Iterator[tuple[str, Doc]]:
    """Spans (ADR 0032): allowed as the patrol plan asks them, and each broken rule."""
    week = 7 * DAY
    end = MIDNIGHT - 5 * DAY  # Monday 00:00 WIB, the week start before NOW (a Saturday)
    good = [end - 52 * week, end - 4 * week, end - week, end]
    window = _between(good[0], end)
    variants: dict[str, tuple[object, list[Doc]]] = {
        "allowed": (good, window),
        "two": ([good[0], end], window),
        "tuesday": ([good[0], good[1] + DAY, good[2], end], window),
        "one-hour-late": ([good[0], good[1] + 3600, good[2], end], window),
        "unsorted": ([good[0], good[2], good[1], end], window),
        "duplicate": ([good[0], good[1], good[1], end], window),
        "inside": ([good[1], good[2], end], window),
        "past-the-end": ([good[0], good[1], end + week], window),
        "one": ([end], window),
        "none": ([], window),
        "too-many": ([end - (64 - i) * week for i in range(65)], _between(end - 64 * week, end)),
        "strings": ([str(b) for b in good], window),
        "float": ([float(b) for b in good], window),
        "not-a-list": (end, window),
        "tighter-bound": (good, [*window, _t("occurred_at", "ge", good[1])]),
        "gt-window": (good, [_t("occurred_at", "gt", good[0]), window[1]]),
    }
    for name, (boundaries, filters) in variants.items():
        doc = copy.deepcopy(bases["patrol/risk-cells"])
        doc["request"]["filters"] = copy.deepcopy(filters)
        doc["request"]["operation"] = "patrol_plan"
        doc["request"]["aggregation"] = _count(
            _g("location", "h3", 8),
            _g("kecamatan"),
            {"field": "occurred_at", "bucket": "spans", "boundaries": boundaries},
        )
        yield f"patrol/spans/{name}", doc
    doc = copy.deepcopy(bases["patrol/risk-cells"])
    doc["request"]["aggregation"]["group_by"][1] = {"field": "kota", "bucket": "spans"}
    yield "patrol/spans/on-a-string", doc
