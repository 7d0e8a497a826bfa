"""From group statistics to the audit's tables: by_group, overall, disparities, measures.

Views. Each single sensitive attribute and (with intersections) each crossing of two or more is a
*view*: its statistics are the finest table summed over the other attributes. A crossing's name joins
the attribute names with ``" & "`` in the order given; its groups join the values the same way.

Disparities between the groups of a view, as fairlearn's ``between_groups``: ``difference`` is
max - min and ``ratio`` min / max over groups where the metric is defined.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairaudit.inputs import UndefinedMetricWarning
from fairaudit.metrics import Cells, Metric, applicable_metrics, safe_divide
from fairaudit.stats import JOIN, GroupStats
from fairaudit.uncertainty import (
    Replicates,
    auc_variance,
    balanced_accuracy_variance,
    bootstrap_cells,
    chi2_homogeneity,
    holm,
    mean_score_variance,
    normal_interval,
    percentile_interval,
    rate_effective_size,
    wald_homogeneity,
    wilson_interval,
)

MEASURES = {
    "demographic_parity_difference": "largest difference in selection rate between groups",
    "demographic_parity_ratio": "smallest over largest selection rate",
    "equalized_odds_difference": "larger of the true- and false-positive-rate differences",
    "equalized_odds_ratio": "smaller of the true- and false-positive-rate ratios",
    "equal_opportunity_difference": "largest difference in true positive rate between groups",
    "equal_opportunity_ratio": "smallest over largest true positive rate",
    "disparate_impact_ratio": "selection rate of the least favoured group over the most favoured "
                              "(the four-fifths rule asks >= 0.8)",
}


@dataclass(frozen=True)
class Tables:
    by_group: pd.DataFrame
    overall: pd.DataFrame
    disparities: pd.DataFrame
    measures: pd.DataFrame


@dataclass(frozen=True)
class _View:
    """One view's point values, intervals and bootstrap replicates, per metric."""

    name: str
    labels: list[str]
    stats: GroupStats
    values: dict[str, np.ndarray]
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    variance: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]


def views(attributes: tuple[str, ...], intersections: bool) -> list[tuple[str, ...]]:
    """Single attributes, then (optionally) every crossing of two or more, in the order given."""
    out = [(a,) for a in attributes]
    if intersections:
        for size in range(2, len(attributes) + 1):
            out.extend(itertools.combinations(attributes, size))
    return out


def build_tables(stats: GroupStats, *, intersections: bool, confidence: float, n_boot: int,
                 rng: np.random.Generator, decisions: bool = True) -> Tables:
    """Every table of the audit from the finest group statistics (``decisions=False``: counts only, for
    a segmentation without favourable segments)."""
    metrics = applicable_metrics(stats.has_target, stats.has_score) if decisions else []
    replicates = bootstrap_cells(stats, n_boot, rng)
    evaluated = [
        _evaluate(stats, attrs, metrics, replicates, confidence, rng)
        for attrs in views(stats.attributes, intersections)
    ]
    overall = _evaluate(stats, (), metrics, replicates, confidence, rng)
    _warn_undefined(evaluated, metrics)
    return Tables(
        by_group=_by_group(evaluated, metrics, stats.group_weight.sum(), confidence),
        overall=pd.DataFrame(
            {
                "value": [overall.values[m.name][0] for m in metrics],
                "ci_low": [overall.low[m.name][0] for m in metrics],
                "ci_high": [overall.high[m.name][0] for m in metrics],
            },
            index=pd.Index([m.name for m in metrics], name="metric"),
        ),
        disparities=_disparities(evaluated, metrics, confidence),
        measures=_measures(evaluated, stats.has_target, confidence),
    )


def _evaluate(finest: GroupStats, attrs: tuple[str, ...], metrics: list[Metric],
              replicates: Replicates, confidence: float,
              rng: np.random.Generator) -> _View:
    keys, member = finest.membership(attrs)
    in_order = attrs == finest.attributes and np.array_equal(member, np.arange(len(member)))
    stats = finest if in_order else finest.collapse(attrs)  # collapse also puts the groups in the keys' order
    cells = Cells.of(stats)
    confusion_cells, calibration_cells = replicates.collapse(member, len(keys)).cells(stats.has_target)
    n_boot = replicates.confusion.shape[0]
    values, low, high, variance, reps = {}, {}, {}, {}, {}
    for metric in metrics:
        value = metric.value(cells)
        values[metric.name] = value
        var = _variance(metric, stats, value)
        variance[metric.name] = var
        if metric.interval == "wilson":
            low[metric.name], high[metric.name] = wilson_interval(
                value, rate_effective_size(metric, stats), confidence)
        elif metric.interval in ("delong", "normal"):
            bounds = (0.0, 1.0)
            low[metric.name], high[metric.name] = normal_interval(value, var, confidence, bounds)
        if metric.interval in ("delong",) or metric.name == "mean_score":
            draws = rng.standard_normal((n_boot, len(keys)))
            reps[metric.name] = value + np.sqrt(var) * draws
        else:
            with np.errstate(all="ignore"):
                cells_of = calibration_cells if metric.name == "calibration_error" else confusion_cells
                reps[metric.name] = metric.value(cells_of)
        if metric.interval == "bootstrap":
            low[metric.name], high[metric.name] = percentile_interval(reps[metric.name], confidence)
            variance[metric.name] = _replicate_variance(reps[metric.name])
    labels = [JOIN.join(k) for k in keys]
    return _View(JOIN.join(attrs), labels, stats, values, low, high, variance, reps)


def _variance(metric: Metric, stats: GroupStats, value: np.ndarray) -> np.ndarray:
    if metric.is_rate:
        return safe_divide(value * (1 - value), rate_effective_size(metric, stats))
    if metric.name == "roc_auc":
        return auc_variance(stats)
    if metric.name == "mean_score":
        return mean_score_variance(stats)
    if metric.name == "balanced_accuracy":
        return balanced_accuracy_variance(stats)
    return np.full(value.shape, np.nan)


def _replicate_variance(replicates: np.ndarray) -> np.ndarray:
    if replicates.shape[0] < 2:
        return np.full(replicates.shape[1:], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanvar(replicates, axis=0, ddof=1)


def _warn_undefined(evaluated: list[_View], metrics: list[Metric]) -> None:
    undefined = [
        (metric.name, view.name, label)
        for view in evaluated
        for metric in metrics
        for label, value in zip(view.labels, view.values[metric.name], strict=True)
        if np.isnan(value)
    ]
    if undefined:
        shown = "; ".join(f"{m} for {a} = {g}" for m, a, g in undefined[:5])
        more = f" (and {len(undefined) - 5} more)" if len(undefined) > 5 else ""
        warnings.warn(
            f"{len(undefined)} metric value(s) are undefined and reported as NaN, e.g. {shown}{more}: "
            "the group has no rows of the kind the metric divides by (e.g. no positives).",
            UndefinedMetricWarning,
            stacklevel=4,
        )


# ---------------------------------------------------------------------------- tables
def _by_group(evaluated: list[_View], metrics: list[Metric], total_weight: float,
              confidence: float) -> pd.DataFrame:
    frames = []
    for view in evaluated:
        columns = {
            "count": view.stats.group_count.astype(np.int64),
            "share": view.stats.group_weight / total_weight,
        }
        for metric in metrics:
            columns[metric.name] = view.values[metric.name]
            columns[f"{metric.name}_ci_low"] = view.low[metric.name]
            columns[f"{metric.name}_ci_high"] = view.high[metric.name]
        if "selection_rate" in view.values:
            ratio, low, high = _impact_ratio(view, confidence)
            columns.update(disparate_impact_ratio=ratio, disparate_impact_ratio_ci_low=low,
                           disparate_impact_ratio_ci_high=high)
        index = pd.MultiIndex.from_arrays([[view.name] * len(view.labels), view.labels],
                                          names=["attribute", "group"])
        frames.append(pd.DataFrame(columns, index=index))
    return pd.concat(frames)


def _impact_ratio(view: _View, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's selection rate over that of the most favoured group (the observed highest)."""
    rate = view.values["selection_rate"]
    reps = view.replicates["selection_rate"]
    favoured = int(np.nanargmax(rate))
    low, high = percentile_interval(safe_divide(reps, reps[:, favoured:favoured + 1]), confidence)
    return safe_divide(rate, rate[favoured]), low, np.minimum(high, 1.0)


def _spread(values: np.ndarray, replicates: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """max - min and min / max over the groups where the value is defined, and their replicates.

    The replicates contrast the *same* two groups as the point estimate (the observed highest and
    lowest), so that an interval of the difference covers 0 when the groups do not differ; taking
    max - min anew in each replicate would bias the interval away from 0.
    """
    defined = np.isfinite(values)
    if defined.sum() < 2:
        nan = np.full(replicates.shape[0], np.nan)
        return np.nan, np.nan, nan, nan.copy()
    high, low = int(np.nanargmax(values)), int(np.nanargmin(values))
    difference = values[high] - values[low]
    ratio = float(safe_divide(values[low], values[high]))
    return difference, ratio, replicates[:, high] - replicates[:, low], safe_divide(
        replicates[:, low], replicates[:, high])


def _intervals(rep_difference: np.ndarray, rep_ratio: np.ndarray, confidence: float) -> tuple[float, ...]:
    """Percentile intervals of a difference (kept >= 0) and a ratio (kept <= 1)."""
    d_low, d_high = percentile_interval(rep_difference, confidence)
    r_low, r_high = percentile_interval(rep_ratio, confidence)
    return max(d_low, 0.0), max(d_high, 0.0), min(r_low, 1.0), min(r_high, 1.0)


def _disparities(evaluated: list[_View], metrics: list[Metric], confidence: float) -> pd.DataFrame:
    rows, index = [], []
    for view in evaluated:
        for metric in metrics:
            value = view.values[metric.name]
            difference, ratio, rep_difference, rep_ratio = _spread(value, view.replicates[metric.name])
            d_low, d_high, r_low, r_high = _intervals(rep_difference, rep_ratio, confidence)
            defined = np.isfinite(value)
            rows.append({
                "difference": difference, "difference_ci_low": d_low, "difference_ci_high": d_high,
                "ratio": ratio, "ratio_ci_low": r_low, "ratio_ci_high": r_high,
                "p_value": _p_value(metric, view) if np.isfinite(difference) else np.nan,
                "min_group": view.labels[int(np.nanargmin(value))] if defined.sum() >= 2 else None,
                "max_group": view.labels[int(np.nanargmax(value))] if defined.sum() >= 2 else None,
            })
            index.append((view.name, metric.name))
    columns = ["difference", "difference_ci_low", "difference_ci_high", "ratio", "ratio_ci_low", "ratio_ci_high",
               "p_value", "min_group", "max_group"]
    table = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["attribute", "metric"]),
                         columns=columns)
    table.insert(table.columns.get_loc("p_value") + 1, "p_value_adjusted", holm(table["p_value"].to_numpy()))
    return table.astype({c: float for c in table.columns if c not in ("min_group", "max_group")})


def _p_value(metric: Metric, view: _View) -> float:
    """Homogeneity test: chi-squared for rates, Wald on the estimates' variances otherwise."""
    if metric.is_rate:
        numerator, denominator = metric.parts(Cells.of(view.stats))
        n_eff = rate_effective_size(metric, view.stats)
        scale = safe_divide(n_eff, denominator)
        return chi2_homogeneity(np.nan_to_num(numerator * scale), np.nan_to_num(n_eff))
    return wald_homogeneity(view.values[metric.name], view.variance[metric.name])


def _measures(evaluated: list[_View], has_target: bool, confidence: float) -> pd.DataFrame:
    rows, index = [], []
    for view in evaluated:
        for name, (value, reps) in _named_measures(view, has_target).items():
            low, high = percentile_interval(reps, confidence)
            if name.endswith("_difference"):
                low, high = max(low, 0.0), max(high, 0.0)
            else:
                low, high = min(low, 1.0), min(high, 1.0)
            rows.append({"value": float(value), "ci_low": float(low), "ci_high": float(high)})
            index.append((view.name, name))
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["attribute", "measure"]),
                        columns=["value", "ci_low", "ci_high"])


def _named_measures(view: _View, has_target: bool) -> dict[str, tuple[float, np.ndarray]]:
    """fairlearn's named measures (between groups, worst case), with their bootstrap replicates."""

    def spread(metric: str) -> tuple[float, float, np.ndarray, np.ndarray]:
        return _spread(view.values[metric], view.replicates[metric])

    if "selection_rate" not in view.values:
        return {}
    sr = spread("selection_rate")
    out = {
        "demographic_parity_difference": (sr[0], sr[2]),
        "demographic_parity_ratio": (sr[1], sr[3]),
    }
    if has_target:
        tpr, fpr = spread("true_positive_rate"), spread("false_positive_rate")
        out["equalized_odds_difference"] = _worst(tpr[0], fpr[0], tpr[2], fpr[2], np.fmax)
        out["equalized_odds_ratio"] = _worst(tpr[1], fpr[1], tpr[3], fpr[3], np.fmin)
        out["equal_opportunity_difference"] = (tpr[0], tpr[2])
        out["equal_opportunity_ratio"] = (tpr[1], tpr[3])
    out["disparate_impact_ratio"] = (sr[1], sr[3])
    return out


def _worst(a: float, b: float, reps_a: np.ndarray, reps_b: np.ndarray, pick) -> tuple[float, np.ndarray]:
    """fairlearn's worst case of two measures (NaN when either is undefined)."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return np.nan, np.full(reps_a.shape, np.nan)
    return float(pick(a, b)), pick(reps_a, reps_b)
