"""audit(explain=True): explanations wired into the result, its findings, JSON and report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import fairaudit as fa
from tests.helpers import quiet_audit


@pytest.fixture(scope="module")
def proxied():
    """The decision depends on a postcode that reveals the group, not on the group itself."""
    rng = np.random.default_rng(0)
    n = 3000
    group = rng.choice(["a", "b"], n)
    usual = np.where(group == "a", "north", "south")
    postcode = np.where(rng.random(n) < 0.9, usual, rng.choice(["north", "south"], n))
    noise = rng.normal(size=n)
    y = (rng.random(n) < np.where(postcode == "north", 0.6, 0.2)).astype(int)
    data = pd.DataFrame({"group": group, "postcode": postcode, "noise": noise, "y": y})
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["postcode"]), remainder="passthrough"),
                          LogisticRegression()).fit(data[["postcode", "noise"]], y)
    return data, model


def test_explain_fills_the_result_and_flags_the_proxy(proxied, tmp_path):
    data, model = proxied
    result = quiet_audit(model, data, sensitive="group", target="y", explain=True, n_boot=100)
    explanations = result.explanations
    assert explanations.units == "probability" and explanations.explainer == "pipeline+linear"
    gap = explanations.gap.loc[("group", "a")]
    assert gap["contribution"].drop(["(total gap)", "(residual)"]).idxmax() == "postcode"
    flagged = [f for f in result.findings if f.code == "FA301" and f.severity == "warn"]
    assert flagged and "postcode" in flagged[0].message
    assert explanations.proxies.loc[("group", "noise"), "flag"] == False  # noqa: E712
    result.to_json(tmp_path / "audit.json")
    loaded = fa.load(tmp_path / "audit.json")
    pd.testing.assert_frame_equal(loaded.explanations.gap, explanations.gap, check_dtype=False)
    result.to_html(tmp_path / "audit.html")
    assert "Explanations" in (tmp_path / "audit.html").read_text()


def test_sensitive_arrays_are_explained_too(proxied):
    data, model = proxied
    groups = data["group"].to_numpy()
    result = quiet_audit(model, data.drop(columns="group"), sensitive=[pd.Series(groups, name="origin")],
                         target="y", explain=True, n_boot=0)
    assert "origin" in result.explanations.gap.index.get_level_values("attribute")


def test_explain_needs_a_model(proxied):
    data, model = proxied
    data = data.assign(p=model.predict(data[["postcode", "noise"]]))
    with pytest.raises(fa.AuditInputError, match="'explain' argument needs the model itself"):
        quiet_audit(None, data, sensitive="group", y_pred="p", explain=True)


def test_segment_membership_is_explained():
    rng = np.random.default_rng(2)
    n = 2000
    group = rng.choice(["a", "b"], n)
    data = pd.DataFrame({"group": group, "spend": rng.normal(size=n) + 2.0 * (group == "a"),
                         "visits": rng.normal(size=n)})

    class Tiers:
        """A rule-based segmentation: premium customers spend above 1."""

        def predict(self, X):
            return np.where(X["spend"] > 1, "premium", "standard")

    result = quiet_audit(Tiers(), data, sensitive="group", features=["spend", "visits"], task="segmentation",
                         favorable=["premium"], explain=True, n_boot=50)
    assert result.metadata["explained_output"] == "membership of segment(s) premium (0/1)"
    gap = result.explanations.gap.loc[("group", "a")]["contribution"].drop(["(total gap)", "(residual)"])
    assert gap.idxmax() == "spend" and abs(gap["visits"]) < 0.02
