"""The caller's client library: ask Gerbang a question, get rows and a receipt.

    async with GerbangClient.connect("127.0.0.1:7443", pki_dir, "dishub-atcs") as client:
        result = await client.query(Query(...))
        result.rows, result.receipt

It speaks mTLS with the caller's certificate, checks each adapter's payload
against the digest the gateway audited, decodes the results and merges the
federated parts: record-level rows are concatenated, group counts summed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from gateway.errors import GerbangError, TransportError, UntrustedInputError
from gateway.model import Query, Scalar, rows_from_result
from gateway.tls import TlsFiles
from gerbang.v1 import common_pb2, query_pb2, query_pb2_grpc

Row = dict[str, Scalar | None]


class QueryRefused(GerbangError):
    """The gateway refused the request; `code` and `message` are its gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons the gateway gave, without its prefix and request reference."""
        text, _, _ = self.message.rpartition(" [request ")
        text = text or self.message
        for prefix in ("denied by policy: ", "invalid request: "):
            text = text.removeprefix(prefix)
        return tuple(r for r in text.split("; ") if r)

    @property
    def audit_index(self) -> int | None:
        """The audit entry that recorded the refusal, when the gateway named one."""
        _, sep, tail = self.message.rpartition(", audit entry ")
        digits = tail.rstrip("]")
        return int(digits) if sep and digits.isdigit() else None


@dataclass(frozen=True)
class Receipt:
    """Where the request sits in the audit log: prove it with AuditService.GetInclusionProof."""

    leaf_index: int
    entry_hash: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class QueryResult:
    rows: list[Row]
    columns: tuple[str, ...]
    receipt: Receipt
    request_id: str
    granted_fields: tuple[str, ...]
    policy_revision: str
    adapters: tuple[str, ...]
    suppressed_groups: int


def merge(parts: Sequence[common_pb2.ResultSet]) -> tuple[tuple[str, ...], list[Row], int]:
    """Merge the federated parts of one answer.

    Aggregates (a trailing `count` column) are summed per group; `exists` is
    or-ed; record-level rows are concatenated.
    """
    if not parts:
        return (), [], 0
    columns = tuple(parts[0].columns)
    if any(tuple(p.columns) != columns for p in parts):
        raise UntrustedInputError("adapters answered with different columns")
    suppressed = sum(p.suppressed_groups for p in parts)
    decoded = [rows_from_result(p) for p in parts]
    if columns == ("exists",):
        hit = any(bool(r["exists"]) for rows in decoded for r in rows)
        return columns, [{"exists": hit}], suppressed
    if columns and columns[-1] == "count":
        keys = columns[:-1]
        totals: dict[tuple[Any, ...], int] = {}
        for rows in decoded:
            for r in rows:
                key = tuple(r[k] for k in keys)
                count = r["count"]
                totals[key] = totals.get(key, 0) + (count if isinstance(count, int) else 0)
        merged = [
            dict(zip(keys, key, strict=True)) | {"count": n}
            for key, n in sorted(totals.items(), key=_sort_key)
        ]
        return columns, merged, suppressed
    return columns, [r for rows in decoded for r in rows], suppressed


def _sort_key(item: tuple[tuple[Any, ...], int]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in item[0])


class GerbangClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._stub = query_pb2_grpc.QueryServiceStub(channel)

    @classmethod
    def connect(cls, address: str, pki_dir: Path, identity: str) -> GerbangClient:
        creds = TlsFiles.load(pki_dir, identity).channel_credentials()
        return cls(grpc.aio.secure_channel(address, creds))

    async def __aenter__(self) -> GerbangClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def query_raw(
        self, request: query_pb2.QueryRequest, timeout: float = 60.0
    ) -> query_pb2.QueryResponse:
        try:
            response: query_pb2.QueryResponse = await self._stub.Query(request, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            if (
                e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                and not e.details()
            ):
                raise TransportError(f"gateway unreachable: {e.code().name}") from e
            raise QueryRefused(e.code(), e.details() or "") from e
        return response

    async def query(self, query: Query, timeout: float = 60.0) -> QueryResult:
        response = await self.query_raw(query.to_proto(), timeout)
        parts = []
        for r in response.results:
            if not hmac.compare_digest(hashlib.sha256(r.payload).digest(), r.payload_sha256):
                raise UntrustedInputError(
                    f"result from {r.adapter_id} does not match its audited digest"
                )
            parts.append(common_pb2.ResultSet.FromString(r.payload))
        columns, rows, suppressed = merge(parts)
        return QueryResult(
            rows=rows,
            columns=columns,
            receipt=Receipt(
                response.receipt.leaf_index, response.receipt.entry_hash, response.receipt.leaf_hash
            ),
            request_id=response.request_id,
            granted_fields=tuple(response.granted_fields),
            policy_revision=response.policy_revision,
            adapters=tuple(r.adapter_id for r in response.results),
            suppressed_groups=suppressed,
        )
