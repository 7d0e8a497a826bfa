"""Which groups enter a comparison: groups too small to show are left out, "(missing)" only on request,
and ratios are taken against a reference group that can be named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from tests.helpers import quiet_audit as run
from tests.test_privacy import small_group_data


def test_group_of_seven_is_left_out_of_every_comparison():
    data = small_group_data()  # region Zeta: 7 people, the highest selection rate (3/7)
    result = run(None, data, sensitive="region", target="y", y_pred="p")
    table = result.disparities.loc["region"]
    assert table["difference"].notna().all() and table["ratio"].notna().all()
    assert set(table["min_group"]) | set(table["max_group"]) <= {"Beta", "Gamma"}
    beta, gamma = data[data.region == "Beta"], data[data.region == "Gamma"]
    expected = abs(beta["p"].mean() - gamma["p"].mean())  # a hand count over the two shown groups
    assert table.loc["selection_rate", "difference"] == pytest.approx(expected)
    assert result.measures.loc[("region", "demographic_parity_difference"), "value"] == pytest.approx(expected)
    assert np.isnan(result.by_group.loc[("region", "Zeta"), "disparate_impact_ratio"])
    assert "Zeta" not in set(result.pairwise.index.get_level_values("group_a")) | set(
        result.pairwise.index.get_level_values("group_b"))
    for finding in result.findings:
        assert "Zeta" not in finding.groups or finding.code in ("FA201", "FA401")
    payload = result.to_dict()
    assert payload["metadata"]["left_out"] == [
        {"attribute": "region", "group": "Zeta", "reason": "fewer than 10 people (policy suppress_below)"}]
    assert "left out of every comparison" in next(f.message for f in result.findings if f.code == "FA401")


def missing_sex() -> pd.DataFrame:
    data = fa.load_dataset("german_credit")
    data["sex"] = data["sex"].astype(object)
    data.loc[data.index[:25], "sex"] = None  # a 25-person "(missing)" group
    data["p"] = (data["duration_months"] < 24).astype(int)
    return data


def test_missing_group_is_left_out_by_default_and_never_the_reference():
    data = missing_sex()
    default = run(None, data, sensitive="sex", target="good_credit", y_pred="p")
    row = default.disparities.loc[("sex", "selection_rate")]
    assert {row["min_group"], row["max_group"]} == {"female", "male"}
    known = data[data["sex"].notna()].groupby("sex")["p"].mean()
    assert row["difference"] == pytest.approx(known.max() - known.min())
    assert {"attribute": "sex", "group": "(missing)", "reason": "missing value (policy compare_missing: false)"} \
        in default.metadata["left_out"]
    assert any(f.code == "FA202" and f.severity == "warn" for f in default.findings)
    # compared on request: it enters max - min, but ratios stay against a known group
    data.loc[data["sex"].isna(), "p"] = 1  # the missing group is the most favoured
    compared = run(None, data, sensitive="sex", target="good_credit", y_pred="p",
                   policy={"compare_missing": True})
    assert compared.disparities.loc[("sex", "selection_rate"), "max_group"] == "(missing)"
    rates = data.assign(sex=data["sex"].fillna("(missing)")).groupby("sex")["p"].mean()
    impact = compared.measures.loc[("sex", "disparate_impact_ratio"), "value"]
    assert impact == pytest.approx(rates.min() / rates[["female", "male"]].max())
    assert compared.by_group.loc[("sex", "(missing)"), "disparate_impact_ratio"] > 1


def test_reference_group_sets_the_ratio():
    data = fa.load_dataset("german_credit")
    data["p"] = (data["duration_months"] < 24).astype(int)
    rates = data.groupby("sex", observed=True)["p"].mean()
    for reference, other in (("male", "female"), ("female", "male")):
        result = run(None, data, sensitive=["sex", "age_group"], target="good_credit", y_pred="p",
                     reference={"sex": reference})
        assert result.measures.loc[("sex", "disparate_impact_ratio"), "value"] == pytest.approx(
            rates[other] / rates[reference])
        assert result.by_group.loc[("sex", reference), "disparate_impact_ratio"] == 1.0
        assert result.metadata["reference"] == {"sex": reference}
        low, high = result.measures.loc[("sex", "disparate_impact_ratio"), ["ci_low", "ci_high"]]
        assert low < rates[other] / rates[reference] < high


@pytest.mark.parametrize("reference, message", [
    ({"gender": "male"}, r"'reference' argument names attribute 'gender'.*\(sex\)"),
    ({"sex": "man"}, r"'reference' argument names group 'man' of attribute 'sex'.*female, male"),
    (["sex", "male"], r"'reference' argument must map attribute names"),
])
def test_bad_reference_names_attribute_and_group(reference, message):
    data = fa.load_dataset("german_credit")
    with pytest.raises(fa.AuditInputError, match=message):
        fa.audit(None, data, sensitive="sex", y_pred="foreign_worker", pos_label="yes", reference=reference)


def test_reference_in_a_config(tmp_path):
    from fairaudit.config import load_config

    fa.load_dataset("german_credit").assign(p=lambda d: (d["duration_months"] < 24).astype(int)).to_csv(
        tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text("name: t\ndata: data.csv\nsensitive: [sex]\ny_pred: p\n"
                                         "reference: {sex: female}\n")
    options = load_config(tmp_path / "audit.yaml").audit_options()
    assert options["reference"] == {"sex": "female"}


@pytest.mark.parametrize("weighted", [False, True])
def test_disparity_intervals_from_the_pairwise_bounds_equal_the_checks_own(weighted):
    # a metric's difference and ratio intervals are read from the pairwise table's bounds (reversed pairs by
    # symmetry); they must be the ones the check computes over every ordered pair, zero rates and one-label
    # groups included
    from fairaudit.stats import GroupStats
    from fairaudit.tables import build_tables
    from fairaudit.uncertainty import range_critical

    rng = np.random.default_rng(5)
    n = 4000
    a, b = rng.integers(0, 4, n), rng.integers(0, 2, n)
    y = rng.integers(0, 2, n).astype(np.int8)
    y[a == 3] = 1  # a group without negatives
    score = np.clip(rng.beta(2, 3, n) + 0.1 * y, 0, 1)
    decision = (score > 0.5).astype(np.int8)
    decision[(a == 2) & (b == 0)] = 0  # a zero selection rate
    code = a * 2 + b
    groups = tuple((str(g // 2), str(g % 2)) for g in range(8))
    stats = GroupStats.from_codes(("a", "b"), groups, code, y, decision, score,
                                  rng.random(n) + 0.5 if weighted else None)
    checks = build_tables(stats, intersections=True, confidence=0.9, n_boot=50, rng=rng).checks
    seeded = [check for name, check in checks.items() if name[1].endswith(("_difference", "_ratio"))
              and 0.9 in check._intervals and check.families == 1]
    assert len(seeded) > 40
    for check in seeded:
        np.testing.assert_allclose(check.interval(0.9), check.bounds(range_critical(check.n_groups, 0.9)),
                                   rtol=1e-12, atol=1e-15)
