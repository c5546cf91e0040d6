"""The heatmap pictures: a PNG that decodes, and a terminal grid, each with the hottest cell
where it is on the ground.

The PNG is decoded here by hand (signature, chunk CRCs, IHDR, the zlib stream of filtered
rows) rather than by the encoder's own code; positions are checked against this test's own
equirectangular projection of the cells.
"""

from __future__ import annotations

import math
import random
import re
import struct
import zlib
from dataclasses import dataclass

import h3  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.analytics.render import (
    RAMP,
    WITHHELD_COLOUR,
    WITHHELD_MARK,
    encode_png,
    palette,
    render_png,
    render_terminal,
)
from gateway.analytics.tally import InvalidTally

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


# --- a PNG decoder, written from the specification ---------------------------------------


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
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1] == (b"IEND", b"")
    width, height, depth, colour_type, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, colour_type, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + 3 * width
    assert len(raw) == height * stride
    assert all(raw[y * stride] == 0 for y in range(height))  # filter type None, every row
    rgb = b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height))
    text = dict(body.decode("latin-1").split("\x00", 1) for kind, body in chunks if kind == b"tEXt")
    return Image(width, height, rgb, text)


def test_the_iend_chunk_has_the_crc_every_png_has() -> None:
    # 0xAE426082: the CRC-32 of "IEND", ending every PNG file (PNG specification, 5.3).
    assert encode_png(1, 1, b"\x00\x00\x00").endswith(b"IEND\xae\x42\x60\x82")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.randoms(use_true_random=False))
def test_encoded_images_decode_to_the_same_pixels(
    width: int, height: int, rng: random.Random
) -> None:
    rgb = bytes(rng.randrange(256) for _ in range(width * height * 3))
    image = decode_png(encode_png(width, height, rgb, {"Title": "x"}))
    assert (image.width, image.height, image.rgb, image.text) == (
        width,
        height,
        rgb,
        {"Title": "x"},
    )


def test_encode_png_refuses_pixels_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="not a 2x2 RGB image"):
        encode_png(2, 2, b"\x00" * 11)


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
    image = decode_png(render_png(cells, width=200, title=""))
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
        render_png(cells, width=200)  # type: ignore[arg-type]


def test_palette_is_ordered_from_dark_to_light() -> None:
    # Viridis rises in lightness: the ramp must read the same in greyscale.
    def luma(c: tuple[int, int, int]) -> float:
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    shades = [luma(palette(i / 20)) for i in range(21)]
    assert shades == sorted(shades)
    assert palette(-1.0) == palette(0.0)
    assert palette(2.0) == palette(1.0)
