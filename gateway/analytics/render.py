"""Pictures of a heatmap: PNG bytes and a terminal rendering, pure functions of released cells.

Input is `{H3 cell id: count}`, every cell at one resolution, as a heatmap release gives it;
`None` marks a cell of the release's domain that was withheld (below the minimum count after
the noise) and is drawn grey, so a reader sees where there is no figure rather than a low one.
Nothing here reads a file or a socket; the caller writes the bytes where it wants them.

Projection: equirectangular about the cells' middle latitude (x = lon * cos(lat_mid), y = lat),
which at the scale of a kota distorts lengths by well under 1 %. Each hexagon is the polygon of
`h3.cell_to_boundary`, filled by a scanline over pixel centres (a pixel belongs to a polygon
when its centre does; half-open spans, so neighbouring hexagons neither overlap nor leave gaps).

Colour: viridis (matplotlib's default map; perceptually uniform, ordered in lightness, so it
reads in greyscale and for the common colour-vision deficiencies), interpolated between nine
published anchors, linear in the count from the smallest released count to the largest.

PNG (ISO/IEC 15948, RFC 2083): signature, IHDR (8-bit RGB, no interlace), a tEXt `Title`
when there is a title, one IDAT holding the zlib stream of every row with filter type 0,
IEND; every chunk with its CRC-32.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.analytics import _font, _h3
from gateway.analytics.tally import InvalidTally

__all__ = [
    "RAMP",
    "WITHHELD_COLOUR",
    "WITHHELD_MARK",
    "encode_png",
    "palette",
    "render_png",
    "render_terminal",
]

RGB = tuple[int, int, int]
Cells = Mapping[str, int | None]

# matplotlib's viridis at 0, 1/8, ..., 1.
_VIRIDIS: Final[tuple[RGB, ...]] = (
    (68, 1, 84),
    (72, 40, 120),
    (62, 73, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (110, 206, 88),
    (253, 231, 37),
)
WITHHELD_COLOUR: Final[RGB] = (176, 176, 176)
_BACKGROUND: Final[RGB] = (255, 255, 255)
_INK: Final[RGB] = (34, 34, 34)

# Terminal: the intensity ramp (lowest to highest released count), the mark of a withheld
# cell, and the height of a character cell over its width in a usual monospace font.
RAMP: Final = ".:-=+*#%@"
WITHHELD_MARK: Final = "·"
_OUTSIDE: Final = " "
CHAR_ASPECT: Final = 2.0
_RESET: Final = "\x1b[0m"

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


def palette(fraction: float) -> RGB:
    """The colour of `fraction` (0 lowest, 1 highest; clamped) on the viridis scale."""
    f = min(1.0, max(0.0, fraction)) * (len(_VIRIDIS) - 1)
    i = min(int(f), len(_VIRIDIS) - 2)
    t = f - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@dataclass(frozen=True)
class _Map:
    """The validated cells, their projected hexagons and bounds, and the released range."""

    counts: dict[str, int | None]
    resolution: int
    kx: float  # cos(middle latitude): projected x is lon * kx
    hexagons: dict[str, list[tuple[float, float]]]  # (x east, y south), in degrees of latitude
    left: float
    top: float
    right: float
    bottom: float
    low: int | None  # smallest and largest released count; None when all are withheld
    high: int | None

    def fraction(self, count: int) -> float:
        if self.low is None or self.high is None or self.high == self.low:
            return 1.0
        return (count - self.low) / (self.high - self.low)

    def ordered(self) -> list[str]:
        """Cells from withheld, then lowest count, to highest; ties by id (deterministic)."""
        return sorted(
            self.counts, key=lambda c: (self.counts[c] is not None, self.counts[c] or 0, c)
        )


def _prepare(cells: Cells) -> _Map:
    if not cells:
        raise InvalidTally("a heatmap picture needs at least one cell")
    resolutions = set()
    for cell, count in cells.items():
        if not isinstance(cell, str) or not _h3.is_valid(cell):
            raise InvalidTally(f"{cell!r} is not an H3 cell id")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise InvalidTally(f"cell {cell}: count {count!r} is neither an integer nor None")
        resolutions.add(_h3.resolution_of(cell))
    if len(resolutions) != 1:
        shown = ", ".join(str(r) for r in sorted(resolutions))
        raise InvalidTally(f"heatmap cells must share one H3 resolution, not {shown}")
    boundaries = {cell: _h3.boundary(cell) for cell in cells}
    lats = [lat for b in boundaries.values() for lat, _ in b]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    hexagons = {cell: [(lon * kx, -lat) for lat, lon in b] for cell, b in boundaries.items()}
    xs = [x for h in hexagons.values() for x, _ in h]
    ys = [y for h in hexagons.values() for _, y in h]
    released = [n for n in cells.values() if n is not None]
    return _Map(
        counts=dict(cells),
        resolution=resolutions.pop(),
        kx=kx,
        hexagons=hexagons,
        left=min(xs),
        top=min(ys),
        right=max(xs),
        bottom=max(ys),
        low=min(released) if released else None,
        high=max(released) if released else None,
    )


def _colour(m: _Map, count: int | None) -> RGB:
    return WITHHELD_COLOUR if count is None else palette(m.fraction(count))


# --- PNG -------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rgb: bytes, text: Mapping[str, str] | None = None) -> bytes:
    """An 8-bit RGB PNG of `rgb` (row-major, 3 bytes a pixel), with optional tEXt chunks."""
    if width <= 0 or height <= 0 or len(rgb) != width * height * 3:
        raise ValueError(f"{len(rgb)} bytes are not a {width}x{height} RGB image")
    stride = width * 3
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))
    # Width, height, bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    for keyword, value in (text or {}).items():
        data = keyword.encode("latin-1") + b"\x00" + value.encode("latin-1", errors="replace")
        chunks.append(_chunk(b"tEXt", data))
    chunks += [_chunk(b"IDAT", zlib.compress(raw, 9)), _chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(_BACKGROUND) * (width * height))

    def span(self, y: int, x0: int, x1: int, colour: RGB) -> None:
        """Pixels x0..x1 (inclusive) of row y, clipped to the canvas."""
        x0, x1 = max(x0, 0), min(x1, self.width - 1)
        if 0 <= y < self.height and x0 <= x1:
            start = (y * self.width + x0) * 3
            self.pixels[start : start + (x1 - x0 + 1) * 3] = bytes(colour) * (x1 - x0 + 1)

    def polygon(self, points: Sequence[tuple[float, float]], colour: RGB) -> None:
        """Fill the pixels whose centres lie inside the polygon (even-odd, half-open)."""
        ys = [y for _, y in points]
        edges = list(zip(points, [*points[1:], points[0]], strict=True))
        for row in range(max(0, math.floor(min(ys))), min(self.height, math.ceil(max(ys)) + 1)):
            yc = row + 0.5
            crossings = sorted(
                ax + (yc - ay) * (bx - ax) / (by - ay)
                for (ax, ay), (bx, by) in edges
                if (ay <= yc < by) or (by <= yc < ay)
            )
            for xa, xb in zip(crossings[::2], crossings[1::2], strict=False):
                # Centres x + 0.5 in [xa, xb).
                self.span(row, math.ceil(xa - 0.5), math.ceil(xb - 0.5) - 1, colour)

    def text(self, x: int, y: int, text: str, scale: int, colour: RGB = _INK) -> None:
        for px, py in _font.text_pixels(text, scale):
            self.span(y + py, x + px, x + px, colour)

    def box(self, x: int, y: int, width: int, height: int, colour: RGB) -> None:
        for row in range(y, y + height):
            self.span(row, x, x + width - 1, colour)


def render_png(cells: Cells, *, width: int = 800, title: str = "") -> bytes:
    """The heatmap as PNG bytes `width` pixels wide: hexagons, optional title, legend bar.

    The legend is the colour bar from the smallest to the largest released count, labelled
    with both, and a grey swatch for withheld cells. Raises `InvalidTally` for cells that are
    not H3 ids of one resolution; `ValueError` for a width under 120 pixels.
    """
    if width < 120:
        raise ValueError(f"a heatmap picture needs at least 120 pixels of width, not {width}")
    m = _prepare(cells)
    margin, scale = 12, 2
    glyph = _font.GLYPH_HEIGHT * scale
    per_unit = (width - 2 * margin) / max(m.right - m.left, 1e-12)
    map_height = max(1, math.ceil((m.bottom - m.top) * per_unit))
    title_height = glyph + margin if title else 0
    map_top = margin + title_height
    legend_top = map_top + map_height + margin
    height = legend_top + 10 + 4 + glyph + margin
    canvas = _Canvas(width, height)
    if title:
        canvas.text(margin, margin, title, scale)
    for cell in m.ordered():
        points = [
            (margin + (x - m.left) * per_unit, map_top + (y - m.top) * per_unit)
            for x, y in m.hexagons[cell]
        ]
        canvas.polygon(points, _colour(m, m.counts[cell]))
    _legend(canvas, m, margin, legend_top, scale)
    return encode_png(width, height, bytes(canvas.pixels), {"Title": title} if title else None)


def _legend(canvas: _Canvas, m: _Map, x: int, y: int, scale: int) -> None:
    bar_width = max(40, (canvas.width - 2 * x) // 2)
    label_y = y + 10 + 4
    if m.low is not None and m.high is not None:
        for i in range(bar_width):
            canvas.box(x + i, y, 1, 10, palette(i / max(bar_width - 1, 1)))
        canvas.text(x, label_y, str(m.low), scale)
        high = str(m.high)
        canvas.text(x + bar_width - _font.text_width(high, scale), label_y, high, scale)
        swatch_x = x + bar_width + 16
    else:
        swatch_x = x
    canvas.box(swatch_x, y, 10, 10, WITHHELD_COLOUR)
    canvas.text(swatch_x + 14, y + (10 - _font.GLYPH_HEIGHT * scale) // 2, "WITHHELD", scale)


# --- terminal --------------------------------------------------------------------------------


def _mark(m: _Map, count: int | None) -> str:
    if count is None:
        return WITHHELD_MARK
    return RAMP[min(len(RAMP) - 1, int(m.fraction(count) * len(RAMP)))]


def _background(colour: RGB) -> str:
    return f"\x1b[48;2;{colour[0]};{colour[1]};{colour[2]}m"


def _grid(m: _Map, columns: int) -> list[list[str | None]]:
    """The cell shown by each character: the one under its centre, then every cell no centre
    fell in at the character holding its own centre, lowest first so the hottest stays."""
    step = (m.right - m.left) / columns
    rows = max(1, round((m.bottom - m.top) / (step * CHAR_ASPECT)))
    row_step = (m.bottom - m.top) / rows
    grid: list[list[str | None]] = [[None] * columns for _ in range(rows)]
    for r in range(rows):
        lat = -(m.top + (r + 0.5) * row_step)
        for c in range(columns):
            cell = _h3.cell_of(lat, (m.left + (c + 0.5) * step) / m.kx, m.resolution)
            if cell in m.counts:
                grid[r][c] = cell
    shown = {cell for line in grid for cell in line if cell is not None}
    for cell in m.ordered():
        if cell in shown:
            continue
        lat, lon = _h3.centre(cell)
        c = min(columns - 1, max(0, int((lon * m.kx - m.left) / step)))
        r = min(rows - 1, max(0, int((-lat - m.top) / row_step)))
        grid[r][c] = cell
    return grid


def render_terminal(cells: Cells, *, columns: int = 72, colour: bool = False) -> str:
    """The heatmap as lines of `columns` characters over the cells' bounding box, and a legend.

    Plain: each character is a mark of `RAMP` by count (`WITHHELD_MARK` for a withheld cell,
    a space outside every cell). With `colour`, each character is a space on a 24-bit ANSI
    background of the PNG's colours instead. The last line is the legend with the count range.
    """
    if columns < 8:
        raise ValueError(f"a terminal heatmap needs at least 8 columns, not {columns}")
    m = _prepare(cells)
    lines = []
    for line in _grid(m, columns):
        if colour:
            lines.append(_colour_line(m, line))
        else:
            lines.append(
                "".join(_OUTSIDE if cell is None else _mark(m, m.counts[cell]) for cell in line)
            )
    lines.append(_terminal_legend(m, colour))
    return "\n".join(lines)


def _colour_line(m: _Map, line: Sequence[str | None]) -> str:
    """Spaces on coloured backgrounds; an escape only where the colour changes."""
    out, current = [], _RESET
    for cell in line:
        code = _RESET if cell is None else _background(_colour(m, m.counts[cell]))
        if code != current:
            out.append(code)
            current = code
        out.append(" ")
    return "".join(out) + _RESET  # the next line starts in the terminal's own colours


def _terminal_legend(m: _Map, colour: bool) -> str:
    withheld = (
        _background(WITHHELD_COLOUR) + " " + _RESET if colour else WITHHELD_MARK
    ) + " withheld (below the minimum count)"
    if m.low is None or m.high is None:
        return f"H3 resolution {m.resolution}: every cell withheld; {withheld}"
    scale = (
        "".join(_background(palette(i / 9)) + " " for i in range(10)) + _RESET if colour else RAMP
    )
    return f"H3 resolution {m.resolution}, incidents per cell: {m.low} {scale} {m.high}; {withheld}"
