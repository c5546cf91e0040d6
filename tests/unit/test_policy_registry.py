"""The registry checks and the bundle's revision (pure: no engine involved)."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ConfigurationError
from gateway.policy import bundle_revision, load_bundle
from gateway.policy.registry import check_registry

POLICIES = Path(__file__).resolve().parents[2] / "policies"
REGISTRY = load_bundle(POLICIES).data
ATCS = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
RESKRIM = "spiffe://gerbang.jakarta.go.id/polda-metro-jaya/reskrim"
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"


def test_the_projects_registry_is_valid() -> None:
    check_registry(REGISTRY)
    registry = REGISTRY["registry"]
    assert isinstance(registry, dict)
    assert len(registry["purposes"]) == 9
    assert registry["cases"][CASE]["valid_until"] == "2027-06-30T23:59:59Z"


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(dict(REGISTRY))
    change(data["registry"])
    return data


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "operation-unknown": (
        lambda r: r["purposes"]["spatial_planning"].update(operations=["predict_persons"]),
        "purpose 'spatial_planning': operations must be a list of",
    ),
    "span-zero": (
        lambda r: r["purposes"]["spatial_planning"].update(max_span_days=0),
        "purpose 'spatial_planning': max_span_days must be null or a whole number of days >= 1",
    ),
    "record-level-without-user": (
        lambda r: r["purposes"]["criminal_investigation"].pop("requires_user"),
        "purpose 'criminal_investigation': a record-level purpose must set requires_user",
    ),
    "requires-user-not-bool": (
        lambda r: r["purposes"]["traffic_planning"].update(requires_user="yes"),
        "purpose 'traffic_planning': requires_user must be true or false",
    ),
    "section-missing": (lambda r: r.pop("cases"), "registry section 'cases' is missing"),
    "section-unknown": (lambda r: r.update(secrets={"a": 1}), "registry section 'secrets'"),
    "caller-key-not-spiffe": (
        lambda r: r["callers"].update({"dishub-atcs": r["callers"][ATCS]}),
        "caller 'dishub-atcs': must be keyed by its SAN URI",
    ),
    "caller-unknown-kota": (
        lambda r: r["callers"][ATCS]["jurisdiction"].update(kota=["Kota Bekasi"]),
        f"caller '{ATCS}': jurisdiction names unknown kota 'Kota Bekasi'",
    ),
    "caller-kecamatan-elsewhere": (
        lambda r: r["callers"]["spiffe://gerbang.jakarta.go.id/pemkot-jaksel/command-centre"][
            "jurisdiction"
        ].update(kecamatan=["Koja"]),
        "jurisdiction kecamatan 'Koja' is not in its kota",
    ),
    "caller-no-purpose": (lambda r: r["callers"][ATCS].update(purposes=[]), "permits no purpose"),
    "legal-basis-not-matching-detail": (
        lambda r: r["purposes"]["traffic_planning"].update(legal_basis="UU 22/2009"),
        "purpose 'traffic_planning': legal_basis 'UU 22/2009' must read",
    ),
    "legal-basis-without-pdp": (
        lambda r: r["purposes"]["traffic_planning"]["legal_basis_detail"].update(
            pdp_article="Pasal 20"
        ),
        "must cite the UU PDP (UU 27/2022)",
    ),
    "purpose-key-missing": (
        lambda r: r["purposes"]["spatial_planning"].pop("retention_days"),
        "purpose 'spatial_planning': missing retention_days",
    ),
    "purpose-unknown-dataset": (
        lambda r: r["purposes"]["spatial_planning"]["datasets"].update(
            cctv=r["purposes"]["spatial_planning"]["datasets"]["areas"]
        ),
        "purpose 'spatial_planning' dataset 'cctv': no such dataset",
    ),
    "purpose-unknown-field": (
        lambda r: r["purposes"]["spatial_planning"]["datasets"]["areas"]["fields"].append(
            "weather"
        ),
        "purpose 'spatial_planning' dataset 'areas': grants unknown field 'weather'",
    ),
    "epsilon-without-budget": (
        lambda r: r["purposes"]["spatial_planning"].update(privacy_budget=None),
        "purpose 'spatial_planning': privacy_budget: a privacy budget needs an epsilon",
    ),
    "counts-without-noise": (
        lambda r: r["purposes"]["traffic_planning"].update(epsilon=None, privacy_budget=None),
        "an aggregate-only purpose that counts needs an epsilon",
    ),
    "budget-below-one-release": (
        lambda r: r["purposes"]["traffic_planning"]["privacy_budget"].update(per_caller=0.5),
        "epsilon <= per_caller <= per_purpose",
    ),
    "budget-unknown-period": (
        lambda r: r["purposes"]["traffic_planning"]["privacy_budget"].update(period="year"),
        "not a known period",
    ),
    "exists-without-lookup": (
        lambda r: r["purposes"]["stolen_vehicle_check"].update(lookup_field=None),
        "a lookup_field is needed exactly when the 'exists' measure is allowed",
    ),
    "h3-resolution-too-fine": (
        lambda r: r["purposes"]["spatial_planning"]["generalisation"].update(h3_max_resolution=16),
        "h3_max_resolution must be null or 0 to 15",
    ),
    "records-without-case": (
        lambda r: r["purposes"]["criminal_investigation"].update(case_reference_required=False),
        "record-level access to",
    ),
    "field-unknown-type": (
        lambda r: r["datasets"]["areas"]["fields"]["population"].update(type="float"),
        "dataset 'areas' field 'population': missing or unknown type 'float'",
    ),
    "event-time-not-time": (
        lambda r: r["datasets"]["incidents"].update(event_time_field="kota"),
        "event_time_field 'kota' is not one of its time fields",
    ),
    "location-as-field": (
        lambda r: r["datasets"]["areas"]["fields"].update(
            location={"class": "non_personal", "type": "string"}
        ),
        "'location' is reserved",
    ),
    "name-with-quote": (
        lambda r: r["datasets"]["areas"]["fields"].update(
            {'po"p': {"class": "non_personal", "type": "integer"}}
        ),
        "is not a plain name",
    ),
    "kecamatan-in-two-kota": (
        lambda r: r["geography"]["kota"]["Jakarta Utara"]["kecamatan"].append("Tebet"),
        "kecamatan 'Tebet' is also listed under",
    ),
    "case-unregistered-caller": (
        lambda r: r["cases"][CASE].update(
            authorised_callers=["spiffe://gerbang.jakarta.go.id/x/y"]
        ),
        "authorises unregistered caller",
    ),
    "case-caller-without-purpose": (
        lambda r: r["cases"][CASE].update(authorised_callers=[ATCS]),
        f"caller '{ATCS}' is not permitted purpose 'criminal_investigation'",
    ),
    "case-purpose-without-cases": (
        lambda r: r["cases"][CASE].update(purpose="traffic_planning"),
        "is not a registered purpose that takes case references",
    ),
    "case-time-with-offset": (
        lambda r: r["cases"][CASE].update(valid_from="2026-11-02T07:00:00+07:00"),
        "valid_from and valid_until must be UTC times",
    ),
    "case-impossible-date": (
        lambda r: r["cases"][CASE].update(valid_until="2027-02-30T00:00:00Z"),
        "valid_from and valid_until must be UTC times",
    ),
    "case-without-police-cases": (
        lambda r: r["cases"][CASE].pop("police_cases"),
        "police_cases must list the case numbers",
    ),
    "case-with-empty-police-cases": (
        lambda r: r["cases"][CASE].update(police_cases=[]),
        "police_cases must list the case numbers",
    ),
}


@pytest.mark.parametrize(("change", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_registry_is_refused_naming_the_entry(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        check_registry(_broken(change))
    assert message in str(refused.value)


def test_every_problem_is_listed() -> None:
    def two(r: dict[str, Any]) -> None:
        r["callers"][ATCS].pop("jurisdiction")
        r["datasets"]["areas"]["fields"]["kota"].pop("class")

    with pytest.raises(ConfigurationError) as refused:
        check_registry(_broken(two))
    assert "has no jurisdiction" in str(refused.value)
    assert "dataset 'areas' field 'kota'" in str(refused.value)


# --- the revision ---------------------------------------------------------------------


def test_revision_is_sha256_over_paths_and_contents() -> None:
    one = bundle_revision({"a.rego": b"x", "registry/data.json": b"{}"})
    assert len(one) == 64
    assert one == bundle_revision({"registry/data.json": b"{}", "a.rego": b"x"})
    assert one != bundle_revision({"a.rego": b"y", "registry/data.json": b"{}"})
    assert one != bundle_revision({"b.rego": b"x", "registry/data.json": b"{}"})
    # the path and the content cannot be shifted into each other
    assert bundle_revision({"ab": b"c"}) != bundle_revision({"a": b"bc"})


def test_revision_covers_exactly_the_files_opa_loads(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(POLICIES, root)
    before = load_bundle(root).revision
    (root / "README.md").write_text("notes")
    (root / "registry" / "notes.json").write_text("{}")
    assert load_bundle(root).revision == before
    test_file = root / "gerbang" / "authz_test.rego"
    test_file.write_text(test_file.read_text() + "\n# changed\n")
    assert load_bundle(root).revision != before


def test_manifest_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(POLICIES, root)
    (root / ".manifest").write_text('{"roots": ["gerbang"]}')
    with pytest.raises(ConfigurationError, match=r"\.manifest is not supported"):
        load_bundle(root)


def test_bundle_without_rego_is_refused(tmp_path: Path) -> None:
    shutil.copytree(POLICIES / "registry", tmp_path / "registry")
    with pytest.raises(ConfigurationError, match="has no Rego module"):
        load_bundle(tmp_path)
