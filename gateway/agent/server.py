"""`gerbang agent serve`: the Starlette application under uvicorn, and the agent's commands.

The gRPC channel to the gateway is opened in the application's lifespan (it belongs to the
server's event loop) and closed with it. With `[tls]`, uvicorn serves HTTPS and, when a
`client_ca` is set, completes only handshakes with a certificate from that CA.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.agent.alerts import WebhookSender
from gateway.agent.auth import ClientTokens, UserVerifier, load_commitment_key, new_token
from gateway.agent.config import AgentConfig, load_config
from gateway.agent.issuer import LocalIssuer
from gateway.agent.journal import Journal, open_commitment, replay
from gateway.agent.problems import Problem
from gateway.agent.routes import Agent, routes
from gateway.agent.service import AgentService
from gateway.agent.watch import Watcher, service_user
from gateway.client import GerbangClient


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return Problem(exc.status_code, "http", str(exc.detail), str(exc.detail)).response()


def build_app(config: AgentConfig) -> Starlette:
    users = None
    if config.issuers:
        users = UserVerifier(config.issuers, load_commitment_key(config.commitment_key_path))
    agent = Agent(
        tokens=ClientTokens(config.clients),
        users=users,
        users_required=config.users_required,
        mtls_clients=config.tls is not None and config.tls.client_ca is not None,
        journal=Journal(config.journal_path),
        basemap=config.basemap,
        oversight=config.oversight,
    )
    agent.alerts.restore(replay(config.journal_path))  # acknowledgements survive a restart

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = GerbangClient.connect(config.gateway, config.pki, config.identity, config.keys)
        agent.service = service = AgentService(client, config.evidence_dir)
        watcher = None
        if config.webhook is not None:
            agent.webhook = WebhookSender(config.webhook, agent.journal)
            agent.webhook.restore(replay(config.journal_path))
            if config.watch is not None:
                user = None
                if config.watch.user is not None:
                    key = load_commitment_key(config.commitment_key_path)
                    user = service_user(config.identity, config.watch.user, key)
                watcher = Watcher(config.watch, service, agent.webhook, agent.journal, user)
                watcher.resume(replay(config.journal_path))
                watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                await watcher.stop()
            if agent.webhook is not None:
                await agent.webhook.settle(timeout=2.0)
                await agent.webhook.close()
            agent.service = None
            await client.close()
            agent.journal.close()

    return Starlette(
        routes=routes(agent),
        lifespan=lifespan,
        exception_handlers={Problem: _problem, HTTPException: _http_error},
    )


def uvicorn_config(config: AgentConfig) -> uvicorn.Config:
    tls: dict[str, object] = {}
    if config.tls is not None:
        tls = {"ssl_certfile": str(config.tls.cert), "ssl_keyfile": str(config.tls.key)}
        if config.tls.client_ca is not None:
            tls |= {"ssl_ca_certs": str(config.tls.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return uvicorn.Config(
        build_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        **tls,  # type: ignore[arg-type]
    )


def cmd_serve(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config) if args.config else None)
    server = uvicorn.Server(uvicorn_config(config))
    scheme = "https" if config.tls else "http"
    print(f"gerbang agent for {config.identity} on {scheme}://{config.host}:{config.port}")
    sys.stdout.flush()
    asyncio.run(server.serve())
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    token, digest = new_token()
    print(f"token (give it to the client, once): {token}")
    print(f'configure:  [[clients]] name = "{args.name}"  token_sha256 = "{digest}"')
    return 0


def cmd_issuer_init(args: argparse.Namespace) -> int:
    issuer = LocalIssuer.init(Path(args.dir), args.issuer)
    print(f"issuer {issuer.issuer}: JWKS in {issuer.jwks_path}")
    return 0


def cmd_issuer_mint(args: argparse.Namespace) -> int:
    issuer = LocalIssuer.load(Path(args.dir))
    print(issuer.mint(args.subject, args.audience, lifetime=args.lifetime))
    return 0


def cmd_journal_open(args: argparse.Namespace) -> int:
    for entry in open_commitment(Path(args.journal), args.commitment):
        print(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    return 0


def add_agent_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser("agent", help="the organisation's agent (HTTP/JSON)").add_subparsers(
        dest="agent_command", required=True
    )
    p = agent.add_parser("serve", help="serve the local HTTP API")
    p.add_argument("--config", help="TOML file; GERBANG_AGENT_* variables override it")
    p.set_defaults(func=cmd_serve)
    p = agent.add_parser("token", help="make an API token and the hash to configure")
    p.add_argument("--name", default="client")
    p.set_defaults(func=cmd_token)
    issuer = agent.add_parser("issuer", help="a local OIDC issuer (demo, tests)").add_subparsers(
        dest="issuer_command", required=True
    )
    p = issuer.add_parser("init", help="create the issuer's key and JWKS")
    p.add_argument("dir")
    p.add_argument("--issuer", required=True, help="the issuer URL (the tokens' iss)")
    p.set_defaults(func=cmd_issuer_init)
    p = issuer.add_parser("mint", help="print an ID token for a subject")
    p.add_argument("dir")
    p.add_argument("--subject", required=True)
    p.add_argument("--audience", required=True)
    p.add_argument("--lifetime", type=float, default=3600.0)
    p.set_defaults(func=cmd_issuer_mint)
    journal = agent.add_parser("journal", help="the agent's journal").add_subparsers(
        dest="journal_command", required=True
    )
    p = journal.add_parser("open", help="the person behind a user commitment (oversight)")
    p.add_argument("journal")
    p.add_argument("commitment", help="64 hex digits, as in the audit entry")
    p.set_defaults(func=cmd_journal_open)
