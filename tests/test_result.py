"""AuditResult: table shapes, JSON round trip, schema version, display."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.metrics import METRICS


@pytest.fixture(scope="module")
def result():
    data = fa.load_dataset("german_credit")
    data["score"] = np.linspace(0.05, 0.95, len(data))[np.random.default_rng(0).permutation(len(data))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(None, data, sensitive=["sex", "age_group", "foreign_worker"], target="good_credit",
                        y_score="score", n_boot=100)


def test_tables_have_the_documented_shape(result):
    assert result.by_group.index.names == ["attribute", "group"]
    assert list(result.by_group.columns[:2]) == ["count", "share"]
    for metric in METRICS:
        assert {metric, f"{metric}_ci_low", f"{metric}_ci_high"} <= set(result.by_group.columns)
    attributes = list(dict.fromkeys(result.by_group.index.get_level_values("attribute")))
    assert attributes == ["sex", "age_group", "foreign_worker", "sex & age_group", "sex & foreign_worker",
                          "age_group & foreign_worker", "sex & age_group & foreign_worker"]
    assert ("sex & age_group", "female & <=25") in result.by_group.index
    assert all(isinstance(g, str) for g in result.by_group.index.get_level_values("group"))
    assert result.disparities.index.names == ["attribute", "metric"]
    assert list(result.disparities.columns) == [
        "difference", "difference_ci_low", "difference_ci_high", "ratio", "ratio_ci_low", "ratio_ci_high",
        "p_value", "p_value_adjusted", "min_group", "max_group"]
    assert result.measures.index.names == ["attribute", "measure"]
    assert list(result.overall.columns) == ["value", "ci_low", "ci_high"]
    adjusted = result.disparities["p_value_adjusted"].dropna()
    assert (adjusted >= result.disparities.loc[adjusted.index, "p_value"] - 1e-15).all()
    ratios = result.disparities["ratio"].dropna()
    assert ((ratios >= 0) & (ratios <= 1)).all()


def test_json_round_trip(result, tmp_path):
    path = tmp_path / "audit.json"
    result.to_json(path)
    payload = json.loads(path.read_text())
    assert payload["schema_version"] == fa.SCHEMA_VERSION
    assert len(payload["metadata"]["fingerprint_sha256"]) == 64
    loaded = fa.load(path)
    for name in ("overall",):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(result, name), check_dtype=False)
    # groups under the policy's suppress_below are withheld from every output (privacy by construction):
    # the rows shown equal the original, the withheld ones carry no number
    shown = loaded.by_group.get("suppressed", pd.Series(False, index=loaded.by_group.index)) == False  # noqa: E712
    assert (~shown).any() and shown.any()
    # (a group's ratio to a withheld most-favoured group is withheld too: it would reveal that group's rate)
    columns = [c for c in result.by_group.columns if not c.startswith("disparate_impact_ratio")]
    original = result.by_group.loc[shown[shown].index, columns]
    pd.testing.assert_frame_equal(loaded.by_group.loc[shown, columns], original, check_dtype=False)
    assert loaded.by_group.loc[~shown, "selection_rate"].isna().all()
    assert loaded.metadata == json.loads(json.dumps(loaded.metadata))


def test_newer_schema_is_refused(result, tmp_path):
    payload = result.to_dict()
    payload["schema_version"] = "2.0"
    path = tmp_path / "future.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="schema_version 2.0, newer than the 1.0 this fairaudit reads"):
        fa.load(path)


def test_json_holds_aggregates_only(result):
    text = result.to_json()
    assert "NaN" not in text
    assert max(len(table["records"]) for k, table in result.to_dict().items()
               if isinstance(table, dict) and "records" in table) < 200


def test_metadata_and_repr(result):
    meta = result.metadata
    assert meta["rows"] == 1000 and meta["weighted"] is False and meta["n_boot"] == 100
    assert {"numpy", "pandas", "scipy", "scikit-learn", "fairaudit", "python"} <= set(meta["versions"])
    text = repr(result)
    assert "1000 rows" in text and "demographic_parity_difference" in text


def test_repr_html_escapes_user_strings():
    data = pd.DataFrame({"<script>alert(1)</script>": ["<b>x</b>", "y"] * 20, "p": [0, 1] * 20})
    result = fa.audit(None, data, sensitive="<script>alert(1)</script>", y_pred="p", n_boot=0)
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_fingerprint_changes_with_the_data(result):
    data = pd.DataFrame({"g": ["a", "b"] * 20, "p": [0, 1] * 20})
    first = fa.audit(None, data, sensitive="g", y_pred="p", n_boot=0).metadata["fingerprint_sha256"]
    again = fa.audit(None, data, sensitive="g", y_pred="p", n_boot=0).metadata["fingerprint_sha256"]
    data.loc[0, "p"] = 1
    changed = fa.audit(None, data, sensitive="g", y_pred="p", n_boot=0).metadata["fingerprint_sha256"]
    assert first == again != changed
