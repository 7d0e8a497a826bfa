"""Findings: severities from intervals, honest false-alarm rates, inconclusive small groups, every code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.helpers import quiet_audit as run


def planted(n: int = 5000, effect: float = 1.2, seed: int = 0) -> tuple[pd.DataFrame, LogisticRegression]:
    """Synthetic data whose selection depends on the group through a correlated feature."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n)
    x1 = rng.normal(size=n) + effect * (group == "a")
    x2 = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x1 + x2 - 0.5)))).astype(int)
    data = pd.DataFrame({"group": group, "x1": x1, "x2": x2, "y": y})
    return data, LogisticRegression().fit(data[["x1", "x2"]], data["y"])


def test_planted_bias_fails_and_top_recommendation_fixes_it():
    data, model = planted()
    result = run(model, data, sensitive="group", target="y", mitigate=True)
    dp = [f for f in result.findings if f.code == "FA101"][0]
    assert dp.severity == "fail" and dp.ci_low > 0.1
    assert not result.passed
    top = result.recommendations[0]
    assert top.effect is not None and top.clears_policy
    assert top.effect.loc["disparate_impact_ratio (group)", "after"] > 0.8
    assert top.effect.loc["disparate_impact_ratio (group)", "before"] < 0.8


def test_no_bias_gives_at_most_one_false_alarm_in_20_seeds():
    fails = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        n = 5000
        data = pd.DataFrame({"group": rng.choice(["a", "b", "c"], n), "sex": rng.choice(["f", "m"], n),
                             "y": rng.integers(0, 2, n)})
        data["score"] = np.clip(0.5 + 0.3 * (data["y"] - 0.5) + rng.normal(0, 0.2, n), 0, 1)
        result = run(None, data, sensitive=["group", "sex"], target="y", y_score="score", n_boot=500,
                     random_state=seed)
        fails += sum(f.severity == "fail" for f in result.findings)
    assert fails <= 1


def test_tiny_groups_are_inconclusive_never_pass_or_fail():
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"group": ["big"] * 500 + ["tiny"] * 12, "y": rng.integers(0, 2, 512)})
    data["p"] = np.r_[np.zeros(500, int), np.ones(12, int)]  # the tiny group is always selected
    result = run(None, data, sensitive="group", target="y", y_pred="p", n_boot=200)
    for finding in result.findings:
        if finding.measure is not None:
            assert finding.severity == "inconclusive", finding
    assert any(f.code == "FA201" and f.groups == ("tiny",) for f in result.findings)
    assert not result.passed and result.verdict == "not_determined"  # undecided is not a pass, nor a failure


def test_warn_when_interval_straddles_the_threshold():
    n = 150  # selection rates 63/150 = 0.42 and 84/150 = 0.56: a difference of 0.14, standard error ~0.057
    data = pd.DataFrame({"group": np.repeat(["a", "b"], n)})
    data["p"] = np.r_[np.arange(n) < 63, np.arange(n) < 84].astype(int)
    result = run(None, data, sensitive="group", y_pred="p", n_boot=1000,
                 policy={"thresholds": {"demographic_parity_difference": 0.1}})
    finding = [f for f in result.findings if f.code == "FA101"][0]
    assert finding.value > 0.1 and finding.ci_low < 0.1
    assert finding.severity == "warn"
    assert "interval reaches back within it" in finding.message


def test_passing_checks_are_kept_and_summary():
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"group": rng.choice(["a", "b"], 4000), "y": rng.integers(0, 2, 4000)})
    data["p"] = (rng.random(4000) < 0.3).astype(int)
    result = run(None, data, sensitive="group", target="y", y_pred="p")
    assert result.passed
    assert {f.code for f in result.findings if f.severity == "pass"} == {"FA101", "FA103", "FA104"}
    table = result.summary()
    assert list(table.columns[:4]) == ["code", "severity", "attribute", "measure"]
    assert len(table) == len(result.findings)
    assert all(isinstance(f.message, str) and f.message.endswith(".") for f in result.findings)


ALL_MEASURES = {
    "demographic_parity_difference": 0.01, "demographic_parity_ratio": 0.99, "disparate_impact_ratio": 0.99,
    "equalized_odds_difference": 0.01, "equalized_odds_ratio": 0.99, "equal_opportunity_difference": 0.01,
    "equal_opportunity_ratio": 0.99, "calibration_error_difference": 0.001, "false_positive_rate_difference": 0.01,
}


@pytest.fixture(scope="module")
def every_code():
    """One audit built to trigger every finding code."""
    data, model = planted(n=3000, seed=3)
    data["score"] = model.predict_proba(data[["x1", "x2"]])[:, 1]
    data.loc[:4, "group"] = None               # FA202 missing values, and a group of 5: FA201, FA401
    data["country"] = "PT"                      # FA203 one group only
    data.loc[data["group"] == "b", "y"] = np.where(data.loc[data["group"] == "b", "y"] == 1, 1, 1)  # FA402
    return run(None, data, sensitive=["group", "country"], target="y", y_score="score", n_boot=200,
               policy={"thresholds": ALL_MEASURES, "min_group_size": 30, "suppress_below": 10})


@pytest.mark.parametrize("code", ["FA101", "FA102", "FA103", "FA104", "FA105", "FA106", "FA107", "FA108",
                                  "FA110", "FA201", "FA202", "FA203", "FA401", "FA402"])
def test_every_code_is_triggered(every_code, code):
    found = [f for f in every_code.findings if f.code == code]
    assert found, code
    assert all(f.message for f in found)


def test_every_code_is_documented():
    from pathlib import Path

    from fairaudit import findings

    text = (Path(__file__).resolve().parents[1] / "docs" / "findings.md").read_text()
    codes = set(findings.MEASURE_CODES.values()) | {findings.METRIC_DISPARITY_CODE, findings.SMALL_GROUPS,
                                                    findings.MISSING_VALUES, findings.SINGLE_GROUP,
                                                    findings.SUPPRESSED_GROUPS, findings.UNDEFINED_METRICS,
                                                    "FA501", "FA502"}
    for code in codes:
        assert f"### {code}" in text, code
