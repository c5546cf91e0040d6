"""One answer, three forms: JSON (the default), CSV and GeoJSON, chosen by `?format=` or Accept.

- JSON: the facts every answer names (period, mechanism, epsilon, k, receipt) and `result`.
- CSV: the answer's flat table; the facts travel in `Gerbang-*` response headers, since a CSV
  file has no place for them.
- GeoJSON (RFC 7946): each H3 cell as a polygon with its count, interval and the other
  columns as properties; the facts sit in the collection's `gerbang` member. Only answers
  that hold H3 cells have this form; others answer 406.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.agent.problems import Problem
from gateway.agent.service import Answer
from gateway.protocol import cells as _h3

Format = Literal["json", "csv", "geojson"]
MEDIA: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
}
_FORMS: dict[str, Format] = {"json": "json", "csv": "csv", "geojson": "geojson"}
_BY_MEDIA: dict[str, Format] = {
    "application/json": "json",
    "text/csv": "csv",
    "application/geo+json": "geojson",
    "*/*": "json",
    "application/*": "json",
}


def negotiate(request: Request) -> Format:
    """The form asked for: `?format=` wins over Accept; no preference means JSON."""
    asked = request.query_params.get("format")
    if asked is not None:
        if asked not in _FORMS:
            raise Problem(
                406,
                "not-acceptable",
                "Format tidak tersedia / Format not available",
                f"format {asked[:20]!r} is not one of json, csv, geojson",
            )
        return _FORMS[asked]
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return "json"
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in _BY_MEDIA:
            return _BY_MEDIA[media]
    raise Problem(
        406,
        "not-acceptable",
        "Format tidak tersedia / Format not available",
        "accept one of application/json, text/csv, application/geo+json",
    )


def render(answer: Answer, form: Format) -> Response:
    if form == "csv":
        return Response(to_csv(answer.table), media_type=MEDIA["csv"], headers=fact_headers(answer))
    if form == "geojson":
        return JSONResponse(to_geojson(answer), media_type=MEDIA["geojson"])
    return JSONResponse(answer.facts() | (answer.extra or {}) | {"result": answer.value})


def to_csv(table: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in table:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writeheader()
    for row in table:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    return value


def fact_headers(answer: Answer) -> dict[str, str]:
    facts = answer.facts()
    p, privacy, receipt = facts["period"], facts["privacy"], facts["audit_receipt"]
    headers = {
        "Gerbang-Request-Id": facts["request_id"],
        "Gerbang-Period": f"{p['start'] or ''}/{p['end'] or ''}",
        "Gerbang-Mechanism": privacy["mechanism"],
        "Gerbang-Audit-Receipt": f"{receipt['leaf_index']};{receipt['entry_hash']}",
    }
    if privacy["epsilon"] is not None:
        headers["Gerbang-Epsilon"] = repr(privacy["epsilon"])
    if privacy["k"] is not None:
        headers["Gerbang-K"] = str(privacy["k"])
    return headers


def polygon(cell: str) -> dict[str, Any]:
    """The cell's boundary as a GeoJSON polygon: [longitude, latitude], ring closed."""
    # H3 lists the vertices counterclockwise, as RFC 7946 section 3.1.6 wants exterior rings.
    ring = [[round(lon, 7), round(lat, 7)] for lat, lon in _h3.boundary(cell)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def to_geojson(answer: Answer) -> dict[str, Any]:
    column = answer.cell_column
    if column is None:
        raise Problem(
            406,
            "not-acceptable",
            "Format tidak tersedia / Format not available",
            f"the {answer.operation} answer holds no H3 cells: ask for json or csv",
        )
    features = []
    for row in answer.table:
        cell = row.get(column)
        if not isinstance(cell, str) or not _h3.is_valid(cell):
            continue
        properties = {k: v for k, v in row.items() if k != column}
        features.append(
            {"type": "Feature", "id": cell, "geometry": polygon(cell), "properties": properties}
        )
    return {"type": "FeatureCollection", "features": features, "gerbang": answer.facts()}
