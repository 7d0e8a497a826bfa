"""Gap decomposition: additivity, and each path's values against shap's own explainers."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

from fairaudit.explain import explain
from fairaudit.explain.explainers import choose_explainer
from fairaudit.explain.outputs import model_output
from fairaudit.explain.permutation import permutation_values
from tests.test_explain_proxies import FEATURES, planted, true_score

lightgbm = pytest.importorskip("lightgbm")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import shap


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    frame = planted(1500, seed=3)
    frame["region"] = np.where(np.random.default_rng(4).random(len(frame)) < 0.5, "north", "south")
    return frame


@pytest.fixture(scope="module")
def booster(data):
    return lightgbm.LGBMClassifier(n_estimators=80, num_leaves=15, verbose=-1).fit(data[FEATURES], data["y"])


def _features_only(gap: pd.DataFrame) -> pd.DataFrame:
    return gap[~gap.index.get_level_values("feature").str.startswith("(")]


def test_tree_contributions_add_up_to_the_observed_gap(data, booster):
    """All rows explained: the total gap is the plain difference of mean predicted probabilities."""
    result = explain(booster, data, sensitive=["group", "region"], features=FEATURES, max_rows=10_000, n_boot=50,
                     progress=False)
    assert result.explainer == "tree" and result.units == "probability"
    assert result.sample_rows == len(data)
    probability = booster.predict_proba(data[FEATURES])[:, 1]
    for attribute in ("group", "region"):
        for group in data[attribute].unique():
            inside = (data[attribute] == group).to_numpy()
            observed = probability[inside].mean() - probability[~inside].mean()
            rows = result.gap.loc[(attribute, group)]["contribution"]
            assert rows["(total gap)"] == pytest.approx(observed, abs=1e-12)
            assert rows.drop(["(total gap)", "(residual)"]).sum() == pytest.approx(observed, abs=1e-6)
            assert abs(rows["(residual)"]) < 1e-6
    intervals = result.gap.xs("(total gap)", level="feature")
    assert (intervals["ci_low"] <= intervals["contribution"]).all()
    assert (intervals["contribution"] <= intervals["ci_high"]).all()


def test_additivity_holds_on_a_sample_and_for_forests(data, booster):
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(
        pd.get_dummies(data[FEATURES]), data["y"])
    dummies = pd.get_dummies(data[FEATURES])
    frame = pd.concat([dummies, data[["group", "region"]]], axis=1)
    for model, table, features in ((booster, data, FEATURES), (forest, frame, list(dummies.columns))):
        result = explain(model, table, sensitive=["group", "region"], features=features, max_rows=400, n_boot=20,
                         progress=False)
        assert result.explainer == "tree"
        assert result.sample_rows == 400
        residuals = result.gap.xs("(residual)", level="feature")["contribution"]
        assert residuals.abs().max() < 1e-6
    assert result.groups.loc[("overall", "all"), "count"] == len(data)


def test_favourable_class_flips_the_sign(data, booster):
    one = explain(booster, data, sensitive=["group"], features=FEATURES, max_rows=500, n_boot=0, progress=False)
    zero = explain(booster, data, sensitive=["group"], features=FEATURES, pos_label=0, max_rows=500, n_boot=0,
                   progress=False)
    np.testing.assert_allclose(zero.gap["contribution"], -one.gap["contribution"], atol=1e-9)
    assert zero.expected_value == pytest.approx(1 - one.expected_value)


def test_linear_pipeline_matches_shap_linear_explainer(data):
    """Log-odds contributions per raw feature = shap.LinearExplainer's in encoded columns, summed."""
    encode = make_column_transformer((OneHotEncoder(), ["district"]), (StandardScaler(), ["income", "noise"]))
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(data[FEATURES], data["y"])
    X = data[FEATURES].iloc[:300].reset_index(drop=True)
    background = data[FEATURES].iloc[300:700].reset_index(drop=True)
    explainer, notes = choose_explainer(model, FEATURES, model_output(model, 1, X), pos_label=1, pilot=X.iloc[:50],
                                        background=background, permutation_background=background.iloc[:10],
                                        candidates=background, rng=np.random.default_rng(0))
    assert explainer.kind == "pipeline+linear" and notes == []
    ours, expected = explainer.native(explainer.transform(X))

    transformed = encode.transform(X)
    masker = shap.maskers.Independent(encode.transform(background), max_samples=len(background))
    reference = shap.LinearExplainer(model[-1], masker).shap_values(transformed)
    width = len(encode.named_transformers_["onehotencoder"].categories_[0])
    summed = np.column_stack([reference[:, :width].sum(axis=1), reference[:, width], reference[:, width + 1]])
    np.testing.assert_allclose(ours[:, :3], summed, atol=1e-10)
    assert np.abs(ours[:, 3]).max() == 0  # nothing unmapped

    batch = explainer.explain(X)  # probability units: every row adds up to its probability
    np.testing.assert_allclose(batch.values.sum(axis=1) + batch.unmapped, batch.output - explainer.base, atol=1e-12)
    np.testing.assert_allclose(batch.output, model.predict_proba(X)[:, 1])
    assert explainer.base == pytest.approx(expit(expected))


def test_tree_pipeline_matches_shap_tree_explainer(data):
    encode = make_column_transformer((OneHotEncoder(sparse_output=False), ["district"]), remainder="passthrough")
    model = make_pipeline(encode, lightgbm.LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1))
    model.fit(data[FEATURES], data["y"])
    X = data[FEATURES].iloc[:200].reset_index(drop=True)
    explainer, _ = choose_explainer(model, FEATURES, model_output(model, 1, X), pos_label=1, pilot=X.iloc[:50],
                                    background=data[FEATURES].iloc[200:600], permutation_background=X.iloc[:5],
                                    candidates=data[FEATURES], rng=np.random.default_rng(0))
    assert explainer.kind == "pipeline+tree"
    ours, _ = explainer.native(explainer.transform(X))
    reference = np.asarray(shap.TreeExplainer(model[-1]).shap_values(encode.transform(X)))
    summed = np.column_stack([reference[:, :8].sum(axis=1), reference[:, 8], reference[:, 9]])
    np.testing.assert_allclose(ours[:, :3], summed, atol=1e-10)


def _brute_force_shapley(f, X: pd.DataFrame, background: pd.DataFrame) -> np.ndarray:
    """Interventional Shapley values by enumerating every coalition (the textbook formula)."""
    m = X.shape[1]
    out = np.zeros(X.shape)
    for i in range(len(X)):
        def value(coalition: tuple[int, ...], row: int = i) -> float:
            mixed = background.copy()
            for j in coalition:
                mixed.iloc[:, j] = X.iloc[row, j]
            return float(np.mean(f(mixed)))

        for j in range(m):
            others = [k for k in range(m) if k != j]
            for size in range(m):
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                for coalition in itertools.combinations(others, size):
                    out[i, j] += weight * (value((*coalition, j)) - value(coalition))
    return out


def test_permutation_is_exact_for_three_features():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(15, 3)), columns=["a", "b", "c"])
    background = pd.DataFrame(rng.normal(size=(16, 3)), columns=["a", "b", "c"])
    f = lambda frame: expit(frame["a"] * frame["b"] + np.sin(frame["c"]) - 0.5 * frame["a"]).to_numpy()
    base = f(background).mean()
    ours, output = permutation_values(f, X, background, base, pairs=1, rng=rng)
    np.testing.assert_allclose(ours, _brute_force_shapley(f, X, background), atol=1e-10)
    np.testing.assert_allclose(ours.sum(axis=1), output - base, atol=1e-12)


def test_permutation_adds_up_with_sampled_orders_and_mixed_types(data):
    X = data[[*FEATURES, "region"]].iloc[:50].reset_index(drop=True)
    background = data[[*FEATURES, "region"]].iloc[100:120].reset_index(drop=True)
    f = lambda frame: true_score(frame) * np.where(frame["region"] == "north", 1.0, 0.5)
    base = f(background).mean()
    values, output = permutation_values(f, X, background, base, pairs=2, rng=np.random.default_rng(1))
    np.testing.assert_allclose(values.sum(axis=1), output - base, atol=1e-12)
    assert np.abs(values[:, 2]).max() < 1e-12  # the model ignores noise


def test_decision_function_models_are_explained_as_logistic_scores(data):
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["district"]), remainder="passthrough"),
                          LinearSVC()).fit(data[FEATURES], data["y"])
    result = explain(model, data, sensitive=["group"], features=FEATURES, max_rows=600, n_boot=0, progress=False)
    assert (result.explainer, result.units) == ("pipeline+linear", "score")
    assert result.gap.xs("(residual)", level="feature")["contribution"].abs().max() < 1e-9


def test_score_models_are_explained_in_score_units(data):
    """A regressor's score (the audit's task='score') is explained as it is: identity link, score units."""
    target = 100 * true_score(data)
    model = lightgbm.LGBMRegressor(n_estimators=40, num_leaves=8, verbose=-1).fit(data[FEATURES], target)
    result = explain(model, data, sensitive=["group"], features=FEATURES, max_rows=10_000, n_boot=0, progress=False)
    assert (result.explainer, result.units) == ("tree", "score")
    score = model.predict(data[FEATURES])
    inside = (data["group"] == "B").to_numpy()
    rows = result.gap.loc[("group", "B")]["contribution"]
    assert rows["(total gap)"] == pytest.approx(score[inside].mean() - score[~inside].mean(), abs=1e-9)
    assert abs(rows["(residual)"]) < 1e-9 and rows.drop(["(total gap)", "(residual)"]).abs().idxmax() == "district"
