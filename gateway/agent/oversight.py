"""The oversight console's API: the audit log read through the gateway's AuditService.

An oversight body's agent (Kompolnas, DPRD) calls AuditService over the federation's mTLS as
its own identity, which the gateway checks against its audit readers, and hands the browser
what it needs to verify for itself: each entry's leaf bytes, its inclusion proof and the
latest cosigned checkpoint, plus the log key and witness keys pinned in `[oversight]`. The
agent does not vouch for any of it: the console checks every hash and signature client-side.

Sealed details are opened here, with the body's X25519 key, only for the clients listed in
`details_clients`; every other caller is told why not. Each call is one journal line.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.agent import problems
from gateway.agent.auth import EndUser
from gateway.agent.config import Oversight
from gateway.agent.journal import Journal
from gateway.agent.problems import Problem
from gateway.agent.service import AgentService
from gateway.client.core import refusal
from gateway.errors import ConfigurationError, GerbangError
from gateway.protocol.audit_entry import Entry
from gateway.protocol.sealed_details import DetailsKey, open_details
from gateway.tlog.merkle import leaf_hash
from gerbang.v1 import audit_pb2, audit_pb2_grpc

PAGE: Final = 1000  # AuditService.GetEntries answers at most this many per call
SCAN_LIMIT: Final = 50_000  # entries read for one listing or statistics request, at most
MAX_LIMIT: Final = 200
FILTERS: Final = ("caller", "purpose", "dataset", "decision")
TIMEOUT: Final = 30.0


class Agent(Protocol):
    """What these routes need of `routes.Agent` (which imports this module)."""

    journal: Journal

    def svc(self) -> AgentService: ...


class Caller(Protocol):
    @property
    def client(self) -> str: ...

    @property
    def user(self) -> EndUser | None: ...


Authenticate = Callable[[Request], Awaitable[Caller]]


@dataclass(frozen=True)
class Window:
    """What a listing asks for: equality on clear fields and a time range [start, end)."""

    equal: dict[str, str]
    start: str
    end: str

    def admits(self, fields: dict[str, Any]) -> bool:
        if any(str(fields.get(k, "")) != v for k, v in self.equal.items()):
            return False
        t = _utc(str(fields.get("time", "")))
        return (not self.start or t >= self.start) and (not self.end or t < self.end)


def _utc(text: str) -> str:
    """An RFC 3339 time as sortable UTC text; a time the log never writes sorts first."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def window(request: Request) -> Window:
    q = request.query_params
    equal = {k: q[k] for k in FILTERS if q.get(k)}
    bounds = []
    for name in ("from", "to"):
        text = q.get(name, "")
        if text and not _utc(text):
            raise problems.bad_request(f"{name} must be an RFC 3339 time, e.g. 2026-10-01T00:00Z")
        bounds.append(_utc(text) if text else "")
    return Window(equal, bounds[0], bounds[1])


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise problems.bad_request(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def summary(entry: Entry, fields: dict[str, Any]) -> dict[str, Any]:
    """The clear fields a person filters and reads by; the leaf itself comes with its proof."""
    return {
        "index": entry.index,
        "leaf_hash": leaf_hash(entry.leaf).hex(),
        "time": fields.get("time", ""),
        "kind": fields.get("kind", ""),
        "caller": fields.get("caller", ""),
        "purpose": fields.get("purpose", ""),
        "dataset": fields.get("dataset", ""),
        "decision": fields.get("decision", ""),
        "status": fields.get("status", ""),
        "reasons": list(fields.get("reasons", [])),
        "row_count": fields.get("row_count", 0),
        "sealed_details": fields.get("details") is not None,
    }


def week_of(time: str) -> str:
    """ISO week of an entry's time in WIB (UTC+7), the city's clock: "2026-W43"."""
    try:
        when = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    year, week, _ = when.astimezone(dt.timezone(dt.timedelta(hours=7))).isocalendar()
    return f"{year}-W{week:02d}"


class AuditReader:
    """AuditService calls on the agent's own channel, their failures as problems."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.stub = audit_pb2_grpc.AuditServiceStub(channel)

    async def call(self, method: str, message: Any) -> Any:
        try:
            return await getattr(self.stub, method)(message, timeout=TIMEOUT)
        except grpc.aio.AioRpcError as e:
            raise problems.from_error(refusal(e)) from e

    async def size(self) -> int:
        answer = await self.call("GetLatestCheckpoint", audit_pb2.GetLatestCheckpointRequest())
        return int(answer.size)

    async def backwards(self, before: int, limit: int) -> list[Entry]:
        """Up to `limit` entries below `before`, newest first."""
        out: list[Entry] = []
        end = before
        while end > 0 and len(out) < limit:
            start = max(0, end - PAGE, end - (limit - len(out)))
            answer = await self.call(
                "GetEntries", audit_pb2.GetEntriesRequest(start=start, end=end)
            )
            page = [Entry(e.index, e.leaf, e.entry_hash) for e in answer.entries]
            out.extend(reversed(page))
            end = start
        return out


def _fields(entries: list[Entry]) -> Iterator[tuple[Entry, dict[str, Any]]]:
    for e in entries:
        try:
            yield e, e.fields()
        except GerbangError:
            yield e, {"kind": "unreadable"}


class OversightApi:
    def __init__(self, agent: Agent, config: Oversight | None, authenticate: Authenticate) -> None:
        self.agent = agent
        self.authenticate = authenticate
        self.config = config
        self.key = None
        if config is not None and config.details_key is not None:
            if not config.details_key.exists():
                # Never made here: a new key would open nothing sealed to the body's real one.
                raise ConfigurationError(
                    f"[oversight] details_key {config.details_key} does not exist"
                )
            self.key = DetailsKey.load_or_create(config.details_key)

    def reader(self) -> AuditReader:
        return AuditReader(self.agent.svc().client.channel)

    def details_refusal(self, client: str) -> str | None:
        """Why this client may not open sealed details, or None if it may."""
        if self.config is None or self.key is None:
            return "agen ini tidak memegang kunci pengawas / this agent holds no oversight key"
        if client not in self.config.details_clients:
            return (
                f"peran klien {client!r} tidak boleh membuka rincian tersegel / the role of "
                f"client {client!r} may not open sealed details ([oversight] details_clients)"
            )
        return None

    def endpoint(
        self, operation: str, handler: Callable[[Request, str], Awaitable[dict[str, Any]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate, answer, and journal the call either way."""

        async def run(request: Request) -> Response:
            who = await self.authenticate(request)
            asked = dict(request.query_params) | dict(request.path_params)
            try:
                doc = await handler(request, who.client)
            except Problem as p:
                await self.agent.journal.record(
                    client=who.client,
                    user=who.user,
                    operation=operation,
                    request=asked,
                    status=p.status,
                    detail=p.detail,
                )
                raise
            await self.agent.journal.record(
                client=who.client, user=who.user, operation=operation, request=asked, status=200
            )
            return JSONResponse(doc, headers={"Cache-Control": "no-store"})

        return run

    async def settings(self, request: Request, client: str) -> dict[str, Any]:
        refused = self.details_refusal(client)
        return {
            "log_key": self.config.log_key if self.config else None,
            "witnesses": list(self.config.witnesses) if self.config else [],
            "details": {"allowed": refused is None, "reason": refused},
        }

    async def entries(self, request: Request, client: str) -> dict[str, Any]:
        asked = window(request)
        limit = _int(request, "limit", 50, 1, MAX_LIMIT)
        reader = self.reader()
        size = await reader.size()
        before = _int(request, "before", size, 0, size)
        found: list[dict[str, Any]] = []
        scanned, cursor = 0, before
        while cursor > 0 and len(found) < limit and scanned < SCAN_LIMIT:
            page = await reader.backwards(cursor, PAGE)
            for e, fields in _fields(page):
                cursor = e.index
                scanned += 1
                if asked.admits(fields):
                    found.append(summary(e, fields))
                    if len(found) == limit:
                        break
        return {
            "size": size,
            "entries": found,
            "scanned": scanned,
            "next_before": cursor if cursor > 0 else None,
        }

    async def statistics(self, request: Request, client: str) -> dict[str, Any]:
        asked = window(request)
        reader = self.reader()
        size = await reader.size()
        counts: dict[str, Counter[tuple[str, str]]] = {
            "caller": Counter(),
            "purpose": Counter(),
            "week": Counter(),
        }
        scanned, cursor = 0, size
        while cursor > 0 and scanned < SCAN_LIMIT:
            page = await reader.backwards(cursor, PAGE)
            for e, fields in _fields(page):
                cursor, scanned = e.index, scanned + 1
                if fields.get("kind") == "policy_reload" or not asked.admits(fields):
                    continue
                denied = "denials" if fields.get("decision") != "allow" else "allowed"
                keys = {
                    "caller": str(fields.get("caller", "")),
                    "purpose": str(fields.get("purpose", "")) or "-",
                    "week": week_of(str(fields.get("time", ""))),
                }
                for group, key in keys.items():
                    counts[group][(key, "requests")] += 1
                    counts[group][(key, denied)] += 1

        def table(group: str) -> list[dict[str, Any]]:
            c = counts[group]
            keys = sorted({k for k, _ in c})
            return [
                {group: k, "requests": c[(k, "requests")], "denials": c[(k, "denials")]}
                for k in keys
            ]

        return {
            "size": size,
            "scanned": scanned,
            "complete": cursor == 0,
            "by_caller": table("caller"),
            "by_purpose": table("purpose"),
            "by_week": table("week"),
        }

    async def checkpoint(self, request: Request, client: str) -> dict[str, Any]:
        a = await self.reader().call("GetLatestCheckpoint", audit_pb2.GetLatestCheckpointRequest())
        return {
            "size": a.size,
            "checkpoint_size": a.checkpoint_size,
            "root_hash": a.root_hash.hex(),
            "note": a.note.decode("utf-8", errors="replace"),
        }

    async def proof(self, request: Request, client: str) -> dict[str, Any]:
        index = _path_index(request)
        reader = self.reader()
        p = await reader.call("GetInclusionProof", audit_pb2.GetInclusionProofRequest(index=index))
        got = await reader.call(
            "GetEntries", audit_pb2.GetEntriesRequest(start=index, end=index + 1)
        )
        if not got.entries:
            raise Problem(404, "no-entry", "Entri tidak ada / No such entry", f"no entry {index}")
        return {
            "leaf_index": p.leaf_index,
            "tree_size": p.tree_size,
            "leaf": base64.b64encode(got.entries[0].leaf).decode(),
            "proof": [base64.b64encode(h).decode() for h in p.proof],
            "checkpoint": p.checkpoint.decode("utf-8", errors="replace"),
        }

    async def details(self, request: Request, client: str) -> dict[str, Any]:
        index = _path_index(request)
        if (why := self.details_refusal(client)) is not None:
            raise Problem(
                403, "details-not-allowed", "Tidak diizinkan / Not allowed", why, reasons=(why,)
            )
        assert self.key is not None
        reader = self.reader()
        got = await reader.call(
            "GetEntries", audit_pb2.GetEntriesRequest(start=index, end=index + 1)
        )
        if not got.entries:
            raise Problem(404, "no-entry", "Entri tidak ada / No such entry", f"no entry {index}")
        entry = got.entries[0]
        view = Entry(index, entry.leaf, hashlib.sha256(entry.leaf).digest()).fields().get("details")
        if not view:
            raise Problem(
                404, "no-details", "Tanpa rincian / No details", f"entry {index} has none sealed"
            )
        sealed = await reader.call(
            "GetSealedDetails", audit_pb2.GetSealedDetailsRequest(index=index)
        )
        try:
            opened = await asyncio.to_thread(open_details, sealed.blob, view, self.key.private_key)
        except GerbangError as e:
            raise Problem(
                422, "details-unreadable", "Rincian tidak dapat dibuka / Details do not open",
                str(e), reasons=(str(e),),
            ) from e  # fmt: skip
        return {"index": index, "details": opened, "sha256": view.get("sha256")}


def _path_index(request: Request) -> int:
    text = str(request.path_params.get("index", ""))
    if not text.isdigit() or int(text) >= 2**63:
        raise problems.bad_request("the entry index must be a whole number")
    return int(text)


def oversight_routes(
    agent: Agent, config: Oversight | None, authenticate: Authenticate
) -> list[Route]:
    api = OversightApi(agent, config, authenticate)
    table = (
        ("/v1/audit/settings", "audit-settings", api.settings, "GET"),
        ("/v1/audit/entries", "audit-entries", api.entries, "GET"),
        ("/v1/audit/statistics", "audit-statistics", api.statistics, "GET"),
        ("/v1/audit/checkpoint", "audit-checkpoint", api.checkpoint, "GET"),
        ("/v1/audit/entries/{index}/proof", "audit-proof", api.proof, "GET"),
        ("/v1/audit/entries/{index}/details", "audit-details", api.details, "POST"),
    )
    return [Route(path, api.endpoint(op, h), methods=[m]) for path, op, h, m in table]
