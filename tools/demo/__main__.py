"""`make run`: prepare, start the federation, run the queries and the oversight, verify."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from gateway.client import Receipt
from tools.agent_demo import serve_consoles, show_agent
from tools.demo.analytics import early_warning, heatmap_picture, patrol_plan
from tools.demo.oversight import mirror_through_tiles, oversee, standard_witness, verify_offline
from tools.demo.queries import scripted_queries
from tools.demo.show import heading
from tools.demo.workdir import POLICIES, WORKDIR, legal_basis, prepare
from tools.federation import LocalFederation, free_port

AGENT_PURPOSES = ("traffic_planning", "public_order_early_warning")


async def queries_and_analytics(address: str, pki: Path, cosignatures: int) -> Receipt:
    """Queries 1 to 6 in order; query 1's receipt is what oversight proves in the log."""
    first = await scripted_queries(address, pki, cosignatures)
    await heatmap_picture(address, pki)
    await early_warning(address, pki)
    await patrol_plan(address, pki)
    return first


def main() -> int:
    incidents = int(os.environ.get("GERBANG_DEMO_INCIDENTS", "200000"))
    WORKDIR.mkdir(exist_ok=True)
    specs = prepare(WORKDIR, incidents)
    with contextlib.ExitStack() as stack:
        args = standard_witness(stack)
        # The log as C2SP tlog-tiles: over the AuditService's mTLS, and as a static mirror.
        tiles = f"127.0.0.1:{free_port()}"
        tiles_args = ["--tiles-listen", tiles, "--tiles-dir", str(WORKDIR / "tiles")]
        federation = LocalFederation(
            WORKDIR, specs, policies=POLICIES, extra_gateway_args=[*args, *tiles_args]
        )
        heading(f"Starting {len(specs)} adapters and the gateway (logs in {WORKDIR / 'logs'})")
        with federation:
            print(f"gateway listening on {federation.address} (mTLS)")
            first = asyncio.run(
                queries_and_analytics(federation.address, federation.pki, 1 if args else 0)
            )
            heading(
                "7. The same over HTTP: the transport agency's agent (gerbang agent serve), curl"
            )
            show_agent(federation, {p: legal_basis(p) for p in AGENT_PURPOSES})
            heading("Oversight: Kompolnas witnesses the audit log")
            oversee(federation, first)
            mirror_through_tiles(federation, f"https://{tiles}/")
            heading("8. Konsol di peramban / Consoles in the browser (served by each agent)")
            serve_consoles(federation, wait=sys.stdin.isatty())
    verify_offline(federation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
