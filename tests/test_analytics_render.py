"""The heatmap pictures: a PNG that decodes, and a terminal grid, each with the hottest cell
where it is on the ground.

The PNG is decoded with Pillow; positions are checked against this test's own equirectangular
projection of the cells. The legend is checked by its pixels: it holds ink where its text is,
and changes when the release's ε or audit receipt does.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import h3  # type: ignore[import-untyped]
import pytest
from PIL import Image as PilImage

from gateway.analytics.tally import InvalidTally
from gateway.client.render import (
    RAMP,
    WITHHELD_COLOUR,
    WITHHELD_MARK,
    Legend,
    basemap_from_geojson,
    palette,
    render_png,
    render_terminal,
)

HOTTEST = palette(1.0)
WHITE = (255, 255, 255)
CENTRE = str(h3.latlng_to_cell(-6.26, 106.81, 8))  # Jakarta Selatan


def city_cells() -> tuple[dict[str, int | None], str, str]:
    """A disc of cells around CENTRE: counts fall with distance, the hottest cell off-centre
    (north-east of it), one withheld cell on the far side. Returns cells, hottest, withheld."""
    disc = [str(c) for c in h3.grid_disk(CENTRE, 4)]
    lat0, lon0 = h3.cell_to_latlng(CENTRE)
    cells: dict[str, int | None] = {c: 100 - 15 * int(h3.grid_distance(CENTRE, c)) for c in disc}
    ring = [str(c) for c in h3.grid_ring(CENTRE, 2)]

    def bearing(c: str, sign: float) -> float:
        lat, lon = h3.cell_to_latlng(c)
        return float(sign * ((lat - lat0) + (lon - lon0)))

    hottest = max(ring, key=lambda c: bearing(c, 1.0))
    withheld = max(ring, key=lambda c: bearing(c, -1.0))
    cells[hottest] = 400  # the next highest is 100: far above 8/9 of the range
    cells[withheld] = None
    return cells, hottest, withheld


def relative_position(cells: dict[str, int | None], cell: str) -> tuple[float, float]:
    """Where the cell's centre lies in the cells' bounding box: (0, 0) north-west, (1, 1)
    south-east, with x scaled by cos(latitude)."""
    points = [p for c in cells for p in h3.cell_to_boundary(c)]
    lats = [lat for lat, _ in points]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    xs = [lon * kx for _, lon in points]
    lat, lon = h3.cell_to_latlng(cell)
    return (
        (lon * kx - min(xs)) / (max(xs) - min(xs)),
        (max(lats) - lat) / (max(lats) - min(lats)),
    )


def cell_under(cells: dict[str, int | None], fx: float, fy: float) -> str:
    """The cell at a relative position of the cells' bounding box (inverse of the above)."""
    points = [p for c in cells for p in h3.cell_to_boundary(c)]
    lats = [lat for lat, _ in points]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    xs = [lon * kx for _, lon in points]
    lat = max(lats) - fy * (max(lats) - min(lats))
    lon = (min(xs) + fx * (max(xs) - min(xs))) / kx
    return str(h3.latlng_to_cell(lat, lon, 8))


# --- the PNG, decoded by Pillow --------------------------------------------------------


@dataclass
class Image:
    width: int
    height: int
    rgb: bytes
    text: dict[str, str]

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = (y * self.width + x) * 3
        return self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]


def decode_png(data: bytes) -> Image:
    with PilImage.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGB"
        image.load()
        text = dict(getattr(image, "text", {}))
        return Image(image.width, image.height, image.tobytes(), text)


def map_rows(image: Image) -> range:
    """The tallest run of rows holding anything but background: the map (title above it,
    legend below, blank rows between)."""
    runs, start = [], None
    for y in range(image.height + 1):
        inked = y < image.height and any(
            image.pixel(x, y) != WHITE for x in range(0, image.width, 2)
        )
        if inked and start is None:
            start = y
        elif not inked and start is not None:
            runs.append(range(start, y))
            start = None
    return max(runs, key=len)


def test_png_decodes_with_the_width_asked_and_the_hottest_cell_in_the_hottest_colour() -> None:
    cells, hottest, withheld = city_cells()
    image = decode_png(render_png(cells, width=480, title="Jakarta Selatan, 2026-10"))
    assert image.width == 480
    assert image.text == {"Title": "Jakarta Selatan, 2026-10"}
    rows = map_rows(image)
    columns = [x for x in range(image.width) if any(image.pixel(x, y) != WHITE for y in rows[::3])]
    left, right = min(columns), max(columns)

    def at(cell: str) -> tuple[int, int, int]:
        fx, fy = relative_position(cells, cell)
        x = round(left + fx * (right - left))
        y = round(rows.start + fy * (len(rows) - 1))
        return image.pixel(x, y)

    assert at(hottest) == HOTTEST
    assert at(withheld) == WITHHELD_COLOUR
    assert at(CENTRE) == palette((100 - 40) / (400 - 40))
    # Equirectangular with cos(lat): the map keeps the cells' aspect ratio.
    points = [p for c in cells for p in h3.cell_to_boundary(c)]
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    kx = math.cos(math.radians(sum(lats) / len(lats)))
    expected = (max(lats) - min(lats)) / ((max(lons) - min(lons)) * kx)
    assert len(rows) / (right - left + 1) == pytest.approx(expected, rel=0.03)
    # The hottest colour is in the map and at the right end of the legend bar, nowhere else.
    hot = {
        (x, y)
        for y in range(image.height)
        for x in range(image.width)
        if image.pixel(x, y) == HOTTEST
    }
    assert {y for _, y in hot if y >= rows.stop}, "the legend bar ends in the hottest colour"
    assert len([p for p in hot if p[1] in rows]) > 100


def test_png_without_title_has_no_text_chunk_and_an_all_withheld_map_is_grey() -> None:
    cells: dict[str, int | None] = {str(c): None for c in h3.grid_disk(CENTRE, 1)}
    image = decode_png(render_png(cells, width=320, title=""))
    assert image.text == {}
    rows = map_rows(image)
    middle = rows.start + len(rows) // 2
    assert image.pixel(image.width // 2, middle) == WITHHELD_COLOUR
    assert HOTTEST not in {image.pixel(x, middle) for x in range(image.width)}


# --- terminal ---------------------------------------------------------------------------


def test_terminal_grid_has_the_columns_asked_and_the_hottest_mark_on_the_hottest_cell() -> None:
    cells, hottest, withheld = city_cells()
    text = render_terminal(cells, columns=60, colour=False)
    *grid, legend = text.split("\n")
    assert all(len(line) == 60 for line in grid)
    # Character cells twice as tall as wide: rows follow the cells' aspect ratio.
    fx, fy = relative_position(cells, hottest)
    row, col = min(len(grid) - 1, int(fy * len(grid))), min(59, int(fx * 60))
    assert grid[row][col] == RAMP[-1]
    # Every hottest mark is a character whose centre lies in the hottest cell.
    marks = [(r, c) for r, line in enumerate(grid) for c, ch in enumerate(line) if ch == RAMP[-1]]
    assert marks
    assert {cell_under(cells, (c + 0.5) / 60, (r + 0.5) / len(grid)) for r, c in marks} == {hottest}
    wx, wy = relative_position(cells, withheld)
    assert grid[min(len(grid) - 1, int(wy * len(grid)))][min(59, int(wx * 60))] == WITHHELD_MARK
    assert grid[len(grid) // 2][30] != " "  # the centre of the disc is a cell
    assert "40" in legend
    assert "400" in legend
    assert "withheld" in legend
    assert RAMP in legend


ESCAPE = re.compile(r"\x1b\[([0-9;]*)m|(.)")


def backgrounds(line: str) -> list[tuple[int, int, int] | None]:
    """The background colour of each printed character (None: the terminal's own)."""
    out: list[tuple[int, int, int] | None] = []
    current: tuple[int, int, int] | None = None
    for code, char in ESCAPE.findall(line):
        if char:
            out.append(current)
        elif code == "0":
            current = None
        else:
            parts = [int(p) for p in code.split(";")]
            assert parts[:2] == [48, 2]
            current = (parts[2], parts[3], parts[4])
    return out


def test_colour_terminal_paints_the_hottest_cell_in_the_hottest_colour() -> None:
    cells, hottest, withheld = city_cells()
    *grid, legend = render_terminal(cells, columns=48, colour=True).split("\n")
    painted = [backgrounds(line) for line in grid]
    assert all(len(line) == 48 for line in painted)
    assert all(line.endswith("\x1b[0m") for line in grid)  # no colour leaks past a line
    fx, fy = relative_position(cells, hottest)
    assert painted[min(len(grid) - 1, int(fy * len(grid)))][min(47, int(fx * 48))] == HOTTEST
    wx, wy = relative_position(cells, withheld)
    row, col = min(len(grid) - 1, int(wy * len(grid))), min(47, int(wx * 48))
    assert painted[row][col] == WITHHELD_COLOUR
    assert "40" in legend
    assert "400" in legend


def test_every_cell_shows_even_when_the_grid_is_coarse() -> None:
    cells, _hottest, _ = city_cells()
    *grid, _legend = render_terminal(cells, columns=8).split("\n")
    assert RAMP[-1] in "".join(grid)


def test_a_single_cell_is_the_hottest_and_the_legend_says_so() -> None:
    text = render_terminal({CENTRE: 12}, columns=10)
    assert RAMP[-1] in text
    assert text.split("\n")[-1].startswith("H3 resolution 8, incidents per cell: 12 ")


def test_all_withheld_says_so() -> None:
    text = render_terminal({CENTRE: None}, columns=10)
    assert WITHHELD_MARK in text
    assert "every cell withheld" in text.split("\n")[-1]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({}, "at least one cell"),
        ({"not-a-cell": 3}, "not an H3 cell id"),
        ({CENTRE: 3, str(h3.cell_to_parent(CENTRE, 7)): 4}, "one H3 resolution"),
        ({CENTRE: 2.5}, "neither an integer nor None"),
        ({CENTRE: True}, "neither an integer nor None"),
    ],
)
def test_malformed_cells_are_refused(cells: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidTally, match=message):
        render_terminal(cells, columns=20)  # type: ignore[arg-type]
    with pytest.raises(InvalidTally, match=message):
        render_png(cells, width=320)  # type: ignore[arg-type]


def test_palette_is_ordered_from_dark_to_light() -> None:
    # Viridis rises in lightness: the ramp must read the same in greyscale.
    def luma(c: tuple[int, int, int]) -> float:
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    shades = [luma(palette(i / 20)) for i in range(21)]
    assert shades == sorted(shades)
    assert palette(-1.0) == palette(0.0)
    assert palette(2.0) == palette(1.0)


# --- legend, basemap --------------------------------------------------------------------

FONT = Path("gateway/client/fonts/DejaVuSans.ttf")
BASEMAP = Path("gateway/agent/consoles/basemap.geojson")
LEGEND = Legend(
    period="2025-11-01 s.d./to 2026-10-31",
    epsilon="1.0",
    k=10,
    receipt="entri / entry 18204, akar / root 3f9a2c81",
)


def text_band(text: str, width: int) -> list[bytes]:
    """The rows of `text` as render_png draws a legend line in a picture `width` wide: the
    packaged DejaVu Sans at the body size, at the left margin, in ink on white."""
    from PIL import ImageDraw, ImageFont

    size, margin = max(11, width // 64), max(12, width // 40)
    font = ImageFont.truetype(str(FONT), size)
    height = round(size * 1.45)
    band = PilImage.new("RGB", (width, height), WHITE)
    ImageDraw.Draw(band).text((margin, 0), text, font=font, fill=(34, 34, 34))
    data = band.tobytes()
    return [data[y * width * 3 : (y + 1) * width * 3] for y in range(height)]


def find_band(image: Image, band: list[bytes]) -> int | None:
    """The first row at which `band` appears in the picture, row for row; None if nowhere."""
    stride = image.width * 3
    rows = [image.rgb[y * stride : (y + 1) * stride] for y in range(image.height)]
    for y in range(image.height - len(band) + 1):
        if rows[y : y + len(band)] == band:
            return y
    return None


def test_legend_lines_are_drawn_in_the_packaged_font_below_the_map() -> None:
    cells, _, _ = city_cells()
    image = decode_png(render_png(cells, width=900, title="Jakarta Selatan", legend=LEGEND))
    assert image.width == 900
    rows = map_rows(image)
    for line in LEGEND.lines():
        y = find_band(image, text_band(line, 900))
        assert y is not None, f"legend line not drawn: {line}"
        assert y > rows.stop
    assert "Privasi diferensial / Differential privacy: ε = 1.0, k = 10" in LEGEND.lines()
    assert "Tanda terima audit / Audit receipt: entri / entry 18204, akar / root 3f9a2c81" in (
        LEGEND.lines()
    )
    # The digits are a real font's: "8" and "B" are different glyphs.
    assert text_band("8", 900) != text_band("B", 900)


@pytest.mark.parametrize(
    "changed",
    [
        Legend(LEGEND.period, "0.5", LEGEND.k, LEGEND.receipt),
        Legend(
            LEGEND.period, LEGEND.epsilon, LEGEND.k, "entri / entry 18205, akar / root 3f9a2c81"
        ),
        Legend(LEGEND.period, LEGEND.epsilon, 20, LEGEND.receipt),
    ],
)
def test_the_picture_changes_with_epsilon_k_and_the_receipt_and_only_in_the_legend(
    changed: Legend,
) -> None:
    cells, _, _ = city_cells()
    one = decode_png(render_png(cells, width=600, legend=LEGEND))
    other = decode_png(render_png(cells, width=600, legend=changed))
    assert (one.width, one.height) == (other.width, other.height)
    stride = one.width * 3
    differing = {
        y
        for y in range(one.height)
        if one.rgb[y * stride : (y + 1) * stride] != other.rgb[y * stride : (y + 1) * stride]
    }
    assert differing, "the legend must show what changed"
    assert min(differing) > map_rows(one).stop  # the map itself is the same


def test_basemap_outlines_and_names_the_kecamatan_and_says_it_is_approximate() -> None:
    basemap = basemap_from_geojson(BASEMAP.read_bytes())
    assert basemap.approximate
    assert "perkiraan" in basemap.notice
    assert "Approximate" in basemap.notice
    assert "Tebet" in {area.name for area in basemap.areas}
    cells, _, _ = city_cells()
    plain = decode_png(render_png(cells, width=700))
    mapped = decode_png(render_png(cells, width=700, basemap=basemap))
    rows = map_rows(plain)
    stride = plain.width * 3
    changed = sum(
        a != b
        for y in rows
        for a, b in zip(
            plain.rgb[y * stride : (y + 1) * stride : 3],
            mapped.rgb[y * stride : (y + 1) * stride : 3],
            strict=True,
        )
    )
    assert changed > 500  # outlines and names drawn over the cells
    # Outline ink (and label ink) over the map; the attribution line under it.
    assert (40, 40, 40) in {mapped.pixel(x, y) for y in rows for x in range(0, mapped.width)}

    # The attribution, in the muted ink of the notes, takes lines of its own under the map.
    def muted_rows(image: Image) -> int:
        return sum(
            (96, 96, 96) in {image.pixel(x, y) for x in range(image.width)}
            for y in range(map_rows(image).stop, image.height)
        )

    assert mapped.height > plain.height
    assert muted_rows(mapped) > muted_rows(plain) > 0


def test_a_basemap_must_be_a_feature_collection() -> None:
    with pytest.raises(ValueError, match="FeatureCollection"):
        basemap_from_geojson(json.dumps({"type": "Feature"}))
    empty = basemap_from_geojson(json.dumps({"type": "FeatureCollection", "features": []}))
    assert empty.areas == ()
    assert "perkiraan / approximate" in empty.notice


def test_png_refuses_a_width_too_small_for_its_legend() -> None:
    with pytest.raises(ValueError, match="at least 240 pixels"):
        render_png({CENTRE: 3}, width=200)
