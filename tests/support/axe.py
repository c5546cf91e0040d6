"""axe-core in the consoles' browser tests: one call per view, `assert_accessible(page, name)`.

axe-core is an npm package pinned in consoles/package-lock.json (devDependencies), installed by
`npm ci` with the consoles' toolchain; the test evaluates node_modules/axe-core/axe.min.js in
the page with Playwright (nothing downloads) and runs it on the whole document with the WCAG 2
A/AA and best-practice rules. A serious or critical violation fails the test, naming the rule
and the elements; every view's result is written to GERBANG_SCREENSHOTS/axe-<name>.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "consoles" / "node_modules" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_results(page: Page) -> dict[str, Any]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Not add_script_tag: the consoles' CSP (script-src 'self') rightly blocks an inline
        # script. Evaluated through the DevTools protocol, axe runs without loosening it.
        page.evaluate(AXE.read_text() + "\n;0")
    results: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, "
        "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        TAGS,
    )
    return results


def assert_accessible(page: Page, name: str, shots: Path) -> list[dict[str, Any]]:
    """No serious or critical axe-core violation on the page as it is; return all violations."""
    from tests.conftest import require

    require(AXE.exists(), "no consoles/node_modules/axe-core (cd consoles && npm ci)")
    violations: list[dict[str, Any]] = axe_results(page)["violations"]
    shots.mkdir(parents=True, exist_ok=True)
    summary = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:10],
        }
        for v in violations
    ]
    (shots / f"axe-{name}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    bad = [s for s in summary if s["impact"] in FAILING]
    assert not bad, f"axe-core on {name}: {json.dumps(bad, indent=1, ensure_ascii=False)}"
    return violations
