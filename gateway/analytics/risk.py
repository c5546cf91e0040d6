"""Risk scores per area or H3 cell: a shrunk long-run rate, a recent change, a near-repeat lift.

For each unit i (a kecamatan or a cell), with counts of reported incidents in three windows
before `as_of` (history, recent, near; near lies inside recent):

1. Baseline (empirical Bayes, Poisson-Gamma; Clayton & Kaldor 1987). The long-run daily rates
   of all units share a Gamma(a, b) prior fitted by the method of moments; unit i's rate is
   the posterior mean mu_i = (a + n_i) / (b + T e_i) * e_i, with n_i its history count, T the
   history days and e_i its exposure (population, or 1 for equal cells). A unit with few
   incidents is pulled towards the city rate instead of ranking first or last on noise.
2. Recent factor theta_i: the last `recent_days` against mu_i, shrunk towards 1 by a
   Gamma(s, s) prior worth s = `prior_strength` incidents: theta_i = (s + r_i) / (s + mu_i R).
3. Near-repeat factor nu_i (Johnson & Bowers 2004; Townsley, Homel & Chaseling 2003): risk
   rises for a while near recent incidents. The last `near_days` of the unit and its
   neighbours (cells: the six adjacent cells; areas: none unless given) against their
   baselines, shrunk like theta with strength `near_strength`, damped by the exponent
   `near_weight`: nu_i = ((s' + m_i) / (s' + sum mu_j D)) ^ near_weight.

The score is the relative risk mu_i theta_i nu_i / mean(mu): 1 is an average unit. Each factor
is reported (baseline = mu_i / mean(mu), recent, near_repeat; their product is the score) and
its contribution is its logarithm (the contributions add up to log(score)). The interval is a
log-normal approximation from the Gamma posteriors' shapes, var(log) ~ 1/shape for each factor.

Limits. Reported incidents only (see `gateway.analytics.tally`), so a place where people do not
report looks safe. A score ranks places, not people, and says nothing about why; it is an
input for where to look, never evidence about anyone. The near-repeat lift is for
property crime in the literature; here it is applied to all categories alike.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from gateway.analytics.tally import InvalidTally, Tally, in_window, reported
from gateway.protocol import cells as _h3

__all__ = ["HISTORY_DAYS", "NEAR_DAYS", "RECENT_DAYS", "RiskScore", "risk_scores"]

# The default windows: together a year of whole weeks (52), which the analytics operations ask
# the adapters for as three spans (gateway.analytics.operations: risk_query, patrol_query).
HISTORY_DAYS: Final = 336
RECENT_DAYS: Final = 28
NEAR_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A unit's relative risk with its interval, expected rate and the factors behind it."""

    unit: str
    score: float  # relative risk: 1 = the average unit
    low: float
    high: float
    rate: float  # expected reported incidents per day
    factors: Mapping[str, float]  # baseline x recent x near_repeat = score
    contributions: Mapping[str, float]  # log of each factor; they sum to log(score)


def risk_scores(
    tallies: Iterable[Tally],
    *,
    unit: Literal["area", "cell"],
    as_of: date,
    history_days: int = HISTORY_DAYS,
    recent_days: int = RECENT_DAYS,
    near_days: int = NEAR_DAYS,
    units: Collection[str] | None = None,
    exposure: Mapping[str, float] | None = None,
    neighbours: Callable[[str], Iterable[str]] | None = None,
    prior_strength: float = 20.0,
    near_strength: float = 10.0,
    near_weight: float = 0.5,
    level: float = 0.9,
) -> dict[str, RiskScore]:
    """Risk scores for every unit in `units` (default: every unit in the counts).

    Windows end at `as_of` (exclusive): near = the last `near_days`, recent = the last
    `recent_days`, history = the `history_days` before recent. The counts must be bucketed so
    that no bucket straddles a window boundary (daily counts always are; so are weekly counts
    and the three spans history, recent before near, and near, which give the same scores as
    the weeks they sum).
    """
    if not 0 < near_days <= recent_days or history_days < 1:
        raise ValueError("need 0 < near_days <= recent_days and history_days >= 1")
    if not 0 < level < 1:
        raise ValueError(f"level must be within (0, 1), not {level}")
    recent_start = as_of - timedelta(days=recent_days)
    near_start = as_of - timedelta(days=near_days)
    history_start = recent_start - timedelta(days=history_days)
    history: dict[str, int] = defaultdict(int)
    recent: dict[str, int] = defaultdict(int)
    near: dict[str, int] = defaultdict(int)
    for t in reported(tallies):
        key = t.area if unit == "area" else t.cell
        if key is None:
            raise InvalidTally(f"risk per {unit} needs counts grouped by {unit}")
        if in_window(t, history_start, recent_start):
            history[key] += t.count
        elif in_window(t, recent_start, as_of):
            recent[key] += t.count
            if in_window(t, near_start, as_of):
                near[key] += t.count
    names = sorted(set(history) | set(recent) if units is None else set(units))
    if not names:
        return {}
    if neighbours is None and unit == "cell":
        neighbours = _cell_neighbours
    e = {u: 1.0 if exposure is None else float(exposure[u]) for u in names}
    if min(e.values()) <= 0:
        raise ValueError("every exposure must be positive")

    a, b = _gamma_prior([history.get(u, 0) for u in names], [history_days * e[u] for u in names])
    mu = {u: (a + history.get(u, 0)) / (b + history_days * e[u]) * e[u] for u in names}
    mean_mu = statistics.fmean(mu.values())
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    scores: dict[str, RiskScore] = {}
    for u in names:
        r = recent.get(u, 0)
        theta = (prior_strength + r) / (prior_strength + mu[u] * recent_days)
        around = [u, *(v for v in (neighbours(u) if neighbours else ()) if v != u)]
        m = sum(near.get(v, 0) for v in around)
        expected_near = near_days * sum(mu.get(v, mean_mu) for v in around)
        nu = ((near_strength + m) / (near_strength + expected_near)) ** near_weight
        factors = {"baseline": mu[u] / mean_mu, "recent": theta, "near_repeat": nu}
        score = factors["baseline"] * theta * nu
        sd = math.sqrt(
            1.0 / (a + history.get(u, 0))
            + 1.0 / (prior_strength + r)
            + near_weight**2 / (near_strength + m)
        )
        scores[u] = RiskScore(
            unit=u,
            score=score,
            low=score * math.exp(-z * sd),
            high=score * math.exp(z * sd),
            rate=mu[u] * theta * nu,
            factors=factors,
            contributions={k: math.log(v) for k, v in factors.items()},
        )
    return scores


def _gamma_prior(counts: list[int], exposures: list[float]) -> tuple[float, float]:
    """Gamma(a, b) prior of the rates count/exposure by the method of moments.

    Between-unit variance = variance of the raw rates minus their mean Poisson variance; when
    that is not positive the units look alike, and the prior is made strong enough to pool
    every unit to the common rate.
    """
    total = sum(counts)
    pooled = total / sum(exposures)
    if pooled <= 0:
        return 1e-6, 1e-6  # no incidents at all: a vague prior
    rates = [c / x for c, x in zip(counts, exposures, strict=True)]
    raw = statistics.pvariance(rates) if len(rates) > 1 else 0.0
    poisson = pooled * statistics.fmean(1.0 / x for x in exposures)
    between = raw - poisson
    if between <= pooled * pooled * 1e-6:
        between = pooled * pooled * 1e-6
    return pooled * pooled / between, pooled / between


def _cell_neighbours(cell: str) -> list[str]:
    return _h3.ring(cell, 1)
