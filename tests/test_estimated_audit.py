"""audit(..., sensitive_proba=...): estimated attributes through the audit, the CLI, the JSON and the report."""

import json
import subprocess
import sys
import warnings

import jsonschema
import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.inputs import AuditInputError
from fairaudit.schema import audit_schema

from .test_estimated import calibrated, outcomes


def frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"sex": rng.choice(["f", "m"], n), "race": rng.choice(["p", "q", "r"], n),
                         "y": rng.integers(0, 2, n)})
    data["score"] = np.clip(rng.random(n) + 0.1 * (data["race"] == "p"), 0, 1)
    return data


def quiet(*args, **kwargs) -> fa.AuditResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(*args, **kwargs)


def test_one_hot_probabilities_reproduce_the_ordinary_audit():
    data = frame()
    one_hot = pd.get_dummies(data["race"]).astype(float)
    ordinary = quiet(None, data, sensitive=["sex", "race"], target="y", y_score="score", n_boot=100)
    estimated = quiet(None, data, sensitive=["sex"], sensitive_proba={"race": one_hot}, target="y",
                      y_score="score", n_boot=100)
    values = [c for c in ordinary.by_group.columns if not c.endswith(("_ci_low", "_ci_high"))]
    assert estimated.by_group.index.equals(ordinary.by_group.index)
    pd.testing.assert_frame_equal(estimated.by_group[values], ordinary.by_group[values], rtol=1e-12, atol=1e-12)
    for column in ("difference", "ratio", "min_group", "max_group"):
        pd.testing.assert_series_equal(estimated.disparities[column], ordinary.disparities[column], rtol=1e-12)
    pd.testing.assert_series_equal(estimated.measures["value"], ordinary.measures["value"], rtol=1e-12)
    flags = estimated.by_group["estimated"]
    assert not flags.loc["sex"].any() and flags.loc["race"].all() and flags.loc["sex & race"].all()


def test_weighted_column_is_the_probability_weighted_rate_and_findings_use_the_corrected_one():
    rng = np.random.default_rng(3)
    truth, p = calibrated(8000, 0.5, rng)
    y, pred = outcomes(truth, rng)
    data = pd.DataFrame({"y": y, "pred": pred, "P_a": p[:, 0], "P_b": p[:, 1]})
    result = quiet(None, data, sensitive_proba={"group": ["P_a", "P_b"]}, target="y", y_pred="pred", n_boot=200)
    negatives = y == 0
    weighted = (p[negatives] * pred[negatives, None]).sum(axis=0) / p[negatives].sum(axis=0)
    table = result.estimates.xs("false_positive_rate", level="metric").loc["group"]
    np.testing.assert_allclose(table["weighted"], weighted, rtol=1e-10)
    np.testing.assert_allclose(result.by_group.loc["group", "false_positive_rate"], table["corrected"], rtol=1e-12)
    assert table["corrected"].diff().iloc[-1] > weighted[1] - weighted[0]  # the correction widens the shrunk gap
    fpr_gap = result.disparities.loc[("group", "false_positive_rate"), "difference"]
    assert abs(fpr_gap - 0.21) < 0.05
    assert all("Estimated, not recorded: group from columns P_a, P_b" in f.message
               for f in result.findings if f.attribute == "group")
    np.testing.assert_allclose(result.by_group.loc["group", "count"], np.rint(p.sum(axis=0)))


def test_weakly_identified_groups_are_inconclusive():
    rng = np.random.default_rng(4)
    truth, p = calibrated(3000, 6.0, rng)  # nearly uninformative probabilities: the mixing is ill-conditioned
    y, pred = outcomes(truth, rng, fpr=(0.1, 0.6))
    data = pd.DataFrame({"y": y, "pred": pred, "a": p[:, 0], "b": p[:, 1]})
    result = quiet(None, data, sensitive_proba={"group": ["a", "b"]}, target="y", y_pred="pred", n_boot=100)
    assert not result.estimates["identified"].any()
    checks = [f for f in result.findings if f.attribute == "group" and f.measure is not None]
    assert checks and all(f.severity == "inconclusive" for f in checks)
    assert result.verdict != "passed"


def test_bad_uses_are_errors():
    data = frame(200)
    one_hot = pd.get_dummies(data["race"]).astype(float)
    with pytest.raises(AuditInputError, match="sensitive_proba' argument audits binary decisions"):
        quiet(None, data, sensitive_proba={"race": one_hot}, y_score="score", task="score")
    with pytest.raises(AuditInputError, match="'sensitive' argument is empty"):
        quiet(None, data, sensitive=[], y_score="score")
    with pytest.raises(AuditInputError, match="'sensitive_proba' of 'race': 1 row"):
        bad = one_hot.copy()
        bad.iloc[0] = [0.5, 0.4, 0.0]
        quiet(None, data, sensitive_proba={"race": bad}, y_score="score")


def test_json_round_trip_schema_and_report():
    data = frame(1500)
    probabilities = pd.get_dummies(data["race"]).astype(float) * 0.8 + 0.2 / 3
    result = quiet(None, data.join(probabilities.add_prefix("P_")), sensitive=["sex"],
                   sensitive_proba={"race": ["P_p", "P_q", "P_r"]}, target="y", y_score="score", n_boot=100)
    payload = json.loads(result.to_json())
    jsonschema.validate(payload, audit_schema())
    assert payload["metadata"]["estimated"]["race"]["columns"] == ["P_p", "P_q", "P_r"]
    loaded = fa.AuditResult.from_dict(payload)
    pd.testing.assert_frame_equal(loaded.estimates[["weighted", "corrected"]], result.estimates[["weighted",
                                                                                                 "corrected"]])
    html = result.to_html()
    assert 'id="estimated"' in html and "Probabilities: race from columns P_p, P_q, P_r" in html
    assert "Fairness under unawareness" in html  # the method section explains the estimator


def test_cli_config_with_probability_columns(tmp_path):
    data = frame(1500)
    probabilities = pd.get_dummies(data["race"]).astype(float) * 0.7 + 0.1
    data.drop(columns="race").join(probabilities.add_prefix("P_")).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text(
        "name: estimated\ndata: data.csv\ny_score: score\ntarget: y\nn_boot: 100\n"
        "sensitive_proba:\n  race: [P_p, P_q, P_r]\nproba_prior:\n  race: {P_p: 0.3, P_q: 0.3, P_r: 0.4}\n")
    out = subprocess.run([sys.executable, "-m", "fairaudit.cli", "run", "audit.yaml", "--format", "json", "--json"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode in (0, 1, 4), out.stderr
    saved = json.loads((tmp_path / json.loads(out.stdout)["reports"]["json"]).read_text())
    assert saved["estimates"]["records"] and saved["metadata"]["estimated"]["race"]["prior"]["P_r"] == 0.4
    assert {r["estimated"] for r in saved["by_group"]["records"]} == {True}
