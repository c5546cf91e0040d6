"""The command line of the seeder (`python -m tools.city`): its options and `run_seed`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date

from sqlalchemy.engine import make_url

from gateway.protocol.geography import KOTA_NAMES
from tools.city.params import DEFAULT_END, DEFAULT_HOTSPOTS, DEFAULT_SURGES
from tools.city.seed import DatabaseNotEmptyError, seed_city


def _kota_argument(value: str) -> str:
    wanted = " ".join(value.replace("-", " ").replace("_", " ").lower().split())
    for name in KOTA_NAMES:
        if wanted in (name.lower(), name.lower().removeprefix("jakarta ")):
            return name
    raise argparse.ArgumentTypeError(
        f"unknown kota {value!r}; expected one of {', '.join(KOTA_NAMES)}"
    )


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {number}")
        return number

    return parse


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `gerbang seed` options to `parser`."""
    parser.add_argument("--store", required=True, metavar="URL", help="SQLAlchemy database URL")
    parser.add_argument("--incidents", required=True, type=_at_least(1), metavar="N")
    parser.add_argument("--seed", required=True, type=int, metavar="S")
    parser.add_argument(
        "--kota",
        nargs="+",
        type=_kota_argument,
        metavar="KOTA",
        help="seed only these kota, e.g. 'Jakarta Selatan' or jakarta-timur (default: all five)",
    )
    parser.add_argument("--hotspots", type=_at_least(0), default=DEFAULT_HOTSPOTS, metavar="N")
    parser.add_argument(
        "--hotspot-factor",
        type=float,
        default=3.0,
        metavar="F",
        help="2 to 4: the rate of a hotspot's resolution-8 cell against the cells around it",
    )
    parser.add_argument(
        "--hotspot-unit",
        choices=("cell", "disc"),
        default="cell",
        help="cell (default): the hotspot's cell has F times its neighbours' rate; disc: its "
        "disc has F times the density around it, so its cell only 1.1 to 1.6 times (harder)",
    )
    parser.add_argument("--surges", type=_at_least(0), default=DEFAULT_SURGES, metavar="N")
    parser.add_argument(
        "--surge-factor", type=float, default=0.6, metavar="F", help="0.6 means +60 %%"
    )
    parser.add_argument("--days", type=_at_least(1), default=365, metavar="N")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=DEFAULT_END,
        metavar="YYYY-MM-DD",
        help=f"first local day after the window (default {DEFAULT_END.isoformat()})",
    )
    parser.add_argument("--persons", type=_at_least(1), default=None, metavar="N")
    parser.add_argument(
        "--replace", action="store_true", help="drop and re-create the police schema's tables"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (it is shown on one)",
    )


def run_seed(args: argparse.Namespace) -> int:
    """Seed as `args` (from `add_seed_arguments`) say, print a summary, return the exit code."""
    try:
        summary = seed_city(
            args.store,
            incidents=args.incidents,
            seed=args.seed,
            kota=args.kota,
            hotspots=args.hotspots,
            hotspot_factor=args.hotspot_factor,
            surges=args.surges,
            surge_factor=args.surge_factor,
            days=args.days,
            end=args.end,
            persons=args.persons,
            replace=args.replace,
            hotspot_unit=args.hotspot_unit,
            progress=args.progress or sys.stderr.isatty(),
        )
    except (DatabaseNotEmptyError, ValueError) as exc:
        print(f"gerbang seed: {exc}", file=sys.stderr)
        return 1
    where = make_url(args.store).render_as_string(hide_password=True)
    kota = ", ".join(args.kota) if args.kota else "all five kota"
    rate = summary.incidents / summary.elapsed_seconds if summary.elapsed_seconds else 0.0
    print(
        f"Seeded {where} in {summary.elapsed_seconds:.1f} s ({rate:,.0f} incidents/s) with seed "
        f"{args.seed}: {summary.incidents:,} incidents over the {args.days} days before "
        f"{args.end.isoformat()} in {summary.areas} kecamatan of {kota}, {summary.persons:,} "
        f"persons, {summary.involvements:,} involvements, {summary.vehicles:,} vehicles "
        f"({summary.stolen_vehicles:,} stolen) and {summary.cases:,} cases; planted "
        f"{summary.hotspots} hotspots (x{args.hotspot_factor:g}) and {summary.surges} surges "
        f"(+{args.surge_factor:.0%}), recorded in seed_truth."
    )
    return 0
