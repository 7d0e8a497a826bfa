"""The report a reviewer can sign: executive summary, provenance, sign-off, tagged PDF, honest proxy
findings, mitigation warnings without exception text, readable numbers and charts."""

from __future__ import annotations

import hashlib
import json
import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import fairaudit as fa
from fairaudit import mitigation
from fairaudit.config import load_config
from fairaudit.drift import drift_findings
from fairaudit.mitigation import effect_warnings, recommend
from fairaudit.policy import Policy
from fairaudit.report import charts, fmt
from fairaudit.report.charts import to_svg
from tests.helpers import quiet_audit
from tests.test_privacy import visible_text

MODEL_INFO = {"version": "2.3", "owner": "Credit risk team", "intended_use": "pre-screening of loan requests",
              "positive_decision": "the request goes to an underwriter"}


def decisions(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Decisions with a clear gap by sex (0.5 vs 0.2) and none by age group."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    age = rng.choice(["<25", "25-44", "45-64", "65+"], n)
    y_pred = (rng.random(n) < np.where(sex == "male", 0.5, 0.2)).astype(int)
    y_true = np.where(rng.random(n) < 0.8, y_pred, 1 - y_pred)
    return pd.DataFrame({"sex": sex, "age_group": age, "y": y_true, "pred": y_pred})


@pytest.fixture(scope="module")
def result() -> fa.AuditResult:
    return quiet_audit(None, decisions(), sensitive=["sex", "age_group"], target="y", y_pred="pred", n_boot=100,
                       name="Loan pre-screening 2026-Q1", model_info=MODEL_INFO,
                       data_info={"source": "applications warehouse", "period": "2026-01 to 2026-03"})


# ---------------------------------------------------------------------------- page 1
def test_page_one_is_an_executive_summary(result):
    html = result.to_html()
    text = visible_text(html)
    page_one = text[: text.index("Sign-off")]
    assert "<title>Loan pre-screening 2026-Q1</title>" in html
    for value in ("Loan pre-screening 2026-Q1", "2.3", "Credit risk team", "pre-screening of loan requests",
                  "the request goes to an underwriter", "applications warehouse", "2026-01 to 2026-03", "4,000"):
        assert value in page_one
    failing = {(f.attribute, f.measure) for f in result.findings if f.severity == "fail"}
    assert failing and all("sex" in a for a, _ in failing)  # the simulated gap is by sex only
    assert re.search(r"fails\s+sex\s*:", page_one) and not re.search(r"fails\s+age_group\s*:", page_one)
    for _, measure in failing:
        assert measure.replace("_", " ") in page_one
    assert page_one.count(" fail ") >= len(failing)  # one row per failing measure in the table
    assert 'id="rates-' in html.split('id="signoff"')[0]  # the per-group rate chart is on page 1


def test_undecided_checks_are_listed_with_their_reason():
    data = decisions(n=600, seed=3)
    gap = quiet_audit(None, data, sensitive=["sex"], target="y", y_pred="pred", n_boot=0).measures.loc[
        ("sex", "demographic_parity_difference"), "value"]
    # a limit just under the estimate: the estimate is beyond it, its interval reaches back within it
    small = quiet_audit(None, data, sensitive=["sex"], target="y", y_pred="pred", n_boot=50,
                        policy={"thresholds": {"demographic_parity_difference": round(gap - 0.01, 3)}})
    assert small.verdict == "not_determined"
    text = visible_text(small.to_html())
    page_one = text[: text.index("Sign-off")]
    assert "NOT DETERMINED" in page_one and re.search(r"not decided\s+sex\s*:", page_one)
    undecided = [f for f in small.findings if f.required and f.severity in ("warn", "inconclusive")]
    for finding in undecided:
        assert finding.message in page_one or "interval reaches back within it" in page_one


def test_groups_in_natural_order(result):
    text = visible_text(result.to_html())
    scope = text[text.index("Sensitive attributes and groups"):]
    positions = [scope.index(label) for label in ("<25", "25-44", "45-64", "65+")]
    assert positions == sorted(positions)
    assert fmt.ordered(["65+", "25-44", "(missing)", "<25", "45-64"]) == ["<25", "25-44", "45-64", "65+", "(missing)"]
    assert fmt.ordered(["single", "married"]) == ["single", "married"]  # no numbers: order kept


# ---------------------------------------------------------------------------- numbers and charts
@pytest.mark.parametrize(("value", "text"), [(5.6e-17, "0.000"), (0.561, "0.561"), (4.7e-4, "0.00047"),
                                             (-4.7e-4, "-0.00047"), (-3e-12, "0.000"), (0.0, "0.000")])
def test_numbers_never_in_scientific_notation(value, text):
    assert fmt.number(value) == text
    assert fmt.interval(5.6e-17, 0.561) == "0.000 to 0.561"
    assert fmt.p_value(4.7e-4) == "< 0.001"


def test_charts_have_counts_order_and_no_exponents(result):
    rates = to_svg(result.plot("rates"))
    labels = [label for label in ("&lt;25", "25-44", "45-64", "65+") if label in rates]
    assert len(labels) == 4
    positions = [rates.index(label) for label in labels]  # drawn top to bottom in natural order
    assert positions == sorted(positions) or positions == sorted(positions, reverse=True)
    for group in ("female", "male"):
        assert f"n={int(result.by_group.loc[('sex', group), 'count']):,}" in rates
    heatmap = to_svg(result.plot("heatmap"))
    cell = result.by_group.loc[("sex & age_group", "female & 65+")]
    assert f"n={int(cell['count']):,}" in heatmap and f"{cell['selection_rate']:.3f}" in heatmap
    for svg in (rates, heatmap, to_svg(result.plot("forest"))):
        assert not [t for t in svg.split(">") if "e-0" in t and "<text" in t]


def test_long_crossing_names_are_wrapped(result):
    names = charts.Names(result)
    assert names.group("sex & age_group", "female & 45-64").split("\n") == ["female &", "45-64"]
    assert names.view("sex & age_group").split("\n") == ["sex &", "age_group"]


# ---------------------------------------------------------------------------- provenance and sign-off
def test_provenance_versions_hashes_and_training_rows(result):
    versions = result.metadata["versions"]
    for package in ("numpy", "pandas", "scipy", "scikit-learn", "fairlearn", "shap", "matplotlib", "weasyprint"):
        assert versions[package] and versions[package] != "not installed"
    other = quiet_audit(None, decisions(), sensitive=["sex", "age_group"], target="y", y_pred="pred", n_boot=0,
                        policy={"thresholds": {"demographic_parity_difference": 0.2}})
    assert len(result.metadata["policy_sha256"]) == 64
    assert other.metadata["policy_sha256"] != result.metadata["policy_sha256"]
    same = quiet_audit(None, decisions(), sensitive=["sex"], target="y", y_pred="pred", n_boot=0)
    assert same.metadata["policy_sha256"] == result.metadata["policy_sha256"]  # the default policy both times

    data = decisions(n=1000).assign(trained=lambda d: np.arange(len(d)) < 700)
    overlapping = quiet_audit(None, data, sensitive=["sex"], target="y", y_pred="pred", n_boot=0,
                              train_index="trained")
    warning = [f for f in overlapping.findings if f.code == "FA204"]
    assert len(warning) == 1 and warning[0].severity == "warn" and not warning[0].required
    assert warning[0].value == pytest.approx(0.7) and "700 of the 1,000" in warning[0].message
    assert overlapping.metadata["training_rows_audited"] == 700 and overlapping.metadata["columns"] == 4
    by_labels = quiet_audit(None, data.drop(columns="trained"), sensitive=["sex"], target="y", y_pred="pred",
                            n_boot=0, train_index=data.index[:250])
    assert by_labels.metadata["training_rows_audited"] == 250
    assert "250 of the 1,000 audited rows trained the model" in visible_text(by_labels.to_html())
    with pytest.raises(fa.AuditInputError, match="train_index.*'nope'"):
        fa.audit(None, data, sensitive=["sex"], target="y", y_pred="pred", train_index="nope")



def test_ranking_audits_carry_title_identity_and_training_rows():
    from tests.test_ranking import make_lists

    data = make_lists(0, customers=300)
    data["trained"] = data["customer_id"].isin([f"c{i}" for i in range(100)])  # the first 100 lists
    options = dict(sensitive="sex", query="customer_id", item="offer", target="clicked", favorable=["premium"],
                   top_k=2, y_rank="rank", n_boot=0)
    ranked = quiet_audit(None, data, **options, name="Offer ranking 2026-Q1", model_info=MODEL_INFO,
                         data_info={"source": "offers log", "period": "2026-01"}, train_index="trained")
    meta = ranked.metadata
    assert meta["task"] == "ranking" and meta["name"] == "Offer ranking 2026-Q1"
    assert meta["model_info"]["owner"] == "Credit risk team" and meta["data_info"]["source"] == "offers log"
    assert len(meta["policy_sha256"]) == 64
    trained_rows = int(data["trained"].sum())
    assert meta["training_rows_audited"] == trained_rows
    assert meta["columns"] == len(data.columns) - 1  # the marking column is not an input
    warning = [f for f in ranked.findings if f.code == "FA204"]
    assert len(warning) == 1 and warning[0].value == pytest.approx(trained_rows / len(data))
    text = visible_text(ranked.to_html())
    page_one = text[: text.index("Sign-off")]
    for value in ("Offer ranking 2026-Q1", "Credit risk team", "offers log", "2026-01",
                  f"{trained_rows:,} of the {len(data):,} audited rows"):
        assert value in page_one
    plain = quiet_audit(None, data.drop(columns="trained"), **options)
    assert "name" not in plain.metadata and "training_rows_audited" not in plain.metadata
    with pytest.raises(fa.AuditInputError, match="train_index.*'nope'"):
        fa.audit(None, data, **options, train_index="nope")

def test_config_keys_and_file_hashes(tmp_path):
    data = decisions(n=500)
    data.to_csv(tmp_path / "d.csv", index=False)
    text = ("name: screening\ntitle: Loan screening audit\ndata: d.csv\ny_pred: pred\ntarget: y\n"
            "sensitive: [sex]\nmodel_info: {version: '1.4', owner: Risk}\ndata_info: {period: 2026-Q1}\n")
    (tmp_path / "audit.yaml").write_text(text)
    config = load_config(tmp_path / "audit.yaml")
    assert config.sha256 == hashlib.sha256(text.encode()).hexdigest()
    options = config.audit_options()
    assert options["name"] == "Loan screening audit"
    assert options["model_info"] == {"version": "1.4", "owner": "Risk"}
    assert options["data_info"] == {"source": "d.csv", "period": "2026-Q1"}
    audited = quiet_audit(None, config.load_data(), **{**options, "n_boot": 0})
    assert audited.metadata["name"] == "Loan screening audit" and audited.metadata["model_info"]["owner"] == "Risk"



CARD = "model_card: {intended_use: Screens loan requests., data_period: 2025-Q3}\n"


def _config(folder: Path, extra: str) -> Path:
    decisions(n=400).to_csv(folder / "d.csv", index=False)
    path = folder / "audit.yaml"
    path.write_text("name: screening\ndata: d.csv\ny_pred: pred\ntarget: y\nsensitive: [sex]\nn_boot: 0\n" + extra)
    return path


def test_model_card_key_is_read_into_model_info_with_a_deprecation_warning(tmp_path):
    from fairaudit.config import ConfigDeprecationWarning

    with pytest.warns(ConfigDeprecationWarning, match=r"'model_card' is deprecated.*'model_info: \{intended_use: "
                                                      r"\.\.\.\}'.*'data_info: \{period: \.\.\.\}'"):
        config = load_config(_config(tmp_path, CARD + "model_info: {owner: Risk}\n"))
    options = config.audit_options()
    assert "model_card" not in config.spec
    assert options["model_info"] == {"owner": "Risk", "intended_use": "Screens loan requests."}
    assert options["data_info"] == {"source": "d.csv", "period": "2025-Q3"}
    audited = quiet_audit(None, config.load_data(), **options)
    card = audited.model_card()
    assert "Screens loan requests." in card and "| period | 2025-Q3 |" in card and "**Owners:** Risk" in card
    text = visible_text(audited.to_html())
    assert "Screens loan requests." in text[: text.index("Sign-off")]  # page 1 and the card read one place


def test_model_card_disagreeing_with_model_info_is_an_error(tmp_path):
    from fairaudit.config import ConfigError

    with pytest.raises(ConfigError, match=r"'model_card.data_period' \('2025-Q3'\) and 'data_info.period' "
                                          r"\('2026-Q1'\) disagree.*keep only 'data_info.period'"):
        load_config(_config(tmp_path, CARD + "data_info: {period: 2026-Q1}\n"))
    with pytest.warns(FutureWarning):  # the same value in both places: only the deprecation
        load_config(_config(tmp_path, CARD + "data_info: {period: 2025-Q3}\n"))


def test_one_place_for_intended_use_and_period(tmp_path):
    import warnings

    from fairaudit.config import schema

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new keys warn about nothing
        config = load_config(_config(tmp_path, "model_info: {intended_use: Screens loan requests., name: Screener, "
                                               "version: '3'}\ndata_info: {period: 2025-Q3}\n"))
    audited = quiet_audit(None, config.load_data(), **config.audit_options())
    card = audited.model_card()
    assert "**Name:** Screener" in card and "**Version:** 3" in card and "Screens loan requests." in card
    assert "| period | 2025-Q3 |" in card and "| source | d.csv |" in card
    assert "intended use was not stated" not in card
    assert schema()["properties"]["model_card"]["deprecated"] is True
    # a result saved by an earlier version kept metadata.model_card: loading reads it into the one place
    payload = json.loads(audited.to_json())
    payload["metadata"].pop("model_info")
    payload["metadata"]["data_info"] = {"source": "d.csv"}
    payload["metadata"]["model_card"] = {"intended_use": "Old use.", "data_period": "1994"}
    (tmp_path / "old.json").write_text(json.dumps(payload))
    old = fa.load(tmp_path / "old.json")
    assert "model_card" not in old.metadata
    assert old.metadata["model_info"] == {"intended_use": "Old use."}
    assert old.metadata["data_info"] == {"source": "d.csv", "period": "1994"}


def test_the_command_line_says_the_key_is_deprecated_unless_quiet(tmp_path):
    from tests.test_cli_run import fairaudit

    path = _config(tmp_path, CARD)
    loud = fairaudit("run", str(path), "--out", "out", "--format", "json", cwd=tmp_path)
    assert loud.returncode == 1 and "ConfigDeprecationWarning: Config key 'model_card' is deprecated" in loud.stderr
    quiet = fairaudit("run", str(path), "--out", "out", "--format", "json", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 1 and quiet.stderr == ""
    saved = json.loads((tmp_path / "out" / "screening" / "latest" / "audit.json").read_text())
    assert saved["metadata"]["model_info"]["intended_use"] == "Screens loan requests."
    assert "model_card" not in saved["metadata"]

def test_model_file_hash_from_config(tmp_path):
    import skops.io

    data = decisions(n=300)
    model = LogisticRegression().fit(pd.get_dummies(data[["age_group"]], dtype=float), data["y"])
    skops.io.dump(model, tmp_path / "m.skops")
    (tmp_path / "a.yaml").write_text("name: m\ndata: d.csv\nmodel: m.skops\ntarget: y\nsensitive: [sex]\n")
    options = load_config(tmp_path / "a.yaml").audit_options()
    assert options["model_info"]["file_sha256"] == hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()


def test_signoff_block_and_tagged_pdf_metadata(result):
    text = visible_text(result.to_html())
    signoff = text[text.index("Sign-off"):text.index("Contents")]
    for words in ("approve", "approve with conditions", "reject", "Conditions", "Comments", "Next review by",
                  "First reviewer", "Second reviewer", "Signature"):
        assert words in signoff
    pdf = result.to_pdf()
    document = pdfium.PdfDocument(BytesIO(pdf))
    meta = document.get_metadata_dict()
    assert meta["Title"] == "Loan pre-screening 2026-Q1" and meta["Author"] == "Credit risk team"
    assert meta["Subject"] == "Group fairness audit: FAILED"
    assert meta["CreationDate"].startswith("D:" + result.metadata["created_utc"][:10].replace("-", ""))
    root = PdfReader(BytesIO(pdf)).trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]  # tagged


# ---------------------------------------------------------------------------- proxies (german credit)
@pytest.fixture(scope="module")
def german() -> fa.AuditResult:
    """The german model takes raw personal_status_sex (from which sex is derived); 25 people's sex missing."""
    data = fa.load_dataset("german_credit").copy()
    data["sex"] = data["sex"].astype(object)
    data.loc[data.sample(25, random_state=1).index, "sex"] = np.nan
    features = [c for c in data.columns if c not in ("good_credit", "sex", "age_group")]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(data[c])]
    numeric = [c for c in features if c not in categorical]
    assert "personal_status_sex" in categorical
    model = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), categorical),
                                                  (StandardScaler(), numeric)), LogisticRegression(max_iter=1000))
    model.fit(data[features], data["good_credit"])
    return quiet_audit(model, data, sensitive=["sex", "age_group"], target="good_credit", features=features,
                       n_boot=100, explain=True)


def test_german_credit_is_never_passed(german):
    assert german.verdict in ("failed", "not_determined") and not german.passed
    assert ("PASSED" not in visible_text(german.to_html()).split("Sign-off")[0])


def test_an_input_derived_from_the_attribute_is_fa302(german):
    sex = [f for f in german.findings if f.code == "FA302" and f.attribute == "sex"]
    assert len(sex) == 1 and sex[0].severity == "warn"
    assert "personal_status_sex" in sex[0].message and "encodes sex" in sex[0].message
    proxies = german.explanations.proxies
    assert proxies.loc[("sex", "personal_status_sex"), "association"] > 0.95  # the detection's own evidence


def test_fa301_wording_matches_its_evidence(german):
    for finding in (f for f in german.findings if f.code == "FA301" and f.severity == "pass"):
        if finding.value >= 0.75:  # a close tracking: the message must say why it still passes
            assert "carries" in finding.message and "of the model's reasoning" in finding.message
        else:
            assert "under 0.75" in finding.message


# ---------------------------------------------------------------------------- recommendations
def _effect(rows: dict[str, tuple[float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame([(b, np.nan, np.nan, a, np.nan, np.nan) for b, a in rows.values()],
                         index=pd.Index(list(rows), name="measure"),
                         columns=["before", "before_ci_low", "before_ci_high", "after", "after_ci_low",
                                  "after_ci_high"])
    return frame


def test_warnings_for_collapse_new_failures_and_accuracy():
    policy = Policy.coerce(None)
    warned = effect_warnings(_effect({"disparate_impact_ratio (marital)": (0.85, 0.599),
                                      "demographic_parity_difference (marital)": (0.05, 0.02),
                                      "balanced_accuracy": (0.876, 0.790), "selection_rate": (0.131, 0.009)}),
                             policy)
    assert len(warned) == 3
    assert "0.131 to 0.009" in warned[0] and "93%" in warned[0]
    assert "disparate impact ratio (marital)" in warned[1] and "0.599" in warned[1]
    assert "0.876 to 0.790" in warned[2]
    calm = effect_warnings(_effect({"disparate_impact_ratio (marital)": (0.7, 0.9), "balanced_accuracy": (0.8, 0.78),
                                    "selection_rate": (0.2, 0.11)}), policy)
    assert calm == ()  # a 45% fall, a fixed failure and 2 points of accuracy are not warned about


def test_a_failed_mitigation_reports_code_and_reason_not_its_text(monkeypatch):
    data = decisions(n=800)
    data["x"] = (data["sex"] == "male") + np.random.default_rng(0).normal(size=len(data))
    model = LogisticRegression().fit(data[["x"]], data["y"])
    secret = "Degenerate labels for sensitive feature value female,65+"

    def broken(*args):
        raise ValueError(secret)

    monkeypatch.setitem(mitigation.RUNNERS, "reweighing", broken)
    findings = quiet_audit(model, data, sensitive=["sex"], target="y", features=["x"], n_boot=0).findings
    recs = recommend(model, data, features=["x"], attributes=["sex"], y_true=data["y"].to_numpy(), threshold=0.5,
                     findings=findings, policy=Policy.coerce(None), confidence=0.95, random_state=0)
    failed = next(r for r in recs if r.mitigation == "reweighing")
    assert failed.warnings and failed.warnings[0].startswith("Not simulated (ValueError)")
    shown = fa.AuditResult(**{**quiet_audit(model, data, sensitive=["sex"], target="y", features=["x"],
                                            n_boot=0).__dict__, "recommendations": recs})
    for text in (shown.to_html(), shown.to_json()):
        assert "Degenerate" not in text and "female,65+" not in text
    measured = [r for r in recs if r.effect is not None]
    assert measured and all(r.held_out_rows == 400 for r in measured)
    html = visible_text(shown.to_html())
    assert "on the same other half (400 rows" in html and "ranked: first those" in html
    assert not re.search(r"· score \d", html)  # the ranking is said in words, not as a bare number


def test_unchanged_measures_are_not_counted_as_regression_checks():
    table = pd.DataFrame({"old": [0.2, 0.2], "new": [0.2, 0.3], "change": [0.0, 0.1], "change_ci_low": [0.0, 0.07],
                          "change_ci_high": [0.0, 0.15], "worsening": [0.0, 0.1]},
                         index=pd.MultiIndex.from_tuples([("sex", "demographic_parity_difference"),
                                                          ("age", "demographic_parity_difference")],
                                                         names=["attribute", "measure"]))
    findings = drift_findings(table, 0.05)
    assert [(f.attribute, f.severity) for f in findings] == [("age", "fail")]


def test_json_carries_provenance_and_validates(result):
    import jsonschema

    payload = json.loads(result.to_json())
    schema = json.loads((Path(fa.__file__).parent / "schema" / "audit.schema.json").read_text())
    jsonschema.validate(payload, schema)
    assert payload["metadata"]["name"] == "Loan pre-screening 2026-Q1"
    assert payload["metadata"]["model_info"]["owner"] == "Credit risk team"
