"""Pictures of a heatmap: a printable PNG and a terminal rendering of released cells.

Input is `{H3 cell id: count}`, every cell at one resolution, as a heatmap release gives it;
`None` marks a cell of the release's domain that was withheld (below the minimum count after
the noise) and is drawn grey, so a reader sees where there is no figure rather than a low one.
Nothing here reads a socket or a file other than the packaged fonts; the caller writes the
bytes where it wants them.

Projection: equirectangular about the cells' middle latitude (x = lon * cos(lat_mid), y = lat),
which at the scale of a kota distorts lengths by well under 1 %. Each hexagon is the polygon of
`h3.cell_to_boundary`.

Colour: viridis (matplotlib's default map; perceptually uniform, ordered in lightness, so it
reads in greyscale and for the common colour-vision deficiencies), interpolated between nine
published anchors, linear in the count from the smallest released count to the largest.

The PNG is drawn with Pillow in DejaVu Sans (shipped in `fonts/`, with its licence): a title,
the map with kecamatan outlines and names when a basemap is given (`basemap_from_geojson`),
and a legend with the colour scale, the withheld swatch, a scale bar, the period, ε and k,
the audit receipt and the geography's attribution. Text is Bahasa Indonesia, then English.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from gateway.analytics.tally import InvalidTally
from gateway.protocol import cells as _h3

__all__ = [
    "RAMP",
    "WITHHELD_COLOUR",
    "WITHHELD_MARK",
    "Area",
    "Basemap",
    "Legend",
    "basemap_from_geojson",
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
_MUTED: Final[RGB] = (96, 96, 96)
_OUTLINE: Final[RGB] = (40, 40, 40)
_RULE: Final[RGB] = (200, 200, 200)

# Terminal: the intensity ramp (lowest to highest released count), the mark of a withheld
# cell, and the height of a character cell over its width in a usual monospace font.
RAMP: Final = ".:-=+*#%@"
WITHHELD_MARK: Final = "·"
_OUTSIDE: Final = " "
CHAR_ASPECT: Final = 2.0
_RESET: Final = "\x1b[0m"
_KM_PER_DEGREE: Final = 111.32  # of latitude (and of projected x, which is lon * cos(lat))


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


# --- basemap and legend ------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """A named area (a kecamatan) drawn over the cells: its outer rings, as (lat, lon)."""

    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True)
class Basemap:
    """Areas to outline and name over the map, and the attribution printed under it."""

    areas: tuple[Area, ...]
    notice: str
    approximate: bool


def basemap_from_geojson(data: bytes | str) -> Basemap:
    """A `Basemap` from a GeoJSON FeatureCollection such as the consoles' `basemap.geojson`.

    Polygon and MultiPolygon features are areas, named by their `kecamatan` (or `name`)
    property; other features are skipped. The collection's `notice` becomes the attribution,
    and `approximate` (default true: a basemap is not a survey) adds "perkiraan / approximate".
    Raises `ValueError` for text that is not such a collection.
    """
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ValueError("a basemap must be a GeoJSON FeatureCollection")
    areas = []
    for feature in doc.get("features", []):
        geometry = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        name = str(props.get("kecamatan") or props.get("name") or "")
        kind = geometry.get("type")
        polygons: list[Any] = (
            [geometry["coordinates"]]
            if kind == "Polygon"
            else geometry["coordinates"]
            if kind == "MultiPolygon"
            else []
        )
        rings = tuple(
            tuple((float(lat), float(lon)) for lon, lat, *_ in polygon[0])
            for polygon in polygons
            if polygon
        )
        if rings:
            areas.append(Area(name, rings))
    approximate = bool(doc.get("approximate", True))
    notice = str(doc.get("notice") or "")
    if approximate and not notice:
        notice = "Batas wilayah perkiraan / approximate boundaries"
    return Basemap(tuple(areas), notice, approximate)


@dataclass(frozen=True)
class Legend:
    """What the release was: printed in the legend so the picture carries its own provenance.

    `period`: the time the counts cover; `epsilon` and `k`: the release's privacy parameters;
    `receipt`: the audit receipt (entry index, log size and root, as the caller received them);
    `source`: who released the counts. Empty fields are left out.
    """

    period: str = ""
    epsilon: str = ""
    k: int | None = None
    receipt: str = ""
    source: str = ""

    def lines(self) -> list[str]:
        out = []
        if self.period:
            out.append(f"Periode / Period: {self.period}")
        privacy = ", ".join(
            part
            for part in (
                f"ε = {self.epsilon}" if self.epsilon else "",
                f"k = {self.k}" if self.k is not None else "",
            )
            if part
        )
        if privacy:
            out.append(f"Privasi diferensial / Differential privacy: {privacy}")
        if self.receipt:
            out.append(f"Tanda terima audit / Audit receipt: {self.receipt}")
        if self.source:
            out.append(f"Sumber / Source: {self.source}")
        return out


# --- PNG -------------------------------------------------------------------------------------

Font = ImageFont.FreeTypeFont


@cache
def _font(size: int, bold: bool = False) -> Font:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    data = resources.files("gateway.client").joinpath("fonts", name).read_bytes()
    return ImageFont.truetype(io.BytesIO(data), size)


def _wrap(text: str, font: Font, width: float) -> list[str]:
    """`text` in lines no wider than `width` pixels, broken at spaces."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _centroid(ring: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The area centroid of a closed polygon in pixel coordinates (the mean if degenerate)."""
    area = cx = cy = 0.0
    for (ax, ay), (bx, by) in zip(ring, [*ring[1:], ring[0]], strict=True):
        cross = ax * by - bx * ay
        area += cross
        cx += (ax + bx) * cross
        cy += (ay + by) * cross
    if abs(area) < 1e-9:
        return sum(x for x, _ in ring) / len(ring), sum(y for _, y in ring) / len(ring)
    return cx / (3 * area), cy / (3 * area)


def _scale_km(km_across: float) -> int:
    """A round length for the scale bar: about a fifth of the map's width."""
    target = km_across / 5
    return max(1, max((n for n in (1, 2, 5, 10, 20, 50) if n <= target), default=1))


def render_png(
    cells: Cells,
    *,
    width: int = 900,
    title: str = "",
    legend: Legend | None = None,
    basemap: Basemap | None = None,
) -> bytes:
    """The heatmap as a PNG `width` pixels wide: title, map, legend.

    The map is the hexagons, with the basemap's outlines and names over them when one is
    given. The legend is the colour scale from the smallest to the largest released count,
    labelled with both, a grey swatch for withheld cells, a scale bar, the lines of `legend`
    (period, ε and k, audit receipt) and the basemap's attribution. The title is also stored
    as the PNG's `Title` text. Raises `InvalidTally` for cells that are not H3 ids of one
    resolution; `ValueError` for a width under 240 pixels.
    """
    if width < 240:
        raise ValueError(f"a heatmap picture needs at least 240 pixels of width, not {width}")
    m = _prepare(cells)
    margin = max(12, width // 40)
    body, small = _font(max(11, width // 64)), _font(max(10, width // 80))
    heading = _font(max(14, width // 36), bold=True)
    line = round(body.size * 1.45)
    inner = width - 2 * margin
    per_unit = inner / max(m.right - m.left, 1e-12)
    map_height = max(1, math.ceil((m.bottom - m.top) * per_unit))
    titles = _wrap(title, heading, inner) if title else []
    title_height = len(titles) * round(heading.size * 1.3) + (margin // 2 if titles else 0)
    map_top = margin + title_height
    # The release's own lines in ink; how the picture was made, and the geography, muted.
    notes = [(text, _INK) for text in (legend.lines() if legend else [])]
    notes.append(
        (
            f"Sel H3 resolusi {m.resolution} / H3 cells, resolution {m.resolution}; "
            "proyeksi ekuirektangular / equirectangular projection",
            _MUTED,
        )
    )
    if basemap is not None and basemap.notice:
        notes.append((basemap.notice, _MUTED))
    wrapped = [(w, ink) for note, ink in notes for w in _wrap(note, body, inner)]
    legend_top = map_top + map_height + margin
    scale_height = line + 14 + 4 + line  # caption, bar, labels
    height = legend_top + 1 + margin // 2 + scale_height + margin // 2 + len(wrapped) * line
    height += margin // 2

    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = margin
    for text in titles:
        draw.text((margin, y), text, font=heading, fill=_INK)
        y += round(heading.size * 1.3)

    # The map on its own image, pasted: outlines reaching beyond the cells are clipped to it.
    map_image = Image.new("RGB", (inner, map_height), _BACKGROUND)
    map_draw = ImageDraw.Draw(map_image)

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        return (x - m.left) * per_unit, (y - m.top) * per_unit

    for cell in m.ordered():
        map_draw.polygon(
            [to_pixel(x, y) for x, y in m.hexagons[cell]], fill=_colour(m, m.counts[cell])
        )
    if basemap is not None:
        label = _font(max(10, width // 72), bold=True)
        _outlines(map_draw, m, basemap, to_pixel, label, 2 if width >= 600 else 1)
    image.paste(map_image, (margin, map_top))

    y = legend_top
    draw.line([(margin, y), (width - margin, y)], fill=_RULE, width=1)
    y += 1 + margin // 2
    _scale(draw, m, margin, y, inner, per_unit, body, small, line)
    y += scale_height + margin // 2
    for text, ink in wrapped:
        draw.text((margin, y), text, font=body, fill=ink)
        y += line

    info = PngInfo()
    if title:
        info.add_text("Title", title)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, optimize=True)
    return out.getvalue()


def _outlines(
    draw: ImageDraw.ImageDraw,
    m: _Map,
    basemap: Basemap,
    to_pixel: Callable[[float, float], tuple[float, float]],
    font: Font,
    line_width: int,
) -> None:
    """The outline and name of each area whose centroid lies in one of the map's cells."""
    labels = []
    for area in basemap.areas:
        largest = max(area.rings, key=lambda r: abs(_shoelace(r)))
        lat, lon = _centroid(largest)
        if _h3.cell_of(lat, lon, m.resolution) not in m.counts:
            continue
        for ring in area.rings:
            points = [to_pixel(lon * m.kx, -lat) for lat, lon in ring]
            draw.line([*points, points[0]], fill=_OUTLINE, width=line_width, joint="curve")
        if area.name:
            labels.append((to_pixel(lon * m.kx, -lat), area.name))
    for (x, y), name in labels:  # after every outline, so that no line crosses a name
        draw.text(
            (x, y), name, font=font, fill=_INK, anchor="mm", stroke_width=2, stroke_fill=_BACKGROUND
        )


def _shoelace(ring: Sequence[tuple[float, float]]) -> float:
    return 0.5 * sum(
        ax * by - bx * ay for (ax, ay), (bx, by) in zip(ring, [*ring[1:], ring[0]], strict=True)
    )


def _scale(
    draw: ImageDraw.ImageDraw,
    m: _Map,
    x: int,
    y: int,
    inner: int,
    per_unit: float,
    body: Font,
    small: Font,
    line: int,
) -> None:
    """The colour scale with its range, the withheld swatch, and a scale bar in kilometres."""
    bar_width = max(80, inner * 2 // 5)
    bar_top = y + line
    label_y = bar_top + 14 + 4
    if m.low is not None and m.high is not None:
        draw.text(
            (x, y),
            "Insiden per sel (dengan derau) / incidents per cell (noised)",
            font=small,
            fill=_INK,
        )
        for i in range(bar_width):
            draw.line(
                [(x + i, bar_top), (x + i, bar_top + 13)], fill=palette(i / max(bar_width - 1, 1))
            )
        draw.text((x, label_y), f"{m.low:,}", font=body, fill=_INK)
        draw.text((x + bar_width, label_y), f"{m.high:,}", font=body, fill=_INK, anchor="ra")
        swatch_x = x + bar_width + 24
    else:
        draw.text((x, y), "Setiap sel ditahan / every cell withheld", font=small, fill=_INK)
        swatch_x = x
    draw.rectangle([swatch_x, bar_top, swatch_x + 13, bar_top + 13], fill=WITHHELD_COLOUR)
    draw.text(
        (swatch_x + 20, bar_top + 7),
        "ditahan: di bawah k / withheld: below k",
        font=small,
        fill=_INK,
        anchor="lm",
    )
    km = _scale_km((m.right - m.left) * _KM_PER_DEGREE)
    length = round(km / _KM_PER_DEGREE * per_unit)
    # On the labels' row, right-aligned: a bar of `km` in black and white halves, then "N km".
    caption = f"{km} km"
    bar_right = x + inner - round(small.getlength(caption)) - 6
    middle = label_y + line // 2
    draw.rectangle([bar_right - length, middle - 3, bar_right, middle + 3], fill=_INK)
    draw.rectangle(
        [bar_right - length // 2, middle - 2, bar_right - 1, middle + 2], fill=_BACKGROUND
    )
    draw.text((x + inner, middle), caption, font=small, fill=_INK, anchor="rm")


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
