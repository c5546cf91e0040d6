"""The consoles in a real browser (issue 15): Debian's Chromium driven by Playwright, against
real processes: the gateway, two adapters holding the whole synthetic city, and the agents of
the planning agency, the city command centre and the transport agency.

Each view is signed into as a person would (the API token and the ID token pasted into the
form), renders with data from the agent, shows a denial with the policy's reasons, and the
dashboard's CSV downloads. Screenshots go to GERBANG_SCREENSHOTS (default
.gerbang/screenshots/), never committed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from adapters.privacy import _h3_cells as public_domain_cells
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.pki import init_pki
from tests.conftest import require
from tests.support.agent_support import running_agents
from tests.support.axe import assert_accessible
from tools.agent_federation import LocalAgent
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REGIONS = {
    "h1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "h2": ("Jakarta Selatan", "Jakarta Timur"),
}
# Under the checkout, wherever pytest runs from: the README links these files.
SHOTS = Path(
    os.environ.get(
        "GERBANG_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".gerbang" / "screenshots"
    )
)
AGENTS = ("citata-spatial", "jsc-command-centre", "dishub-atcs")
TIMEOUT_MS = 60_000
SUBJECT = "nip-198703152010121002"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    require(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium)")
    work = tmp_path_factory.mktemp("consoles")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=30_000, seed=71 + i, kota=kota, persons=200)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


@pytest.fixture(scope="module")
def agents(federation: LocalFederation) -> Iterator[dict[str, LocalAgent]]:
    with running_agents(federation, AGENTS) as started:
        yield started


def signed_in(
    browser: Browser,
    agent: LocalAgent,
    view: str,
    token: str | None = None,
    locale: str | None = None,
) -> Page:
    """A fresh page on the agent's console, signed in through the form, on `view`; `locale`
    is the browser's own (its language settings), which the console must not follow."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        accept_downloads=True,
        locale=locale,
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    own = (agent.url, "blob:", "data:")
    page.on("request", lambda r: None if r.url.startswith(own) else outside.append(r.url))
    page.goto(f"{agent.url}/consoles/#/{view}")
    page.wait_for_selector("[data-testid=login]")
    shot(page, "sign-in")
    assert_accessible(page, "sign-in", SHOTS)
    page.fill("#api-token", token or agent.token)
    page.fill("#id-token", agent.id_token(SUBJECT))
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#view[data-ready=true]")
    assert outside == [], f"the console loaded from outside the agent: {outside}"
    return page


def shot(page: Page, name: str) -> Path:
    """The page as a PNG under SHOTS (the README's how-to-see-it), checked written."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    assert len(data) > 10_000, path
    return path


def test_consoles_are_served_by_the_agent_with_their_base_layer(
    agents: dict[str, LocalAgent],
) -> None:
    a = agents["citata-spatial"]
    page = httpx.get(a.url + "/consoles/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from outside
    assert httpx.get(a.url + "/consoles", timeout=10).status_code == 308
    base = httpx.get(a.url + "/consoles/basemap.geojson", timeout=10).json()
    assert base["approximate"] is True
    assert len([f for f in base["features"] if f["properties"]["kind"] == "outline"]) == 42
    for path in ("/consoles/assets/nope.js", "/consoles/assets/..%2F..%2Fserver.py"):
        r = httpx.get(a.url + path, timeout=10)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"


def test_crime_map_renders_the_private_heatmap_then_a_denial_with_reasons(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["citata-spatial"], "peta")
    # The first view asks for the latest month at the finest resolution the purpose allows.
    facts = page.locator("[data-testid=facts]")
    period = facts.locator("[data-testid=period] dd").inner_text()
    assert period == "1 Oktober 2026 \N{EN DASH} 31 Oktober 2026"
    assert facts.locator("[data-testid=epsilon] dd").inner_text() == "1,00"
    assert facts.locator("[data-testid=k] dd").inner_text() == "10"
    assert facts.locator("[data-testid=receipt] dd").inner_text().startswith("entri #")
    assert "1,00 / 2,00" in facts.locator("[data-testid=budget] dd").inner_text()
    # Coarser cells over the same month: cells above k are drawn, the rest shown as withheld.
    page.select_option("#resolution", "7")
    page.click("form.controls button[type=submit]")
    page.wait_for_selector("#view[data-ready=true]")
    status = page.locator("[data-testid=status]")
    released = int(status.get_attribute("data-released") or 0)
    withheld = int(status.get_attribute("data-withheld") or 0)
    assert released > 20
    assert withheld > 0
    # The page's public domain (h3-js) is the adapters' own (adapters/privacy.py).
    domain = public_domain_cells(tuple(k.name for k in KECAMATAN), 7)
    assert released + withheld == len(domain)
    assert "0,00 / 2,00" in facts.locator("[data-testid=budget] dd").inner_text()
    assert page.locator("[data-testid=approximate]").is_visible()
    canvas = page.locator("#map canvas").first
    assert canvas.bounding_box() is not None
    shot(page, "crime-map")
    assert_accessible(page, "crime-map", SHOTS)
    # A third question over October: the month's account is spent, and the policy says so.
    page.select_option("#category", "fraud")
    page.click("form.controls button[type=submit]")
    problem = page.wait_for_selector("[data-testid=problem]")
    assert problem is not None
    reasons = page.locator("[data-testid=reasons] li").all_inner_texts()
    assert any("privacy budget spent" in r for r in reasons), reasons
    assert "403" in page.locator("[data-testid=problem] h2").inner_text()
    shot(page, "crime-map-denied")
    assert_accessible(page, "crime-map-denied", SHOTS)
    # The agent's journal names the person signed in, as for any other client.
    lines = [json.loads(x) for x in agents["citata-spatial"].journal.read_text().splitlines()]
    heatmaps = [x for x in lines if x["operation"] == "heatmap"]
    assert [x["status"] for x in heatmaps] == [200, 200, 403]
    assert {x["user"]["sub"] for x in heatmaps} == {SUBJECT}


def test_dashboard_shows_kpi_cards_in_indonesian_and_exports_csv(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["jsc-command-centre"], "dasbor")
    cards = page.locator("[data-testid=kpi-card]")
    levels = [cards.nth(i).get_attribute("data-level") for i in range(cards.count())]
    assert levels.count("city") == 1
    assert levels.count("kota") == 5
    assert levels.count("kecamatan") == 42
    city = page.locator("[data-testid=kpi-card][data-level=city]")
    incidents = city.locator("[data-metric=incidents] .value").inner_text()
    assert "." in incidents, incidents  # Indonesian thousands separator
    assert "," in city.locator("[data-metric=rate] .value").inner_text()
    assert city.locator("[data-metric=clearance] .value").inner_text().endswith("%")
    facts = page.locator("[data-testid=facts]")
    assert facts.locator("[data-testid=mechanism] dd").inner_text().startswith("Laplace diskret")
    assert facts.locator("[data-testid=receipt] dd").inner_text().startswith("entri #")
    assert facts.locator("[data-testid=period] dd").inner_text().startswith("1 November 2025")
    shot(page, "dashboard")
    assert_accessible(page, "dashboard", SHOTS)

    with page.expect_download() as info:
        page.click("[data-testid=export-csv]")
    download = info.value
    assert download.suggested_filename == "indeks-keamanan-2026-10.csv"
    saved = Path(download.path())
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert {"name", "level", "incidents", "rate_per_100k"} <= set(rows[0])
    assert len(rows) == 48
    SHOTS.mkdir(parents=True, exist_ok=True)  # a copy beside the screenshots
    shutil.copy(saved, SHOTS / download.suggested_filename)

    # English on request, the same figures in English conventions.
    page.click("#lang")
    page.wait_for_selector("#view[data-ready=true]")
    assert page.locator("h1").inner_text() == "Executive dashboard"
    rate = city.locator("[data-metric=rate] .value").inner_text()
    assert "." in rate, rate  # English decimal point
    shot(page, "dashboard-en")


def test_dashboard_denied_for_a_caller_without_the_purpose_shows_the_reason(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["dishub-atcs"], "dasbor")
    assert page.locator("[data-testid=kpi-card]").count() == 0
    assert "403" in page.locator("[data-testid=problem] h2").inner_text()
    reasons = page.locator("[data-testid=reasons] li").all_inner_texts()
    assert reasons
    assert any("security_indicators" in r for r in reasons), reasons
    shot(page, "dashboard-denied")
    assert_accessible(page, "dashboard-denied", SHOTS)


def test_tokens_the_agent_refuses_show_401_and_lead_back_to_sign_in(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["jsc-command-centre"], "dasbor", token="gat_not-a-token")
    problem = page.locator("[data-testid=problem]")
    assert "401" in problem.locator("h2").inner_text()
    assert "Tidak terautentikasi" in problem.locator("h2").inner_text()
    page.click("[data-testid=sign-in-again]")
    page.wait_for_selector("[data-testid=login]")
    assert page.evaluate("sessionStorage.getItem('gerbang.token')") is None
