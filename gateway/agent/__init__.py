"""The organisation's agent: Gerbang over local HTTP/JSON, with a person behind every request.

Run by each calling organisation next to its systems (`gerbang agent serve`), like X-Road's
security server. It holds the organisation's certificate and signing and HPKE keys, and does
all the protocol work through the client library (`gateway.client`, `gateway.client.analytics`):
it signs, verifies plans and attestations, opens and merges, runs the analytics methods, keeps
evidence, and answers in plain JSON, CSV, GeoJSON or Server-Sent Events (docs/adr/0011).

Modules, one job each: `config` (TOML plus `GERBANG_AGENT_*` variables), `auth` (its clients'
API tokens, end users' ID tokens, the user commitment), `issuer` (a local OIDC issuer for the
demo and tests), `journal` (the append-only log of who asked what), `service` (the one path to
the gateway), `formats` (JSON, CSV, GeoJSON), `problems` (RFC 9457), `routes` and `server`.
"""
