"""The people: persons (NIK, name, address), their involvement in incidents, and vehicles.

Persons live in the seeded kecamatan in proportion to population; a fifth of them are the
offenders that suspects are drawn from. Each incident has a reporter, and by its category's
profile a victim, suspects and witnesses; vehicles belong to persons, and the stolen ones to
victims of motor vehicle theft.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.random import Generator

from adapters.schema import INCIDENT_STATUSES, ROLES
from gateway.protocol.geography import KECAMATAN, KOTA
from tools.city.arrays import B8, F64, I64, normalised
from tools.city.geometry import KEL_COUNT, KEL_OFFSET, KELURAHAN, KOTA_INDEX, POPULATION
from tools.city.incidents import Incidents
from tools.city.params import Params
from tools.city.profiles import MVT, per_category

# fmt: off
_MALE_GIVEN = (
    "Agus", "Ahmad", "Andi", "Arif", "Bambang", "Bayu", "Budi", "Dedi", "Dimas", "Eko", "Fajar",
    "Fikri", "Hadi", "Hendra", "Herman", "Ilham", "Irfan", "Iwan", "Joko", "Rahmat", "Reza",
    "Rizky", "Rudi", "Slamet", "Taufik", "Teguh", "Wahyu", "Yoga", "Yusuf", "Muhammad",
    "Aditya", "Agung", "Anton", "Doni", "Faisal", "Gilang", "Hari", "Imam", "Indra", "Kevin",
    "Lukman", "Mulyadi", "Nanda", "Ridwan", "Sigit", "Supriyadi", "Tono", "Umar", "Wawan",
    "Yudi", "Zainal", "Hasan", "Surya", "Rendi", "Ferry", "Daniel", "Rafi", "Bagus", "Dodi",
    "Heru",
)
_FEMALE_GIVEN = (
    "Siti", "Sri", "Dewi", "Nur", "Ayu", "Putri", "Rina", "Wulan", "Fitri", "Indah", "Ratna",
    "Yuni", "Dian", "Nurul", "Aisyah", "Anisa", "Rini", "Maya", "Ani", "Kartika", "Intan",
    "Mega", "Novi", "Diah", "Citra", "Sari", "Lina", "Yanti", "Eka", "Endang", "Tuti", "Wati",
    "Yulia", "Melati", "Nadia", "Dinda", "Salsabila", "Aulia", "Rahma", "Lia", "Desi", "Evi",
    "Hana", "Ika", "Julia", "Kiki", "Mira", "Nia", "Puspa", "Rani", "Santi", "Tari", "Vina",
    "Widya", "Yeni", "Zahra", "Larasati", "Ningsih", "Annisa", "Bunga",
)
_MALE_FAMILY = (
    "Setiawan", "Kurniawan", "Hidayat", "Nugroho", "Wibowo", "Prasetyo", "Saputra", "Santoso",
    "Susanto", "Gunawan", "Wijaya", "Purnomo", "Hermawan", "Firmansyah", "Ramadhan", "Maulana",
    "Permana", "Pratama", "Syahputra", "Rahman", "Hakim", "Effendi", "Halim", "Sutanto",
    "Siregar", "Nasution", "Lubis", "Harahap", "Simanjuntak", "Sitompul", "Hutapea", "Manurung",
    "Sinaga", "Tarigan", "Ginting", "Sembiring", "Pasaribu", "Situmorang", "Panjaitan",
    "Tambunan", "Sulaeman", "Supriatna", "Kusnadi", "Suherman", "Hartono", "Kusuma", "Salim",
    "Sugianto", "Tanuwijaya", "Latuconsina",
)
_FEMALE_FAMILY = (
    "Saputri", "Lestari", "Rahmawati", "Wulandari", "Handayani", "Puspitasari", "Anggraini",
    "Permatasari", "Kusumawati", "Fitriani", "Safitri", "Utami", "Susanti", "Yuliani",
    "Novitasari", "Maharani", "Oktaviani", "Purwanti", "Siregar", "Nasution", "Lubis",
    "Harahap", "Simanjuntak", "Ginting", "Tarigan", "Sinaga", "Halim", "Wijaya", "Kusuma",
    "Salim", "Hartono", "Rahayu", "Pertiwi", "Damayanti", "Kurniasih",
)
_STREETS = (
    "Mawar", "Melati", "Kenanga", "Anggrek", "Flamboyan", "Cempaka", "Dahlia", "Kemuning",
    "Nusa Indah", "Masjid", "Swadaya", "Bhakti", "Karya", "Sawo", "Mangga", "Rambutan", "Damai",
    "Sejahtera", "Persatuan", "Pembangunan", "Musholla", "Pendidikan", "Bambu", "Kelapa",
    "Jambu", "Salak", "Duku", "Cendana", "Jati", "Beringin", "Asem", "Waru", "Pinang", "Karet",
    "Belimbing", "Nangka", "Merdeka", "Gotong Royong", "Kampung Baru", "Haji Naim",
)
_MOTORCYCLES = (
    ("Honda", "Beat", 0.22), ("Honda", "Vario", 0.18), ("Honda", "Scoopy", 0.08),
    ("Yamaha", "NMAX", 0.10), ("Yamaha", "Mio", 0.08), ("Yamaha", "Aerox", 0.06),
    ("Honda", "PCX", 0.06), ("Honda", "Supra X", 0.05), ("Yamaha", "Jupiter Z", 0.04),
    ("Suzuki", "Satria F150", 0.04), ("Kawasaki", "Ninja 250", 0.03),
    ("Yamaha", "Vixion", 0.03), ("Honda", "CBR150R", 0.03),
)
_CARS = (
    ("Toyota", "Avanza", 0.18), ("Daihatsu", "Xenia", 0.08), ("Toyota", "Kijang Innova", 0.10),
    ("Honda", "Brio", 0.10), ("Toyota", "Calya", 0.07), ("Daihatsu", "Sigra", 0.07),
    ("Mitsubishi", "Xpander", 0.10), ("Honda", "HR-V", 0.05), ("Suzuki", "Ertiga", 0.07),
    ("Toyota", "Fortuner", 0.05), ("Honda", "Jazz", 0.05), ("Toyota", "Agya", 0.08),
)
_COLOURS = (
    ("Hitam", 0.30), ("Putih", 0.25), ("Silver", 0.15), ("Abu-abu", 0.10), ("Merah", 0.10),
    ("Biru", 0.06), ("Hijau", 0.02), ("Coklat", 0.02),
)
# fmt: on
_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # I, O and Q are avoided: they read as 1 and 0


@dataclass(frozen=True, slots=True)
class Persons:
    """The drawn persons, one array element each, and who of them offend."""

    kec: I64
    female: B8
    birth_day: I64  # days since 1970-01-01
    nik: list[str]
    name: list[str]
    address: list[str]
    by_kec: I64  # person indices sorted by kecamatan, for drawing locals
    kec_start: I64  # per global kecamatan, its first position in by_kec
    kec_count: I64
    offenders: I64  # the people who turn up as suspects
    offender_p: F64  # how likely each of them is to be the next suspect


def draw_persons(rng: Generator, p: Params) -> Persons:
    """Persons by kecamatan population, with a NIK, a name, an address and an age."""
    n = p.persons
    share = normalised(POPULATION[p.kecamatan])
    per_kec = 1 + rng.multinomial(n - len(p.kecamatan), share)
    kec = rng.permutation(np.repeat(p.kecamatan, per_kec))
    female = rng.random(n) < 0.5
    age_years = np.minimum(10 + rng.gamma(2.4, 12.5, n), 95.0)
    snapshot_day = p.end.toordinal() - date(1970, 1, 1).toordinal()
    birth_day = snapshot_day - (age_years * 365.25).astype(np.int64)

    dates = birth_day.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    # NIK: 31 (DKI) + kota + kecamatan + DDMMYY with 40 added to DD for women + a serial
    # counting people of the same kecamatan and birth date code (Permendagri).
    dob = np.where(female, days + 40, days) * 10_000 + months * 100 + years % 100
    group = kec * 1_000_000 + dob
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    serial = np.empty(n, dtype=np.int64)
    serial[order] = rank + 1
    if serial.max() > 9999:
        raise ValueError("too many persons per kecamatan and birth date for a 4-digit serial")
    region = [f"31{KOTA[KOTA_INDEX[k]].code}{KECAMATAN[k].code}" for k in range(len(KECAMATAN))]
    nik = [
        f"{region[k]}{d:06d}{s:04d}"
        for k, d, s in zip(kec.tolist(), dob.tolist(), serial.tolist(), strict=True)
    ]

    name = _names(rng, female)
    street = rng.integers(0, len(_STREETS), n)
    gang = rng.random(n) < 0.3
    number = rng.integers(1, 160, n)
    rt = rng.integers(1, 16, n)
    rw = rng.integers(1, 13, n)
    kel = KEL_OFFSET[kec] + (rng.random(n) * KEL_COUNT[kec]).astype(np.int64)
    address = [
        f"{'Gg.' if g else 'Jl.'} {_STREETS[s]} No. {no}, RT {a:03d}/RW {b:03d}, "
        f"Kel. {KELURAHAN[k]}"
        for g, s, no, a, b, k in zip(
            gang.tolist(),
            street.tolist(),
            number.tolist(),
            rt.tolist(),
            rw.tolist(),
            kel.tolist(),
            strict=True,
        )
    ]

    by_kec = np.argsort(kec, kind="stable")
    kec_count = np.bincount(kec, minlength=len(KECAMATAN))
    kec_start = np.concatenate(([0], np.cumsum(kec_count)[:-1]))

    # Offenders: a fifth of the people, mostly young men (drawn by Gumbel top-k on these
    # weights), each with a lognormal propensity, so most suspects appear once or twice and
    # a few recidivists dozens of times, as in real records.
    weight = np.where(female, 1.0, 4.0) * np.where(
        (age_years >= 15) & (age_years <= 40), 3.0, np.where(age_years > 60, 0.3, 1.0)
    )
    pool_size = max(20, n // 5)
    keys = np.log(weight) + rng.gumbel(size=n)
    offenders = np.sort(np.argpartition(-keys, pool_size - 1)[:pool_size])
    offender_p = normalised(rng.lognormal(0.0, 0.8, pool_size))
    return Persons(
        kec=kec,
        female=female,
        birth_day=birth_day,
        nik=nik,
        name=name,
        address=address,
        by_kec=by_kec,
        kec_start=kec_start,
        kec_count=kec_count,
        offenders=offenders,
        offender_p=offender_p,
    )


def _names(rng: Generator, female: B8) -> list[str]:
    n = len(female)
    given_m = rng.integers(0, len(_MALE_GIVEN), n)
    given_f = rng.integers(0, len(_FEMALE_GIVEN), n)
    second = rng.integers(1, 60, n)  # offset, so a second given name never repeats the first
    has_second = rng.random(n) < 0.25
    family_m = rng.integers(0, len(_MALE_FAMILY), n)
    family_f = rng.integers(0, len(_FEMALE_FAMILY), n)
    has_family = rng.random(n) < 0.7  # many Javanese have no family name
    names = []
    for f, gm, gf, s, hs, fm, ff, hf in zip(
        female.tolist(),
        given_m.tolist(),
        given_f.tolist(),
        second.tolist(),
        has_second.tolist(),
        family_m.tolist(),
        family_f.tolist(),
        has_family.tolist(),
        strict=True,
    ):
        given, family, g = (
            (_FEMALE_GIVEN, _FEMALE_FAMILY, gf) if f else (_MALE_GIVEN, _MALE_FAMILY, gm)
        )
        parts = [given[g]]
        if hs:
            parts.append(given[(g + s) % len(given)])
        if hf:
            parts.append(family[ff if f else fm])
        names.append(" ".join(parts))
    return names


def _locals(rng: Generator, people: Persons, kec: I64) -> I64:
    """People for incidents in these kecamatan: three in four live there, the rest anywhere."""
    n = len(kec)
    u = rng.random(n)
    local = rng.random(n) < 0.75
    here = people.by_kec[people.kec_start[kec] + (u * people.kec_count[kec]).astype(np.int64)]
    anywhere = (u * len(people.kec)).astype(np.int64)
    return np.where(local, here, anywhere)


@dataclass(frozen=True, slots=True)
class Involvements:
    """Who was involved in which incident, in what role, sorted by incident and person."""

    incident: I64
    person: I64
    role: I64
    victim_of: I64  # per incident, the victim's person index or -1


def draw_involvements(rng: Generator, inc: Incidents, people: Persons) -> Involvements:
    """A reporter for every incident; victims, suspects and witnesses by its profile."""
    n = len(inc.category)
    c = inc.category
    reporter = _locals(rng, people, inc.kec)
    has_victim = rng.random(n) < per_category("victim")[c]
    self_report = rng.random(n) < 0.7
    other = _locals(rng, people, inc.kec)
    victim = np.where(has_victim, np.where(self_report, reporter, other), -1)

    solved = inc.status == INCIDENT_STATUSES.index("solved")
    has_suspect = solved | (rng.random(n) < per_category("suspect")[c])
    extra = np.minimum(rng.poisson(per_category("accomplices")[c]), 5)
    n_suspects = has_suspect * (1 + extra)
    has_witness = rng.random(n) < per_category("witness")[c]
    n_witnesses = has_witness * (1 + np.minimum(rng.poisson(0.4, n), 3))

    s_inc = np.repeat(np.arange(n), n_suspects)
    s_person = people.offenders[
        rng.choice(len(people.offenders), size=len(s_inc), p=people.offender_p)
    ]
    w_inc = np.repeat(np.arange(n), n_witnesses)
    w_person = _locals(rng, people, inc.kec[w_inc])

    m = len(people.kec)
    v_inc = np.flatnonzero(has_victim)
    # A suspect is never also the victim or reporter of the same incident, and a witness
    # holds no other role in it.
    victim_side = np.concatenate((np.arange(n) * m + reporter, v_inc * m + victim[v_inc]))
    keep_s = ~np.isin(s_inc * m + s_person, victim_side)
    s_inc, s_person = s_inc[keep_s], s_person[keep_s]
    keep_w = ~np.isin(w_inc * m + w_person, np.concatenate((victim_side, s_inc * m + s_person)))
    w_inc, w_person = w_inc[keep_w], w_person[keep_w]

    roles = {r: i for i, r in enumerate(ROLES)}
    incident = np.concatenate((np.arange(n), v_inc, s_inc, w_inc))
    person = np.concatenate((reporter, victim[v_inc], s_person, w_person))
    role = np.concatenate(
        (
            np.full(n, roles["reporter"]),
            np.full(len(v_inc), roles["victim"]),
            np.full(len(s_inc), roles["suspect"]),
            np.full(len(w_inc), roles["witness"]),
        )
    )
    key = np.unique((incident * m + person) * len(ROLES) + role)  # sorts and drops repeats
    return Involvements(
        incident=key // len(ROLES) // m,
        person=key // len(ROLES) % m,
        role=key % len(ROLES),
        victim_of=victim,
    )


@dataclass(frozen=True, slots=True)
class Vehicles:
    """The registered vehicles, the stolen ones among them."""

    plate: list[str]
    owner: I64
    make: list[str]
    model: list[str]
    colour: list[str]
    stolen: B8
    stolen_reported: I64  # UTC seconds, or -1


def draw_vehicles(rng: Generator, inc: Incidents, people: Persons, victim_of: I64) -> Vehicles:
    """Registrations for three in ten persons; the stolen ones belong to theft victims."""
    n = max(10, round(len(people.kec) * 0.3))  # the registrations this database holds
    candidates = np.flatnonzero((inc.category == MVT) & (victim_of >= 0))
    n_stolen = min(len(candidates), round(n * 0.04))
    stolen_inc = np.sort(rng.choice(candidates, size=n_stolen, replace=False))
    owner = np.concatenate((victim_of[stolen_inc], rng.integers(0, len(people.kec), n - n_stolen)))
    stolen = np.arange(n) < n_stolen
    reported = np.concatenate((inc.reported[stolen_inc], np.full(n - n_stolen, -1)))
    order = rng.permutation(n)
    owner, stolen, reported = owner[order], stolen[order], reported[order]

    # Motorcycles dominate Jakarta's fleet, and its thefts even more.
    motorcycle = rng.random(n) < np.where(stolen, 0.88, 0.75)
    moto = rng.choice(len(_MOTORCYCLES), size=n, p=normalised([w for *_, w in _MOTORCYCLES]))
    car = rng.choice(len(_CARS), size=n, p=normalised([w for *_, w in _CARS]))
    colour = rng.choice(len(_COLOURS), size=n, p=normalised([w for _, w in _COLOURS]))
    make = [
        _MOTORCYCLES[m][0] if is_m else _CARS[c][0]
        for is_m, m, c in zip(motorcycle.tolist(), moto.tolist(), car.tolist(), strict=True)
    ]
    model = [
        _MOTORCYCLES[m][1] if is_m else _CARS[c][1]
        for is_m, m, c in zip(motorcycle.tolist(), moto.tolist(), car.tolist(), strict=True)
    ]
    return Vehicles(
        plate=_plates(rng, KOTA_INDEX[people.kec[owner]]),
        owner=owner,
        make=make,
        model=model,
        colour=[_COLOURS[i][0] for i in colour.tolist()],
        stolen=stolen,
        stolen_reported=reported,
    )


def _plates(rng: Generator, kota: I64) -> list[str]:
    """Unique "B 1234 SXY" plates; the first suffix letter is the owner's kota (P, U, B, S, T)."""
    n = len(kota)
    letters = len(_PLATE_LETTERS)
    base = letters + 1  # the last "letter" code means none: two-letter suffixes
    kota_letter = np.array([_PLATE_LETTERS.index(k.plate_letter) for k in KOTA])[kota]

    def draw(m: int) -> tuple[I64, I64, I64]:
        number = np.where(
            rng.random(m) < 0.85, rng.integers(1000, 10_000, m), rng.integers(1, 1000, m)
        )
        third = np.where(rng.random(m) < 0.7, rng.integers(0, letters, m), letters)
        return number, rng.integers(0, letters, m), third

    number, second, third = draw(n)
    while True:
        key = ((number * base + kota_letter) * base + second) * base + third
        _, first = np.unique(key, return_index=True)
        taken = np.ones(n, dtype=np.bool_)
        taken[first] = False
        again = np.flatnonzero(taken)  # every later copy of a plate already given out
        if not len(again):
            break
        number[again], second[again], third[again] = draw(len(again))
    return [
        f"B {num} {_PLATE_LETTERS[a]}{_PLATE_LETTERS[b]}{_PLATE_LETTERS[c] if c < letters else ''}"
        for num, a, b, c in zip(
            number.tolist(), kota_letter.tolist(), second.tolist(), third.tolist(), strict=True
        )
    ]
