"""The policy's decision, as typed values checked in their constructors.

`Decision.from_document` reads the document `data.gerbang.authz.decision` evaluates to
(docs/policy.md) and raises `MalformedDecision` for anything else. The engines turn that
error, like every other engine failure, into a denial (`Decision.engine_error`): a
malformed answer never allows anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.errors import GerbangError, PolicyDenied
from gateway.protocol.model import CaseBinding, InvalidQuery

__all__ = [
    "Decision",
    "Generalisation",
    "MalformedDecision",
    "Obligations",
    "RowFilter",
    "Scalar",
]

Scalar = str | int | float | bool

OPS: Final = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"})
SINGLE_VALUE_OPS: Final = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
PLACES: Final = frozenset({"none", "kelurahan", "kecamatan", "kota", "h3"})
TIMES: Final = frozenset({"none", "hour", "day", "week", "month"})
MAX_H3_RESOLUTION: Final = 15
_REVISION: Final = re.compile(r"[0-9a-f]{64}")


class MalformedDecision(GerbangError):
    """A policy engine answered with something that is not a decision document."""


def _fail(message: str) -> MalformedDecision:
    return MalformedDecision(message)


def _int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def _optional_int(value: object, name: str, minimum: int, maximum: int | None = None) -> int | None:
    if value is None:
        return None
    number = _int(value, name, minimum)
    if maximum is not None and number > maximum:
        raise _fail(f"{name} must be at most {maximum}, not {number}")
    return number


def _names(value: object, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(f"{name} must be a list of names")
    if not all(isinstance(v, str) and v for v in value):
        raise _fail(f"{name} must hold non-empty strings only")
    return tuple(value)


def _mapping(value: object, name: str, keys: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _fail(f"{name} must be an object")
    if set(value) != keys:
        raise _fail(f"{name} must have exactly the keys {', '.join(sorted(keys))}")
    return value


@dataclass(frozen=True, slots=True)
class RowFilter(Mapping[str, object]):
    """A filter the adapters add to the caller's own: `field op operands`.

    It also reads as the decision document's `{"field", "op", "values"}` mapping (values as a
    list), the shape the planning code consumes; `operands` is that "values" list (the name
    `values` belongs to `Mapping.values()`).
    """

    field: str
    op: str
    operands: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise _fail("row filter field must be a non-empty string")
        if self.op not in OPS:
            raise _fail(f"row filter on {self.field!r} has unknown op {self.op!r}")
        if not self.operands:
            raise _fail(f"row filter on {self.field!r} has no values")
        for v in self.operands:
            if not isinstance(v, str | int | float) or (
                isinstance(v, float) and not math.isfinite(v)
            ):
                raise _fail(f"row filter on {self.field!r} has a value that is not a scalar")
        if self.op in SINGLE_VALUE_OPS and len(self.operands) != 1:
            raise _fail(f"row filter on {self.field!r}: op {self.op!r} takes exactly one value")

    def __getitem__(self, key: str) -> object:
        if key == "field":
            return self.field
        if key == "op":
            return self.op
        if key == "values":
            return list(self.operands)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("field", "op", "values"))

    def __len__(self) -> int:
        return 3

    @classmethod
    def from_document(cls, doc: object) -> RowFilter:
        d = _mapping(doc, "row filter", frozenset({"field", "op", "values"}))
        values = d["values"]
        if not isinstance(values, list):
            raise _fail("row filter values must be a list")
        field, op = d["field"], d["op"]
        if not isinstance(field, str) or not isinstance(op, str):
            raise _fail("row filter field and op must be strings")
        return cls(field, op, tuple(values))


@dataclass(frozen=True, slots=True)
class Generalisation:
    """How coarse places and times in a result must be (`h3_max_resolution` None: no H3)."""

    place: str
    time: str
    h3_max_resolution: int | None

    def __post_init__(self) -> None:
        if self.place not in PLACES:
            raise _fail(f"unknown place generalisation {self.place!r}")
        if self.time not in TIMES:
            raise _fail(f"unknown time generalisation {self.time!r}")
        _optional_int(self.h3_max_resolution, "h3_max_resolution", 0, MAX_H3_RESOLUTION)

    @classmethod
    def from_document(cls, doc: object) -> Generalisation:
        d = _mapping(doc, "generalisation", frozenset({"place", "time", "h3_max_resolution"}))
        place, time, h3 = d["place"], d["time"], d["h3_max_resolution"]
        if not isinstance(place, str) or not isinstance(time, str):
            raise _fail("generalisation place and time must be strings")
        return cls(place, time, _optional_int(h3, "h3_max_resolution", 0, MAX_H3_RESOLUTION))


_OBLIGATION_KEYS: Final = frozenset(
    {
        "fields",
        "row_filters",
        "aggregate_only",
        "min_cell_count",
        "max_rows",
        "epsilon",
        "generalisation",
        "pseudonymised_fields",
        "retention_days",
        "max_window_days",
        "case_binding",
    }
)


def _case_binding(value: object) -> CaseBinding | None:
    """The decision's `case_binding`: null, or {"reference", "police_cases"} (ADR 0013)."""
    if value is None:
        return None
    d = _mapping(value, "case_binding", frozenset({"reference", "police_cases"}))
    reference = d["reference"]
    if not isinstance(reference, str):
        raise _fail("case_binding reference must be a string")
    try:
        return CaseBinding(reference, _names(d["police_cases"], "case_binding police_cases"))
    except InvalidQuery as e:
        raise _fail(f"case_binding: {e}") from e


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the adapters and the caller must do with an allowed request's data."""

    fields: tuple[str, ...]
    row_filters: tuple[RowFilter, ...]
    aggregate_only: bool
    min_cell_count: int
    max_rows: int
    epsilon: float | None
    generalisation: Generalisation
    pseudonymised_fields: tuple[str, ...]
    retention_days: int
    max_window_days: int | None
    # Record-level access bound to one case: the rows of its incidents only (ADR 0013).
    case_binding: CaseBinding | None = None

    def __post_init__(self) -> None:
        _names(self.fields, "fields")
        _names(self.pseudonymised_fields, "pseudonymised_fields")
        if not all(isinstance(f, RowFilter) for f in self.row_filters):
            raise _fail("row_filters must be RowFilter values")
        if not isinstance(self.aggregate_only, bool):
            raise _fail("aggregate_only must be true or false")
        _int(self.min_cell_count, "min_cell_count", 1)
        _int(self.max_rows, "max_rows", 1)
        _int(self.retention_days, "retention_days", 0)
        _optional_int(self.max_window_days, "max_window_days", 1)
        if self.epsilon is not None and not (
            isinstance(self.epsilon, float) and math.isfinite(self.epsilon) and self.epsilon > 0
        ):
            raise _fail(f"epsilon must be a positive number or null, not {self.epsilon!r}")
        if not isinstance(self.generalisation, Generalisation):
            raise _fail("generalisation must be a Generalisation")
        if self.case_binding is not None and not isinstance(self.case_binding, CaseBinding):
            raise _fail("case_binding must be a CaseBinding or None")

    @classmethod
    def from_document(cls, doc: object) -> Obligations:
        d = _mapping(doc, "obligations", _OBLIGATION_KEYS)
        row_filters = d["row_filters"]
        if not isinstance(row_filters, list):
            raise _fail("row_filters must be a list")
        epsilon = d["epsilon"]
        if epsilon is not None and (
            isinstance(epsilon, bool) or not isinstance(epsilon, int | float)
        ):
            raise _fail(f"epsilon must be a number or null, not {epsilon!r}")
        aggregate_only = d["aggregate_only"]
        if not isinstance(aggregate_only, bool):
            raise _fail("aggregate_only must be true or false")
        return cls(
            fields=_names(d["fields"], "fields"),
            row_filters=tuple(RowFilter.from_document(f) for f in row_filters),
            aggregate_only=aggregate_only,
            min_cell_count=_int(d["min_cell_count"], "min_cell_count", 1),
            max_rows=_int(d["max_rows"], "max_rows", 1),
            epsilon=None if epsilon is None else float(epsilon),
            generalisation=Generalisation.from_document(d["generalisation"]),
            pseudonymised_fields=_names(d["pseudonymised_fields"], "pseudonymised_fields"),
            retention_days=_int(d["retention_days"], "retention_days", 0),
            max_window_days=_optional_int(d["max_window_days"], "max_window_days", 1),
            case_binding=_case_binding(d["case_binding"]),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """Allow or deny, why, and under which obligations, by which policy revision.

    An allowed decision has no reasons and carries obligations; a denial has at least one
    reason and none. Read the obligations through `obligations`, which raises
    `PolicyDenied` on a denial, so a denial cannot be acted on by mistake.
    """

    allow: bool
    reasons: tuple[str, ...]
    revision: str
    granted: Obligations | None = None
    # No decision was made (the engine failed, timed out, ...): a denial that the gateway
    # reports as the decision point being unavailable, not as the policy's answer.
    failed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.allow, bool):
            raise _fail("allow must be true or false")
        if not isinstance(self.revision, str) or not _REVISION.fullmatch(self.revision):
            raise _fail("revision must be a SHA-256 in lowercase hex")
        if isinstance(self.reasons, str) or not all(isinstance(r, str) and r for r in self.reasons):
            raise _fail("reasons must be non-empty strings")
        if self.allow:
            if self.reasons:
                raise _fail("an allowed decision has no reasons")
            if not isinstance(self.granted, Obligations):
                raise _fail("an allowed decision needs obligations")
        else:
            if not self.reasons:
                raise _fail("a denial needs at least one reason")
            if self.granted is not None:
                raise _fail("a denial carries no obligations")
        if self.failed and self.allow:
            raise _fail("a failed decision cannot allow")

    @property
    def obligations(self) -> Obligations:
        """The obligations of an allowed decision; raises `PolicyDenied` for a denial."""
        if self.granted is None:
            raise PolicyDenied(self.reasons)
        return self.granted

    @classmethod
    def denied(cls, reasons: Sequence[str], *, revision: str) -> Decision:
        return cls(False, tuple(reasons), revision)

    @classmethod
    def engine_error(cls, what: str, *, revision: str) -> Decision:
        """The denial that stands for an engine failure: fail closed."""
        return cls(False, (f"policy engine error: {what}",), revision, failed=True)

    @classmethod
    def from_document(cls, doc: object, *, revision: str) -> Decision:
        """Read a decision document; raise `MalformedDecision` if it is not one."""
        d = _mapping(doc, "decision", frozenset({"allow", "reasons", "obligations"}))
        allow, reasons, obligations = d["allow"], d["reasons"], d["obligations"]
        if not isinstance(allow, bool):
            raise _fail("allow must be true or false")
        if not isinstance(reasons, list) or not all(isinstance(r, str) and r for r in reasons):
            raise _fail("reasons must be a list of non-empty strings")
        if not allow:
            if obligations != {}:
                raise _fail("a denial must have empty obligations")
            return cls(False, tuple(reasons), revision)
        return cls(True, tuple(reasons), revision, Obligations.from_document(obligations))
