"""The bad-input matrix: what a hostile or careless user passes, through the API and through the CLI.

Every case asserts the exact outcome: an error of the documented type whose message names the argument,
column, key or file (exit 2 on the command line), or a correct audit that drops no row.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fairaudit as fa
from fairaudit.cli import main
from fairaudit.config import ConfigError
from fairaudit.policy import PolicyError

ROWS = 400


def base() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    g = rng.choice(["a", "b", "c"], ROWS)
    x = rng.normal(size=ROWS) + 0.3 * (g == "a")
    return pd.DataFrame({
        "g": g, "h": rng.choice(["x", "y"], ROWS), "x": x,
        "y": (rng.random(ROWS) < 1 / (1 + np.exp(-x))).astype(int),
        "p": (x > 0).astype(int), "s": 1 / (1 + np.exp(-x)), "w": rng.uniform(0.5, 2, ROWS),
    })


def put(column: str, values: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = values(frame) if callable(values) else values
        return frame
    return change


def cycle(*values: Any) -> Callable[[pd.DataFrame], Any]:
    return lambda frame: pd.Series(np.resize(np.array(values, dtype=object), len(frame)), index=frame.index)


def nan_at(column: str, rows: list[int]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = frame[column].astype(float if frame[column].dtype.kind in "iufb" else object)
        frame.loc[rows, column] = np.nan
        return frame
    return change


def same(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@dataclass
class Case:
    """One bad input: the data change, the audit options, and the error (type and message fragment)."""

    id: str
    change: Callable[[pd.DataFrame], pd.DataFrame]
    options: dict[str, Any]
    error: type[Exception]
    message: str
    cli: bool = True  # expressible as a data file and a YAML config
    marks: list = field(default_factory=list)


PRED = {"sensitive": "g", "y_pred": "p", "target": "y"}
SCORE = {"sensitive": "g", "y_score": "s", "target": "y"}

CASES = [
    # unknown columns, named with a suggestion
    Case("unknown-sensitive", same, {**PRED, "sensitive": "gg"}, fa.AuditInputError,
         "'sensitive' argument names column 'gg', which is not in data. Did you mean 'g'"),
    Case("unknown-target", same, {**PRED, "target": "yy"}, fa.AuditInputError, "'target' argument names column 'yy'"),
    Case("unknown-y_pred", same, {**PRED, "y_pred": "pp"}, fa.AuditInputError, "'y_pred' argument names column 'pp'"),
    Case("unknown-y_score", same, {**SCORE, "y_score": "ss"}, fa.AuditInputError,
         "'y_score' argument names column 'ss'"),
    Case("unknown-weight", same, {**PRED, "sample_weight": "ww"}, fa.AuditInputError,
         "'sample_weight' argument names column 'ww'"),
    Case("unknown-feature", same, {**PRED, "features": ["xx"]}, fa.AuditInputError,
         "'features' argument names column 'xx'"),
    Case("sensitive-twice", same, {**PRED, "sensitive": ["g", "g"]}, fa.AuditInputError, "names column 'g' twice"),
    # labels: binary, one type, pos_label for anything but 0/1
    Case("target-0-1-2", put("y", cycle(0, 1, 2)), PRED, fa.AuditInputError,
         "target column 'y' has 3 distinct values (0, 1, 2); a binary audit needs two"),
    Case("target-0-half-1", put("y", cycle(0.0, 0.5, 1.0)), PRED, fa.AuditInputError,
         "target column 'y' has 3 distinct values"),
    Case("target-3-with-pos_label", put("y", cycle("lo", "mid", "hi")), {**PRED, "pos_label": "hi"},
         fa.AuditInputError, "target column 'y' has 3 distinct values"),
    Case("y_pred-0-1-2", put("p", cycle(0, 1, 2)), PRED, fa.AuditInputError, "y_pred column 'p' has 3 distinct values"),
    Case("target-1-2-needs-pos_label", put("y", cycle(1, 2)), PRED, fa.AuditInputError,
         "target column 'y' has values 1, 2, not 0/1: say which one is favourable with pos_label="),
    Case("target-yes-no-needs-pos_label", put("y", cycle("no", "yes")), PRED, fa.AuditInputError,
         "target column 'y' has values 'no', 'yes', not 0/1"),
    Case("target-wrong-pos_label", put("y", cycle("no", "yes")), {**PRED, "pos_label": "Yes"}, fa.AuditInputError,
         "pos_label='Yes' is not one of them"),
    Case("y_pred-strings-needs-pos_label", put("p", cycle("deny", "grant")), {**PRED, "target": None},
         fa.AuditInputError, "y_pred column 'p' has values 'deny', 'grant', not 0/1"),
    Case("target-mixed-1-'1'", put("y", cycle(1, "1", 0)), PRED, fa.AuditInputError,
         "target column 'y' mixes value types (number, text)", cli=False),
    Case("y_pred-mixed", put("p", cycle(0, "1")), PRED, fa.AuditInputError, "y_pred column 'p' mixes value types",
         cli=False),
    Case("target-nan-names-column", lambda f: nan_at("lbl", [3])(f.rename(columns={"y": "lbl"})),
         {**PRED, "target": "lbl"}, fa.AuditInputError, "target column 'lbl' has 1 missing value"),
    Case("y_pred-nan", nan_at("p", [1, 2]), PRED, fa.AuditInputError, "y_pred column 'p' has 2 missing value"),
    # scores
    Case("score-nan", nan_at("s", [0]), SCORE, fa.AuditInputError, "y_score column 's' has 1 missing value"),
    Case("score-outside-0-1", put("s", lambda f: f["s"] * 4 - 2), SCORE, fa.AuditInputError,
         "y_score column 's' has"),
    Case("score-infinite", put("s", cycle(0.2, np.inf)), SCORE, fa.AuditInputError, "infinite score"),
    Case("score-text", put("s", cycle("high", "low")), SCORE, fa.AuditTypeError,
         "y_score column 's' must hold numeric scores"),
    Case("score-task-with-y_pred", same, {**PRED, "task": "score"}, fa.AuditInputError, "pass y_score=, not y_pred="),
    # weights
    Case("weight-negative", put("w", cycle(1.0, -1.0)), {**PRED, "sample_weight": "w"}, fa.AuditInputError,
         "sample_weight column 'w' has 200 negative value(s)"),
    Case("weight-nan", nan_at("w", [5]), {**PRED, "sample_weight": "w"}, fa.AuditInputError,
         "sample_weight column 'w' has 1 missing value"),
    Case("weight-infinite", put("w", cycle(1.0, np.inf)), {**PRED, "sample_weight": "w"}, fa.AuditInputError,
         "sample_weight column 'w' has infinite values"),
    Case("weight-zero", put("w", 0.0), {**PRED, "sample_weight": "w"}, fa.AuditInputError, "sums to 0"),
    Case("weight-1e308-overflow", put("w", 1e308), {**PRED, "sample_weight": "w"}, fa.AuditInputError,
         "sample_weight column 'w' holds weights too large"),
    Case("weight-1e200-overflow", put("w", 1e200), {**PRED, "sample_weight": "w"}, fa.AuditInputError,
         "divide them by their mean"),
    Case("weight-text", put("w", cycle("heavy", "light")), {**PRED, "sample_weight": "w"}, fa.AuditTypeError,
         "sample_weight column 'w' must be numeric"),
    # sensitive groups
    Case("literal-missing-with-nan", lambda f: nan_at("g", [0, 1])(put("g", cycle("a", "(missing)"))(f)), PRED,
         fa.AuditInputError, "Sensitive column 'g' has the value '(missing)'"),
    Case("literal-missing-alone", put("g", cycle("a", "(missing)")), PRED, fa.AuditInputError,
         "the name fairaudit gives to missing values"),
    Case("too-many-groups", put("g", lambda f: np.arange(len(f)) % 60), PRED, fa.AuditInputError,
         "Sensitive column 'g' has 60 distinct values, more than the limit"),
    Case("sensitive-1-and-'1'", put("g", cycle(1, "1", 2)), PRED, fa.AuditInputError,
         "Column 'g' has distinct values 1 and '1' that read the same", cli=False),
    Case("crossing-labels-collide", lambda f: f.assign(g=np.resize(["p & q", "p"], len(f)),
                                                       h=np.resize(["r", "r", "q & r", "q & r"], len(f))),
         {**PRED, "sensitive": ["g", "h"]}, fa.AuditInputError,
         "groups ('p', 'q & r') and ('p & q', 'r') would both be reported as 'p & q & r'"),
    Case("crossing-names-collide", lambda f: f.assign(**{"a & b": f["g"], "c": f["h"], "a": f["g"], "b & c": f["h"]}),
         {**PRED, "sensitive": ["a & b", "c", "a", "b & c"]}, fa.AuditInputError,
         "would both be reported as 'a & b & c'"),
    Case("sensitive-empty-list", same, {**PRED, "sensitive": []}, fa.AuditInputError, "'sensitive' argument is empty",
         cli=False),
    # data
    Case("duplicated-columns", lambda f: pd.concat([f, f[["y"]]], axis=1), PRED, fa.AuditInputError,
         "has the column name 'y' more than once", cli=False),
    Case("empty-data", lambda f: f.iloc[:0], PRED, fa.AuditInputError, "'data' argument has no rows"),
    Case("no-predictions", same, {"sensitive": "g", "target": "y"}, fa.AuditInputError, "No predictions to audit",
         cli=False),
    # options
    Case("threshold-nan", same, {**SCORE, "threshold": float("nan")}, fa.AuditInputError,
         "'threshold' argument must be a finite number", cli=False),
    Case("confidence-1.5", same, {**PRED, "confidence": 1.5}, fa.AuditInputError,
         "'confidence' argument must be a float in (0, 1)", cli=False),
    Case("n_boot-negative", same, {**PRED, "n_boot": -1}, fa.AuditInputError, "'n_boot' argument must be an integer",
         cli=False),
    Case("task-unknown", same, {**PRED, "task": "multiclass"}, fa.AuditInputError, "'task' argument must be one of",
         cli=False),
    Case("top_k-fraction-too-big", same, {**SCORE, "top_k": 1.5}, fa.AuditInputError,
         "'top_k' argument 1.5 is a fraction outside (0, 1]", cli=False),
    Case("top_k-with-y_pred", same, {**PRED, "y_score": "s", "top_k": 0.2}, fa.AuditInputError,
         "The 'y_pred' argument ('p') gives the decisions, and the 'top_k' argument would decide from the scores"),
    Case("favorable-on-binary", same, {**PRED, "favorable": ["a"]}, fa.AuditInputError,
         "'favorable' argument applies to task='segmentation'"),
    Case("one-segment", put("p", "tier-1"), {"sensitive": "g", "y_pred": "p", "task": "segmentation"},
         fa.AuditInputError, "assigns every row to one segment"),
    Case("explain-without-model", same, {**PRED, "explain": True}, fa.AuditInputError,
         "'explain' argument needs the model itself"),
    Case("mitigate-without-model", same, {**PRED, "mitigate": True}, fa.AuditInputError,
         "'mitigate' argument needs a model"),
    # policies
    Case("policy-unknown-key", same, {**PRED, "policy": {"thresold": 0.1}}, PolicyError,
         "Unknown policy key 'thresold'"),
    Case("policy-unknown-measure", same, {**PRED, "policy": {"thresholds": {"foo": 0.1}}}, PolicyError,
         "Policy key 'thresholds.foo' is not a measure"),
    Case("policy-impossible-threshold", same, {**PRED, "policy": {"thresholds": {"disparate_impact_ratio": 1.5}}},
         PolicyError, "'thresholds.disparate_impact_ratio' is 1.5, impossible"),
    Case("policy-unknown-attribute", same, {**PRED, "policy": {"attributes": ["zz"]}}, PolicyError,
         "Policy key 'attributes' names 'zz'"),
]


def _ids(cases: list[Case]) -> list:
    return [pytest.param(case, id=case.id, marks=case.marks) for case in cases]


def _options(case: Case) -> dict[str, Any]:
    return {"n_boot": 0, **{k: v for k, v in case.options.items() if v is not None}}


@pytest.mark.parametrize("case", _ids(CASES))
def test_api_refuses_with_a_message_naming_the_input(case: Case):
    data = case.change(base())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(case.error) as raised:
            fa.audit(None, data, **_options(case))
    assert case.message in str(raised.value)


def _cli(tmp_path: Path, config: dict[str, Any], *args: str, capsys: Any) -> tuple[int, str, str]:
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    code = main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "reports"), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _config(case: Case, data: str) -> dict[str, Any]:
    return {"name": "bad", "data": data, **_options(case)}


@pytest.mark.parametrize("case", _ids([c for c in CASES if c.cli]))
def test_cli_exits_2_with_the_same_message(case: Case, tmp_path: Path, capsys):
    case.change(base()).to_parquet(tmp_path / "data.parquet")
    code, _, err = _cli(tmp_path, _config(case, "data.parquet"), "--format", "json", capsys=capsys)
    assert code == 2, err
    assert case.message in err and "Traceback" not in err


# ---------------------------------------------------------------------------- the engine layer (issue 16)
ENGINE_CASES = [
    Case("duckdb-target-0-1-2", put("y", cycle(0, 1, 2)), PRED, fa.AuditInputError,
         "target column 'y' has 3 distinct values"),
    Case("duckdb-target-1-2-needs-pos_label", put("y", cycle(1, 2)), PRED, fa.AuditInputError,
         "not 0/1: say which one is favourable"),
    Case("duckdb-literal-missing", put("g", cycle("a", "(missing)")), PRED, fa.AuditInputError,
         "Sensitive column 'g' has the value '(missing)'"),
    Case("duckdb-target-nan-names-column", nan_at("y", [3]), PRED, fa.AuditInputError,
         "target column 'y' has 1 missing value"),
    Case("duckdb-unknown-sensitive", same, {**PRED, "sensitive": "gg"}, fa.AuditInputError,
         "'sensitive' argument names column 'gg'"),
    Case("duckdb-y_pred-and-top_k", same, {**PRED, "y_score": "s", "top_k": 10}, fa.AuditInputError,
         "The 'y_pred' argument ('p') gives the decisions"),
    Case("duckdb-negative-weight", put("w", cycle(1.0, -1.0)), {**PRED, "sample_weight": "w"}, fa.AuditInputError,
         "negative value"),
]


@pytest.mark.parametrize("case", _ids(ENGINE_CASES))
def test_engine_inputs_are_validated_like_pandas(case: Case, tmp_path: Path):
    case.change(base()).to_parquet(tmp_path / "data.parquet")
    with pytest.raises(case.error) as raised:
        fa.audit(None, str(tmp_path / "data.parquet"), **_options(case))
    assert case.message in str(raised.value)


def test_duckdb_keeps_csv_headers_with_leading_spaces(tmp_path: Path):
    base().rename(columns={"g": " lead"}).to_csv(tmp_path / "data.csv", index=False)
    result = fa.audit(None, str(tmp_path / "data.csv"), sensitive=" lead", y_pred="p", target="y", n_boot=0)
    assert result.metadata["sensitive"] == [" lead"]


# ---------------------------------------------------------------------------- the command line
GOOD = {"name": "good", "data": "data.parquet", "sensitive": "g", "target": "y", "y_pred": "p", "n_boot": 0}
NEWER = json.dumps({"schema_version": "999.0"})

CLI_CASES = [
    ("name-dot-dot", {"name": ".."}, {}, [], "Config key 'name' is '..'"),
    ("name-dot", {"name": "."}, {}, [], "Config key 'name' is '.'"),
    ("name-slash", {"name": "a/../../b"}, {}, [], "Config key 'name'"),
    ("name-absolute", {"name": "/tmp/x"}, {}, [], "Config key 'name'"),
    ("name-hidden", {"name": ".tmp-1"}, {}, [], "Config key 'name'"),
    ("name-too-long", {"name": "a" * 101}, {}, [], "Config key 'name'"),
    ("unknown-key", {"thresold": 0.5}, {}, [], "Unknown config key 'thresold'"),
    ("wrong-type", {"n_boot": "many"}, {}, [], "Config key 'n_boot' is invalid"),
    ("data-missing", {"data": "nowhere.csv"}, {}, [], "Config key 'data': file"),
    ("data-unknown-format", {"data": "data.xlsx"}, {"data.xlsx": "x"}, [], "neither a CSV nor a Parquet file"),
    ("policy-file-missing", {"policy": "nowhere.yaml"}, {}, [], "Config key 'policy': file"),
    ("model-and-y_pred", {"model": "m.skops"}, {}, [], "exclude each other"),
    ("model-file-missing", {"model": "m.skops", "y_pred": None}, {}, [], "does not exist"),
    ("pickle-untrusted", {"model": "m.pkl", "y_pred": None}, {"m.pkl": "pickle"}, [], "loading it runs any code"),
    ("pickle-renamed-skops", {"model": "m.skops", "y_pred": None}, {"m.skops": "pickle"}, [], "is not a skops file"),
    ("model-unknown-suffix", {"model": "m.onnx", "y_pred": None}, {"m.onnx": "x"}, [], "unknown format '.onnx'"),
    ("entry-point-beside-config", {"model": "scoring:score", "y_pred": None},
     {"scoring.py": "def score(X):\n    return X.iloc[:, 0] * 0\n"}, [], "'trusted: true'"),
    ("entry-point-missing", {"model": "no_such_module_xyz:score", "y_pred": None}, {}, [], "cannot import"),
    ("format-unknown", {}, {}, ["--format", "docx"], "--format 'docx' is not one of"),
    ("baseline-missing", {}, {}, ["--baseline", "nowhere.json"], "Baseline audit 'nowhere.json' does not exist"),
    ("baseline-not-json", {}, {"old.json": "not json {"}, ["--baseline", "old.json"],
     "is not an audit JSON saved by fairaudit"),
    ("baseline-binary", {}, {"old.json": b"\x89PNG\xff\xfe"}, ["--baseline", "old.json"],
     "is not an audit JSON saved by fairaudit"),
    ("baseline-newer-schema", {}, {"old.json": NEWER}, ["--baseline", "old.json"], "newer than the"),
    ("baseline-not-an-audit", {}, {"old.json": "[1, 2]"}, ["--baseline", "old.json"], "The baseline file"),
    ("baseline-no-version", {}, {"old.json": "{}"}, ["--baseline", "old.json"], "no 'schema_version'"),
    ("baseline-key-not-json", {"baseline": "old.json"}, {"old.json": "nope"}, [], "The baseline file"),
]


def _files(tmp_path: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        if content == "pickle":
            (tmp_path / name).write_bytes(pickle.dumps({"not": "a model"}))
        elif isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            (tmp_path / name).write_text(content)


@pytest.mark.parametrize("change, files, args, message", [pytest.param(*c[1:], id=c[0]) for c in CLI_CASES])
def test_cli_bad_config_or_file_exits_2_naming_it(change, files, args, message, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base().to_parquet(tmp_path / "data.parquet")
    _files(tmp_path, files)
    config = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    code, out, err = _cli(tmp_path, config, *(args or ["--format", "json"]), capsys=capsys)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path.parent / "latest").exists()
    reports = tmp_path / "reports"
    assert not reports.exists() or all(p.name in ("good", "bad") for p in reports.iterdir())
    assert not list(reports.glob("*/20*")), "a refused run leaves no report folder"


@pytest.mark.parametrize("old, new, message", [
    pytest.param("not json", "audit", "The old file", id="compare-old-not-json"),
    pytest.param("audit", NEWER, "newer than the", id="compare-new-newer-schema"),
    pytest.param("{}", "audit", "no 'schema_version'", id="compare-old-not-an-audit"),
    pytest.param("audit", None, "No such file", id="compare-new-missing"),
])
def test_compare_refuses_files_that_are_not_audits(old, new, message, tmp_path: Path, capsys):
    audit_json = tmp_path / "audit.json"
    fa.audit(None, base(), sensitive="g", y_pred="p", target="y", n_boot=0).to_json(audit_json)
    paths = []
    for i, content in enumerate((old, new)):
        path = tmp_path / f"{i}.json"
        if content == "audit":
            path = audit_json
        elif content is not None:
            path.write_text(content)
        paths.append(str(path))
    code = main(["compare", *paths])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err


def test_degenerate_audit_is_not_determined(tmp_path: Path, capsys):
    base().assign(g="a").to_parquet(tmp_path / "data.parquet")
    config = {**GOOD, "name": "one"}
    assert fa.audit(None, base().assign(g="a"), sensitive="g", y_pred="p", target="y", n_boot=0).verdict == \
        "not_determined"
    code, out, _ = _cli(tmp_path, config, "--format", "json", capsys=capsys)
    assert code == 4 and out.startswith("NOT DETERMINED: one")
    code, _, _ = _cli(tmp_path, config, "--format", "json", "--fail-on", "warn", capsys=capsys)
    assert code == 1
    code, out, _ = _cli(tmp_path, config, "--format", "json", "--json", capsys=capsys)
    payload = json.loads(out)
    assert code == 4 and payload["verdict"] == "not_determined" and payload["exit_code"] == 4


# ---------------------------------------------------------------------------- inputs that work, exactly
def _rates(result: fa.AuditResult, attribute: str = "g") -> pd.Series:
    return result.by_group.loc[attribute, "selection_rate"]


def test_series_arguments_line_up_by_index_not_position():
    data = base()
    shuffled = data["g"].sample(frac=1, random_state=3)
    by_name = fa.audit(None, data, sensitive="g", y_pred="p", target="y", n_boot=0)
    by_series = fa.audit(None, data, sensitive=shuffled, y_pred=data["p"].sample(frac=1, random_state=4),
                         target="y", n_boot=0)
    pd.testing.assert_series_equal(_rates(by_series), _rates(by_name))
    expected = data.groupby("g")["p"].mean()
    assert _rates(by_name).to_numpy() == pytest.approx(expected.to_numpy())
    positional = fa.audit(None, data, sensitive=shuffled.to_numpy(), y_pred="p", target="y", n_boot=0)
    counts = positional.by_group["count"].droplevel(0)
    assert counts.to_dict() == shuffled.value_counts().to_dict()  # arrays are taken by position, as documented


@pytest.mark.parametrize("index", [
    pytest.param(lambda i: i + 1, id="shifted"),
    pytest.param(lambda i: pd.Index([0] * len(i)), id="repeated"),
    pytest.param(lambda i: i.astype(str), id="other-type"),
])
def test_series_with_another_index_is_refused(index):
    data = base()
    series = data["g"].set_axis(index(data.index))
    with pytest.raises(fa.AuditInputError, match="'sensitive' argument is a Series whose index does not match"):
        fa.audit(None, data, sensitive=series, y_pred="p", target="y", n_boot=0)


@pytest.mark.parametrize("labels, pos_label, positive", [
    pytest.param((False, True), None, True, id="bool"),
    pytest.param((0.0, 1.0), None, 1.0, id="float-0-1"),
    pytest.param(("no", "yes"), "yes", "yes", id="strings-with-pos_label"),
    pytest.param((1, 2), 2, 2, id="1-2-with-pos_label"),
    pytest.param((0,), None, 1, id="all-negative"),
    pytest.param(("approved",), "approved", "approved", id="one-value-is-pos_label"),
])
def test_binary_labels_that_work(labels, pos_label, positive):
    data = base()
    data["y"] = np.resize(np.array(labels, dtype=object), len(data)).astype(type(labels[0]))
    data["p"] = np.where(data["p"] == 1, positive, labels[0]).astype(type(labels[0]))  # pos_label fits both
    result = fa.audit(None, data, sensitive="g", y_pred="p", target="y", pos_label=pos_label, n_boot=0)
    assert result.overall.loc["base_rate", "value"] == pytest.approx((data["y"] == positive).mean())


def test_missing_sensitive_values_are_a_group_and_no_row_is_dropped():
    data = nan_at("g", [0, 1, 2])(base())
    with pytest.warns(fa.MissingSensitiveValueWarning, match="'g' has 3 missing"):
        result = fa.audit(None, data, sensitive="g", y_pred="p", target="y", n_boot=0)
    assert result.by_group.loc[("g", "(missing)"), "count"] == 3
    assert result.by_group.loc["g", "count"].sum() == ROWS


@pytest.mark.parametrize("values, names", [
    pytest.param([1, 2, 3], ["1", "2", "3"], id="integers"),
    pytest.param([1.0, 2.0], ["1", "2"], id="whole-floats"),
    pytest.param(["ä", "名前", "🙂"], ["ä", "名前", "🙂"], id="unicode"),
    pytest.param([True, False], ["0", "1"], id="bools"),  # as every engine names them
])
def test_group_names(values, names):
    data = base().assign(g=lambda f: np.resize(np.array(values), len(f)))
    result = fa.audit(None, data, sensitive="g", y_pred="p", target="y", n_boot=0)
    assert sorted(result.by_group.loc["g"].index) == sorted(names)


@pytest.mark.parametrize("labels", [("9", "10"), ("", "0"), ("b", "a10", "2")], ids=["9-10", "empty-0", "mixed"])
@pytest.mark.parametrize("attributes", [["g"], ["g", "h"]], ids=["one", "crossed"])
def test_text_labels_whose_natural_order_differs_keep_their_own_counts(labels, attributes):
    """Found by the property test below: groups '9' and '10' (text) came out with each other's counts."""
    data = base().assign(g=lambda f: np.resize(np.array(labels, dtype=object), len(f)).tolist(), h="z")
    data["p"] = (data["g"] == labels[0]).astype(int)
    result = fa.audit(None, data, sensitive=attributes, y_pred="p", target="y", n_boot=0)
    for label in labels:
        group = result.by_group.loc[(attributes[0], label)]
        assert group["count"] == (data["g"] == label).sum()
        assert group["selection_rate"] == float(label == labels[0])


def test_unused_categories_are_not_groups():
    data = base().assign(g=lambda f: pd.Categorical(f["g"], categories=["a", "b", "c", "never"]))
    result = fa.audit(None, data, sensitive="g", y_pred="p", target="y", n_boot=0)
    assert list(result.by_group.loc["g"].index) == ["a", "b", "c"]


def test_large_and_tiny_weights_give_the_unweighted_answer():
    data = base()
    plain = fa.audit(None, data.assign(w=1.0), sensitive="g", y_pred="p", target="y", sample_weight="w", n_boot=0)
    for scale in (1e100, 1e-100):
        scaled = fa.audit(None, data.assign(w=scale), sensitive="g", y_pred="p", target="y", sample_weight="w",
                          n_boot=0)
        assert _rates(scaled).to_numpy() == pytest.approx(_rates(plain).to_numpy())


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "a & <b>"])
def test_user_strings_are_escaped_in_html(text):
    data = base().assign(g=lambda f: np.resize(np.array([text, "ok"]), len(f))).rename(columns={"g": text})
    html = fa.audit(None, data, sensitive=text, y_pred="p", target="y", n_boot=0).to_html()
    assert text not in html and "<script>alert" not in html and "<img src=x" not in html


def test_pickles_are_never_loaded_without_trust(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"

    class Evil:
        def __reduce__(self):
            return (exec, (payload,))

    (tmp_path / "m.pkl").write_bytes(pickle.dumps(Evil()))
    base().to_parquet(tmp_path / "data.parquet")
    for name in ("m.pkl", "m.skops"):
        (tmp_path / name).write_bytes((tmp_path / "m.pkl").read_bytes())
        config = {k: v for k, v in GOOD.items() if k != "y_pred"}
        code, _, err = _cli(tmp_path, {**config, "model": name}, "--format", "json", capsys=capsys)
        assert code == 2 and name in err
    assert not marker.exists()


# ---------------------------------------------------------------------------- properties over user strings
names = st.text(min_size=1, max_size=12).filter(lambda s: s not in ("p", "y"))
labels = st.lists(st.text(max_size=8), min_size=1, max_size=4, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=names, second=names, first_labels=labels, second_labels=labels, seed=st.integers(0, 2**16))
def test_any_user_names_audit_correctly_or_fail_clearly(first, second, first_labels, second_labels, seed):
    rng = np.random.default_rng(seed)
    n = 60
    data = pd.DataFrame({first: rng.choice(np.array(first_labels, dtype=object), n),
                         "p": rng.integers(0, 2, n), "y": rng.integers(0, 2, n)})
    attributes = [first]
    if second != first:
        data[second] = rng.choice(np.array(second_labels, dtype=object), n)
        attributes.append(second)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fa.audit(None, data, sensitive=attributes, y_pred="p", target="y", n_boot=0)
    except fa.AuditInputError as error:
        message = str(error)
        assert "(missing)" in message or " & " in message
        return
    for attribute in attributes:
        expected = data[attribute].value_counts()
        got = result.by_group.loc[attribute, "count"]
        assert got.to_dict() == expected.to_dict()
        rates = result.by_group.loc[attribute, "selection_rate"]
        assert rates.to_dict() == pytest.approx(data.groupby(attribute)["p"].mean().to_dict())
    if len(attributes) == 2:
        crossing = result.by_group.loc[" & ".join(attributes), "count"]
        assert crossing.sum() == n and len(crossing) == data.groupby(attributes).ngroups


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError) and issubclass(PolicyError, ValueError)
