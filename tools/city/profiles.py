"""The incident categories' profiles: share, hours, weekdays, sources, roles, outcomes, modus.

One `Profile` per category of the reference schema (`adapters.schema.INCIDENT_CATEGORIES`);
the incidents, the people involved and the cases are all drawn from these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters.schema import INCIDENT_CATEGORIES
from tools.city.arrays import F64, normalised


@dataclass(frozen=True, slots=True)
class Profile:
    share: float  # of all incidents, before the per-kecamatan variation
    hours: tuple[float, ...]  # 24 relative weights by local (WIB) hour
    weekdays: tuple[float, ...]  # Monday..Sunday
    emergency: float  # share that reaches police by emergency call (110/112)
    police: float  # share found by police themselves (LP model A)
    report_median_h: float  # median delay of a citizen's report, hours
    victim: float  # probability that a victim is recorded
    suspect: float  # probability of a named suspect, even when unsolved
    accomplices: float  # Poisson mean of further suspects
    witness: float  # probability of witnesses
    take_up: float  # probability that police investigate at all; the rest stay "reported"
    solve: float  # eventual solve rate, a part of take_up
    modus: tuple[tuple[str, float], ...]


# fmt: off
PROFILES: dict[str, Profile] = {
    "theft": Profile(
        0.22,
        (2, 1.5, 1, 1, 1, 1.5, 3, 5, 6, 7, 8, 8, 8, 8, 8, 9, 10, 11, 11, 10, 8, 6, 4, 3),
        (1, 1, 1, 1, 1.05, 1.1, 1.05), 0.12, 0.02, 3, 0.97, 0.10, 0.15, 0.30, 0.45, 0.12,
        (("pickpocketing", 0.22), ("snatch_theft", 0.18), ("theft_from_vehicle", 0.12),
         ("shoplifting", 0.10), ("unattended_property", 0.18), ("distraction", 0.08),
         ("employee_theft", 0.12))),
    "motor_vehicle_theft": Profile(
        0.16,
        (4, 4, 5, 4, 3, 2, 2, 3, 5, 6, 7, 7, 7, 7, 6, 6, 6, 7, 8, 9, 9, 8, 7, 5),
        (1.05, 1.05, 1.05, 1.05, 1, 0.95, 0.9), 0.10, 0.02, 2, 0.98, 0.05, 0.3, 0.20, 0.60, 0.08,
        (("broken_ignition_lock", 0.45), ("duplicate_key", 0.15), ("towing", 0.05),
         ("keys_left_in_ignition", 0.20), ("rental_embezzlement", 0.08),
         ("fake_buyer_test_ride", 0.07))),
    "burglary": Profile(
        0.08,
        (8, 10, 12, 12, 9, 5, 3, 3, 4, 5, 6, 6, 5, 5, 5, 4, 3, 3, 3, 3, 3, 4, 5, 6),
        (0.95, 0.95, 0.95, 0.95, 1, 1.15, 1.2), 0.15, 0.01, 10, 0.97, 0.08, 0.3, 0.20, 0.70, 0.15,
        (("forced_door", 0.30), ("forced_window", 0.25), ("roof_entry", 0.12),
         ("unlocked_entry", 0.15), ("duplicate_key", 0.08), ("insider", 0.10))),
    "robbery": Profile(
        0.06,
        (9, 10, 10, 9, 6, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9),
        (0.95, 0.95, 0.95, 1, 1.05, 1.1, 1.05), 0.35, 0.03, 2, 0.99, 0.15, 0.6, 0.40, 0.85, 0.25,
        (("motorcycle_robbery", 0.35), ("snatch_with_violence", 0.20),
         ("armed_street_robbery", 0.20), ("public_transport_robbery", 0.10),
         ("atm_follow", 0.05), ("home_invasion", 0.10))),
    "assault": Profile(
        0.09,
        (7, 7, 6, 4, 2, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 9, 8),
        (0.85, 0.85, 0.85, 0.9, 1.05, 1.3, 1.25), 0.35, 0.05, 6, 0.99, 0.60, 0.5, 0.60, 0.80, 0.45,
        (("fight", 0.35), ("group_beating", 0.20), ("domestic", 0.20),
         ("sharp_weapon", 0.10), ("road_rage", 0.15))),
    "fraud": Profile(
        0.11,
        (1, 0.5, 0.5, 0.5, 0.5, 1, 2, 4, 7, 9, 10, 10, 9, 9, 10, 9, 8, 6, 5, 5, 5, 4, 3, 2),
        (1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.7), 0.03, 0.02, 72, 0.98, 0.35, 0.2, 0.05, 0.50, 0.10,
        (("online_marketplace", 0.25), ("phishing", 0.15), ("investment_scam", 0.10),
         ("hypnosis_gendam", 0.08), ("fake_transfer_proof", 0.12),
         ("online_loan_scam", 0.10), ("impersonation", 0.10), ("job_offer_scam", 0.10))),
    "narcotics": Profile(
        0.08,
        (9, 9, 8, 6, 3, 2, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 7, 8, 9, 9),
        (0.95, 0.95, 0.95, 1, 1.1, 1.15, 0.95), 0.05, 0.60, 12, 0.0, 0.90, 0.4, 0.50, 1.00, 0.85,
        (("possession", 0.40), ("street_dealing", 0.25), ("courier", 0.15),
         ("consumption", 0.12), ("online_ordering", 0.08))),
    "vandalism": Profile(
        0.04,
        (8, 9, 9, 7, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7),
        (0.9, 0.9, 0.9, 0.95, 1.05, 1.25, 1.1), 0.10, 0.05, 12, 0.60, 0.15, 0.5, 0.30, 0.35, 0.15,
        (("property_damage", 0.35), ("vehicle_damage", 0.25), ("graffiti", 0.15),
         ("public_facility_damage", 0.20), ("minor_arson", 0.05))),
    "public_disorder": Profile(
        0.05,
        (7, 7, 7, 8, 8, 5, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 5, 3, 3, 4, 5, 6, 7),
        (0.8, 0.8, 0.8, 0.85, 1.05, 1.4, 1.3), 0.35, 0.25, 1, 0.35, 0.40, 1.5, 0.60, 0.60, 0.45,
        (("tawuran", 0.30), ("drunkenness", 0.20), ("illegal_racing", 0.15),
         ("extortion_premanism", 0.15), ("noise", 0.10), ("mob_unrest", 0.10))),
    "traffic_accident": Profile(
        0.11,
        (2, 1.5, 1.5, 1.5, 2, 4, 9, 12, 10, 6, 5, 5, 5, 5, 5, 6, 9, 12, 11, 7, 5, 4, 3, 3),
        (1.1, 1.05, 1.05, 1.05, 1.1, 0.9, 0.75), 0.45, 0.10, 2, 0.90, 0.50, 0.1, 0.60, 0.70, 0.55,
        (("rear_end", 0.25), ("motorcycle_skid", 0.20), ("side_swipe", 0.15),
         ("pedestrian_struck", 0.12), ("hit_and_run", 0.10), ("wrong_way", 0.08),
         ("red_light_violation", 0.10))),
}
# fmt: on


CATEGORIES = INCIDENT_CATEGORIES
MVT = CATEGORIES.index("motor_vehicle_theft")
NARCOTICS = CATEGORIES.index("narcotics")
FRAUD = CATEGORIES.index("fraud")
TRAFFIC = CATEGORIES.index("traffic_accident")


SHARE = normalised([PROFILES[c].share for c in CATEGORIES])
HOURS = np.stack([normalised(PROFILES[c].hours) for c in CATEGORIES])
WEEKDAYS = np.array([PROFILES[c].weekdays for c in CATEGORIES], dtype=np.float64)


def per_category(field: str) -> F64:
    return np.array([getattr(PROFILES[c], field) for c in CATEGORIES], dtype=np.float64)
