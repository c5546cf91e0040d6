"""Policy decisions: the Rego policies in `policies/`, run by one of two engines.

- `WasmEngine` (`wasm`): OPA's own Wasm compilation of the bundle, run inside the gateway
  process by wasmtime; the default.
- `OpaServerEngine` (`opa`): a real OPA server (a sidecar), over mTLS with opa-python-client.

Both evaluate `data.gerbang.authz.decision` over the same bundle and report the same
revision; the parity corpus (tests/integration/test_policy_parity.py) holds them to identical
decisions. Every engine failure is a denial (docs/policy.md, docs/adr/0002-policy-engines.md).
The third engine, rego-cpp through regopy, was removed (docs/adr/0031).

Modules: `bundle` (the bundle and its revision), `registry` (its checks), `decision` (what a
decision document must be), `engine` (the interface and failing closed), `wasm`,
`wasm_instance`, `compiled` and `sprintf` (the Wasm engine), `opa_server` and `link` (the OPA
engine and its mTLS link), `limits` (limits per caller as the registry states them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from gateway.errors import ConfigurationError
from gateway.policy.bundle import QUERY, PolicyBundle, bundle_revision, load_bundle
from gateway.policy.decision import (
    Decision,
    Generalisation,
    MalformedDecision,
    Obligations,
    RowFilter,
)
from gateway.policy.engine import PolicyEngine, PolicyEngineError
from gateway.policy.link import PolicyLinkTls, init_policy_link
from gateway.policy.opa_server import (
    OpaServerEngine,
    OpaServerProcess,
    find_opa_binary,
    stage_bundle,
)

__all__ = [
    "DEFAULT_ENGINE",
    "DEFAULT_TIMEOUT",
    "QUERY",
    "Decision",
    "EngineKind",
    "Generalisation",
    "MalformedDecision",
    "Obligations",
    "OpaServerEngine",
    "OpaServerProcess",
    "PolicyBundle",
    "PolicyEngine",
    "PolicyEngineError",
    "PolicyLinkTls",
    "RowFilter",
    "bundle_revision",
    "engine_from_config",
    "find_opa_binary",
    "init_policy_link",
    "load_bundle",
    "stage_bundle",
]

EngineKind = Literal["wasm", "opa"]
DEFAULT_ENGINE: Final = "wasm"
DEFAULT_TIMEOUT: Final = 0.5


def engine_from_config(
    kind: EngineKind | str,
    policies_dir: Path,
    opa_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    opa_tls: Path | None = None,
) -> PolicyEngine:
    """The engine a deployment asks for; `ConfigurationError` if it cannot be set up.

    `kind` is "wasm" (the default: OPA's own Wasm compilation of the bundle, run
    in-process by `gateway.policy.wasm`) or "opa" (a real OPA server, which needs
    `opa_url`, e.g. https://127.0.0.1:8181, and `opa_tls`, the directory of the mTLS link
    to it, ADR 0018). ADR 0002 explains the choice, ADR 0031 why there is no third.
    `timeout` bounds each decision, in seconds; past it the decision is a denial.
    """
    if timeout <= 0:
        raise ConfigurationError(f"the policy timeout must be positive, not {timeout}")
    if kind == "opa":
        if not opa_url:
            raise ConfigurationError("the 'opa' policy engine needs the OPA server's URL")
        if opa_tls is None:
            raise ConfigurationError(
                "the 'opa' policy engine needs its mTLS link (--opa-tls DIR); "
                "create one with `gerbang pki policy-link DIR`"
            )
        return OpaServerEngine(
            policies_dir, opa_url, tls=PolicyLinkTls.load(opa_tls), timeout=timeout
        )
    if kind == "wasm":
        from gateway.policy.wasm import WasmEngine  # wasmtime is loaded only when asked for

        return WasmEngine(policies_dir, timeout=timeout)
    raise ConfigurationError(f"unknown policy engine {kind!r}: use 'wasm' or 'opa'")
