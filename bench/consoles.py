"""Load times of the consoles on a seeded city (issue 15: each view under 2 s at 1,000,000
incidents): `make bench-consoles`, or `python -m bench.consoles --incidents 100000`.

Seeds one police database holding the whole city (kept under --workdir per incident count, so
a second run starts at once), starts the gateway, the adapter and the agents of the spatial
planners, the command centre, Samapta and Kompolnas (the last with its [oversight] pins), and drives
Debian's Chromium with Playwright: for each view, a fresh browser context already signed in
(the tokens put in sessionStorage before the page's scripts run) navigates to the view, and
the load time is `performance.now()` when the view marks itself ready (`data-ready`; the
command centre `data-ended`, its stream over): from
navigation start to the data rendered, the agent's and the gateway's work included. The first
load of each view is reported apart (cold caches), then the median of the rest.

A measurement, not a test: nothing asserts the budget; the figures are printed and written to
<workdir>/consoles-<incidents>.json for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from adapters.schema import Base
from bench.workload import analyse
from gateway.protocol.pki import init_pki
from tools.agent_federation import LocalAgent
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
SUBJECT = "nip-198703152010121002"
BUDGET_MS = 2000.0
# What "loaded" means per view: the data rendered (the maps mark themselves ready when the
# map is idle with the answer's layers drawn); the command centre is ready when its stream
# of the default days has ended with every day shown, not when the stream opens.
READY = {"komando": "#view[data-ended=true]"}
# view, the agent serving it, its client name, and whether it is an oversight agent
VIEWS = (
    ("peta", "citata-spatial", "sip", False),
    ("dasbor", "jsc-command-centre", "sip", False),
    ("komando", "jsc-command-centre", "sip", False),
    ("patroli", "samapta", "sip", False),
    ("pengawasan", "kompolnas-oversight", "komisioner", True),
)


def city(workdir: Path, incidents: int) -> AdapterSpec:
    """The seeded database for `incidents`, made once (the marker file says it is complete)."""
    db = workdir / "police-city.db"
    done = workdir / "seeded.json"
    if not done.exists():
        db.unlink(missing_ok=True)
        t0 = time.perf_counter()
        summary = seed_city(f"sqlite:///{db}", incidents=incidents, seed=20261203, persons=5000)
        analyse(db)
        seconds = time.perf_counter() - t0
        done.write_text(json.dumps({"incidents": summary.incidents, "seconds": round(seconds, 1)}))
        print(f"seeded {summary.incidents:,} incidents in {seconds:.0f} s", flush=True)
    _current_indexes(db)
    return AdapterSpec("city", f"sqlite:///{db}")


def _current_indexes(db: Path) -> None:
    """Bring a database seeded under an older schema to the schema's indexes (the rows are
    the same; only which indexes exist changes), so a kept seed measures the current schema."""
    conn = sqlite3.connect(db)
    try:
        changed = []
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                want = [c.name for c in index.columns]
                have = [r[2] for r in conn.execute(f"PRAGMA index_info('{index.name}')")]
                if have != want:
                    conn.execute(f'DROP INDEX IF EXISTS "{index.name}"')
                    unique = "UNIQUE " if index.unique else ""
                    conn.execute(
                        f'CREATE {unique}INDEX "{index.name}" ON "{table.name}" ({", ".join(want)})'
                    )
                    changed.append(str(index.name))
        if changed:
            conn.execute("ANALYZE")
            conn.commit()
            print(f"indexes brought to the schema: {', '.join(sorted(changed))}", flush=True)
    finally:
        conn.close()


def load_ms(browser: Any, agent: LocalAgent, view: str, token: str) -> tuple[float, float]:
    """One navigation to `view`, signed in: milliseconds until it is ready with data, and the
    milliseconds of its calls to the agent (the sum of /v1/ resource timings)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        context.add_init_script(
            f"sessionStorage.setItem('gerbang.token', {json.dumps(token)});"
            f"sessionStorage.setItem('gerbang.idToken', {json.dumps(agent.id_token(SUBJECT))});"
        )
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{agent.url}/consoles/#/{view}")
        page.wait_for_selector(READY.get(view, "#view[data-ready=true]"))
        if page.locator("#view [data-testid=problem]").count():
            raise RuntimeError(f"{view}: the view shows a refusal, not data")
        ready = float(page.evaluate("performance.now()"))
        api = page.evaluate(
            "performance.getEntriesByType('resource')"
            ".filter(e => new URL(e.name).pathname.startsWith('/v1/'))"
            ".reduce((n, e) => n + e.duration, 0)"
        )
        return ready, float(api)
    finally:
        context.close()


def measure(incidents: int, workdir: Path, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    work = workdir / f"city-{incidents}"
    work.mkdir(parents=True, exist_ok=True)
    spec = city(work, incidents)
    run = work / "run"  # a fresh federation (PKI, keys, audit log, budgets) each time
    shutil.rmtree(run, ignore_errors=True)
    init_pki(run / "pki", adapters=("city",))
    results: dict[str, Any] = {"incidents": incidents, "runs": runs, "views": {}}
    with LocalFederation(run, [spec]) as fed:
        agents = {}
        try:
            for _view, identity, client, oversight in VIEWS:
                if identity not in agents:
                    agents[identity] = LocalAgent(fed, identity, client=client, oversight=oversight)
                    agents[identity].start()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                try:
                    for view, identity, *_ in VIEWS:
                        a = agents[identity]
                        loads = [load_ms(browser, a, view, a.token) for _ in range(runs)]
                        times = [t for t, _ in loads]
                        warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
                        api = statistics.median([x for _, x in loads[1:]] or [loads[0][1]])
                        results["views"][view] = {
                            "first_ms": round(times[0]),
                            "median_ms": round(warm),
                            "median_agent_calls_ms": round(api),
                            "all_ms": [round(t) for t in times],
                        }
                        print(
                            f"{view:<12} first {times[0]:7.0f} ms   median {warm:7.0f} ms "
                            f"(agent calls {api:6.0f} ms)   "
                            f"{'within' if max(times) < BUDGET_MS else 'OVER'} the 2 s budget",
                            flush=True,
                        )
                finally:
                    browser.close()
        finally:
            for a in agents.values():
                a.stop()
    out = workdir / f"consoles-{incidents}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written {out}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=4, help="loads per view (first is cold)")
    parser.add_argument("--workdir", default=".gerbang/bench-consoles")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print("no /usr/bin/chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    measure(args.incidents, Path(args.workdir), args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
