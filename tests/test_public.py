"""Transparency reports under differential privacy (AuditResult.to_public): the noise, the post-processing,
the widened intervals, a differencing attack, engine inputs, the report and the run config."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import math
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.inputs import AuditInputError
from fairaudit.public import PrivacyError, publication, release
from fairaudit.public.statistics import exact_tables, nonnegative, public_statistics
from fairaudit.schema import audit_schema

pytest.importorskip("opendp")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def few_noise_replicates(monkeypatch):
    """Intervals from 10 noise redraws instead of 30, to keep the tests short (the coverage test sets its own)."""
    monkeypatch.setattr(publication, "NOISE_REPLICATES", 10)


def frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    region = rng.choice(["north", "south"], n)
    y = rng.integers(0, 2, n)
    score = np.clip(rng.normal(0.35 + 0.3 * y - 0.05 * (group == "c"), 0.2), 0, 1)
    return pd.DataFrame({"group": group, "region": region, "y": y, "score": score, "id": rng.integers(0, n // 2, n)})


@pytest.fixture(scope="module")
def audited() -> fa.AuditResult:
    return fa.audit(None, frame(), sensitive=["group", "region"], target="y", y_score="score", n_boot=100)


# ---------------------------------------------------------------------------- the mechanism
@pytest.mark.parametrize("delta", [0.0, 1e-6])
@pytest.mark.parametrize("integer", [True, False])
def test_noise_unbiased_and_spread_as_stated(integer, delta):
    exact = np.full(3000, 500.0)
    spreads = {}
    for epsilon in (0.25, 1.0):
        table = release("t", exact, integer=integer, sensitivity=1, epsilon=epsilon, delta=delta)
        noise = table.values - exact
        assert np.any(noise != 0)
        assert abs(noise.mean()) < 4 * table.noise_std / math.sqrt(noise.size)  # unbiased
        assert abs(noise.std() / table.noise_std - 1) < 0.2  # the stated scale, within 20%
        if integer:
            assert np.array_equal(table.values, np.rint(table.values))
        spreads[epsilon] = noise.std()
    assert spreads[0.25] > 2 * spreads[1.0]  # smaller epsilon, more noise


def test_laplace_scale_is_sensitivity_over_epsilon():
    table = release("t", np.zeros(4), integer=True, sensitivity=3, epsilon=0.5, delta=0.0)
    assert table.scale == pytest.approx(6.0)
    alpha = math.exp(-1 / 6)
    assert table.noise_std == pytest.approx(math.sqrt(2 * alpha) / (1 - alpha))


def test_simulated_noise_has_the_mechanism_law():
    rng = np.random.default_rng(0)
    for delta, integer in ((0.0, True), (0.0, False), (1e-6, True)):
        table = release("t", np.zeros(5000), integer=integer, sensitivity=1, epsilon=0.5, delta=delta)
        drawn = publication.simulate(table, rng)
        assert abs(drawn.std() / table.noise_std - 1) < 0.1


# ---------------------------------------------------------------------------- post-processing
def test_projection_keeps_counts_nonnegative_and_group_totals():
    rng = np.random.default_rng(1)
    noised = rng.normal(0, 5, (200, 2, 2, 10)) + rng.integers(0, 30, (200, 2, 2, 10))
    out = nonnegative(noised)
    assert (out >= 0).all() and np.array_equal(out, np.rint(out))
    totals = np.maximum(np.rint(noised.reshape(200, -1).sum(axis=1)), 1)
    assert np.array_equal(out.reshape(200, -1).sum(axis=1), totals)
    # a group whose noise took every count below zero keeps one row, in its largest cell
    assert np.array_equal(nonnegative(np.array([[-3.0, -1.0, -2.0]])), [[0.0, 1.0, 0.0]])
    # a vector already non-negative with an integer total is left as it is
    kept = np.array([[3.0, 0.0, 7.0, 1.0]])
    assert np.array_equal(nonnegative(kept), kept)


def test_group_counts_unbiased_and_consistent(audited):
    statistics = audited.statistics
    exact = statistics.stats.group_count
    draws = []
    for _ in range(150):
        released = {name: release(name, values, integer=integer, sensitivity=1, epsilon=1.0, delta=0.0)
                    for name, (values, integer) in exact_tables(statistics).items()}
        public = public_statistics(statistics, released).stats
        assert (public.count >= 0).all()
        draws.append(public.group_count)
    draws = np.array(draws)
    se = draws.std(axis=0) / math.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - exact) < 4 * se + 1e-9)
    assert np.all(draws.std(axis=0) > 0)


def test_public_tables_are_consistent_and_bounded(audited):
    public = audited.to_public(epsilon=1.0, random_state=0)
    rows = public.metadata["rows"]
    for view, counts in public.by_group["count"].groupby(level="attribute"):
        assert counts.sum() == rows, view
    rates = public.by_group[[c for c in public.by_group.columns if c.endswith("rate") or "_ci_" in c]]
    assert ((rates >= 0) & (rates <= 1) | rates.isna()).all().all()
    for metric in ("selection_rate", "true_positive_rate", "roc_auc"):
        low, value, high = (public.by_group[f"{metric}{s}"] for s in ("_ci_low", "", "_ci_high"))
        assert ((low <= value + 1e-12) & (value <= high + 1e-12)).all()
    rebuilt = {"metadata", "findings", "policy", "recommendations", *publication.PUBLIC_TABLES}
    for field in dataclasses.fields(public):  # every other field is left at its default, never copied
        if field.name not in rebuilt:
            assert getattr(public, field.name) is None, field.name


def test_every_number_comes_from_the_released_tables(audited, monkeypatch):
    """Replace OpenDP's noise by a known shift: the public numbers follow the shifted counts, not the exact."""

    def shifted(name, values, *, integer, sensitivity, epsilon, delta):
        return publication.Release(name, np.asarray(values, float) + (5 if integer else 0), "test", 1.0, epsilon,
                                      delta, sensitivity, integer)

    monkeypatch.setattr(publication, "release", shifted)
    public = audited.to_public(epsilon=1.0, random_state=0)
    cells = audited.statistics.stats.count.shape[1:]
    per_group = 5 * int(np.prod(cells))
    exact = audited.by_group["count"]
    finest = [g for g in exact.index if g[0] == "group & region"]
    assert (public.by_group.loc[finest, "count"] == exact.loc[finest] + per_group).all()
    assert public.metadata["rows"] == audited.metadata["rows"] + per_group * len(finest)


# ---------------------------------------------------------------------------- intervals
def test_widened_intervals_cover_the_exact_values(monkeypatch):
    """epsilon = 0.1 on four groups of 50: the noise outweighs sampling. The public intervals still cover the
    exact-data values; the sampling intervals alone, around the noised values, do not (the full run, 100
    releases, is benchmarks/bench_public_coverage.py)."""
    spec = importlib.util.spec_from_file_location("bench_public_coverage", BENCHMARKS / "bench_public_coverage.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(publication, "NOISE_REPLICATES", 20)
    widened, sampling = bench.coverage(0.1, 15)
    assert widened >= 0.8
    assert sampling <= 0.75
    assert widened - sampling >= 0.2


# ---------------------------------------------------------------------------- attacks
def _population(with_person: bool) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    data = pd.DataFrame({"region": rng.choice(["north", "south"], 400), "age": rng.choice(["young", "old"], 400)})
    data["offer"] = rng.integers(0, 2, 400)
    person = pd.DataFrame({"region": ["north"], "age": ["young"], "offer": [1]})
    return pd.concat([data, person], ignore_index=True) if with_person else data


def test_differencing_attack_succeeds_on_the_exact_report():
    """Two exact reports, with and without one person, k-suppression on: the shown count of the person's
    region differs by one, so the attacker tells with certainty whether the person is in."""
    shown = {}
    for present in (True, False):
        result = fa.audit(None, _population(present), sensitive=["region", "age"], y_pred="offer", n_boot=0)
        records = json.loads(result.to_json())["by_group"]["records"]
        shown[present] = {(r["attribute"], r["group"]): r["count"] for r in records}
    assert shown[True][("region", "north")] - shown[False][("region", "north")] == 1
    guesses = [shown[b][("region", "north")] == shown[True][("region", "north")] for b in (True, False)]
    assert guesses == [True, False]  # always right


def test_differencing_attack_is_bounded_by_epsilon():
    """The strongest attacker: knows every other row and the person's cell, sees the released statistics
    (every public number is computed from them), and guesses "in" when the person's cell reaches its count
    with the person. Over 3,000 releases with or without the person at random, the share of right guesses
    stays within e^epsilon / (1 + e^epsilon) (the most that epsilon-DP allows)."""
    epsilon = 0.5
    inside = fa.audit(None, _population(True), sensitive=["region", "age"], y_pred="offer", n_boot=0).statistics
    outside = fa.audit(None, _population(False), sensitive=["region", "age"], y_pred="offer", n_boot=0).statistics
    group = inside.stats.groups.index(("north", "young"))
    cell = (group, 0, 1, 0)
    with_person = inside.stats.count[cell]
    assert with_person - outside.stats.count[cell] == 1
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 3000).astype(bool)
    right = 0
    for present in truth:
        statistics = inside if present else outside
        released = {name: release(name, values, integer=integer, sensitivity=1, epsilon=epsilon, delta=0.0)
                    for name, (values, integer) in exact_tables(statistics).items()}
        seen = public_statistics(statistics, released).stats.count[cell]
        right += (seen >= with_person) == present
    rate = right / len(truth)
    bound = math.exp(epsilon) / (1 + math.exp(epsilon))
    assert rate <= bound + 3 * math.sqrt(bound * (1 - bound) / len(truth))
    assert rate < 0.7  # far from the certainty of the exact report


# ---------------------------------------------------------------------------- privacy unit and engines
def _bounded_rows(data: pd.DataFrame, k: int) -> int:
    return int(np.minimum(data.groupby("id").size(), k).sum())


def test_privacy_unit_bounds_rows_per_person(audited):
    data = frame()
    bounded = audited.statistics.bounded("id", 2, 0)
    assert bounded.stats.count.sum() == _bounded_rows(data, 2)
    public = audited.to_public(epsilon=1.0, privacy_unit="id", max_rows_per_unit=2, random_state=0)
    privacy = public.metadata["privacy"]
    assert privacy["rows_per_unit"] == 2 and "'id'" in privacy["unit"]
    assert all(t["sensitivity"] == 2 for t in privacy["tables"].values())
    assert privacy["tables"]["cells"]["scale"] == pytest.approx(2 / 0.5)


def test_engine_inputs_publish_alike(tmp_path):
    pl = pytest.importorskip("polars")
    pytest.importorskip("duckdb")
    data = frame()
    path = tmp_path / "data.parquet"
    data.to_parquet(path)
    for source in (pl.from_pandas(data), str(path)):
        result = fa.audit(None, source, sensitive=["group", "region"], target="y", y_score="score", n_boot=50)
        assert result.statistics.stats.equals(fa.audit(None, data, sensitive=["group", "region"], target="y",
                                                       y_score="score", n_boot=0).statistics.stats)
        assert result.statistics.bounded("id", 1, 0).stats.count.sum() == _bounded_rows(data, 1)
        public = result.to_public(epsilon=1.0, privacy_unit="id", random_state=0)
        assert "fingerprint_sha256" not in public.metadata and public.metadata["privacy"]["epsilon"] == 1.0
        assert public.metadata["rows"] == public.by_group.loc["group", "count"].sum()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_spark_bounds_rows_per_person_in_the_engine(spark):
    pytest.importorskip("pyspark")
    data = frame(600)
    result = fa.audit(None, spark.createDataFrame(data), sensitive="group", y_pred="y", n_boot=0)
    bounded = result.statistics.bounded("id", 1, 0).stats
    assert bounded.count.sum() == _bounded_rows(data, 1)
    assert bounded.groups == result.statistics.stats.groups
    with pytest.raises(AuditInputError, match="'nobody'"):
        result.statistics.bounded("nobody", 1, 0)


def test_segmentation_publishes_consistent_segment_counts():
    rng = np.random.default_rng(2)
    data = frame().assign(segment=lambda d: rng.choice(["gold", "silver", "basic"], len(d)))
    result = fa.audit(None, data, sensitive="group", target="y", y_pred="segment", task="segmentation",
                      favorable=["gold"], n_boot=50)
    public = result.to_public(epsilon=1.0, random_state=0)
    assert set(public.metadata["privacy"]["tables"]) == {"segments", "cells"}
    shares = public.segments
    assert np.allclose(shares.sum(axis=1), 1) and ((shares >= 0) & (shares <= 1)).all().all()
    assert (public.segments_ci_low.to_numpy() <= shares.to_numpy() + 1e-12).all()
    # the decision cells agree with the favourable segment's noised counts
    counts = public.by_group["count"]
    assert counts.sum() == public.metadata["rows"]


# ---------------------------------------------------------------------------- outputs
def test_public_json_html_and_pdf(audited):
    public = audited.to_public(epsilon=2.0, delta=1e-6, random_state=0)
    payload = json.loads(public.to_json())
    jsonschema.Draft202012Validator(audit_schema()).validate(payload)
    privacy = payload["metadata"]["privacy"]
    assert sum(t["epsilon"] for t in privacy["tables"].values()) == pytest.approx(2.0)
    assert sum(t["delta"] for t in privacy["tables"].values()) == pytest.approx(1e-6)
    assert "Gaussian" in privacy["mechanism"]
    leaked = {"fingerprint_sha256", "duration_seconds", "explanation_sample_rows", "targeted", "baseline"}
    assert not leaked & set(payload["metadata"])
    assert payload["explanations"] is None and payload["comparison"] is None
    html = public.to_html()
    assert "<title>Transparency report" in html and "epsilon = 2" in html and "delta = 1e-06" in html
    assert "What differential privacy guarantees here" in html
    assert public.suppressed().metadata["privacy"] == public.metadata["privacy"]


def test_public_pdf_is_titled_as_a_transparency_report():
    pypdf = pytest.importorskip("pypdf")
    small = fa.audit(None, frame(1000), sensitive="region", y_pred="y", n_boot=50)
    assert "Transparency report" not in small.to_html()
    data = small.to_public(epsilon=1.0, random_state=0).to_pdf()
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Transparency report" in text


def test_run_config_publish_writes_public_reports(tmp_path):
    from fairaudit.config import ConfigError, validate
    from fairaudit.runner import run_config

    frame().to_csv(tmp_path / "data.csv", index=False)
    spec = {"name": "churn", "data": "data.csv", "target": "y", "sensitive": ["group"], "y_score": "score",
            "n_boot": 50, "publish": {"epsilon": 1.0}}
    outcome = run_config(validate(spec, base=tmp_path), out=tmp_path / "reports", formats=("json", "html"),
                         baseline=None, trust_model=False)
    assert {"public_json", "public_html"} <= set(outcome.reports)
    public = json.loads((outcome.folder / "public.json").read_text())
    assert public["metadata"]["privacy"]["epsilon"] == 1.0
    assert "fingerprint_sha256" in json.loads((outcome.folder / "audit.json").read_text())["metadata"]
    assert "Transparency report" in (outcome.folder / "public.html").read_text()
    with pytest.raises(ConfigError, match="publish"):
        validate({**spec, "publish": {"epsilon": 0}}, base=tmp_path)


# ---------------------------------------------------------------------------- refusals
def test_bad_requests_are_refused_clearly(audited, monkeypatch):
    with pytest.raises(PrivacyError, match="'epsilon'"):
        audited.to_public(epsilon=0)
    with pytest.raises(PrivacyError, match="'delta'"):
        audited.to_public(epsilon=1.0, delta=1.0)
    with pytest.raises(PrivacyError, match="loaded from JSON"):
        fa.AuditResult.from_dict(json.loads(audited.to_json())).to_public(epsilon=1.0)
    with pytest.raises(AuditInputError, match="'customer'.*columns are"):
        audited.to_public(epsilon=1.0, privacy_unit="customer")
    data = frame()
    weighted = fa.audit(None, data.assign(w=1.0), sensitive="group", y_pred="y", sample_weight="w", n_boot=0)
    with pytest.raises(PrivacyError, match="weighted"):
        weighted.to_public(epsilon=1.0)
    missing = fa.audit(None, data.assign(id=data["id"].where(data.index > 5)), sensitive="group", y_pred="y",
                       n_boot=0)
    with pytest.raises(AuditInputError, match="'id'.*6 missing"):
        missing.to_public(epsilon=1.0, privacy_unit="id")
    scored = fa.audit(None, data, sensitive="group", y_score="score", task="score", n_boot=0)
    with pytest.raises(PrivacyError, match="score audit"):
        scored.to_public(epsilon=1.0)
    monkeypatch.setitem(sys.modules, "opendp.prelude", None)
    with pytest.raises(PrivacyError, match=r"fairaudit\[dp\]"):
        audited.to_public(epsilon=1.0)
