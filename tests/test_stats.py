"""GroupStats invariants: merging statistics equals statistics of the union; row order is irrelevant."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairaudit.stats import GroupStats

EDGES = np.append(np.linspace(0, 1, 33)[:-1], np.inf)
ATTRS = ("a", "b")


@st.composite
def row_sets(draw, min_rows=1):
    n = draw(st.integers(min_rows, 60))
    ints = st.lists(st.integers(0, 2), min_size=n, max_size=n)
    bits = st.lists(st.integers(0, 1), min_size=n, max_size=n)
    a, b = np.array(draw(ints)), np.array(draw(ints))
    y_true, y_pred = np.array(draw(bits), dtype=np.int8), np.array(draw(bits), dtype=np.int8)
    score = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    weight = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), dtype=float)
    return a, b, y_true, y_pred, score, weight


def stats_of(rows, weighted=True) -> GroupStats:
    a, b, y_true, y_pred, score, weight = rows
    keys = sorted(set(zip(a.tolist(), b.tolist(), strict=True)))
    index = {k: i for i, k in enumerate(keys)}
    codes = np.array([index[k] for k in zip(a.tolist(), b.tolist(), strict=True)])
    groups = tuple((str(x), str(y)) for x, y in keys)
    return GroupStats.from_codes(ATTRS, groups, codes, y_true, y_pred, score,
                                 weight if weighted else None, score_edges=EDGES)


def concat(r1, r2):
    return tuple(np.concatenate([x, y]) for x, y in zip(r1, r2, strict=True))


@settings(max_examples=150, deadline=None)
@given(row_sets(), row_sets(), st.booleans())
def test_merge_equals_union(r1, r2, weighted):
    merged = stats_of(r1, weighted) + stats_of(r2, weighted)
    assert merged.equals(stats_of(concat(r1, r2), weighted))


@settings(max_examples=100, deadline=None)
@given(row_sets(), st.randoms(use_true_random=False))
def test_row_order_changes_nothing(rows, random):
    order = np.array(random.sample(range(len(rows[0])), len(rows[0])))
    shuffled = tuple(x[order] for x in rows)
    assert stats_of(rows).equals(stats_of(shuffled))


@settings(max_examples=50, deadline=None)
@given(row_sets())
def test_collapse_equals_direct_computation(rows):
    a, b, y_true, y_pred, score, weight = rows
    values = sorted(set(a.tolist()))
    codes = np.searchsorted(values, a)
    direct = GroupStats.from_codes(("a",), tuple((str(v),) for v in values), codes, y_true, y_pred, score,
                                   weight, score_edges=EDGES)
    assert stats_of(rows).collapse(("a",)).equals(direct)
    total = stats_of(rows).collapse(())
    assert total.count.sum() == len(a)
    assert total.weight.sum() == pytest.approx(weight.sum())


def test_merge_refuses_different_bins():
    rows = (np.zeros(3, int), np.zeros(3, int), np.array([0, 1, 1], np.int8), np.array([0, 1, 0], np.int8),
            np.array([0.1, 0.5, 0.9]), np.ones(3))
    first = stats_of(rows)
    a, b, y, p, s, w = rows
    other = GroupStats.from_codes(ATTRS, (("0", "0"),), np.zeros(3, int), y, p, s, w)
    with pytest.raises(ValueError, match="score_edges"):
        first + other


def test_hand_counted_cells():
    # two groups; group 0: TP, FP, TN; group 1: FN, TN (weights 2 on the FN)
    codes = np.array([0, 0, 0, 1, 1])
    y_true = np.array([1, 0, 0, 1, 0], np.int8)
    y_pred = np.array([1, 1, 0, 0, 0], np.int8)
    weight = np.array([1.0, 1.0, 1.0, 2.0, 1.0])
    stats = GroupStats.from_codes(("g",), (("x",), ("y",)), codes, y_true, y_pred, None, weight)
    cells = stats.weight[..., 0]  # (group, y, p)
    assert cells[0].tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert cells[1].tolist() == [[1.0, 0.0], [2.0, 0.0]]
    assert stats.count[1].sum() == 2 and stats.group_weight.tolist() == [3.0, 3.0]


def test_default_score_edges_are_quantiles_of_every_row_in_any_order():
    """Above any sample size: the edges are numpy's quantiles of all rows, snapped to the grid, whatever the
    order of the rows (an engine computes the same from its grid histogram)."""
    from fairaudit.stats import MAX_SCORE_BINS, SCORE_GRID, default_score_edges

    rng = np.random.default_rng(5)
    scores = rng.beta(2, 5, 400_000)
    quantiles = np.quantile(scores, np.linspace(0, 1, MAX_SCORE_BINS + 1)[1:-1])
    expected = np.concatenate([[-np.inf], np.unique(np.floor(quantiles * SCORE_GRID) / SCORE_GRID), [np.inf]])
    np.testing.assert_array_equal(default_score_edges(scores), expected)
    np.testing.assert_array_equal(default_score_edges(rng.permutation(scores)), expected)
    rounded = np.round(scores, 3)
    np.testing.assert_array_equal(default_score_edges(rounded), np.append(np.unique(rounded), np.inf))
