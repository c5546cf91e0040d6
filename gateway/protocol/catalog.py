"""The catalogue of datasets and typed fields that the adapters serve.

The gateway builds it from the adapters' `Describe` answers and checks every
query against it before asking the policy, so an unknown dataset or field, or a
filter value of the wrong type, is refused with a message naming it. Adapters
run the same check on their own description of the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from gateway.errors import ConfigurationError
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import Bucket, Query
from gateway.protocol.values import Scalar
from gerbang.v1 import adapter_pb2


class FieldType(StrEnum):
    STRING = "string"
    INT = "int"
    DOUBLE = "double"
    BOOL = "bool"
    TIME = "time"


_FROM_PROTO: Final = {
    adapter_pb2.FIELD_TYPE_STRING: FieldType.STRING,
    adapter_pb2.FIELD_TYPE_INT: FieldType.INT,
    adapter_pb2.FIELD_TYPE_DOUBLE: FieldType.DOUBLE,
    adapter_pb2.FIELD_TYPE_BOOL: FieldType.BOOL,
    adapter_pb2.FIELD_TYPE_TIME: FieldType.TIME,
}
TO_PROTO: Final = {v: k for k, v in _FROM_PROTO.items()}

# The virtual field that an H3 bucket derives from a row's lat/lon.
LOCATION: Final = "location"

# Where an incident record came from. Analytics count what the public reported;
# police-initiated records measure patrol effort (gateway.analytics.tally).
INCIDENT_SOURCES: tuple[str, ...] = ("citizen_report", "emergency_call", "police_initiated")
REPORTED_SOURCES: tuple[str, ...] = ("citizen_report", "emergency_call")
_TIME_BUCKETS: Final = {
    Bucket.HOUR_OF_DAY,
    Bucket.DAY_OF_WEEK,
    Bucket.DAY,
    Bucket.WEEK,
    Bucket.MONTH,
    Bucket.SPANS,
}


def value_matches(kind: FieldType, value: Scalar) -> bool:
    match kind:
        case FieldType.STRING:
            return isinstance(value, str)
        case FieldType.INT:
            return isinstance(value, int) and not isinstance(value, bool)
        case FieldType.DOUBLE:
            return isinstance(value, int | float) and not isinstance(value, bool)
        case FieldType.BOOL:
            return isinstance(value, bool)
        case FieldType.TIME:
            return isinstance(value, dt.datetime)


@dataclass(frozen=True)
class Dataset:
    name: str
    fields: Mapping[str, FieldType]

    def check(self, query: Query) -> None:
        """Raise `InvalidQuery` for the first field or value the dataset cannot answer; an
        unknown name is not quoted (the message is logged)."""
        for name in query.fields:
            self._field(name)
        for f in query.filters:
            kind = self._field(f.field)
            for v in f.values:
                if not value_matches(kind, v):
                    raise InvalidQuery(
                        f"filter on {f.field!r} expects a {kind} value, got {type(v).__name__}"
                    )
        if query.aggregation is None:
            return
        for g in query.aggregation.group_by:
            if g.bucket is Bucket.H3:
                if g.field != LOCATION or not {"lat", "lon"} <= self.fields.keys():
                    raise InvalidQuery(
                        f"an H3 bucket needs field {LOCATION!r} of a located dataset"
                    )
                continue
            kind = self._field(g.field)
            if g.bucket in _TIME_BUCKETS and kind is not FieldType.TIME:
                raise InvalidQuery(f"bucket {g.bucket} needs a time field; {g.field!r} is {kind}")

    def _field(self, name: str) -> FieldType:
        kind = self.fields.get(name)
        if kind is None:
            raise InvalidQuery(
                f"the request names a field that dataset {self.name!r} does not have "
                "(in fields, a filter or a group-by)"
            )
        return kind

    def to_proto(self) -> adapter_pb2.DatasetDescription:
        return adapter_pb2.DatasetDescription(
            name=self.name,
            fields=[
                adapter_pb2.FieldDescription(name=n, type=TO_PROTO[t])
                for n, t in self.fields.items()
            ],
        )

    @classmethod
    def from_proto(cls, d: adapter_pb2.DatasetDescription) -> Dataset:
        return cls(d.name, {f.name: _FROM_PROTO[f.type] for f in d.fields if f.type in _FROM_PROTO})


@dataclass(frozen=True)
class Catalog:
    """Datasets by name, with the adapters that serve each."""

    datasets: Mapping[str, Dataset]
    adapters: Mapping[str, tuple[str, ...]]

    def dataset(self, name: str) -> Dataset:
        found = self.datasets.get(name)
        if found is None:
            # Never the name asked for: it is what the caller typed (ADR 0013).
            raise InvalidQuery(
                "request.dataset names no dataset the adapters serve; served: "
                + ", ".join(sorted(self.datasets))
            )
        return found

    @classmethod
    def merge(cls, described: Iterable[tuple[str, Iterable[Dataset]]]) -> Catalog:
        """Merge adapters' descriptions; adapters serving one dataset must agree on its fields."""
        datasets: dict[str, Dataset] = {}
        adapters: dict[str, list[str]] = {}
        for adapter, items in described:
            for ds in items:
                known = datasets.setdefault(ds.name, ds)
                if dict(known.fields) != dict(ds.fields):
                    raise ConfigurationError(
                        f"adapters disagree on the fields of dataset {ds.name!r}"
                    )
                adapters.setdefault(ds.name, []).append(adapter)
        return cls(datasets, {k: tuple(v) for k, v in adapters.items()})
