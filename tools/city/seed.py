"""`seed_city`: draw a whole city from one seed, in order, and write it to a database.

The steps, in the order they draw from the one `Generator(PCG64(seed))` (the order is part of
the output: a change to it changes every row after):
1. per-kecamatan category mix (for all 42 kecamatan), hotspots, surges (`geometry`, `incidents`);
2. incidents (`incidents`);
3. persons, involvements, vehicles (`people`), then cases (`cases`);
4. one transaction that writes it all (`writer`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from numpy.random import PCG64, Generator
from sqlalchemy.engine import make_url
from tqdm import tqdm

from gateway.protocol.geography import KECAMATAN
from tools.city.cases import draw_cases, file_demo_cases
from tools.city.geometry import plant_hotspots
from tools.city.incidents import draw_incidents, plant_surges
from tools.city.params import DEFAULT_HOTSPOTS, DEFAULT_SURGES, HotspotUnit, checked_params
from tools.city.people import draw_involvements, draw_persons, draw_vehicles
from tools.city.profiles import CATEGORIES, SHARE
from tools.city.writer import open_engine, populated_tables, truth_rows, write_city


class DatabaseNotEmptyError(RuntimeError):
    """The target database already holds rows and `replace` was not asked for."""


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What `seed_city` wrote, and how long it took."""

    areas: int
    incidents: int
    persons: int
    involvements: int
    vehicles: int
    stolen_vehicles: int
    cases: int
    hotspots: int
    surges: int
    elapsed_seconds: float


def seed_city(
    url: str,
    *,
    incidents: int,
    seed: int,
    kota: Sequence[str] | None = None,
    hotspots: int = DEFAULT_HOTSPOTS,
    hotspot_factor: float = 3.0,
    surges: int = DEFAULT_SURGES,
    surge_factor: float = 0.6,
    days: int = 365,
    end: date | None = None,
    persons: int | None = None,
    replace: bool = False,
    hotspot_unit: HotspotUnit = "cell",
    progress: bool = False,
) -> SeedSummary:
    """Fill the database at `url` with a synthetic city; the same arguments give the same rows.

    `kota` limits the city to those kota (all five by default). Incidents fall on the `days`
    local days before `end` (exclusive; default `DEFAULT_END`). `persons` defaults to the
    number of incidents plus 1000. Raises `DatabaseNotEmptyError` if any table holds rows, unless
    `replace`, which drops and re-creates the reference schema's tables; `ValueError` for
    arguments out of range. `progress` shows the stages and the rows written on stderr.
    """
    started = time.perf_counter()
    p = checked_params(
        incidents,
        kota,
        hotspots,
        hotspot_factor,
        surges,
        surge_factor,
        days,
        end,
        persons,
        hotspot_unit,
    )
    engine = open_engine(url)
    try:
        populated = populated_tables(engine)
        if populated and not replace:
            raise DatabaseNotEmptyError(
                f"{make_url(url).render_as_string(hide_password=True)} already holds rows in "
                f"{', '.join(populated)}; seed an empty database, or pass --replace to drop and "
                "re-create the police schema's tables"
            )
        with tqdm(
            total=0, unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress
        ) as bar:
            bar.set_description_str("gerbang seed: drawing the city")
            rng = Generator(PCG64(seed))
            # Drawn for all 42 kecamatan whatever `kota` says, so a kecamatan keeps its character.
            noise = rng.lognormal(0.0, 0.25, size=(len(KECAMATAN), len(CATEGORIES)))
            mix = SHARE * noise
            mix /= mix.sum(axis=1, keepdims=True)
            planted_hotspots = plant_hotspots(rng, p)
            planted_surges = plant_surges(rng, p)
            bar.set_description_str("gerbang seed: drawing incidents")
            inc = draw_incidents(rng, p, mix, planted_hotspots, planted_surges)
            bar.set_description_str("gerbang seed: drawing persons and vehicles")
            people = draw_persons(rng, p)
            inv = draw_involvements(rng, inc, people)
            vehicles = draw_vehicles(rng, inc, people, inv.victim_of)
            bar.set_description_str("gerbang seed: filing cases")
            cases = file_demo_cases(p, inc, inv.victim_of, vehicles, draw_cases(rng, p, inc))
            truth = truth_rows(p, planted_hotspots, planted_surges)
            bar.reset(
                total=len(p.kecamatan)
                + len(cases.incident)
                + len(people.kec)
                + len(inc.category)
                + len(inv.role)
                + len(vehicles.plate)
            )
            write_city(engine, p, inc, people, inv, vehicles, cases, truth, bar)
    finally:
        engine.dispose()
    return SeedSummary(
        areas=len(p.kecamatan),
        incidents=len(inc.category),
        persons=len(people.kec),
        involvements=len(inv.role),
        vehicles=len(vehicles.plate),
        stolen_vehicles=int(vehicles.stolen.sum()),
        cases=len(cases.incident),
        hotspots=len(planted_hotspots),
        surges=len(planted_surges),
        elapsed_seconds=time.perf_counter() - started,
    )
