"""Segmentation audits: how customer segments (clusters, tiers, personas) are shared out across groups.

Sufficient statistics: per finest group, the row count, weight and squared weight of each segment
(:class:`SegmentStats`, mergeable like :class:`~fairaudit.stats.GroupStats`). Per view (attribute or
crossing), from its groups x segments table:

* ``segments``: each group's share in each segment (rows sum to 1), with Wilson intervals;
* ``chi2_p_value``: Pearson's chi-squared test of independence of segment and group; a Monte-Carlo
  p-value over 2,000 tables with the same margins when an expected count is below 5 (the method is
  recorded in the metadata);
* ``cramers_v``: sqrt(chi2 / (n (min(rows, columns) - 1))), no bias correction;
* ``normalized_mutual_info``: mutual information over the arithmetic mean of the two entropies, as
  scikit-learn's ``normalized_mutual_info_score``;
* ``min_representation_ratio``: a group's share in a segment over its share overall, the lowest across
  groups and segments (1 = every segment mirrors the population);
* ``balance`` (Chierichetti et al. 2017): per segment the smallest over the largest group count, the
  lowest across segments; for two groups exactly their min(red/blue, blue/red).

Intervals of the four measures: percentile bootstrap that redraws each finest group's segment counts
from a multinomial (statistics, never rows). The p-value has none.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from fairaudit.inputs import AuditInputError, group_name
from fairaudit.metrics import safe_divide
from fairaudit.stats import GroupStats, sum_groups
from fairaudit.uncertainty import effective_size, percentile_interval, wilson_interval

SEGMENT_MEASURES = ("chi2_p_value", "cramers_v", "normalized_mutual_info", "min_representation_ratio", "balance")
MONTE_CARLO_TABLES = 2000


def favorable_codes(favorable: Any, segments: Sequence[str]) -> list[int] | None:
    """Positions in ``segments`` of the favourable segments (``None`` when none are named); refuses a
    segment that never occurs."""
    if favorable is None:
        return None
    if isinstance(favorable, (str, int)):
        favorable = [favorable]
    wanted = [group_name(f) for f in favorable]
    unknown = [w for w in wanted if w not in segments]
    if unknown:
        raise AuditInputError(
            f"The 'favorable' argument names segment {unknown[0]!r}, which never occurs; the segments are "
            f"{', '.join(repr(s) for s in segments)}."
        )
    return [list(segments).index(w) for w in wanted]


@dataclass(frozen=True, eq=False)
class SegmentStats:
    """Segment counts per finest group: arrays of shape ``(n_groups, n_segments)``."""

    attributes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    segments: tuple[str, ...]
    count: np.ndarray
    weight: np.ndarray
    weight_sq: np.ndarray

    @classmethod
    def from_codes(cls, attributes: tuple[str, ...], groups: tuple[tuple[str, ...], ...], group_code: np.ndarray,
                   segments: tuple[str, ...], segment_code: np.ndarray,
                   sample_weight: np.ndarray | None) -> SegmentStats:
        cell = group_code.astype(np.int64) * len(segments) + segment_code
        size = len(groups) * len(segments)
        count = np.bincount(cell, minlength=size).astype(float)
        weight = count if sample_weight is None else np.bincount(cell, weights=sample_weight, minlength=size)
        weight_sq = count if sample_weight is None else np.bincount(cell, weights=sample_weight**2, minlength=size)
        shape = (len(groups), len(segments))
        return cls(tuple(attributes), tuple(groups), tuple(segments), count.reshape(shape), weight.reshape(shape),
                   weight_sq.reshape(shape))

    def __add__(self, other: SegmentStats) -> SegmentStats:
        if (self.attributes, self.segments) != (other.attributes, other.segments):
            raise ValueError("Cannot merge SegmentStats over different attributes or segments.")
        keys = list(dict.fromkeys(self.groups + other.groups))
        index = {k: i for i, k in enumerate(keys)}
        arrays = []
        for name in ("count", "weight", "weight_sq"):
            out = np.zeros((len(keys), len(self.segments)))
            out[[index[k] for k in self.groups]] += getattr(self, name)
            out[[index[k] for k in other.groups]] += getattr(other, name)
            arrays.append(out)
        return SegmentStats(self.attributes, tuple(keys), self.segments, *arrays)

    def collapse(self, attributes: tuple[str, ...], membership: GroupStats) -> SegmentStats:
        """Sum finest groups into the groups of ``attributes`` (membership from the matching GroupStats)."""
        keys, member = membership.membership(attributes)
        return SegmentStats(tuple(attributes), keys, self.segments,
                            *(sum_groups(getattr(self, n), member, len(keys), axis=0)
                              for n in ("count", "weight", "weight_sq")))


# ---------------------------------------------------------------------------- measures of a table
def _chi2(table: np.ndarray) -> np.ndarray:
    """Pearson chi-squared of ``(..., groups, segments)`` tables (empty rows/columns ignored)."""
    n = table.sum(axis=(-2, -1), keepdims=True)
    expected = table.sum(axis=-1, keepdims=True) * table.sum(axis=-2, keepdims=True) / np.where(n > 0, n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    return terms.sum(axis=(-2, -1))


def _dimension(table: np.ndarray) -> np.ndarray:
    rows = (table.sum(axis=-1) > 0).sum(axis=-1)
    columns = (table.sum(axis=-2) > 0).sum(axis=-1)
    return np.minimum(rows, columns)


def cramers_v(table: np.ndarray) -> np.ndarray:
    n = table.sum(axis=(-2, -1))
    return np.sqrt(safe_divide(_chi2(table), n * (_dimension(table) - 1)))


def _entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)


def normalized_mutual_info(table: np.ndarray) -> np.ndarray:
    n = table.sum(axis=(-2, -1), keepdims=True)
    p = table / np.where(n > 0, n, 1)
    rows, columns = p.sum(axis=-1), p.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p / (rows[..., :, None] * columns[..., None, :])
        mutual = np.where(p > 0, p * np.log(np.where(p > 0, ratio, 1.0)), 0.0).sum(axis=(-2, -1))
    mean_entropy = (_entropy(rows) + _entropy(columns)) / 2
    out = safe_divide(mutual, mean_entropy)
    # one group or one segment: scikit-learn defines the score as 1 (both labelings constant) or 0
    return np.where(mean_entropy == 0, np.nan, np.clip(out, 0, 1))


def representation_ratios(table: np.ndarray) -> np.ndarray:
    """``(..., groups, segments)``: share of the group in the segment over its share overall."""
    in_segment = safe_divide(table, table.sum(axis=-2, keepdims=True))
    overall = safe_divide(table.sum(axis=-1, keepdims=True), table.sum(axis=(-2, -1), keepdims=True))
    return safe_divide(in_segment, overall)


def min_representation_ratio(table: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(representation_ratios(table), axis=(-2, -1))


def balance(table: np.ndarray) -> np.ndarray:
    occupied = table.sum(axis=-2) > 0
    per_segment = safe_divide(table.min(axis=-2), table.max(axis=-2))
    return np.where(occupied, per_segment, np.inf).min(axis=-1)


def chi2_p_value(table: np.ndarray, rng: np.random.Generator) -> tuple[float, str]:
    """p-value of independence, and the method: asymptotic, or Monte-Carlo when expected counts are small."""
    kept = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(kept.shape) < 2:
        return np.nan, "undefined (one group or one segment)"
    rows, columns = kept.sum(axis=1), kept.sum(axis=0)
    expected = np.outer(rows, columns) / kept.sum()
    statistic = float(_chi2(kept))
    if expected.min() >= 5:
        dof = (kept.shape[0] - 1) * (kept.shape[1] - 1)
        return float(scipy_stats.chi2.sf(statistic, dof)), "asymptotic chi-squared"
    margins = (np.rint(rows).astype(int), np.rint(columns).astype(int))
    tables = scipy_stats.random_table(*margins, seed=rng).rvs(MONTE_CARLO_TABLES)
    exceed = int((_chi2(tables.astype(float)) >= statistic - 1e-9).sum())
    return (exceed + 1) / (MONTE_CARLO_TABLES + 1), f"Monte-Carlo over {MONTE_CARLO_TABLES} tables"


MEASURE_FUNCTIONS = {
    "cramers_v": cramers_v,
    "normalized_mutual_info": normalized_mutual_info,
    "min_representation_ratio": min_representation_ratio,
    "balance": balance,
}


# ---------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class SegmentTables:
    segments: pd.DataFrame
    segments_ci_low: pd.DataFrame
    segments_ci_high: pd.DataFrame
    measures: pd.DataFrame
    methods: dict[str, str]


def bootstrap_segments(stats: SegmentStats, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Replicate weights ``(n_boot, groups, segments)``: each finest group redrawn from a multinomial."""
    sizes = stats.count.sum(axis=1)
    draws = rng.multinomial(np.rint(sizes).astype(np.int64), stats.count / sizes[:, None],
                            size=(n_boot, len(sizes)))
    return draws * np.nan_to_num(safe_divide(stats.weight, stats.count))


def segment_tables(stats: SegmentStats, finest: GroupStats, views: list[tuple[str, ...]], *, confidence: float,
                   n_boot: int, rng: np.random.Generator) -> SegmentTables:
    """Shares, their intervals and the segmentation measures of every view."""
    from fairaudit.tables import JOIN

    replicates = bootstrap_segments(stats, n_boot, rng)
    shares, lows, highs, rows, index, methods = [], [], [], [], [], {}
    for attrs in views:
        keys, member = finest.membership(attrs)
        view = stats.collapse(attrs, finest)
        name = JOIN.join(attrs)
        labels = [JOIN.join(k) for k in keys]
        share = safe_divide(view.weight, view.weight.sum(axis=1, keepdims=True))
        n_eff = effective_size(view.weight.sum(axis=1), view.weight_sq.sum(axis=1))[:, None]
        low, high = wilson_interval(share, np.broadcast_to(n_eff, share.shape), confidence)
        frame_index = pd.MultiIndex.from_arrays([[name] * len(labels), labels], names=["attribute", "group"])
        columns = pd.Index(list(stats.segments), name="segment")
        shares.append(pd.DataFrame(share, index=frame_index, columns=columns))
        lows.append(pd.DataFrame(low, index=frame_index, columns=columns))
        highs.append(pd.DataFrame(high, index=frame_index, columns=columns))
        table = view.weight * safe_divide(n_eff.sum(), view.weight.sum())  # weighted counts on the Kish scale
        p_value, methods[name] = chi2_p_value(table, rng)
        rows.append({"value": p_value, "ci_low": np.nan, "ci_high": np.nan})
        index.append((name, "chi2_p_value"))
        view_replicates = sum_groups(replicates, member, len(keys), axis=1)
        for measure, function in MEASURE_FUNCTIONS.items():
            value = float(function(view.weight))
            low_b, high_b = percentile_interval(function(view_replicates), confidence)
            rows.append({"value": value, "ci_low": float(low_b), "ci_high": float(high_b)})
            index.append((name, measure))
    measures = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["attribute", "measure"]))
    return SegmentTables(pd.concat(shares), pd.concat(lows), pd.concat(highs), measures, methods)
