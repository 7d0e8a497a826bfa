"""The metric registry: every registered metric against its own reference implementation on tiny groups,
weighted and unweighted; every interval rule by simulation; and metrics added by a test, picked up by the
tables, intervals, comparisons, findings and the report with no other code change."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, precision_score

import fairaudit as fa
from fairaudit.metrics import (
    METRICS,
    Bootstrap,
    Cells,
    Metric,
    MetricRegistryError,
    Normal,
    Proportion,
    confusion,
    label_effective_sizes,
    register_metric,
    safe_divide,
    unregister_metric,
)
from fairaudit.stats import GroupStats
from fairaudit.uncertainty import bootstrap_cells, estimate
from tests.test_privacy import visible_text

SIZES = (1, 2, 3, 4, 5, 8, 13, 40)


def tiny_groups(seed: int) -> tuple[np.ndarray, ...]:
    """Groups of 1 to 40 rows (labels, decisions, scores on a 0.01 grid, weights), plus a group of 6 with
    only positives and one of 7 where nobody is predicted positive."""
    rng = np.random.default_rng(seed)
    sizes = SIZES + (6, 7)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    y = (rng.random(codes.size) < 0.4).astype(np.int8)
    y[codes == len(sizes) - 2] = 1
    score = np.clip(np.round(rng.beta(2, 3, codes.size) + 0.3 * y, 2), 0, 1)
    score[codes == len(sizes) - 1] *= 0.4
    pred = (score >= 0.5).astype(np.int8)
    return codes, y, pred, score, rng.uniform(0.2, 3.0, codes.size)


def reference(metric: Metric, y: np.ndarray, pred: np.ndarray, score: np.ndarray, w: np.ndarray | None) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric.reference(y, pred, y_score=score, sample_weight=w)


def matches(ours: np.ndarray, expected: np.ndarray) -> None:
    """Undefined exactly where the reference is undefined, equal elsewhere."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    defined = np.isfinite(expected)
    np.testing.assert_allclose(ours[defined], expected[defined], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(METRICS))
def test_metric_matches_its_reference_on_tiny_groups(name, weighted):
    metric = METRICS[name]
    for seed in range(3):
        codes, y, pred, score, weight = tiny_groups(seed)
        w = weight if weighted else None
        groups = tuple((str(g),) for g in range(codes.max() + 1))
        stats = GroupStats.from_codes(("g",), groups, codes, y, pred, score, w)
        expected = np.array([reference(metric, y[codes == g], pred[codes == g], score[codes == g],
                                       None if w is None else w[codes == g]) for g in range(len(groups))])
        assert np.isfinite(expected).sum() >= 3
        matches(metric.value(Cells.of(stats)), expected)
        matches(metric.value(Cells.of(stats.collapse(()))), np.array([reference(metric, y, pred, score, w)]))


# ---------------------------------------------------------------------------- intervals by simulation
POPULATION, SAMPLE, REPLICATIONS = 200_000, 400, 300


def population(kind: str = "miscalibrated") -> tuple[tuple[np.ndarray, ...], np.random.Generator]:
    """200,000 rows (labels, decisions, scores) and the generator that drew them: "miscalibrated" (35% positives,
    logistic scores on a 0.001 grid, calibration error 0.066), "calibrated" (Beta(2, 3) scores, labels drawn with
    the score's probability: calibration error 0)."""
    rng = np.random.default_rng(1)
    if kind == "miscalibrated":
        y = (rng.random(POPULATION) < 0.35).astype(np.int8)
        score = np.round(1 / (1 + np.exp(-(1.2 * rng.normal(size=POPULATION) + 1.3 * y - 0.9))), 3)
    else:
        score = rng.beta(2, 3, POPULATION)
        y = (rng.random(POPULATION) < score).astype(np.int8)
    return (y, (score >= 0.5).astype(np.int8), score), rng


def draw(rows: tuple[np.ndarray, ...], size: int, replications: int,
         rng: np.random.Generator) -> tuple[GroupStats, dict]:
    """``replications`` samples of ``size`` rows, each one group of one statistics table, with 300 bootstrap
    replicates of each."""
    y, pred, score = rows
    picked = rng.integers(0, len(y), (replications, size)).ravel()
    stats = GroupStats.from_codes(("sample",), tuple((str(r),) for r in range(replications)),
                                  np.repeat(np.arange(replications), size), y[picked], pred[picked], score[picked],
                                  None)
    return stats, bootstrap_cells(stats, 300, rng).cells(True)


def coverage(metric: Metric, stats: GroupStats, replicates: dict, truth: float) -> float:
    found = estimate(metric, stats, replicates, 0.95)
    assert np.isfinite(found.low).all() and np.isfinite(found.high).all()
    assert ((found.low <= found.value) & (found.value <= found.high)).all()
    return float(np.mean((found.low <= truth) & (truth <= found.high)))


@pytest.fixture(scope="module")
def samples():
    """300 samples of 400 rows from the miscalibrated population, with their bootstrap replicates."""
    rows, rng = population()
    return rows, *draw(rows, SAMPLE, REPLICATIONS, rng)


@pytest.mark.parametrize("name", list(METRICS))
def test_interval_covers_the_population_value(samples, name):
    """Every metric's 95% interval, by its registry rule, holds the population value in 91-99% of samples
    (the calibration error's percentile bootstrap, before its bias correction: 72%)."""
    (y, pred, score), stats, replicates = samples
    metric = METRICS[name]
    assert 0.91 <= coverage(metric, stats, replicates, reference(metric, y, pred, score, None)) <= 0.99


def test_calibration_error_interval_corrects_the_upward_bias(samples):
    """The lower bound is the basic bootstrap's 2 * value - upper percentile (clipped at 0, at most the value),
    the upper bound the upper percentile (at least the value), computed here by hand from the replicates; the
    plain percentile interval of the same replicates misses the truth from above."""
    (y, pred, score), stats, replicates = samples
    metric = METRICS["calibration_error"]
    found = estimate(metric, stats, replicates, 0.95)
    reps = metric.value(replicates["score_bins"])  # (groups, replicates)
    upper = np.quantile(reps, 0.975, axis=1)
    np.testing.assert_allclose(found.low, np.clip(np.minimum(2 * found.value - upper, found.value), 0, 1))
    np.testing.assert_allclose(found.high, np.maximum(upper, found.value))
    truth = reference(metric, y, pred, score, None)
    assert np.mean(np.quantile(reps, 0.025, axis=1) <= truth) < 0.8


def test_calibration_error_interval_in_small_samples():
    """Samples of 100 rows: the bias is then as large as the spread (percentile bootstrap: 2%); the corrected
    interval covers about 90% (200 samples)."""
    metric = METRICS["calibration_error"]
    rows, rng = population()
    assert 0.84 <= coverage(metric, *draw(rows, 100, 200, rng), reference(metric, *rows, None)) <= 0.99


KNOWN_ZERO = pytest.mark.xfail(strict=True, reason="known limit: with a perfectly calibrated model (truth 0) the "
                                                   "bias-corrected lower bound stays above 0 in ~40% of samples")


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "size", "low"), [
    ("miscalibrated", 100, 0.86), ("miscalibrated", 400, 0.93), ("miscalibrated", 2000, 0.93),
    pytest.param("calibrated", 400, 0.91, marks=KNOWN_ZERO)])
def test_calibration_error_coverage_long(kind, size, low):
    """1,000 samples per cell (``benchmarks``-sized): the coverage figures README quotes."""
    metric = METRICS["calibration_error"]
    rows, rng = population(kind)
    truth = 0.0 if kind == "calibrated" else reference(metric, *rows, None)
    assert low <= coverage(metric, *draw(rows, size, 1000, rng), truth) <= 0.99


# ---------------------------------------------------------------------------- metrics added by a test
def _youden(cells: Cells) -> np.ndarray:
    c = confusion(cells.weight, True)
    return safe_divide(c.tp, c.tp + c.fn) + safe_divide(c.tn, c.tn + c.fp) - 1


def _youden_variance(stats: GroupStats) -> np.ndarray:
    yp = stats.weight.sum(axis=3)
    tpr = safe_divide(yp[:, 1, 1], yp[:, 1].sum(axis=-1))
    tnr = safe_divide(yp[:, 0, 0], yp[:, 0].sum(axis=-1))
    negatives, positives = label_effective_sizes(stats)
    return safe_divide(tpr * (1 - tpr), positives) + safe_divide(tnr * (1 - tnr), negatives)


def _youden_reference(y_true, y_pred, *, y_score=None, sample_weight=None) -> float:
    if len(np.unique(y_true)) < 2:
        return np.nan
    return balanced_accuracy_score(y_true, y_pred, sample_weight=sample_weight, adjusted=True)


def _false_omission_reference(y_true, y_pred, *, y_score=None, sample_weight=None) -> float:
    return 1 - precision_score(y_true, y_pred, pos_label=0, zero_division=np.nan, sample_weight=sample_weight)


DUMMIES = {
    "youden_index": Metric("youden_index", "true positive rate plus true negative rate minus one (Youden's J)",
                           True, False, True, Normal(_youden_variance, bounds=(-1.0, 1.0)), _youden_reference,
                           function=_youden),
    "false_omission_rate": Metric("false_omission_rate", "of those predicted negative, the share truly positive",
                                  True, False, False, Proportion(), _false_omission_reference,
                                  lambda c: c.fn, lambda c: c.fn + c.tn),
}


@pytest.fixture(params=list(DUMMIES))
def dummy(request):
    metric = register_metric(DUMMIES[request.param])
    yield metric
    unregister_metric(metric.name)
    assert metric.name not in METRICS


@pytest.fixture(scope="module")
def credit():
    data = fa.load_dataset("german_credit")
    data["score"] = np.linspace(0.02, 0.98, len(data))[np.random.default_rng(0).permutation(len(data))]
    data["score"] = np.clip(data["score"] + 0.25 * (data["good_credit"] - 0.5), 0, 1)
    data["weight"] = np.random.default_rng(1).uniform(0.5, 2.0, len(data))
    return data


def test_registered_metric_is_audited_compared_checked_and_reported(dummy, credit, tmp_path):
    name = dummy.name
    threshold = f"{name}_difference"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        result = fa.audit(None, credit, sensitive=["sex", "age_group"], target="good_credit", y_score="score",
                          sample_weight="weight", explain=False, n_boot=50,
                          policy={"thresholds": {threshold: 0.01, "disparate_impact_ratio": 0.8}})
    # tables: the value of every group against the reference, with an interval around it
    table = result.by_group.loc["sex"]
    for group, rows in credit.groupby(credit["sex"].astype(str), observed=True):
        pred = (rows["score"] >= 0.5).astype(int).to_numpy()
        expected = dummy.reference(rows["good_credit"].to_numpy(), pred, sample_weight=rows["weight"].to_numpy())
        assert table.loc[group, name] == pytest.approx(expected, abs=1e-12)
    values, low, high = (result.by_group[c] for c in (name, f"{name}_ci_low", f"{name}_ci_high"))
    assert values.notna().all() and ((low < values) & (values < high)).all()
    assert set(result.overall.loc[name]) and np.isfinite(result.overall.loc[name]).all()
    # comparisons: max - min and min / max with simultaneous intervals, every pair, a homogeneity test
    row = result.disparities.loc[("age_group", name)]
    groups = result.by_group.loc["age_group", name]
    assert row["difference"] == pytest.approx(groups.max() - groups.min())
    assert row["difference_ci_low"] <= row["difference"] <= row["difference_ci_high"]
    assert 0 <= row["p_value"] <= 1 and row["max_group"] == groups.idxmax()
    pairs = result.pairwise.xs(name, level="metric")
    assert len(pairs.loc["age_group"]) == len(groups) * (len(groups) - 1) // 2
    # findings: the policy's threshold on it is checked (FA110), with the deciding groups named
    checks = [f for f in result.findings if f.measure == threshold]
    assert {f.attribute for f in checks} >= {"sex", "age_group"}
    assert all(f.code == "FA110" and f.severity in ("fail", "warn", "pass") and len(f.groups) == 2 for f in checks)
    # report: the per-group table and the method section show it; JSON keeps it
    text = visible_text(result.to_html())
    assert name.replace("_", " ") in text and dummy.description in text
    assert all(f.message in text for f in checks if f.severity != "pass")
    result.to_json(tmp_path / "audit.json")
    assert name in fa.load(tmp_path / "audit.json").by_group.columns


def test_registry_refuses_what_it_cannot_compute():
    selection = METRICS["selection_rate"]
    with pytest.raises(MetricRegistryError, match="already registered"):
        register_metric(selection)
    assert register_metric(selection, replace=True) is METRICS["selection_rate"] is selection
    with pytest.raises(MetricRegistryError, match="snake_case"):
        Metric("Selection Rate", "x", False, False, None, Proportion(), selection.reference,
               selection.numerator, selection.denominator)
    with pytest.raises(MetricRegistryError, match="either a rate"):
        Metric("rate_with_normal", "x", False, False, None, Normal(_youden_variance), selection.reference,
               selection.numerator, selection.denominator)
    with pytest.raises(MetricRegistryError, match="either a rate"):
        Metric("function_with_wilson", "x", True, False, None, Proportion(), _youden_reference, function=_youden)
    with pytest.raises(MetricRegistryError, match="cells must be one of"):
        Bootstrap("rows")
    with pytest.raises(MetricRegistryError, match="No metric named"):
        unregister_metric("no_such_metric")
    with pytest.raises(TypeError, match="expects a fairaudit.metrics.Metric"):
        register_metric("selection_rate")
