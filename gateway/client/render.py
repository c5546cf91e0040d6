"""Pictures of a heatmap: a printable PNG and a terminal rendering of released cells.

The caller's entry point to the pictures; the work is done in `cellmap` (checking and
projecting the cells, the colour scale), `basemap` (outlines and the legend), `render_png`
and `render_terminal`.

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

from gateway.client.basemap import Area, Basemap, Legend, basemap_from_geojson
from gateway.client.cellmap import WITHHELD_COLOUR, palette
from gateway.client.render_png import render_png
from gateway.client.render_terminal import RAMP, WITHHELD_MARK, render_terminal

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
