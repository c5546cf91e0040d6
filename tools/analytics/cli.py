"""`python -m tools.analytics ...`: evaluate the methods on a synthetic city, report a plan's bias.

`add_analytics_commands(sub)` adds the `analytics` command to the `gerbang` parser's
subparsers; each command prints one JSON object on standard output.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date
from typing import Any

__all__ = ["add_analytics_commands"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _epsilon(text: str) -> float | str | None:
    if text.lower() in {"none", "off"}:
        return None
    if text.lower() == "policy":
        return "policy"
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"epsilon must be positive, or 'none', not {text}")
    return value


def _print(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tools.analytics.evaluate import evaluate

    _print(
        evaluate(
            args.seed,
            incidents=args.incidents,
            epsilon=args.epsilon,
            warning_epsilon=args.warning_epsilon,
            alpha=args.alpha,
            hotspot_unit=args.hotspot_unit,
            kota=args.kota,
        )
    )
    return 0


def cmd_bias_report(args: argparse.Namespace) -> int:
    from tools.analytics.reports import bias_report_from_store

    _print(
        bias_report_from_store(
            args.store,
            units=args.units,
            cap_per_area=args.cap_per_area,
            resolution=args.resolution,
            as_of=args.as_of,
        )
    )
    return 0


def add_analytics_commands(sub: Any) -> None:
    """Add `analytics evaluate` and `analytics bias-report` to a subparsers object."""
    from gateway.analytics.warning import DEFAULT_ALPHA
    from gateway.protocol.geography import KOTA_NAMES
    from tools.analytics.evaluate import DEFAULT_INCIDENTS

    analytics = sub.add_parser(
        "analytics", help="analytic methods: evaluation on planted truth, bias report"
    ).add_subparsers(dest="analytics_command", required=True)

    p = analytics.add_parser(
        "evaluate",
        help="seed a synthetic city and score hotspots and early warnings against its truth",
    )
    p.add_argument("--seed", type=int, required=True, metavar="S")
    p.add_argument(
        "--incidents",
        type=_positive_int,
        default=DEFAULT_INCIDENTS,
        metavar="N",
        help=f"incidents to seed (default {DEFAULT_INCIDENTS})",
    )
    p.add_argument(
        "--epsilon",
        type=_epsilon,
        default="policy",
        help="epsilon of each monthly heatmap, 'none' for no noise, or 'policy' (default: "
        "as spatial_planning registers it)",
    )
    p.add_argument(
        "--warning-epsilon",
        type=_epsilon,
        default="policy",
        help="epsilon of each release of daily warning counts, 'none' for no noise, or "
        "'policy' (default: as public_order_early_warning registers it)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"early-warning false-alert level per area and day (default {DEFAULT_ALPHA})",
    )
    p.add_argument(
        "--hotspot-unit",
        choices=("cell", "disc"),
        default="cell",
        help="cell (default, the issue's city): a hotspot's resolution-8 cell has 2-4 times "
        "its neighbours' rate; disc: only its small disc does (a harder city)",
    )
    p.add_argument(
        "--kota",
        action="append",
        choices=KOTA_NAMES,
        help="seed only this kota (repeatable; default the whole city): a smaller city at the "
        "same density",
    )
    p.set_defaults(func=cmd_evaluate)

    p = analytics.add_parser(
        "bias-report",
        help="risk, a capped patrol plan and its bias against population, for a police store",
    )
    p.add_argument("--store", required=True, help="SQLAlchemy URL of a (seeded) police database")
    p.add_argument("--units", type=_positive_int, default=40, help="patrol units (default 40)")
    p.add_argument(
        "--cap-per-area",
        type=_positive_int,
        default=3,
        help="most units in one kecamatan (default 3)",
    )
    p.add_argument("--resolution", type=int, default=8, choices=range(0, 16), metavar="0..15")
    p.add_argument(
        "--as-of",
        type=date.fromisoformat,
        help="local date the plan is for (default: the day after the last incident)",
    )
    p.set_defaults(func=cmd_bias_report)


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.analytics evaluate|bias-report ...`."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m tools.analytics")
    add_analytics_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["analytics", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code
