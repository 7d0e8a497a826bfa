"""The tables estimate every metric once for all views stacked: each view must get what estimating it alone gives."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fairaudit.metrics import METRICS, applicable_metrics
from fairaudit.stats import JOIN, GroupStats, sum_groups
from fairaudit.tables import build_tables, views
from fairaudit.uncertainty import Replicates, bootstrap_cells, estimate, percentile_interval, replicate_variance


def finest_stats(weighted: bool) -> GroupStats:
    rng = np.random.default_rng(7)
    n = 6000
    codes = [rng.integers(0, k, n) for k in (3, 2, 4)]
    labels = (("a", "b", "c"), ("f", "m"), ("1", "2", "3", "4"))
    group = (codes[0] * 2 + codes[1]) * 4 + codes[2]
    y = (rng.random(n) < 0.2 + 0.1 * codes[0]).astype(np.int8)
    score = np.clip(rng.beta(2, 4, n) + 0.2 * y, 0, 1)
    groups = tuple((labels[0][a], labels[1][b], labels[2][c]) for a in range(3) for b in range(2) for c in range(4))
    weight = rng.uniform(0.5, 2, n) if weighted else None
    return GroupStats.from_codes(("x", "s", "r"), groups, group, y, (score >= 0.45).astype(np.int8), score, weight)


@pytest.mark.parametrize("weighted", [False, True])
def test_each_view_gets_the_estimates_of_its_own_statistics(weighted):
    """Values and intervals of every metric of every view equal ``estimate`` on that view's summed statistics,
    and the bootstrapped calibration error equals its estimate from the finest replicates summed by hand."""
    stats = finest_stats(weighted)
    tables = build_tables(stats, intersections=True, confidence=0.9, n_boot=200, rng=np.random.default_rng(3))
    replicates = bootstrap_cells(stats, 200, np.random.default_rng(3), ("score_bins",))
    for attrs in views(stats.attributes, True):
        view = stats.collapse(attrs)
        _, member = stats.membership(attrs)
        summed = Replicates(None, *(sum_groups(a, member, view.n_groups, axis=0)
                                    for a in (replicates.by_bin, replicates.score_by_bin)))
        rows = tables.by_group.loc[JOIN.join(attrs)].loc[[JOIN.join(k) for k in view.groups]]
        for metric in applicable_metrics(True, True):
            found = estimate(metric, view, summed.cells(True), 0.9)
            for column, expected in ((metric.name, found.value), (f"{metric.name}_ci_low", found.low),
                                     (f"{metric.name}_ci_high", found.high)):
                np.testing.assert_allclose(rows[column].to_numpy(), expected, rtol=1e-12, atol=1e-15,
                                           err_msg=f"{attrs} {column}")
    overall = estimate(METRICS["roc_auc"], stats.collapse(()), None, 0.9)
    assert tables.overall.loc["roc_auc", "value"] == pytest.approx(overall.value[0], rel=1e-12)


def test_bootstrap_summaries_raise_no_warning_and_set_no_filter():
    """They run in a worker thread, where a warning filter set and restored would race with the caller's: NaN,
    all-NaN and infinite replicates give the hand-computed values without any warning or filter change."""
    replicates = np.array([[1.0, np.nan, np.nan, 2.0, 4.0], [3.0, np.nan, 1.0, 2.0, np.inf],
                           [5.0, np.nan, np.nan, 6.0, 5.0]])
    before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inner = list(warnings.filters)
        low, high = percentile_interval(replicates, 0.9)
        variance = replicate_variance(replicates)
        assert warnings.filters == inner
    assert warnings.filters == before
    np.testing.assert_allclose(low[[0, 2, 3]], [1.2, 1.0, 2.0])
    np.testing.assert_allclose(high[[0, 2, 3]], [4.8, 1.0, 5.6])
    np.testing.assert_allclose(variance[[0, 3]], [np.var([1, 3, 5], ddof=1), np.var([2, 2, 6], ddof=1)])
    assert np.isnan(low[1]) and np.isnan(high[1]) and np.isnan(variance[1]) and np.isnan(variance[2])
    assert np.isnan(percentile_interval(np.zeros((0, 2)), 0.9)[0]).all()
