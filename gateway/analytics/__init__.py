"""Analytic methods over aggregated counts of reported incidents (issue 7).

Every method is a pure function of `Tally` rows, counts grouped by place, time and kind, never
of persons, and counts only what the public reported (`tally.reported`). Privacy obligations
(noise, minimum cell count, budget) are in `privacy`; `evaluate` measures the methods against a
synthetic city's planted truth. See docs/analytics.md.

Modules: `tally` (input rows), `privacy`, `heatmap`, `patterns`, `risk`, `warning`, `patrol`,
`index` (security index), `bias`, `evaluate`, `reports`, `cli`.
"""
