"""Heatmaps per H3 cell and the hotspots in them, on constructed counts."""

from __future__ import annotations

from datetime import date

import h3  # type: ignore[import-untyped]
import pytest

from gateway.analytics.heatmap import h3_cell, heatmap, hotspots, sum_releases
from gateway.analytics.privacy import Release
from gateway.analytics.tally import REPORTED, InvalidTally, Tally, in_window, reported

MONAS = (-6.1754, 106.8272)
CENTRE = h3_cell(*MONAS, 8)


def test_h3_cell_is_h3s_own() -> None:
    assert h3_cell(*MONAS, 8) == h3.latlng_to_cell(*MONAS, 8)
    with pytest.raises(ValueError, match="resolution"):
        h3_cell(*MONAS, 16)


def test_police_initiated_counts_never_reach_a_heatmap() -> None:
    counts = [
        Tally(5, frozenset({"citizen_report"}), cell=CENTRE),
        Tally(2, frozenset({"emergency_call"}), cell=CENTRE),
        Tally(90, frozenset({"police_initiated"}), cell=CENTRE),
    ]
    assert heatmap(counts, resolution=8) == {CENTRE: 7}
    mixed = Tally(9, frozenset({"citizen_report", "police_initiated"}), cell=CENTRE)
    with pytest.raises(InvalidTally, match="mixes"):
        heatmap([mixed], resolution=8)


def test_finer_cells_fold_into_their_parents_and_coarser_ones_refuse() -> None:
    fine = h3.cell_to_children(CENTRE, 9)
    counts = [Tally(1, REPORTED, cell=c) for c in fine]
    assert heatmap(counts, resolution=8) == {CENTRE: len(fine)}
    with pytest.raises(InvalidTally, match="coarser"):
        heatmap([Tally(1, REPORTED, cell=CENTRE)], resolution=9)


def test_window_and_categories_filter() -> None:
    counts = [
        Tally(3, REPORTED, cell=CENTRE, when=date(2026, 9, 1), days=30, category="theft"),
        Tally(4, REPORTED, cell=CENTRE, when=date(2026, 10, 1), days=31, category="theft"),
        Tally(6, REPORTED, cell=CENTRE, when=date(2026, 10, 1), days=31, category="fraud"),
    ]
    october = heatmap(counts, resolution=8, start=date(2026, 10, 1), end=date(2026, 11, 1))
    assert october == {CENTRE: 10}
    assert heatmap(counts, resolution=8, categories=["theft"]) == {CENTRE: 7}
    with pytest.raises(InvalidTally, match="straddles"):
        heatmap(counts, resolution=8, start=date(2026, 10, 15))


def test_tallies_validate_themselves() -> None:
    with pytest.raises(InvalidTally, match="non-negative"):
        Tally(-1, REPORTED)
    with pytest.raises(InvalidTally, match="sources"):
        Tally(1, frozenset())
    with pytest.raises(InvalidTally, match="unknown"):
        Tally(1, frozenset({"rumour"}))
    with pytest.raises(InvalidTally, match="hour"):
        Tally(1, REPORTED, hour=24)
    assert list(reported([Tally(1, frozenset({"police_initiated"}))])) == []
    assert in_window(Tally(1, REPORTED), None, None)
    with pytest.raises(InvalidTally, match="no time bucket"):
        in_window(Tally(1, REPORTED), date(2026, 1, 1), None)


def flat(level: int, radius: int = 4) -> dict[str, int]:
    return dict.fromkeys(h3.grid_disk(CENTRE, radius), level)


def test_a_cell_busier_than_all_around_is_the_hotspot() -> None:
    cells = flat(100)
    cells[CENTRE] = 200
    top = hotspots(cells, 3)
    assert [h.cell for h in top] == [CENTRE]  # nothing else is busier than its neighbours
    assert (top[0].count, top[0].baseline) == (200, 100)
    assert top[0].score > 3


def test_a_hotspot_split_over_two_cells_is_found_once() -> None:
    cells = flat(100)
    partner = sorted(h3.grid_ring(CENTRE, 1))[0]
    cells[CENTRE] = 170
    cells[partner] = 160
    top = hotspots(cells, 5)
    assert top[0].cell == CENTRE
    assert partner not in {h.cell for h in top}  # its neighbour was taken: one place per hotspot


def test_the_edge_of_a_dense_area_is_not_a_hotspot() -> None:
    # West of a line through the centre the density is three times the east's; no hotspot.
    cells = {}
    lon0 = MONAS[1]
    for cell in h3.grid_disk(CENTRE, 5):
        cells[cell] = 300 if h3.cell_to_latlng(cell)[1] < lon0 else 100
    assert hotspots(cells, 5) == []
    cells[CENTRE] = 650  # a real one on the dense side still stands out
    assert [h.cell for h in hotspots(cells, 5)] == [CENTRE]


def test_released_months_add_up_with_withheld_cells_imputed() -> None:
    march = Release({"a": 12, "b": 30}, frozenset({"c"}), 1.0, 10)
    april = Release({"a": 11}, frozenset({"b", "c"}), 1.0, 10)
    assert sum_releases([march, april]) == {"a": 23, "b": 34, "c": 8}
