"""Analytic methods over aggregated counts of reported incidents (issue 7).

Every method is a pure function of `Tally` rows, counts grouped by place, time and kind, never
of persons, and counts only what the public reported (`tally.reported`). The methods are
shared core (docs/adr/0025): the caller runs them over the counts only it can open, and the
gateway compiles the very operation the caller signs (`operations`, docs/adr/0007). The noise
and minimum cell count are applied by the adapter (`adapters.noise`), the budget is charged by
the gateway (`gateway.audit.releases`); measuring the methods against a synthetic city's planted
truth is `tools.analytics`. See docs/analytics.md.

Modules: `tally` (input rows), `operations` (an AnalyticsService request to its one query and
back), `heatmap`, `patterns`, `risk`, `warning` (early warning) and `stream` (the caller's
side of its stream), `patrol`, `index` (security index), `bias`.
"""
