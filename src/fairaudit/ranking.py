"""Ranking audits: ranked offer lists per customer, and who is shown the favourable offer.

Data are long: one row per query (customer) x item shown, with the item's rank (1 = top) or a score
ranked within the query (see :mod:`fairaudit.ranking_engine` for position weights and ties). Each customer
belongs to one group; the unit of every interval is the customer, never the row.

Per customer, with the cutoff ``k`` and relevance from ``target`` (graded, or 0/1; relevant = > 0):

* ``ndcg_at_k``: DCG@k / ideal DCG@k with gain = relevance and discount 1 / log2(1 + rank), as
  scikit-learn's ``ndcg_score``; lists with no relevant item are left out (counted in ``ndcg_lists``);
* ``precision_at_k``: relevant items in the top k over min(k, list length);
* ``hit_rate_at_k``: 1 when a relevant item is in the top k;
* ``favorable_exposure``: the sum over the favourable items of 1 / log2(1 + rank) (no cutoff);
* ``favorable_in_top_k``: 1 when a favourable item is in the top k.

A group's metric is the mean over its customers. Statistics (:class:`RankingStats`, mergeable): per finest
group the number of customers and, per metric, the sum and the sum of squares of the per-customer values.
Intervals: Wilson for the two 0/1 metrics, normal from the customers' variance for the others. The
bootstrap of the disparities redraws each group's mean from these statistics: binomially for the 0/1
metrics (exactly what resampling customers gives), normally otherwise (the customer bootstrap's
large-sample law). We keep sums rather than per-customer values binned, because five metrics of one
customer are dependent and bins would either lose that or grow with every metric; sums are exact,
tiny, and what an engine returns with one GROUP BY.

Item side (Singh & Joachims 2018): per value of the ``item`` column (an item or item group), its share
of all exposure and of all relevance, and ``exposure_per_merit`` = exposure share / relevance share;
``exposure_per_merit_ratio`` is the lowest over the highest across items with relevance.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.inputs import MAX_GROUPS_PER_ATTRIBUTE, AuditInputError
from fairaudit.metrics import safe_divide
from fairaudit.ranking_engine import QUERY_SUMS, RankingSpec, as_float, engine_tables, group_labels
from fairaudit.uncertainty import (
    chi2_homogeneity,
    normal_interval,
    wald_homogeneity,
    wilson_interval,
)

RANKING_METRICS = ("ndcg_at_k", "precision_at_k", "hit_rate_at_k", "favorable_exposure", "favorable_in_top_k")
BINARY_METRICS = ("hit_rate_at_k", "favorable_in_top_k")
# metric -> (count, sum, sum of squares) among QUERY_SUMS
_SUMS = {
    "ndcg_at_k": ("ndcg_lists", "ndcg", "ndcg_sq"),
    "precision_at_k": ("queries", "precision", "precision_sq"),
    "hit_rate_at_k": ("queries", "hit", "hit"),
    "favorable_exposure": ("queries", "favorable_exposure", "favorable_exposure_sq"),
    "favorable_in_top_k": ("queries", "favorable_top", "favorable_top"),
}
RATIO_MEASURES = ("favorable_exposure", "favorable_in_top_k")


@dataclass(frozen=True, eq=False)
class RankingStats:
    """Per finest group: ``sums`` (groups x QUERY_SUMS), ``favorable`` and ``shown`` (groups x positions
    1..n); per item: ``items`` (shown, exposure, relevance, relevant)."""

    attributes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    sums: np.ndarray
    favorable: np.ndarray
    shown: np.ndarray
    items: pd.DataFrame
    k: int
    has_target: bool
    has_favorable: bool

    @property
    def metrics(self) -> tuple[str, ...]:
        wanted = (("ndcg_at_k", "precision_at_k", "hit_rate_at_k") if self.has_target else ()) + (
            ("favorable_exposure", "favorable_in_top_k") if self.has_favorable else ())
        return wanted

    def column(self, name: str) -> np.ndarray:
        return self.sums[:, QUERY_SUMS.index(name)]

    def __add__(self, other: RankingStats) -> RankingStats:
        if (self.attributes, self.k, self.has_target, self.has_favorable) != (
                other.attributes, other.k, other.has_target, other.has_favorable):
            raise ValueError("Cannot merge RankingStats over different attributes, cutoffs or metrics.")
        keys = list(dict.fromkeys(self.groups + other.groups))
        index = {key: i for i, key in enumerate(keys)}
        width = max(self.favorable.shape[1], other.favorable.shape[1])
        merged = []
        for name, columns in (("sums", self.sums.shape[1]), ("favorable", width), ("shown", width)):
            out = np.zeros((len(keys), columns))
            for part in (self, other):
                values = getattr(part, name)
                out[[index[g] for g in part.groups], :values.shape[1]] += values
            merged.append(out)
        items = self.items.add(other.items, fill_value=0.0)
        return RankingStats(self.attributes, tuple(keys), *merged, items, self.k, self.has_target,
                            self.has_favorable)

    def collapse(self, attributes: tuple[str, ...]) -> RankingStats:
        """Sum the finest groups into the groups of ``attributes`` (``()``: everyone)."""
        positions = [self.attributes.index(a) for a in attributes]
        keys = list(dict.fromkeys(tuple(g[p] for p in positions) for g in self.groups))
        member = np.array([keys.index(tuple(g[p] for p in positions)) for g in self.groups], dtype=np.int64)
        arrays = []
        for values in (self.sums, self.favorable, self.shown):
            out = np.zeros((len(keys), values.shape[1]))
            np.add.at(out, member, values)
            arrays.append(out)
        return RankingStats(tuple(attributes), tuple(keys), *arrays, self.items, self.k, self.has_target,
                            self.has_favorable)


def ranking_stats(data: Any, *, sensitive: Sequence[str], query: str, item: str, k: int, y_rank: str | None = None,
                  y_score: str | None = None, target: str | None = None,
                  favorable: Sequence[Any] | None = None) -> tuple[RankingStats, list[str]]:
    """The statistics of a ranking held by any engine (pandas, polars, pyarrow, DuckDB, Spark, Ibis), and the
    data's column names."""
    spec = RankingSpec(tuple(sensitive), query, item, int(k), y_rank, y_score, target,
                       None if favorable is None else tuple(favorable))
    tables = engine_tables(data, spec)
    keys = list(spec.sensitive)
    raw_labels = group_labels(tables.groups, keys)
    for position, name in enumerate(keys):
        distinct = len({label[position] for label in raw_labels})
        if distinct > MAX_GROUPS_PER_ATTRIBUTE:
            raise AuditInputError(f"The 'sensitive' column {name!r} has {distinct} distinct values among the lists, "
                                  f"more than {MAX_GROUPS_PER_ATTRIBUTE}: is it an identifier? Bin or group it first.")
    order = sorted(range(len(raw_labels)), key=lambda i: _sort_key(raw_labels[i]))
    groups_table = tables.groups.iloc[order].reset_index(drop=True)
    labels = group_labels(groups_table, keys)
    index = {g: i for i, g in enumerate(labels)}
    width = int(tables.positions["position"].max()) if len(tables.positions) else 0
    favorable_at, shown_at = np.zeros((len(labels), width)), np.zeros((len(labels), width))
    for key, position, fav, shown in zip(group_labels(tables.positions, keys), tables.positions["position"],
                                         tables.positions["favorable"], tables.positions["shown"], strict=True):
        favorable_at[index[key], int(position) - 1] += float(fav)
        shown_at[index[key], int(position) - 1] += float(shown)
    items = tables.items.assign(item=[str(v) for v in tables.items["item"]]).set_index("item").sort_index()
    stats = RankingStats(spec.sensitive, tuple(labels), as_float(groups_table, QUERY_SUMS), favorable_at, shown_at,
                         items.astype(float), spec.k, target is not None, favorable is not None)
    return stats, tables.columns


def _sort_key(key: tuple[str, ...]) -> tuple:
    from fairaudit.stats import MISSING_GROUP

    return tuple((v == MISSING_GROUP, v) for v in key)


# ---------------------------------------------------------------------------- per group
def group_metrics(stats: RankingStats) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each metric per group: the mean over customers, its sampling variance and the number of customers."""
    out = {}
    for metric in stats.metrics:
        count_name, sum_name, sq_name = _SUMS[metric]
        n, total, squares = stats.column(count_name), stats.column(sum_name), stats.column(sq_name)
        mean = safe_divide(total, n)
        spread = np.maximum(safe_divide(squares - n * mean**2, n - 1), 0.0)
        variance = safe_divide(mean * (1 - mean), n) if metric in BINARY_METRICS else safe_divide(spread, n)
        out[metric] = (mean, variance, n)
    return out


def _interval(metric: str, value: np.ndarray, variance: np.ndarray, n: np.ndarray,
              confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if metric in BINARY_METRICS:
        return wilson_interval(value, n, confidence)
    upper = np.inf if metric == "favorable_exposure" else 1.0
    return normal_interval(value, variance, confidence, (0.0, upper))


def _replicates(metric: str, value: np.ndarray, variance: np.ndarray, n: np.ndarray, n_boot: int,
                rng: np.random.Generator) -> np.ndarray:
    """Bootstrap group means: binomial for 0/1 metrics, normal otherwise; NaN where a group has no customer."""
    defined = np.isfinite(value) & (n > 0)
    if metric in BINARY_METRICS:
        trials = np.where(defined, n, 0).astype(np.int64)
        draws = rng.binomial(trials, np.where(defined, value, 0.0), size=(n_boot, len(value)))
        out = safe_divide(draws.astype(float), trials.astype(float))
    else:
        out = value + np.sqrt(np.nan_to_num(variance)) * rng.standard_normal((n_boot, len(value)))
    return np.where(defined, out, np.nan)


# ---------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class RankingTables:
    by_group: pd.DataFrame
    overall: pd.DataFrame
    disparities: pd.DataFrame
    measures: pd.DataFrame
    positions: pd.DataFrame
    items: pd.DataFrame
    exposure_per_merit_ratio: float


def ranking_tables(stats: RankingStats, views: list[tuple[str, ...]], *, confidence: float, n_boot: int,
                   rng: np.random.Generator) -> RankingTables:
    """by_group, overall, disparities, measures, favourable items by position, and the item-side exposure."""
    from fairaudit.tables import JOIN, _intervals, _spread
    from fairaudit.uncertainty import holm

    total = stats.column("queries").sum()
    frames, position_frames, rows, index, measure_rows, measure_index = [], [], [], [], [], []
    for attrs in views:
        view = stats.collapse(attrs)
        name, labels = JOIN.join(attrs), [JOIN.join(g) for g in view.groups]
        frame_index = pd.MultiIndex.from_arrays([[name] * len(labels), labels], names=["attribute", "group"])
        queries = view.column("queries")
        columns: dict[str, Any] = {"count": queries.astype(np.int64), "share": queries / total}
        if stats.has_target:
            columns["ndcg_lists"] = view.column("ndcg_lists").astype(np.int64)
        for metric, (value, variance, n) in group_metrics(view).items():
            low, high = _interval(metric, value, variance, n, confidence)
            columns.update({metric: value, f"{metric}_ci_low": low, f"{metric}_ci_high": high})
            replicates = _replicates(metric, value, variance, n, n_boot, rng)
            difference, ratio, rep_difference, rep_ratio = _spread(value, replicates)
            d_low, d_high, r_low, r_high = _intervals(rep_difference, rep_ratio, confidence)
            if metric in BINARY_METRICS:
                p_value = chi2_homogeneity(np.nan_to_num(value * n), n)
            else:
                p_value = wald_homogeneity(value, variance)
            defined = np.isfinite(value)
            rows.append({
                "difference": difference, "difference_ci_low": d_low, "difference_ci_high": d_high,
                "ratio": ratio, "ratio_ci_low": r_low, "ratio_ci_high": r_high,
                "p_value": p_value if np.isfinite(difference) else np.nan,
                "min_group": labels[int(np.nanargmin(value))] if defined.sum() >= 2 else None,
                "max_group": labels[int(np.nanargmax(value))] if defined.sum() >= 2 else None,
            })
            index.append((name, metric))
            named = [("difference", (difference, d_low, d_high))]
            if metric in RATIO_MEASURES:
                named.append(("ratio", (ratio, r_low, r_high)))
            for kind, (v, lo, hi) in named:
                measure_rows.append({"value": float(v), "ci_low": float(lo), "ci_high": float(hi)})
                measure_index.append((name, f"{metric}_{kind}"))
        frames.append(pd.DataFrame(columns, index=frame_index))
        if stats.has_favorable:
            shares = safe_divide(view.favorable, queries[:, None])
            position_frames.append(pd.DataFrame(shares, index=frame_index, columns=pd.Index(
                [str(p) for p in range(1, shares.shape[1] + 1)], name="position")))
    disparities = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["attribute", "metric"]))
    disparities.insert(disparities.columns.get_loc("p_value") + 1, "p_value_adjusted",
                       holm(disparities["p_value"].to_numpy(dtype=float)))
    measures = pd.DataFrame(measure_rows, index=pd.MultiIndex.from_tuples(measure_index,
                                                                          names=["attribute", "measure"]))
    items, ratio = item_exposure(stats.items, has_target=stats.has_target)
    positions = pd.concat(position_frames) if position_frames else None
    return RankingTables(pd.concat(frames), _overall(stats, confidence), disparities, measures, positions, items,
                         ratio)


def _overall(stats: RankingStats, confidence: float) -> pd.DataFrame:
    everyone = stats.collapse(())
    rows = {}
    for metric, (value, variance, n) in group_metrics(everyone).items():
        low, high = _interval(metric, value, variance, n, confidence)
        rows[metric] = (value[0], low[0], high[0])
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "ci_low", "ci_high"])
    table.index.name = "metric"
    return table


def item_exposure(items: pd.DataFrame, *, has_target: bool) -> tuple[pd.DataFrame, float]:
    """Per item: times shown, exposure and its share, relevance and its share, exposure per unit of merit;
    and the lowest over the highest exposure per merit (NaN without relevance or with fewer than two items
    that have any)."""
    exposure_share = safe_divide(items["exposure"].to_numpy(), items["exposure"].sum())
    table = pd.DataFrame({"shown": items["shown"].astype(np.int64), "exposure": items["exposure"],
                          "exposure_share": exposure_share}, index=items.index)
    if not has_target:
        return table, np.nan
    relevance_share = safe_divide(items["relevance"].to_numpy(), items["relevance"].sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_merit = np.where(relevance_share > 0, safe_divide(exposure_share, relevance_share), np.nan)
    table = table.assign(relevance=items["relevance"], relevance_share=relevance_share, exposure_per_merit=per_merit)
    defined = per_merit[np.isfinite(per_merit)]
    ratio = float(defined.min() / defined.max()) if defined.size >= 2 and defined.max() > 0 else np.nan
    return table, ratio

