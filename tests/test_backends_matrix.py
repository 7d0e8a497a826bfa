"""The acceptance matrix: every input type x every task gives the in-memory audit's tables (to 1e-9),
findings and verdict. Spark's row of the matrix is in tests/test_backends_spark.py (one session)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from tests.test_backends_engines import INPUTS, convert

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed: pip install 'fairaudit[duckdb]'")

TABLES = ("by_group", "overall", "disparities", "measures", "segments", "score_quantiles")
TASKS = {
    "binary": dict(target="approved", y_score="score", sample_weight="weight"),
    "binary_labels": dict(target="outcome", y_pred="decision", pos_label="yes"),
    "top_k": dict(target="approved", y_score="score", top_k=0.15),
    "score": dict(task="score", target="income", y_score="income_hat", sample_weight="weight"),
    "segmentation": dict(task="segmentation", y_pred="tier", target="approved", favorable=["gold"]),
}


@functools.cache
def customers(n: int = 4000, seed: int = 8) -> pd.DataFrame:
    """Two sensitive columns with missing values, a binary target, a score with ties, a decision in
    words, a continuous target and prediction, segments, weights."""
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array(["north", "south", "east", None], dtype=object), n, p=[0.4, 0.3, 0.25, 0.05])
    age = rng.choice([25.0, 40.0, 60.0, np.nan], n, p=[0.3, 0.4, 0.25, 0.05])
    score = np.round(rng.beta(2, 3, n), 3)
    income = rng.gamma(3.0, 10.0, n) + 5 * (region == "north")
    return pd.DataFrame({
        "region": region, "age": age, "approved": (rng.random(n) < score).astype(int), "score": score,
        "decision": np.where(score > 0.45, "yes", "no"), "income": income,
        "outcome": np.where(rng.random(n) < score, "yes", "no"),
        "income_hat": income + rng.normal(0, 5, n), "tier": rng.choice(["bronze", "silver", "gold"], n),
        "weight": rng.uniform(0.5, 2.0, n),
    })


def quiet(data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fa.audit(None, data, sensitive=["region", "age"], n_boot=40, random_state=3, **kwargs)


@functools.cache
def reference(task: str) -> fa.AuditResult:
    return quiet(customers(), **TASKS[task])


def assert_same_audit(expected: fa.AuditResult, got: fa.AuditResult) -> None:
    """Same tables to 1e-9, same findings, same verdict, same task bookkeeping."""
    for name in TABLES:
        theirs, ours = getattr(expected, name, None), getattr(got, name, None)
        if theirs is None:
            assert ours is None, name
            continue
        pd.testing.assert_frame_equal(ours, theirs, rtol=1e-9, atol=1e-12, obj=name)
    assert [(f.code, f.severity, f.attribute, f.measure) for f in got.findings] == [
        (f.code, f.severity, f.attribute, f.measure) for f in expected.findings]
    assert got.verdict == expected.verdict
    for key in ("task", "targeted", "rows", "finest_groups", "auc_score_bins", "segments", "favorable"):
        assert got.metadata.get(key) == expected.metadata.get(key), key


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("kind", INPUTS)
def test_every_input_audits_every_task_as_pandas(kind, task, con, tmp_path):
    got = quiet(convert(kind, customers(), con, tmp_path), **TASKS[task])
    assert got.metadata["engine"] == {"relation": "duckdb", "parquet": "files", "lazy": "polars"}.get(kind, kind)
    assert_same_audit(reference(task), got)


def test_the_matrix_compares_real_numbers():
    """The reference audits have what the matrix compares: AUC, calibration, score and segment measures."""
    assert reference("binary").by_group["roc_auc"].notna().all()
    assert "calibration_error" in reference("binary").by_group.columns
    assert reference("top_k").metadata["targeted"] >= 0.15 * len(customers())
    measures = set(reference("score").measures.index.get_level_values("measure"))
    assert {"ks_statistic", "wasserstein_distance"} <= measures
    assert reference("segmentation").segments is not None
    changed = customers().copy()
    changed.loc[0, "tier"] = "gold" if changed.loc[0, "tier"] != "gold" else "bronze"
    with pytest.raises(AssertionError):
        assert_same_audit(reference("segmentation"), quiet(changed, **TASKS["segmentation"]))


def test_a_model_is_applied_in_the_engine_for_every_task(con, tmp_path):
    """A classifier (binary, top_k), a regressor (score) and a clustering model (segmentation) run on
    batches inside the engine and give the in-memory audit."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LinearRegression, LogisticRegression

    data = customers()
    X = data[["score", "weight"]]
    models = {
        "binary": (LogisticRegression().fit(X, data["approved"]), dict(target="approved")),
        "top_k": (LogisticRegression().fit(X, data["approved"]), dict(target="approved", top_k=100)),
        "score": (LinearRegression().fit(X, data["income"]), dict(task="score", target="income")),
        "segmentation": (KMeans(3, n_init=2, random_state=0).fit(X), dict(task="segmentation")),
    }
    path = convert("parquet", data, con, tmp_path)
    for task, (model, kwargs) in models.items():
        options = dict(kwargs, features=["score", "weight"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = fa.audit(model, data, sensitive=["region", "age"], n_boot=20, **options)
            got = fa.audit(model, path, sensitive=["region", "age"], n_boot=20, **options)
        assert got.metadata["prediction_source"].startswith("model (in the engine)"), task
        for name in TABLES:
            theirs = getattr(expected, name, None)
            if theirs is not None:
                pd.testing.assert_frame_equal(getattr(got, name), theirs, rtol=1e-9, atol=1e-12, obj=f"{task} {name}")
