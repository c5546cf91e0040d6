"""tools/consoles.py: what the consoles may offer, and the check that keeps the build current."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tools import consoles
from tools.city import DEFAULT_END


def test_registry_offers_only_what_the_purposes_allow() -> None:
    purposes = json.loads(consoles.PURPOSES.read_text())
    doc = consoles.registry()
    spatial = doc["purposes"]["spatial_planning"]
    finest = purposes["spatial_planning"]["generalisation"]["h3_max_resolution"]
    assert spatial["resolutions"]
    assert max(spatial["resolutions"]) == finest
    for name in ("spatial_planning", "security_indicators"):
        assert doc["purposes"][name]["legal_basis"] == purposes[name]["legal_basis"]
        assert purposes[name]["generalisation"]["time"] == "month"  # the month selector's grid
    assert doc["months"] == consoles.months_before(DEFAULT_END, 12)
    assert doc["months"][0] == "2025-11"
    assert doc["months"][-1] == "2026-10"
    assert len(doc["kota"]) == 5


def test_months_before_crosses_the_year() -> None:
    import datetime as dt

    assert consoles.months_before(dt.date(2026, 2, 1), 3) == ["2025-11", "2025-12", "2026-01"]


def test_committed_generated_inputs_are_current() -> None:
    for path, text in consoles.generated().items():
        assert path.read_text() == text, f"{path} is stale: run `make consoles`"


def test_differences_name_every_changed_missing_and_extra_file(tmp_path: Path) -> None:
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    for root in (committed, fresh):
        (root / "assets").mkdir(parents=True)
        (root / "index.html").write_text("<html>")
    (committed / "assets" / "a.js").write_text("old")
    (fresh / "assets" / "a.js").write_text("new")
    (committed / "assets" / "gone.js").write_text("x")
    (fresh / "assets" / "new.js").write_text("x")
    assert consoles.differences(committed, fresh) == [
        "only in the committed build: assets/gone.js",
        "missing from the committed build: assets/new.js",
        "differs: assets/a.js",
    ]
    assert consoles.differences(committed, committed) == []


def test_budget_refuses_a_bundle_over_it(tmp_path: Path) -> None:
    (tmp_path / "small.js").write_text("x")
    assert consoles.check_budget(tmp_path) == []
    (tmp_path / "big.js").write_bytes(os.urandom(consoles.BUDGET_GZIP_BYTES + 1))
    problems = consoles.check_budget(tmp_path)
    assert any("gzip, over" in p for p in problems)


def test_the_committed_build_is_within_budget() -> None:
    assert consoles.check_budget(consoles.DIST) == []
    assert (consoles.DIST / "index.html").exists()
