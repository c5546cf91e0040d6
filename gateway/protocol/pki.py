"""Development PKI: a federation CA and certificates for every party, with cryptography's x509.

Production federations run their own CA; this one exists so that `make run` and
the tests use real mTLS with real certificates. Keys are ECDSA P-256, which every
gRPC TLS stack accepts. Files: `<dir>/ca.pem`, and for each party `<name>.pem`
(certificate) and `<name>.key` (PKCS#8 private key, mode 0600).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.errors import ConfigurationError
from gateway.protocol.identities import EXAMPLE_CALLERS, FEDERATION, GATEWAY_ID, adapter_id

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM encoded."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """The CA that `init_pki` wrote to `directory`."""
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"{directory / 'ca.key'} is not an EC private key")
        return cls(x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes()), key)

    @classmethod
    def create(cls, name: str = f"{FEDERATION} federation CA") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(self, spiffe: str, *, server: bool, client: bool) -> Issued:
        """Issue a leaf certificate whose identity is the SPIFFE URI SAN `spiffe`."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe)]
        if server:
            # Loopback names so that processes on one machine can reach each other.
            sans += [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spiffe[-64:])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    if secret:
        os.chmod(tmp, 0o600)
    tmp.replace(path)


def write_issued(directory: Path, name: str, issued: Issued) -> None:
    _write(directory / f"{name}.pem", issued.cert_pem)
    _write(directory / f"{name}.key", issued.key_pem, secret=True)


def init_pki(directory: Path, adapters: tuple[str, ...] = ("pmj-1", "pmj-2")) -> list[str]:
    """Create the CA and every development identity under `directory`.

    Refuses a directory that already holds a CA, so keys are never silently replaced.
    Returns the file names written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists():
        raise ConfigurationError(f"{directory} already holds a CA (ca.pem); refusing to replace it")
    ca = CertificateAuthority.create()
    _write(directory / "ca.pem", ca.cert_pem)
    _write(
        directory / "ca.key",
        ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        secret=True,
    )
    names = ["ca"]
    write_issued(directory, "gateway", ca.issue(GATEWAY_ID, server=True, client=True))
    names.append("gateway")
    for name in adapters:
        write_issued(
            directory, f"adapter-{name}", ca.issue(adapter_id(name), server=True, client=False)
        )
        names.append(f"adapter-{name}")
    return names + _issue_callers(directory, ca, missing_only=False)


def complete_pki(directory: Path) -> list[str]:
    """Issue, from the CA in `directory`, a certificate to each example caller that has none
    (a development PKI made before that caller existed). Returns the slugs issued."""
    return _issue_callers(directory, CertificateAuthority.load(directory), missing_only=True)


def _issue_callers(directory: Path, ca: CertificateAuthority, *, missing_only: bool) -> list[str]:
    """A client certificate for each example caller (only those without one, with
    `missing_only`); the slugs issued."""
    issued = []
    for slug, spiffe in EXAMPLE_CALLERS.items():
        if not missing_only or not (directory / f"{slug}.pem").exists():
            write_issued(directory, slug, ca.issue(spiffe, server=False, client=True))
            issued.append(slug)
    return issued
