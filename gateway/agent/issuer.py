"""A local OIDC issuer for the demo and the tests: no outside identity provider.

It keeps an ES256 (P-256) key in a folder, publishes its public half as `jwks.json` (the file
an agent's `[[issuers]]` entry points at) and mints ID tokens for named subjects. It stands in
for the organisation's identity provider; in production the JWKS comes from that provider.

    gerbang agent issuer init .gerbang/issuer --issuer https://sso.example.go.id
    gerbang agent issuer mint .gerbang/issuer --subject nip-19850101 --audience gerbang-agent
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import ConfigurationError

KEY_FILE = "issuer-key.pem"
JWKS_FILE = "jwks.json"
META_FILE = "issuer.json"


@dataclass(frozen=True)
class LocalIssuer:
    issuer: str
    key: ec.EllipticCurvePrivateKey
    key_id: str
    directory: Path

    @property
    def jwks_path(self) -> Path:
        return self.directory / JWKS_FILE

    @classmethod
    def init(cls, directory: Path, issuer: str) -> LocalIssuer:
        """Create the issuer's key and JWKS in `directory`, or load them if present."""
        if (directory / META_FILE).exists():
            return cls.load(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        key_id = secrets.token_hex(8)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(directory / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwks = {"keys": [public | {"kid": key_id, "use": "sig", "alg": "ES256"}]}
        (directory / JWKS_FILE).write_text(json.dumps(jwks, indent=1) + "\n")
        (directory / META_FILE).write_text(json.dumps({"issuer": issuer, "kid": key_id}) + "\n")
        return cls(issuer, key, key_id, directory)

    @classmethod
    def load(cls, directory: Path) -> LocalIssuer:
        try:
            meta = json.loads((directory / META_FILE).read_text())
            key = serialization.load_pem_private_key(
                (directory / KEY_FILE).read_bytes(), password=None
            )
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"no local issuer in {directory}: {e}") from e
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"{directory / KEY_FILE} is not an EC key")
        return cls(str(meta["issuer"]), key, str(meta["kid"]), directory)

    def mint(
        self,
        subject: str,
        audience: str,
        *,
        lifetime: float = 3600.0,
        issued_at: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """An ID token for `subject`, valid for `lifetime` seconds from `issued_at` (now)."""
        now = int(time.time() if issued_at is None else issued_at)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + int(lifetime),
            **(extra or {}),
        }
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.key_id})
