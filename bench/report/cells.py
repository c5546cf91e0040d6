"""The report's cells and tables: numbers, percentages, errors, rates, CPU, Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bench.components import Rate
from bench.load import LoadResult

NONE: Final = "n/a"


def num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return NONE if value is None else f"{value:,.{digits}f}{suffix}"


def pct(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:+.1f} %"


def errors_cell(r: LoadResult | None) -> str:
    if r is None:
        return NONE
    if not r.errors:
        return "0"
    return ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items()))


def met(ok: bool | None) -> str:
    return NONE if ok is None else ("yes" if ok else "**no**")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _plural(unit: str) -> str:
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def rate_cells(rate: Rate | None) -> list[str]:
    if rate is None:
        return ["not measured (see note)", NONE, NONE, NONE]
    return [
        f"{rate.what}",
        f"{rate.per_second:,.0f} {_plural(rate.unit)}/s",
        num(rate.p50_us, 0),
        num(rate.p99_us, 0),
    ]


def cpu_cell(r: LoadResult, name: str) -> str:
    per = r.cpu_ms_per_request()
    return num(per[name], 2) if name in per and per[name] > 0.0005 else NONE


def busy(r: LoadResult, cores: int) -> str:
    if not r.cpu or r.seconds <= 0:
        return NONE
    return f"{r.busy_cores:.2f} of {cores}"


def other(r: LoadResult) -> str:
    return num(r.other_cores, 2)
