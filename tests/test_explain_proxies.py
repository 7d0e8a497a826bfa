"""Planted proxy: the score depends on a feature that tracks the sensitive attribute, not on the attribute.

The proxy must be the top contributor to the gap and flagged; an independent noise feature must not be.
Checked for the three paths: a LightGBM model (tree), a OneHotEncoder + LogisticRegression Pipeline
(pipeline+linear) and a plain function (permutation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from fairaudit.explain import explain, explanation_findings

DISTRICT_EFFECT = {f"d{i}": (-1.2 if i < 3 else 0.8) for i in range(8)}
FEATURES = ["district", "income", "noise"]


def planted(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Group B lives mostly in districts d0-d2, which lower the score; income and noise are independent."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.3, "B", "A")
    home = np.where(group == "B", rng.integers(0, 3, n), rng.integers(3, 8, n))
    district = np.where(rng.random(n) < 0.85, home, rng.integers(0, 8, n))
    frame = pd.DataFrame({
        "group": group,
        "district": pd.Categorical([f"d{i}" for i in district], categories=list(DISTRICT_EFFECT)),
        "income": rng.normal(size=n),
        "noise": rng.normal(size=n),
    })
    frame["y"] = (rng.random(n) < true_score(frame)).astype(int)
    return frame


def true_score(X: pd.DataFrame) -> np.ndarray:
    effect = X["district"].astype(str).map(DISTRICT_EFFECT).to_numpy(dtype=float)
    return expit(effect + 0.7 * X["income"].to_numpy(dtype=float) - 0.3)


def lightgbm_model(data: pd.DataFrame):
    lightgbm = pytest.importorskip("lightgbm")
    return lightgbm.LGBMClassifier(n_estimators=60, num_leaves=8, verbose=-1).fit(data[FEATURES], data["y"])


def pipeline_model(data: pd.DataFrame):
    encode = make_column_transformer((OneHotEncoder(), ["district"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=500)).fit(data[FEATURES], data["y"])


def callable_model(data: pd.DataFrame):
    return true_score


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return planted()


@pytest.mark.parametrize(("build", "path"), [
    (lightgbm_model, "tree"),
    (pipeline_model, "pipeline+linear"),
    (callable_model, "permutation"),
])
def test_planted_proxy_is_top_contributor_and_flagged(data, build, path):
    model = build(data)
    result = explain(model, data, sensitive=["group"], features=FEATURES, max_rows=1500, n_boot=100,
                     progress=False)
    assert result.explainer == path
    assert result.units == ("score" if path == "permutation" else "probability")
    contributions = result.gap.loc[("group", "B")]["contribution"]
    features_only = contributions.drop(["(total gap)", "(residual)"])
    assert features_only.abs().idxmax() == "district"
    assert result.top_contributors("group", "B", 1).index[0] == "district"
    assert contributions["district"] < 0 and contributions["(total gap)"] < 0  # the district lowers B's score
    assert abs(features_only["noise"]) < 0.1 * abs(features_only["district"])
    proxies = result.proxies.loc["group"]
    assert bool(proxies.loc["district", "flag"])
    assert not bool(proxies.loc["noise", "flag"])
    assert proxies.loc["district", "association"] > 0.8
    assert abs(proxies.loc["noise", "association"] - 0.5) < 0.1
    findings = explanation_findings(result, min_group_size=30)
    proxy = [f for f in findings if f.code == "FA301"]
    assert [f.severity for f in proxy] == ["warn"]
    assert "'district'" in proxy[0].message and "group" in proxy[0].message
    assert {f.code: f.severity for f in findings if f.code == "FA302"} == {"FA302": "pass"}


def test_sensitive_attribute_as_input_is_reported_not_listed_as_proxy(data):
    features = [*FEATURES, "group"]
    frame = data.assign(group=data["group"].astype("category"))
    lightgbm = pytest.importorskip("lightgbm")
    model = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1).fit(frame[features], frame["y"])
    result = explain(model, frame, sensitive=["group"], features=features, max_rows=800, n_boot=20,
                     progress=False)
    assert result.sensitive_inputs == ("group",)
    assert "group" not in result.proxies.index.get_level_values("feature")
    assert "group" in result.importance.columns
    findings = {f.code: f for f in explanation_findings(result, min_group_size=30)}
    assert findings["FA302"].severity == "warn"
    assert "takes group itself as an input" in findings["FA302"].message


def test_no_proxy_passes_and_small_groups_are_inconclusive(data):
    fair = lambda X: expit(0.9 * X["income"].to_numpy(dtype=float))
    result = explain(fair, data, sensitive=["group"], features=FEATURES, max_rows=600, n_boot=20, progress=False)
    findings = explanation_findings(result, min_group_size=30)
    assert [(f.code, f.severity) for f in findings] == [("FA301", "pass"), ("FA302", "pass")]
    assert findings[0].message.startswith("No input both closely tracks group")
    assert "'district'" in findings[0].message and "but carries under 1%" in findings[0].message

    planted_result = explain(true_score, data, sensitive=["group"], features=FEATURES, max_rows=600, n_boot=20,
                             progress=False)
    strict = explanation_findings(planted_result, min_group_size=10_000)
    assert [f.severity for f in strict if f.code == "FA301"] == ["inconclusive"]
    assert all(f.severity in ("warn", "inconclusive", "pass") for f in strict)


def test_codes_are_documented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "findings.md").read_text()
    assert "### FA301" in text and "### FA302" in text
