"""Queries 4 to 6, the analytics: a heatmap drawn as a picture, the early-warning stream
replayed over a planted surge, and a patrol plan.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
import sys
from importlib import resources
from pathlib import Path

from adapters.privacy import public_domain
from gateway.analytics import operations as ops
from gateway.client import GerbangClient, QueryRefused
from gateway.client.analytics import AnalyticsClient
from gateway.client.render import Legend, basemap_from_geojson, render_png, render_terminal
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.model import Bucket, GroupBy
from tools.demo.show import heading, heatmap_legend, receipt, show_privacy
from tools.demo.workdir import REGIONS, WORKDIR, legal_basis

HEATMAP_GROUP = GroupBy("location", Bucket.H3, 8)
HEATMAP_KOTA = "Jakarta Selatan"
# The seeded year (local time): the generator's default end.
YEAR_END = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)


async def heatmap_picture(address: str, pki: Path) -> None:
    """The planning agency's heatmap of one kota, drawn. The release is charged to the twelve
    months of data it reads; a rerun in the same hold period gets the same release back,
    charged nothing (docs/adr/0009)."""
    heading(
        f"4. Dinas Cipta Karya, spatial planning: heatmap of reported incidents, {HEATMAP_KOTA}, "
        "H3 resolution 8, the last 12 months (epsilon 1.0, k = 10)"
    )
    slug = HEATMAP_KOTA.lower().replace(" ", "-")
    kept = WORKDIR / f"heatmap-{slug}.json"
    scope = ops.Scope(
        "spatial_planning",
        legal_basis("spatial_planning"),
        start=YEAR_END - dt.timedelta(days=365),
        end=YEAR_END,
        kota=(HEATMAP_KOTA,),
    )
    async with GerbangClient.connect(address, pki, "citata-spatial") as client:
        try:
            heat = await AnalyticsClient(client).heatmap(scope, resolution=8)
        except QueryRefused as refused:
            if not kept.exists():
                raise
            print(f"DENIED ({refused.code.name}), audit entry {refused.audit_index}:")
            for reason in refused.reasons:
                print(f"  - {reason}")
            release = json.loads(kept.read_text())
            print(f"showing this month's release, kept from audit entry {release['entry']}")
            cells: dict[str, int] = release["cells"]
            legend = Legend(**release.get("legend", {}))
        else:
            cells = heat.value
            print(
                f"ALLOWED: {len(cells)} cells released by {', '.join(heat.result.adapters)}, "
                f"{heat.result.suppressed_groups} withheld below k after the noise"
            )
            show_privacy(heat.result)
            receipt(heat.result)
            legend = heatmap_legend(heat.result, scope)
            kept.write_text(
                json.dumps(
                    {
                        "entry": heat.result.receipt.leaf_index,
                        "cells": cells,
                        "legend": dataclasses.asdict(legend),
                    },
                    indent=1,
                )
            )
    areas = {k.name: k.kota for k in KECAMATAN if k.kota == HEATMAP_KOTA}
    domain = [str(key[0]) for key in public_domain((HEATMAP_GROUP,), (), areas)]
    picture: dict[str, int | None] = {c: None for c in domain} | dict(cells)
    png = WORKDIR / f"heatmap-{slug}.png"
    basemap = basemap_from_geojson(
        resources.files("gateway.agent").joinpath("consoles", "basemap.geojson").read_bytes()
    )
    png.write_bytes(
        render_png(
            picture,
            width=900,
            title=f"Insiden dilaporkan / Reported incidents, {HEATMAP_KOTA}",
            legend=legend,
            basemap=basemap,
        )
    )
    print(render_terminal(picture, columns=72, colour=sys.stdout.isatty()))
    print(f"picture: {png} (grey: withheld, fewer than k after the noise)")


def planted_surges() -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The surges the generator planted (its truth table; not served to anyone)."""
    surges = []
    for name in REGIONS:
        with contextlib.closing(sqlite3.connect(WORKDIR / f"police-{name}.db")) as conn:
            for kecamatan, start_at, end_at in conn.execute(
                "SELECT kecamatan, start_at, end_at FROM seed_truth WHERE kind = 'surge'"
            ):
                surges.append(
                    (
                        str(kecamatan),
                        dt.datetime.fromisoformat(start_at).replace(tzinfo=dt.UTC),
                        dt.datetime.fromisoformat(end_at).replace(tzinfo=dt.UTC),
                    )
                )
    return sorted(surges, key=lambda s: s[1])


async def early_warning(address: str, pki: Path) -> None:
    """Replay the days around a surge the generator planted, as the command centre's stream."""
    surges = planted_surges()
    if not surges:
        print("no planted surge to replay")
        return
    kecamatan, first, last = surges[-1]
    heading(
        "5. Jakarta Smart City command centre, early warning: the daily stream replayed over "
        f"{ops.local_day(first)} to {ops.local_day(last)} "
        f"(the generator planted a +60 % surge in {kecamatan} then)"
    )

    def planted(area: str, day: dt.date) -> str:
        hit = any(
            k == area and ops.local_day(a) <= day + dt.timedelta(days=2) and day < ops.local_day(b)
            for k, a, b in surges
        )
        return "planted surge" if hit else "no surge planted here: a false alarm"

    scope = ops.Scope(
        "public_order_early_warning",
        legal_basis("public_order_early_warning"),
        start=first - dt.timedelta(days=1),
        end=last,
    )
    async with GerbangClient.connect(address, pki, "jsc-command-centre") as client:
        async for day in AnalyticsClient(client).watch_warnings(scope):
            if not day.alerts:
                print(f"{day.day}: no alert (audit entry {day.result.receipt.leaf_index})")
                continue
            for a in day.alerts:
                print(
                    f"{day.day}: ALERT {a.area}: {a.statistic} reported incidents in the "
                    f"{a.window_days} day(s) to {a.day}, {a.baseline:.1f} expected from the "
                    f"seasonal baseline, alert threshold {a.threshold}, p = {a.p_value:.1e} "
                    f"(audit entry {day.result.receipt.leaf_index}; {planted(a.area, a.day)})"
                )
            if any(a.area == kecamatan for a in day.alerts):
                break
        else:
            print(f"no alert for {kecamatan} during the planted surge")


async def patrol_plan(address: str, pki: Path) -> None:
    heading(
        "6. Direktorat Samapta Polda Metro Jaya, patrol planning: 12 units over H3 cells by "
        "risk, at most 2 per kecamatan, as of the week of 2026-11-01"
    )
    scope = ops.Scope("patrol_planning", legal_basis("patrol_planning"), end=YEAR_END)
    async with GerbangClient.connect(address, pki, "samapta") as client:
        answer = await AnalyticsClient(client).patrol_plan(scope, units=12, cap_per_area=2)
    plan, scores = answer.value
    by_cell = {s.unit: s for s in scores}
    print(f"{'cell':<16} {'kecamatan':<20} {'per day':>7}  {'risk (90 % interval)':<22} factors")
    for a in plan.assignments:
        s = by_cell[a.cell]
        factors = ", ".join(f"{k} {v:.2f}" for k, v in s.factors.items())
        interval = f"{s.score:.2f} ({s.low:.2f}-{s.high:.2f})"
        print(f"{a.cell:<16} {a.area:<20} {a.expected:>7.2f}  {interval:<22} {factors}")
    print(
        f"expected coverage: {plan.expected_coverage:.1%} of the reported incidents expected "
        f"city-wide; units per kecamatan: {max(plan.per_area.values())} at most"
    )
    show_privacy(answer.result)
    receipt(answer.result)
