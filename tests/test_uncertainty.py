"""Intervals and tests against hand-computed values, scipy, and a coverage simulation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

import fairaudit as fa
from fairaudit.metrics import (
    METRICS,
    Bootstrap,
    Metric,
    auc_variance,
    register_metric,
    roc_auc_from_hist,
    unregister_metric,
)
from fairaudit.stats import GroupStats
from fairaudit.uncertainty import bootstrap_cells, bootstrap_margins, chi2_homogeneity, holm, wilson_interval


def test_wilson_matches_hand_computation():
    # 8 successes of 10 at 95%: the textbook Wilson interval is [0.4902, 0.9433]
    low, high = wilson_interval(np.array([0.8]), np.array([10.0]), 0.95)
    assert low[0] == pytest.approx(0.49016, abs=1e-4)
    assert high[0] == pytest.approx(0.94331, abs=1e-4)


def test_wilson_undefined_without_trials():
    low, high = wilson_interval(np.array([np.nan]), np.array([0.0]), 0.95)
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_holm_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    expected = np.array([0.03, 0.06, 0.06, np.nan, 0.02])
    np.testing.assert_allclose(holm(p), expected)


def test_chi2_matches_scipy():
    successes, trials = np.array([30.0, 45.0, 12.0]), np.array([100.0, 110.0, 60.0])
    table = np.column_stack([successes, trials - successes])
    expected = scipy_stats.chi2_contingency(table, correction=False).pvalue
    assert chi2_homogeneity(successes, trials) == pytest.approx(expected)
    assert chi2_homogeneity(np.zeros(2), np.array([5.0, 7.0])) == 1.0


def test_delong_variance_matches_placement_values():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300).astype(np.int8)
    s = np.round(rng.beta(2, 3, 300) + 0.2 * y, 2).clip(0, 1)
    stats = GroupStats.from_codes(("g",), (("all",),), np.zeros(300, int), y, (s > 0.5).astype(np.int8), s, None)
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    expected = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    assert auc_variance(stats)[0] == pytest.approx(expected, rel=1e-9)
    assert psi.mean() == pytest.approx(roc_auc_score(y, s))


def test_delong_parts_of_many_groups_match_placements_for_counts_and_weights():
    # 19 groups (more than one block of the AUC's working rows), some with one label only: each group's AUC and
    # DeLong variance from its placement values, whether the histogram holds integer counts or weights
    rng = np.random.default_rng(11)
    n, groups = 4000, 19
    code = rng.integers(0, groups, n)
    y = rng.integers(0, 2, n).astype(np.int8)
    y[code == 4] = 1
    s = np.round(rng.beta(2, 3, n) + 0.1 * y, 3).clip(0, 1)
    keys = tuple((str(g),) for g in range(groups))
    counted = GroupStats.from_codes(("g",), keys, code, y, (s > 0.5).astype(np.int8), s, None)
    weighted = GroupStats.from_codes(("g",), keys, code, y, (s > 0.5).astype(np.int8), s, np.ones(n))
    assert counted.score_hist.dtype.kind == "i" and weighted.score_hist.dtype.kind == "f"
    for g in range(groups):
        pos, neg = s[(code == g) & (y == 1)], s[(code == g) & (y == 0)]
        if len(neg) == 0:
            assert np.isnan(roc_auc_from_hist(counted.score_hist)[g])
            continue
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        expected = psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg)
        for stats in (counted, weighted):
            assert roc_auc_from_hist(stats.score_hist)[g] == pytest.approx(psi.mean(), rel=1e-12)
            assert auc_variance(stats)[g] == pytest.approx(expected, rel=1e-9)


def test_interval_contains_estimate_and_bootstrap_is_reproducible():
    data = fa.load_dataset("german_credit")
    data["score"] = np.linspace(0.01, 0.99, len(data))
    kwargs = dict(sensitive=["sex", "age_group"], target="good_credit", y_score="score", n_boot=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        first = fa.audit(None, data, random_state=1, **kwargs)
        second = fa.audit(None, data, random_state=1, **kwargs)
        third = fa.audit(None, data, random_state=2, **kwargs)
        off = fa.audit(None, data, n_boot=0, **{k: v for k, v in kwargs.items() if k != "n_boot"})
    pd.testing.assert_frame_equal(first.by_group, second.by_group)
    # only calibration error is bootstrapped: the seed moves its intervals and nothing else
    assert not first.by_group["calibration_error_ci_low"].equals(third.by_group["calibration_error_ci_low"])
    pd.testing.assert_frame_equal(first.measures, third.measures)
    table = first.by_group
    for metric in ("selection_rate", "true_positive_rate", "roc_auc", "mean_score", "calibration_error"):
        assert (table[f"{metric}_ci_low"] <= table[metric] + 1e-12).all(), metric
        assert (table[f"{metric}_ci_high"] >= table[metric] - 1e-12).all(), metric
    assert off.by_group["calibration_error_ci_low"].isna().all()
    assert off.disparities.loc[(slice(None), "calibration_error"), "difference_ci_low"].isna().all()
    assert off.disparities.loc[(slice(None), "selection_rate"), "difference_ci_low"].notna().all()  # no bootstrap


def _selection(cells):
    yp = cells.weight.sum(axis=-1)
    return yp[..., 1].sum(axis=-1) / yp.sum(axis=(-2, -1))


def test_bootstrap_sums_only_the_margins_its_metrics_read():
    """The registry decides which replicate margins are summed; the draw (and the generator's state after it) does
    not depend on them, and each margin is the replicate cells summed by hand."""
    rng = np.random.default_rng(0)
    group, y, pred = rng.integers(0, 3, 500), rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    score = rng.random(500)
    stats = GroupStats.from_codes(("g",), (("a",), ("b",), ("c",)), group, y, pred, score, None)
    on_decisions = Metric("bootstrapped_selection_rate", "x", False, False, None, Bootstrap("decisions"),
                          lambda *a, **k: np.nan, function=_selection)
    assert bootstrap_margins([METRICS["calibration_error"]]) == ("score_bins",)
    assert bootstrap_margins([METRICS["selection_rate"]]) == ()
    assert bootstrap_margins([METRICS["calibration_error"], on_decisions]) == ("decisions", "score_bins")
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    full = bootstrap_cells(stats, 40, first)
    calibration = bootstrap_cells(stats, 40, second, ("score_bins",))
    assert first.random() == second.random()
    assert calibration.confusion is None and np.array_equal(calibration.by_bin, full.by_bin)
    # the same replicate counts through both margins: per group, replicate and label
    np.testing.assert_allclose(full.confusion.sum(axis=-1), full.by_bin.sum(axis=-1))
    assert np.array_equal(full.confusion.sum(axis=(-2, -1)), np.full((3, 40), stats.group_count[:, None]))
    cells = full.cells(True)
    assert cells["decisions"].weight.shape == (3, 40, 2, 2, 1) and cells["score_bins"].weight.shape == (3, 40, 2, 1, 10)


def test_a_registered_bootstrap_metric_on_decisions_gets_its_replicates():
    """A metric bootstrapped on the decisions margin is given intervals from its replicates (percentile: around the
    selection rate, and close to the Wilson interval of the same rate on 200 rows per group)."""
    metric = register_metric(Metric("bootstrapped_selection_rate", "selection rate, bootstrapped", False, False, None,
                                    Bootstrap("decisions"), lambda *a, **k: np.nan, function=_selection))
    try:
        rng = np.random.default_rng(3)
        data = pd.DataFrame({"g": np.repeat(["a", "b"], 200), "y_pred": (rng.random(400) < 0.3).astype(int)})
        result = fa.audit(None, data, sensitive="g", y_pred="y_pred", n_boot=2000, random_state=0)
    finally:
        unregister_metric(metric.name)
    table = result.by_group
    np.testing.assert_array_equal(table[metric.name], table["selection_rate"])
    low, high = table[f"{metric.name}_ci_low"], table[f"{metric.name}_ci_high"]
    assert ((low < table[metric.name]) & (table[metric.name] < high)).all()
    np.testing.assert_allclose(low, table["selection_rate_ci_low"], atol=0.015)
    np.testing.assert_allclose(high, table["selection_rate_ci_high"], atol=0.015)


def coverage(rates, sizes, seed=2024, replications=400):
    """Share of simulated audits whose 95% interval of the selection-rate difference holds the truth."""
    rng = np.random.default_rng(seed)
    truth = max(rates) - min(rates)
    group = np.repeat(np.arange(len(rates)), sizes)
    covered = 0
    for replication in range(replications):
        y_pred = (rng.random(group.size) < np.take(rates, group)).astype(int)
        data = pd.DataFrame({"g": group, "y_pred": y_pred})
        result = fa.audit(None, data, sensitive="g", y_pred="y_pred", n_boot=1000, random_state=replication)
        row = result.disparities.loc[("g", "selection_rate")]
        covered += row["difference_ci_low"] <= truth <= row["difference_ci_high"]
    return covered / replications


def test_rate_difference_interval_covers_truth():
    """400 simulated audits of two groups with known selection rates: the 95% bootstrap interval of
    the difference covers the true difference 93-97% of the time."""
    assert 0.93 <= coverage((0.30, 0.45), (400, 600)) <= 0.97


def test_interval_covers_zero_when_groups_do_not_differ():
    # measured 0.94: the replicates contrast the same two groups, so the interval is not pushed off 0
    assert 0.92 <= coverage((0.5, 0.5), (300, 300), seed=7) <= 0.98
