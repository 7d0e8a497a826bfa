"""Score audits: continuous outputs (lifetime value, propensity, risk used as a ranking) compared by group.

Sufficient statistics (:class:`ScoreStats`, mergeable): per finest group the row count, the sums of
weights, squared weights, w*s, w*s^2 and, with a numeric target, of w*e, w*|e|, w*e^2, w*e^4
(e = score - target), plus the weighted histogram of scores on shared edges: every distinct score its own
bin when there are at most 16,384 of them (then the KS statistic, the Wasserstein distance and the
quantiles are exact), else 16,384 quantile bins (each statistic is then exact up to the width of a bin).

Per group (``by_group``): ``mean_score``, ``std_score``, and with a target ``mean_absolute_error``,
``root_mean_squared_error``, ``mean_error`` (signed bias), each with a normal interval from its plug-in
standard error (the delta method for the standard deviation and RMSE).
Per attribute (``measures``): ``standardized_mean_difference`` (difference of the highest and lowest
group means over the square root of their average variance, Cohen's d; interval from Hedges & Olkin's
variance), ``ks_statistic`` with ``ks_p_value`` (largest over pairs of groups, asymptotic p-value as
``scipy.stats.ks_2samp(method="asymp")``) and ``wasserstein_distance`` (largest over pairs); their intervals
come from a bootstrap that redraws the two groups' histograms (coarsened to 128 bins) and shifts the
replicate spread onto the full-resolution estimate. Score quantiles per group are in ``score_quantiles``,
read from a coarsened histogram (:func:`quantiles`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from fairaudit.metrics import safe_divide
from fairaudit.stats import GroupStats, sample_and_distinct, sum_groups
from fairaudit.uncertainty import effective_size, normal_interval, percentile_interval, wald_homogeneity

MAX_BINS = 16384
BOOTSTRAP_BINS = 128
QUANTILE_BINS = 100
QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
SUMS = ("count", "weight", "weight_sq", "score", "score_sq", "error", "abs_error", "error_sq", "error_4")
SCORE_METRICS = ("mean_score", "std_score", "mean_absolute_error", "root_mean_squared_error", "mean_error")
SCORE_MEASURES = ("standardized_mean_difference", "ks_statistic", "ks_p_value", "wasserstein_distance")


def score_edges(scores: np.ndarray) -> np.ndarray:
    """Bin edges: one bin per distinct score (up to MAX_BINS), else quantile bins; the last edge is inf."""
    sample, distinct = sample_and_distinct(scores, MAX_BINS, sample_size=500_000)
    if distinct is not None:
        return np.append(distinct, np.inf)
    edges = np.unique(np.quantile(sample, np.linspace(0, 1, MAX_BINS + 1)[:-1]))
    edges[0] = min(edges[0], scores.min())
    return np.append(edges, np.inf)


@dataclass(frozen=True, eq=False)
class ScoreStats:
    """Per finest group: ``sums`` (groups x SUMS) and ``hist`` (groups x bins) on ``edges``."""

    attributes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    sums: np.ndarray
    hist: np.ndarray
    edges: np.ndarray
    has_target: bool

    @classmethod
    def from_codes(cls, attributes: tuple[str, ...], groups: tuple[tuple[str, ...], ...], group_code: np.ndarray,
                   scores: np.ndarray, target: np.ndarray | None, sample_weight: np.ndarray | None,
                   edges: np.ndarray | None = None) -> ScoreStats:
        n = len(groups)
        w = np.ones(len(scores)) if sample_weight is None else sample_weight
        error = np.zeros(len(scores)) if target is None else scores - target
        columns = [np.ones(len(scores)), w, w * w, w * scores, w * scores**2, w * error, w * np.abs(error),
                   w * error**2, w * error**4]
        sums = np.column_stack([np.bincount(group_code, weights=c, minlength=n) for c in columns])
        edges = score_edges(scores) if edges is None else edges
        bins = np.searchsorted(edges[1:-1], scores, side="right")
        n_bins = len(edges) - 1
        hist = np.bincount(group_code * n_bins + bins, weights=w, minlength=n * n_bins).reshape(n, n_bins)
        return cls(tuple(attributes), tuple(groups), sums, hist, edges, target is not None)

    def __add__(self, other: ScoreStats) -> ScoreStats:
        if self.attributes != other.attributes or not np.array_equal(self.edges, other.edges):
            raise ValueError("Cannot merge ScoreStats over different attributes or score bins.")
        keys = list(dict.fromkeys(self.groups + other.groups))
        index = {k: i for i, k in enumerate(keys)}
        out = []
        for name in ("sums", "hist"):
            merged = np.zeros((len(keys), getattr(self, name).shape[1]))
            merged[[index[k] for k in self.groups]] += getattr(self, name)
            merged[[index[k] for k in other.groups]] += getattr(other, name)
            out.append(merged)
        return ScoreStats(self.attributes, tuple(keys), out[0], out[1], self.edges, self.has_target)

    def collapse(self, attributes: tuple[str, ...], finest: GroupStats) -> ScoreStats:
        keys, member = finest.membership(attributes)
        return ScoreStats(tuple(attributes), keys, sum_groups(self.sums, member, len(keys), axis=0),
                          sum_groups(self.hist, member, len(keys), axis=0), self.edges, self.has_target)

    def column(self, name: str) -> np.ndarray:
        return self.sums[:, SUMS.index(name)]


# ---------------------------------------------------------------------------- per group
def group_metrics(stats: ScoreStats) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each score metric per group with its sampling variance."""
    w = stats.column("weight")
    n = effective_size(w, stats.column("weight_sq"))
    mean = safe_divide(stats.column("score"), w)
    variance = np.maximum(safe_divide(stats.column("score_sq"), w) - mean**2, 0.0) * safe_divide(n, n - 1)
    out = {
        "mean_score": (mean, safe_divide(variance, n)),
        "std_score": (np.sqrt(variance), safe_divide(variance, 2 * (n - 1))),
    }
    if stats.has_target:
        mae = safe_divide(stats.column("abs_error"), w)
        mse = safe_divide(stats.column("error_sq"), w)
        bias = safe_divide(stats.column("error"), w)
        fourth = safe_divide(stats.column("error_4"), w)
        rmse = np.sqrt(mse)
        out["mean_absolute_error"] = (mae, safe_divide(np.maximum(mse - mae**2, 0), n))
        out["root_mean_squared_error"] = (rmse, safe_divide(np.maximum(fourth - mse**2, 0), 4 * mse * n))
        out["mean_error"] = (bias, safe_divide(np.maximum(mse - bias**2, 0), n))
    return out


def quantiles(stats: ScoreStats) -> np.ndarray:
    """Score quantiles per group (groups x QUANTILES) from a coarsened histogram, never a person's score.

    The shared fine bins are merged into at most QUANTILE_BINS bins of equal pooled weight; each boundary
    between two merged bins is placed halfway between the highest score of the lower bin's last fine bin
    and the lowest score of the next one (two adjacent distinct scores when the fine bins are exact), so it
    is nobody's score. A group's quantile q is the lower boundary of the merged bin where its CDF reaches q
    (the upper one for the first bin); NaN when all scores fall in one merged bin. Which quantiles a report
    shows is decided by :mod:`fairaudit.privacy`."""
    pooled = np.cumsum(stats.hist.sum(axis=0))
    starts = np.unique(np.searchsorted(pooled, pooled[-1] * np.arange(1, QUANTILE_BINS) / QUANTILE_BINS,
                                       side="right"))
    starts = starts[(starts > 0) & (starts < stats.hist.shape[1])]
    if not len(starts):
        return np.full((len(stats.groups), len(QUANTILES)), np.nan)
    boundaries = (stats.edges[starts - 1] + stats.edges[starts]) / 2
    coarse = np.add.reduceat(stats.hist, np.concatenate([[0], starts]), axis=1)
    cdf = np.cumsum(coarse, axis=1) / coarse.sum(axis=1, keepdims=True)
    index = np.array([[np.searchsorted(row, q - 1e-12) for q in QUANTILES] for row in cdf])
    return boundaries[np.clip(index - 1, 0, len(boundaries) - 1)]


def score_overall(stats: ScoreStats, finest: GroupStats, confidence: float) -> pd.DataFrame:
    """The ``overall`` table of a score audit: each metric over everyone, with its normal interval."""
    rows = {}
    for metric, (value, variance) in group_metrics(stats.collapse((), finest)).items():
        low, high = normal_interval(value, variance, confidence)
        rows[metric] = (value[0], low[0], high[0])
    overall = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "ci_low", "ci_high"])
    overall.index.name = "metric"
    return overall


# ---------------------------------------------------------------------------- between groups
def _cdf(hist: np.ndarray) -> np.ndarray:
    return np.cumsum(hist, axis=-1) / hist.sum(axis=-1, keepdims=True)


def ks_statistic(hist_a: np.ndarray, hist_b: np.ndarray) -> np.ndarray:
    return np.abs(_cdf(hist_a) - _cdf(hist_b)).max(axis=-1)


def wasserstein(hist_a: np.ndarray, hist_b: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The area between the two CDFs; each bin's mass sits at its lower edge."""
    widths = np.diff(edges[:-1])
    gaps = np.abs(_cdf(hist_a) - _cdf(hist_b))[..., :-1]
    return (gaps * widths).sum(axis=-1)


def ks_p_value(statistic: float, n_a: float, n_b: float) -> float:
    """Asymptotic two-sided p-value, as scipy.stats.ks_2samp(method="asymp")."""
    en = n_a * n_b / (n_a + n_b)
    return float(np.clip(scipy_stats.kstwo.sf(statistic, np.round(en)), 0, 1))


@dataclass(frozen=True)
class ScoreTables:
    by_group: pd.DataFrame
    disparities: pd.DataFrame
    measures: pd.DataFrame
    quantiles: pd.DataFrame
    pairs: dict[str, dict[str, list[str]]]


def score_tables(stats: ScoreStats, finest: GroupStats, views: list[tuple[str, ...]], *, confidence: float,
                 n_boot: int, rng: np.random.Generator) -> ScoreTables:
    """by_group, disparities, measures and quantiles of a score audit."""
    from fairaudit.tables import JOIN, _intervals, _spread
    from fairaudit.uncertainty import holm

    total = stats.column("weight").sum()
    frames, quantile_frames, disparity_rows, measure_rows, disparity_index, measure_index = [], [], [], [], [], []
    pairs: dict[str, dict[str, list[str]]] = {}
    for attrs in views:
        view = stats.collapse(attrs, finest)
        name = JOIN.join(attrs)
        labels = [JOIN.join(k) for k in view.groups]
        index = pd.MultiIndex.from_arrays([[name] * len(labels), labels], names=["attribute", "group"])
        columns = {"count": view.column("count").astype(np.int64), "share": view.column("weight") / total}
        for metric, (value, variance) in group_metrics(view).items():
            low, high = normal_interval(value, variance, confidence)
            columns.update({metric: value, f"{metric}_ci_low": low, f"{metric}_ci_high": high})
            replicates = value + np.sqrt(variance) * rng.standard_normal((n_boot, len(labels)))
            difference, ratio, rep_difference, rep_ratio = _spread(value, replicates)
            d_low, d_high, r_low, r_high = _intervals(rep_difference, rep_ratio, confidence)
            defined = np.isfinite(value)
            disparity_rows.append({
                "difference": difference, "difference_ci_low": d_low, "difference_ci_high": d_high,
                "ratio": ratio, "ratio_ci_low": r_low, "ratio_ci_high": r_high,
                "p_value": wald_homogeneity(value, variance),
                "min_group": labels[int(np.nanargmin(value))] if defined.sum() >= 2 else None,
                "max_group": labels[int(np.nanargmax(value))] if defined.sum() >= 2 else None,
            })
            disparity_index.append((name, metric))
        frames.append(pd.DataFrame(columns, index=index))
        quantile_frames.append(pd.DataFrame(quantiles(view), index=index,
                                            columns=pd.Index([f"q{round(q * 100):02d}" for q in QUANTILES])))
        values, pairs[name] = _measures(view, labels, confidence, n_boot, rng)
        for measure, (value, low, high) in values.items():
            measure_rows.append({"value": value, "ci_low": low, "ci_high": high})
            measure_index.append((name, measure))
    disparities = pd.DataFrame(disparity_rows, index=pd.MultiIndex.from_tuples(
        disparity_index, names=["attribute", "metric"]))
    disparities.insert(disparities.columns.get_loc("p_value") + 1, "p_value_adjusted",
                       holm(disparities["p_value"].to_numpy(dtype=float)))
    measures = pd.DataFrame(measure_rows, index=pd.MultiIndex.from_tuples(measure_index,
                                                                          names=["attribute", "measure"]))
    return ScoreTables(pd.concat(frames), disparities, measures, pd.concat(quantile_frames), pairs)


def _measures(view: ScoreStats, labels: list[str], confidence: float, n_boot: int, rng: np.random.Generator
              ) -> tuple[dict[str, tuple[float, float, float]], dict[str, list[str]]]:
    """The between-group measures and, for each, the pair of groups it compares."""
    nan = (np.nan, np.nan, np.nan)
    metrics = group_metrics(view)
    mean, _ = metrics["mean_score"]
    std = metrics["std_score"][0]
    n = effective_size(view.column("weight"), view.column("weight_sq"))
    if len(labels) < 2:
        return dict.fromkeys(SCORE_MEASURES, nan), {}
    high, low = int(np.nanargmax(mean)), int(np.nanargmin(mean))
    pooled = np.sqrt((std[high] ** 2 + std[low] ** 2) / 2)
    smd = float(safe_divide(mean[high] - mean[low], pooled))
    smd_var = (n[high] + n[low]) / (n[high] * n[low]) + smd**2 / (2 * (n[high] + n[low]))
    smd_low, smd_high = normal_interval(smd, smd_var, confidence)
    pairs = list(itertools.combinations(range(len(labels)), 2))
    cdf = _cdf(view.hist)
    widths = np.diff(view.edges[:-1])
    ks = [float(np.abs(cdf[a] - cdf[b]).max()) for a, b in pairs]
    ws = [float((np.abs(cdf[a] - cdf[b])[:-1] * widths).sum()) for a, b in pairs]
    ka, kb = pairs[int(np.argmax(ks))]
    wa, wb = pairs[int(np.argmax(ws))]
    counts = view.column("count")
    out = {
        "standardized_mean_difference": (smd, float(max(smd_low, 0.0)), float(smd_high)),
        "ks_statistic": (max(ks), *_pair_interval(view, ka, kb, max(ks), "ks", confidence, n_boot, rng)),
        "ks_p_value": (ks_p_value(max(ks), counts[ka], counts[kb]), np.nan, np.nan),
        "wasserstein_distance": (max(ws), *_pair_interval(view, wa, wb, max(ws), "w", confidence, n_boot, rng)),
    }
    named = {"standardized_mean_difference": [labels[high], labels[low]], "ks_statistic": [labels[ka], labels[kb]],
             "wasserstein_distance": [labels[wa], labels[wb]]}
    return out, named


def _pair_interval(view: ScoreStats, a: int, b: int, estimate: float, kind: str, confidence: float, n_boot: int,
                   rng: np.random.Generator) -> tuple[float, float]:
    """Bootstrap interval of a two-group distance on histograms coarsened to BOOTSTRAP_BINS bins."""
    if n_boot == 0:
        return np.nan, np.nan
    groups = np.array([a, b])
    n_bins = view.hist.shape[1]
    step = max(1, int(np.ceil(n_bins / BOOTSTRAP_BINS)))
    starts = np.arange(0, n_bins, step)
    coarse = np.add.reduceat(view.hist[groups], starts, axis=1)
    edges = np.append(view.edges[starts], view.edges[-1])
    sizes = np.rint(view.column("count")[groups]).astype(np.int64)
    draws = rng.multinomial(sizes, coarse / coarse.sum(axis=1, keepdims=True), size=(n_boot, 2))
    if kind == "ks":
        point, reps = ks_statistic(coarse[0], coarse[1]), ks_statistic(draws[:, 0], draws[:, 1])
    else:
        point, reps = wasserstein(coarse[0], coarse[1], edges), wasserstein(draws[:, 0], draws[:, 1], edges)
    low, high = percentile_interval(reps - point, confidence)
    return float(max(estimate + low, 0.0)), float(estimate + high)
