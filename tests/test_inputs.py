"""Every bad input gets a clear error (or warning) that names the argument or column and the fix."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.inputs import AuditInputError, encode_sensitive


@pytest.fixture()
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame({
        "sex": rng.choice(["female", "male"], n),
        "region": rng.choice(["north", "south", "east"], n),
        "income": rng.normal(size=n),
        "label": rng.integers(0, 2, n),
        "score": rng.uniform(size=n),
        "decision": rng.integers(0, 2, n),
    })


def audit(data, **kwargs):
    options = dict(sensitive="sex", target="label", y_score="score", n_boot=0)
    options.update(kwargs)
    model = options.pop("model", None)
    return fa.audit(model, data, **options)


def test_unknown_column_is_named_with_a_suggestion(data):
    with pytest.raises(fa.AuditInputError, match=r"'sensitive' argument names column 'sx'.*Did you mean 'sex'"):
        audit(data, sensitive="sx")
    with pytest.raises(fa.AuditInputError, match=r"'target' argument names column 'labels'"):
        audit(data, target="labels")
    with pytest.raises(ValueError, match=r"'features' argument names column 'incme'"):
        audit(data, features=["incme"], model=lambda X: np.zeros(len(X)))


def test_length_mismatch(data):
    with pytest.raises(fa.AuditInputError, match=r"'sample_weight' argument has 10 values but data has 200 rows"):
        audit(data, sample_weight=np.ones(10))
    with pytest.raises(fa.AuditInputError, match=r"'sensitive' argument has 3 values"):
        audit(data, sensitive=[pd.Series(["a", "b", "c"], name="x")])
    with pytest.raises(fa.AuditInputError, match=r"predict_proba returned 5 predictions for 200 rows"):
        audit(data, y_score=None, model=type("M", (), {"predict_proba": lambda self, X: np.ones((5, 2))})())


def test_target_with_more_than_two_values_is_refused_even_with_a_pos_label(data):
    data["label"] = np.resize(["low", "mid", "high"], len(data))
    for pos_label in (None, "high"):  # no silent one-vs-rest: the user maps the classes to a decision
        with pytest.raises(fa.AuditInputError, match=r"target column 'label' has 3 distinct values "
                                                     r"\('high', 'low', 'mid'\); a binary audit needs two"):
            audit(data, pos_label=pos_label)
    data["label"] = (data["label"] == "high").astype(int)
    result = audit(data)
    assert result.overall.loc["base_rate", "value"] == pytest.approx(data["label"].mean())


def test_string_labels_need_pos_label(data):
    data["label"] = np.where(data["label"] == 1, "yes", "no")
    with pytest.raises(fa.AuditInputError, match=r"target column 'label' has values 'no', 'yes', not 0/1.*"
                                                 r"pos_label='yes'"):
        audit(data)
    with pytest.raises(fa.AuditInputError, match=r"pos_label=1 is not one of them.*pos_label="):
        audit(data, pos_label=1)
    assert audit(data, pos_label="yes").overall.loc["base_rate", "value"] == pytest.approx(
        (data["label"] == "yes").mean())


def test_scores_outside_unit_interval_are_refused_not_clipped(data):
    data["score"] = data["score"] * 4 - 2
    with pytest.raises(fa.AuditInputError, match=r"y_score column 'score' has \d+ score\(s\) outside \[0, 1\].*"
                                                 r"threshold=0.5 is meant for probabilities.*does not clip"):
        audit(data)


def test_nan_in_target_and_predictions_name_the_count(data):
    data.loc[[3, 5, 7], "label"] = np.nan
    with pytest.raises(fa.AuditInputError, match=r"target column 'label' has 3 missing value\(s\)"):
        audit(data)
    data["label"] = 0
    data.loc[[1, 2], "score"] = np.nan
    with pytest.raises(fa.AuditInputError, match=r"y_score column 'score' has 2 missing value\(s\)"):
        audit(data)
    data["decision"] = data["decision"].astype(float)
    data.loc[[4], "decision"] = np.nan
    with pytest.raises(fa.AuditInputError, match=r"y_pred column 'decision' has 1 missing value"):
        audit(data, y_score=None, y_pred="decision")


def test_nan_in_sensitive_column_becomes_explicit_group(data):
    data.loc[[0, 1, 2, 3], "sex"] = None
    with pytest.warns(fa.MissingSensitiveValueWarning, match=r"'sex' has 4 missing value\(s\).*'\(missing\)'"):
        result = audit(data)
    assert result.by_group.loc[("sex", "(missing)"), "count"] == 4
    assert result.by_group.loc["sex", "count"].sum() == len(data)  # no row dropped


def test_single_group_attribute_warns_and_gives_nan_disparities(data):
    data["sex"] = "female"
    with pytest.warns(fa.SingleGroupWarning, match=r"'sex' has one group only"):
        result = audit(data)
    assert result.disparities.loc["sex", "difference"].isna().all()
    assert result.measures.loc["sex", "value"].isna().all()


def test_too_many_groups_suggests_binning(data):
    data["age"] = np.arange(len(data))
    with pytest.raises(fa.AuditInputError, match=r"'age' has 200 distinct values, more than the limit of 50.*pd.cut"):
        audit(data, sensitive="age")


def test_empty_data_and_wrong_type():
    with pytest.raises(fa.AuditInputError, match=r"'data' argument has no rows"):
        fa.audit(None, pd.DataFrame({"a": []}), sensitive="a", y_pred="a")
    with pytest.raises(fa.AuditTypeError, match=r"must be a pandas, polars or Spark .*got builtins.dict"):
        fa.audit(None, {"a": [1]}, sensitive="a", y_pred="a")


def test_model_without_prediction_method(data):
    with pytest.raises(fa.AuditTypeError, match=r"'model' argument of type object has no predict_proba"):
        audit(data, y_score=None, model=object())
    with pytest.raises(fa.AuditInputError, match=r"No predictions to audit"):
        audit(data, y_score=None)


@pytest.mark.parametrize("weights, message", [
    (-1.0, r"'sample_weight' argument has 1 negative value"),
    (np.nan, r"'sample_weight' argument has 1 missing value"),
])
def test_bad_weights(data, weights, message):
    w = np.ones(len(data))
    w[10] = weights
    with pytest.raises(fa.AuditInputError, match=message):
        audit(data, sample_weight=w)


def test_bad_options(data):
    with pytest.raises(fa.AuditInputError, match=r"'confidence' argument must be a float in \(0, 1\)"):
        audit(data, confidence=95)
    with pytest.raises(fa.AuditInputError, match=r"'n_boot' argument must be an integer >= 0"):
        audit(data, n_boot=-5)
    with pytest.raises(fa.AuditInputError, match=r"'task' argument must be one of 'auto', 'binary'"):
        audit(data, task="multiclass")
    with pytest.raises(fa.AuditInputError, match=r"'explain' argument needs the model itself"):
        audit(data, explain=True)
    with pytest.raises(fa.PolicyError, match=r"Unknown policy key 'demographic_parity_difference'"):
        audit(data, policy={"demographic_parity_difference": 0.1})


def test_undefined_metric_is_nan_with_warning(data):
    data.loc[data["region"] == "east", "label"] = 0  # no positives in 'east'
    with pytest.warns(fa.UndefinedMetricWarning, match=r"true_positive_rate for region = east"):
        result = audit(data, sensitive="region")
    assert np.isnan(result.by_group.loc[("region", "east"), "true_positive_rate"])
    assert np.isnan(result.by_group.loc[("region", "east"), "roc_auc"])


def test_no_row_is_dropped(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = audit(data, sensitive=["sex", "region"])
    for attribute in ("sex", "region", "sex & region"):
        assert result.by_group.loc[attribute, "count"].sum() == len(data)


def test_boolean_sensitive_column():
    data = pd.DataFrame({"flag": [True, False] * 20, "p": [0, 1, 1, 0] * 10})
    result = fa.audit(None, data, sensitive="flag", y_pred="p", n_boot=0)
    assert result.by_group.loc["flag", "count"].to_dict() == {"0": 20, "1": 20}


@pytest.mark.parametrize(("dtype", "values", "pos_label"), [
    ("int8", [0, 1, 1, 0], None), ("bool", [True, False, True], None), ("bool", [True, False], False),
    ("uint8", [1, 1, 1], None), ("int64", [-1, 1, -1], -1), ("int8", [127, -128, 127], 127),
    ("int64", [0, 10**12, 0], 10**12), ("Int64", [1, 0, 1], None),
])
def test_integer_labels_are_read_as_pandas_reads_them(dtype, values, pos_label):
    """Integer and boolean labels (counted, not hashed) give the 0/1 labels of pandas' own ``isin`` on the
    favourable value, whatever the width and sign of their type."""
    from fairaudit.inputs import binarize_labels

    series = pd.Series(np.array(values), dtype=dtype)
    favourable = 1 if pos_label is None else pos_label
    expected = series.isin([favourable]).to_numpy().astype(np.int8)
    got = binarize_labels("target", series, pos_label, "y")
    assert got.dtype == np.int8 and np.array_equal(got, expected)


def test_integer_labels_with_more_than_two_values_are_refused():
    from fairaudit.inputs import binarize_labels

    with pytest.raises(fa.AuditInputError, match=r"3 distinct values \(2, 5, 7\)"):
        binarize_labels("target", pd.Series(np.array([7, 2, 5, 2], dtype=np.int16)), None, "y")


def test_sensitive_columns_are_checked_in_turn_while_coded_side_by_side():
    """The columns are factorised in threads; the first problem in the order given is still the one named."""
    data = pd.DataFrame({"a": ["x", "(missing)"] * 50, "b": ["u", "v"] * 50, "y": [0, 1] * 50})
    with pytest.raises(AuditInputError, match="Sensitive column 'a' has the value '\\(missing\\)'"):
        encode_sensitive(data, ["a", "nope"])
    with pytest.raises(AuditInputError, match="names column 'nope'"):
        encode_sensitive(data, ["b", "nope", "a"])
    with pytest.raises(AuditInputError, match="names column 'b' twice"):
        encode_sensitive(data, ["b", "b", "a"])
    coded = encode_sensitive(data, ["b", "y"])
    assert coded.attributes == ("b", "y") and len(coded.groups) == 2


def test_columns_checked_while_the_sensitive_ones_are_coded_report_their_problems_in_turn():
    """Target and scores are checked while the sensitive columns are coded: the problem named is still the first
    in the order sensitive, target, weights, decisions, scores."""
    data = pd.DataFrame({"s": ["x", "(missing)"] * 50, "g": ["u", "v"] * 50, "y": ["a", "b", "c", "d"] * 25,
                         "w": [-1.0] * 100, "score": [2.0] * 100})
    audit = functools.partial(fa.audit, None, data, y_score="score")
    with pytest.raises(AuditInputError, match="Sensitive column 's'"):
        audit(sensitive="s", target="y", sample_weight="w")
    with pytest.raises(AuditInputError, match="4 distinct values"):
        audit(sensitive="g", target="y", sample_weight="w")
    with pytest.raises(AuditInputError, match="negative"):
        audit(sensitive="g", target="g", pos_label="u", sample_weight="w")
    with pytest.raises(AuditInputError, match="outside \\[0, 1\\]"):
        audit(sensitive="g", target="g", pos_label="u")
    with pytest.raises(AuditInputError, match="names column 'nope'"):
        fa.audit(None, data, sensitive="g", target="nope", y_score="also_not")
    result = fa.audit(None, data.assign(score=np.linspace(0, 1, 100)), sensitive="g", target="g", pos_label="u",
                      y_score="score", n_boot=0)
    assert result.metadata["auc_score_bins"] == 100


def test_score_bins_made_while_coding_are_used_once_and_not_kept(monkeypatch):
    """The score column is binned while the sensitive columns are coded: the statistics take those bins (the
    default edges are computed once) and the module holds no per-row array after the audit."""
    import fairaudit.stats as stats_module

    calls = []
    original = stats_module.default_score_edges
    monkeypatch.setattr(stats_module, "default_score_edges", lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"a": rng.choice(["x", "y"], 5000), "y": rng.integers(0, 2, 5000), "score": rng.random(5000)})
    fa.audit(None, data, sensitive="a", target="y", y_score="score", n_boot=0)
    assert len(calls) == 1 and stats_module._kept_bins == []
