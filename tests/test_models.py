"""The model adapter: estimators, pipelines, decision functions, callables, label predictors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

import fairaudit as fa


@pytest.fixture(scope="module")
def bank():
    data = fa.load_dataset("bank_marketing_sample")
    data["outcome"] = np.where(data["subscribed"] == 1, "yes", "no")
    return data


FEATURES = ["balance", "campaign", "pdays", "previous", "job", "housing", "loan"]


def pipeline(classifier):
    """One-hot codes for the text columns, the numbers standardised (unscaled balances took lbfgs 3,500
    iterations, 15 s a fit; scaled, 40)."""
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["job", "housing", "loan"]),
                                     remainder=StandardScaler())
    return make_pipeline(encode, classifier)


def run(model, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(model, data, sensitive=["age_group", "marital"], n_boot=0, **kwargs)


def test_pipeline_with_predict_proba_uses_its_input_columns(bank):
    model = pipeline(LogisticRegression(max_iter=5000)).fit(bank[FEATURES], bank["subscribed"])
    result = run(model, bank, target="subscribed")
    assert result.metadata["features"] == FEATURES
    assert result.metadata["prediction_source"] == "predict_proba"
    expected = model.predict_proba(bank[FEATURES])[:, 1].mean()
    assert result.overall.loc["mean_score", "value"] == pytest.approx(expected, abs=1e-12)


def test_string_classes_take_the_pos_label_column(bank):
    model = pipeline(LogisticRegression(max_iter=5000)).fit(bank[FEATURES], bank["outcome"])
    result = run(model, bank, target="outcome", pos_label="yes")
    yes = list(model.classes_).index("yes")
    expected = (model.predict_proba(bank[FEATURES])[:, yes] >= 0.5).mean()
    assert result.overall.loc["selection_rate", "value"] == pytest.approx(expected)
    with pytest.raises(fa.AuditInputError, match="pos_label=1"):
        run(model, bank, target="subscribed")


def test_decision_function_model_matches_its_predict(bank):
    model = pipeline(LinearSVC()).fit(bank[FEATURES].assign(balance=bank["balance"] / 1e4), bank["subscribed"])
    data = bank.assign(balance=bank["balance"] / 1e4)
    result = run(model, data, target="subscribed", threshold=0.5)
    assert result.metadata["prediction_source"] == "decision_function (logistic)"
    assert result.overall.loc["selection_rate", "value"] == pytest.approx(model.predict(data[FEATURES]).mean())


def test_callable_returning_labels_and_scores(bank):
    labels = run(lambda X: (X["balance"] > 1000).astype(int).to_numpy(), bank, target="subscribed",
                 features=["balance"])
    assert labels.overall.loc["selection_rate", "value"] == pytest.approx((bank["balance"] > 1000).mean())
    assert "roc_auc" not in labels.overall.index
    scores = run(lambda X: 1 / (1 + np.exp(-X["balance"].to_numpy() / 1000)), bank, target="subscribed",
                 features=["balance"], threshold=0.7)
    expected = (1 / (1 + np.exp(-bank["balance"] / 1000)) >= 0.7).mean()
    assert scores.overall.loc["selection_rate", "value"] == pytest.approx(expected)
    assert "roc_auc" in scores.overall.index


def test_predict_only_model_with_string_labels(bank):
    class Rule:
        def predict(self, X):
            return np.where(X["housing"] == "yes", "yes", "no")

    result = run(Rule(), bank, target="outcome", pos_label="yes", features=["housing"])
    assert result.overall.loc["selection_rate", "value"] == pytest.approx((bank["housing"] == "yes").mean())


def test_model_output_with_nan_is_refused(bank):
    with pytest.raises(fa.AuditInputError, match=r"missing value"):
        run(lambda X: np.full(len(X), np.nan), bank, features=["balance"])


def test_precomputed_labels_and_scores_together(bank):
    data = bank.assign(p=np.linspace(0, 1, len(bank)), d=(bank["balance"] > 0).astype(int))
    result = run(None, data, target="subscribed", y_pred="d", y_score="p")
    assert result.overall.loc["selection_rate", "value"] == pytest.approx(data["d"].mean())
    assert result.overall.loc["mean_score", "value"] == pytest.approx(data["p"].mean())


def test_clustering_model_is_refused_for_binary_task(bank):
    model = KMeans(n_clusters=4, n_init=2, random_state=0).fit(bank[["balance", "campaign"]])
    with pytest.raises(fa.AuditInputError, match=r"clustering model \(KMeans\).*task='segmentation'"):
        run(model, bank, features=["balance", "campaign"], task="binary")
    with pytest.raises(fa.AuditInputError, match="returned 4 distinct labels; a binary audit needs two"):
        run(lambda X: model.predict(X), bank, features=["balance", "campaign"])


def test_features_default_excludes_audit_columns():
    data = pd.DataFrame({"g": ["a", "b"] * 5, "x": range(10), "y": [0, 1] * 5, "w": 1.0})
    seen = {}

    def model(X):
        seen["columns"] = list(X.columns)
        return np.full(len(X), 0.3)

    with pytest.warns(fa.UndefinedMetricWarning):
        fa.audit(model, data, sensitive="g", target="y", sample_weight="w", n_boot=0)
    assert seen["columns"] == ["x"]
