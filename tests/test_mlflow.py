"""An audit logged to a local MLflow file store and read back: metrics, verdict tag, report artefacts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

import fairaudit as fa
from fairaudit.cli import main
from fairaudit.integrations.mlflow import audit_metrics, log_audit, metric_key

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def tracking(tmp_path, monkeypatch) -> str:
    """A file store in a temporary folder (MLflow 3 asks to opt in to file stores)."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    frame = fa.load_dataset("adult").sample(3000, random_state=1)[["sex", "race", "education_num"]]
    frame["hired"] = (frame.education_num >= 11).astype(int)
    frame["race"] = frame["race"].astype(str)
    frame.loc[frame.index[:6], "race"] = "Tiny"  # a group the report suppresses
    return frame


@pytest.fixture(scope="module")
def result(data) -> fa.AuditResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fa.audit(None, data, sensitive=["sex", "race"], y_pred="hired", n_boot=100)


def test_metric_keys_are_valid_and_deterministic():
    assert metric_key("sex & race") == "sex_x_race"
    assert metric_key("age/group (years)") == "age_group__years_"
    assert metric_key("a-b.c_d") == "a-b.c_d"


def test_log_audit_to_a_file_store_and_read_it_back(result, tracking):
    run_id = log_audit(result)
    run = MlflowClient(tracking_uri=tracking).get_run(run_id)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    shown = result.suppressed().measures
    for (attribute, measure), row in shown.iterrows():
        name = f"fairness/{metric_key(attribute)}/{measure}"
        if row["suppressed"]:
            assert name not in metrics  # withheld to protect a small group: never logged
            continue
        source = result.measures.loc[(attribute, measure)]
        for suffix, column in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            if np.isfinite(row[column]):
                assert metrics[name + suffix] == pytest.approx(source[column], rel=1e-12)
            else:  # undefined, or an interval that would give a suppressed group's size away
                assert name + suffix not in metrics
    assert not shown["suppressed"].all()
    # the 6-person group is left out of every comparison, so no logged measure is decided by it
    assert {"attribute": "race", "group": "Tiny", "reason": "fewer than 10 people (policy suppress_below)"} in \
        result.metadata["left_out"]
    assert metrics["fairness/sex/demographic_parity_difference_ci_high"] == pytest.approx(
        result.measures.loc[("sex", "demographic_parity_difference"), "ci_high"])
    assert run.data.tags["fairaudit.verdict"] == result.verdict
    assert run.data.tags["fairaudit.fingerprint_sha256"] == result.metadata["fingerprint_sha256"]
    client = MlflowClient(tracking_uri=tracking)
    names = {f.path for f in client.list_artifacts(run_id, "fairaudit")}
    assert names == {"fairaudit/audit.html", "fairaudit/audit.pdf", "fairaudit/audit.json"}
    folder = client.download_artifacts(run_id, "fairaudit")
    saved = json.loads(open(f"{folder}/audit.json", encoding="utf-8").read())
    assert saved["verdict"] == result.verdict
    assert open(f"{folder}/audit.pdf", "rb").read(5) == b"%PDF-"
    html = open(f"{folder}/audit.html", encoding="utf-8").read()
    assert result.metadata["fingerprint_sha256"] in html and 'id="model-card"' in html


def test_log_audit_into_the_active_run(result, tracking):
    with mlflow.start_run() as run:
        assert log_audit(result) == run.info.run_id
        assert mlflow.active_run() is not None  # the caller's run stays open
    assert MlflowClient().get_run(run.info.run_id).data.tags["fairaudit.verdict"] == result.verdict


def test_colliding_attribute_names_are_an_error(data):
    frame = data.assign(**{"a b": data.sex, "a_b": data.race})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audited = fa.audit(None, frame, sensitive=["a b", "a_b"], y_pred="hired", n_boot=0)
    with pytest.raises(ValueError, match="both map to the MLflow key 'a_b'"):
        audit_metrics(audited)


def test_fairaudit_run_mlflow(data, tracking, tmp_path, capsys):
    data.to_csv(tmp_path / "hiring.csv", index=False)
    config = {"name": "hiring", "data": "hiring.csv", "y_pred": "hired", "sensitive": ["sex", "race"], "n_boot": 0,
              "compliance": ["eeoc_four_fifths"]}
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    code = main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "--format", "json,html",
                 "--mlflow", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["exit_code"] == code
    run_id = printed["mlflow_run_id"]
    client = MlflowClient(tracking_uri=tracking)
    names = {f.path for f in client.list_artifacts(run_id, "fairaudit")}
    assert {"fairaudit/audit.json", "fairaudit/audit.html", "fairaudit/audit.pdf",
            "fairaudit/eeoc_four_fifths.csv"} <= names
    assert client.get_run(run_id).data.tags["fairaudit.verdict"] == printed["verdict"]
