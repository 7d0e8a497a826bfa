"""audit() on engine inputs gives the in-memory audit's tables, findings and verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.backends._native import sample_rows
from tests.helpers import quiet_audit


@pytest.fixture(scope="module")
def credit(tmp_path_factory):
    data = fa.load_dataset("default_credit_taiwan")[["sex", "education", "marital", "default", "pay_0"]]
    data["score"] = np.clip(0.2 + 0.1 * data["pay_0"], 0, 1).round(3)
    folder = tmp_path_factory.mktemp("credit")
    for i, start in enumerate(range(0, len(data), 10_000)):
        data.iloc[start:start + 10_000].to_parquet(folder / f"part-{i}.parquet")
    return data, str(folder / "*.parquet")


def test_parquet_glob_matches_the_dataframe(credit):
    data, glob = credit
    options = dict(sensitive=["sex", "education", "marital"], target="default", y_score="score", n_boot=300)
    memory, engine = quiet_audit(None, data, **options), quiet_audit(None, glob, **options)
    assert engine.metadata["engine"] == "files" and engine.metadata["rows"] == len(data)
    for name in ("by_group", "disparities", "measures", "overall"):
        ours, theirs = getattr(engine, name), getattr(memory, name)
        numeric = theirs.select_dtypes("number").columns
        np.testing.assert_allclose(ours.loc[theirs.index, numeric].to_numpy(float), theirs[numeric].to_numpy(float),
                                   atol=1e-9, equal_nan=True)
    assert [(f.code, f.severity) for f in engine.findings] == [(f.code, f.severity) for f in memory.findings]
    assert engine.metadata["fingerprint_sha256"] == memory.metadata["fingerprint_sha256"]


def test_engine_inputs_refuse_what_they_cannot_audit(credit):
    _, glob = credit
    with pytest.raises(fa.AuditInputError, match="'mitigate' argument needs a model"):
        quiet_audit(None, glob, sensitive="sex", target="default", y_score="score", mitigate=True)
    with pytest.raises(fa.AuditTypeError, match="'data' argument must be a pandas"):
        quiet_audit(None, {"a": [1]}, sensitive="a", y_pred="a")
    with pytest.raises(fa.AuditInputError):
        quiet_audit(None, pd.DataFrame(), sensitive="a", y_pred="a")


def test_explanations_run_on_a_sample_drawn_by_the_engine(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    n = 20_000
    data = pd.DataFrame({"group": rng.choice(["a", "b"], n)})
    data["proxy"] = rng.normal(size=n) + 1.5 * (data["group"] == "a")
    data["noise"] = rng.normal(size=n)
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-data["proxy"]))).astype(int)
    data.to_parquet(tmp_path / "rows.parquet")
    model = LogisticRegression().fit(data[["proxy", "noise"]], data["y"])
    result = quiet_audit(model, str(tmp_path / "rows.parquet"), sensitive="group", target="y", explain=True,
                         n_boot=100)
    assert result.metadata["engine"] == "files" and result.metadata["explanation_sample_rows"] == 20_000
    gap = result.explanations.gap.loc[("group", "a")]["contribution"].drop(["(total gap)", "(residual)"])
    assert gap.idxmax() == "proxy"
    assert any(f.code == "FA301" and f.severity == "warn" for f in result.findings)
    small = sample_rows(str(tmp_path / "rows.parquet"), "files", ["group", "proxy"],
                                           total=n, rows=500, seed=1)
    assert len(small) == 500 and list(small.columns) == ["group", "proxy"]


def test_mitigations_are_measured_on_a_sample_drawn_by_the_engine(tmp_path):
    """mitigate=True on a Parquet file refits and measures on the engine's sample: the recommendations are
    those of the in-memory audit of that very sample (same mitigations, same measured effects)."""
    from tests.test_findings import planted

    data, model = planted(n=3000, seed=11)
    data.to_parquet(tmp_path / "rows.parquet")
    path = str(tmp_path / "rows.parquet")
    options = dict(sensitive="group", target="y", mitigate=True, n_boot=50)
    engine = quiet_audit(model, path, **options)
    assert engine.metadata["mitigation_sample_rows"] == len(data)
    simulated = [r for r in engine.recommendations if r.effect is not None]
    assert {"threshold_optimizer_demographic_parity", "reweighing"} <= {r.mitigation for r in simulated}
    sample = sample_rows(path, "files", ["group", *model.feature_names_in_, "y"], total=len(data), seed=0)
    memory = quiet_audit(model, sample, **options)
    assert [r.mitigation for r in engine.recommendations] == [r.mitigation for r in memory.recommendations]
    for ours, theirs in zip(engine.recommendations, memory.recommendations, strict=True):
        if theirs.effect is None:
            assert ours.effect is None
        else:
            pd.testing.assert_frame_equal(ours.effect, theirs.effect)
    with pytest.raises(fa.AuditInputError, match="'mitigate' argument applies to binary decisions"):
        quiet_audit(model, path, sensitive="group", task="score", mitigate=True, n_boot=0)


def test_spark_explanations_use_an_engine_sample(spark):
    pytest.importorskip("pyspark")
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n = 5000
    data = pd.DataFrame({"group": rng.choice(["a", "b"], n)})
    data["proxy"] = rng.normal(size=n) + 1.5 * (data["group"] == "a")
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-data["proxy"]))).astype(int)
    model = LogisticRegression().fit(data[["proxy"]], data["y"])
    frame = spark.createDataFrame(data)
    result = quiet_audit(model, frame, sensitive="group", target="y", features=["proxy"], explain=True, n_boot=50)
    assert result.metadata["engine"] == "spark"
    assert 0 < result.metadata["explanation_sample_rows"] <= 5000
    assert "proxy" in result.explanations.gap.index.get_level_values("feature")
