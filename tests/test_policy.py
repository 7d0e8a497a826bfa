"""Policy: defaults, dict and YAML forms, and errors that name the key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.policy import DEFAULT_THRESHOLDS
from tests.helpers import quiet_audit as run


def test_defaults():
    policy = fa.Policy()
    assert policy.thresholds == DEFAULT_THRESHOLDS
    assert policy.thresholds["disparate_impact_ratio"] == fa.Threshold("min", 0.8)
    assert policy.thresholds["equalized_odds_difference"] == fa.Threshold("max", 0.1)
    assert policy.thresholds["demographic_parity_difference"] == fa.Threshold("max", 0.1)
    assert (policy.min_group_size, policy.suppress_below) == (30, 10)


def test_from_dict_and_yaml(tmp_path):
    spec = {"thresholds": {"disparate_impact_ratio": 0.9, "false_positive_rate_difference": {"max": 0.05}},
            "min_group_size": 50, "ignore": ["FA202"], "attributes": ["sex"]}
    policy = fa.Policy.from_dict(spec)
    assert policy.thresholds["disparate_impact_ratio"] == fa.Threshold("min", 0.9)
    assert policy.thresholds["false_positive_rate_difference"] == fa.Threshold("max", 0.05)
    assert policy.min_group_size == 50 and policy.ignore == ("FA202",) and policy.attributes == ("sex",)
    path = tmp_path / "policy.yaml"
    path.write_text("thresholds:\n  disparate_impact_ratio: 0.9\n  false_positive_rate_difference: {max: 0.05}\n"
                    "min_group_size: 50\nignore: [FA202]\nattributes: [sex]\n")
    assert fa.Policy.from_yaml(path) == policy
    assert fa.Policy.coerce(str(path)) == policy
    assert fa.Policy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize("spec, message", [
    ({"threshold": {}}, r"Unknown policy key 'threshold'; the keys are thresholds"),
    ({"thresholds": {"disparate_impact_ratio": 1.2}}, r"'thresholds.disparate_impact_ratio' is 1.2, impossible"),
    ({"thresholds": {"demographic_parity_difference": -0.1}}, r"'thresholds.demographic_parity_difference'"),
    ({"thresholds": {"disparate_impact_ratio": "0.8"}}, r"'thresholds.disparate_impact_ratio' must be a number"),
    ({"thresholds": {"fairness_score": 0.5}}, r"'thresholds.fairness_score' is not a measure"),
    ({"thresholds": {"disparate_impact_ratio": {"atleast": 0.8}}}, r"'thresholds.disparate_impact_ratio' must be"),
    ({"min_group_size": "30"}, r"'min_group_size' must be a whole number"),
    ({"suppress_below": -1}, r"'suppress_below' must be a whole number"),
    ({"ignore": "FA202"}, r"'ignore' must be a list of names"),
    ({"thresholds": [0.8]}, r"'thresholds' must map measure names"),
    ({"multiplicity": "fdr"}, r"'multiplicity' must be one of holm, bonferroni, none; got 'fdr'"),
    ({"fwer": 0}, r"'fwer' must be a number between 0 and 1"),
    ({"fwer": True}, r"'fwer' must be a number between 0 and 1"),
    ({"compare_missing": "yes"}, r"'compare_missing' must be true or false"),
])
def test_bad_policies_name_the_key(spec, message):
    with pytest.raises(fa.PolicyError, match=message):
        fa.Policy.from_dict(spec)


def test_bad_yaml_and_type(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("thresholds: [unclosed\n")
    with pytest.raises(fa.PolicyError, match="not valid YAML"):
        fa.Policy.from_yaml(path)
    with pytest.raises(fa.PolicyError, match="must be a Policy, a dict or a YAML file path; got int"):
        fa.Policy.coerce(3)


def test_scope_and_ignore_in_an_audit():
    data = pd.DataFrame({"sex": ["f", "m"] * 100, "region": ["n"] * 100 + ["s"] * 100,
                         "p": np.tile([0, 1, 1, 1], 50)})
    with pytest.raises(fa.PolicyError, match="'attributes' names 'age'"):
        fa.audit(None, data, sensitive=["sex", "region"], y_pred="p", n_boot=0, policy={"attributes": ["age"]})
    result = fa.audit(None, data, sensitive=["sex", "region"], y_pred="p", n_boot=0,
                      policy={"attributes": ["sex"], "ignore": ["FA104"]})
    assert {f.attribute for f in result.findings} == {"sex"}
    assert all(f.code != "FA104" for f in result.findings)


def test_multiplicity_keys_round_trip_and_change_the_verdict():
    policy = fa.Policy.from_dict({"multiplicity": "bonferroni", "fwer": 0.01, "compare_missing": True})
    assert fa.Policy.from_dict(policy.to_dict()) == policy
    assert (fa.Policy().multiplicity, fa.Policy().fwer, fa.Policy().compare_missing) == ("holm", 0.05, False)
    # rates 0.30 and 0.39 in 600 each: a 0.09 gap against a 0.02 limit (z = 2.6, p = 0.01): fails at 0.05, not 0.001
    data = pd.DataFrame({"g": np.repeat(["a", "b"], 600), "h": np.tile(["x", "y"], 600)})
    data["p"] = np.r_[np.arange(600) % 100 < 30, np.arange(600) % 100 < 39].astype(int)
    limits = {"thresholds": {"demographic_parity_difference": 0.02}}
    alone = run(None, data, sensitive=["g", "h"], y_pred="p", policy={**limits, "multiplicity": "none"})
    family = run(None, data, sensitive=["g", "h"], y_pred="p", policy={**limits, "fwer": 0.001})
    check = [f for f in alone.findings if f.attribute == "g" and f.measure == "demographic_parity_difference"][0]
    assert check.severity == "fail"
    check = [f for f in family.findings if f.attribute == "g" and f.measure == "demographic_parity_difference"][0]
    assert check.severity == "warn" and "checks of this audit" in check.message
