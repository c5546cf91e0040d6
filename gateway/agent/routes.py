"""The HTTP API: thin translations between HTTP and `AgentService` (openapi.json documents it).

Every operation is a POST of a JSON body (it spends privacy budget and writes an audit entry,
so it is neither safe nor idempotent), answered in the form negotiated by `formats`; the
warning stream answers as Server-Sent Events. Each request is, in order: the client
authenticated, the end user verified, the form and the body checked, the gateway asked through
the service's one path, the journal line written, and only then the answer released.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.agent import asks, formats, problems
from gateway.agent.alerts import AlertBook, Sent, WebhookSender, alert_id
from gateway.agent.auth import USER_HEADER, ClientTokens, EndUser, NotAuthenticated, UserVerifier
from gateway.agent.config import Oversight
from gateway.agent.journal import Journal
from gateway.agent.oversight import oversight_routes
from gateway.agent.problems import Problem
from gateway.agent.service import AgentService, Answer
from gateway.agent.web import console_routes
from gateway.errors import GerbangError
from gateway.protocol.model import InvalidQuery

MAX_BODY = 64 * 1024
OPERATIONS: tuple[asks.OperationName, ...] = (
    "query",
    "heatmap",
    "patterns",
    "risk-scores",
    "patrol-plan",
    "security-index",
)
MTLS_CLIENT = "mtls"
LOG = logging.getLogger("gerbang.agent")


@dataclass
class Agent:
    """Everything a route needs; built by `server.build_app`."""

    tokens: ClientTokens
    users: UserVerifier | None
    users_required: bool
    mtls_clients: bool
    journal: Journal
    service: AgentService | None = None
    alerts: AlertBook = field(default_factory=AlertBook)
    webhook: WebhookSender | None = None
    basemap: Path | None = None
    oversight: Oversight | None = None

    def svc(self) -> AgentService:
        if self.service is None:
            raise Problem(503, "starting", "Agen sedang mulai / Agent starting", "not ready yet")
        return self.service


@dataclass(frozen=True)
class Caller:
    client: str
    user: EndUser | None


async def caller(agent: Agent, request: Request) -> Caller:
    """The authenticated client and the end user it names, or a 401 problem. A known client
    naming no valid user is journalled: repeated attempts are for the organisation to see."""
    try:
        authorization = request.headers.get("authorization")
        if authorization is None and agent.mtls_clients:
            # uvicorn only completed the handshake for a certificate from the client CA.
            client = MTLS_CLIENT
        else:
            client = agent.tokens.authenticate(authorization)
    except NotAuthenticated as e:
        raise problems.unauthenticated(str(e)) from e
    id_token = request.headers.get(USER_HEADER)
    user = None
    try:
        if agent.users is not None and (agent.users_required or id_token):
            user = agent.users.verify(id_token)
    except NotAuthenticated as e:
        problem = problems.unauthenticated(str(e))
        await agent.journal.record(
            client=client,
            user=None,
            operation=request.url.path,
            request={},
            status=problem.status,
            detail=problem.detail,
        )
        raise problem from e
    return Caller(client, user)


async def body_of(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise problems.bad_request(f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise problems.bad_request(f"the body is not JSON: {e}") from e


def parse(operation: asks.OperationName, body: Any) -> asks.Ask:
    try:
        return asks.parse(operation, body)
    except (InvalidQuery, ValueError) as e:
        raise problems.bad_request(str(e)) from e


async def first_answer(
    agent: Agent, who: Caller, operation: str, body: Any, ask: asks.Ask
) -> tuple[Answer, AsyncGenerator[Answer, None]]:
    """The first answer of the gateway (journalled either way), or the problem it is."""
    stream = agent.svc().answers(ask, who.user.commitment if who.user else None)
    try:
        answer = await anext(stream)
    except Exception as e:
        await stream.aclose()
        if isinstance(e, GerbangError | ValueError):
            problem = problems.from_error(e)
        else:  # a bug of ours: journalled and logged, its text kept from the client
            LOG.exception("unexpected error answering %s", operation)
            problem = problems.internal(type(e).__name__)
        await agent.journal.record(
            client=who.client,
            user=who.user,
            operation=operation,
            request=body,
            status=problem.status,
            request_id=problem.request_id,
            audit_entry=problem.audit_entry,
            detail=problem.detail,
        )
        raise problem from e
    agent.svc().keep(who.client, answer)
    await agent.journal.record(
        client=who.client,
        user=who.user,
        operation=operation,
        request=body,
        status=200,
        request_id=answer.result.request_id,
        audit_entry=answer.result.receipt.leaf_index,
    )
    return answer, stream


def operation_route(
    agent: Agent, operation: asks.OperationName
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        who = await caller(agent, request)
        form = formats.negotiate(request)
        body = await body_of(request)
        answer, stream = await first_answer(agent, who, operation, body, parse(operation, body))
        await stream.aclose()
        return formats.render(answer, form)

    return endpoint


def sse(event: str, data: dict[str, Any], ident: str = "") -> bytes:
    """One Server-Sent Event (HTML Living Standard, section 9.2)."""
    lines = [f"event: {event}"]
    if ident:
        lines.append(f"id: {ident}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode()


def warnings_route(agent: Agent) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        who = await caller(agent, request)
        accept = request.headers.get("accept", "text/event-stream")
        if "text/event-stream" not in accept and "*/*" not in accept:
            raise Problem(
                406,
                "not-acceptable",
                "Format tidak tersedia / Format not available",
                "the warning stream is served as text/event-stream only",
            )
        body = await body_of(request)
        first, stream = await first_answer(
            agent, who, "watch-warnings", body, parse("watch-warnings", body)
        )

        async def events() -> AsyncIterator[bytes]:
            answer = first
            try:
                while True:
                    agent.svc().keep(who.client, answer)
                    doc = answer.facts() | {"result": answer.value}
                    publish(agent, who, doc)
                    yield sse("day", doc, str(answer.day or ""))
                    answer = await anext(stream)
            except StopAsyncIteration:
                yield sse("end", {})
            except GerbangError as e:
                yield sse("problem", problems.from_error(e).document())
            finally:
                await stream.aclose()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return endpoint


def publish(agent: Agent, who: Caller, doc: dict[str, Any]) -> None:
    """Name each alert of a day's answer, keep it for acknowledgement, offer it to the
    webhook (which never makes the stream wait)."""
    facts = {k: v for k, v in doc.items() if k != "result"}
    for alert in doc["result"]["alerts"]:
        alert["id"] = alert_id(alert)
        alert["acknowledged"] = agent.alerts.acknowledged(who.client, alert["id"])
        receipt = doc["audit_receipt"]["leaf_index"]
        agent.alerts.add(Sent(who.client, alert, doc["request_id"], receipt))
        if agent.webhook is not None:
            agent.webhook.offer(facts | {"alert": alert})


def acknowledge_route(agent: Agent) -> Callable[[Request], Awaitable[Response]]:
    """`POST /v1/acknowledge {"alert": id}`: the person signed in has seen the alert; the
    journal records who, when, and the answer that released it (ADR 0020)."""

    async def endpoint(request: Request) -> Response:
        who = await caller(agent, request)
        body = await body_of(request)
        ident = body.get("alert") if isinstance(body, dict) else None
        if not isinstance(ident, str) or not 0 < len(ident) <= 200:
            raise problems.bad_request('the body must be {"alert": "<the alert\'s id>"}')
        sent = agent.alerts.get(who.client, ident)
        if sent is None:
            problem = Problem(
                404,
                "no-alert",
                "Peringatan tidak ditemukan / No such alert",
                "this agent sent no alert with that id to this client since it started",
            )
            await agent.journal.record(
                client=who.client,
                user=who.user,
                operation="acknowledge",
                request={"alert": ident},
                status=404,
                detail=problem.detail,
            )
            raise problem
        at = await agent.journal.record(
            client=who.client,
            user=who.user,
            operation="acknowledge",
            request={"alert": ident},
            status=200,
            request_id=sent.request_id,
            audit_entry=sent.audit_entry,
        )
        by = who.user.subject if who.user else None
        agent.alerts.acknowledge(who.client, ident, by, at)
        return JSONResponse(
            {
                "alert": ident,
                "acknowledged_by": by,
                "acknowledged_at": at,
                "client": who.client,
                "request_id": sent.request_id,
                "audit_entry": sent.audit_entry,
            }
        )

    return endpoint


def evidence_route(agent: Agent) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        who = await caller(agent, request)
        request_id = request.path_params["request_id"]
        try:
            bundle = await agent.svc().evidence(who.client, request_id)
        except GerbangError as e:
            raise problems.from_error(e) from e
        if bundle is None:
            raise Problem(
                404,
                "no-evidence",
                "Bukti tidak ditemukan / No such evidence",
                "this agent holds no answer with that request id for this client",
                request_id=request_id[:64],
            )
        return JSONResponse(
            bundle,
            headers={"Content-Disposition": f'attachment; filename="{request_id}.json"'},
        )

    return endpoint


def capabilities_route(agent: Agent) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        who = await caller(agent, request)
        try:
            doc = await agent.svc().capabilities(who.user.commitment if who.user else None)
        except GerbangError as e:
            raise problems.from_error(e) from e
        return JSONResponse(doc)

    return endpoint


def static(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    data = resources.files("gateway.agent").joinpath(name).read_bytes()

    async def endpoint(request: Request) -> Response:
        return Response(data, media_type=media_type)

    return endpoint


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def docs(request: Request) -> Response:
    page = resources.files("gateway.agent").joinpath("docs/index.html").read_text()
    return HTMLResponse(page)


def routes(agent: Agent) -> list[Route]:
    out = [
        Route(f"/v1/{name}", operation_route(agent, name), methods=["POST"]) for name in OPERATIONS
    ]
    return [
        *out,
        Route("/v1/watch-warnings", warnings_route(agent), methods=["POST"]),
        Route("/v1/acknowledge", acknowledge_route(agent), methods=["POST"]),
        Route("/v1/evidence/{request_id}", evidence_route(agent), methods=["GET"]),
        Route("/v1/capabilities", capabilities_route(agent), methods=["GET"]),
        Route("/openapi.json", static("openapi.json", "application/json"), methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/docs/docs.js", static("docs/docs.js", "text/javascript"), methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        *oversight_routes(agent, agent.oversight, lambda request: caller(agent, request)),
        *console_routes(agent.basemap),
    ]
