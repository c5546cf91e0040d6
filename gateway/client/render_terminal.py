"""A heatmap in the terminal: one character per position, an intensity ramp, optional colour.

Each character shows the cell under its centre; a cell no centre fell in is shown at the
character holding its own centre, lowest count first so the hottest stays. Withheld cells
are `WITHHELD_MARK`; with `colour`, 24-bit ANSI backgrounds in the PNG's colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

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

__all__ = ["CHAR_ASPECT", "RAMP", "WITHHELD_MARK", "render_terminal"]

# Terminal: the intensity ramp (lowest to highest released count), the mark of a withheld
# cell, and the height of a character cell over its width in a usual monospace font.
RAMP: Final = ".:-=+*#%@"
WITHHELD_MARK: Final = "·"
_OUTSIDE: Final = " "
CHAR_ASPECT: Final = 2.0
_RESET: Final = "\x1b[0m"


def _mark(m: CellMap, count: int | None) -> str:
    if count is None:
        return WITHHELD_MARK
    return RAMP[min(len(RAMP) - 1, int(m.fraction(count) * len(RAMP)))]


def _background(colour: RGB) -> str:
    return f"\x1b[48;2;{colour[0]};{colour[1]};{colour[2]}m"


def _grid(m: CellMap, columns: int) -> list[list[str | None]]:
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
    m = prepare_cells(cells)
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


def _colour_line(m: CellMap, line: Sequence[str | None]) -> str:
    """Spaces on coloured backgrounds; an escape only where the colour changes."""
    out, current = [], _RESET
    for cell in line:
        code = _RESET if cell is None else _background(cell_colour(m, m.counts[cell]))
        if code != current:
            out.append(code)
            current = code
        out.append(" ")
    return "".join(out) + _RESET  # the next line starts in the terminal's own colours


def _terminal_legend(m: CellMap, colour: bool) -> str:
    withheld = (
        _background(WITHHELD_COLOUR) + " " + _RESET if colour else WITHHELD_MARK
    ) + " withheld (below the minimum count)"
    if m.low is None or m.high is None:
        return f"H3 resolution {m.resolution}: every cell withheld; {withheld}"
    scale = (
        "".join(_background(palette(i / 9)) + " " for i in range(10)) + _RESET if colour else RAMP
    )
    return f"H3 resolution {m.resolution}, incidents per cell: {m.low} {scale} {m.high}; {withheld}"
