"""The consoles' static files under /consoles/ (issue 15; ADR 0015).

The TypeScript front end is built by Vite (`make consoles`, tools/consoles.py) into
`gateway/agent/consoles/dist/`, which ships with the package; the approximate base layer
`basemap.geojson` sits beside it. A deployment's own GeoJSON (`[consoles] basemap`) replaces
it as `/consoles/basemap.geojson`; the packaged file stays at `/consoles/areas.geojson`, the
reference geography the heatmap's public domain is built from. A deployment's PMTiles archive
is served at `/consoles/basemap.pmtiles` by HTTP range requests (the page's `pmtiles` protocol
reads its header, directory and tiles), and `/consoles/basemap.geojson` then names it (ADR 0030).
Every file is read once at start into a fixed table, or is the one configured archive, so a
request can name nothing outside them. The page holds no credential of its own: it asks /v1/
with the headers every client sends.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.agent.problems import Problem

PREFIX = "/consoles"
_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".geojson": "application/geo+json",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Everything from the agent itself; deck.gl and MapLibre compile shaders and use blob workers.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _files() -> dict[str, bytes]:
    """Path under /consoles/ to bytes: index.html, assets/*, basemap.geojson (if built)."""
    root = resources.files("gateway.agent").joinpath("consoles")
    table: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
            elif any(child.name.endswith(ext) for ext in _MEDIA):
                table[name] = child.read_bytes()

    dist = root.joinpath("dist")
    if dist.is_dir():
        walk(dist, "")
    base = root.joinpath("basemap.geojson")
    if base.is_file():
        table["basemap.geojson"] = base.read_bytes()
        table["areas.geojson"] = table["basemap.geojson"]
    return table


def _media(name: str) -> str:
    return next(m for ext, m in _MEDIA.items() if name.endswith(ext))


def console_routes(basemap: Path | None = None) -> list[Route]:
    """The routes under /consoles/; `basemap` is the deployment's file, read once here."""
    files = _files()
    tiles = basemap if basemap is not None and basemap.suffix == ".pmtiles" else None
    if tiles is not None:
        files["basemap.geojson"] = json.dumps(
            {
                "type": "FeatureCollection",
                "features": [],
                "approximate": False,
                "notice": f"PMTiles {tiles.name}",
                "pmtiles": PREFIX + "/basemap.pmtiles",
            }
        ).encode()
    elif basemap is not None:
        files["basemap.geojson"] = basemap.read_bytes()

    def serve(name: str) -> Response:
        data = files.get(name)
        if data is None:
            raise Problem(
                404,
                "not-found",
                "Berkas konsol tidak ada / No such console file",
                "the consoles are not built into this package: run `make consoles`"
                if not files
                else "no such file under /consoles/",
            )
        cache = "public, max-age=31536000, immutable" if name.startswith("assets/") else "no-cache"
        return Response(data, media_type=_media(name), headers=HEADERS | {"Cache-Control": cache})

    async def index(request: Request) -> Response:
        return serve("index.html")

    async def asset(request: Request) -> Response:
        return serve(f"assets/{request.path_params['name']}")

    async def base_layer(request: Request) -> Response:
        return serve("basemap.geojson")

    async def archive(request: Request) -> Response:
        if tiles is None:
            return serve("basemap.pmtiles")  # not configured: the 404 problem
        # Starlette answers Range with 206 and Content-Range (or 416), from the file.
        return FileResponse(
            tiles,
            media_type="application/vnd.pmtiles",
            headers=HEADERS | {"Cache-Control": "no-cache"},
        )

    async def areas(request: Request) -> Response:
        return serve("areas.geojson")

    async def bare(request: Request) -> Response:
        return RedirectResponse(PREFIX + "/", status_code=308)

    endpoint = Callable[[Request], Awaitable[Response]]
    table: list[tuple[str, endpoint]] = [
        (PREFIX, bare),
        (PREFIX + "/", index),
        (PREFIX + "/assets/{name}", asset),
        (PREFIX + "/basemap.geojson", base_layer),
        (PREFIX + "/basemap.pmtiles", archive),
        (PREFIX + "/areas.geojson", areas),
    ]
    return [Route(path, fn, methods=["GET"]) for path, fn in table]
