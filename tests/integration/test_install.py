"""`pip install .` gives working commands, away from the checkout (issue 13; docs/adr/0026).

The wheel is built from a copy of the sources with the pinned setuptools of the lock (no build
isolation, no index: nothing downloads) and installed with `--no-deps` into a fresh virtual
environment: no system site-packages, not the project's `.venv`. Its third-party packages come
from a folder of links to exactly the distributions the wheel declares, and theirs, as the
project's `.venv` holds them (a `.pth` file names the folder): a runtime import of anything
undeclared fails there, as it would after `pip install`.

From a folder outside the checkout, the installed `gerbang` then makes a PKI and keys, serves
an adapter and the gateway (default policies: the installed bundle) until they answer the gRPC
health check, answers a signed query from the installed client library, and `gerbang audit
verify` checks the exported log and `gerbang evidence verify` the evidence bundle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gateway.policy.bundle import load_bundle
from gateway.protocol.identities import adapter_id
from gateway.protocol.tls import TlsFiles
from tools.city import seed_city
from tools.federation import Process, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from: the project's metadata and the packages it ships.
SOURCES = (
    "pyproject.toml",
    "README.md",
    "gateway",
    "adapters",
    "gerbang",
    "policies",
    "clients/python/pyproject.toml",
)
# What a caller's environment must not hold: the gateway's, the adapter's, oversight's.
SERVER_ONLY = (
    "sqlalchemy",
    "psycopg",
    "wasmtime",
    "opendp",
    "starlette",
    "uvicorn",
    "alembic",
    "structlog",
    "regopy",
    "gateway.service",
    "gateway.policy",
    "gateway.audit",
    "gateway.oversight",
    "gateway.cli",
    "adapters",
)
STEP_TIMEOUT = 120.0

pytestmark = pytest.mark.timeout(480)


def run(argv: list[str | Path], cwd: Path, timeout: float = STEP_TIMEOUT) -> str:
    """Run to completion; fail the test with the output when it does not exit 0."""
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    )
    if done.returncode != 0:
        pytest.fail(
            f"{argv[0]} {' '.join(map(str, argv[1:4]))}... exited {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


def copy_sources(project: Path, sources: Path) -> None:
    """What the two distributions are built from, without caches."""
    for name in SOURCES:
        src = project / name
        (sources / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(
                src,
                sources / name,
                symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
            )
        else:
            shutil.copy2(src, sources / name)


def build_wheel(project: Path, out: Path) -> Path:
    """The wheel of `project`, built offline with the build backends the lock installed."""
    out.mkdir()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            out,
            project,
        ],
        cwd=out,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def declared_requirements(wheel: Path) -> list[Requirement]:
    """`Requires-Dist` of the wheel's METADATA."""
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(z.read(name).decode("utf-8"))
    return [Requirement(line) for line in meta.get_all("Requires-Dist") or []]


def link_distributions(requirements: list[Requirement], into: Path) -> set[str]:
    """Link the files of `requirements`, and of theirs, as this interpreter has them installed,
    into `into`; return their names. Only what is declared is reachable from there."""
    into.mkdir()
    seen: set[str] = set()
    queue = [(r, frozenset[str]()) for r in requirements]
    while queue:
        req, asked = queue.pop()
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in ("", *asked)
        ):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        site = Path(str(dist.locate_file("")))
        for file in dist.files or ():
            top = file.parts[0]
            if top == ".." or (into / top).exists():
                continue  # a script in bin/, or a folder two distributions share
            (into / top).symlink_to(site / top)
        extras = frozenset(req.extras)
        queue += [(Requirement(r), extras) for r in dist.requires or ()]
    return seen


def fresh_venv(where: Path, wheel: Path, deps: Path) -> Path:
    """A new virtual environment holding `wheel` and, through a `.pth` file, `deps`."""
    run([sys.executable, "-m", "venv", "--without-pip", where], cwd=where.parent)
    python = where / "bin" / "python"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        cwd=where.parent,
    )
    purelib = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=where.parent,
    ).strip()
    (Path(purelib) / "_gerbang_test_dependencies.pth").write_text(f"{deps}\n")
    return python


QUERY_SCRIPT = """
import asyncio, datetime as dt, json, sys
from pathlib import Path

from gateway.client import GerbangClient
from gateway.protocol.evidence import verify_bundle
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.model import Aggregation, Filter, GroupBy, Op, Query

WIB = dt.timezone(dt.timedelta(hours=7))
address, legal_basis, out = sys.argv[1:4]


async def main() -> None:
    query = Query(
        dataset="incidents",
        fields=("kecamatan",),
        filters=(
            Filter("occurred_at", Op.GE, (dt.datetime(2025, 11, 1, tzinfo=WIB),)),
            Filter("occurred_at", Op.LT, (dt.datetime(2026, 11, 1, tzinfo=WIB),)),
        ),
        aggregation=Aggregation((GroupBy("kecamatan"),)),
        purpose="traffic_planning",
        legal_basis=legal_basis,
    )
    async with GerbangClient.connect(address, Path(".gerbang/pki"), "dishub-atcs") as client:
        result = await client.query(query)
        bundle = await client.evidence(result)
    Path(out).write_text(json.dumps(bundle))
    # Offline, with the federation's public keys and the log's key only.
    summary = verify_bundle(
        bundle,
        KeyRegistry.load(Path(".gerbang/keys/registry.json")),
        Path(".gerbang/keys/audit-log.pub").read_text().strip(),
    )
    print(json.dumps({"revision": result.policy_revision, "adapters": list(result.adapters),
                      "leaf": result.receipt.leaf_index, "verified_leaf": summary.leaf_index}))


asyncio.run(main())
"""

# Where an environment finds each package, and which it cannot find.
PROBE = """
import importlib.util, json, sys

import gateway, gateway.client, gerbang.v1

def absent(name):
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:  # a parent package is missing
        return True

print(json.dumps({"gateway": gateway.__file__,
                  "absent": [n for n in sys.argv[1:] if absent(n)]}))
"""


def probe(python: Path, cwd: Path, names: tuple[str, ...]) -> tuple[Path, set[str]]:
    """Where `python` imports `gateway` from, and which of `names` it cannot import."""
    found = json.loads(run([python, "-c", PROBE, *names], cwd=cwd))
    return Path(found["gateway"]), set(found["absent"])


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(a folder outside the checkout, the `gerbang` wheel, the `gerbang-client` wheel)."""
    base = tmp_path_factory.mktemp("install")
    assert not base.resolve().is_relative_to(ROOT), "the test must run outside the checkout"
    copy_sources(ROOT, base / "src")
    full = build_wheel(base / "src", base / "dist")
    client = build_wheel(base / "src/clients/python", base / "dist-client")
    return base, full, client


@pytest.fixture(scope="module")
def installed(wheels: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    """`pip install .`: (the fresh environment's python, a work folder outside the checkout)."""
    base, wheel, _ = wheels
    names = link_distributions(declared_requirements(wheel), base / "deps")
    assert "sqlalchemy" in names
    assert not names & {"pytest", "mypy", "ruff", "hypothesis", "uv"}, "dev tools are not runtime"
    python = fresh_venv(base / "venv", wheel, base / "deps")
    work = base / "work"
    work.mkdir()
    return python, work


@pytest.fixture(scope="module")
def client_installed(wheels: tuple[Path, Path, Path]) -> Path:
    """The client distribution alone, with only its declared dependencies: its python."""
    base, _, wheel = wheels
    names = link_distributions(declared_requirements(wheel), base / "client-deps")
    assert names >= {"grpcio", "protobuf", "cryptography"}
    return fresh_venv(base / "client-venv", wheel, base / "client-deps")


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: tuple[Path, Path]) -> None:
    python, work = installed
    where, absent = probe(python, work, ("adapters", "sqlalchemy", "tools", "tests", "pytest"))
    assert where.is_relative_to(python.parent.parent), where
    assert absent == {"tools", "tests", "pytest"}, "tools/ and tests/ stay out of the wheel"


def test_the_client_installs_without_the_servers_dependencies(
    client_installed: Path, tmp_path: Path
) -> None:
    where, absent = probe(client_installed, tmp_path, ("gateway.tlog", *SERVER_ONLY))
    assert where.is_relative_to(client_installed.parent.parent), where
    assert absent == set(SERVER_ONLY), "the client environment holds a server dependency"
    assert not (client_installed.parent / "gerbang").exists(), "the client has no commands"


def test_gateway_adapter_client_and_audit_verify_from_outside_the_checkout(
    installed: tuple[Path, Path], client_installed: Path
) -> None:
    python, work = installed
    gerbang = python.parent / "gerbang"
    run([gerbang, "pki", "init", ".gerbang/pki"], cwd=work)
    run([gerbang, "keys", "init"], cwd=work)
    seed_city(
        f"sqlite:///{work / '.gerbang/police.db'}", incidents=200, seed=7, kota=("Jakarta Pusat",)
    )
    adapter_address = f"127.0.0.1:{free_port()}"
    gateway_address = f"127.0.0.1:{free_port()}"
    logs = work / "logs"
    adapter = Process(
        "adapter",
        [str(gerbang), "adapter", "serve", "--listen", adapter_address],
        logs / "adapter.log",
    )
    gateway = Process(
        "gateway",
        # No --policies: the bundle installed with the package.
        [
            str(gerbang),
            "gateway",
            "serve",
            "--listen",
            gateway_address,
            "--adapter",
            f"{adapter_id('pmj-1')}={adapter_address}",
        ],
        logs / "gateway.log",
    )
    tls = TlsFiles.load(work / ".gerbang/pki", "gateway")
    purposes = json.loads((ROOT / "policies/registry/purposes/data.json").read_text())
    basis = str(purposes["traffic_planning"]["legal_basis"])
    (work / "query.py").write_text(QUERY_SCRIPT)
    cwd = Path.cwd()
    os.chdir(work)  # Process starts in the working directory
    try:
        adapter.start()
        gateway.start()
    finally:
        os.chdir(cwd)
    try:
        wait_healthy(adapter_address, tls, adapter, timeout=60)
        wait_healthy(gateway_address, tls, gateway, timeout=60)
        answers = [
            json.loads(
                run([py, "query.py", gateway_address, basis, out], cwd=work).splitlines()[-1]
            )
            for py, out in ((python, "evidence.json"), (client_installed, "evidence-client.json"))
        ]
    finally:
        gateway.stop()
        adapter.stop()
    for answer in answers:
        # The installed bundle decided, and it is the checkout's policies/, byte for byte.
        assert answer["revision"] == load_bundle(ROOT / "policies").revision
        assert answer["adapters"] == [adapter_id("pmj-1")]
        assert answer["verified_leaf"] == answer["leaf"]
    assert answers[0]["leaf"] != answers[1]["leaf"]
    run([gerbang, "audit", "export", "--out", "audit.jsonl"], cwd=work)
    verified = run(
        [
            gerbang,
            "audit",
            "verify",
            "--export",
            "audit.jsonl",
            "--pubkey",
            ".gerbang/keys/audit-log.pub",
        ],
        cwd=work,
    )
    match = re.match(r"audit log OK: (\d+) entries", verified)
    assert match is not None, verified
    assert int(match.group(1)) > max(a["leaf"] for a in answers)
    for name, answer in zip(("evidence.json", "evidence-client.json"), answers, strict=True):
        evidence = run([gerbang, "evidence", "verify", name], cwd=work)
        assert evidence.startswith("evidence OK: spiffe://"), evidence
        assert f"audit entry {answer['leaf']} " in evidence


def test_in_the_checkout_the_default_policies_are_the_top_level_folder() -> None:
    from gateway.policy.bundle import installed_policies

    assert installed_policies().resolve() == (ROOT / "policies").resolve()
    assert (installed_policies() / "compiled" / "decision.wasm").is_file()
