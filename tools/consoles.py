"""Build the consoles (issue 15) and check that the committed build is current.

`python -m tools.consoles` writes what the front end reads from the Python side:
consoles/src/registry.json (what the consoles' purposes allow, from the policy registry) and
gateway/agent/consoles/basemap.geojson (the approximate kecamatan outlines, adapters/basemap.py),
then runs `npm run build` in consoles/, which type-checks (tsc, strict) and bundles (Vite) into
gateway/agent/consoles/dist/, shipped with the package: `make run` needs no Node.

`--check` fails when either generated file is stale, when a fresh build into a temporary
folder differs from the committed dist/ in any file, or when the bundle is over its budget.
Without Node the build comparison is skipped with a note, except under CI=true, where it fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from adapters.basemap import basemap
from adapters.schema import INCIDENT_CATEGORIES
from gateway.protocol.geography import KOTA_NAMES
from tools.city import DEFAULT_END

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "consoles"
REGISTRY_JSON = SOURCE / "src" / "registry.json"
PACKAGED = ROOT / "gateway" / "agent" / "consoles"
DIST = PACKAGED / "dist"
BASEMAP = PACKAGED / "basemap.geojson"
PURPOSES = ROOT / "policies" / "registry" / "purposes" / "data.json"
# The bundle's budget, gzip-compressed as served: MapLibre GL is most of it (ADR 0024).
BUDGET_GZIP_BYTES = 450_000
BUDGET_RAW_BYTES = 1_600_000
MONTHS = 12


def months_before(end: dt.date, n: int) -> list[str]:
    """The `n` whole months before the month of `end`, oldest first, as "YYYY-MM"."""
    out = []
    y, m = end.year, end.month
    for _ in range(n):
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        out.append(f"{y:04d}-{m:02d}")
    return out[::-1]


def registry() -> dict[str, Any]:
    """What the consoles offer: only what the purposes allow, read from the policy registry."""
    purposes = json.loads(PURPOSES.read_text())
    spatial = purposes["spatial_planning"]
    finest = int(spatial["generalisation"]["h3_max_resolution"])
    return {
        "purposes": {
            "spatial_planning": {
                "legal_basis": spatial["legal_basis"],
                "resolutions": [r for r in (6, 7, 8) if r <= finest],
            },
            "security_indicators": {
                "legal_basis": purposes["security_indicators"]["legal_basis"],
                "resolutions": [],
            },
            # The command centre and patrol planning views (issue 15, ADR 0020).
            "public_order_early_warning": {
                "legal_basis": purposes["public_order_early_warning"]["legal_basis"],
                "resolutions": [],
            },
            "patrol_planning": {
                "legal_basis": purposes["patrol_planning"]["legal_basis"],
                "resolutions": [
                    r
                    for r in (7, 8)
                    if r <= int(purposes["patrol_planning"]["generalisation"]["h3_max_resolution"])
                ],
            },
        },
        # The last day of data (exclusive): the demo city's seed end.
        "data_end": DEFAULT_END.isoformat(),
        "categories": list(INCIDENT_CATEGORIES),
        "kota": list(KOTA_NAMES),
        # The demo city's data ends at the seed's fixed end; a deployment's would be today's.
        "months": months_before(DEFAULT_END, MONTHS),
    }


def _json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def generated() -> dict[Path, str]:
    return {REGISTRY_JSON: _json(registry()), BASEMAP: _json(basemap())}


def npm_build(out: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed: cannot build the consoles")
    if not (SOURCE / "node_modules" / ".bin" / "vite").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=SOURCE, check=True)
    env = os.environ | {"GERBANG_CONSOLES_OUT": str(out)}
    done = subprocess.run(
        [npm, "run", "--silent", "build"], cwd=SOURCE, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"the consoles' build failed:\n{done.stdout}{done.stderr}")


def sizes(folder: Path) -> tuple[int, int]:
    """Raw and gzip-compressed bytes of the bundle's files."""
    raw = compressed = 0
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            raw += len(data)
            compressed += len(gzip.compress(data, mtime=0))
    return raw, compressed


def check_budget(folder: Path) -> list[str]:
    raw, compressed = sizes(folder)
    print(f"consoles bundle: {raw:,} bytes, {compressed:,} gzip (budget {BUDGET_GZIP_BYTES:,})")
    problems = []
    if compressed > BUDGET_GZIP_BYTES:
        problems.append(f"the bundle is {compressed:,} bytes gzip, over {BUDGET_GZIP_BYTES:,}")
    if raw > BUDGET_RAW_BYTES:
        problems.append(f"the bundle is {raw:,} bytes, over {BUDGET_RAW_BYTES:,}")
    return problems


def differences(a: Path, b: Path) -> list[str]:
    names_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    names_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    out = [f"only in the committed build: {n}" for n in sorted(names_a - names_b)]
    out += [f"missing from the committed build: {n}" for n in sorted(names_b - names_a)]
    out += [
        f"differs: {n}"
        for n in sorted(names_a & names_b)
        if not filecmp.cmp(a / n, b / n, shallow=False)
    ]
    return out


def check() -> int:
    problems = [
        f"{path.relative_to(ROOT)} is stale"
        for path, text in generated().items()
        if not path.exists() or path.read_text() != text
    ]
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            problems.append("npm is missing under CI: cannot check the consoles' build")
        else:
            print("consoles: npm not installed, the build comparison is skipped")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            npm_build(Path(tmp) / "dist")
            problems += differences(DIST, Path(tmp) / "dist")
    if DIST.exists():
        problems += check_budget(DIST)
    else:
        problems.append("gateway/agent/consoles/dist is missing")
    for p in problems:
        print(f"consoles: {p}", file=sys.stderr)
    if problems:
        print("consoles: run `make consoles` and commit the result", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the build is stale")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    for path, text in generated().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    npm_build(DIST)
    check_budget(DIST)
    return 0


if __name__ == "__main__":
    sys.exit(main())
