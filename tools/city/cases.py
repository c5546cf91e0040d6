"""The cases: one per investigated incident, numbered as Polda Metro Jaya numbers its reports.

Each case is filed at the polsek, polres or polda that takes it, with a police report number
(`LP/B/seq/month/year/SPKT/office`) counted per office and year. The demo registry's cases
(`DEMO_CASES`) keep their registered numbers and have a handful of incidents filed under them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.random import Generator

from adapters.schema import CASE_STATUSES, INCIDENT_SOURCES, INCIDENT_STATUSES
from gateway.protocol.geography import KECAMATAN, KOTA
from tools.city.arrays import I64
from tools.city.geometry import KOTA_INDEX
from tools.city.incidents import Incidents
from tools.city.params import DAY, WIB_SECONDS, Params
from tools.city.people import Vehicles
from tools.city.profiles import CATEGORIES, FRAUD, NARCOTICS, TRAFFIC

_ROMAN_MONTHS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


@dataclass(frozen=True, slots=True)
class Cases:
    """The drawn cases, in case_id order."""

    incident: I64  # the incident each case was opened for, in case_id order
    opened: I64
    status: list[str]
    unit: list[str]
    number: list[str]
    # Further incidents filed under a case (a merged case file): incident, case position.
    linked: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    linked_case: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class DemoCase:
    """A case the demo registry names (policies/registry/cases): the seeder files a handful
    of incidents under its number, so a query under it finds the case's rows and no others."""

    number: str
    unit: str
    category: str
    kecamatan: str
    incidents: int


# The registered demo cases (policies/registry/cases/data.json, `police_cases`).
DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase(
        "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA",
        "Subdit Jatanras, Ditreskrimum Polda Metro Jaya",
        "motor_vehicle_theft",
        "Tebet",
        5,
    ),
    DemoCase(
        "LP/B/0456/III/2025/SPKT/POLDA METRO JAYA",
        "Subdit Resmob, Ditreskrimum Polda Metro Jaya",
        "robbery",
        "Kebayoran Baru",
        4,
    ),
    DemoCase(
        "LP/B/2001/XII/2026/SPKT/POLDA METRO JAYA",
        "Subdit Ranmor, Ditreskrimum Polda Metro Jaya",
        "motor_vehicle_theft",
        "Tambora",
        4,
    ),
)
_DEMO_NUMBERS = frozenset(c.number for c in DEMO_CASES)


def draw_cases(rng: Generator, p: Params, inc: Incidents) -> Cases:
    """A case for each incident police took up, opened within two days of its report."""
    n = len(inc.category)
    st = {s: i for i, s in enumerate(INCIDENT_STATUSES)}
    u = rng.random((3, n))
    which = np.flatnonzero(inc.investigated)
    room = p.snapshot_utc - inc.reported[which]
    opened = inc.reported[which] + np.minimum(u[0][which] * 2 * DAY, 0.9 * room).astype(np.int64)
    order = np.lexsort((which, opened))
    which, opened = which[order], opened[order]

    age = (p.snapshot_utc - inc.reported[which]) / DAY
    status_i = inc.status[which]
    case_status = np.where(
        status_i == st["solved"],
        np.where(u[1][which] < 0.8, "closed", "open"),
        np.where(
            status_i == st["closed"],
            "suspended",
            np.where((age > 60) & (u[1][which] < 0.1), "suspended", "open"),
        ),
    )
    assert set(np.unique(case_status).tolist()) <= set(CASE_STATUSES)

    category = inc.category[which]
    kec = inc.kec[which]
    # Which level of Polda Metro Jaya takes the report: polsek (0), polres (1) or polda (2).
    level_u = u[2][which]
    polda_p = np.select([category == NARCOTICS, category == FRAUD], [0.4, 0.25], 0.1)
    polsek_p = np.select([category == NARCOTICS, category == TRAFFIC], [0.0, 0.0], 0.6)
    level = np.where(level_u < polda_p, 2, np.where(level_u < polda_p + polsek_p, 0, 1))
    office = np.where(
        level == 0, kec, np.where(level == 1, len(KECAMATAN) + KOTA_INDEX[kec], 10_000)
    )
    local = (opened + WIB_SECONDS).astype("datetime64[s]")
    year = local.astype("datetime64[Y]").astype(np.int64) + 1970
    month = local.astype("datetime64[M]").astype(np.int64) % 12
    group = office * 10_000 + year
    by_group = np.argsort(group, kind="stable")  # stable keeps opening order inside a group
    sorted_group = group[by_group]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sequence = np.empty(len(which), dtype=np.int64)
    sequence[by_group] = (
        np.arange(len(which)) - np.repeat(first, np.diff(np.r_[first, len(which)])) + 1
    )
    model_a = inc.source[which] == INCIDENT_SOURCES.index("police_initiated")

    units: list[str] = []
    numbers: list[str] = []
    for lv, c, k, seq, mo, yr, a in zip(
        level.tolist(),
        category.tolist(),
        kec.tolist(),
        sequence.tolist(),
        month.tolist(),
        year.tolist(),
        model_a.tolist(),
        strict=True,
    ):
        units.append(_unit(lv, c, k))
        number = f"LP/{'A' if a else 'B'}/{seq}/{_ROMAN_MONTHS[mo]}/{yr}/SPKT/{_office(lv, k)}"
        while number in _DEMO_NUMBERS:  # the demo cases keep their registered numbers
            seq += 10_000
            number = f"LP/{'A' if a else 'B'}/{seq}/{_ROMAN_MONTHS[mo]}/{yr}/SPKT/{_office(lv, k)}"
        numbers.append(number)
    return Cases(
        incident=which, opened=opened, status=case_status.tolist(), unit=units, number=numbers
    )


def file_demo_cases(
    p: Params, inc: Incidents, victim_of: I64, vehicles: Vehicles, cases: Cases
) -> Cases:
    """File a handful of investigated incidents under each demo case's registered number.

    For each demo case whose kecamatan is seeded: the latest investigated incidents of its
    category there, two of them ones whose victim owns a vehicle reported stolen (so the case
    has persons and vehicles). The first one's generated case becomes the demo case; the others'
    generated cases are dropped and their incidents linked to it (a merged case file).
    """
    position = {int(i): n for n, i in enumerate(cases.incident.tolist())}
    stolen_owners = np.unique(vehicles.owner[vehicles.stolen])
    with_vehicle = np.isin(victim_of, stolen_owners) & (victim_of >= 0)
    seeded = {KECAMATAN[k].name: k for k in p.kecamatan.tolist()}
    number, unit, status = list(cases.number), list(cases.unit), list(cases.status)
    opened = cases.opened.copy()
    drop: list[int] = []
    linked: list[int] = []
    linked_case: list[int] = []
    for demo in DEMO_CASES:
        if demo.kecamatan not in seeded:
            continue
        candidates = np.flatnonzero(
            inc.investigated
            & (inc.category == CATEGORIES.index(demo.category))
            & (inc.kec == seeded[demo.kecamatan])
        )
        if len(candidates) == 0:
            continue
        latest = candidates[np.argsort(-inc.occurred[candidates], kind="stable")].tolist()
        stolen = [i for i in latest if with_vehicle[i]][:2]
        rest = [i for i in latest if not with_vehicle[i]][: demo.incidents - len(stolen)]
        chosen = sorted(stolen + rest, key=lambda i: -int(inc.occurred[i]))
        keep = position[chosen[0]]
        number[keep], unit[keep], status[keep] = demo.number, demo.unit, "open"
        opened[keep] = min(int(inc.reported[chosen].max()) + DAY, p.snapshot_utc - 60)
        for i in chosen[1:]:
            drop.append(position[i])
            linked.append(i)
            linked_case.append(keep)
    kept = np.setdiff1d(np.arange(len(number)), np.array(drop, dtype=np.int64))
    new_position = np.full(len(number), -1, dtype=np.int64)
    new_position[kept] = np.arange(len(kept))
    return Cases(
        incident=cases.incident[kept],
        opened=opened[kept],
        status=[status[k] for k in kept.tolist()],
        unit=[unit[k] for k in kept.tolist()],
        number=[number[k] for k in kept.tolist()],
        linked=np.array(linked, dtype=np.int64),
        linked_case=new_position[np.array(linked_case, dtype=np.int64)],
    )


def _unit(level: int, category: int, kec: int) -> str:
    polres = KOTA[KOTA_INDEX[kec]].polres
    if level == 2:
        if category == NARCOTICS:
            return "Ditresnarkoba"
        if category == FRAUD:
            return "Ditreskrimsus"  # online fraud goes to the cyber directorate
        if category == TRAFFIC:
            return "Ditlantas"
        return "Ditreskrimum"
    if level == 1:
        if category == NARCOTICS:
            return f"Satresnarkoba {polres}"
        if category == TRAFFIC:
            return f"Satlantas {polres}"
        return f"Satreskrim {polres}"
    return f"Unit Reskrim Polsek {KECAMATAN[kec].name}"


def _office(level: int, kec: int) -> str:
    polda = "POLDA METRO JAYA"
    if level == 2:
        return polda
    polres = KOTA[KOTA_INDEX[kec]].polres.upper()
    if level == 1:
        return f"{polres}/{polda}"
    return f"POLSEK {KECAMATAN[kec].name.upper()}/{polres}/{polda}"
