"""Segmentation audits and top-k targeting against scipy, scikit-learn and hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

import fairaudit as fa
from tests.helpers import quiet_audit as run

TOL = 1e-9


@pytest.fixture(scope="module")
def telco():
    data = fa.load_dataset("telco_churn")
    features = ["tenure", "monthly_charges", "total_charges"]
    model = KMeans(n_clusters=4, n_init=3, random_state=0).fit(data[features])
    result = run(model, data, sensitive=["gender", "senior_citizen"], features=features, n_boot=200)
    return data, model.predict(data[features]), result


def test_clustering_model_is_audited_as_segmentation(telco):
    data, segments, result = telco
    assert result.metadata["task"] == "segmentation"
    assert result.metadata["segments"] == ["0", "1", "2", "3"]
    expected = pd.crosstab(data["gender"], segments, normalize="index")
    np.testing.assert_allclose(result.segments.loc["gender"].loc[expected.index].to_numpy(), expected.to_numpy(),
                               atol=TOL)
    np.testing.assert_allclose(result.segments.sum(axis=1), 1.0)
    assert (result.segments_ci_low <= result.segments + 1e-12).all(axis=None)
    assert (result.segments_ci_high >= result.segments - 1e-12).all(axis=None)


@pytest.mark.parametrize("attribute", ["gender", "senior_citizen", "gender & senior_citizen"])
def test_measures_match_references(telco, attribute):
    data, segments, result = telco
    columns = attribute.split(" & ")
    group = data[columns].astype(str).agg(" & ".join, axis=1)
    table = pd.crosstab(group, segments).to_numpy().astype(float)
    chi2 = scipy_stats.chi2_contingency(table, correction=False)
    measures = result.measures.loc[attribute, "value"]
    assert abs(measures["chi2_p_value"] - chi2.pvalue) <= TOL
    assert abs(measures["cramers_v"] - np.sqrt(chi2.statistic / (table.sum() * (min(table.shape) - 1)))) <= TOL
    assert abs(measures["normalized_mutual_info"] - normalized_mutual_info_score(group, segments)) <= TOL
    ratios = (table / table.sum(axis=0)) / (table.sum(axis=1, keepdims=True) / table.sum())
    assert abs(measures["min_representation_ratio"] - ratios.min()) <= TOL
    assert abs(measures["balance"] - (table.min(axis=0) / table.max(axis=0)).min()) <= TOL
    assert result.metadata["chi2_method"][attribute] == "asymptotic chi-squared"


def test_balance_is_chierichetti_for_two_groups():
    # cluster 0: 3 red, 1 blue -> 1/3; cluster 1: 2 red, 2 blue -> 1; balance = 1/3
    data = pd.DataFrame({"colour": ["red"] * 3 + ["blue"] + ["red"] * 2 + ["blue"] * 2,
                         "segment": [0, 0, 0, 0, 1, 1, 1, 1]})
    result = run(None, data, sensitive="colour", y_pred="segment", task="segmentation", n_boot=0)
    assert result.measures.loc[("colour", "balance"), "value"] == pytest.approx(1 / 3)
    assert result.metadata["chi2_method"]["colour"].startswith("Monte-Carlo")


def test_small_tables_use_a_monte_carlo_p_value():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"g": np.repeat(["a", "b"], 12)})
    data["segment"] = np.r_[rng.choice(["x", "y"], 12, p=[0.85, 0.15]), rng.choice(["x", "y"], 12, p=[0.3, 0.7])]
    result = run(None, data, sensitive="g", y_pred="segment", task="segmentation", n_boot=0)
    table = pd.crosstab(data["g"], data["segment"]).to_numpy()
    fisher = scipy_stats.fisher_exact(table).pvalue
    assert abs(result.measures.loc[("g", "chi2_p_value"), "value"] - fisher) < 0.05


def test_planted_segmentation_bias_is_flagged_and_independent_is_not():
    rng = np.random.default_rng(1)
    n = 4000
    group = rng.choice(["a", "b"], n)
    biased = np.where(group == "a", rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1]), rng.choice(4, n, p=[0.1, 0.2, 0.3, 0.4]))
    result = run(None, pd.DataFrame({"g": group, "s": biased}), sensitive="g", y_pred="s", task="segmentation")
    assert result.measures.loc[("g", "chi2_p_value"), "value"] < 0.001
    assert 0.3 < result.measures.loc[("g", "cramers_v"), "value"] < 0.5  # population value ~0.39
    assert any(f.code == "FA120" and f.severity == "fail" for f in result.findings)
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        data = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 3000), "s": rng.choice(5, 3000)})
        p_value = run(None, data, sensitive="g", y_pred="s", task="segmentation", n_boot=0).measures.loc[
            ("g", "chi2_p_value"), "value"]
        flagged += p_value < 0.05
    assert flagged <= 2


def test_favorable_segments_become_a_decision(telco):
    data, segments, _ = telco
    features = ["tenure", "monthly_charges", "total_charges"]
    model = KMeans(n_clusters=4, n_init=3, random_state=0).fit(data[features])
    result = run(model, data, sensitive="gender", features=features, favorable=[1, 3], target="churn", n_boot=50)
    rates = pd.Series(np.isin(segments, [1, 3])).groupby(data["gender"]).mean()
    np.testing.assert_allclose(result.by_group.loc["gender", "selection_rate"][rates.index], rates, atol=TOL)
    assert ("gender", "demographic_parity_difference") in result.measures.index
    assert ("gender", "cramers_v") in result.measures.index


def test_bad_segmentation_inputs():
    data = pd.DataFrame({"g": ["a", "b"] * 50, "s": [7] * 100, "t": [1, 2, 3, 4] * 25})
    with pytest.raises(fa.AuditInputError, match="assigns every row to one segment"):
        run(None, data, sensitive="g", y_pred="s", task="segmentation")
    with pytest.raises(fa.AuditInputError, match="'favorable' argument names segment '9', which never occurs"):
        run(None, data, sensitive="g", y_pred="t", task="segmentation", favorable=[9])
    with pytest.raises(fa.AuditInputError, match="'favorable' argument applies to task='segmentation'"):
        run(None, data.assign(p=[0, 1] * 50), sensitive="g", y_pred="p", favorable=[1])


def test_top_k_targets_the_highest_scores_with_ties():
    data = pd.DataFrame({"g": ["a", "b"] * 5, "score": [9, 8, 7, 7, 7, 5, 4, 3, 2, 1.0], "y": [1, 0] * 5})
    result = run(None, data, sensitive="g", y_score="score", target="y", top_k=3, n_boot=0)
    assert result.metadata["targeted"] == 5  # 9, 8 and the three rows tied at 7
    assert result.overall.loc["selection_rate", "value"] == pytest.approx(0.5)
    assert "roc_auc" not in result.overall.index  # scores outside [0, 1] rank but are not probabilities
    fraction = run(None, data, sensitive="g", y_score="score", top_k=0.2, n_boot=0)
    assert fraction.metadata["targeted"] == 2
    probabilities = data.assign(score=data["score"] / 10)
    ranked = run(None, probabilities, sensitive="g", y_score="score", target="y", top_k=0.2, n_boot=0)
    assert "roc_auc" in ranked.overall.index


@pytest.mark.parametrize("top_k, message", [
    (0.0, "fraction outside"), (1.5, "fraction outside"), (11, "not between 1 and the 10 rows"),
    ("10%", "must be a fraction"),
])
def test_bad_top_k(top_k, message):
    data = pd.DataFrame({"g": ["a", "b"] * 5, "score": np.linspace(0, 1, 10)})
    with pytest.raises((fa.AuditInputError, fa.AuditTypeError), match=message):
        run(None, data, sensitive="g", y_score="score", top_k=top_k)


@pytest.mark.parametrize("bad, message", [(np.nan, "missing value"), (np.inf, "infinite score"),
                                          (-np.inf, "infinite score")])
def test_score_with_nan_or_inf_is_refused(bad, message):
    data = pd.DataFrame({"g": ["a", "b"] * 5, "score": np.linspace(0, 100, 10)})
    data.loc[3, "score"] = bad
    with pytest.raises(fa.AuditInputError, match=message):
        run(None, data, sensitive="g", y_score="score", top_k=3)
