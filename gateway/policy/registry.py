"""Checks on the registry data the policies read (`data.registry`), before any engine sees it.

Pure: `check_registry` takes the merged data document and raises `ConfigurationError`
listing every problem, each naming the entry it is about, e.g.
"caller 'spiffe://.../dishub/atcs': permits unknown purpose 'trafic_planning'". A registry
that fails here is never loaded, so a reload keeps the previous revision in force.

Besides shapes and cross-references it holds a few invariants the Rego relies on or that a
reviewer should never have to check by eye: an aggregate-only purpose grants no direct
identifier (unless its only measure is the hit/no-hit `exists`), record-level access to
identifiers or criminal-record data needs a case reference, and a record-level purpose
requires the end user behind each request (`requires_user`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Final

from gateway.errors import ConfigurationError
from gateway.policy.limits import limit_problems
from gateway.protocol.model import OPERATIONS
from gateway.protocol.release import PrivacyBudget

__all__ = ["check_registry"]

SECTIONS: Final = ("callers", "purposes", "datasets", "cases", "geography")
CLASSES: Final = ("direct_identifier", "specific_personal", "quasi_identifier", "non_personal")
TYPES: Final = ("string", "time", "integer", "coordinate", "boolean")
MEASURES: Final = ("count", "exists")
PLACES: Final = ("none", "kelurahan", "kecamatan", "kota", "h3")
TIMES: Final = ("none", "hour", "day", "week", "month")
OPS: Final = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")
SINGLE_VALUE_OPS: Final = ("eq", "ne", "lt", "le", "gt", "ge")
PDP_LAW: Final = "UU 27/2022"

# Names the policy may echo in a reason or sort must be plain: the two engines escape, and
# so compare and sort, quotes, backslashes and control characters differently. The same
# alphabet as `printable` in policies/gerbang/input.rego.
_PLAIN: Final = re.compile(r"[A-Za-z0-9 _./:;,()@%&+=?#~-]{1,200}")
_SPIFFE: Final = re.compile(r"spiffe://[a-z0-9.-]+(/[A-Za-z0-9._-]+){2,}")
_RFC3339_UTC: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

_PURPOSE_KEYS: Final = frozenset(
    {
        "description",
        "legal_basis",
        "legal_basis_detail",
        "retention_days",
        "case_reference_required",
        "aggregate_only",
        "measures",
        "lookup_field",
        "min_cell_count",
        "generalisation",
        "epsilon",
        "privacy_budget",
        "max_rows",
        "max_window_days",
        "max_span_days",
        "operations",
        "datasets",
    }
)
# Keys a purpose may leave out: `requires_user` (default false) asks for the end user
# behind every request; record-level purposes must set it.
_OPTIONAL_PURPOSE_KEYS: Final = frozenset({"requires_user"})


def check_registry(data: Mapping[str, object]) -> None:
    """Raise `ConfigurationError` naming every problem in `data["registry"]`."""
    problems = list(_problems(data))
    if problems:
        listing = "\n".join(f"- {p}" for p in problems)
        raise ConfigurationError(f"the policy registry is invalid:\n{listing}")


def _whole(value: object, least: int, most: int | None = None) -> bool:
    """Whether `value` is an integer (not a bool) in [least, most]."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return value >= least and (most is None or value <= most)


def _plain(value: object) -> bool:
    return isinstance(value, str) and _PLAIN.fullmatch(value) is not None


def _plain_list(value: object) -> bool:
    return isinstance(value, list) and all(_plain(v) for v in value)


def _object(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, Mapping) else None


def _problems(data: Mapping[str, object]) -> Iterator[str]:
    registry = _object(data.get("registry"))
    if registry is None:
        yield "no registry: expected data.json files under policies/registry/"
        return
    sections: dict[str, Mapping[str, object]] = {}
    for name in SECTIONS:
        section = _object(registry.get(name))
        if section is None or not section:
            yield f"registry section {name!r} is missing or empty (registry/{name}/data.json)"
            return
        sections[name] = section
    for extra in sorted(set(registry) - set(SECTIONS)):
        yield f"registry section {extra!r} is not one the policies read"
    geography = sections["geography"]
    yield from _geography(geography)
    kota = _kota(geography)
    datasets = sections["datasets"]
    for name, spec in datasets.items():
        yield from _dataset(name, spec)
    purposes = sections["purposes"]
    for name, spec in purposes.items():
        yield from _purpose(name, spec, datasets)
    callers = sections["callers"]
    for sid, spec in callers.items():
        yield from _caller(sid, spec, purposes, kota)
    for number, spec in sections["cases"].items():
        yield from _case(number, spec, purposes, callers)


def _kota(geography: Mapping[str, object]) -> dict[str, frozenset[str]]:
    """Each well-formed kota with its kecamatan (problems are reported by `_geography`)."""
    areas = _object(geography.get("kota")) or {}
    out: dict[str, frozenset[str]] = {}
    for name, spec in areas.items():
        kecamatan = (_object(spec) or {}).get("kecamatan")
        if _plain(name) and isinstance(kecamatan, list) and _plain_list(kecamatan):
            out[name] = frozenset(kecamatan)
    return out


def _geography(geography: Mapping[str, object]) -> Iterator[str]:
    areas = _object(geography.get("kota"))
    if areas is None or not areas:
        yield "geography: 'kota' must map each kota to its kecamatan"
        return
    seen: dict[str, str] = {}
    for name, spec in areas.items():
        kecamatan = (_object(spec) or {}).get("kecamatan")
        if not _plain(name) or not isinstance(kecamatan, list) or not _plain_list(kecamatan):
            yield f"geography kota {name!r}: needs a plain name and a list of kecamatan names"
            continue
        for k in kecamatan:
            if k in seen:
                yield f"geography kota {name!r}: kecamatan {k!r} is also listed under {seen[k]!r}"
            seen[k] = name


def _dataset(name: str, spec: object) -> Iterator[str]:
    where = f"dataset {name!r}"
    ds = _object(spec)
    if not _plain(name) or ds is None:
        yield f"{where}: needs a plain name and an object describing it"
        return
    fields = _object(ds.get("fields"))
    if fields is None or not fields:
        yield f"{where}: has no fields"
        return
    for field, fspec in fields.items():
        f = _object(fspec) or {}
        if not _plain(field):
            yield f"{where}: field name {field!r} is not a plain name"
        if f.get("class") not in CLASSES:
            yield (
                f"{where} field {field!r}: missing or unknown sensitivity class "
                f"{f.get('class')!r} (one of {', '.join(CLASSES)})"
            )
        if f.get("type") not in TYPES:
            yield (
                f"{where} field {field!r}: missing or unknown type {f.get('type')!r} "
                f"(one of {', '.join(TYPES)})"
            )
    if "location" in fields:
        yield f"{where}: 'location' is reserved for the virtual lat/lon pair of an h3 group-by"
    event = ds.get("event_time_field")
    if event is not None and (_object(fields.get(str(event))) or {}).get("type") != "time":
        yield f"{where}: event_time_field {event!r} is not one of its time fields"
    scoped = ds.get("jurisdiction_scoped")
    if not isinstance(scoped, bool):
        yield f"{where}: jurisdiction_scoped must be true or false"
    elif scoped and "kota" not in fields:
        yield f"{where}: is jurisdiction-scoped but has no 'kota' field"
    if not isinstance(ds.get("description"), str):
        yield f"{where}: needs a description"


def _purpose(name: str, spec: object, datasets: Mapping[str, object]) -> Iterator[str]:
    where = f"purpose {name!r}"
    p = _object(spec)
    if not _plain(name) or p is None:
        yield f"{where}: needs a plain name and an object describing it"
        return
    missing = sorted(_PURPOSE_KEYS - set(p))
    if missing:
        yield f"{where}: missing {', '.join(missing)}"
        return
    for extra in sorted(set(p) - _PURPOSE_KEYS - _OPTIONAL_PURPOSE_KEYS):
        yield f"{where}: unknown key {extra!r}"
    requires_user = p.get("requires_user", False)
    if not isinstance(requires_user, bool):
        yield f"{where}: requires_user must be true or false"
    elif p["aggregate_only"] is False and not requires_user:
        yield f"{where}: a record-level purpose must set requires_user (the person behind it)"
    yield from _legal_basis(where, p["legal_basis"], p["legal_basis_detail"])
    for key in ("case_reference_required", "aggregate_only"):
        if not isinstance(p[key], bool):
            yield f"{where}: {key} must be true or false"
    for key, least in (("retention_days", 0), ("min_cell_count", 1), ("max_rows", 1)):
        value = p[key]
        if not _whole(value, least):
            yield f"{where}: {key} must be a whole number >= {least}"
    window = p["max_window_days"]
    if window is not None and not _whole(window, 1):
        yield f"{where}: max_window_days must be null or a whole number of days >= 1"
    span = p["max_span_days"]
    if span is not None and not _whole(span, 1):
        yield f"{where}: max_span_days must be null or a whole number of days >= 1"
    operations = p["operations"]
    if not isinstance(operations, list) or not set(operations) <= OPERATIONS:
        yield f"{where}: operations must be a list of {', '.join(sorted(OPERATIONS))}"
    measures = p["measures"]
    if not isinstance(measures, list) or not measures or not set(measures) <= set(MEASURES):
        yield f"{where}: measures must be a non-empty list of {', '.join(MEASURES)}"
        measures = []
    lookup = p["lookup_field"]
    if ("exists" in measures) != (lookup is not None):
        yield f"{where}: a lookup_field is needed exactly when the 'exists' measure is allowed"
    yield from _generalisation(where, p["generalisation"])
    yield from _privacy(where, p)
    grants = _object(p["datasets"])
    if grants is None or not grants:
        yield f"{where}: covers no dataset"
        return
    for ds_name, grant in grants.items():
        yield from _grant(where, p, ds_name, grant, datasets, measures, lookup)


def _privacy(where: str, p: Mapping[str, object]) -> Iterator[str]:
    """Every aggregate (count) purpose releases through differential privacy (ADR 0009)."""
    epsilon, budget = p["epsilon"], p["privacy_budget"]
    measures = p.get("measures")
    counts = p["aggregate_only"] is True and isinstance(measures, list) and "count" in measures
    if epsilon is None:
        if budget is not None:
            yield f"{where}: privacy_budget without epsilon"
        if counts:
            yield f"{where}: an aggregate-only purpose that counts needs an epsilon"
        return
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or epsilon <= 0:
        yield f"{where}: epsilon must be null or a positive number"
        return
    try:
        PrivacyBudget.from_registry(epsilon, budget)
    except ConfigurationError as e:
        yield f"{where}: privacy_budget: {e}"


def _legal_basis(where: str, basis: object, detail: object) -> Iterator[str]:
    d = _object(detail) or {}
    article, authority = d.get("pdp_article"), d.get("authority")
    if not isinstance(article, str) or not article.startswith(PDP_LAW):
        yield f"{where}: legal_basis_detail.pdp_article must cite the UU PDP ({PDP_LAW})"
        return
    if not _plain_list(authority) or not authority:
        yield f"{where}: legal_basis_detail.authority must list the statutes giving the authority"
        return
    assert isinstance(authority, list)
    expected = "; ".join([article, *authority])
    if basis != expected:
        yield f"{where}: legal_basis {basis!r} must read {expected!r} (article; authorities)"
    elif not _plain(basis):
        yield f"{where}: legal_basis must be plain text"


def _generalisation(where: str, spec: object) -> Iterator[str]:
    g = _object(spec) or {}
    if set(g) != {"place", "time", "h3_max_resolution"}:
        yield f"{where}: generalisation needs exactly place, time and h3_max_resolution"
        return
    if g["place"] not in PLACES:
        yield f"{where}: generalisation place must be one of {', '.join(PLACES)}"
    if g["time"] not in TIMES:
        yield f"{where}: generalisation time must be one of {', '.join(TIMES)}"
    h3 = g["h3_max_resolution"]
    if h3 is not None and not _whole(h3, 0, 15):
        yield f"{where}: h3_max_resolution must be null or 0 to 15"


def _grant(
    where: str,
    purpose: Mapping[str, object],
    ds_name: str,
    grant: object,
    datasets: Mapping[str, object],
    measures: list[object],
    lookup: object,
) -> Iterator[str]:
    here = f"{where} dataset {ds_name!r}"
    ds = _object(datasets.get(ds_name))
    g = _object(grant)
    if ds is None:
        yield f"{here}: no such dataset"
        return
    if g is None or set(g) != {"fields", "pseudonymised_fields", "row_filters"}:
        yield f"{here}: needs exactly fields, pseudonymised_fields and row_filters"
        return
    known = _object(ds.get("fields")) or {}
    fields = g["fields"]
    if not isinstance(fields, list) or not _plain_list(fields) or len(set(fields)) != len(fields):
        yield f"{here}: fields must be a list of distinct field names"
        return
    if not fields:
        yield f"{here}: grants no field"
        return
    for field in fields:
        if field not in known:
            yield f"{here}: grants unknown field {field!r}"
    pseudonymised = g["pseudonymised_fields"]
    if not isinstance(pseudonymised, list) or not set(pseudonymised) <= set(fields):
        yield f"{here}: pseudonymised_fields must be granted fields"
    row_filters = g["row_filters"]
    if not isinstance(row_filters, list):
        yield f"{here}: row_filters must be a list"
    else:
        for f in row_filters:
            yield from _row_filter(here, f, known)
    if "exists" in measures and lookup not in fields:
        yield f"{here}: lookup_field {lookup!r} is not granted"
    classes = {f: (_object(known.get(f)) or {}).get("class") for f in fields}
    identifiers = sorted(f for f, c in classes.items() if c == "direct_identifier")
    sensitive = sorted(
        f for f, c in classes.items() if c in ("direct_identifier", "specific_personal")
    )
    if purpose.get("aggregate_only") is True and identifiers and measures != ["exists"]:
        yield (
            f"{here}: the purpose is aggregate-only but grants direct identifier(s) "
            f"{', '.join(identifiers)}"
        )
    if (
        purpose.get("aggregate_only") is False
        and sensitive
        and purpose.get("case_reference_required") is not True
    ):
        yield (
            f"{here}: record-level access to {', '.join(sensitive)} needs case_reference_required"
        )


def _row_filter(here: str, spec: object, known: Mapping[str, object]) -> Iterator[str]:
    f = _object(spec) or {}
    values = f.get("values")
    if (
        set(f) != {"field", "op", "values"}
        or f.get("field") not in known
        or f.get("op") not in OPS
        or not isinstance(values, list)
        or not values
        or not all(isinstance(v, str | int | float) for v in values)
        or (f.get("op") in SINGLE_VALUE_OPS and len(values) != 1)
    ):
        yield f"{here}: row filter {spec!r} must be {{field, op, values}} on a known field"


def _caller(
    sid: str, spec: object, purposes: Mapping[str, object], kota: Mapping[str, frozenset[str]]
) -> Iterator[str]:
    where = f"caller {sid!r}"
    c = _object(spec)
    if not _SPIFFE.fullmatch(sid) or not _plain(sid) or c is None:
        yield f"{where}: must be keyed by its SAN URI spiffe://<federation>/<org>/<system>"
        return
    for key in ("organisation", "system"):
        if not isinstance(c.get(key), str) or not c.get(key):
            yield f"{where}: needs its {key}"
    permitted = c.get("purposes")
    if not isinstance(permitted, list) or not permitted:
        yield f"{where}: permits no purpose"
    else:
        for name in permitted:
            if name not in purposes:
                yield f"{where}: permits unknown purpose {name!r}"
    yield from limit_problems(where, c.get("limits"))
    jurisdiction = _object(c.get("jurisdiction"))
    if jurisdiction is None:
        yield f"{where}: has no jurisdiction"
        return
    own_kota, own_kec = jurisdiction.get("kota"), jurisdiction.get("kecamatan")
    if not isinstance(own_kota, list) or not own_kota or not isinstance(own_kec, list):
        yield f"{where}: jurisdiction needs a non-empty kota list and a kecamatan list"
        return
    for k in own_kota:
        if k not in kota:
            yield f"{where}: jurisdiction names unknown kota {k!r}"
    reachable = frozenset().union(*(kota.get(k, frozenset()) for k in own_kota))
    for k in own_kec:
        if k not in reachable:
            yield f"{where}: jurisdiction kecamatan {k!r} is not in its kota"


def _case(
    number: str, spec: object, purposes: Mapping[str, object], callers: Mapping[str, object]
) -> Iterator[str]:
    where = f"case {number!r}"
    c = _object(spec)
    if not _plain(number) or c is None:
        yield f"{where}: needs a plain case number and an object describing it"
        return
    if not isinstance(c.get("unit"), str) or not c.get("unit"):
        yield f"{where}: needs the unit in charge"
    purpose = c.get("purpose")
    purpose_spec = _object(purposes.get(str(purpose))) or {}
    if purpose_spec.get("case_reference_required") is not True:
        yield f"{where}: purpose {purpose!r} is not a registered purpose that takes case references"
    authorised = c.get("authorised_callers")
    if not isinstance(authorised, list) or not authorised:
        yield f"{where}: authorises no caller"
    else:
        for sid in authorised:
            caller = _object(callers.get(str(sid)))
            if caller is None:
                yield f"{where}: authorises unregistered caller {sid!r}"
                continue
            permitted = caller.get("purposes")
            if not isinstance(permitted, list) or purpose not in permitted:
                yield f"{where}: caller {sid!r} is not permitted purpose {purpose!r}"
    police_cases = c.get("police_cases")
    if not _plain_list(police_cases) or not police_cases:
        yield (
            f"{where}: police_cases must list the case numbers of the police databases it "
            "covers (plain strings), at least one"
        )
    start, end = _instant(c.get("valid_from")), _instant(c.get("valid_until"))
    if start is None or end is None:
        yield f"{where}: valid_from and valid_until must be UTC times written YYYY-MM-DDTHH:MM:SSZ"
    elif start >= end:
        yield f"{where}: valid_from must come before valid_until"


def _instant(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not _RFC3339_UTC.fullmatch(value):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
