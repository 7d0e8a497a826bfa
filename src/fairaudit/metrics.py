"""The metric registry: each metric defined once, with everything needed to compute it and its interval.

A :class:`Metric` holds its name and description, which columns it needs, its direction, how its value is
computed from group statistics (a rate's ``numerator`` / ``denominator`` of confusion counts, or a
``function`` of cells), its interval rule (:class:`Proportion`, :class:`Normal` with the metric's own
plug-in variance, or :class:`Bootstrap`; :mod:`fairaudit.uncertainty` applies them) and its ``reference``:
an independent implementation on rows (scikit-learn or fairlearn) that the tests check it against.
:func:`register_metric` adds one; audits then compute, compare, check and report it with no other change.

Metrics take :class:`Cells` (the cell sums of :mod:`fairaudit.stats` with any leading dimensions:
groups, bootstrap replicates, ...) and return one value per leading index. Undefined values (a
group with no positives has no true positive rate) are NaN, never 0.
"""

from __future__ import annotations

import functools
import importlib
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from fairaudit.stats import GroupStats


class MetricRegistryError(ValueError):
    """A metric cannot be registered (name taken or malformed, parts and interval rule that do not fit)."""


@dataclass(frozen=True)
class Cells:
    """Cell sums with leading dimensions ``(...)``: ``weight`` and ``score_sum`` are ``(..., y, p, c)``."""

    weight: np.ndarray
    score_sum: np.ndarray | None
    score_hist: np.ndarray | None
    has_target: bool

    @classmethod
    def of(cls, stats: GroupStats) -> Cells:
        return cls(
            weight=stats.weight,
            score_sum=stats.score_sum if stats.has_score else None,
            score_hist=stats.score_hist,
            has_target=stats.has_target,
        )


class Confusion(NamedTuple):
    """Weighted confusion counts; ``tp``/``fp``/``fn``/``tn`` are None without a target."""

    n: np.ndarray
    predicted_positive: np.ndarray
    tp: np.ndarray | None
    fp: np.ndarray | None
    fn: np.ndarray | None
    tn: np.ndarray | None


def confusion(weight: np.ndarray, has_target: bool) -> Confusion:
    """Confusion counts from a ``(..., y, p, c)`` cell array."""
    yp = weight.sum(axis=-1)
    predicted_positive = yp[..., 1].sum(axis=-1)
    n = yp.sum(axis=(-2, -1))
    if not has_target:
        return Confusion(n, predicted_positive, None, None, None, None)
    return Confusion(n, predicted_positive, yp[..., 1, 1], yp[..., 0, 1], yp[..., 1, 0], yp[..., 0, 0])


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def effective_size(weight: np.ndarray, weight_sq: np.ndarray) -> np.ndarray:
    """Kish effective sample size ``(sum w)^2 / sum w^2``; equals the row count when all weights are 1."""
    return safe_divide(np.square(weight), weight_sq)


def label_effective_sizes(stats: GroupStats) -> tuple[np.ndarray, np.ndarray]:
    """Effective sizes of the negatives and positives of each group."""
    n = effective_size(stats.weight.sum(axis=(2, 3)), stats.weight_sq.sum(axis=(2, 3)))
    return n[:, 0], n[:, 1]


# ---------------------------------------------------------------------------- interval rules
@dataclass(frozen=True)
class Proportion:
    """The rule of a rate: Wilson score interval on the Kish effective size of its denominator; between
    groups Newcombe's difference, Katz's log ratio and a chi-squared homogeneity test."""

    label: str = "Wilson score"


@dataclass(frozen=True)
class Normal:
    """``value +- z * sqrt(variance(stats))``, clipped to ``bounds``; between groups normal differences, delta-
    method log ratios and a Wald homogeneity test. With ``logit`` (the logit of the estimate and its standard
    error on that scale, from the statistics, the estimate and its variance) the interval is built on the
    logit scale and mapped back. Groups where ``sufficient`` is False get no interval and no comparison."""

    variance: Callable[[GroupStats], np.ndarray]
    label: str = "normal, plug-in standard error"
    bounds: tuple[float, float] = (0.0, 1.0)
    logit: Callable[[GroupStats, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    sufficient: Callable[[GroupStats], np.ndarray] | None = None


BOOTSTRAP_CELLS = ("decisions", "score_bins")


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap over resampled group statistics. ``cells`` names the margin of the replicate cells the metric
    reads: ``"decisions"`` (label x decision) or ``"score_bins"`` (label x calibration bin, with the score sums).

    Percentile interval, unless ``biased_upward``: for a metric whose plug-in value is a convex function of
    unbiased sums (a sum of absolute gaps, as the calibration error), so that its expectation is at least the
    truth (Jensen). Its percentile lower bound then sits above the truth; the lower bound is the basic bootstrap's
    ``2 * value - upper percentile`` (bias-corrected, clipped to ``bounds``) and the upper bound stays the upper
    percentile (an upper bound of the expectation, hence of the truth)."""

    cells: str = "decisions"
    label: str = "percentile bootstrap"
    biased_upward: bool = False
    bounds: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.cells not in BOOTSTRAP_CELLS:
            raise MetricRegistryError(f"Bootstrap cells must be one of {', '.join(BOOTSTRAP_CELLS)}; "
                                      f"got {self.cells!r}.")


IntervalRule = Proportion | Normal | Bootstrap
Fraction = Callable[[Confusion], np.ndarray]
Reference = Callable[..., float]
"""``reference(y_true, y_pred, *, y_score=None, sample_weight=None) -> float`` on the rows of one group,
NaN where the rows do not define the metric."""


@dataclass(frozen=True)
class Metric:
    """One metric: a rate (``numerator`` / ``denominator`` of confusion counts, rule :class:`Proportion`) or a
    ``function`` of cells, with its interval rule and its reference implementation (for the tests)."""

    name: str
    description: str
    needs_target: bool
    needs_score: bool
    greater_is_better: bool | None
    interval: IntervalRule
    reference: Reference
    numerator: Fraction | None = None
    denominator: Fraction | None = None
    function: Callable[[Cells], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise MetricRegistryError(f"A metric's name must be snake_case (letters, digits, underscores); "
                                      f"got {self.name!r}.")
        rate = self.numerator is not None and self.denominator is not None
        if rate == (self.function is not None) or rate != isinstance(self.interval, Proportion):
            raise MetricRegistryError(
                f"Metric {self.name!r} must be either a rate (numerator and denominator, interval Proportion()) "
                "or a function of cells (interval Normal(...) or Bootstrap(...)).")

    @property
    def is_rate(self) -> bool:
        return self.numerator is not None

    def applies(self, has_target: bool, has_score: bool) -> bool:
        return (has_target or not self.needs_target) and (has_score or not self.needs_score)

    def parts(self, cells: Cells) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and denominator of a rate."""
        counts = confusion(cells.weight, cells.has_target)
        return self.numerator(counts), self.denominator(counts)

    def value(self, cells: Cells) -> np.ndarray:
        if self.is_rate:
            return safe_divide(*self.parts(cells))
        return self.function(cells)


# ---------------------------------------------------------------------------- estimates and variances
def _balanced_accuracy(cells: Cells) -> np.ndarray:
    c = confusion(cells.weight, True)
    return (safe_divide(c.tp, c.tp + c.fn) + safe_divide(c.tn, c.tn + c.fp)) / 2


def _balanced_accuracy_variance(stats: GroupStats) -> np.ndarray:
    """The binomial variances of TPR and TNR, over four."""
    yp = stats.weight.sum(axis=3)
    tpr = safe_divide(yp[:, 1, 1], yp[:, 1].sum(axis=-1))
    tnr = safe_divide(yp[:, 0, 0], yp[:, 0].sum(axis=-1))
    eff_neg, eff_pos = label_effective_sizes(stats)
    return (safe_divide(tpr * (1 - tpr), eff_pos) + safe_divide(tnr * (1 - tnr), eff_neg)) / 4


def _mean_score(cells: Cells) -> np.ndarray:
    return safe_divide(cells.score_sum.sum(axis=(-3, -2, -1)), cells.weight.sum(axis=(-3, -2, -1)))


def _mean_score_variance(stats: GroupStats) -> np.ndarray:
    """Variance of the (weighted) mean score of each group."""
    w = stats.weight.sum(axis=(1, 2, 3))
    mean = safe_divide(stats.score_sum.sum(axis=(1, 2, 3)), w)
    second = safe_divide(stats.score_sq_sum.sum(axis=(1, 2, 3)), w)
    n = effective_size(w, stats.weight_sq.sum(axis=(1, 2, 3)))
    return safe_divide(np.maximum(second - mean**2, 0.0), n - 1)


def _calibration_error(cells: Cells) -> np.ndarray:
    """Expected calibration error: sum over bins of |observed positives - predicted| / n."""
    by_bin = _summed(cells.weight, (-2,))  # (..., y, c)
    gap = by_bin[..., 1, :] - _summed(cells.score_sum, (-3, -2))
    np.abs(gap, out=gap)
    # einsum's sums: numpy's reductions over a few trailing cells of many replicates cost several times more
    return safe_divide(np.einsum("...c->...", gap), np.einsum("...yc->...", by_bin))


def _summed(array: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``array`` summed over ``axes``; an axis of length one is dropped without a pass over the array (the
    bootstrap replicates carry one decision and one label axis for the score sums)."""
    if all(array.shape[axis] == 1 for axis in axes):
        dropped = {axis % array.ndim for axis in axes}
        return array.reshape([n for axis, n in enumerate(array.shape) if axis not in dropped])
    return array.sum(axis=axes)


def roc_auc_from_hist(hist: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC from per-label score histograms ``(..., 2, bins)``; ties count 1/2."""
    return _auc_parts(hist)[0]


def _roc_auc(cells: Cells) -> np.ndarray:
    return roc_auc_from_hist(cells.score_hist)


_last_auc: list[tuple[weakref.ref, tuple[np.ndarray, ...]]] = []


_AUC_BLOCK = 8
"""Histograms per block in :func:`_auc_parts`: a block's working rows stay in the processor's cache."""


def _auc_parts(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The AUC of each histogram ``(..., 2, bins)`` and DeLong's placement sums ``s10``, ``s01`` (the
    variances of the positives' and negatives' placements). The last histogram's parts are kept: the AUC's
    value and its variance read the same histogram, one after the other."""
    if _last_auc and _last_auc[0][0]() is hist:
        return _last_auc[0][1]
    flat = hist.reshape((-1,) + hist.shape[-2:])
    n_neg, n_pos = (flat[:, label].sum(axis=-1).astype(float) for label in (0, 1))
    pairs = n_pos * n_neg
    auc, s10, s01 = np.empty(len(flat)), np.empty(len(flat)), np.empty(len(flat))
    work = _AucWork(min(len(flat), _AUC_BLOCK), flat.shape[-1], counted=np.issubdtype(flat.dtype, np.integer))
    for start in range(0, len(flat), _AUC_BLOCK):
        block = slice(start, start + _AUC_BLOCK)
        negatives, positives = work.floats(flat[block, 0], 0), work.floats(flat[block, 1], 1)
        placed = work.placements(flat[block, 0])  # negatives below each bin, ties counting half
        auc[block] = safe_divide(_dot(positives, placed), pairs[block])
        placed -= (auc[block] * n_neg[block])[:, None]
        placed *= placed
        s10[block] = _dot(positives, placed)
        above = work.placements(flat[block, 1])  # positives above each bin: n_pos minus this, ties counting half
        above -= (n_pos[block] * (1 - auc[block]))[:, None]
        above *= above
        s01[block] = _dot(negatives, above)
    shape = hist.shape[:-2]
    parts = (auc.reshape(shape), safe_divide(s10, pairs * n_neg).reshape(shape),
             safe_divide(s01, pairs * n_pos).reshape(shape))
    _last_auc[:] = [(weakref.ref(hist), parts)]
    return parts


class _AucWork:
    """Working rows of :func:`_auc_parts`, reused by every block. Integer counts (unweighted histograms) are
    prefix-summed in integers: several times faster than in floating point, and exact."""

    def __init__(self, rows: int, bins: int, counted: bool) -> None:
        self.placed, self.scratch = np.empty((rows, bins)), np.empty((rows, bins))
        self.counted = counted
        if counted:
            self.twice = np.empty((rows, bins), dtype=np.int64)
            self.labels = (np.empty((rows, bins)), np.empty((rows, bins)))

    def floats(self, counts: np.ndarray, label: int) -> np.ndarray:
        """The counts of one label as floating point."""
        if not self.counted:
            return counts
        out = self.labels[label][:len(counts)]
        np.copyto(out, counts)
        return out

    def placements(self, counts: np.ndarray) -> np.ndarray:
        """Row-wise prefix sums of ``counts`` minus half of each bin."""
        out = self.placed[:len(counts)]
        if not self.counted:
            np.cumsum(counts, axis=-1, out=out)
            out -= np.multiply(counts, 0.5, out=self.scratch[:len(counts)])
            return out
        twice = self.twice[:len(counts)]
        np.cumsum(counts, axis=-1, out=twice)
        twice *= 2
        twice -= counts
        return np.multiply(twice, 0.5, out=out)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two ``(rows, n)`` arrays (einsum's own loop: a BLAS call would start BLAS threads
    that take the core the bootstrap draws on)."""
    return np.einsum("ij,ij->i", a, b)


def auc_variance(stats: GroupStats) -> np.ndarray:
    """DeLong's variance of the ROC AUC of each group, from the binned scores."""
    _, s10, s01 = _auc_parts(stats.score_hist)
    eff_neg, eff_pos = label_effective_sizes(stats)
    return safe_divide(s10, eff_pos - 1) + safe_divide(s01, eff_neg - 1)


def _auc_logit(stats: GroupStats, auc: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The AUC's logit and its standard error by the delta method. An AUC of exactly 0 or 1 is moved half a
    pair inside and, its DeLong variance being 0, given Hanley and McNeil's variance there."""
    negatives, positives = label_effective_sizes(stats)
    pairs = negatives * positives
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.clip(auc, 0.5 / pairs, 1 - 0.5 / pairs)
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        hanley = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / pairs
        se = np.sqrt(np.where(variance > 0, variance, hanley)) / (a * (1 - a))
        return np.log(a / (1 - a)), se


MIN_AUC_COUNT = 10
"""Fewest positives and negatives (effective) for a group's ROC AUC to get an interval."""


def auc_countable(stats: GroupStats) -> np.ndarray:
    """Groups with at least :data:`MIN_AUC_COUNT` effective positives and negatives."""
    negatives, positives = label_effective_sizes(stats)
    return (negatives >= MIN_AUC_COUNT) & (positives >= MIN_AUC_COUNT)


# ---------------------------------------------------------------------------- references (for the tests)
def _library(path: str, *, on: str = "y_pred", complement: bool = False, both_labels: bool = False,
             **kwargs: Any) -> Reference:
    """A reference calling ``path`` (a scikit-learn or fairlearn function, imported when called) on ``y_true``
    and the column ``on``; ``complement``: one minus its value; ``both_labels``: NaN unless both labels occur."""
    return functools.partial(_call_library, path, on, complement, both_labels, kwargs)


def _call_library(path: str, on: str, complement: bool, both_labels: bool, kwargs: dict[str, Any],
                  y_true: np.ndarray, y_pred: np.ndarray, *, y_score: np.ndarray | None = None,
                  sample_weight: np.ndarray | None = None) -> float:
    module, name = path.rsplit(".", 1)
    if both_labels and len(np.unique(y_true)) < 2:
        return np.nan
    column = {"y_pred": y_pred, "y_score": y_score, "y_true": y_true}[on]
    value = float(getattr(importlib.import_module(module), name)(y_true, column, sample_weight=sample_weight,
                                                                  **kwargs))
    return 1 - value if complement else value


def _calibration_error_reference(y_true: np.ndarray, y_pred: np.ndarray, *, y_score: np.ndarray | None = None,
                                 sample_weight: np.ndarray | None = None) -> float:
    """ECE by hand with pandas' right-closed bins (the first closed on the left), as calibration_curve bins."""
    import pandas as pd

    weights = np.ones(len(y_score)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    bins = pd.cut(y_score, np.linspace(0, 1, 11), include_lowest=True, right=True)
    frame = pd.DataFrame({"bin": bins, "w": weights, "wy": weights * y_true, "ws": weights * y_score})
    sums = frame.groupby("bin", observed=True)[["w", "wy", "ws"]].sum()
    return float(np.abs(sums["wy"] - sums["ws"]).sum() / weights.sum())


# ---------------------------------------------------------------------------- the registry
def _any(c: Confusion) -> np.ndarray:
    return c.n


_RECALL = "sklearn.metrics.recall_score"
_PRECISION = "sklearn.metrics.precision_score"
_BUILT_IN = [
    Metric("selection_rate", "share of the group that receives the positive decision",
           False, False, None, Proportion(), _library("fairlearn.metrics.selection_rate"),
           lambda c: c.predicted_positive, _any),
    Metric("base_rate", "share of the group whose true label is positive",
           True, False, None, Proportion(), _library("fairlearn.metrics.mean_prediction", on="y_true"),
           lambda c: c.tp + c.fn, _any),
    Metric("true_positive_rate", "of the truly positive, the share predicted positive (recall)",
           True, False, True, Proportion(), _library(_RECALL, zero_division=np.nan),
           lambda c: c.tp, lambda c: c.tp + c.fn),
    Metric("false_positive_rate", "of the truly negative, the share predicted positive",
           True, False, False, Proportion(), _library(_RECALL, complement=True, pos_label=0, zero_division=np.nan),
           lambda c: c.fp, lambda c: c.fp + c.tn),
    Metric("false_negative_rate", "of the truly positive, the share predicted negative",
           True, False, False, Proportion(), _library(_RECALL, complement=True, zero_division=np.nan),
           lambda c: c.fn, lambda c: c.tp + c.fn),
    Metric("true_negative_rate", "of the truly negative, the share predicted negative (specificity)",
           True, False, True, Proportion(), _library(_RECALL, pos_label=0, zero_division=np.nan),
           lambda c: c.tn, lambda c: c.fp + c.tn),
    Metric("precision", "of those predicted positive, the share truly positive",
           True, False, True, Proportion(), _library(_PRECISION, zero_division=np.nan),
           lambda c: c.tp, lambda c: c.tp + c.fp),
    Metric("negative_predictive_value", "of those predicted negative, the share truly negative",
           True, False, True, Proportion(), _library(_PRECISION, pos_label=0, zero_division=np.nan),
           lambda c: c.tn, lambda c: c.tn + c.fn),
    Metric("accuracy", "share of correct decisions",
           True, False, True, Proportion(), _library("sklearn.metrics.accuracy_score"),
           lambda c: c.tp + c.tn, _any),
    Metric("balanced_accuracy", "mean of true positive and true negative rates",
           True, False, True, Normal(_balanced_accuracy_variance),
           _library("sklearn.metrics.balanced_accuracy_score", both_labels=True), function=_balanced_accuracy),
    Metric("roc_auc", "probability that a positive scores above a negative (ties count half)",
           True, True, True,
           Normal(auc_variance, "logit-normal, DeLong variance (>= 10 positives and negatives)", logit=_auc_logit,
                  sufficient=auc_countable),
           _library("sklearn.metrics.roc_auc_score", on="y_score", both_labels=True), function=_roc_auc),
    Metric("mean_score", "average score",
           False, True, None, Normal(_mean_score_variance),
           _library("fairlearn.metrics.mean_prediction", on="y_score"), function=_mean_score),
    Metric("calibration_error", "expected calibration error over 10 equal-width score bins",
           True, True, False,
           Bootstrap("score_bins", "bootstrap: basic (bias-corrected) lower, percentile upper bound",
                     biased_upward=True),
           _calibration_error_reference, function=_calibration_error),
]

METRICS: dict[str, Metric] = {m.name: m for m in _BUILT_IN}
"""Every metric an audit computes, in the order of the tables' columns."""


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add ``metric`` to the registry: audits then compute it per group with its interval, compare it between
    groups (``<name>_difference`` / ``<name>_ratio``, usable as policy thresholds) and report it. A name
    already registered is refused unless ``replace=True``."""
    if not isinstance(metric, Metric):
        raise TypeError(f"register_metric expects a fairaudit.metrics.Metric; got {type(metric).__name__}.")
    if metric.name in METRICS and not replace:
        raise MetricRegistryError(f"A metric named {metric.name!r} is already registered: choose another name "
                                  "or pass replace=True.")
    METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> Metric:
    """Remove the metric ``name`` from the registry and return it."""
    if name not in METRICS:
        raise MetricRegistryError(f"No metric named {name!r} is registered; registered: {', '.join(METRICS)}.")
    return METRICS.pop(name)


def applicable_metrics(has_target: bool, has_score: bool) -> list[Metric]:
    """The registry's metrics that the available columns allow, in registry order."""
    return [m for m in METRICS.values() if m.applies(has_target, has_score)]
