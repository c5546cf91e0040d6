"""An organisation's agent as a real process on loopback, for `make run`, tests and the bench.

`LocalAgent` writes a configuration file for one identity of a `LocalFederation`, makes an API
token for one client and a local OIDC issuer for its end users, starts `gerbang agent serve`
and waits until it answers. The token is held only in memory here; the file has its hash.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from gateway.agent.auth import new_token
from gateway.agent.config import ServerTls
from gateway.agent.issuer import LocalIssuer
from gateway.errors import ConfigurationError
from tools.federation import LocalFederation, Process, free_port, gerbang_command

ISSUER = "https://sso.local.gerbang.test"
AUDIENCE = "gerbang-agent"


def _tls_table(tls: ServerTls) -> str:
    text = f"\n[tls]\ncert = {json.dumps(str(tls.cert))}\nkey = {json.dumps(str(tls.key))}\n"
    if tls.client_ca is not None:
        text += f"client_ca = {json.dumps(str(tls.client_ca))}\n"
    return text


def _client_table(name: str, digest: str) -> str:
    return f'[[clients]]\nname = {json.dumps(name)}\ntoken_sha256 = "{digest}"\n\n'


def _oversight_table(federation: LocalFederation, client: str) -> str:
    """Kompolnas's pins: the log's verifier key, its witness's key, and its details key."""
    log_key = federation.log_key_path.with_suffix(".pub").read_text().strip()
    federation.details_key()  # created on first use, as the gateway's --details-key did
    details = federation.keys_dir / "oversight-kompolnas.x25519"
    return (
        f"\n[oversight]\nlog_key = {json.dumps(log_key)}\n"
        f"witnesses = [{json.dumps(federation.witness_key().verifier_key)}]\n"
        f"details_key = {json.dumps(str(details.resolve()))}\n"
        f"details_clients = [{json.dumps(client)}]\n"
    )


class LocalAgent:
    def __init__(
        self,
        federation: LocalFederation,
        identity: str,
        *,
        client: str = "sip",
        port: int | None = None,
        gateway: str | None = None,
        tls: ServerTls | None = None,
        client_tls: ssl.SSLContext | None = None,
        oversight: bool = False,
        other_clients: tuple[str, ...] = (),
    ) -> None:
        """With `tls`, the agent serves HTTPS; `client_tls` is how to reach it then. With
        `oversight`, it pins the federation's log and witness keys and holds the details key,
        which only `client` may use; `other_clients` get tokens (in `tokens`) but not that role."""
        self.federation = federation
        self.identity = identity
        self.client = client
        self.port = port or free_port()
        self.gateway = gateway or federation.address
        self.directory = federation.workdir / f"agent-{identity}"
        self.issuer = LocalIssuer.init(federation.workdir / "issuer", ISSUER)
        self.token, digest = new_token()
        self.tokens = {client: self.token}
        clients = _client_table(client, digest)
        for other in other_clients:
            self.tokens[other], other_digest = new_token()
            clients += _client_table(other, other_digest)
        self.tls = tls
        self.client_tls = client_tls
        self.config_path = self.directory / "agent.toml"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "[agent]\n"
            f"identity = {json.dumps(identity)}\n"
            f"pki = {json.dumps(str(federation.pki.resolve()))}\n"
            f"keys = {json.dumps(str(federation.keys_dir.resolve()))}\n"
            f"gateway = {json.dumps(self.gateway)}\n"
            f'listen = "127.0.0.1:{self.port}"\n'
            f"state = {json.dumps(str(self.directory.resolve()))}\n\n"
            + clients
            + f"[[issuers]]\nissuer = {json.dumps(ISSUER)}\naudience = {json.dumps(AUDIENCE)}\n"
            f"jwks = {json.dumps(str(self.issuer.jwks_path.resolve()))}\n"
            + ("" if tls is None else _tls_table(tls))
            + (_oversight_table(federation, client) if oversight else "")
        )
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def journal(self) -> Path:
        return self.directory / "journal.jsonl"

    def id_token(self, subject: str = "nip-198501012010011001", lifetime: float = 600) -> str:
        return self.issuer.mint(subject, AUDIENCE, lifetime=lifetime)

    def start(self, timeout: float = 30.0) -> None:
        argv = [*gerbang_command(), "agent", "serve", "--config", str(self.config_path)]
        self.process = Process(
            f"agent-{self.identity}",
            argv,
            self.federation.workdir / "logs" / f"agent-{self.identity}.log",
        )
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            popen = self.process.popen
            if popen is not None and popen.poll() is not None:
                raise ConfigurationError(
                    f"agent {self.identity} exited with {popen.returncode}:\n{self.process.tail()}"
                )
            try:
                with urllib.request.urlopen(  # noqa: S310 (the agent's own URL)
                    self.url + "/healthz", timeout=1, context=self.client_tls
                ):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise ConfigurationError(f"agent {self.identity} not ready after {timeout}s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> LocalAgent:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
