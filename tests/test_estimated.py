"""Estimated sensitive attributes: validation, the weighted cells, the mixing correction and its intervals."""

import numpy as np
import pandas as pd
import pytest

from fairaudit.estimated import (
    correct,
    corrected_rates,
    expand,
    mixing_stats,
    resolve_sensitive_proba,
    weighted_stats,
)
from fairaudit.inputs import AuditInputError, AuditTypeError, encode_sensitive
from fairaudit.stats import GroupStats


def calibrated(n: int, sigma: float, rng: np.random.Generator, prior=(0.7, 0.3)):
    """True groups, and calibrated membership probabilities from a noisy signal (posterior by Bayes)."""
    prior = np.asarray(prior)
    mu = np.arange(len(prior), dtype=float)
    truth = rng.choice(len(prior), n, p=prior)
    signal = rng.normal(mu[truth], sigma)
    likelihood = np.exp(-0.5 * ((signal[:, None] - mu[None]) / sigma) ** 2) * prior
    return truth, likelihood / likelihood.sum(axis=1, keepdims=True)


def outcomes(truth: np.ndarray, rng: np.random.Generator, fpr=(0.10, 0.31), tpr=(0.7, 0.7)):
    y = (rng.random(truth.size) < 0.3).astype(np.int8)
    chance = np.where(y == 1, np.asarray(tpr)[truth], np.asarray(fpr)[truth])
    return y, (rng.random(truth.size) < chance).astype(np.int8)


# ---------------------------------------------------------------------------- validation
@pytest.fixture
def frame():
    return pd.DataFrame({"a": [0.2, 0.5, 1.0, np.nan], "b": [0.8, 0.5, 0.0, np.nan], "y": [0, 1, 1, 0]})


def test_columns_and_unknown_rows(frame):
    (race,) = resolve_sensitive_proba(frame, {"race": ["a", "b"]}, observed=())
    assert race.groups == ("a", "b", "(missing)") and race.unknown == 1
    np.testing.assert_allclose(race.proba[3], [0, 0, 1])
    np.testing.assert_allclose(race.proba.sum(axis=1), 1)


@pytest.mark.parametrize("change, words", [
    (lambda f: f.assign(a=[-0.1, 0.5, 1.0, np.nan], b=[1.1, 0.5, 0.0, np.nan]), "column 'a' has 1 value(s) outside"),
    (lambda f: f.assign(b=[0.7, 0.5, 0.0, np.nan]), "1 row(s) do not sum to 1"),
    (lambda f: f.assign(b=[0.8, np.nan, 0.0, np.nan]), "some probabilities missing"),
    (lambda f: f.assign(b=["x", "y", "z", "w"]), "column 'b' is not numeric"),
])
def test_bad_probabilities_name_attribute_and_column(frame, change, words):
    with pytest.raises(AuditInputError, match="'sensitive_proba' of 'race'") as error:
        resolve_sensitive_proba(change(frame), {"race": ["a", "b"]}, observed=())
    assert words in str(error.value)


def test_bad_shapes_and_names(frame):
    with pytest.raises(AuditInputError, match="1 group column"):
        resolve_sensitive_proba(frame, {"race": ["a"]}, observed=())
    with pytest.raises(AuditInputError, match="has 3 rows but data has 4"):
        resolve_sensitive_proba(frame, {"race": frame[["a", "b"]].iloc[:3]}, observed=())
    with pytest.raises(AuditInputError, match="index that does not match"):
        resolve_sensitive_proba(frame, {"race": frame[["a", "b"]].set_axis([5, 6, 7, 8])}, observed=())
    with pytest.raises(AuditInputError, match="both in 'sensitive' and in 'sensitive_proba'"):
        resolve_sensitive_proba(frame, {"race": ["a", "b"]}, observed=("race",))
    with pytest.raises(AuditInputError, match="names column 'c'"):
        resolve_sensitive_proba(frame, {"race": ["a", "c"]}, observed=())
    with pytest.raises(AuditTypeError):
        resolve_sensitive_proba(frame, ["a", "b"], observed=())


def test_a_shuffled_frame_is_aligned_by_index(frame):
    probabilities = frame[["a", "b"]].iloc[[2, 0, 3, 1]]
    (race,) = resolve_sensitive_proba(frame, {"race": probabilities}, observed=())
    np.testing.assert_allclose(race.proba[:, 0], [0.2, 0.5, 1.0, 0.0])


def test_prior_recalibrates_the_mean_probabilities():
    rng = np.random.default_rng(0)
    _, p = calibrated(4000, 0.8, rng)
    data = pd.DataFrame(p, columns=["x", "z"])
    (race,) = resolve_sensitive_proba(data, {"race": ["x", "z"]}, observed=(), proba_prior={"race": {"x": 0.5,
                                                                                                    "z": 0.5}})
    np.testing.assert_allclose(race.proba.mean(axis=0), [0.5, 0.5], atol=1e-8)
    with pytest.raises(AuditInputError, match="must give a share for each group"):
        resolve_sensitive_proba(data, {"race": ["x", "z"]}, observed=(), proba_prior={"race": {"x": 1.0}})


# ---------------------------------------------------------------------------- weighted cells
def test_one_hot_probabilities_give_the_observed_statistics():
    rng = np.random.default_rng(1)
    n = 3000
    data = pd.DataFrame({"sex": rng.choice(["f", "m"], n), "race": rng.choice(["p", "q", "r"], n)})
    y, pred = rng.integers(0, 2, n).astype(np.int8), rng.integers(0, 2, n).astype(np.int8)
    score = rng.random(n)
    weight = rng.uniform(0.5, 2, n)
    one_hot = pd.get_dummies(data["race"]).astype(float)
    sex = encode_sensitive(data, ["sex"])
    (race,) = resolve_sensitive_proba(data.join(one_hot), {"race": list(one_hot.columns)}, observed=("sex",))
    for w in (None, weight):
        ours = weighted_stats(expand(sex, [race], n), y, pred, score, w)
        both = encode_sensitive(data, ["sex", "race"])
        reference = GroupStats.from_codes(both.attributes, both.groups, both.codes, y, pred, score, w,
                                          score_edges=ours.score_edges)
        assert ours.groups == reference.groups
        assert ours.equals(reference)
        np.testing.assert_array_equal(ours.count, reference.count)


def test_weighted_cells_add_each_row_by_its_probabilities():
    proba = np.array([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]])
    data = pd.DataFrame(proba, columns=["g", "h"])
    (attribute,) = resolve_sensitive_proba(data, {"e": ["g", "h"]}, observed=())
    y, pred = np.array([1, 0, 1], np.int8), np.array([1, 1, 0], np.int8)
    stats = weighted_stats(expand(None, [attribute], 3), y, pred, None, None)
    assert stats.groups == (("g",), ("h",))
    np.testing.assert_allclose(stats.count.sum(axis=(1, 2, 3)), [1.75, 1.25])
    np.testing.assert_allclose(stats.weight[0, 1, 1].sum(), 0.25)  # g's true positives: row 0 only
    np.testing.assert_allclose(stats.weight[1, 1, 0].sum(), 0.5)   # h's false negatives: row 2


# ---------------------------------------------------------------------------- correction
def test_mixing_matrix_by_hand():
    rng = np.random.default_rng(2)
    truth, p = calibrated(400, 0.6, rng, prior=(0.5, 0.3, 0.2))
    y, pred = outcomes(truth, rng, fpr=(0.1, 0.2, 0.3), tpr=(0.6, 0.7, 0.8))
    point = mixing_stats(np.zeros(400, int), 1, p, y, pred, None, None)
    c = correct(point, None, np.array([0]), 1, ["false_positive_rate"], True, None)
    negatives = y == 0
    a = (p[negatives].T @ p[negatives]) / p[negatives].sum(axis=0)[:, None]
    weighted = (p[negatives] * pred[negatives, None]).sum(axis=0) / p[negatives].sum(axis=0)
    np.testing.assert_allclose(c.weighted["false_positive_rate"][0], weighted, rtol=1e-12)
    solved = np.linalg.solve(a, weighted)
    expected = solved if ((solved >= 0) & (solved <= 1)).all() else None
    if expected is not None:
        np.testing.assert_allclose(c.values["false_positive_rate"][0], expected, rtol=1e-9)
    np.testing.assert_allclose(c.condition["false_positive_rate"][0], np.linalg.cond(a), rtol=1e-9)


def test_correction_stays_within_bounds():
    a = np.array([[[0.6, 0.4], [0.4, 0.6]]])
    _, corrected, _ = corrected_rates(np.array([[0.95, 0.05]]), np.ones((1, 2)), a)
    assert ((corrected >= 0) & (corrected <= 1)).all()


@pytest.mark.parametrize("sigma", [0.4, 0.8])
def test_corrected_gap_is_unbiased_where_weighting_shrinks_it(sigma):
    rng = np.random.default_rng(3)
    weighted, corrected = [], []
    for _ in range(20):
        truth, p = calibrated(6000, sigma, rng)
        y, pred = outcomes(truth, rng)
        point = mixing_stats(np.zeros(truth.size, int), 1, p, y, pred, None, None)
        c = correct(point, None, np.array([0]), 1, ["false_positive_rate"], True, None)
        weighted.append(np.diff(c.weighted["false_positive_rate"][0])[0])
        corrected.append(np.diff(c.values["false_positive_rate"][0])[0])
    assert np.mean(weighted) < 0.21 - 0.04  # the naive estimate is pulled toward no disparity
    assert abs(np.mean(corrected) - 0.21) < 0.02


def coverage(reps: int, n: int, sigma: float, n_boot: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        truth, p = calibrated(n, sigma, rng)
        y, pred = outcomes(truth, rng)
        codes = np.zeros(n, int)
        point = mixing_stats(codes, 1, p, y, pred, None, None)
        boot = mixing_stats(codes, 1, p, y, pred, None, None, n_boot, rng)
        c = correct(point, boot, np.array([0]), 1, ["false_positive_rate"], True, None)
        gap = np.diff(c.replicates["false_positive_rate"][:, 0], axis=-1)[:, 0]
        low, high = np.nanquantile(gap, [0.025, 0.975])
        hits += low <= 0.21 <= high
    return hits / reps


def test_row_bootstrap_interval_covers_the_true_gap():
    assert coverage(reps=60, n=3000, sigma=0.5, n_boot=200, seed=4) >= 0.85


@pytest.mark.slow
def test_row_bootstrap_coverage_over_200_simulations():
    assert coverage(reps=200, n=5000, sigma=0.5, n_boot=400, seed=5) >= 0.90
