"""The TypeScript example client (clients/typescript) against a running agent (issue 14).

Starts two adapters, the gateway and the transport agency's agent, compiles the example with
its pinned TypeScript (strict) and runs its tests with Node's built-in runner. `make tools`
installs the compiler; without it or Node the test skips, and under CI it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.pki import init_pki
from tests.conftest import require
from tools.agent_federation import LocalAgent
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

CLIENT = Path("clients/typescript")
TSC = CLIENT / "node_modules" / ".bin" / "tsc"
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
REGIONS = {"n1": ("Jakarta Pusat",), "n2": ("Jakarta Selatan",)}


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAgent, LocalAgent]]:
    work = tmp_path_factory.mktemp("agent-ts")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=3000, seed=51 + i, kota=kota, persons=100)
        specs.append(AdapterSpec(name, url))
    with (
        LocalFederation(work, specs) as fed,
        LocalAgent(fed, "dishub-atcs") as atcs,
        LocalAgent(fed, "jsc-command-centre") as jsc,
    ):
        yield atcs, jsc


def test_typescript_example_client_passes_against_the_agent(
    agents: tuple[LocalAgent, LocalAgent],
) -> None:
    node = shutil.which("node")
    require(node, "no node (Node 20) on PATH")
    require(TSC.exists(), f"no {TSC}: run `make tools`")
    assert node is not None
    subprocess.run([str(TSC), "-p", str(CLIENT)], check=True, timeout=120)
    atcs, jsc = agents
    # The warning stream is the command centre's purpose: the test reaches it via its agent,
    # the same API, so the client is pointed at one agent per purpose.
    env = os.environ | {
        "GERBANG_AGENT_URL": atcs.url,
        "GERBANG_AGENT_TOKEN": atcs.token,
        "GERBANG_AGENT_ID_TOKEN": atcs.id_token(),
        "GERBANG_TRAFFIC_BASIS": str(PURPOSES["traffic_planning"]["legal_basis"]),
        "GERBANG_WARNING_BASIS": str(PURPOSES["public_order_early_warning"]["legal_basis"]),
        "GERBANG_WARNING_AGENT_URL": jsc.url,
        "GERBANG_WARNING_AGENT_TOKEN": jsc.token,
        "GERBANG_WARNING_ID_TOKEN": jsc.id_token(),
    }
    run = subprocess.run(
        [node, "--test", "--test-reporter=spec", "dist/test/"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pass 6" in run.stdout, run.stdout
