"""The agent's configuration, its clients' mTLS, and the user commitment (issue 14).

Configuration: one TOML file, `GERBANG_AGENT_*` variables over it, refusal of anything half
set up. mTLS: an agent serving HTTPS that completes handshakes only with certificates from
the organisation's CA, as a real `gerbang agent serve` process.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from pathlib import Path

import httpx
import pytest

from gateway.agent.auth import COMMITMENT_DOMAIN, new_token, user_commitment
from gateway.agent.config import ServerTls, load_config
from gateway.cli.keys import development_identities
from gateway.errors import ConfigurationError
from gateway.protocol.keys import init_keys
from gateway.protocol.pki import CertificateAuthority, init_pki, write_issued
from tools.agent_federation import LocalAgent
from tools.federation import LocalFederation, free_port

DIGEST = "ab" * 32
BASE = f"""
[agent]
identity = "dishub-atcs"
pki = "pki"
keys = "keys"
gateway = "127.0.0.1:7443"

[[clients]]
name = "sip"
token_sha256 = "{DIGEST}"

[[issuers]]
issuer = "https://sso.example"
audience = "gerbang-agent"
jwks = "jwks.json"
"""


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_file_then_environment(tmp_path: Path) -> None:
    c = load_config(config_file(tmp_path, BASE), env={})
    assert (c.identity, c.gateway, c.host, c.port) == (
        "dishub-atcs",
        "127.0.0.1:7443",
        "127.0.0.1",
        8480,
    )
    assert c.pki == tmp_path / "pki"  # relative to the file
    assert c.state == tmp_path / ".gerbang/agent-dishub-atcs"
    assert c.clients[0].token_sha256 == bytes.fromhex(DIGEST)
    assert c.users_required
    env = {
        "GERBANG_AGENT_GATEWAY": "10.0.0.5:7443",
        "GERBANG_AGENT_LISTEN": "127.0.0.1:9000",
        "GERBANG_AGENT_TOKENS": f"a:{'cd' * 32},b:{'ef' * 32}",
    }
    c = load_config(config_file(tmp_path, BASE), env=env)
    assert (c.gateway, c.port) == ("10.0.0.5:7443", 9000)
    assert [t.name for t in c.clients] == ["a", "b"]
    env = {"GERBANG_AGENT_ISSUERS": "https://a|aud-a|/etc/a.json,https://b|aud-b|b.json"}
    c = load_config(config_file(tmp_path, BASE), env=env)
    assert [(i.issuer, i.audience, i.jwks) for i in c.issuers] == [
        ("https://a", "aud-a", Path("/etc/a.json")),
        ("https://b", "aud-b", tmp_path / "b.json"),
    ]
    with pytest.raises(ConfigurationError, match=r"ISSUER\|AUDIENCE\|JWKS_PATH"):
        load_config(config_file(tmp_path, BASE), env={"GERBANG_AGENT_ISSUERS": "https://a|x"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[[clients]]", "[[elsewhere]]"), "unknown section"),
        (('gateway = "127.0.0.1:7443"', 'gateway = "x"\nport = 1'), "unknown key"),
        ((f'token_sha256 = "{DIGEST}"', 'token_sha256 = "abc"'), "64 hex digits"),
        (('identity = "dishub-atcs"\n', ""), "identity is missing"),
        (
            ('gateway = "127.0.0.1:7443"', 'gateway = "127.0.0.1:7443"\nlisten = "0.0.0.0:8480"'),
            "beyond loopback needs [tls]",
        ),
        (('audience = "gerbang-agent"', "audience = 3"), "audience is missing"),
    ],
)
def test_half_configured_agents_are_refused(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        load_config(config_file(tmp_path, BASE.replace(*change)), env={})


def test_no_client_or_no_issuer_is_refused(tmp_path: Path) -> None:
    no_clients = BASE.split("[[clients]]")[0] + BASE.split(f'"{DIGEST}"\n')[1]
    with pytest.raises(ConfigurationError, match="no client may call"):
        load_config(config_file(tmp_path, no_clients), env={})
    no_issuers = BASE.split("[[issuers]]")[0]
    with pytest.raises(ConfigurationError, match="no \\[\\[issuers\\]\\]"):
        load_config(config_file(tmp_path, no_issuers), env={})
    c = load_config(config_file(tmp_path, no_issuers), env={"GERBANG_AGENT_USERS_REQUIRED": "0"})
    assert not c.users_required


def test_user_commitment_is_keyed_and_unambiguous() -> None:
    key = bytes(range(32))
    c = user_commitment(key, "https://sso.example", "nip-1")
    assert len(c) == 32
    message = COMMITMENT_DOMAIN + (19).to_bytes(4, "big") + b"https://sso.example"
    message += (5).to_bytes(4, "big") + b"nip-1"
    assert c == hmac.new(key, message, hashlib.sha256).digest()
    # Length prefixes: moving a character between issuer and subject changes the commitment.
    assert c != user_commitment(key, "https://sso.exampl", "enip-1")
    assert c != user_commitment(bytes(32), "https://sso.example", "nip-1")


def test_tokens_are_stored_only_as_hashes() -> None:
    token, digest = new_token()
    assert hashlib.sha256(token.encode()).hexdigest() == digest
    assert token not in digest


def test_mtls_clients_need_a_certificate_from_the_organisations_ca(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki", adapters=("m1",))
    fed = LocalFederation(tmp_path, [])
    init_keys(fed.keys_dir, development_identities(("m1",)))
    org = CertificateAuthority.create("Dishub internal CA")
    stranger = CertificateAuthority.create("Someone else's CA")
    tls_dir = tmp_path / "org-tls"
    tls_dir.mkdir()
    (tls_dir / "ca.pem").write_bytes(org.cert_pem)
    write_issued(tls_dir, "agent", org.issue("spiffe://dishub/agent", server=True, client=False))
    write_issued(tls_dir, "sip", org.issue("spiffe://dishub/sip", server=False, client=True))
    write_issued(tls_dir, "rogue", stranger.issue("spiffe://x/rogue", server=False, client=True))

    def context(client: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=tls_dir / "ca.pem")
        if client:
            ctx.load_cert_chain(tls_dir / f"{client}.pem", tls_dir / f"{client}.key")
        return ctx

    server_tls = ServerTls(tls_dir / "agent.pem", tls_dir / "agent.key", tls_dir / "ca.pem")
    dead_gateway = f"127.0.0.1:{free_port()}"
    agent = LocalAgent(
        fed, "dishub-atcs", gateway=dead_gateway, tls=server_tls, client_tls=context("sip")
    )
    with agent:
        body = {"purpose": "traffic_planning", "legal_basis": "x", "end": "2026-11-01T00:00:00Z"}
        user = {"Gerbang-End-User": agent.id_token()}
        # A certificate from the organisation's CA authenticates the client: the request goes
        # on to the gateway (down here, so 503), with no API token.
        with httpx.Client(verify=context("sip")) as c:
            r = c.post(agent.url + "/v1/security-index", json=body, headers=user, timeout=30)
        assert r.status_code == 503, r.text
        for who in (None, "rogue"):
            with httpx.Client(verify=context(who)) as c, pytest.raises(httpx.HTTPError):
                c.post(agent.url + "/v1/security-index", json=body, headers=user, timeout=30)
