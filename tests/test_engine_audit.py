"""audit() on engine inputs gives the in-memory audit's tables, findings and verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
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


def test_engine_inputs_refuse_what_needs_rows(credit):
    _, glob = credit
    with pytest.raises(fa.AuditInputError, match="Engine inputs"):
        quiet_audit(None, glob, sensitive="sex", y_score="score", top_k=0.1)
    with pytest.raises(fa.AuditTypeError, match="'data' argument must be a pandas"):
        quiet_audit(None, {"a": [1]}, sensitive="a", y_pred="a")
    with pytest.raises(fa.AuditInputError):
        quiet_audit(None, pd.DataFrame(), sensitive="a", y_pred="a")
