"""An engine audit leaves nothing behind: the spill folder and the connection of a model applied to an
engine's rows are closed when the model or its output fails, as when the audit succeeds."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

from fairaudit.inputs import AuditInputError
from tests.test_backends_common import quiet_group_stats, synthetic

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed: pip install 'fairaudit[duckdb]'")
KWARGS = dict(sensitive=["region"], target="outcome", pos_label="approved", features=["x1"])


class Scores:
    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-X["x1"].to_numpy()))
        return np.column_stack([1 - p, p])


class Failing:
    def predict_proba(self, X):
        raise RuntimeError("the model failed")


class Outside:
    def predict_proba(self, X):
        return np.column_stack([-X["x1"].to_numpy(), X["x1"].to_numpy()])


@pytest.fixture
def spill_root(tmp_path, monkeypatch):
    """Temporary folders go to a fresh folder, so that any left behind is seen."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _left(root) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("fairaudit-"))


def test_a_successful_model_audit_leaves_no_spill_folder(spill_root):
    con = duckdb.connect()
    quiet_group_stats(con.from_df(synthetic()), model=Scores(), **KWARGS)
    assert _left(spill_root) == []


@pytest.mark.parametrize("model, error", [(Failing(), RuntimeError), (Outside(), AuditInputError)])
def test_a_failing_model_leaves_no_spill_folder(spill_root, model, error):
    con = duckdb.connect()
    with pytest.raises(error):
        quiet_group_stats(con.from_df(synthetic()), model=model, **KWARGS)
    assert _left(spill_root) == []
