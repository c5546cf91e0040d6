"""The consoles' maps and conventions in a real browser (issue 15, ADR 0030): kecamatan names
placed by MapLibre's symbol collision, none over another; a deployment's PMTiles base layer
read by range requests from the agent; day fields and every figure in Indonesian or English
conventions, whatever the browser's own locale.

Debian's Chromium driven by Playwright against real processes: the gateway, one adapter with
the synthetic city, and the agents of the planning agency (the packaged approximate base
map), the city command centre, and the Direktorat Samapta (a PMTiles base layer written here
with the `pmtiles` package, its tiles encoded as Mapbox Vector Tiles below).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

from gateway.protocol.geography import KECAMATAN
from gateway.protocol.pki import init_pki
from tests.conftest import require
from tests.e2e.test_consoles_browser import CHROMIUM, SHOTS, shot, signed_in
from tests.support.axe import assert_accessible
from tests.support.conventions import assert_conventions
from tools.agent_federation import LocalAgent
from tools.city import DEFAULT_END, seed_city
from tools.federation import AdapterSpec, LocalFederation

ZOOM = 10
EXTENT = 4096
TILE_LAYER = "wilayah"
# Three squares (and their name points) inside one z10 tile of central Jakarta.
AREAS = {"Wilayah Uji Barat": 106.745, "Wilayah Uji Tengah": 106.785, "Wilayah Uji Timur": 106.825}
LAT = -6.19
HALF = 0.015
ID_MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


# -- Mapbox Vector Tile 2.1, the few parts a base layer needs ---------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    """A protobuf field: varint (wire type 0) for an int, length-delimited (2) for bytes."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 31)


def _geometry(kind: int, rings: list[list[tuple[int, int]]]) -> bytes:
    """MoveTo, LineTo and (polygons) ClosePath commands, deltas zigzag-encoded."""
    out: list[int] = []
    x = y = 0
    for ring in rings:
        (x0, y0), rest = ring[0], ring[1:]
        out += [1 | 1 << 3, _zigzag(x0 - x), _zigzag(y0 - y)]
        x, y = x0, y0
        if rest:
            out.append(2 | len(rest) << 3)
            for px, py in rest:
                out += [_zigzag(px - x), _zigzag(py - y)]
                x, y = px, py
        if kind == 3:
            out.append(7 | 1 << 3)
    return b"".join(_varint(c) for c in out)


def mvt(
    layer: str, features: list[tuple[int, list[list[tuple[int, int]]], dict[str, Any]]]
) -> bytes:
    """One layer of features (1 point, 3 polygon) with string or integer properties."""
    keys: list[str] = []
    values: list[str | int] = []
    body = _field(15, 2) + _field(1, layer.encode())
    for fid, (kind, rings, props) in enumerate(features, 1):
        tags: list[int] = []
        for k, v in props.items():
            if k not in keys:
                keys.append(k)
            if v not in values:
                values.append(v)
            tags += [keys.index(k), values.index(v)]
        feature = (
            _field(1, fid)
            + _field(2, b"".join(_varint(t) for t in tags))
            + _field(3, kind)
            + _field(4, _geometry(kind, rings))
        )
        body += _field(2, feature)
    body += b"".join(_field(3, k.encode()) for k in keys)
    for v in values:
        body += _field(4, _field(1, v.encode()) if isinstance(v, str) else _field(5, v))
    body += _field(5, EXTENT)
    return _field(3, body)


def _tile_xy(lon: float, lat: float) -> tuple[float, float]:
    n = 2**ZOOM
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def write_pmtiles(path: Path) -> None:
    """The deployment's base layer: one vector tile with three outlined, named areas."""
    fx, fy = _tile_xy(AREAS["Wilayah Uji Tengah"], LAT)
    tx, ty = int(fx), int(fy)

    def at(lon: float, lat: float) -> tuple[int, int]:
        x, y = _tile_xy(lon, lat)
        px, py = round((x - tx) * EXTENT), round((y - ty) * EXTENT)
        assert 0 <= px < EXTENT, "every test area inside the one tile"
        assert 0 <= py < EXTENT, "every test area inside the one tile"
        return px, py

    features: list[tuple[int, list[list[tuple[int, int]]], dict[str, Any]]] = []
    for name, lon in AREAS.items():
        w, e, s, n = lon - HALF, lon + HALF, LAT - HALF, LAT + HALF
        # Clockwise on the tile's y-down grid: an exterior ring.
        ring = [at(w, n), at(e, n), at(e, s), at(w, s)]
        features.append((3, [ring], {"name": name, "population": 100_000}))
        features.append((1, [[at(lon, LAT)]], {"name": name, "population": 100_000}))
    west, east = min(AREAS.values()) - HALF, max(AREAS.values()) + HALF
    with write(path) as writer:
        writer.write_tile(zxy_to_tileid(ZOOM, tx, ty), mvt(TILE_LAYER, features))
        writer.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.NONE,
                "min_lon_e7": int(west * 1e7),
                "min_lat_e7": int((LAT - HALF) * 1e7),
                "max_lon_e7": int(east * 1e7),
                "max_lat_e7": int((LAT + HALF) * 1e7),
                "center_zoom": ZOOM,
            },
            {"vector_layers": [{"id": TILE_LAYER, "fields": {"name": "String"}}]},
        )


# -- The processes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    require(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium)")
    work = tmp_path_factory.mktemp("consoles-maps")
    init_pki(work / "pki", adapters=("h1",))
    url = f"sqlite:///{work / 'h1.db'}"
    seed_city(url, incidents=12_000, seed=79, persons=100)
    with LocalFederation(work, [AdapterSpec("h1", url)]) as fed:
        yield fed


@pytest.fixture(scope="module")
def agents(federation: LocalFederation) -> Iterator[dict[str, LocalAgent]]:
    started = {
        s: LocalAgent(federation, s) for s in ("citata-spatial", "jsc-command-centre", "samapta")
    }
    tiles = federation.workdir / "samapta-basemap.pmtiles"
    write_pmtiles(tiles)
    with started["samapta"].config_path.open("a") as f:
        f.write(f"\n[consoles]\nbasemap = {json.dumps(str(tiles))}\n")
    try:
        for a in started.values():
            a.start()
        yield started
    finally:
        for a in started.values():
            a.stop()


# Each placed name's box on the screen: its anchor (the text's centre) projected by the map,
# its width the text's own in the layer's font, its height the font size.
LABEL_BOXES = """(box, layers) => {
  const map = box.maplibre;
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = "12px system-ui, 'Noto Sans', 'DejaVu Sans', sans-serif";
  return map.queryRenderedFeatures({ layers }).map((f) => {
    const name = f.properties.kecamatan ?? f.properties.name;
    const p = map.project(f.geometry.coordinates);
    const w = ctx.measureText(name).width;
    return { name, left: p.x - w / 2, right: p.x + w / 2, top: p.y - 6, bottom: p.y + 6 };
  });
}"""


def rendered(page: Page, layer: str, prop: str = "name") -> list[str]:
    return [
        str(x)
        for x in page.locator("#map").evaluate(
            "(box, [layer, prop]) => box.maplibre.queryRenderedFeatures({ layers: [layer] })"
            ".map((f) => f.properties[prop])",
            [layer, prop],
        )
    ]


def test_kecamatan_names_never_overlap_and_the_most_populous_are_placed_first(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["citata-spatial"], "peta")
    boxes = {b["name"]: b for b in page.locator("#map").evaluate(LABEL_BOXES, ["kecamatan-names"])}
    # The dense centre cannot hold all 42 names at the city's zoom: some are left out...
    assert 10 <= len(boxes) < len(KECAMATAN), sorted(boxes)
    assert set(boxes) <= {k.name for k in KECAMATAN}
    # ...and no two of those placed overlap.
    for a, b in itertools.combinations(boxes.values(), 2):
        apart = (
            a["right"] <= b["left"]
            or b["right"] <= a["left"]
            or a["bottom"] <= b["top"]
            or b["bottom"] <= a["top"]
        )
        assert apart, (a, b)
    # The most populous kecamatan are placed before the others.
    largest = sorted(KECAMATAN, key=lambda k: -k.population)[:3]
    assert {k.name for k in largest} <= set(boxes), sorted(boxes)
    assert page.locator(".map-label").count() == 0  # no HTML label left over the map
    assert_conventions(page, "id")
    shot(page, "crime-map-names")
    assert_accessible(page, "crime-map-names", SHOTS)


def test_a_pmtiles_base_layer_is_read_by_range_requests_from_the_agent(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    samapta = agents["samapta"]
    served = httpx.get(samapta.url + "/consoles/basemap.geojson", timeout=10).json()
    assert served["pmtiles"] == "/consoles/basemap.pmtiles"
    assert served["approximate"] is False
    part = httpx.get(
        samapta.url + "/consoles/basemap.pmtiles", headers={"Range": "bytes=0-126"}, timeout=10
    )
    assert part.status_code == 206
    assert part.content[:7] == b"PMTiles"
    assert len(part.content) == 127
    assert part.headers["content-range"].startswith("bytes 0-126/")
    # The file is the configured one and nothing else: the packaged agents have none.
    none = httpx.get(agents["citata-spatial"].url + "/consoles/basemap.pmtiles", timeout=10)
    assert none.status_code == 404

    ranges: list[tuple[int, str]] = []
    page = signed_in(browser, samapta, "patroli")
    page.on(
        "response",
        lambda r: (
            ranges.append((r.status, r.request.headers.get("range", "")))
            if r.url.endswith("/consoles/basemap.pmtiles")
            else None
        ),
    )
    page.reload()  # still signed in (the tab keeps the tokens); the archive read again
    page.wait_for_selector("#view[data-ready=true]")
    # The map draws the archive's outlines and names (signed_in checked nothing came from
    # outside the agent), and every read of the archive was a range request answered 206.
    assert sorted(set(rendered(page, "kecamatan"))) == sorted(AREAS)
    assert sorted(set(rendered(page, "kecamatan-names"))) == sorted(AREAS)
    assert ranges, "the page read no part of the archive"
    assert all(status == 206 and rng.startswith("bytes=") for status, rng in ranges), ranges
    note = page.locator("[data-testid=basemap-note]").inner_text()
    assert note.startswith("Peta dasar dari penyelenggara")
    assert page.locator("[data-testid=approximate]").count() == 0
    assert int(page.locator("[data-testid=status]").get_attribute("data-placed") or 0) > 0
    assert_conventions(page, "id")
    shot(page, "patrol-plan-pmtiles")
    assert_accessible(page, "patrol-plan-pmtiles", SHOTS)


def _day(d: dt.date) -> str:
    return d.strftime("%d/%m/%Y")


def test_day_fields_and_figures_follow_the_consoles_language_not_the_browsers(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    jsc = agents["jsc-command-centre"]
    # An American browser: its own date input would show mm/dd/yyyy.
    page = signed_in(browser, jsc, "komando", locale="en-US")
    page.wait_for_selector("#view[data-ended=true]")
    first = DEFAULT_END - dt.timedelta(days=3)
    start = page.locator("#start")
    assert start.get_attribute("type") == "text"
    assert start.input_value() == _day(first)
    assert page.locator("#start-shown").inner_text() == (
        f"{first.day} {ID_MONTHS[first.month - 1]} {first.year}"
    )
    assert "(hh/bb/tttt)" in page.locator("label[for=start]").inner_text()
    assert_conventions(page, "id")
    # Typed day first, watched over exactly those days.
    page.fill("#start", "2/10/2026")
    page.fill("#end", "04/10/2026")
    page.click("form.controls button[type=submit]")
    page.wait_for_selector("#view[data-ended=true]")
    days = page.locator("[data-testid=days] li").evaluate_all("ls => ls.map(l => l.dataset.day)")
    assert days == ["2026-10-02", "2026-10-03", "2026-10-04"]
    assert page.locator("#start-shown").inner_text() == "2 Okt 2026"
    # The budget's period (the last day's) is a day as people write it.
    assert "(4 Okt 2026)" in page.locator("[data-testid=budget] dd").inner_text()
    assert_conventions(page, "id")
    # A day that does not exist is refused by the form, in the console's language.
    page.fill("#end", "31/02/2026")
    message = page.eval_on_selector("#end", "e => e.validationMessage")
    assert message.startswith("Tulis tanggal sebagai hh/bb/tttt"), message
    shot(page, "command-centre-days")
    assert_accessible(page, "command-centre-days", SHOTS)

    page.click("#lang")
    page.wait_for_selector("#view[data-ended=true]")
    assert page.locator("#start").input_value() == _day(first)
    assert page.locator("#start-shown").inner_text() == first.strftime("%-d %b %Y")
    assert "(dd/mm/yyyy)" in page.locator("label[for=start]").inner_text()
    assert_conventions(page, "en")

    # The dashboard's figures, in both languages.
    board = signed_in(browser, jsc, "dasbor", locale="en-US")
    assert_conventions(board, "id")
    board.click("#lang")
    board.wait_for_selector("#view[data-ready=true]")
    assert_conventions(board, "en")
