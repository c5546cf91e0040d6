"""Decision documents: what reads as a decision, and everything that must not."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import PolicyDenied
from gateway.policy import Decision, MalformedDecision, Obligations, RowFilter
from gateway.protocol.model import CaseBinding

REVISION = "ab" * 32

ALLOWED: dict[str, Any] = {
    "allow": True,
    "reasons": [],
    "obligations": {
        "fields": ["kecamatan", "occurred_at"],
        "row_filters": [
            {"field": "kota", "op": "in", "values": ["Jakarta Selatan"]},
            {"field": "occurred_at", "op": "ge", "values": [1763791200]},
        ],
        "aggregate_only": True,
        "min_cell_count": 10,
        "max_rows": 5000,
        "epsilon": 1,
        "generalisation": {"place": "kecamatan", "time": "hour", "h3_max_resolution": 8},
        "pseudonymised_fields": [],
        "retention_days": 30,
        "max_window_days": None,
        "case_binding": None,
    },
}

DENIED = {"allow": False, "reasons": ["purpose 'x' is not registered"], "obligations": {}}


def test_allowed_document_reads_as_typed_obligations() -> None:
    decision = Decision.from_document(ALLOWED, revision=REVISION)
    assert decision.allow
    assert decision.reasons == ()
    ob = decision.obligations
    assert ob.fields == ("kecamatan", "occurred_at")
    assert ob.row_filters[0] == RowFilter("kota", "in", ("Jakarta Selatan",))
    assert ob.epsilon == 1.0
    assert isinstance(ob.epsilon, float)
    assert ob.generalisation.h3_max_resolution == 8
    assert ob.max_window_days is None
    assert ob.case_binding is None


def test_case_binding_reads_as_typed_obligation() -> None:
    case = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
    doc = _with("obligations.case_binding", {"reference": case, "police_cases": [case]})
    binding = Decision.from_document(doc, revision=REVISION).obligations.case_binding
    assert binding == CaseBinding(case, (case,))


def test_row_filter_reads_as_the_documents_mapping() -> None:
    rf = Decision.from_document(ALLOWED, revision=REVISION).obligations.row_filters[1]
    assert dict(rf) == {"field": "occurred_at", "op": "ge", "values": [1763791200]}
    assert rf.get("values") == [1763791200]
    assert rf.operands == (1763791200,)
    assert rf.get("missing") is None


def test_denial_has_reasons_and_no_obligations() -> None:
    decision = Decision.from_document(DENIED, revision=REVISION)
    assert not decision.allow
    assert decision.granted is None
    with pytest.raises(PolicyDenied) as denied:
        _ = decision.obligations
    assert denied.value.reasons == ("purpose 'x' is not registered",)


def test_engine_error_is_a_denial() -> None:
    decision = Decision.engine_error("timeout", revision=REVISION)
    assert not decision.allow
    assert decision.reasons == ("policy engine error: timeout",)


def _with(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(ALLOWED)
    node = doc
    *parents, leaf = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


MALFORMED: dict[str, object] = {
    "not-an-object": [],
    "missing-allow": {"reasons": [], "obligations": {}},
    "extra-key": {**DENIED, "revision": "x"},
    "allow-string": {**DENIED, "allow": "false"},
    "allow-without-obligations": {"allow": True, "reasons": [], "obligations": {}},
    "allow-with-reasons": _with("reasons", ["but why"]),
    "deny-without-reasons": {**DENIED, "reasons": []},
    "deny-with-obligations": {**DENIED, "obligations": ALLOWED["obligations"]},
    "empty-reason": {**DENIED, "reasons": [""]},
    "reason-not-string": {**DENIED, "reasons": [1]},
    "obligation-missing": _with("obligations.retention_days", KeyError),
    "obligation-extra": _with("obligations.sql", "DROP"),
    "fields-string": _with("obligations.fields", "kecamatan"),
    "fields-empty-name": _with("obligations.fields", [""]),
    "max-rows-zero": _with("obligations.max_rows", 0),
    "max-rows-float": _with("obligations.max_rows", 10.0),
    "max-rows-bool": _with("obligations.max_rows", True),
    "min-cell-zero": _with("obligations.min_cell_count", 0),
    "retention-negative": _with("obligations.retention_days", -1),
    "window-zero": _with("obligations.max_window_days", 0),
    "epsilon-zero": _with("obligations.epsilon", 0),
    "epsilon-string": _with("obligations.epsilon", "1"),
    "epsilon-bool": _with("obligations.epsilon", True),
    "aggregate-only-int": _with("obligations.aggregate_only", 1),
    "place-unknown": _with("obligations.generalisation.place", "street"),
    "time-unknown": _with("obligations.generalisation.time", "second"),
    "h3-16": _with("obligations.generalisation.h3_max_resolution", 16),
    "generalisation-extra": _with("obligations.generalisation.k", 5),
    "row-filters-object": _with("obligations.row_filters", {}),
    "row-filter-op": _with("obligations.row_filters.0.op", "like"),
    "row-filter-no-values": _with("obligations.row_filters.0.values", []),
    "row-filter-values-tuple": _with("obligations.row_filters.0.values", "Jakarta"),
    "row-filter-nested": _with("obligations.row_filters.0.values", [["Jakarta"]]),
    "row-filter-null": _with("obligations.row_filters.0.values", [None]),
    "row-filter-arity": _with("obligations.row_filters.1.values", [1, 2]),
    "row-filter-extra": _with("obligations.row_filters.0.negate", True),
    "case-binding-missing": _with("obligations.case_binding", KeyError),
    "case-binding-string": _with("obligations.case_binding", "LP/B/1"),
    "case-binding-no-cases": _with(
        "obligations.case_binding", {"reference": "LP/B/1", "police_cases": []}
    ),
    "case-binding-no-reference": _with(
        "obligations.case_binding", {"reference": "", "police_cases": ["LP/B/1"]}
    ),
    "case-binding-extra": _with(
        "obligations.case_binding", {"reference": "LP/B/1", "police_cases": ["LP/B/1"], "x": 1}
    ),
}


@pytest.mark.parametrize("doc", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_documents_raise(doc: object) -> None:
    with pytest.raises(MalformedDecision):
        Decision.from_document(doc, revision=REVISION)


@pytest.mark.parametrize("revision", ["", "AB" * 32, "ab" * 31, "zz" * 32])
def test_revision_must_be_a_sha256_hex(revision: str) -> None:
    with pytest.raises(MalformedDecision):
        Decision.from_document(DENIED, revision=revision)


def test_constructors_validate_too() -> None:
    ob = Decision.from_document(ALLOWED, revision=REVISION).obligations
    with pytest.raises(MalformedDecision):
        Decision(True, (), REVISION, None)
    with pytest.raises(MalformedDecision):
        Decision(False, ("no",), REVISION, ob)
    with pytest.raises(MalformedDecision):
        RowFilter("kota", "eq", ("a", "b"))
    with pytest.raises(MalformedDecision):
        dataclasses.replace(ob, max_rows=0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_any_json_is_a_decision_or_malformed(doc: object) -> None:
    """Reading never fails any other way, and never allows without full obligations."""
    try:
        decision = Decision.from_document(doc, revision=REVISION)
    except MalformedDecision:
        return
    assert decision.allow is False or isinstance(decision.granted, Obligations)
