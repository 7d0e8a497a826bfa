"""The metric registry: every metric defined once, as a function of group statistics.

Metrics take :class:`Cells` (the cell sums of :mod:`fairaudit.stats` with any leading dimensions:
groups, bootstrap replicates, ...) and return one value per leading index. Undefined values (a
group with no positives has no true positive rate) are NaN, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fairaudit.stats import GroupStats


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


Fraction = Callable[[Confusion], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One metric: a rate (``numerator`` / ``denominator`` of confusion counts) or a function of cells.

    ``interval`` names how its per-group interval is computed (see :mod:`fairaudit.uncertainty`).
    """

    name: str
    description: str
    needs_target: bool
    needs_score: bool
    greater_is_better: bool | None
    interval: str
    numerator: Fraction | None = None
    denominator: Fraction | None = None
    function: Callable[[Cells], np.ndarray] | None = None

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


def _balanced_accuracy(cells: Cells) -> np.ndarray:
    c = confusion(cells.weight, True)
    return (safe_divide(c.tp, c.tp + c.fn) + safe_divide(c.tn, c.tn + c.fp)) / 2


def _mean_score(cells: Cells) -> np.ndarray:
    return safe_divide(cells.score_sum.sum(axis=(-3, -2, -1)), cells.weight.sum(axis=(-3, -2, -1)))


def _calibration_error(cells: Cells) -> np.ndarray:
    """Expected calibration error: sum over bins of |observed positives - predicted| / n."""
    by_bin = cells.weight.sum(axis=-2)  # (..., y, c)
    positives = by_bin[..., 1, :]
    predicted = cells.score_sum.sum(axis=(-3, -2))
    n = by_bin.sum(axis=(-2, -1))
    return safe_divide(np.abs(positives - predicted).sum(axis=-1), n)


def roc_auc_from_hist(hist: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC from per-label score histograms ``(..., 2, bins)``; ties count 1/2."""
    negatives, positives = hist[..., 0, :], hist[..., 1, :]
    below = np.cumsum(negatives, axis=-1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=-1)
    return safe_divide(wins, positives.sum(axis=-1) * negatives.sum(axis=-1))


def _roc_auc(cells: Cells) -> np.ndarray:
    return roc_auc_from_hist(cells.score_hist)


def _any(c: Confusion) -> np.ndarray:
    return c.n


_METRICS = [
    Metric("selection_rate", "share of the group that receives the positive decision",
           False, False, None, "wilson", lambda c: c.predicted_positive, _any),
    Metric("base_rate", "share of the group whose true label is positive",
           True, False, None, "wilson", lambda c: c.tp + c.fn, _any),
    Metric("true_positive_rate", "of the truly positive, the share predicted positive (recall)",
           True, False, True, "wilson", lambda c: c.tp, lambda c: c.tp + c.fn),
    Metric("false_positive_rate", "of the truly negative, the share predicted positive",
           True, False, False, "wilson", lambda c: c.fp, lambda c: c.fp + c.tn),
    Metric("false_negative_rate", "of the truly positive, the share predicted negative",
           True, False, False, "wilson", lambda c: c.fn, lambda c: c.tp + c.fn),
    Metric("true_negative_rate", "of the truly negative, the share predicted negative (specificity)",
           True, False, True, "wilson", lambda c: c.tn, lambda c: c.fp + c.tn),
    Metric("precision", "of those predicted positive, the share truly positive",
           True, False, True, "wilson", lambda c: c.tp, lambda c: c.tp + c.fp),
    Metric("negative_predictive_value", "of those predicted negative, the share truly negative",
           True, False, True, "wilson", lambda c: c.tn, lambda c: c.tn + c.fn),
    Metric("accuracy", "share of correct decisions",
           True, False, True, "wilson", lambda c: c.tp + c.tn, _any),
    Metric("balanced_accuracy", "mean of true positive and true negative rates",
           True, False, True, "normal", function=_balanced_accuracy),
    Metric("roc_auc", "probability that a positive scores above a negative (ties count half)",
           True, True, True, "delong", function=_roc_auc),
    Metric("mean_score", "average score",
           False, True, None, "normal", function=_mean_score),
    Metric("calibration_error", "expected calibration error over 10 equal-width score bins",
           True, True, False, "bootstrap", function=_calibration_error),
]

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def applicable_metrics(has_target: bool, has_score: bool) -> list[Metric]:
    """The registry's metrics that the available columns allow, in registry order."""
    return [m for m in _METRICS if m.applies(has_target, has_score)]
