"""Score audits against scipy, scikit-learn and numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

import fairaudit as fa
from fairaudit.scores import MAX_BINS
from tests.helpers import quiet_audit as run

TOL = 1e-9


@pytest.fixture(scope="module")
def clv():
    """A CLV-style score: rounded to whole euros (so the score histogram is exact), higher for group a."""
    rng = np.random.default_rng(0)
    n = 6000
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    value = np.round(rng.gamma(2.0, 100.0, n) + 30 * (group == "a"))
    data = pd.DataFrame({"group": group, "clv": value, "spend": value + rng.normal(0, 40, n)})
    return data, run(None, data, sensitive="group", y_score="clv", target="spend", task="score", n_boot=300)


def test_per_group_metrics_match_references(clv):
    data, result = clv
    for group, rows in data.groupby("group"):
        row = result.by_group.loc[("group", group)]
        assert abs(row["mean_score"] - rows["clv"].mean()) <= TOL
        assert abs(row["std_score"] - rows["clv"].std(ddof=1)) <= 1e-7
        assert abs(row["mean_absolute_error"] - mean_absolute_error(rows["spend"], rows["clv"])) <= TOL
        assert abs(row["root_mean_squared_error"] - root_mean_squared_error(rows["spend"], rows["clv"])) <= 1e-7
        assert abs(row["mean_error"] - (rows["clv"] - rows["spend"]).mean()) <= TOL
        assert row["mean_score_ci_low"] < row["mean_score"] < row["mean_score_ci_high"]
    assert abs(result.overall.loc["mean_score", "value"] - data["clv"].mean()) <= TOL


def test_between_group_measures_match_scipy(clv):
    data, result = clv
    samples = {g: rows["clv"].to_numpy() for g, rows in data.groupby("group")}
    ks = {pair: scipy_stats.ks_2samp(samples[pair[0]], samples[pair[1]], method="asymp")
          for pair in itertools.combinations(sorted(samples), 2)}
    worst = max(ks, key=lambda p: ks[p].statistic)
    measures = result.measures.loc["group", "value"]
    assert abs(measures["ks_statistic"] - ks[worst].statistic) <= TOL
    assert abs(measures["ks_p_value"] - ks[worst].pvalue) <= 1e-6
    assert sorted(result.metadata["score_pairs"]["group"]["ks_statistic"]) == list(worst)
    wasserstein = max(scipy_stats.wasserstein_distance(samples[a], samples[b])
                      for a, b in itertools.combinations(samples, 2))
    assert abs(measures["wasserstein_distance"] - wasserstein) <= 1e-7
    means = {g: s.mean() for g, s in samples.items()}
    high, low = max(means, key=means.get), min(means, key=means.get)
    pooled = np.sqrt((samples[high].var(ddof=1) + samples[low].var(ddof=1)) / 2)
    assert abs(measures["standardized_mean_difference"] - (means[high] - means[low]) / pooled) <= 1e-7
    row = result.measures.loc[("group", "ks_statistic")]
    assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_quantiles_are_within_a_coarse_bin_and_nobodys_score(clv):
    """Each quantile is a boundary of a 1%-of-rows bin: at most one such bin (plus ties) from numpy's exact
    quantile, measured in the pooled distribution, and never equal to any score."""
    data, result = clv
    pooled = np.sort(data["clv"].to_numpy())
    ties = data["clv"].value_counts(normalize=True).max()
    for group, rows in data.groupby("group"):
        expected = np.quantile(rows["clv"], [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95], method="inverted_cdf")
        shown = result.score_quantiles.loc[("group", group)].to_numpy()
        assert not np.isin(shown, pooled).any()
        gap = np.abs(np.searchsorted(pooled, shown) - np.searchsorted(pooled, expected)) / len(pooled)
        assert (gap <= 0.01 + ties + 1e-9).all(), gap


def test_continuous_scores_within_a_bin():
    rng = np.random.default_rng(3)
    n = 60000  # more distinct scores than bins: quantile bins, statistics exact up to a bin's width
    data = pd.DataFrame({"g": rng.choice(["x", "y"], n)})
    data["s"] = rng.normal(0, 1, n) + 0.3 * (data["g"] == "x")
    result = run(None, data, sensitive="g", y_score="s", task="score", n_boot=0)
    x, y = data.loc[data.g == "x", "s"], data.loc[data.g == "y", "s"]
    assert abs(result.measures.loc[("g", "ks_statistic"), "value"] - scipy_stats.ks_2samp(x, y).statistic) < 2e-3
    assert abs(result.measures.loc[("g", "wasserstein_distance"), "value"]
               - scipy_stats.wasserstein_distance(x, y)) < 5e-3
    assert MAX_BINS == 16384


def test_regressor_is_audited_as_a_score_and_findings_use_score_thresholds(clv):
    data, _ = clv
    data = data.assign(x=data["clv"] / 100)
    model = LinearRegression().fit(data[["x"]], data["spend"])
    result = run(model, data, sensitive="group", target="spend", features=["x"], n_boot=200)
    assert result.metadata["task"] == "score"
    assert {f.code for f in result.findings} >= {"FA130", "FA131"}


def test_bad_score_inputs():
    data = pd.DataFrame({"g": ["a", "b"] * 10, "s": np.linspace(0, 50, 20), "p": [0, 1] * 10})
    with pytest.raises(fa.AuditInputError, match="pass y_score=, not y_pred="):
        run(None, data, sensitive="g", y_pred="p", task="score")
    data.loc[2, "s"] = np.inf
    with pytest.raises(fa.AuditInputError, match="infinite score"):
        run(None, data, sensitive="g", y_score="s", task="score")
    data.loc[2, "s"] = np.nan
    with pytest.raises(fa.AuditInputError, match="missing value"):
        run(None, data, sensitive="g", y_score="s", task="score")
