"""Mitigations: Kamiran-Calders weights, the catalogue as data, measured effects on held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import fairaudit as fa
from fairaudit.catalogue import CATALOGUE
from fairaudit.mitigation import RUNNERS, kamiran_calders_weights
from tests.helpers import quiet_audit as run
from tests.test_findings import planted


def test_kamiran_calders_weights_make_label_independent_of_group():
    groups = pd.Series(["a"] * 6 + ["b"] * 4)
    y = np.array([1, 1, 1, 1, 0, 0, 1, 0, 0, 0])
    w = kamiran_calders_weights(groups, y)
    # hand count: P(a)=.6, P(y=1)=.5, P(a,1)=.4 -> .75; P(a,0)=.2 -> 1.5; P(b,1)=.1 -> 2; P(b,0)=.3 -> 2/3
    np.testing.assert_allclose(w, [0.75] * 4 + [1.5] * 2 + [2.0] + [2 / 3] * 3)
    table = pd.crosstab(groups, y, values=w, aggfunc="sum", normalize="index")
    np.testing.assert_allclose(table[1], [0.5, 0.5])


def test_catalogue_is_data_and_every_runner_exists():
    keys = [e.key for e in CATALOGUE]
    assert len(keys) == len(set(keys))
    for entry in CATALOGUE:
        assert entry.simulate is None or entry.simulate in RUNNERS
        assert entry.rationale and entry.prerequisites and entry.caveats
    sensitive_needed = [e for e in CATALOGUE if e.simulate == "threshold_optimizer"]
    assert all("legal" in e.caveats for e in sensitive_needed)


def test_effects_are_measured_and_ranked():
    data, model = planted(n=4000, seed=11)
    result = run(model, data, sensitive="group", target="y", mitigate=True)
    simulated = [r for r in result.recommendations if r.effect is not None]
    assert {r.mitigation for r in simulated} >= {"threshold_optimizer_demographic_parity", "reweighing",
                                                  "exponentiated_gradient_demographic_parity"}
    for r in simulated:
        assert list(r.effect.columns) == ["before", "before_ci_low", "before_ci_high", "after", "after_ci_low",
                                          "after_ci_high"]
        assert {"accuracy", "roc_auc", "disparate_impact_ratio (group)"} <= set(r.effect.index)
        row = r.effect.loc["accuracy"]
        assert row["before_ci_low"] <= row["before"] <= row["before_ci_high"]
    clears = [r.clears_policy for r in simulated]
    assert clears == sorted(clears, reverse=True)  # those that clear the policy come first
    first_block = [r for r in simulated if r.clears_policy == simulated[0].clears_policy]
    scores = [r.score for r in first_block]
    assert scores == sorted(scores, reverse=True)
    before = {r.effect.loc["accuracy", "before"] for r in simulated}
    assert len(before) == 1  # every mitigation is compared with the same held-out baseline


def test_pipeline_with_categorical_features_is_refitted():
    data, _ = planted(n=3000, seed=4)
    data["band"] = pd.cut(data["x2"], [-np.inf, -0.5, 0.5, np.inf], labels=["low", "mid", "high"])
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["band"]), remainder="passthrough"),
                          LogisticRegression()).fit(data[["x1", "band"]], data["y"])
    result = run(model, data, sensitive="group", target="y", mitigate=True)
    refitted = {r.mitigation: r for r in result.recommendations}
    for key in ("reweighing", "exponentiated_gradient_demographic_parity", "correlation_remover"):
        assert refitted[key].effect is not None, refitted[key].caveats


def test_recalibration_for_a_calibration_gap():
    data, model = planted(n=4000, seed=8)
    result = run(model, data, sensitive="group", target="y", mitigate=True,
                 policy={"thresholds": {"calibration_error_difference": 0.001}})
    recalibration = [r for r in result.recommendations if r.mitigation == "per_group_recalibration"]
    assert recalibration and recalibration[0].effect is not None


def test_without_mitigate_recommendations_are_advice():
    data, model = planted(n=2000, seed=2)
    result = run(model, data, sensitive="group", target="y")
    assert result.recommendations and all(r.effect is None for r in result.recommendations)
    assert "FA101" in result.recommendations[0].addresses


def test_mitigate_needs_model_and_target():
    data, model = planted(n=500)
    data["p"] = model.predict(data[["x1", "x2"]])
    with pytest.raises(fa.AuditInputError, match="'mitigate' argument needs a model"):
        run(None, data, sensitive="group", target="y", y_pred="p", mitigate=True)
    with pytest.raises(fa.AuditInputError, match="'mitigate' argument needs a model"):
        run(model, data, sensitive="group", mitigate=True)


def test_recommendations_survive_json(tmp_path):
    data, model = planted(n=2000, seed=6)
    result = run(model, data, sensitive="group", target="y", mitigate=True, n_boot=100)
    path = tmp_path / "audit.json"
    result.to_json(path)
    loaded = fa.load(path)
    assert [r.mitigation for r in loaded.recommendations] == [r.mitigation for r in result.recommendations]
    first = next(r for r in result.recommendations if r.effect is not None)
    again = next(r for r in loaded.recommendations if r.mitigation == first.mitigation)
    pd.testing.assert_frame_equal(again.effect, first.effect, check_dtype=False)
