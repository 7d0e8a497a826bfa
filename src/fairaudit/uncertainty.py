"""Intervals, the bootstrap over group statistics, homogeneity tests and multiple-testing correction.

How each number gets its interval:

* rates (selection rate, TPR, precision, ...): Wilson score interval; with weights, on the Kish
  effective sample size ``(sum w)^2 / sum w^2``;
* ``roc_auc``: normal interval on the logit scale with DeLong's variance, computed from the score
  histograms, for groups with at least 10 positives and 10 negatives (else no interval, finding FA403);
* ``mean_score`` and ``balanced_accuracy``: normal interval with the plug-in standard error;
* ``calibration_error``: bootstrap over group statistics. Its plug-in value is biased upward (a sum of absolute
  gaps), so the percentile bootstrap's lower bound lies above the truth: the lower bound is the basic
  bootstrap's ``2 * value - upper percentile`` (clipped at 0), the upper bound the upper percentile;
* disparities between groups (``difference`` max - min, ``ratio`` min / max), every named measure and
  every pair of groups (``result.pairwise``): simultaneous intervals. Each pair of groups gets an interval
  of its difference (rates: Newcombe's hybrid score interval from the two Wilson intervals; otherwise
  normal) and of its log ratio (rates: Katz's interval with half a success and one trial added per group;
  otherwise the delta method), all at the critical value of the studentized range over the view's groups
  (Tukey-Kramer, which holds for unequal variances), so that every pair's interval holds at once. Then
  max - min lies between the largest lower bound of any ordered pair (and 0) and the largest upper bound,
  and min / max likewise on the log scale: the interval holds whichever groups come out highest and
  lowest, with no winner's curse. Equalized odds takes the worse of two such sets (true and false positive
  rates, on disjoint people), each at level ``confidence ** (1/2)``. A zero count never gives a zero-width
  interval: a rate of 0 keeps a Wilson upper bound above 0, and its ratio reaches 0 (or infinity).

A threshold check's evidence is the smallest simultaneous error level at which the measure's interval lies
wholly beyond the threshold (the studentized range's tail at that critical value); the findings correct
these p-values over every check of the audit (Holm by default, see :mod:`fairaudit.policy`).

The bootstrap never touches rows. Per finest group it draws the group's cell counts from a multinomial
with the group's own size and its cell shares smoothed by one pseudo-row spread as the pooled shares of
all groups (so a cell empty in a group can still be drawn), each drawn row carrying its cell's mean weight
and mean score. It runs only when a bootstrapped metric (calibration error) is audited.

Chosen by simulation (``benchmarks/bench_coverage.py``, 1,000 replications per cell): at n >= 200 every
interval covers 93.7-100% at the 95% level, including max - min over 8 equal groups (95-97%; the former
bootstrap of the observed extremes: 49-56%), Newcombe's difference with groups of 30 and 2,000 (96%; Wald:
79%), Katz's ratio of 5% rates in groups of 30 (94%), and the logit AUC with 10 positives (94%; DeLong on
the AUC scale: 92%, Hanley-McNeil: 97%). Below n = 200, the Wilson rate at n = 30 and p = 0.05 covers 94%
and max - min of 4 groups of 30 at p = 0.5 93%; an AUC with fewer than 10 positives or negatives gets no
interval.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

from fairaudit.metrics import (
    BOOTSTRAP_CELLS,
    Bootstrap,
    Cells,
    Metric,
    Normal,
    Proportion,
    confusion,
    effective_size,
    safe_divide,
)
from fairaudit.stats import GroupStats


@functools.lru_cache(maxsize=8)
def z_value(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level."""
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(p: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` (effective) trials."""
    n = np.asarray(n, dtype=float)
    low, high = wilson_bounds(p, n, z_value(confidence))
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


def logit_interval(centre: np.ndarray, se: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """``centre +- z * se`` on the logit scale, mapped back to probabilities."""
    with np.errstate(over="ignore", invalid="ignore"):
        half = z_value(confidence) * se
        return 1 / (1 + np.exp(-(centre - half))), 1 / (1 + np.exp(-(centre + half)))


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over axis 0, ignoring replicates where the value is undefined (NaN where
    none is defined). Raises no warning and sets no warning filter, so it can run in a worker thread."""
    alpha = 1 - confidence
    levels = [alpha / 2, 1 - alpha / 2]
    undefined = np.isnan(replicates)
    with np.errstate(invalid="ignore"):  # infinite replicates
        if replicates.shape[0] and not undefined.any():
            return tuple(np.quantile(replicates, levels, axis=0))
        low = np.full(replicates.shape[1:], np.nan)
        high = low.copy()
        some = ~undefined.all(axis=0) if replicates.shape[0] else np.zeros(low.shape, dtype=bool)
        if some.any():
            low[some], high[some] = np.nanquantile(replicates[:, some], levels, axis=0)
    return low, high


def upward_biased_interval(value: np.ndarray, replicates: np.ndarray, confidence: float,
                           bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Interval of a metric whose plug-in ``value`` is biased upward: the basic bootstrap's lower bound
    ``2 * value - q`` (``q`` the upper percentile; bias-corrected, clipped to ``bounds``) and the upper percentile
    ``q`` as upper bound; both widened to hold ``value`` itself."""
    _, q = percentile_interval(replicates, confidence)
    with np.errstate(invalid="ignore"):
        low = np.clip(np.minimum(2 * value - q, value), *bounds)
        high = np.clip(np.maximum(q, value), *bounds)
    return low, high


def replicate_variance(replicates: np.ndarray) -> np.ndarray:
    """Variance of bootstrap replicates over axis 0, ignoring undefined ones (NaN with fewer than two); raises
    no warning and sets no warning filter."""
    out = np.full(replicates.shape[1:], np.nan)
    enough = np.sum(~np.isnan(replicates), axis=0) >= 2
    if enough.any():
        with np.errstate(invalid="ignore", over="ignore"):
            out[enough] = np.nanvar(replicates[:, enough], axis=0, ddof=1)
    return out


# ---------------------------------------------------------------------------- per group
def rate_effective_size(metric: Metric, stats: GroupStats) -> np.ndarray:
    """Effective number of trials behind a rate: its denominator counted with squared weights."""
    denominator = metric.denominator(confusion(stats.weight, stats.has_target))
    denominator_sq = metric.denominator(confusion(stats.weight_sq, stats.has_target))
    return effective_size(denominator, denominator_sq)


# ---------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicates of groups' cells, reduced to the margins the metrics read, group-major (summing
    finest groups into coarser ones adds whole contiguous blocks): ``confusion`` ``(groups, n_boot, y, p)``,
    and for calibration ``by_bin`` ``(groups, n_boot, y, c)`` and ``score_by_bin`` ``(groups, n_boot, c)``.
    A margin no bootstrapped metric reads (see :func:`bootstrap_margins`) is None."""

    confusion: np.ndarray | None
    by_bin: np.ndarray | None
    score_by_bin: np.ndarray | None

    def cells(self, has_target: bool) -> dict[str, Cells]:
        """The replicate cells by margin (:data:`fairaudit.metrics.BOOTSTRAP_CELLS`), with leading dimensions
        ``(groups, n_boot)``: label x decision, and label x calibration bin with the score sums."""
        out = {}
        if self.confusion is not None:
            out["decisions"] = Cells(self.confusion[..., None], None, None, has_target)
        if self.by_bin is not None:
            out["score_bins"] = Cells(self.by_bin[..., :, None, :], self.score_by_bin[..., None, None, :], None,
                                      has_target)
        return out


def bootstrap_margins(metrics: list[Metric]) -> tuple[str, ...]:
    """The margins of the replicate cells (:data:`fairaudit.metrics.BOOTSTRAP_CELLS`) that the bootstrapped
    metrics among ``metrics`` read; empty when none is bootstrapped (the bootstrap then does not run)."""
    read = {m.interval.cells for m in metrics if isinstance(m.interval, Bootstrap)}
    return tuple(margin for margin in BOOTSTRAP_CELLS if margin in read)


def bootstrap_cells(stats: GroupStats, n_boot: int, rng: np.random.Generator,
                    margins: tuple[str, ...] = BOOTSTRAP_CELLS) -> Replicates:
    """Replicates of the finest groups' cells, summed to ``margins``.

    Each finest group's row count is redrawn over its cells from a multinomial with the group's own
    size and observed cell shares; a drawn row carries its cell's mean weight and mean score.
    """
    shape = stats.count.shape
    counts = stats.count.reshape(shape[0], -1)
    used = np.flatnonzero(counts.sum(axis=0))  # cells empty in every group are never drawn
    sizes = counts.sum(axis=1)
    pooled = counts[:, used].sum(axis=0) / counts.sum()
    shares = (counts[:, used] + pooled) / (sizes[:, None] + 1)  # one pseudo-row spread as the pooled shares
    draws = rng.multinomial(np.rint(sizes).astype(np.int64), shares, size=(n_boot, shape[0]))
    cell_of = np.unravel_index(used, shape[1:])  # (y, p, c) of each drawn cell
    by_group = np.moveaxis(draws, 0, 1)  # (groups, n_boot, drawn cell)

    def summed(sums: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """Draws x the cell's mean of ``sums`` per row, summed over the cell ``axes`` (of y, p, c): one product
        with the 0/1 matrix from drawn cells to kept cells; ``(groups, n_boot, ...)``."""
        mean = np.nan_to_num(safe_divide(sums.reshape(counts.shape), counts))[:, used]
        kept = [a for a in range(3) if a not in axes]
        kept_shape = tuple(shape[1 + a] for a in kept)
        onto = np.zeros((used.size, int(np.prod(kept_shape))))
        onto[np.arange(used.size), np.ravel_multi_index([cell_of[a] for a in kept], kept_shape)] = 1.0
        return ((by_group * mean[:, None, :]) @ onto).reshape((shape[0], n_boot) + kept_shape)

    calibrated = "score_bins" in margins
    return Replicates(summed(stats.weight, (2,)) if "decisions" in margins else None,
                      summed(stats.weight, (1,)) if calibrated else None,
                      summed(stats.score_sum, (0, 1)) if calibrated else None)


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
    return float(special.chdtrc(keep.sum() - 1, statistic))  # scipy.stats.chi2.sf, without its overhead


def wald_homogeneity(estimates: np.ndarray, variances: np.ndarray) -> float:
    """Wald chi-squared p-value that an estimate is equal across groups (inverse-variance weighted)."""
    keep = np.isfinite(estimates) & np.isfinite(variances)
    if keep.sum() < 2:
        return np.nan
    value, variance = estimates[keep], np.maximum(variances[keep], 1e-12)
    w = 1 / variance
    pooled = (w * value).sum() / w.sum()
    statistic = (w * (value - pooled) ** 2).sum()
    return float(special.chdtrc(keep.sum() - 1, statistic))  # scipy.stats.chi2.sf, without its overhead


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


# ---------------------------------------------------------------------------- simultaneous contrasts
@functools.lru_cache(maxsize=256)
def range_critical(n_groups: int, confidence: float, families: int = 1) -> float:
    """Critical value ``z`` under which every pairwise contrast of ``n_groups`` independent estimates holds
    at once with probability ``confidence`` (the studentized range over sqrt 2: Tukey-Kramer, conservative
    for unequal variances, Hayter 1984). ``families`` independent sets of groups (the true and the false
    positive rates of equalized odds) share the level: each gets ``confidence ** (1 / families)``."""
    level = confidence ** (1 / families)
    if n_groups <= 2:
        return z_value(level)
    return float(scipy_stats.studentized_range.ppf(level, n_groups, np.inf) / np.sqrt(2))


def range_p_value(z: float, n_groups: int, families: int = 1) -> float:
    """Probability that the largest standardised pairwise contrast exceeds ``z`` when no group differs: the
    p-value that :func:`range_critical` inverts."""
    if not np.isfinite(z):
        return 0.0 if z > 0 else 1.0
    if n_groups <= 2:
        one = 2 * scipy_stats.norm.sf(z)
    else:
        one = float(scipy_stats.studentized_range.sf(z * np.sqrt(2), n_groups, np.inf))
    return float(1 - (1 - min(one, 1.0)) ** families)


def wilson_bounds(p: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score bounds of a proportion at critical value ``z``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


@dataclass(frozen=True)
class Contrasts:
    """Per-group estimates of one metric, from which any pair's difference and ratio get an interval.

    Rates (``trials`` given, effective sizes with weights): the difference by Newcombe's hybrid score
    interval (from the two Wilson intervals), the ratio by Katz's log interval with half a success and one
    trial added to each group, so that a zero count never gives a zero-width interval (a zero rate's
    ratio reaches 0 as numerator, infinity as denominator). Other metrics
    (``variance`` given): normal on the difference, delta method on the log ratio."""

    value: np.ndarray
    variance: np.ndarray
    trials: np.ndarray | None = None

    def difference(self, i: np.ndarray, j: np.ndarray, z: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``value[i] - value[j]`` at critical value ``z``, or ``z[i]`` (one per group: a pair's groups
        share theirs)."""
        d = self.value[i] - self.value[j]
        if self.trials is None:
            half = (z if np.ndim(z) == 0 else z[i]) * np.sqrt(self.variance[i] + self.variance[j])
            return d - half, d + half
        low, high = wilson_bounds(self.value, self.trials, z)
        with np.errstate(invalid="ignore"):
            below = np.sqrt((self.value[i] - low[i]) ** 2 + (high[j] - self.value[j]) ** 2)
            above = np.sqrt((high[i] - self.value[i]) ** 2 + (self.value[j] - low[j]) ** 2)
        return d - below, d + above

    def log_ratio(self, i: np.ndarray, j: np.ndarray, z: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``log(value[i] / value[j])`` at critical value ``z``, or ``z[i]`` (one per group)."""
        z = z if np.ndim(z) == 0 else z[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.trials is None:
                centre = np.log(self.value[i]) - np.log(self.value[j])
                se = np.sqrt(self.variance[i] / self.value[i] ** 2 + self.variance[j] / self.value[j] ** 2)
            else:
                x, n = self.value * self.trials + 0.5, self.trials + 1.0
                centre = np.log(x[i] / n[i]) - np.log(x[j] / n[j])
                se = np.sqrt(1 / x[i] - 1 / n[i] + 1 / x[j] - 1 / n[j])
        low, high = centre - z * se, centre + z * se
        # a zero rate can be truly zero: its ratio reaches 0 (numerator) or infinity (denominator)
        return np.where(self.value[i] == 0, -np.inf, low), np.where(self.value[j] == 0, np.inf, high)


# ---------------------------------------------------------------------------- one metric's estimate
@dataclass(frozen=True)
class Estimate:
    """One metric per group: ``value``, interval ``low``-``high``, the ``variance`` its comparisons use (NaN for
    groups left out of them) and its :class:`Contrasts`."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    variance: np.ndarray
    contrasts: Contrasts


def estimate(metric: Metric, stats: GroupStats, replicates: Mapping[str, Cells] | None,
             confidence: float) -> Estimate:
    """The metric of each group of ``stats`` with the interval its rule gives; ``replicates``: the groups'
    bootstrap cells by margin (:meth:`Replicates.cells`), needed by :class:`fairaudit.metrics.Bootstrap` rules."""
    value = metric.value(Cells.of(stats))
    return _RULES[type(metric.interval)](metric, stats, value, replicates, confidence)


def _proportion(metric: Metric, stats: GroupStats, value: np.ndarray, replicates: Mapping[str, Cells] | None,
                confidence: float) -> Estimate:
    trials = rate_effective_size(metric, stats)
    low, high = wilson_interval(value, trials, confidence)
    variance = safe_divide(value * (1 - value), trials)
    return Estimate(value, low, high, variance, Contrasts(value, variance, trials))


def _normal(metric: Metric, stats: GroupStats, value: np.ndarray, replicates: Mapping[str, Cells] | None,
            confidence: float) -> Estimate:
    rule = metric.interval
    variance = rule.variance(stats)
    if rule.logit is None:
        low, high = normal_interval(value, variance, confidence, rule.bounds)
    else:
        low, high = logit_interval(*rule.logit(stats, value, variance), confidence)
    if rule.sufficient is not None:
        enough = rule.sufficient(stats)
        low, high, variance = (np.where(enough, a, np.nan) for a in (low, high, variance))
    return Estimate(value, low, high, variance, Contrasts(value, variance))


def _bootstrap(metric: Metric, stats: GroupStats, value: np.ndarray, replicates: Mapping[str, Cells] | None,
               confidence: float) -> Estimate:
    with np.errstate(all="ignore"):
        reps = metric.value(replicates[metric.interval.cells]).T  # (n_boot, groups)
    rule = metric.interval
    if rule.biased_upward:
        low, high = upward_biased_interval(value, reps, confidence, rule.bounds)
    else:
        low, high = percentile_interval(reps, confidence)
    variance = replicate_variance(reps)
    return Estimate(value, low, high, variance, Contrasts(value, variance))


_RULES: dict[type, Callable[..., Estimate]] = {Proportion: _proportion, Normal: _normal, Bootstrap: _bootstrap}


def homogeneity(metric: Metric, stats: GroupStats, value: np.ndarray, variance: np.ndarray,
                idx: np.ndarray, trials: np.ndarray | None = None) -> float:
    """p-value that the metric is equal across the groups ``idx``: chi-squared on the effective counts for a
    rate, Wald on ``value`` and ``variance`` otherwise. ``trials``: the rate's effective sizes, if known (its
    :class:`Contrasts`' ``trials``); then the effective successes are ``value * trials``."""
    if metric.is_rate:
        if trials is None:
            numerator, denominator = metric.parts(Cells.of(stats))
            trials = rate_effective_size(metric, stats)
            successes = numerator * safe_divide(trials, denominator)
        else:
            successes = value * trials
        return chi2_homogeneity(np.nan_to_num(successes)[idx], np.nan_to_num(trials)[idx])
    return wald_homogeneity(value[idx], variance[idx])
