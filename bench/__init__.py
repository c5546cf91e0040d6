"""The benchmark harness behind `make bench` and `make profile` (issue 3).

It starts real processes on loopback (an adapter over a seeded police database,
the gateway, a bare relay) and measures the full Gerbang path against the relay,
each component against its own baseline, several gateway workers, and memory
over a soak; `bench.report` writes the figures to BENCHMARKS.md.

Modules, one job each:
- `workload`: the benchmark's city, query and obligations;
- `relay`: path A, the bare two-hop relay (a process of its own);
- `load`: the Python closed-loop load generator;
- `ghz`: the independent load generator;
- `procs`: CPU time and memory of processes, the machine's description;
- `components`: policy, audit append, log verification, proofs, sealing, each against its baseline;
- `results`: what one run found;
- `report`: the Markdown written to BENCHMARKS.md;
- `settings`: a run's sizes, full and quick;
- `servers`: the adapter, the gateway (path B) and the relay (path A) a run starts;
- `end_to_end`: A against B with both load generators, the soak, the workers;
- `parts`: the flood, the components, the agent and the heatmap, measured apart;
- `run`: the whole run (`python -m bench`);
- `profile`: where the gateway's time goes under load (`make profile`).
"""
