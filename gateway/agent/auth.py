"""Who is asking: the calling system (API token or client certificate) and the person behind it.

The system presents `Authorization: Bearer <API token>`; the agent keeps only the tokens'
SHA-256 and compares in constant time. The person is named by an OIDC ID token (a JWT from the
organisation's identity provider) in the `Gerbang-End-User` header, verified against the
configured issuers' JWKS: signature, issuer, audience, expiry. The request then carries the
person only as a keyed commitment, HMAC-SHA256 under a key the organisation holds, over the
issuer and subject; the organisation can open it from its journal, nobody upstream can.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt

from gateway.agent.config import ClientToken, Issuer
from gateway.errors import ConfigurationError, GerbangError

USER_HEADER = "Gerbang-End-User"
# Asymmetric algorithms only: a shared-secret (HS*) token could be minted by anyone who can
# verify it, and "none" is never accepted.
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
COMMITMENT_DOMAIN = b"gerbang/v1/end-user\x00"
# Clock skew tolerated on exp, iat and nbf.
LEEWAY_SECONDS = 30


class NotAuthenticated(GerbangError):
    """The agent's client, or the end user it names, is not who it claims (HTTP 401)."""


@dataclass(frozen=True)
class EndUser:
    issuer: str
    subject: str
    commitment: bytes  # 32 bytes; what leaves the organisation


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> tuple[str, str]:
    """A fresh API token and the hex SHA-256 to configure for it."""
    token = "gat_" + secrets.token_urlsafe(32)
    return token, token_hash(token).hex()


class ClientTokens:
    def __init__(self, clients: Sequence[ClientToken]) -> None:
        self._clients = tuple(clients)

    def authenticate(self, authorization: str | None) -> str:
        """The configured name of the client holding this bearer token."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated(
                "tidak ada token API / no API token: send 'Authorization: Bearer <token>'"
            )
        digest = token_hash(token.strip())
        found = None
        for c in self._clients:  # compare with every one: no early exit to time
            if hmac.compare_digest(c.token_sha256, digest):
                found = c.name
        if found is None:
            raise NotAuthenticated("token API tidak dikenal / unknown API token")
        return found


def load_commitment_key(path: Path) -> bytes:
    """The organisation's 32-byte commitment key, created (0600) beside its keys on first use."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigurationError(f"{path} does not hold a 32-byte key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def user_commitment(key: bytes, issuer: str, subject: str) -> bytes:
    """HMAC-SHA256(key, domain || len(iss) || iss || len(sub) || sub): one person at one
    issuer, unlinkable upstream without the key, openable by the organisation."""
    message = bytearray(COMMITMENT_DOMAIN)
    for part in (issuer.encode(), subject.encode()):
        message += len(part).to_bytes(4, "big") + part
    return hmac.new(key, bytes(message), hashlib.sha256).digest()


class UserVerifier:
    """Verifies ID tokens from the configured issuers and commits to their subject."""

    def __init__(self, issuers: Sequence[Issuer], commitment_key: bytes) -> None:
        self._key = commitment_key
        self._issuers: dict[str, tuple[Issuer, jwt.PyJWKSet]] = {}
        for i in issuers:
            try:
                keys = jwt.PyJWKSet.from_json(i.jwks.read_text())
            except (OSError, jwt.PyJWKError, jwt.PyJWKSetError, json.JSONDecodeError) as e:
                raise ConfigurationError(f"issuer {i.issuer}: cannot load {i.jwks}: {e}") from e
            self._issuers[i.issuer] = (i, keys)

    def verify(self, id_token: str | None) -> EndUser:
        if not id_token:
            raise NotAuthenticated(
                f"pengguna tidak disebut / no end user: send the person's ID token in {USER_HEADER}"
            )
        try:
            unverified = jwt.decode(id_token, options={"verify_signature": False})
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as e:
            raise NotAuthenticated(f"token ID rusak / malformed ID token: {e}") from e
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise NotAuthenticated(
                "penerbit token ID tidak dikenal / ID token from an unknown issuer"
            )
        config, keys = self._issuers[issuer]
        kid = header.get("kid")
        candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise NotAuthenticated(f"ID token signed with key {kid!r} unknown to issuer {issuer}")
        claims: Mapping[str, object] | None = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    id_token,
                    key,
                    algorithms=list(ALGORITHMS),
                    audience=config.audience,
                    issuer=config.issuer,
                    leeway=LEEWAY_SECONDS,
                    options={"require": ["iss", "sub", "aud", "exp", "iat"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError as e:
                raise NotAuthenticated("token ID kedaluwarsa / expired ID token") from e
            except jwt.PyJWTError as e:
                raise NotAuthenticated(f"token ID tidak sah / invalid ID token: {e}") from e
        if claims is None:
            raise NotAuthenticated(
                "tanda tangan token ID salah / ID token signature does not verify"
            )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise NotAuthenticated("ID token has no subject")
        return EndUser(issuer, subject, user_commitment(self._key, issuer, subject))
