"""The regulators' tables against a hand computation (pandas groupby on the bundled adult data), their
suppression, the model card, the policy presets and the ``compliance:`` key of ``fairaudit run``."""

from __future__ import annotations

import warnings

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import hypergeom

import fairaudit as fa
from fairaudit.cli import main
from fairaudit.compliance import ComplianceError
from fairaudit.policy import Policy, PolicyError
from fairaudit.result import AuditResult
from fairaudit.schema import audit_schema

VIEWS = (["sex"], ["race"], ["sex", "race"])
MISSING = "(missing)"


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """Adult with sex and race, some of each unknown, a decision and a score with ties at the median.

    Made to exercise every rule: 5% of races unknown; a category "Multiracial" (taken from White) just over
    2% of the known races but under 2% of all rows; "Other" (under 2%, so excluded) selected always, so
    that the highest rate of all is not the reference of the impact ratios."""
    data = fa.load_dataset("adult")[["sex", "race", "education_num", "hours_per_week", "age"]].copy()
    rng = np.random.default_rng(19)
    race = data["race"].astype(object).where(rng.random(len(data)) > 0.05)
    white = np.flatnonzero(race == "White")
    race.iloc[rng.choice(white, int(0.02 * race.notna().sum()) + 1, replace=False)] = "Multiracial"
    data["race"] = race
    data["sex"] = data["sex"].astype(object).where(rng.random(len(data)) > 0.005)
    data["decision"] = ((data.education_num >= 11) | (data.hours_per_week > 50) | (data.race == "Other")).astype(int)
    data["score"] = (data.education_num / 16 * 0.6 + data.hours_per_week.clip(upper=99) / 99 * 0.4).round(3)
    return data


def _audit(data: pd.DataFrame, **options) -> AuditResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fa.audit(None, data, sensitive=["sex", "race"], n_boot=0, **options)


@pytest.fixture(scope="module")
def decided(adult: pd.DataFrame) -> AuditResult:
    return _audit(adult, y_pred="decision")


def _label(key) -> str:
    return " & ".join(key) if isinstance(key, tuple) else str(key)


def hand_ll144(data: pd.DataFrame, rate: pd.Series) -> dict[str, pd.DataFrame]:
    """LL144 by hand: categories of the people whose category is known, the 2% rule on them, the ratio to
    the highest rate among the rest, and the unknown count."""
    out = {}
    for view in VIEWS:
        known = data[view].notna().all(axis=1)
        grouped = rate[known].groupby([data.loc[known, c] for c in view], observed=True).agg(["size", "mean"])
        grouped.index = [_label(k) for k in grouped.index]
        excluded = grouped["size"] / known.sum() < 0.02
        highest = grouped.loc[~excluded, "mean"].max()
        table = pd.DataFrame({"count": grouped["size"].astype(float), "rate": grouped["mean"],
                              "excluded": excluded, "impact_ratio": (grouped["mean"] / highest).where(~excluded)})
        table.loc[MISSING] = [float((~known).sum()), np.nan, True, np.nan]
        out[" & ".join(view)] = table
    return out


def _fisher_by_hand(a: int, n_a: int, b: int, n_b: int) -> float:
    """Two-sided Fisher exact test from the hypergeometric law: the probability of every table at most
    as likely as the observed one, given the margins."""
    law = hypergeom(n_a + n_b, a + b, n_a)
    support = np.arange(max(0, a + b - n_b), min(a + b, n_a) + 1)
    probabilities = law.pmf(support)
    return float(probabilities[probabilities <= law.pmf(a) * (1 + 1e-7)].sum())


# ---------------------------------------------------------------------------- NYC LL144
def test_ll144_selection_rates_equal_a_hand_computation(adult, decided):
    table = decided.compliance("nyc_ll144", suppress=False)
    assert table.attrs["suppressed"] is False and "NOT suppressed" in table.attrs["suppression"]
    expected = hand_ll144(adult, adult["decision"])
    assert list(dict.fromkeys(table.index.get_level_values("attribute"))) == list(expected)
    for view, hand in expected.items():
        got = table.loc[view].reindex(hand.index)
        assert len(table.loc[view]) == len(hand)
        np.testing.assert_allclose(got["count"].astype(float), hand["count"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["selection_rate"].astype(float), hand["rate"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["impact_ratio"].astype(float), hand["impact_ratio"], rtol=0, atol=1e-9)
        assert got["excluded"].astype(bool).tolist() == hand["excluded"].tolist()
    # the data exercise every rule: excluded categories, a known highest, unknown people in every view
    assert table.loc[("race", "Other"), "excluded"] and table.loc[("race", "Amer-Indian-Eskimo"), "excluded"]
    assert table.loc[("race", "Other"), "selection_rate"] == 1 > table.loc["race", "impact_ratio"].max() - 1e-12
    assert not table.loc[("race", "Multiracial"), "excluded"]
    assert table.loc[("race", "Multiracial"), "count"] / len(adult) < 0.02
    assert table.loc[("sex & race", MISSING), "count"] == (adult.sex.isna() | adult.race.isna()).sum() > 0
    assert (table["impact_ratio"] == 1).sum() == 3


def test_ll144_scoring_rate_is_the_share_strictly_above_the_median(adult):
    result = _audit(adult, y_score="score", task="score")
    median = float(np.median(adult["score"]))
    assert result.metadata["median_score"] == median
    assert (adult["score"] == median).sum() > 100  # ties at the median are not "above" it
    table = result.compliance("nyc_ll144", suppress=False)
    assert "scoring_rate" in table.columns and "selection_rate" not in table.columns
    for view, hand in hand_ll144(adult, (adult["score"] > median).astype(float)).items():
        got = table.loc[view].reindex(hand.index)
        np.testing.assert_allclose(got["scoring_rate"].astype(float), hand["rate"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["impact_ratio"].astype(float), hand["impact_ratio"], rtol=0, atol=1e-9)
        assert got["excluded"].astype(bool).tolist() == hand["excluded"].tolist()


def test_ll144_maps_roles_to_columns_in_any_audited_order(adult):
    renamed = adult.rename(columns={"sex": "gender", "race": "ethnicity"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fa.audit(None, renamed.assign(age_band=np.where(renamed.age < 40, "young", "old")),
                          sensitive=["ethnicity", "age_band", "gender"], y_pred="decision", n_boot=0,
                          compliance_attributes={"sex": "gender", "race": "ethnicity"})
    table = result.compliance("nyc_ll144", suppress=False)
    assert list(dict.fromkeys(table.index.get_level_values(0))) == ["gender", "ethnicity", "ethnicity & gender"]
    hand = hand_ll144(adult, adult["decision"])["sex & race"]
    crossing = table.loc["ethnicity & gender"]
    flipped = {f"{s} & {r}": f"{r} & {s}" for s in adult.sex.dropna().unique() for r in adult.race.dropna().unique()}
    np.testing.assert_allclose(crossing.loc[[flipped.get(k, k) for k in hand.index], "impact_ratio"].astype(float),
                               hand["impact_ratio"], atol=1e-9)


# ---------------------------------------------------------------------------- EEOC four-fifths
def test_four_fifths_equals_a_hand_computation(adult, decided):
    table = decided.compliance("eeoc_four_fifths", suppress=False)
    for view in ("sex", "race"):
        grouped = adult.groupby(adult[view].fillna(MISSING))["decision"].agg(["size", "sum"])
        rate = grouped["sum"] / grouped["size"]
        known = rate.drop(MISSING)
        top = known.idxmax()
        got = table.loc[view].reindex(grouped.index)
        np.testing.assert_array_equal(got["count"].astype(int), grouped["size"])
        np.testing.assert_array_equal(got["selected"].astype(int), grouped["sum"])
        np.testing.assert_allclose(got["selection_rate"].astype(float), rate, rtol=0, atol=1e-9)
        ratio = known / known[top]
        np.testing.assert_allclose(got.loc[known.index, "impact_ratio"].astype(float), ratio, rtol=0, atol=1e-9)
        assert got.loc[known.index, "adverse_impact"].astype(bool).tolist() == (ratio < 0.8).tolist()
        shortfall = grouped["size"] * known[top] - grouped["sum"]
        np.testing.assert_allclose(got.loc[known.index, "shortfall"].astype(float), shortfall[known.index], atol=1e-9)
        for group in known.index.drop(top):
            p = _fisher_by_hand(grouped.loc[group, "sum"], grouped.loc[group, "size"], grouped.loc[top, "sum"],
                                grouped.loc[top, "size"])
            assert got.loc[group, "p_value"] == pytest.approx(p, rel=1e-9, abs=1e-12)
        assert np.isnan(got.loc[top, "p_value"]) and got.loc[top, "impact_ratio"] == 1
        assert got.loc[MISSING, ["impact_ratio", "p_value", "shortfall"]].isna().all()
    assert table["adverse_impact"].any()  # the data hold a group below four fifths of the highest


# ---------------------------------------------------------------------------- suppression
@pytest.fixture(scope="module")
def small_top() -> AuditResult:
    """400 people; group C has 8 (2%, so not excluded by the under-2% rule) and the highest selection rate;
    D, the smallest other group, is hidden with it so that C's count cannot be recovered from the total."""
    group = np.array(["A"] * 150 + ["B"] * 142 + ["C"] * 8 + ["D"] * 100)
    decision = np.r_[np.arange(150) < 60, np.arange(142) < 50, np.ones(8, bool), np.arange(100) < 30].astype(int)
    data = pd.DataFrame({"g": group, "decision": decision})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fa.audit(None, data, sensitive="g", y_pred="decision", n_boot=0)


@pytest.mark.parametrize("standard", ["nyc_ll144", "eeoc_four_fifths"])
def test_a_small_highest_group_is_hidden_and_the_ratios_it_decides_withheld(small_top, standard):
    table = small_top.compliance(standard)
    assert table.attrs["suppressed"] is True
    for group in ("C", "D"):
        hidden = table.loc[("g", group)]
        assert hidden["suppressed"] and pd.isna(hidden["count"]) and np.isnan(hidden["selection_rate"])
    shown = table.loc["g"].loc[["A", "B"]]
    assert not shown["suppressed"].any()
    assert shown["impact_ratio"].isna().all() and shown["note"].str.contains("withheld").all()
    assert shown["selection_rate"].tolist() == pytest.approx([0.4, 50 / 142])
    full = small_top.compliance(standard, suppress=False)
    assert full.attrs["suppressed"] is False and full.loc[("g", "C"), "selection_rate"] == 1
    assert full.loc[("g", "A"), "impact_ratio"] == pytest.approx(0.4)


def test_the_report_shows_the_requested_tables_suppressed(small_top):
    result = AuditResult(**{**small_top.__dict__, "metadata": {**small_top.metadata,
                                                                 "compliance": ["nyc_ll144", "eeoc_four_fifths"]}})
    html = result.to_html()
    assert 'id="compliance-nyc_ll144"' in html and 'id="compliance-eeoc_four_fifths"' in html
    assert "impact ratio withheld: the highest category is suppressed" in html
    assert 'id="model-card"' in html


def test_a_saved_result_with_suppressed_groups_is_refused(small_top):
    loaded = AuditResult.from_dict(small_top.to_dict())
    with pytest.raises(ComplianceError, match="suppressed when the audit was saved"):
        loaded.compliance("nyc_ll144")
    with pytest.raises(ComplianceError, match="complete audit"):
        loaded.compliance("eeoc_four_fifths", suppress=False)


def test_a_saved_result_without_suppression_gives_the_same_tables(adult):
    result = _audit(adult.dropna(), y_score="score", task="score", compliance=["nyc_ll144"],
                    compliance_attributes={"sex": "sex", "race": "race"})
    payload = result.to_dict()
    jsonschema.Draft202012Validator(audit_schema()).validate(payload)
    assert payload["metadata"]["compliance"] == ["nyc_ll144"]
    loaded = AuditResult.from_dict(payload)
    pd.testing.assert_frame_equal(loaded.compliance("nyc_ll144"), result.compliance("nyc_ll144"))


# ---------------------------------------------------------------------------- errors
def test_clear_errors(adult, decided):
    with pytest.raises(ComplianceError, match="'standard' argument must name one of"):
        decided.compliance("gdpr")
    with pytest.raises(ComplianceError, match="'compliance' argument"):
        _audit(adult, y_pred="decision", compliance=["nyc_144"])
    with pytest.raises(ComplianceError, match="intersections=True"):
        _audit(adult, y_pred="decision", intersections=False).compliance("nyc_ll144")
    with pytest.raises(ComplianceError, match="names 'gender'"):
        decided.compliance("nyc_ll144", attributes={"sex": "gender", "race": "race"})
    with pytest.raises(ComplianceError, match="roles sex, race"):
        decided.compliance("nyc_ll144", attributes={"gender": "sex"})
    with pytest.raises(ComplianceError, match="weighted"):
        _audit(adult.assign(w=1.0), y_pred="decision", sample_weight="w").compliance("eeoc_four_fifths")
    with pytest.raises(ComplianceError, match="needs decisions"):
        _audit(adult, y_score="score", task="score").compliance("eeoc_four_fifths")
    with pytest.raises(ComplianceError, match="compliance_attributes"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fa.audit(None, adult.assign(a=adult.age > 40), sensitive=["sex", "race", "a"], y_pred="decision",
                     n_boot=0).compliance("nyc_ll144")


# ---------------------------------------------------------------------------- model card
def test_model_card_markdown_holds_the_sections_and_numbers(small_top, decided):
    text = decided.model_card(intended_use="Shortlists applicants | for interviews.", data_period="1994")
    for heading in ("### Intended use", "### Evaluation data", "### Groups and their sizes",
                    "### Performance per group", "### Known limitations", "### Mitigations considered"):
        assert heading in text
    assert "Shortlists applicants \\| for interviews." in text and "| period | 1994 |" in text
    assert decided.metadata["fingerprint_sha256"] in text
    low, high = decided.by_group.loc[("sex", "Female"), ["selection_rate_ci_low", "selection_rate_ci_high"]]
    rate = decided.by_group.loc[("sex", "Female"), "selection_rate"]
    assert f"| sex = Female | {rate:.3f}" in text
    assert f"{int(decided.by_group.loc[('sex', 'Male'), 'count']):,}" in text
    small = small_top.model_card()
    assert "| C | suppressed |" in small and "| g = C | suppressed |" in small


# ---------------------------------------------------------------------------- presets and the command line
def test_policy_presets():
    assert Policy.coerce("eeoc_four_fifths").thresholds["disparate_impact_ratio"].value == 0.8
    ll144 = Policy.coerce("nyc_ll144")
    assert ll144.require_crossings and list(ll144.thresholds) == ["disparate_impact_ratio"]
    with pytest.raises(PolicyError):
        Policy.coerce({"thresholds": {"nyc_ll144": 1}})


def test_fairaudit_run_writes_the_tables_beside_the_json(adult, tmp_path):
    adult.dropna().sample(3000, random_state=0).to_csv(tmp_path / "hiring.csv", index=False)
    config = {"name": "hiring", "data": "hiring.csv", "y_pred": "decision", "sensitive": ["sex", "race"],
              "n_boot": 0, "policy": "eeoc_four_fifths", "compliance": ["nyc_ll144", "eeoc_four_fifths"],
              "compliance_attributes": {"sex": "sex", "race": "race"},
              "model_card": {"intended_use": "Screens applicants.", "data_period": "2025"}}
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "--format", "html,json", "--quiet"])
    folder = tmp_path / "out" / "hiring" / "latest"
    result = fa.load(folder / "audit.json")
    assert result.policy.thresholds.keys() == {"disparate_impact_ratio"}
    for standard in ("nyc_ll144", "eeoc_four_fifths"):
        written = pd.read_csv(folder / f"{standard}.csv", index_col=[0, 1], keep_default_na=False,
                              na_values=[""])
        rates = written["selection_rate"].astype(float)
        hand = adult.dropna().sample(3000, random_state=0).groupby("sex")["decision"].mean()
        assert rates.loc["sex"].loc[hand.index].to_numpy() == pytest.approx(hand.to_numpy(), abs=1e-12)
    html = (folder / "audit.html").read_text()
    assert "Screens applicants." in html and "EEOC four-fifths rule" in html and "NYC Local Law 144" in html


def test_an_engine_audit_gives_the_same_tables(adult, decided, tmp_path):
    adult.to_parquet(tmp_path / "adult.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = fa.audit(None, str(tmp_path / "*.parquet"), sensitive=["sex", "race"], y_pred="decision", n_boot=0,
                          compliance=["eeoc_four_fifths"])
    assert engine.metadata["engine"] == "files" and engine.metadata["compliance"] == ["eeoc_four_fifths"]
    for standard in ("nyc_ll144", "eeoc_four_fifths"):
        pd.testing.assert_frame_equal(engine.compliance(standard).sort_index(),
                                      decided.compliance(standard).sort_index(), atol=1e-12)
