"""Data: the requests each purpose allows, as named input documents (the corpus's bases)."""

from __future__ import annotations

from tools.policy_corpus.documents import (
    CASE,
    DAY,
    MIDNIGHT,
    NOW,
    Doc,
    _between,
    _count,
    _doc,
    _f,
    _g,
    _month,
    _t,
)


def purpose_bases() -> dict[str, Doc]:
    """Named input documents each purpose allows."""
    recent = _t("occurred_at", "ge", NOW - 2 * DAY)
    year = _between(_month(2024, 11), _month(2025, 11))
    return {
        "traffic/hourly": _doc(
            "dishub/atcs",
            {
                "fields": ["kecamatan", "occurred_at"],
                "filters": [
                    _f("kota", "eq", "Jakarta Selatan"),
                    *_between(_month(2025, 11), MIDNIGHT),
                ],
                "aggregation": _count(_g("kecamatan"), _g("occurred_at", "hour_of_day")),
                "purpose": "traffic_planning",
            },
        ),
        "traffic/weekday-by-category": _doc(
            "dishub/atcs",
            {
                "fields": ["category", "occurred_at"],
                "filters": _between(_month(2025, 8), _month(2025, 11)),
                "aggregation": _count(_g("category"), _g("occurred_at", "day_of_week")),
                "purpose": "traffic_planning",
                "limit": 500,
            },
        ),
        "traffic/areas": _doc(
            "dishub/atcs",
            {
                "dataset": "areas",
                "fields": ["kecamatan", "population"],
                "purpose": "traffic_planning",
            },
        ),
        "spatial/heatmap": _doc(
            "citata/spatial",
            {
                "fields": ["location", "occurred_at"],
                "filters": _between(_month(2025, 5), _month(2025, 11)),
                "aggregation": _count(_g("location", "h3", 8), _g("occurred_at", "month")),
                "purpose": "spatial_planning",
                "operation": "heatmap",
            },
        ),
        "spatial/coarse-by-category": _doc(
            "citata/spatial",
            {
                "fields": ["category", "location"],
                "filters": [
                    _f("category", "in", "theft", "robbery"),
                    *_between(_month(2025, 10), _month(2025, 11)),
                ],
                "aggregation": _count(_g("location", "h3", 5), _g("category")),
                "purpose": "spatial_planning",
            },
        ),
        "disaster/nearby": _doc(
            "bpbd/pusdalops",
            {
                "fields": ["category", "location"],
                "filters": _between(NOW - 2 * DAY, NOW),
                "aggregation": _count(_g("category"), _g("location", "h3", 9)),
                "purpose": "disaster_response",
            },
        ),
        "disaster/by-kelurahan": _doc(
            "bpbd/pusdalops",
            {
                "fields": ["kelurahan", "status"],
                "filters": _between(NOW - 7 * DAY, NOW),
                "aggregation": _count(_g("kelurahan"), _g("status")),
                "purpose": "disaster_response",
            },
        ),
        "public-order/city": _doc(
            "jsc/command-centre",
            {
                "fields": ["category", "kecamatan", "occurred_at"],
                "filters": _between(MIDNIGHT - 59 * DAY, MIDNIGHT),
                "aggregation": _count(_g("kecamatan"), _g("occurred_at", "day"), _g("category")),
                "purpose": "public_order_early_warning",
                "operation": "early_warning",
            },
        ),
        "public-order/jaksel": _doc(
            "pemkot-jaksel/command-centre",
            {
                "fields": ["kecamatan", "occurred_at"],
                "filters": [
                    _f("kecamatan", "in", "Tebet", "Setiabudi"),
                    *_between(MIDNIGHT - 120 * DAY, MIDNIGHT),
                ],
                "aggregation": _count(_g("kecamatan"), _g("occurred_at", "week")),
                "purpose": "public_order_early_warning",
            },
        ),
        "stolen-vehicle/plate": _doc(
            "dishub/parking",
            {
                "dataset": "vehicles",
                "filters": [_f("plate", "eq", "B 1234 XYZ")],
                "aggregation": {"group_by": [], "measure": "exists"},
                "purpose": "stolen_vehicle_check",
            },
        ),
        "investigation/person": _doc(
            "polda-metro-jaya/reskrim",
            {
                "dataset": "persons",
                "fields": ["person_id", "nik", "name", "address"],
                "filters": [_f("nik", "eq", "3174011234560001")],
                "purpose": "criminal_investigation",
                "case_reference": CASE,
                "limit": 10,
            },
        ),
        "investigation/incidents": _doc(
            "polda-metro-jaya/reskrim",
            {
                "fields": ["incident_id", "occurred_at", "kecamatan", "modus_operandi"],
                "filters": [_f("category", "eq", "motor_vehicle_theft"), recent],
                "purpose": "criminal_investigation",
                "case_reference": CASE,
                "limit": 1000,
            },
        ),
        "investigation/vehicles": _doc(
            "polda-metro-jaya/reskrim",
            {
                "dataset": "vehicles",
                "fields": ["plate", "owner_person_id", "stolen"],
                "filters": [_f("stolen", "eq", True)],
                "purpose": "criminal_investigation",
                "case_reference": CASE,
            },
        ),
        "investigation/counts": _doc(
            "polda-metro-jaya/reskrim",
            {
                "dataset": "incident_persons",
                "fields": ["role"],
                "aggregation": _count(_g("role")),
                "purpose": "criminal_investigation",
                "case_reference": CASE,
            },
        ),
        "oversight/monthly": _doc(
            "dprd/komisi-a",
            {
                "fields": ["category", "kota", "occurred_at", "status"],
                "filters": year,
                "aggregation": _count(
                    _g("kota"), _g("occurred_at", "month"), _g("category"), _g("status")
                ),
                "purpose": "oversight_statistics",
            },
        ),
        "oversight/cases": _doc(
            "kompolnas/oversight",
            {
                "dataset": "cases",
                "fields": ["status", "unit"],
                "filters": _between(_month(2024, 11), _month(2025, 11), "opened_at"),
                "aggregation": _count(_g("status"), _g("unit")),
                "purpose": "oversight_statistics",
            },
        ),
        "oversight/areas": _doc(
            "kompolnas/oversight",
            {
                "dataset": "areas",
                "fields": ["kota", "population"],
                "purpose": "oversight_statistics",
            },
        ),
        "patrol/risk-cells": _doc(
            "polda-metro-jaya/samapta",
            {
                "filters": _between(MIDNIGHT - 364 * DAY, MIDNIGHT),
                "aggregation": _count(_g("location", "h3", 8), _g("occurred_at", "week")),
                "purpose": "patrol_planning",
                "operation": "risk_scores",
            },
        ),
        "patrol/patterns": _doc(
            "polda-metro-jaya/samapta",
            {
                "filters": [
                    *_between(MIDNIGHT - 90 * DAY, MIDNIGHT),
                    _f("kota", "in", "Jakarta Timur"),
                ],
                "aggregation": _count(
                    _g("kecamatan"),
                    _g("occurred_at", "day_of_week"),
                    _g("occurred_at", "hour_of_day"),
                ),
                "purpose": "patrol_planning",
                "operation": "patterns",
            },
        ),
        "indicators/index": _doc(
            "dprd/komisi-a",
            {
                "filters": year,
                "aggregation": _count(_g("kecamatan"), _g("status"), _g("occurred_at", "month")),
                "purpose": "security_indicators",
                "operation": "security_index",
            },
        ),
    }
