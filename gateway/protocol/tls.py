"""mTLS for every hop: credentials from a PKI directory, and the peer's SPIFFE identity.

A party's identity is the URI SAN of the certificate it presented, read from
the verified peer certificate that gRPC hands to the handler. Nothing else in a
request (headers, fields) can claim an identity.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509

from gateway.errors import ConfigurationError


@dataclass(frozen=True)
class TlsFiles:
    """The CA bundle, certificate and key of one party."""

    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def load(cls, pki_dir: Path, name: str) -> TlsFiles:
        try:
            return cls(
                (pki_dir / "ca.pem").read_bytes(),
                (pki_dir / f"{name}.pem").read_bytes(),
                (pki_dir / f"{name}.key").read_bytes(),
            )
        except FileNotFoundError as e:
            raise ConfigurationError(
                f"missing TLS file {e.filename}; run `gerbang pki init`"
            ) from e

    def server_credentials(self) -> grpc.ServerCredentials:
        # require_client_auth: a connection without a certificate from our CA never gets a handler.
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


@functools.lru_cache(maxsize=1024)
def _uri_sans(cert_pem: bytes) -> tuple[str, ...]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(ext.value.get_values_for_type(x509.UniformResourceIdentifier))


def peer_certificate_identity(cert_pem: bytes) -> str:
    """The single SPIFFE URI SAN of a certificate (one's own, to know who one is)."""
    uris = [u for u in _uri_sans(cert_pem) if u.startswith("spiffe://")]
    if len(uris) != 1:
        raise ConfigurationError("certificate does not carry exactly one spiffe:// URI SAN")
    return uris[0]


def peer_identity(auth_context: Mapping[str, Iterable[bytes]]) -> str | None:
    """The single SPIFFE URI SAN of the verified peer certificate, or None."""
    pems = list(auth_context.get("x509_pem_cert", ()))
    if not pems:
        return None
    uris = [u for u in _uri_sans(pems[0]) if u.startswith("spiffe://")]
    return uris[0] if len(uris) == 1 else None
