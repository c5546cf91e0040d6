"""The authenticated link to the OPA server: mutual TLS under a CA of its own (ADR 0018).

Plain HTTP on loopback trusted whatever answered on OPA's port: after the first bundle
check, a process that took the port over and answered "allow" was obeyed. The link is now
mTLS both ways, under a certificate authority that exists only for it:

- OPA presents `opa.pem` (run with `--tls-cert-file/--tls-private-key-file`); the gateway
  trusts only `ca.pem` and checks the name, so an impostor without OPA's key is refused at
  the handshake, before a byte of input leaves.
- OPA asks for a client certificate (`--tls-ca-cert-file ca.pem --authentication=tls`), so
  only the gateway (`gateway.pem`) may ask it for decisions.

Files in one directory: `ca.pem`, `opa.pem`, `opa.key`, `gateway.pem`, `gateway.key` (keys
mode 0600). The CA's own key is not kept: to rotate, create the directory again.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from opa_client import AsyncOpaClient

from gateway.errors import ConfigurationError
from gateway.protocol.identities import FEDERATION, GATEWAY_ID
from gateway.protocol.pki import CertificateAuthority, write_issued

__all__ = ["OPA_ID", "PolicyLinkTls", "TlsOpaClient", "init_policy_link"]

OPA_ID: Final = f"spiffe://{FEDERATION}/policy/opa"


def init_policy_link(directory: Path) -> PolicyLinkTls:
    """Create the link's CA and both certificates in `directory`; return the gateway side."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = CertificateAuthority.create(f"{FEDERATION} policy link CA")
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    write_issued(directory, "opa", ca.issue(OPA_ID, server=True, client=False))
    write_issued(directory, "gateway", ca.issue(GATEWAY_ID, server=False, client=True))
    return PolicyLinkTls.load(directory)


@dataclass(frozen=True, slots=True)
class PolicyLinkTls:
    """The link's files: the CA both sides trust, and each side's certificate and key."""

    directory: Path

    @classmethod
    def load(cls, directory: Path) -> PolicyLinkTls:
        """The link at `directory`; `ConfigurationError` naming any missing file."""
        missing = [
            name
            for name in ("ca.pem", "gateway.pem", "gateway.key")
            if not (directory / name).is_file()
        ]
        if missing:
            raise ConfigurationError(
                f"policy link directory {directory} lacks {', '.join(missing)}: "
                "create it with `gerbang pki policy-link DIR`"
            )
        return cls(directory)

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def client_context(self) -> ssl.SSLContext:
        """TLS 1.2+ trusting only the link's CA, with the gateway's certificate."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(
            str(self.directory / "gateway.pem"), str(self.directory / "gateway.key")
        )
        return context

    def opa_arguments(self) -> list[str]:
        """The `opa run --server` flags for OPA's side of the link."""
        return [
            "--tls-cert-file",
            str(self.directory / "opa.pem"),
            "--tls-private-key-file",
            str(self.directory / "opa.key"),
            "--tls-ca-cert-file",
            str(self.ca),
            "--authentication",
            "tls",
        ]


class TlsOpaClient(AsyncOpaClient):  # type: ignore[misc]  # opa_client has no type hints
    """opa-python-client over the link's mTLS: its own session trusts the link's CA only."""

    def __init__(self, tls: PolicyLinkTls, **kwargs: Any) -> None:
        super().__init__(ssl=True, **kwargs)
        self._context = tls.client_context()

    async def _init_session(self) -> None:
        self._connector = aiohttp.TCPConnector(ssl=self._context)
        self._session = aiohttp.ClientSession(
            headers=self.headers,
            connector=self._connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )
