"""Spark Connect DataFrames through the same narwhals engine as classic Spark: the same statistics as pandas
for every task, a model applied where the rows live (no SparkContext: the model travels in the closure),
and the same audit. A second JVM (a local Spark Connect server) starts for this module, so it runs with
``-m slow``; it needs ``pip install 'fairaudit[spark-connect]'``."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import fairaudit as fa
from tests.test_backends_common import CASES, assert_same_stats, quiet_group_stats, synthetic

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

TASKS = {
    "as given": {},
    "score": {"task": "score", "target": None, "y_pred": None, "pos_label": None, "sample_weight": None},
    "top_k": {"top_k": 0.2, "y_pred": None},
}


@pytest.fixture(scope="module")
def spark_connect():
    """A local Spark Connect server and its client (skipped without ``fairaudit[spark-connect]``)."""
    install = "pip install 'fairaudit[spark-connect]'"
    pytest.importorskip("pyspark", reason=f"pyspark is not installed: {install}")
    pytest.importorskip("grpc", reason=f"Spark Connect's client is not installed: {install}")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = SparkSession.builder.remote("local[2]").config("spark.sql.shuffle.partitions", "2").getOrCreate()
    yield session
    session.stop()


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as text and NaN as null, as Spark holds them."""
    plain = frame.copy()
    for name in plain.columns:
        if isinstance(plain[name].dtype, pd.CategoricalDtype):
            plain[name] = plain[name].astype(object).where(plain[name].notna(), None)
    return plain


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("case", [c for c in CASES if c != "adult"])
def test_connect_gives_the_in_memory_statistics(spark_connect, case, task):
    frame, kwargs = CASES[case]
    data = frame()
    options = {name: value for name, value in {**kwargs, **TASKS[task]}.items() if value is not None}
    remote = spark_connect.createDataFrame(_plain(data))
    assert type(remote).__module__.startswith("pyspark.sql.connect")
    assert_same_stats(quiet_group_stats(data, **options), quiet_group_stats(remote, **options))


def test_connect_applies_a_model_where_the_rows_live(spark_connect):
    data = synthetic()
    model = LogisticRegression().fit(data[["x1", "x2"]], data["outcome"])
    options = dict(sensitive=["region", "tier"], target="outcome", pos_label="approved", model=model,
                   features=["x1", "x2"])
    remote = spark_connect.createDataFrame(data)
    assert_same_stats(quiet_group_stats(data, **options), quiet_group_stats(remote, **options))


def test_connect_audit_is_the_pandas_audit(spark_connect):
    data = synthetic()
    options = dict(sensitive=["region", "tier"], target="outcome", pos_label="approved", y_score="score",
                   random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local, remote = fa.audit(None, data, **options), fa.audit(None, spark_connect.createDataFrame(data), **options)
    assert remote.verdict == local.verdict
    np.testing.assert_allclose(remote.by_group["selection_rate"], local.by_group["selection_rate"], rtol=0, atol=1e-12)
    assert [f.code for f in remote.findings] == [f.code for f in local.findings]
