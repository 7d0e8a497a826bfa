"""Score and segmentation audits and SHAP explanations in the report, the JSON and the charts, with a
group of 7 suppressed in each."""

from __future__ import annotations

import json
import re
import warnings

import jsonschema
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression

import fairaudit as fa
from fairaudit.explain import explain
from fairaudit.schema import audit_schema
from tests.test_privacy import visible_text


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "g": np.where(np.arange(n) < 7, "tiny", np.where(np.arange(n) % 2, "a", "b")),
        "h": np.where(np.arange(n) % 3, "x", "y"),
        "s": rng.uniform(size=n), "y": rng.uniform(size=n), "seg": rng.choice(["north", "south", "west"], n),
        "x1": rng.normal(size=n), "x2": rng.normal(size=n),
    })
    frame["x1"] += frame["g"] == "a"
    frame["label"] = (frame["x1"] + rng.normal(size=n) > 0.5).astype(int)
    return frame


def audit(data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(data=data, sensitive=["g", "h"], n_boot=50, **options)


def check_json(result):
    payload = result.to_dict()
    jsonschema.Draft202012Validator(audit_schema()).validate(payload)
    assert fa.AuditResult.from_dict(payload).to_dict() == payload
    return payload


def test_score_audit(data):
    result = audit(data, model=None, y_score="s", target="y", task="score")
    html = result.to_html()
    text = visible_text(html)
    quantiles = result.score_quantiles
    assert "Score percentiles by g" in text
    # about 146 people in a: its 10th percentile on (146 x 10% >= 10 people below it), not its 5th
    assert f"{quantiles.loc[('g', 'a'), 'q10']:.3f} {quantiles.loc[('g', 'a'), 'q25']:.3f}" in text
    assert f"{quantiles.loc[('g', 'a'), 'q05']:.3f}" not in text
    tables = visible_text(re.sub(r"<svg.*?</svg>", "", html, flags=re.S))  # chart labels run into each other
    assert "tiny suppressed" in tables and not re.search(r"tiny [\d.]", tables)
    pair = result.metadata["score_pairs"]["g"]["ks_statistic"]
    payload = check_json(result)
    ks = next(r for r in payload["measures"]["records"] if r["attribute"] == "g" and r["measure"] == "ks_statistic")
    assert ks["suppressed"] is ("tiny" in pair or "b" in pair) and (ks["value"] is None) is ks["suppressed"]
    tiny = next(r for r in payload["score_quantiles"]["records"] if r["group"] == "tiny")
    assert all(v is None for k, v in tiny.items() if k not in ("attribute", "group"))
    assert isinstance(result.plot("scores"), Figure)
    assert "score by g" in html


def test_segmentation_audit(data):
    result = audit(data, model=None, y_pred="seg", task="segmentation")
    text = visible_text(result.to_html())
    share = result.segments.loc[("g", "a"), "north"]
    assert "Segment shares by g" in text and f"{share:.1%}" in text and "tiny suppressed" in text
    assert not re.search(r"tiny [\d.]", text)
    payload = check_json(result)
    measures = {(r["attribute"], r["measure"]): r for r in payload["measures"]["records"]}
    assert measures[("g", "min_representation_ratio")]["suppressed"]  # an extreme over groups, one hidden
    assert not measures[("g", "cramers_v")]["suppressed"]  # pooled over all groups
    assert not measures[("h", "min_representation_ratio")]["suppressed"]
    loaded = fa.AuditResult.from_dict(payload)
    pd.testing.assert_frame_equal(loaded.segments.loc["h"], result.segments.loc["h"])
    assert isinstance(result.plot("segments"), Figure)


def test_explanations_when_present(data):
    model = LogisticRegression().fit(data[["x1", "x2"]], data["label"])
    result = audit(data, model=model, target="label", features=["x1", "x2"])
    explanations = explain(model, data, sensitive=["g", "h"], features=["x1", "x2"], n_boot=20, progress=False)
    result.explanations = explanations
    html = result.to_html()
    text = visible_text(html)
    total = explanations.gap.loc[("g", "a", "(total gap)"), "contribution"]
    assert "Explanations" in text and "Gap decomposition" in text and "Proxy features" in text
    assert f"{total:.3f}" in text
    tables = visible_text(re.sub(r"<svg.*?</svg>", "", html, flags=re.S))  # chart labels run into each other
    assert "tiny suppressed" in tables and not re.search(r"tiny [\d.-]", tables)
    assert isinstance(result.plot("gap"), Figure) and html.count("<svg") >= 3
    payload = result.to_dict()
    gap = payload["explanations"]["gap"]
    rows = [row for index, row in zip(gap["index"], gap["rows"], strict=True) if index[1] == "tiny"]
    assert rows and all(v is None for row in rows for v in row)
    json.dumps(payload, allow_nan=False)
