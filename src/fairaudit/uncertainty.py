"""Intervals, the bootstrap over group statistics, homogeneity tests and multiple-testing correction.

How each number gets its interval:

* rates (selection rate, TPR, precision, ...): Wilson score interval; with weights, on the Kish
  effective sample size ``(sum w)^2 / sum w^2``;
* ``roc_auc``: normal interval with DeLong's variance, computed from the score histograms;
* ``mean_score`` and ``balanced_accuracy``: normal interval with the plug-in standard error;
* ``calibration_error`` and every disparity and named measure: percentile bootstrap.

The bootstrap never touches rows. Per finest group it draws the group's cell counts from a
multinomial with the group's own size and cell shares (stratified by group, as a row bootstrap
stratified by group would), each drawn row carrying its cell's mean weight and mean score. Metrics
that the cells cannot resample finely enough (ROC AUC, mean score) are drawn from their normal
sampling distribution instead, independently per group.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from fairaudit.metrics import Cells, Metric, confusion, roc_auc_from_hist, safe_divide
from fairaudit.stats import GroupStats, sum_groups


@functools.lru_cache(maxsize=8)
def z_value(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level."""
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2))


def effective_size(weight: np.ndarray, weight_sq: np.ndarray) -> np.ndarray:
    """Kish effective sample size; equals the row count when all weights are 1."""
    return safe_divide(np.square(weight), weight_sq)


def wilson_interval(p: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` (effective) trials."""
    z = z_value(confidence)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    undefined = ~np.isfinite(p) | ~(n > 0)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def normal_interval(value: np.ndarray, variance: np.ndarray, confidence: float,
                    bounds: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``value +- z * sqrt(variance)``, clipped to ``bounds``."""
    half = z_value(confidence) * np.sqrt(variance)
    low, high = value - half, value + half
    if bounds is not None:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    return low, high


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over axis 0, ignoring replicates where the value is undefined."""
    alpha = 1 - confidence
    if replicates.shape[0] == 0:
        nan = np.full(replicates.shape[1:], np.nan)
        return nan, nan.copy()
    if not np.isnan(replicates).any():
        return tuple(np.quantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high


# ---------------------------------------------------------------------------- variances
def label_effective_sizes(stats: GroupStats) -> tuple[np.ndarray, np.ndarray]:
    """Effective sizes of the negatives and positives of each group."""
    w = stats.weight.sum(axis=(2, 3))
    w2 = stats.weight_sq.sum(axis=(2, 3))
    n = effective_size(w, w2)
    return n[:, 0], n[:, 1]


def auc_variance(stats: GroupStats) -> np.ndarray:
    """DeLong's variance of the ROC AUC of each group, from the binned scores."""
    hist = stats.score_hist
    negatives, positives = hist[:, 0, :], hist[:, 1, :]
    n_pos, n_neg = positives.sum(axis=-1), negatives.sum(axis=-1)
    auc = roc_auc_from_hist(hist)[:, None]
    neg_below = np.cumsum(negatives, axis=-1) - negatives
    pos_above = n_pos[:, None] - np.cumsum(positives, axis=-1)
    v10 = safe_divide(neg_below + 0.5 * negatives, n_neg[:, None])
    v01 = safe_divide(pos_above + 0.5 * positives, n_pos[:, None])
    s10 = safe_divide((positives * (v10 - auc) ** 2).sum(axis=-1), n_pos)
    s01 = safe_divide((negatives * (v01 - auc) ** 2).sum(axis=-1), n_neg)
    eff_neg, eff_pos = label_effective_sizes(stats)
    return safe_divide(s10, eff_pos - 1) + safe_divide(s01, eff_neg - 1)


def mean_score_variance(stats: GroupStats) -> np.ndarray:
    """Variance of the (weighted) mean score of each group."""
    w = stats.weight.sum(axis=(1, 2, 3))
    mean = safe_divide(stats.score_sum.sum(axis=(1, 2, 3)), w)
    second = safe_divide(stats.score_sq_sum.sum(axis=(1, 2, 3)), w)
    n = effective_size(w, stats.weight_sq.sum(axis=(1, 2, 3)))
    return safe_divide(np.maximum(second - mean**2, 0.0), n - 1)


def balanced_accuracy_variance(stats: GroupStats) -> np.ndarray:
    """Variance of balanced accuracy: the binomial variances of TPR and TNR, over four."""
    yp = stats.weight.sum(axis=3)
    tpr = safe_divide(yp[:, 1, 1], yp[:, 1].sum(axis=-1))
    tnr = safe_divide(yp[:, 0, 0], yp[:, 0].sum(axis=-1))
    eff_neg, eff_pos = label_effective_sizes(stats)
    return (safe_divide(tpr * (1 - tpr), eff_pos) + safe_divide(tnr * (1 - tnr), eff_neg)) / 4


def rate_effective_size(metric: Metric, stats: GroupStats) -> np.ndarray:
    """Effective number of trials behind a rate: its denominator counted with squared weights."""
    denominator = metric.denominator(confusion(stats.weight, stats.has_target))
    denominator_sq = metric.denominator(confusion(stats.weight_sq, stats.has_target))
    return effective_size(denominator, denominator_sq)


# ---------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicates of the finest groups' cells, reduced to what the metrics read:
    ``confusion`` ``(n_boot, groups, y, p)``, and for calibration ``by_bin`` ``(n_boot, groups, y, c)``
    and ``score_by_bin`` ``(n_boot, groups, c)``."""

    confusion: np.ndarray
    by_bin: np.ndarray
    score_by_bin: np.ndarray

    def collapse(self, member: np.ndarray, n_groups: int) -> Replicates:
        """Replicates of coarser groups, by summing finest groups."""
        if n_groups == len(member) and np.array_equal(member, np.arange(n_groups)):
            return self
        return Replicates(*(sum_groups(a, member, n_groups, axis=1)
                            for a in (self.confusion, self.by_bin, self.score_by_bin)))

    def cells(self, has_target: bool) -> tuple[Cells, Cells]:
        """Cells for the confusion-based metrics and cells for calibration."""
        confusion_cells = Cells(self.confusion[..., None], None, None, has_target)
        calibration_cells = Cells(self.by_bin[..., :, None, :], self.score_by_bin[..., None, None, :], None,
                                  has_target)
        return confusion_cells, calibration_cells


def bootstrap_cells(stats: GroupStats, n_boot: int, rng: np.random.Generator) -> Replicates:
    """Replicates of the finest groups' cells.

    Each finest group's row count is redrawn over its cells from a multinomial with the group's own
    size and observed cell shares; a drawn row carries its cell's mean weight and mean score.
    """
    shape = stats.count.shape
    counts = stats.count.reshape(shape[0], -1)
    used = np.flatnonzero(counts.sum(axis=0))  # cells empty in every group are never drawn
    sizes = counts.sum(axis=1)
    draws = rng.multinomial(np.rint(sizes).astype(np.int64), counts[:, used] / sizes[:, None],
                            size=(n_boot, shape[0]))
    mean_weight = np.nan_to_num(safe_divide(stats.weight.reshape(counts.shape), counts))[:, used]
    mean_score = np.nan_to_num(safe_divide(stats.score_sum.reshape(counts.shape), counts))[:, used]
    weight = np.zeros((n_boot,) + counts.shape)
    score = np.zeros((n_boot,) + counts.shape)
    weight[..., used] = draws * mean_weight
    score[..., used] = draws * mean_score
    weight, score = weight.reshape((n_boot,) + shape), score.reshape((n_boot,) + shape)
    return Replicates(weight.sum(axis=-1), weight.sum(axis=-2), score.sum(axis=(-3, -2)))


# ---------------------------------------------------------------------------- tests
def chi2_homogeneity(successes: np.ndarray, trials: np.ndarray) -> float:
    """Pearson chi-squared p-value that a rate is equal across groups (groups with no trials skipped)."""
    keep = trials > 0
    if keep.sum() < 2:
        return np.nan
    table = np.column_stack([successes[keep], trials[keep] - successes[keep]])
    columns = table.sum(axis=0)
    if np.any(columns <= 0):
        return 1.0
    expected = np.outer(table.sum(axis=1), columns) / table.sum()
    statistic = ((table - expected) ** 2 / expected).sum()
    return float(scipy_stats.chi2.sf(statistic, keep.sum() - 1))


def wald_homogeneity(estimates: np.ndarray, variances: np.ndarray) -> float:
    """Wald chi-squared p-value that an estimate is equal across groups (inverse-variance weighted)."""
    keep = np.isfinite(estimates) & np.isfinite(variances)
    if keep.sum() < 2:
        return np.nan
    value, variance = estimates[keep], np.maximum(variances[keep], 1e-12)
    w = 1 / variance
    pooled = (w * value).sum() / w.sum()
    statistic = (w * (value - pooled) ** 2).sum()
    return float(scipy_stats.chi2.sf(statistic, keep.sum() - 1))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN entries are left out and stay NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out
