"""Spark through the narwhals engine (local mode, the one session of conftest.py): the same GroupStats and
tables as the in-memory path for every task, predictions computed in Spark with mapInPandas, and the same
errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairaudit.backends import group_stats
from fairaudit.inputs import AuditInputError, AuditTypeError
from tests.test_backends_common import CASES, assert_same_stats, assert_same_tables, quiet_group_stats, synthetic

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'fairaudit[spark]'")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # pyspark's note on pandas 3


def to_spark(spark, frame: pd.DataFrame):
    """A cached Spark DataFrame of a pandas frame (categories as text, NaN as null)."""
    plain = frame.copy()
    for name in plain.columns:
        if isinstance(plain[name].dtype, pd.CategoricalDtype):
            plain[name] = plain[name].astype(object).where(plain[name].notna(), None)
    return spark.createDataFrame(plain).cache()


@pytest.fixture(scope="module")
def engine_stats(spark):
    """Each case's statistics from Spark, computed once."""
    out = {}
    for case, (frame, kwargs) in CASES.items():
        out[case] = quiet_group_stats(to_spark(spark, frame()), **kwargs)
    return out


# ---------------------------------------------------------------------------- parity
@pytest.mark.parametrize("case", list(CASES))
def test_spark_gives_the_in_memory_statistics(engine_stats, case):
    frame, kwargs = CASES[case]
    got = engine_stats[case]
    assert got.engine == "spark"
    assert_same_stats(quiet_group_stats(frame(), **kwargs), got)


def test_tables_are_the_audit_tables(engine_stats):
    frame, kwargs = CASES["adult"]
    assert_same_tables(frame(), engine_stats["adult"], **kwargs)


def test_missing_sensitive_values_are_a_counted_group(engine_stats):
    data = synthetic()
    got = engine_stats["synthetic"]
    assert got.missing_sensitive == {"region": int(data["region"].isna().sum()), "band": int(data["band"].isna().sum()),
                                     "tier": 0}
    band = got.stats.collapse(("band",))
    assert [g[0] for g in band.groups] == ["20", "32.5", "50", "(missing)"]


def test_spark_audits_every_task_as_pandas(spark):
    """Spark's row of the acceptance matrix (tests/test_backends_matrix.py): every task, one frame."""
    from tests.test_backends_matrix import TASKS, assert_same_audit, customers, quiet, reference

    frame = to_spark(spark, customers())
    for task, kwargs in TASKS.items():
        got = quiet(frame, **kwargs)
        assert got.metadata["engine"] == "spark"
        assert_same_audit(reference(task), got)


def test_model_predictions_are_computed_in_spark(spark):
    """mapInPandas with the model broadcast: the in-memory adapter's scores, never collected."""
    data = synthetic().iloc[:5000]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(data[["x1", "x2"]], data["outcome"])
    kwargs = dict(sensitive=["region", "tier"], target="outcome", pos_label="approved", model=model,
                  sample_weight="weight")
    got = quiet_group_stats(to_spark(spark, data), **kwargs)
    assert got.stats.has_score
    assert_same_stats(quiet_group_stats(data, **kwargs), got)


# ---------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def small(spark):
    return to_spark(spark, synthetic().iloc[:200].reset_index(drop=True))


def test_wrong_column_name_is_named_with_suggestions(small):
    with pytest.raises(AuditInputError, match=r"'sensitive' argument names column 'regoin', which is not in "
                                              r"data\. Did you mean 'region'\?"):
        group_stats(small, sensitive=["regoin"], y_score="score")
    with pytest.raises(AuditInputError, match=r"'y_score' argument names column 'scor'.*Did you mean 'score'"):
        group_stats(small, sensitive=["region"], y_score="scor")


def test_struct_column_is_refused(small):
    from pyspark.sql import functions as F

    nested = small.withColumn("address", F.struct(F.lit("Lyon").alias("city"), F.lit(69000).alias("zip")))
    with pytest.raises(AuditTypeError, match=r"'sensitive' argument names column 'address' of type "
                                             r"Struct\(\{'city': String, 'zip': Int32\}\), which cannot be audited"):
        group_stats(nested, sensitive="address", y_score="score")


def test_missing_targets_and_outside_scores_are_counted(spark):
    data = synthetic().iloc[:500].copy()
    data.loc[[3, 5, 8], "outcome"] = None
    data.loc[[1, 2], "score"] = [1.5, -0.25]
    frame = to_spark(spark, data)
    with pytest.raises(AuditInputError, match=r"target column 'outcome' has 3 missing value\(s\) \(NaN\) out of 500"):
        group_stats(frame, sensitive="region", target="outcome", y_score="score", pos_label="approved")
    with pytest.raises(AuditInputError, match=r"2 score\(s\) outside \[0, 1\] \(min -0.25, max 1.5\)"):
        group_stats(frame, sensitive="region", y_score="score")


def test_too_many_groups(spark):
    frame = to_spark(spark, pd.DataFrame({"customer": np.arange(60), "s": np.linspace(0, 1, 60)}))
    with pytest.raises(AuditInputError, match="'customer' has 60 distinct values, more than the limit of 50"):
        group_stats(frame, sensitive="customer", y_score="s")


def test_model_error_on_an_executor_is_the_in_memory_error(small):
    class Margin:
        def predict_proba(self, X):
            return np.column_stack([-X["x1"].to_numpy(), X["x1"].to_numpy()])

    with pytest.raises(AuditInputError, match=r"'model.predict_proba' argument has \d+ score\(s\) outside \[0, 1\]"):
        quiet_group_stats(small, sensitive=["region"], target="outcome", pos_label="approved", model=Margin(),
                          features=["x1"])
