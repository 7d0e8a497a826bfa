"""Policy: defaults, dict and YAML forms, and errors that name the key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.policy import DEFAULT_THRESHOLDS


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
