"""The agent's configuration: one TOML file, each setting overridable by an environment variable.

    [agent]
    identity = "dishub-atcs"            # the organisation's certificate and keystore name
    pki = ".gerbang/pki"                # certificates (the federation CA, the agent's own)
    keys = ".gerbang/keys"              # the federation registry and the keystores
    gateway = "127.0.0.1:7443"
    listen = "127.0.0.1:8480"           # loopback unless told otherwise
    state = ".gerbang/agent-dishub-atcs"  # journal, evidence, the user-commitment key

    [[clients]]                         # who may call the agent: API tokens, stored hashed
    name = "sip-dishub"
    token_sha256 = "9f86d0..."          # `gerbang agent token` makes a token and its hash

    [tls]                               # optional: serve HTTPS and require client certificates
    cert = "agent.pem"
    key = "agent.key"
    client_ca = "org-ca.pem"

    [[issuers]]                         # whose ID tokens name the end user
    issuer = "https://sso.dishub.jakarta.go.id"
    audience = "gerbang-agent"
    jwks = "sso-jwks.json"

    [users]
    required = true                     # every request names a person (the default)

    [webhook]                           # optional: early-warning alerts POSTed here (ADR 0020)
    url = "https://alerts.jsc.jakarta.go.id/gerbang"   # https, or http to loopback only
    secret_file = "webhook.key"         # the HMAC-SHA256 key, shared with the receiver
    attempts = 5                        # retried with backoff 1 s, 2 s, 4 s ...
    backoff_seconds = 1.0

    [watch]                             # optional: a standing warning stream for the webhook
    purpose = "public_order_early_warning"            # the body of POST /v1/watch-warnings:
    legal_basis = "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 23/2014"
    kota = ["Jakarta Selatan"]          # kecamatan, categories, start, end, interval_seconds
    user = "svc-command-centre-watch"   # a service account, where the purpose requires a user
    retry_seconds = 5.0                 # backoff after a failure, doubling up to max_retry
    max_retry_seconds = 300.0

    [consoles]                          # optional: the deployment's own base map (GeoJSON)
    basemap = "kecamatan.geojson"       # default: the demo's approximate outlines
    [oversight]                         # an oversight body's agent (Kompolnas, DPRD): the audit log
    log_key = "gerbang.jakarta.go.id/audit+1a2b3c4d+AU..."   # the log's verifier key, pinned
    witnesses = ["kompolnas.go.id/witness+..."]              # cosigner keys (cosignature/v1)
    details_key = "oversight.x25519"    # the X25519 key that opens sealed details (optional)
    details_clients = ["komisioner"]    # the clients whose role may open them

Environment variables override the file, each `GERBANG_AGENT_<KEY>` for a key of `[agent]`
(e.g. `GERBANG_AGENT_GATEWAY`), plus `GERBANG_AGENT_TOKENS` (comma-separated `name:sha256`
pairs, replacing `[[clients]]`), `GERBANG_AGENT_ISSUERS` (comma-separated
`issuer|audience|jwks` triples, replacing `[[issuers]]`), `GERBANG_AGENT_USERS_REQUIRED` and
`GERBANG_AGENT_TLS_CERT`, `_TLS_KEY`, `_TLS_CLIENT_CA`, `GERBANG_AGENT_WEBHOOK_URL`,
`_WEBHOOK_SECRET_FILE` and `GERBANG_AGENT_CONSOLES_BASEMAP`.
Relative paths are taken from the file's folder. Anything missing or unknown is refused at
start: the agent never runs half-configured.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError

ENV_PREFIX = "GERBANG_AGENT_"
_AGENT_KEYS = ("identity", "pki", "keys", "gateway", "listen", "state")
_PATHS = ("pki", "keys", "state")
_SECTIONS = {
    "agent",
    "clients",
    "tls",
    "issuers",
    "users",
    "webhook",
    "watch",
    "consoles",
    "oversight",
}
_WATCH_OWN = {"user", "retry_seconds", "max_retry_seconds"}
_WATCH_SCOPE = {"purpose", "legal_basis", "kota", "kecamatan", "categories", "start", "end"}
MIN_WEBHOOK_SECRET = 16
MAX_BASEMAP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ClientToken:
    name: str
    token_sha256: bytes


@dataclass(frozen=True)
class Issuer:
    issuer: str
    audience: str
    jwks: Path


@dataclass(frozen=True)
class ServerTls:
    cert: Path
    key: Path
    client_ca: Path | None


@dataclass(frozen=True)
class Webhook:
    """Where alerts go and the shared secret that signs them."""

    url: str
    secret: bytes
    attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Watch:
    """The agent's standing warning stream (ADR 0020, amended): `body` is what a client would
    POST to /v1/watch-warnings; `user` the service account it asks as, if any."""

    body: dict[str, Any]
    user: str | None = None
    retry_seconds: float = 5.0
    max_retry_seconds: float = 300.0


@dataclass(frozen=True)
class Oversight:
    """What an oversight body's agent pins to check the audit log, and who may open details."""

    log_key: str
    witnesses: tuple[str, ...]
    details_key: Path | None
    details_clients: frozenset[str]


@dataclass(frozen=True)
class AgentConfig:
    identity: str
    pki: Path
    keys: Path
    gateway: str
    host: str
    port: int
    state: Path
    clients: tuple[ClientToken, ...]
    tls: ServerTls | None
    issuers: tuple[Issuer, ...]
    users_required: bool = True
    webhook: Webhook | None = None
    watch: Watch | None = None
    basemap: Path | None = None  # None: the packaged, approximate demo outlines
    oversight: Oversight | None = None

    def __post_init__(self) -> None:
        if not self.clients and (self.tls is None or self.tls.client_ca is None):
            raise ConfigurationError(
                "no client may call the agent: configure [[clients]] API tokens or a [tls] "
                "client_ca for client certificates"
            )
        if self.users_required and not self.issuers:
            raise ConfigurationError(
                "users are required but no [[issuers]] is configured to verify their ID tokens"
            )
        if not _loopback(self.host) and self.tls is None:
            raise ConfigurationError(
                f"listening on {self.host} beyond loopback needs [tls]: API tokens must not "
                "cross a network in clear"
            )

    @property
    def journal_path(self) -> Path:
        return self.state / "journal.jsonl"

    @property
    def evidence_dir(self) -> Path:
        return self.state / "evidence"

    @property
    def commitment_key_path(self) -> Path:
        return self.keys / self.identity / "user-commitment.key"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"listen address {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _table(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"[{name}] must be a table")
    return value


def _tables(doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigurationError(f"[[{name}]] must be an array of tables")
    return value


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: {key} is missing or not a string")
    return value


def _token(name: str, digest: str) -> ClientToken:
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        raw = b""
    if len(raw) != 32 or not name:
        raise ConfigurationError(
            f"client {name!r}: token_sha256 must be 64 hex digits (see `gerbang agent token`)"
        )
    return ClientToken(name, raw)


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> AgentConfig:
    """The configuration in `path` (optional if the environment says everything), overridden
    by `GERBANG_AGENT_*` variables."""
    env = os.environ if env is None else env
    doc: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigurationError(f"cannot read the agent configuration {path}: {e}") from e
        base = path.parent
    unknown = set(doc) - _SECTIONS
    if unknown:
        raise ConfigurationError(f"unknown section(s) in {path}: {', '.join(sorted(unknown))}")
    agent = _table(doc, "agent")
    if unknown := set(agent) - set(_AGENT_KEYS):
        raise ConfigurationError(f"unknown key(s) in [agent]: {', '.join(sorted(unknown))}")
    agent = {"listen": "127.0.0.1:8480", **agent}
    for key in _AGENT_KEYS:
        if (value := env.get(ENV_PREFIX + key.upper())) is not None:
            agent[key] = value
    identity = _text(agent, "identity", "[agent]")
    agent.setdefault("state", f".gerbang/agent-{identity}")
    paths = {k: base / _text(agent, k, "[agent]") for k in _PATHS}
    host, port = _split_listen(_text(agent, "listen", "[agent]"))

    if (tokens := env.get(ENV_PREFIX + "TOKENS")) is not None:
        clients = [t.partition(":") for t in tokens.split(",") if t.strip()]
        client_tokens = tuple(_token(n.strip(), d.strip()) for n, _, d in clients)
    else:
        client_tokens = tuple(
            _token(_text(c, "name", "[[clients]]"), _text(c, "token_sha256", "[[clients]]"))
            for c in _tables(doc, "clients")
        )

    tls_doc = _table(doc, "tls")
    for key in ("cert", "key", "client_ca"):
        if (value := env.get(f"{ENV_PREFIX}TLS_{key.upper()}")) is not None:
            tls_doc[key] = value
    tls = None
    if tls_doc:
        ca = tls_doc.get("client_ca")
        tls = ServerTls(
            base / _text(tls_doc, "cert", "[tls]"),
            base / _text(tls_doc, "key", "[tls]"),
            base / ca if isinstance(ca, str) and ca else None,
        )

    issuer_tables = _tables(doc, "issuers")
    if (text := env.get(ENV_PREFIX + "ISSUERS")) is not None:
        parts = [i.split("|") for i in text.split(",") if i.strip()]
        if any(len(p) != 3 for p in parts):
            raise ConfigurationError(
                f"{ENV_PREFIX}ISSUERS: expected ISSUER|AUDIENCE|JWKS_PATH, comma-separated"
            )
        issuer_tables = [{"issuer": i, "audience": a, "jwks": j} for i, a, j in parts]
    issuers = tuple(
        Issuer(
            _text(i, "issuer", "[[issuers]]"),
            _text(i, "audience", "[[issuers]]"),
            base / _text(i, "jwks", "[[issuers]]"),
        )
        for i in issuer_tables
    )
    required = _table(doc, "users").get("required", True)
    if (value := env.get(ENV_PREFIX + "USERS_REQUIRED")) is not None:
        required = value.strip().lower() not in ("0", "false", "no")
    if not isinstance(required, bool):
        raise ConfigurationError("[users] required must be true or false")
    return AgentConfig(
        webhook=(webhook := _webhook(_table(doc, "webhook"), env, base)),
        watch=_watch(_table(doc, "watch"), webhook),
        basemap=_basemap(_table(doc, "consoles"), env, base),
        oversight=_oversight(_table(doc, "oversight"), base),
        identity=identity,
        pki=paths["pki"],
        keys=paths["keys"],
        gateway=_text(agent, "gateway", "[agent]"),
        host=host,
        port=port,
        state=paths["state"],
        clients=client_tokens,
        tls=tls,
        issuers=issuers,
        users_required=required,
    )


def _webhook(table: dict[str, Any], env: Mapping[str, str], base: Path) -> Webhook | None:
    """`[webhook]`: an https URL (or http on loopback), its secret from a file, the retries."""
    for key in ("url", "secret_file"):
        if (value := env.get(f"{ENV_PREFIX}WEBHOOK_{key.upper()}")) is not None:
            table[key] = value
    if not table:
        return None
    if unknown := set(table) - {"url", "secret_file", "attempts", "backoff_seconds"}:
        raise ConfigurationError(f"unknown key(s) in [webhook]: {', '.join(sorted(unknown))}")
    url = _text(table, "url", "[webhook]")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))):
        raise ConfigurationError(
            f"[webhook] url {url[:80]!r}: alerts leave only over https (http only to loopback)"
        )
    path = base / _text(table, "secret_file", "[webhook]")
    try:
        secret = path.read_bytes().strip()
    except OSError as e:
        raise ConfigurationError(f"[webhook] cannot read secret_file {path}: {e}") from e
    if len(secret) < MIN_WEBHOOK_SECRET:
        raise ConfigurationError(
            f"[webhook] secret_file {path} holds under {MIN_WEBHOOK_SECRET} bytes: too weak a key"
        )
    attempts = table.get("attempts", 5)
    backoff = table.get("backoff_seconds", 1.0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise ConfigurationError("[webhook] attempts must be a whole number from 1 to 20")
    if not isinstance(backoff, int | float) or not 0 < backoff <= 3600:
        raise ConfigurationError("[webhook] backoff_seconds must be over 0 and at most 3600")
    return Webhook(url, secret, attempts, float(backoff))


def _watch(table: dict[str, Any], webhook: Webhook | None) -> Watch | None:
    """`[watch]`: the scope parsed now, as the HTTP API would, so a wrong one stops the agent."""
    from gateway.agent import asks
    from gateway.protocol.model import InvalidQuery

    if not table:
        return None
    if webhook is None:
        raise ConfigurationError("[watch] needs a [webhook]: its alerts go nowhere else")
    if unknown := set(table) - _WATCH_OWN - _WATCH_SCOPE - {"interval_seconds"}:
        raise ConfigurationError(f"unknown key(s) in [watch]: {', '.join(sorted(unknown))}")
    body = {k: v for k, v in table.items() if k not in _WATCH_OWN}
    try:
        asks.parse("watch-warnings", body)
    except (InvalidQuery, ValueError) as e:
        raise ConfigurationError(f"[watch]: {e}") from e
    user = table.get("user")
    if user is not None and (not isinstance(user, str) or not 0 < len(user) <= 200):
        raise ConfigurationError("[watch] user must be a service account's name (a string)")
    retry = table.get("retry_seconds", 5.0)
    most = table.get("max_retry_seconds", 300.0)
    for name, value in (("retry_seconds", retry), ("max_retry_seconds", most)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise ConfigurationError(f"[watch] {name} must be over 0 and at most 86400")
    if most < retry:
        raise ConfigurationError("[watch] max_retry_seconds must be at least retry_seconds")
    return Watch(body, user, float(retry), float(most))


def _basemap(table: dict[str, Any], env: Mapping[str, str], base: Path) -> Path | None:
    """`[consoles] basemap`: the deployment's GeoJSON FeatureCollection, checked at start."""
    if (value := env.get(ENV_PREFIX + "CONSOLES_BASEMAP")) is not None:
        table["basemap"] = value
    if unknown := set(table) - {"basemap"}:
        raise ConfigurationError(f"unknown key(s) in [consoles]: {', '.join(sorted(unknown))}")
    if "basemap" not in table:
        return None
    path = base / _text(table, "basemap", "[consoles]")
    if path.suffix not in (".geojson", ".json"):
        raise ConfigurationError(
            f"[consoles] basemap {path}: a GeoJSON file (.geojson) is expected; PMTiles is not "
            "read yet"
        )
    try:
        if path.stat().st_size > MAX_BASEMAP_BYTES:
            raise ConfigurationError(f"[consoles] basemap {path} is over {MAX_BASEMAP_BYTES} bytes")
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"[consoles] cannot read basemap {path}: {e}") from e
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ConfigurationError(f"[consoles] basemap {path} is not a GeoJSON FeatureCollection")
    return path


def _oversight(table: Mapping[str, Any], base: Path) -> Oversight | None:
    """The [oversight] table, its keys parsed now so that a wrong one stops the agent."""
    from gateway.errors import GerbangError
    from gateway.tlog.checkpoint import parse_cosigner_key
    from gateway.tlog.note import parse_verifier_key

    if not table:
        return None
    if unknown := set(table) - {"log_key", "witnesses", "details_key", "details_clients"}:
        raise ConfigurationError(f"unknown key(s) in [oversight]: {', '.join(sorted(unknown))}")
    log_key = _text(table, "log_key", "[oversight]")
    witnesses = table.get("witnesses", [])
    clients = table.get("details_clients", [])
    for name, value in (("witnesses", witnesses), ("details_clients", clients)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigurationError(f"[oversight] {name} must be a list of strings")
    try:
        parse_verifier_key(log_key)
        for w in witnesses:
            parse_cosigner_key(w)
    except GerbangError as e:
        raise ConfigurationError(f"[oversight]: {e}") from e
    key = table.get("details_key")
    return Oversight(
        log_key=log_key,
        witnesses=tuple(witnesses),
        details_key=base / key if isinstance(key, str) and key else None,
        details_clients=frozenset(clients),
    )
