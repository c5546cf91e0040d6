"""`gerbang`: the command line of the gateway, the adapters, the PKI and the audit log."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.errors import GerbangError

if TYPE_CHECKING:
    from gateway.service.server import GatewayConfig


def _adapter_spec(text: str) -> tuple[str, str]:
    adapter, sep, address = text.partition("=")
    if not sep or not adapter or not address:
        raise argparse.ArgumentTypeError(f"expected ID=HOST:PORT, got {text!r}")
    return adapter, address


def load_or_create_key(path: Path) -> bytes:
    """A 32-byte secret kept in a 0600 file, created on first use."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise GerbangError(f"{path} does not hold a 32-byte key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _read_key(text: str) -> str:
    """A key string given directly, or the path of a file holding one."""
    path = Path(text)
    return path.read_text().strip() if path.exists() else text


async def _run_until_signal(coro_factory: object) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro_factory)  # type: ignore[call-overload]
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def cmd_pki_init(args: argparse.Namespace) -> int:
    from gateway.protocol.pki import init_pki

    names = init_pki(Path(args.dir))
    print(f"created {len(names)} identities in {args.dir}: {', '.join(names)}")
    return 0


def cmd_pki_policy_link(args: argparse.Namespace) -> int:
    from gateway.policy.link import init_policy_link

    init_policy_link(Path(args.dir))
    print(
        f"created the gateway-OPA mTLS link in {args.dir}: run OPA with the flags of "
        "docs/adr/0018-authenticated-policy-link.md, the gateway with --opa-tls"
    )
    return 0


def cmd_policy_stage(args: argparse.Namespace) -> int:
    from gateway.policy import stage_bundle

    revision = stage_bundle(Path(args.policies), Path(args.dir))
    print(f"staged revision {revision} in {args.dir}: serve it with `opa run --bundle {args.dir}`")
    return 0


def cmd_adapter_serve(args: argparse.Namespace) -> int:
    from adapters.server import serve
    from gateway.protocol.identities import adapter_id
    from gateway.protocol.observability import configure_logging, serve_metrics

    configure_logging()
    serve_metrics(args.metrics_port)
    state = Path(args.state or f".gerbang/adapter-{args.id}-plans.db")
    server = serve(
        adapter_id(args.id),
        args.store,
        args.listen,
        Path(args.pki),
        f"adapter-{args.id}",
        Path(args.keys),
        state,
        health_listen=args.health_listen,
    )
    asyncio.run(_run_until_signal(server))
    return 0


def gateway_config(args: argparse.Namespace) -> GatewayConfig:
    """The gateway's configuration from `gerbang gateway serve` arguments."""
    from gateway.protocol.identities import EXAMPLE_CALLERS
    from gateway.service.server import GatewayConfig

    readers = frozenset(
        args.audit_reader
        or [EXAMPLE_CALLERS["kompolnas-oversight"], EXAMPLE_CALLERS["dprd-komisi-a"]]
    )
    config = GatewayConfig(
        listen=args.listen,
        pki_dir=Path(args.pki),
        audit_url=args.audit,
        policies_dir=Path(args.policies),
        adapters=dict(args.adapter),
        commitment_key=load_or_create_key(Path(args.commitment_key)),
        engine=args.engine,
        opa_url=args.opa_url,
        opa_tls=None if args.opa_tls is None else Path(args.opa_tls),
        health_listen=args.health_listen,
        audit_readers=readers,
        log_key=Path(args.log_key),
        witnesses=tuple(_read_key(k) for k in args.witness_key),
        tlog_witnesses=tuple(args.tlog_witness),
        tiles_listen=args.tiles_listen,
        tiles_dir=Path(args.tiles_dir) if args.tiles_dir else None,
        details_key=args.details_key,
        keys_dir=Path(args.keys),
        stream_lifetime=args.stream_lifetime,
        adapter_timeout=args.adapter_timeout,
        handshake_timeout=args.handshake_timeout,
        max_connections=args.max_connections,
    )
    return config


def cmd_gateway_serve(args: argparse.Namespace) -> int:
    from gateway.policy import engine_from_config
    from gateway.protocol.observability import configure_logging, serve_metrics
    from gateway.service.server import serve

    configure_logging()
    config = gateway_config(args)
    if args.workers < 1:
        raise GerbangError(f"--workers must be at least 1, got {args.workers}")
    from gateway.service.workers import claim_port, serve_workers

    # Held while this process serves: a second gateway on this port refuses to start.
    claim = claim_port(config.listen)
    try:
        if args.workers > 1:
            return serve_workers(config, args.workers, metrics_port=args.metrics_port)
        serve_metrics(args.metrics_port)

        async def main() -> None:
            engine = engine_from_config(
                config.engine, config.policies_dir, opa_url=config.opa_url, opa_tls=config.opa_tls
            )
            await serve(config, engine)

        asyncio.run(_run_until_signal(main()))
        return 0
    finally:
        if claim is not None:
            claim.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gerbang", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    pki = sub.add_parser("pki", help="development PKI").add_subparsers(
        dest="pki_command", required=True
    )
    p = pki.add_parser("init", help="create a federation CA and certificates for every party")
    p.add_argument("dir")
    p.set_defaults(func=cmd_pki_init)
    p = pki.add_parser("policy-link", help="create the mTLS link between gateway and OPA")
    p.add_argument("dir")
    p.set_defaults(func=cmd_pki_policy_link)

    policy = sub.add_parser("policy", help="the policy bundle").add_subparsers(
        dest="policy_command", required=True
    )
    p = policy.add_parser("stage", help="copy the bundle for OPA with its revision (.manifest)")
    p.add_argument("dir", help="where OPA's copy goes (updated in place)")
    p.add_argument("--policies", default="policies")
    p.set_defaults(func=cmd_policy_stage)

    adapter = sub.add_parser("adapter", help="police database adapter").add_subparsers(
        dest="adapter_command", required=True
    )
    p = adapter.add_parser("serve", help="serve the adapter service over a SQLAlchemy URL")
    p.add_argument(
        "--store",
        default="sqlite:///.gerbang/police.db",
        help="SQLAlchemy URL of the police database",
    )
    p.add_argument("--listen", default="127.0.0.1:7501")
    p.add_argument("--id", default="pmj-1", help="adapter name; its certificate is adapter-<id>")
    p.add_argument("--keys", default=".gerbang/keys", help="key registry and keystores")
    p.add_argument("--state", help="replay cache of plans (default .gerbang/adapter-<id>-plans.db)")
    p.add_argument("--pki", default=".gerbang/pki")
    p.add_argument("--metrics-port", type=int, default=0)
    p.add_argument(
        "--health-listen",
        default=None,
        metavar="HOST:PORT",
        help="also serve grpc.health.v1 in plaintext here, for Kubernetes gRPC probes "
        "(off by default; health state only)",
    )
    p.set_defaults(func=cmd_adapter_serve)

    gw = sub.add_parser("gateway", help="the gateway").add_subparsers(
        dest="gateway_command", required=True
    )
    p = gw.add_parser("serve", help="serve the query and audit services (mTLS only)")
    p.add_argument("--listen", default="127.0.0.1:7443")
    p.add_argument("--pki", default=".gerbang/pki")
    p.add_argument(
        "--audit", default="sqlite:///.gerbang/audit.db", help="SQLAlchemy URL of the audit log"
    )
    p.add_argument("--policies", default="policies")
    p.add_argument(
        "--adapter",
        action="append",
        type=_adapter_spec,
        required=True,
        help="ID=HOST:PORT (repeatable)",
    )
    p.add_argument(
        "--engine",
        choices=["wasm", "regopy", "opa"],
        default="wasm",
        help="policy engine: wasm (OPA-compiled, in-process; default), regopy, or opa (server)",
    )
    p.add_argument("--opa-url", default=None, help="OPA server, https://127.0.0.1:8181")
    p.add_argument(
        "--opa-tls",
        default=None,
        metavar="DIR",
        help="the mTLS link to OPA (ca.pem, gateway.pem, gateway.key; `gerbang pki policy-link`)",
    )
    p.add_argument("--metrics-port", type=int, default=0)
    p.add_argument(
        "--health-listen",
        default=None,
        metavar="HOST:PORT",
        help="also serve grpc.health.v1 in plaintext here, for Kubernetes gRPC probes "
        "(off by default; health state only)",
    )
    p.add_argument("--commitment-key", default=".gerbang/keys/audit-commitment.key")
    p.add_argument(
        "--audit-reader", action="append", help="SPIFFE ID allowed to read the audit log"
    )
    p.add_argument(
        "--log-key", default=".gerbang/keys/audit-log.key", help="checkpoint signing key"
    )
    p.add_argument(
        "--witness-key", action="append", default=[], help="a witness's cosigner key (repeatable)"
    )
    p.add_argument(
        "--tlog-witness",
        action="append",
        default=[],
        metavar="URL,VKEY",
        help="a C2SP tlog-witness to submit every checkpoint to: its URL, a comma, its "
        "verifier key (0x04 cosignature or 0x01 Ed25519 form); repeatable",
    )
    p.add_argument(
        "--tiles-listen",
        metavar="HOST:PORT",
        help="serve the log as C2SP tlog-tiles over HTTPS, with the AuditService's mTLS and "
        "readers (--audit-reader)",
    )
    p.add_argument(
        "--tiles-dir",
        metavar="DIR",
        help="write the log as C2SP tlog-tiles static files after each checkpoint (a mirror)",
    )
    p.add_argument("--details-key", help="oversight X25519 public key for sealed audit details")
    p.add_argument("--keys", default=".gerbang/keys", help="key registry and the plan key")
    p.add_argument(
        "--stream-lifetime",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="the longest any WatchWarnings stream lasts (a caller's registry limit may be "
        "shorter); the caller renews it signed anew",
    )
    p.add_argument(
        "--adapter-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the gateway waits for an adapter's answer before failing the request",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=5.0,
        help="seconds a connection may take to finish its TLS handshake (default 5)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=1024,
        help="open connections the gateway accepts; more are closed at once (default 1024)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="gateway processes sharing the listening port (SO_REUSEPORT); "
        "metrics on --metrics-port + worker index",
    )
    p.set_defaults(func=cmd_gateway_serve)

    from gateway.cli.audit import add_audit_commands

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    witness = sub.add_parser("witness", help="verify and cosign the log's checkpoints (oversight)")
    add_audit_commands(audit, witness)

    from gateway.cli.keys import add_keys_commands

    add_keys_commands(sub)
    from gateway.cli.evidence import add_evidence_commands

    add_evidence_commands(sub)
    from gateway.oversight.monitor import add_monitor_command

    add_monitor_command(sub)
    from gateway.agent.server import add_agent_commands

    add_agent_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except GerbangError as e:
        print(f"gerbang: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
