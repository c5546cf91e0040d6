"""Audit entries and their canonical leaf encoding (pure; no I/O).

An `AuditRecord` is what the gateway reports about one request, allowed or
denied. The sequencer gives it an index and links it to the previous entry;
the resulting leaf is canonical JSON (docs/adr/0001), and the entry hash is
SHA-256 of the leaf. The chain is: leaf i carries the entry hash of leaf i-1.

No personal data goes into a leaf in clear: filter values are recorded only
as keyed commitments (HMAC-SHA-256 under the log's commitment key), so the log
can later prove which values were asked for without revealing them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gateway.errors import AuditIntegrityError, GerbangError
from gateway.protocol.canonical import canonical_json
from gateway.protocol.model import Filter, Query, Scalar, time_text, typed_value
from gateway.protocol.sealed_details import SealedDetails

LEAF_VERSION: Final = 1
GENESIS: Final = bytes(32)
MAX_LEAF_BYTES: Final = 0xFFFF
"""C2SP tlog-tiles §Log entries: an entry bundle's length prefix is a uint16."""


class AuditEntryTooLarge(GerbangError):
    """A record's leaf would exceed 65,535 bytes: it cannot be logged, so nothing is released."""


def commit_value(key: bytes, field_name: str, value: Scalar) -> str:
    """Keyed commitment to one filter value: hex HMAC-SHA-256 over its canonical form."""
    return hmac.new(
        key, canonical_json([field_name, typed_value(value)]), hashlib.sha256
    ).hexdigest()


def describe_filters(key: bytes, filters: Sequence[Filter]) -> list[dict[str, Any]]:
    return [
        {
            "field": f.field,
            "op": str(f.op),
            "values": [commit_value(key, f.field, v) for v in f.values],
        }
        for f in filters
    ]


def _clear(value: Scalar) -> Any:
    # Canonical JSON has no floats: a coordinate is kept as its shortest round-trip text.
    if isinstance(value, float):
        return repr(value)
    return time_text(value) if isinstance(value, dt.datetime) else value


def query_details(query: Query) -> dict[str, Any]:
    """The filter values in clear: sealed for oversight, never put in a leaf as they are."""
    return {
        "filters": [
            {"field": f.field, "op": str(f.op), "values": [_clear(v) for v in f.values]}
            for f in query.filters
        ]
    }


def describe_query(key: bytes, query: Query) -> dict[str, Any]:
    """The audit view of a request: shape in clear, filter values committed."""
    agg = query.aggregation
    return {
        "dataset": query.dataset,
        "fields": list(query.fields),
        "filters": describe_filters(key, query.filters),
        "aggregation": None if agg is None else agg.document(),
        "limit": query.limit,
    }


@dataclass(frozen=True)
class ResultDigest:
    adapter: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class AuditRecord:
    """What the gateway logs about one event, before it is sequenced."""

    time: dt.datetime
    kind: str  # "query", "policy_reload", ...
    request_id: str
    caller: str
    decision: str  # "allow", "deny", "error"
    status: str  # the gRPC status code name returned to the caller
    purpose: str = ""
    legal_basis: str = ""
    case_reference: str = ""
    dataset: str = ""
    request: Mapping[str, Any] = field(default_factory=dict)
    fields_granted: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    policy_revision: str = ""
    adapters: tuple[str, ...] = ()
    results: tuple[ResultDigest, ...] = ()
    # Details for oversight, sealed to its key; the leaf keeps only their digest.
    sealed: SealedDetails | None = None
    retention_days: int = 0
    # SHA-256 (hex) of the caller's signed canonical request, binding entry and evidence.
    request_hash: str = ""
    # The end user's keyed commitment (hex), when the signed request named one.
    user_commitment: str = ""

    @property
    def row_count(self) -> int:
        return sum(r.rows for r in self.results)

    def body(self) -> dict[str, Any]:
        body = {
            "time": time_text(self.time),
            "kind": self.kind,
            "request_id": self.request_id,
            "caller": self.caller,
            "decision": self.decision,
            "status": self.status,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "case_reference": self.case_reference,
            "dataset": self.dataset,
            "request": dict(self.request),
            "fields_granted": list(self.fields_granted),
            "reasons": list(self.reasons),
            "policy_revision": self.policy_revision,
            "adapters": list(self.adapters),
            "results": [
                {"adapter": r.adapter, "sha256": r.sha256, "rows": r.rows} for r in self.results
            ],
            "row_count": self.row_count,
            "details": None if self.sealed is None else self.sealed.leaf_view(),
            "request_hash": self.request_hash,
        }
        if self.user_commitment:
            # Only requests naming a user carry it, so every other leaf keeps its encoding.
            body["user_commitment"] = self.user_commitment
        return body


@dataclass(frozen=True, slots=True)  # slots: a full verification builds one per entry
class Entry:
    """A sequenced entry: its index, its leaf bytes and its hash."""

    index: int
    leaf: bytes
    entry_hash: bytes

    def fields(self) -> dict[str, Any]:
        """The decoded leaf. Raises AuditIntegrityError if it is not a valid leaf."""
        try:
            doc = orjson.loads(self.leaf)
        except ValueError as e:
            raise AuditIntegrityError(
                f"entry {self.index}: leaf is not JSON", index=self.index
            ) from e
        if not isinstance(doc, dict) or doc.get("v") != LEAF_VERSION:
            raise AuditIntegrityError(f"entry {self.index}: unknown leaf version", index=self.index)
        return doc


def seal_body(body: Mapping[str, Any], index: int, prev_hash: bytes) -> Entry:
    """Sequence a record's body as entry `index` after the entry whose hash is `prev_hash`."""
    leaf = canonical_json({"v": LEAF_VERSION, "index": index, "prev": prev_hash.hex(), **body})
    if len(leaf) > MAX_LEAF_BYTES:
        raise AuditEntryTooLarge(
            f"audit entry {index} would be {len(leaf)} bytes; a tlog-tiles entry holds at most "
            f"{MAX_LEAF_BYTES}, so it cannot be logged and the request fails"
        )
    return Entry(index, leaf, hashlib.sha256(leaf).digest())
