"""What the demo prints: headings, hourly sparklines, record tables, receipts, privacy costs."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from gateway.analytics import operations as ops
from gateway.client import QueryResult
from gateway.client.render import Legend

SPARK = " ▁▂▃▄▅▆▇█"


def heading(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")


def spark(values: list[int]) -> str:
    top = max(values) or 1
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def show_hourly(result: QueryResult) -> None:
    by_area: dict[str, list[int]] = {}
    for row in result.rows:
        hours = by_area.setdefault(str(row["kecamatan"]), [0] * 24)
        hour, count = row["occurred_at_hour_of_day"], row["count"]
        if isinstance(hour, int) and isinstance(count, int):
            hours[hour] += count
    print(f"{'kecamatan':<20} {'total':>6}  {'00h' + ' ' * 18 + '23h':<24}  peak")
    for area, hours in sorted(by_area.items(), key=lambda kv: -sum(kv[1])):
        peak = max(range(24), key=hours.__getitem__)
        print(f"{area:<20} {sum(hours):>6}  {spark(hours):<24}  {peak:02d}:00")
    print(
        f"({len(result.rows)} cells from {', '.join(result.adapters)}; "
        f"{result.suppressed_groups} cells below the minimum count suppressed)"
    )


def show_records(result: QueryResult, limit: int = 8) -> None:
    cols = result.columns
    widths = (
        {c: max(len(c), *(len(_text(r[c])) for r in result.rows[:limit])) for c in cols}
        if result.rows
        else {}
    )
    print("  ".join(c.ljust(widths.get(c, len(c))) for c in cols))
    for row in result.rows[:limit]:
        print("  ".join(_text(row[c]).ljust(widths[c]) for c in cols))
    print(f"({len(result.rows)} records, fields granted: {', '.join(result.granted_fields)})")


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def receipt(result: QueryResult) -> None:
    print(
        f"audit receipt: entry {result.receipt.leaf_index}, "
        f"hash {result.receipt.entry_hash.hex()[:16]}…"
    )


def heatmap_legend(result: QueryResult, scope: ops.Scope) -> Legend:
    """The picture's legend: the period, ε and k of the release, and its audit receipt."""
    p = result.privacy
    period = ""
    if scope.start is not None and scope.end is not None:
        last = scope.end - dt.timedelta(days=1)
        period = f"{scope.start:%Y-%m-%d} s.d./to {last:%Y-%m-%d}"
    return Legend(
        period=period,
        epsilon="" if p is None else f"{p.epsilon:g}",
        k=None if p is None else p.min_cell_count,
        receipt=f"entri / entry {result.receipt.leaf_index}, "
        f"hash {result.receipt.entry_hash.hex()[:16]}…",
        source=", ".join(result.adapters),
    )


def show_privacy(result: QueryResult) -> None:
    """How the counts were released and what they cost (docs/adr/0009)."""
    p = result.privacy
    if p is None:
        return
    cost = (
        "held release (asked before in its hold period): nothing charged"
        if p.held
        else f"charged epsilon {p.epsilon_charged:g} to each data period read"
    )
    until = (
        ""
        if p.held_until is None
        else f", held until {p.held_until.astimezone(ops.WIB):%Y-%m-%d %H:%M} WIB"
    )
    print(
        f"privacy / privasi: {p.mechanism}, epsilon {p.epsilon:g}, k = {p.min_cell_count} on noisy "
        f"counts; {cost}; data periods {p.periods}: spent {p.spent:g} of {p.limit:g}, "
        f"left {p.remaining:g}{until}"
    )
