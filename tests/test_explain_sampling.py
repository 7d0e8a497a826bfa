"""Sampling, budgets, bootstrap intervals, serialisation and the aggregates-only rule of explain()."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import fairaudit as fa
from fairaudit.explain import Explanations, explain
from fairaudit.explain.sampling import allocate, bootstrap_stratum_sums, stratified_sample
from tests.test_explain_proxies import FEATURES, planted, true_score


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    frame = planted(20_000, seed=11)
    rng = np.random.default_rng(12)
    frame["age"] = rng.choice(["young", "middle", "old", "very old"], len(frame), p=[0.3, 0.6, 0.097, 0.003])
    return frame


@pytest.fixture(scope="module")
def pipeline(data):
    encode = make_column_transformer((OneHotEncoder(), ["district"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=500)).fit(data[FEATURES], data["y"])


def test_allocation_keeps_small_groups_whole_and_shares_the_rest_equally():
    sizes = np.array([5, 40, 1000, 3000, 0])
    taken = allocate(sizes, 500)
    assert taken.sum() == 500
    assert taken[0] == 5 and taken[1] == 40 and taken[4] == 0
    assert abs(int(taken[2]) - int(taken[3])) <= 1
    np.testing.assert_array_equal(allocate(sizes, 10_000), sizes)
    np.testing.assert_array_equal(allocate(sizes, 2), [1, 1, 1, 1, 0])  # every group represented


def test_stratified_sample_weights_add_up_to_the_groups_and_interleave():
    rng = np.random.default_rng(0)
    strata = rng.choice(4, 50_000, p=[0.001, 0.05, 0.3, 0.649])
    sample = stratified_sample(strata, 4, 2000, rng)
    population = np.bincount(strata)
    assert len(sample) == 2000 and len(np.unique(sample.rows)) == 2000
    np.testing.assert_array_equal(strata[sample.rows], sample.strata)
    np.testing.assert_allclose(np.bincount(sample.strata, weights=sample.weights), population)
    assert np.bincount(sample.strata)[0] == population[0]  # the smallest group is kept whole
    half = sample.head(1000, population)
    np.testing.assert_allclose(np.bincount(half.strata, weights=half.weights), population)
    np.testing.assert_allclose(np.bincount(half.strata, minlength=4) / np.bincount(sample.strata), 0.5, atol=0.05)


def test_bootstrap_redraws_rows_within_groups():
    strata = np.array([0, 0, 0, 1, 1])
    values = np.arange(5, dtype=float)[:, None]
    sums = bootstrap_stratum_sums(np.column_stack([values, np.ones(5)]), strata, 2, 300, np.random.default_rng(0))
    np.testing.assert_array_equal(sums[:, 0, 1], 3)  # three draws in group 0, always
    np.testing.assert_array_equal(sums[:, 1, 1], 2)
    assert set(np.unique(sums[:, 1, 0])) <= {6.0, 7.0, 8.0}


def test_sampled_intervals_cover_the_full_data_contributions(data, pipeline):
    """95% intervals from 1,500 sampled rows contain the contributions computed on all 20,000 rows about
    95% of the time (over cells and samples; cells of one sample are correlated, so several samples)."""
    full = explain(pipeline, data, sensitive=["group", "age"], features=FEATURES, max_rows=len(data), n_boot=0,
                   progress=False)
    assert full.sample_rows == len(data)
    covered = []
    for seed in range(6):
        sampled = explain(pipeline, data, sensitive=["group", "age"], features=FEATURES, max_rows=1500, n_boot=200,
                          random_state=seed, progress=False)
        assert sampled.sample_rows == 1500
        counts = sampled.groups["sample_count"]
        assert counts[("age", "very old")] == full.groups.loc[("age", "very old"), "count"]  # kept whole
        rows = sampled.gap.drop(index="(residual)", level="feature")
        truth = full.gap.loc[rows.index, "contribution"]
        covered.append(((rows["ci_low"] <= truth) & (truth <= rows["ci_high"])).to_numpy())
    assert np.mean(covered) >= 0.85


def test_time_budget_cuts_the_sample_in_proportion(data):
    def slow(X: pd.DataFrame) -> np.ndarray:
        time.sleep(0.01)  # slow enough that 4,000 rows cannot fit in the budget on any machine
        return true_score(X)

    started = time.perf_counter()
    result = explain(slow, data, sensitive=["group"], features=FEATURES, max_rows=4000, time_budget=1.0, n_boot=20,
                     progress=False)
    assert time.perf_counter() - started < 4
    assert result.explainer == "permutation"
    assert 64 <= result.sample_rows < 4000
    assert any("time budget" in note for note in result.notes)
    counts = result.groups["sample_count"]
    assert counts[("group", "A")] > 0 and counts[("group", "B")] > 0
    assert result.gap.xs("(residual)", level="feature")["contribution"].abs().max() < 1e-9


def test_progress_bar_is_shown_unless_disabled(data, pipeline, capsys):
    explain(pipeline, data, sensitive=["group"], features=FEATURES, max_rows=300, n_boot=0, progress=True)
    assert "SHAP (pipeline+linear)" in capsys.readouterr().err
    explain(pipeline, data, sensitive=["group"], features=FEATURES, max_rows=300, n_boot=0, progress=False)
    assert capsys.readouterr().err == ""


def test_round_trip_is_json_safe_and_holds_aggregates_only(data, pipeline):
    small = explain(pipeline, data, sensitive=["group", "age"], features=FEATURES, max_rows=300, n_boot=10,
                    progress=False)
    large = explain(pipeline, data, sensitive=["group", "age"], features=FEATURES, max_rows=3000, n_boot=10,
                    progress=False)
    text = json.dumps(large.to_dict(), allow_nan=False)
    # the saved form has the same size whatever the number of rows explained: no per-person values
    for name in ("importance", "gap", "proxies", "groups"):
        assert len(small.to_dict()[name]["rows"]) == len(large.to_dict()[name]["rows"])
    assert max(len(getattr(large, name)) for name in ("importance", "gap", "proxies", "groups")) < 100

    back = Explanations.from_dict(json.loads(text))
    for name in ("importance", "gap", "proxies", "groups"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(large, name))
    assert back.sensitive_inputs == large.sensitive_inputs and back.notes == large.notes
    assert (back.units, back.explainer, back.sample_rows) == (large.units, large.explainer, large.sample_rows)
    residual_ci = large.to_dict()["gap"]["rows"][-1]
    assert residual_ci[1] is None and residual_ci[2] is None  # NaN is saved as null


def test_single_group_attribute_has_undefined_gap(data):
    frame = data.assign(country="FR")
    with pytest.warns(fa.SingleGroupWarning):
        result = explain(true_score, frame, sensitive=["country", "group"], features=FEATURES, max_rows=300,
                         n_boot=10, progress=False)
    assert result.gap.loc[("country", "FR")]["contribution"].isna().all()
    assert result.proxies.loc["country"]["association"].isna().all()
    assert not result.proxies.loc["country"]["flag"].any()


@pytest.mark.parametrize(("options", "message"), [
    ({"max_rows": 0}, "'max_rows'"),
    ({"time_budget": -1}, "'time_budget'"),
    ({"n_boot": -2}, "'n_boot'"),
    ({"confidence": 95}, "'confidence'"),
    ({"features": ["district", "nope"]}, "nope"),
    ({"features": []}, "'features'"),
])
def test_bad_arguments_are_refused_with_the_argument_named(data, options, message):
    arguments = {"sensitive": ["group"], "features": FEATURES, **options}
    with pytest.raises(fa.AuditInputError, match=message):
        explain(true_score, data, **arguments)


def test_label_models_are_explained_through_their_decision():
    """A model that outputs labels: its 0/1 decision for pos_label is explained (the gap of selection rates)."""
    frame = planted(800, seed=2)
    labels = lambda X: np.where(true_score(X) >= 0.5, "yes", "no")
    result = explain(labels, frame, sensitive=["group"], features=FEATURES, pos_label="yes", max_rows=800,
                     n_boot=0, progress=False)
    decided = (true_score(frame[FEATURES]) >= 0.5).astype(float)
    inside = (frame["group"] == "B").to_numpy()
    observed = decided[inside].mean() - decided[~inside].mean()
    assert result.gap.loc[("group", "B", "(total gap)"), "contribution"] == pytest.approx(observed)
    assert result.units == "score"
