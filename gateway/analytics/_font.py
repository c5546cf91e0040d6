"""A 3x5 pixel bitmap font for the few words a heatmap picture carries; internal.

Upper-case letters, digits and some punctuation; lower case is drawn as upper case and any
other character as a blank. Each glyph is five rows of three bits, most significant bit on
the left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

GLYPH_WIDTH: Final = 3
GLYPH_HEIGHT: Final = 5
ADVANCE: Final = GLYPH_WIDTH + 1  # one blank column between glyphs

_GLYPHS: Final[dict[str, tuple[int, int, int, int, int]]] = {
    " ": (0b000, 0b000, 0b000, 0b000, 0b000),
    "0": (0b111, 0b101, 0b101, 0b101, 0b111),
    "1": (0b010, 0b110, 0b010, 0b010, 0b111),
    "2": (0b111, 0b001, 0b111, 0b100, 0b111),
    "3": (0b111, 0b001, 0b011, 0b001, 0b111),
    "4": (0b101, 0b101, 0b111, 0b001, 0b001),
    "5": (0b111, 0b100, 0b111, 0b001, 0b111),
    "6": (0b111, 0b100, 0b111, 0b101, 0b111),
    "7": (0b111, 0b001, 0b010, 0b010, 0b010),
    "8": (0b111, 0b101, 0b111, 0b101, 0b111),
    "9": (0b111, 0b101, 0b111, 0b001, 0b111),
    "A": (0b010, 0b101, 0b111, 0b101, 0b101),
    "B": (0b110, 0b101, 0b110, 0b101, 0b110),
    "C": (0b011, 0b100, 0b100, 0b100, 0b011),
    "D": (0b110, 0b101, 0b101, 0b101, 0b110),
    "E": (0b111, 0b100, 0b110, 0b100, 0b111),
    "F": (0b111, 0b100, 0b110, 0b100, 0b100),
    "G": (0b011, 0b100, 0b101, 0b101, 0b011),
    "H": (0b101, 0b101, 0b111, 0b101, 0b101),
    "I": (0b111, 0b010, 0b010, 0b010, 0b111),
    "J": (0b001, 0b001, 0b001, 0b101, 0b010),
    "K": (0b101, 0b101, 0b110, 0b101, 0b101),
    "L": (0b100, 0b100, 0b100, 0b100, 0b111),
    "M": (0b101, 0b111, 0b111, 0b101, 0b101),
    "N": (0b110, 0b101, 0b101, 0b101, 0b101),
    "O": (0b010, 0b101, 0b101, 0b101, 0b010),
    "P": (0b110, 0b101, 0b110, 0b100, 0b100),
    "Q": (0b010, 0b101, 0b101, 0b110, 0b011),
    "R": (0b110, 0b101, 0b110, 0b101, 0b101),
    "S": (0b011, 0b100, 0b010, 0b001, 0b110),
    "T": (0b111, 0b010, 0b010, 0b010, 0b010),
    "U": (0b101, 0b101, 0b101, 0b101, 0b111),
    "V": (0b101, 0b101, 0b101, 0b101, 0b010),
    "W": (0b101, 0b101, 0b111, 0b111, 0b101),
    "X": (0b101, 0b101, 0b010, 0b101, 0b101),
    "Y": (0b101, 0b101, 0b010, 0b010, 0b010),
    "Z": (0b111, 0b001, 0b010, 0b100, 0b111),
    ".": (0b000, 0b000, 0b000, 0b000, 0b010),
    ",": (0b000, 0b000, 0b000, 0b010, 0b100),
    ":": (0b000, 0b010, 0b000, 0b010, 0b000),
    "-": (0b000, 0b000, 0b111, 0b000, 0b000),
    "+": (0b000, 0b010, 0b111, 0b010, 0b000),
    "/": (0b001, 0b001, 0b010, 0b100, 0b100),
    "(": (0b010, 0b100, 0b100, 0b100, 0b010),
    ")": (0b010, 0b001, 0b001, 0b001, 0b010),
    "<": (0b001, 0b010, 0b100, 0b010, 0b001),
    ">": (0b100, 0b010, 0b001, 0b010, 0b100),
    "=": (0b000, 0b111, 0b000, 0b111, 0b000),
    "%": (0b101, 0b001, 0b010, 0b100, 0b101),
    "'": (0b010, 0b010, 0b000, 0b000, 0b000),
}


def text_width(text: str, scale: int) -> int:
    """Pixels the text takes at `scale` (no trailing gap)."""
    return max(0, len(text) * ADVANCE - 1) * scale


def text_pixels(text: str, scale: int) -> Iterator[tuple[int, int]]:
    """The (x, y) of every lit pixel of `text`, from its top-left corner, at `scale`."""
    for i, char in enumerate(text.upper()):
        rows = _GLYPHS.get(char, _GLYPHS[" "])
        for gy, bits in enumerate(rows):
            for gx in range(GLYPH_WIDTH):
                if bits >> (GLYPH_WIDTH - 1 - gx) & 1:
                    x0, y0 = (i * ADVANCE + gx) * scale, gy * scale
                    for dy in range(scale):
                        for dx in range(scale):
                            yield x0 + dx, y0 + dy
