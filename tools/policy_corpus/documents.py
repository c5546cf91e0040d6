"""The input documents' vocabulary: the fixed clock, callers, cases and legal bases, and the
helpers the tables build documents and breakages with.

The helpers keep short private names (`_f` a filter, `_t` a time filter, `_g` a group-by,
...) so that the tables in `allowed` and `breakages` read as tables; they are this package's
own and imported only by its modules.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from gateway.protocol.planning import grid_units

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
