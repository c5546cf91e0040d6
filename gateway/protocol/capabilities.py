"""What a caller may ask: its purposes and what each allows, read from the policy registry.

`describe` (pure) turns the registry data a policy engine evaluates (`data.registry` of the
bundle in force) into the `CapabilitiesResponse` of one caller: each purpose it is permitted,
with the exact legal basis a request must carry, the datasets and fields the purpose grants,
its measures, operations and generalisation, its limits, and, where the purpose spends a
privacy budget, what is left of it (`budget_left`, computed by the gateway from its ledger).
The registry is not copied anywhere else: the gateway reads it from the same bundle, and the
same revision, as its engine. `Capabilities.from_proto` is the client library's typed view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import PolicyDenied
from gateway.protocol.model import Filter, Op, Scalar
from gateway.protocol.release import PrivacyBudget as ReleaseBudget
from gerbang.v1 import query_pb2

# (purpose, its budget) -> (the data period holding now, epsilon left on it)
BudgetLeft = Callable[[str, ReleaseBudget], tuple[str, float]]


@dataclass(frozen=True)
class DatasetAllowance:
    name: str
    fields: tuple[str, ...]
    pseudonymised_fields: tuple[str, ...]
    # Filters the policy adds to every plan for this dataset.
    row_filters: tuple[Filter, ...]


@dataclass(frozen=True)
class PurposeGeneralisation:
    place: str
    time: str
    h3_max_resolution: int | None


@dataclass(frozen=True)
class PurposeLimits:
    max_rows: int
    min_cell_count: int
    retention_days: int
    max_window_days: int | None
    max_span_days: int | None


@dataclass(frozen=True)
class PrivacyBudget:
    epsilon: float  # per release
    period: str  # the data period accounts are kept per
    current_period: str
    remaining: float  # on the current data period
    per_caller: float
    per_purpose: float
    hold: str


@dataclass(frozen=True)
class PurposeCapability:
    name: str
    description: str
    legal_basis: str
    aggregate_only: bool
    case_reference_required: bool
    requires_user: bool
    measures: tuple[str, ...]
    operations: tuple[str, ...]
    generalisation: PurposeGeneralisation
    datasets: tuple[DatasetAllowance, ...]
    limits: PurposeLimits
    privacy_budget: PrivacyBudget | None


@dataclass(frozen=True)
class Capabilities:
    """What the calling identity may ask, as of `policy_revision`."""

    request_id: str
    caller: str
    organisation: str
    system: str
    jurisdiction_kota: tuple[str, ...]
    jurisdiction_kecamatan: tuple[str, ...]
    purposes: tuple[PurposeCapability, ...]
    policy_revision: str
    audit_index: int
    audit_leaf_hash: bytes

    def purpose(self, name: str) -> PurposeCapability:
        for p in self.purposes:
            if p.name == name:
                return p
        raise KeyError(f"purpose {name!r} is not among this caller's capabilities")

    @classmethod
    def from_proto(cls, r: query_pb2.CapabilitiesResponse) -> Capabilities:
        return cls(
            request_id=r.request_id,
            caller=r.caller,
            organisation=r.organisation,
            system=r.system,
            jurisdiction_kota=tuple(r.jurisdiction_kota),
            jurisdiction_kecamatan=tuple(r.jurisdiction_kecamatan),
            purposes=tuple(_purpose_from_proto(p) for p in r.purposes),
            policy_revision=r.policy_revision,
            audit_index=r.receipt.leaf_index,
            audit_leaf_hash=r.receipt.leaf_hash,
        )


def _purpose_from_proto(p: query_pb2.PurposeCapability) -> PurposeCapability:
    g, lim = p.generalisation, p.limits
    return PurposeCapability(
        name=p.name,
        description=p.description,
        legal_basis=p.legal_basis,
        aggregate_only=p.aggregate_only,
        case_reference_required=p.case_reference_required,
        requires_user=p.requires_user,
        measures=tuple(p.measures),
        operations=tuple(p.operations),
        generalisation=PurposeGeneralisation(
            g.place, g.time, g.h3_max_resolution if g.HasField("h3_max_resolution") else None
        ),
        datasets=tuple(
            DatasetAllowance(
                d.name,
                tuple(d.fields),
                tuple(d.pseudonymised_fields),
                tuple(Filter.from_proto(f) for f in d.row_filters),
            )
            for d in p.datasets
        ),
        limits=PurposeLimits(
            lim.max_rows,
            lim.min_cell_count,
            lim.retention_days,
            lim.max_window_days if lim.HasField("max_window_days") else None,
            lim.max_span_days if lim.HasField("max_span_days") else None,
        ),
        privacy_budget=PrivacyBudget(
            p.privacy_budget.epsilon,
            p.privacy_budget.period,
            p.privacy_budget.current_period,
            p.privacy_budget.remaining,
            p.privacy_budget.per_caller,
            p.privacy_budget.per_purpose,
            p.privacy_budget.hold,
        )
        if p.HasField("privacy_budget")
        else None,
    )


# --- the gateway's side (pure) --------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def describe(
    registry: Mapping[str, Any], caller: str, budget_left: BudgetLeft
) -> query_pb2.CapabilitiesResponse:
    """The capabilities of `caller` under `registry` (the bundle's `data.registry`).

    Raises `PolicyDenied` when the caller is not registered: it may ask nothing.
    """
    callers = _mapping(registry.get("callers"))
    spec = callers.get(caller)
    if not isinstance(spec, Mapping):
        raise PolicyDenied((f"caller '{caller}' is not registered",))
    purposes = _mapping(registry.get("purposes"))
    jurisdiction = _mapping(spec.get("jurisdiction"))
    out = query_pb2.CapabilitiesResponse(
        caller=caller,
        organisation=str(spec.get("organisation", "")),
        system=str(spec.get("system", "")),
        jurisdiction_kota=sorted(_strings(jurisdiction.get("kota"))),
        jurisdiction_kecamatan=sorted(_strings(jurisdiction.get("kecamatan"))),
    )
    for name in sorted(_strings(spec.get("purposes"))):
        p = purposes.get(name)
        if isinstance(p, Mapping):
            out.purposes.append(_purpose(name, p, budget_left))
    return out


def _purpose(
    name: str, p: Mapping[str, Any], budget_left: BudgetLeft
) -> query_pb2.PurposeCapability:
    g = _mapping(p.get("generalisation"))
    out = query_pb2.PurposeCapability(
        name=name,
        description=str(p.get("description", "")),
        legal_basis=str(p.get("legal_basis", "")),
        aggregate_only=p.get("aggregate_only") is True,
        case_reference_required=p.get("case_reference_required") is True,
        requires_user=p.get("requires_user") is True,
        measures=_strings(p.get("measures")),
        operations=sorted(_strings(p.get("operations"))),
        generalisation=query_pb2.GeneralisationCapability(
            place=str(g.get("place", "")), time=str(g.get("time", ""))
        ),
        limits=query_pb2.PurposeLimits(
            max_rows=int(p.get("max_rows", 0)),
            min_cell_count=int(p.get("min_cell_count", 0)),
            retention_days=int(p.get("retention_days", 0)),
        ),
    )
    if g.get("h3_max_resolution") is not None:
        out.generalisation.h3_max_resolution = int(g["h3_max_resolution"])
    if p.get("max_window_days") is not None:
        out.limits.max_window_days = int(p["max_window_days"])
    if p.get("max_span_days") is not None:
        out.limits.max_span_days = int(p["max_span_days"])
    for ds_name, grant in sorted(_mapping(p.get("datasets")).items()):
        gr = _mapping(grant)
        out.datasets.append(
            query_pb2.DatasetCapability(
                name=ds_name,
                fields=sorted(_strings(gr.get("fields"))),
                pseudonymised_fields=sorted(_strings(gr.get("pseudonymised_fields"))),
                row_filters=[_row_filter(f).to_proto() for f in gr.get("row_filters") or []],
            )
        )
    if p.get("epsilon") is not None:
        budget = ReleaseBudget.from_registry(p.get("epsilon"), p.get("privacy_budget"))
        current, remaining = budget_left(name, budget)
        out.privacy_budget.CopyFrom(
            query_pb2.PrivacyBudgetCapability(
                epsilon=budget.epsilon,
                period=budget.period,
                current_period=current,
                remaining=remaining,
                per_caller=budget.per_caller,
                per_purpose=budget.per_purpose,
                hold=budget.hold,
            )
        )
    return out


def _row_filter(spec: Mapping[str, Any]) -> Filter:
    values: tuple[Scalar, ...] = tuple(spec.get("values") or ())
    return Filter(str(spec.get("field")), Op(str(spec.get("op"))), values)


__all__ = [
    "Capabilities",
    "DatasetAllowance",
    "PrivacyBudget",
    "PurposeCapability",
    "PurposeGeneralisation",
    "PurposeLimits",
    "describe",
]
