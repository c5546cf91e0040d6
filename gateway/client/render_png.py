"""The printable PNG of a heatmap, drawn with Pillow.

In DejaVu Sans (shipped in `fonts/`, with its licence): a title, the map with kecamatan
outlines and names when a basemap is given, and a legend with the colour scale, the withheld
swatch, a scale bar, the period, ε and k, the audit receipt and the geography's attribution.
Text is Bahasa Indonesia, then English. Nothing here reads a file other than the packaged
fonts; the caller writes the bytes where it wants them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Final

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from gateway.client.basemap import Basemap, Legend
from gateway.client.cellmap import (
    RGB,
    WITHHELD_COLOUR,
    CellMap,
    Cells,
    cell_colour,
    palette,
    prepare_cells,
)
from gateway.protocol import cells as _h3

__all__ = ["render_png"]

_BACKGROUND: Final[RGB] = (255, 255, 255)
_INK: Final[RGB] = (34, 34, 34)
_MUTED: Final[RGB] = (96, 96, 96)
_OUTLINE: Final[RGB] = (40, 40, 40)
_RULE: Final[RGB] = (200, 200, 200)
_KM_PER_DEGREE: Final = 111.32  # of latitude (and of projected x, which is lon * cos(lat))


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
    m = prepare_cells(cells)
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
            [to_pixel(x, y) for x, y in m.hexagons[cell]], fill=cell_colour(m, m.counts[cell])
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
    m: CellMap,
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
    m: CellMap,
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
