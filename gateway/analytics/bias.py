"""Bias report: who gets the risk scores and the patrols, against who lives and who reports.

For each area it sets four shares side by side: of the population, of reported incidents, of
the summed risk (expected incidents), and of patrol units. A fair plan puts patrols where
reported incidents are; a plan far above the population share in some areas concentrates
policing on their residents, and the report shows it before anyone acts on the plan. Measures:

- `hoover_*` (Hoover index, = dissimilarity index): half the sum of absolute differences
  between two share vectors, the share of patrols that would have to move to match the other
  distribution (0 = identical, 1 = disjoint);
- `patrol_gini_per_capita`: the population-weighted Gini coefficient of patrol units per
  resident across areas (0 = every resident equally patrolled, towards 1 = all patrols on few);
- `over_patrolled`: areas whose patrol share exceeds `over_ratio` times both their population
  share and their incident share, the ones to question first.

Limits. Areas are kecamatan, as populous as small towns; concentration inside one is invisible
here. Population is the resident count of the reference geography. Nothing here can tell
whether the reported incidents themselves are biased (who reports, who is believed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AreaShares", "BiasReport", "bias_report", "gini", "hoover"]


@dataclass(frozen=True, slots=True)
class AreaShares:
    area: str
    population_share: float
    incident_share: float
    risk_share: float
    patrol_share: float
    patrols: int
    patrols_per_100k: float


@dataclass(frozen=True, slots=True)
class BiasReport:
    areas: tuple[AreaShares, ...]
    hoover_patrol_population: float
    hoover_patrol_incidents: float
    hoover_risk_population: float
    hoover_risk_incidents: float
    patrol_gini_per_capita: float
    over_patrolled: tuple[str, ...]


def bias_report(
    population: Mapping[str, int],
    incidents: Mapping[str, int],
    risk: Mapping[str, float],
    patrols: Mapping[str, int],
    *,
    over_ratio: float = 2.0,
) -> BiasReport:
    """Compare the risk and patrol distributions over the areas of `population`.

    Areas missing from `incidents`, `risk` or `patrols` have zero there; keys not in
    `population` raise, since a share of an unknown population means nothing.
    """
    names = sorted(population)
    for label, values in (("incidents", incidents), ("risk", risk), ("patrols", patrols)):
        unknown = set(values) - set(population)
        if unknown:
            raise ValueError(f"{label} for areas with no population: {sorted(unknown)}")
    if any(population[a] <= 0 for a in names):
        raise ValueError("every area needs a positive population")
    pop = _shares({a: float(population[a]) for a in names})
    inc = _shares({a: float(incidents.get(a, 0)) for a in names})
    rsk = _shares({a: float(risk.get(a, 0.0)) for a in names})
    pat = _shares({a: float(patrols.get(a, 0)) for a in names})
    rows = tuple(
        AreaShares(
            area=a,
            population_share=pop[a],
            incident_share=inc[a],
            risk_share=rsk[a],
            patrol_share=pat[a],
            patrols=int(patrols.get(a, 0)),
            patrols_per_100k=patrols.get(a, 0) / population[a] * 100_000,
        )
        for a in names
    )
    over = tuple(
        r.area
        for r in rows
        if r.patrol_share > over_ratio * max(r.population_share, r.incident_share)
    )
    return BiasReport(
        areas=rows,
        hoover_patrol_population=hoover(pat, pop),
        hoover_patrol_incidents=hoover(pat, inc),
        hoover_risk_population=hoover(rsk, pop),
        hoover_risk_incidents=hoover(rsk, inc),
        patrol_gini_per_capita=gini(
            {a: patrols.get(a, 0) / population[a] for a in names}, weights=pop
        ),
        over_patrolled=over,
    )


def hoover(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Half the L1 distance between two share vectors over the same keys, 0..1."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def gini(values: Mapping[str, float], *, weights: Mapping[str, float] | None = None) -> float:
    """Weighted Gini coefficient: sum_ij w_i w_j |x_i - x_j| / (2 (sum w)^2 mean_w(x))."""
    keys = list(values)
    w = {k: 1.0 if weights is None else weights[k] for k in keys}
    total_w = sum(w.values())
    if not keys or total_w <= 0:
        return 0.0
    mean = sum(w[k] * values[k] for k in keys) / total_w
    if mean <= 0:
        return 0.0
    spread = sum(w[i] * w[j] * abs(values[i] - values[j]) for i in keys for j in keys)
    return spread / (2 * total_w * total_w * mean)


def _shares(values: Mapping[str, float]) -> dict[str, float]:
    total = sum(values.values())
    if total <= 0:
        return dict.fromkeys(values, 0.0)
    return {k: v / total for k, v in values.items()}
