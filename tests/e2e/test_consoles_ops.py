"""The operations consoles in a real browser (issue 15, ADR 0020): the command centre's live
warning stream with acknowledgement and the deployment's webhook, patrol planning, the
executive dashboard's chart, index map, CSV and printed report, a deployment's own base map,
and views limited by the caller's purposes.

Debian's Chromium driven by Playwright against real processes: the gateway, two adapters
holding the synthetic city (with planted surges, so the warning method has something to
find), agents for the city command centre (with a webhook to a receiver on loopback), the
Direktorat Samapta, DPRD Komisi A (with its own base map) and the planning agency.
Screenshots go to GERBANG_SCREENSHOTS (default .gerbang/screenshots/), never committed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser

from gateway.agent import alerts
from gateway.agent.config import load_config
from gateway.errors import ConfigurationError
from gateway.protocol.pki import init_pki
from tests.conftest import require
from tests.e2e.test_consoles_browser import CHROMIUM, SHOTS, SUBJECT, shot, signed_in
from tests.support.agent_support import basis, conforms, headers
from tests.support.axe import assert_accessible
from tools.agent_federation import LocalAgent
from tools.federation import AdapterSpec, LocalFederation

REGIONS = {
    "h1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "h2": ("Jakarta Selatan", "Jakarta Timur"),
}
SECRET = b"webhook-secret-of-the-command-centre-0123456789"
WIB = dt.timezone(dt.timedelta(hours=7))
DATA_START = dt.date(2025, 11, 1)  # seed_city's 365 days before its end, 2026-11-01
LOOKBACK_DAYS = 60  # the warning method's baseline (56 days) and a margin


class Receiver:
    """A webhook receiver on loopback: answers 503 to the first delivery (so the agent must
    retry) and 204 after, and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if outer.refused == 0:
                    outer.refused += 1
                    self.send_response(503)
                else:
                    outer.received.append((dict(self.headers.items()), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gerbang-alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    require(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium)")
    from tools.city import seed_city

    work = tmp_path_factory.mktemp("consoles-ops")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(
            url, incidents=30_000, seed=171 + i, kota=kota, persons=200, surges=2, surge_factor=2.0
        )
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


def surge_window(federation: LocalFederation) -> tuple[dt.date, dt.date, str]:
    """The first and last day to watch, the second to fourth day of a planted surge that has
    its whole lookback in the data, and the surge's kecamatan."""
    found = []
    for name in REGIONS:
        engine = sa.create_engine(f"sqlite:///{federation.workdir / f'{name}.db'}")
        with engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT kecamatan, start_at FROM seed_truth WHERE kind = 'surge'")
            ).all()
        engine.dispose()
        for kecamatan, start in rows:
            day = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(start)
            first = (day.replace(tzinfo=dt.UTC).astimezone(WIB)).date()
            if (first - DATA_START).days >= LOOKBACK_DAYS:
                found.append((first, kecamatan))
    assert found, "no planted surge late enough in the data to be watched"
    first, kecamatan = min(found)
    return first + dt.timedelta(days=1), first + dt.timedelta(days=3), kecamatan


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def basemap_file(federation: LocalFederation) -> Path:
    """The deployment's own base map: here the packaged outlines, relabelled as its own."""
    packaged = json.loads(Path("gateway/agent/consoles/basemap.geojson").read_text())
    features = [
        {
            "type": "Feature",
            "geometry": f["geometry"],
            "properties": {
                "name": f["properties"]["kecamatan"],
                "kecamatan": f["properties"]["kecamatan"],
            },
        }
        for f in packaged["features"]
    ]
    doc = {
        "type": "FeatureCollection",
        "notice": "Batas uji DPRD / DPRD test outlines",
        "features": features,
    }
    path = federation.workdir / "dprd-basemap.geojson"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def agents(
    federation: LocalFederation, receiver: Receiver, basemap_file: Path
) -> Iterator[dict[str, LocalAgent]]:
    started = {
        s: LocalAgent(federation, s)
        for s in ("jsc-command-centre", "samapta", "dprd-komisi-a", "citata-spatial")
    }
    secret = federation.workdir / "webhook.key"
    secret.write_bytes(SECRET)
    jsc = started["jsc-command-centre"]
    with jsc.config_path.open("a") as f:
        f.write(
            f"\n[webhook]\nurl = {json.dumps(receiver.url)}\n"
            f"secret_file = {json.dumps(str(secret))}\n"
            "attempts = 4\nbackoff_seconds = 0.2\n"
        )
    with started["dprd-komisi-a"].config_path.open("a") as f:
        f.write(f"\n[consoles]\nbasemap = {json.dumps(str(basemap_file))}\n")
    try:
        for a in started.values():
            a.start()
        yield started
    finally:
        for a in started.values():
            a.stop()


def journal(agent: LocalAgent) -> list[dict[str, Any]]:
    return [json.loads(x) for x in agent.journal.read_text().splitlines()]


def test_command_centre_streams_alerts_live_acknowledges_and_calls_the_webhook(
    federation: LocalFederation,
    agents: dict[str, LocalAgent],
    browser: Browser,
    receiver: Receiver,
) -> None:
    jsc = agents["jsc-command-centre"]
    page = signed_in(browser, jsc, "komando")
    # The view opens on the last days of data; then the days of a planted surge.
    page.wait_for_selector("#view[data-ended=true]")
    first, last, kecamatan = surge_window(federation)
    page.fill("#start", first.strftime("%d/%m/%Y"))  # day first, as the console reads it
    page.fill("#end", last.strftime("%d/%m/%Y"))
    page.select_option("#pace", "1")  # the gateway paces the replay: one day a second
    page.click("form.controls button[type=submit]")
    # Live: the first day is on the page while the stream is still open.
    page.wait_for_selector("[data-testid=days] li")
    assert page.locator("#view").get_attribute("data-ended") is None
    assert page.locator("[data-testid=days] li").count() < (last - first).days + 1
    alert = page.wait_for_selector(f"[data-testid=alert][data-alert$='/{kecamatan}']")
    assert alert is not None
    page.wait_for_selector("#view[data-ended=true]")
    days = page.locator("[data-testid=days] li")
    assert days.count() == (last - first).days + 1
    assert all("entri #" in d for d in days.all_inner_texts())
    card = page.locator(f"[data-testid=alert][data-alert$='/{kecamatan}']").first
    ident = card.get_attribute("data-alert") or ""
    observed = int(card.locator("[data-evidence=observed] .value").inner_text().replace(".", ""))
    threshold = int(card.locator("[data-evidence=threshold] .value").inner_text().replace(".", ""))
    assert observed >= threshold  # an alert: the count reached the threshold
    assert card.locator("[data-evidence=expected] .value").inner_text()
    assert "hari" in card.locator("[data-evidence=window] .value").inner_text()
    assert card.locator("[data-evidence=p] .value").inner_text()
    shot(page, "command-centre")
    assert_accessible(page, "command-centre", SHOTS)

    card.locator("[data-testid=acknowledge]").click()
    page.wait_for_selector(f"[data-alert='{ident}'][data-acknowledged=true]")
    assert SUBJECT in card.locator("[data-testid=ack-state]").inner_text()
    shot(page, "command-centre-acknowledged")
    assert_accessible(page, "command-centre-acknowledged", SHOTS)
    acks = [e for e in journal(jsc) if e["operation"] == "acknowledge"]
    assert len(acks) == 1
    assert acks[0]["request"] == {"alert": ident}
    assert acks[0]["user"]["sub"] == SUBJECT
    assert acks[0]["status"] == 200
    assert isinstance(acks[0]["audit_entry"], int)
    # Watched again: the alert comes back already acknowledged.
    page.select_option("#pace", "0")
    page.click("form.controls button[type=submit]")
    page.wait_for_selector("#view[data-ended=true]")
    again = page.locator(f"[data-alert='{ident}']").first
    assert again.get_attribute("data-acknowledged") == "true"
    assert SUBJECT in again.locator("[data-testid=ack-state]").inner_text()
    assert again.locator("[data-testid=acknowledge]").count() == 0
    # An alert this client was never sent cannot be acknowledged, and the attempt is journalled.
    r = httpx.post(
        jsc.url + "/v1/acknowledge", json={"alert": "2026-10-01/1/Nowhere"}, headers=headers(jsc)
    )
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["status"] for e in journal(jsc) if e["operation"] == "acknowledge"] == [200, 404]

    # The webhook: the first delivery refused (503), retried with backoff, signed.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        json.loads(b)["alert"]["id"] == ident for _, b in receiver.received
    ):
        time.sleep(0.2)
    sent = [(h, b) for h, b in receiver.received if json.loads(b)["alert"]["id"] == ident]
    assert len(sent) == 1, "the webhook receiver should get the alert once"
    head, body = sent[0]
    assert alerts.verify(SECRET, body, head[alerts.SIGNATURE_HEADER], time.time())
    assert not alerts.verify(
        b"another-secret-of-sixteen", body, head[alerts.SIGNATURE_HEADER], time.time()
    )
    doc = json.loads(body)
    assert doc["alert"]["area"] == kecamatan
    assert {"statistic", "baseline", "threshold", "window_days", "p_value"} <= set(doc["alert"])
    assert doc["audit_receipt"]["leaf_index"] >= 0
    assert receiver.refused == 1
    deliveries = [e for e in journal(jsc) if e["operation"] == "webhook"]
    assert any(e.get("detail") == "delivered" for e in deliveries)


def test_patrol_plan_on_the_map_with_scores_intervals_factors_and_the_cap(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["samapta"], "patroli")
    rows = page.locator("[data-testid=assignment]")
    assert rows.count() == 20
    for i in range(rows.count()):
        row = rows.nth(i)
        assert row.locator("[data-col=score]").inner_text() != "\N{EN DASH}"
        low, high = row.locator("[data-col=interval]").inner_text().split("\N{EN DASH}")
        assert (
            float(low.replace(",", "."))
            <= float(row.locator("[data-col=score]").inner_text().replace(",", "."))
            <= float(high.replace(",", "."))
        )
        assert "dasar" in row.locator("[data-col=factors]").inner_text()
    caps = page.locator("[data-testid=caps]")
    assert "Batas unit per kecamatan: 2" in caps.locator("h2").inner_text()
    for item in caps.locator("li").all_inner_texts():
        placed, cap = item.rsplit(": ", 1)[1].split(" / ")
        assert int(placed) <= int(cap) == 2
    assert (
        page.locator("[data-testid=facts] [data-testid=receipt] dd")
        .inner_text()
        .startswith("entri #")
    )
    assert page.locator("[data-testid=approximate]").is_visible()
    shot(page, "patrol-plan")
    assert_accessible(page, "patrol-plan", SHOTS)
    # A tighter cap: one unit per kecamatan at most, the same facts.
    page.fill("#cap", "1")
    page.click("form.controls button[type=submit]")
    page.wait_for_selector("#view[data-ready=true]")
    page.wait_for_selector("[data-testid=caps] h2:has-text(': 1')")
    areas = [r.split(": ")[0] for r in page.locator("[data-testid=caps] li").all_inner_texts()]
    assert len(areas) == len(set(areas)) == page.locator("[data-testid=assignment]").count()


def test_views_outside_the_callers_purposes_are_hidden_and_show_the_reason(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["citata-spatial"], "komando")
    assert page.locator("#view[data-denied=true]").count() == 1
    assert "403" in page.locator("[data-testid=problem] h2").inner_text()
    reasons = page.locator("[data-testid=reasons] li").all_inner_texts()
    assert any("public_order_early_warning" in r and "spatial_planning" in r for r in reasons)
    visible = [a.get_attribute("href") for a in page.locator("nav a:visible").all()]
    assert visible == ["#/peta"]
    shot(page, "command-centre-denied")
    assert_accessible(page, "command-centre-denied", SHOTS)
    # Nothing was asked of the gateway for the denied view: the journal holds no stream.
    assert not [e for e in journal(agents["citata-spatial"]) if e["operation"] == "watch-warnings"]
    page = signed_in(browser, agents["samapta"], "dasbor")
    reasons = page.locator("[data-testid=reasons] li").all_inner_texts()
    assert any("security_indicators" in r for r in reasons), reasons
    visible = [a.get_attribute("href") for a in page.locator("nav a:visible").all()]
    assert visible == ["#/patroli"]


def test_dashboard_chart_index_map_csv_and_printed_report_on_the_deployments_base_map(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    dprd = agents["dprd-komisi-a"]
    served = httpx.get(dprd.url + "/consoles/basemap.geojson", timeout=10).json()
    assert served["notice"] == "Batas uji DPRD / DPRD test outlines"
    page = signed_in(browser, dprd, "dasbor")
    chart = page.locator("[data-testid=chart]")
    assert chart.get_attribute("data-lines") == "6"  # the city and five kota
    assert chart.get_attribute("data-months") == "12"
    assert page.locator("[data-testid=chart] canvas").count() >= 1
    assert page.locator("[data-testid=index-map]").get_attribute("data-areas") == "42"
    # Every figure names its period, epsilon, k and receipt.
    stamps = page.locator("[data-testid=stamp]").all_inner_texts()
    assert len(stamps) == 3
    for s in stamps:
        assert "Periode: 1 November 2025" in s
        assert "ε 1,00" in s or "ε 0," in s
        assert " k " in s
        assert "entri #" in s
    assert (
        page.locator("[data-testid=basemap-note]")
        .inner_text()
        .startswith("Peta dasar dari penyelenggara")
    )
    assert page.locator("[data-testid=approximate]").count() == 0
    shot(page, "dashboard-figures")
    assert_accessible(page, "dashboard-figures", SHOTS)

    with page.expect_download() as info:
        page.click("[data-testid=export-csv]")
    saved = Path(info.value.path())
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(rows) == 48
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(saved, SHOTS / f"dprd-{info.value.suggested_filename}")

    # The printed report: the controls and navigation gone, the figures and stamps kept.
    page.emulate_media(media="print")
    assert not page.locator("header nav").is_visible()
    assert not page.locator("form.controls").is_visible()
    assert page.locator("[data-testid=print-heading]").is_visible()
    assert page.locator("[data-testid=figure-chart]").is_visible()
    assert all(s.is_visible() for s in page.locator("[data-testid=stamp]").all())
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 20_000
    (SHOTS / "dashboard-report.pdf").write_bytes(pdf)
    shot(page, "dashboard-print")

    # The series the chart draws add up to the index's own figures (the same question again:
    # the held release, at no charge).
    r = httpx.post(
        dprd.url + "/v1/security-index",
        json={
            "purpose": "security_indicators",
            "legal_basis": basis("security_indicators"),
            "end": "2026-11-01T00:00:00+07:00",
        },
        headers=headers(dprd),
        timeout=120,
    )
    assert r.status_code == 200, r.text
    conforms("/v1/security-index", r)
    answer = r.json()
    assert answer["privacy"]["held"] is True
    incidents = {(a["level"], a["name"]): a["incidents"] for a in answer["result"]}
    for s in answer["series"]:
        assert len(s["months"]) == 12
        assert sum(s["incidents"]) == incidents[(s["level"], s["name"])], s["name"]


def test_webhook_and_basemap_settings_are_checked_at_start(tmp_path: Path) -> None:
    base = (
        '[agent]\nidentity = "x"\npki = "p"\nkeys = "k"\ngateway = "127.0.0.1:1"\n'
        '[[clients]]\nname = "c"\ntoken_sha256 = "' + "0" * 64 + '"\n[users]\nrequired = false\n'
    )
    (tmp_path / "key").write_bytes(SECRET)
    (tmp_path / "short").write_bytes(b"short")
    (tmp_path / "map.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (tmp_path / "bad.geojson").write_text('{"type": "Feature"}')
    (tmp_path / "map.pmtiles").write_bytes(b"not an archive" * 10)
    (tmp_path / "raster.pmtiles").write_bytes(b"PMTiles\x03" + bytes(91) + b"\x02" + bytes(27))
    cases = {
        '[webhook]\nurl = "http://alerts.example.go.id/x"\nsecret_file = "key"\n': "https",
        '[webhook]\nurl = "https://alerts.example.go.id/x"\nsecret_file = "short"\n': "too weak",
        '[webhook]\nurl = "https://a.go.id/x"\nsecret_file = "key"\nattempts = 0\n': "attempts",
        '[consoles]\nbasemap = "bad.geojson"\n': "FeatureCollection",
        '[consoles]\nbasemap = "map.pmtiles"\n': "not a PMTiles version 3 archive",
        '[consoles]\nbasemap = "raster.pmtiles"\n': "must hold vector tiles",
        '[consoles]\nbasemap = "map.shp"\n': "GeoJSON .* or PMTiles",
    }
    for extra, message in cases.items():
        path = tmp_path / "agent.toml"
        path.write_text(base + extra)
        with pytest.raises(ConfigurationError, match=message):
            load_config(path, env={})
    path.write_text(
        base
        + '[webhook]\nurl = "https://alerts.example.go.id/x"\nsecret_file = "key"\n'
        + '[consoles]\nbasemap = "map.geojson"\n'
    )
    config = load_config(path, env={})
    assert config.webhook is not None
    assert config.webhook.secret == SECRET
    assert config.webhook.attempts == 5
    assert config.basemap == tmp_path / "map.geojson"


def test_webhook_deliveries_never_wait_on_a_slow_receiver_and_give_up_journalled(
    tmp_path: Path,
) -> None:
    """A receiver that accepts connections and never answers: offering an alert returns at
    once, each attempt times out, and the agent's journal says it gave up."""
    import asyncio
    import socket

    from gateway.agent.config import Webhook
    from gateway.agent.journal import Journal

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    hook = Webhook(url, SECRET, attempts=2, backoff_seconds=0.1, timeout_seconds=0.3)
    alert = {"id": "x", "area": "Tebet", "day": "2026-10-30", "window_days": 1}

    async def run() -> float:
        journal = Journal(tmp_path / "journal.jsonl")
        sender = alerts.WebhookSender(hook, journal)
        began = time.monotonic()
        for window in (1, 2, 3, 1):  # three alerts, the first offered twice
            sender.offer({"alert": alert | {"window_days": window}})
        offered = time.monotonic() - began
        await sender.settle(timeout=10)
        await sender.close()
        journal.close()
        return offered

    # In a thread of its own: Playwright's sync API keeps a loop running in this one.
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(asyncio.run(run())))
    try:
        worker.start()
        worker.join(timeout=30)
    finally:
        silent.close()
    (offered,) = result
    assert offered < 0.05
    lines = [json.loads(x) for x in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    assert all(x["operation"] == "webhook" and x["client"] == "webhook" for x in lines)
    assert all(x["detail"] == "gave up: ReadTimeout" and x["status"] == 0 for x in lines)
    assert sorted(x["request"]["alert"] for x in lines) == [
        "2026-10-30/1/Tebet",
        "2026-10-30/2/Tebet",
        "2026-10-30/3/Tebet",
    ]
    assert all(x["request"]["attempts"] == 2 for x in lines)
