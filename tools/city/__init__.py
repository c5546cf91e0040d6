"""Deterministic synthetic city: a police records database for DKI Jakarta with planted truth.

`seed_city` fills the reference schema (`adapters.schema`) with incidents, persons, involvements,
vehicles and cases drawn from one `numpy.random.Generator(PCG64(seed))`, so the same arguments
always give the same rows. It plants hotspots (small discs with a raised incident rate: by
default as many extra incidents as raise one H3 resolution-8 cell to `hotspot_factor` times the
rate of the cells around it, the issue's definition; `hotspot_unit="disc"` raises only the
disc's own density that many times, a harder city) and
surges (a kecamatan's rate raised for some days) and records them in `seed_truth`, so the
analytics can be checked against what is really there.

The map is a power diagram of one disc per kecamatan (equal area, at its centroid) over all 42
kecamatan, so every kecamatan owns a fixed region whatever `kota` selects, and regions never
overlap. Within its region a kecamatan's background incidents are uniform; kelurahan are
angular sectors around the centroid. Times follow a local (WIB) hour-of-day profile and a
day-of-week profile per category and a mild annual cycle, and are stored as naive UTC.

The modules, by job:
- `params`: the arguments checked, the window, the defaults;
- `profiles`: the categories' profiles (shares, hours, weekdays, outcomes, modus operandi);
- `geometry`: the power-diagram regions, kelurahan, hotspots and placing points;
- `incidents`: surges and the incidents (category, place, time, source, report, status);
- `people`: persons, their involvements in incidents, vehicles;
- `cases`: the case files and their police report numbers, the demo registry's cases;
- `writer`: the one transaction that writes the tables, their rows and indexes;
- `seed`: `seed_city`, the steps in the order they draw;
- `command`: the command line (`python -m tools.city`).
"""

from tools.city.command import add_seed_arguments, run_seed
from tools.city.params import DEFAULT_END, DEFAULT_HOTSPOTS, DEFAULT_SURGES
from tools.city.seed import DatabaseNotEmptyError, SeedSummary, seed_city

__all__ = [
    "DEFAULT_END",
    "DEFAULT_HOTSPOTS",
    "DEFAULT_SURGES",
    "DatabaseNotEmptyError",
    "SeedSummary",
    "add_seed_arguments",
    "run_seed",
    "seed_city",
]
