"""Shared fixtures: real datasets with a simple model's scores, computed once per session."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import fairaudit as fa

# dataset -> sensitive columns audited in the reference tests (kept small enough for fairlearn)
REFERENCE_CASES = {
    "adult": ["sex", "race"],
    "default_credit_taiwan": ["sex", "education", "marital"],
    "german_credit": ["sex", "age_group"],
    "bank_marketing": ["age_group", "marital"],
    "telco_churn": ["gender", "senior_citizen"],
}


def fit_scores(data: pd.DataFrame, target: str, drop: list[str]) -> np.ndarray:
    """Scores of a logistic regression fitted on all columns but the target and ``drop``."""
    features = data.drop(columns=[target, *drop])
    categorical = [c for c in features.columns if isinstance(features[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in features.columns if c not in categorical]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical),
            (make_pipeline(StandardScaler()), numeric),
        ),
        LogisticRegression(max_iter=500),
    )
    filled = features.copy()
    for c in categorical:
        filled[c] = filled[c].cat.add_categories("(missing)").fillna("(missing)")
    model.fit(filled, data[target])
    return model.predict_proba(filled)[:, 1]


@pytest.fixture(scope="session")
def scored() -> dict[str, pd.DataFrame]:
    """Each reference dataset with columns ``score`` (model probability) and ``weight`` (random)."""
    out = {}
    rng = np.random.default_rng(7)
    for name, sensitive in REFERENCE_CASES.items():
        data = fa.load_dataset(name)
        if name == "adult":
            data = data[data["split"] == "train"].reset_index(drop=True)
        data = data.copy()
        data["score"] = fit_scores(data, fa.DATASETS[name].target, sensitive)
        data["weight"] = rng.uniform(0.2, 3.0, len(data))
        out[name] = data
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses Spark runs on one xdist worker, so the suite starts one Spark session."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("spark"))


@pytest.fixture(scope="session")
def spark():
    """A local Spark session (2 cores, 2 shuffle partitions, no UI) whose workers run this Python."""
    from pyspark.sql import SparkSession

    saved = {name: os.environ.get(name) for name in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("fairaudit-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
