"""The sufficient statistics behind a transparency report: which tables are released, and the
post-processing that turns noised tables into statistics the ordinary table builders read.

Released tables (one privacy unit changes each by at most ``k`` in L1 and L2, ``k`` the rows a unit may
contribute, 1 by default):

* ``cells``: per finest group (the crossing of every sensitive attribute), the row count of each
  (true label, decision, calibration bin) cell. Every rate, ROC AUC (on the ten calibration bins) and the
  group sizes come from it.
* ``score_sums`` (with scores): per finest group and calibration bin, the sum of the scores.
* ``segments`` (segmentations): per finest group, the row count of each segment.
* ``lists`` and ``list_sums`` (ranking audits; the unit is one customer, i.e. one list): per finest group,
  the customers and those with a relevant item in the top k, a favourable item in the top k and any relevant
  item (counts), and the sums of per-customer NDCG@k and precision@k and of their squares (each in [0, 1]).
  One customer changes each entry by at most 1, so each table by at most its number of columns. The
  favourable exposure (a sum over a list's favourable items) has no per-customer bound and is not released.
* ``score_hist`` (score audits): per finest group, the row count of each of ``SCORE_BINS`` equal-width bins
  of the public ``score_range`` (scores outside it counted in the first or last bin). Means, standard
  deviations and the standardized mean difference come from the noised counts (sums unbiased), KS,
  Wasserstein and quantiles from their non-negative projection (a bin's scores taken as uniform over the
  bin); the error metrics of a numeric target are not released.

Post-processing (no privacy cost): each group's noised cells are projected onto the non-negative counts
with the same total (the Euclidean projection onto a simplex, then integers by largest remainders), so no
count is negative and the group's total is the sum of its noised cells; every coarser view, and the
released total, is summed from these finest cells, so groups always add up. A segmentation's decision
cells are scaled to its noised segment counts. A bin's score sum is clipped to what its count allows
(every score of bin ``c`` lies in ``[c/10, (c+1)/10]``). The squared score sums are not released: each
cell's is its count times the square of its mean score plus the variance of a uniform score in its bin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from fairaudit.public.noise import Release
from fairaudit.ranking import RankingStats
from fairaudit.ranking_engine import QUERY_SUMS
from fairaudit.scores import SUMS, ScoreStats
from fairaudit.segmentation import SegmentStats
from fairaudit.stats import CALIBRATION_EDGES, GroupStats

SCORE_BINS = 100


@dataclass(frozen=True, eq=False)
class Statistics:
    """What an audit keeps in memory (never serialised) so that :meth:`AuditResult.to_public` can noise it:
    the finest-group statistics, the segment counts of a segmentation with the favourable segments (as
    decision 1), ``bounded(column, k, seed)`` recounting them with at most ``k`` rows per value of a
    column (``None`` when the rows are gone), and for a score audit ``score_counts(edges)``, the score
    statistics of the same rows counted on given (public) bin edges; a public score audit's ``scores`` are
    those of its noised histogram."""

    stats: GroupStats | None
    segments: SegmentStats | None = None
    favorable: tuple[bool, ...] | None = None
    bounded: Callable[[str, int, int], Statistics] | None = None
    score_counts: Callable[[np.ndarray], ScoreStats] | None = None
    scores: ScoreStats | None = None
    ranking: RankingStats | None = None


LIST_COUNTS = ("queries", "hit", "favorable_top", "ndcg_lists")
LIST_SUMS = ("ndcg", "ndcg_sq", "precision", "precision_sq")
UNRELEASED = ("favorable_exposure",)  # ranking metrics with no per-customer bound


def _list_columns(ranking: RankingStats) -> tuple[list[str], list[str]]:
    counts = ["queries"] + (["hit", "ndcg_lists"] if ranking.has_target else []) + (
        ["favorable_top"] if ranking.has_favorable else [])
    return counts, list(LIST_SUMS) if ranking.has_target else []


def per_unit(statistics: Statistics, name: str) -> int:
    """How much one privacy unit (row, or customer of a ranking) changes table ``name`` at most, in L1."""
    if statistics.ranking is None:
        return 1
    counts, sums = _list_columns(statistics.ranking)
    return len(counts) if name == "lists" else len(sums)


def score_edges(score_range: tuple[float, float]) -> np.ndarray:
    """``SCORE_BINS`` equal-width bins over the public ``score_range``: their lower edges, then ``inf`` (the
    layout of :class:`~fairaudit.scores.ScoreStats`; scores below the range fall in the first bin)."""
    low, high = score_range
    return np.append(np.linspace(low, high, SCORE_BINS + 1)[:-1], np.inf)


def exact_tables(statistics: Statistics, score_range: tuple[float, float] | None = None
                 ) -> dict[str, tuple[np.ndarray, bool]]:
    """The tables to release, by name: (exact values, integer?)."""
    if statistics.ranking is not None:
        counts, sums = _list_columns(statistics.ranking)
        tables = {"lists": (np.column_stack([statistics.ranking.column(c) for c in counts]), True)}
        if sums:
            tables["list_sums"] = (np.column_stack([statistics.ranking.column(c) for c in sums]), False)
        return tables
    stats = statistics.stats
    if statistics.score_counts is not None:
        return {"score_hist": (statistics.score_counts(score_edges(score_range)).hist, True)}
    tables: dict[str, tuple[np.ndarray, bool]] = {}
    if statistics.segments is not None:
        tables["segments"] = (statistics.segments.count, True)
    if statistics.segments is None or stats.has_target:
        tables["cells"] = (stats.count, True)
    if stats.has_score:
        tables["score_sums"] = (stats.score_sum.sum(axis=(1, 2)), False)
    return tables


def nonnegative(noised: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Each row (first axis: a finest group) projected onto the non-negative integer vectors with the row's
    rounded noised total, at least ``minimum`` (every audited group occurs in the data): the nearest in
    Euclidean distance, rounded by largest remainders."""
    rows = noised.reshape(len(noised), -1)
    totals = np.maximum(np.rint(rows.sum(axis=1)), float(minimum))
    ordered = -np.sort(-rows, axis=1)
    steps = np.arange(1, rows.shape[1] + 1)
    shifts = (np.cumsum(ordered, axis=1) - totals[:, None]) / steps
    support = np.maximum((ordered - shifts > 0).sum(axis=1), 1)
    shift = shifts[np.arange(len(rows)), support - 1]
    projected = np.maximum(rows - shift[:, None], 0.0)
    projected[totals == 0] = 0.0
    return _round(projected, totals).reshape(noised.shape)


def _round(values: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integers per row that sum to ``totals``: floors, plus one for the largest remainders."""
    floors = np.floor(values)
    missing = (totals - floors.sum(axis=1)).astype(np.int64)
    order = np.argsort(-(values - floors), axis=1, kind="stable")
    ranks = np.argsort(order, axis=1, kind="stable")
    return floors + (ranks < missing[:, None])


def _scaled(split: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integer rows proportional to ``split`` (even when a row of ``split`` is all zero) summing to ``totals``."""
    sums = split.sum(axis=1, keepdims=True)
    shares = np.where(sums > 0, split / np.where(sums > 0, sums, 1), 1 / split.shape[1])
    return _round(shares * totals[:, None], totals)


def public_scores(statistics: Statistics, released: dict[str, Release], score_range: tuple[float, float]
                  ) -> tuple[GroupStats, ScoreStats]:
    """A score audit's statistics from its noised histogram, each bin's scores uniform over the bin: the
    sums of scores from the noised counts themselves (unbiased), the distributions (KS, Wasserstein,
    quantiles) from their non-negative projection, whose totals they share."""
    stats = statistics.stats
    noised = released["score_hist"].values
    hist = nonnegative(noised)
    edges = score_edges(score_range)
    width = (score_range[1] - score_range[0]) / SCORE_BINS
    middle = edges[:-1] + width / 2
    counts = hist.sum(axis=1)
    sums = np.zeros((len(hist), len(SUMS)))
    for name in ("count", "weight", "weight_sq"):
        sums[:, SUMS.index(name)] = counts
    sums[:, SUMS.index("score")] = noised @ middle
    sums[:, SUMS.index("score_sq")] = noised @ (middle**2 + width**2 / 12)
    cells = np.zeros(stats.count.shape)
    cells.reshape(len(cells), -1)[:, 0] = counts
    public = replace(stats, count=cells, weight=cells, weight_sq=cells, score_sum=np.zeros(cells.shape),
                     score_sq_sum=np.zeros(cells.shape))
    return public, ScoreStats(stats.attributes, stats.groups, sums, hist, edges, False)


def public_ranking(ranking: RankingStats, released: dict[str, Release]) -> RankingStats:
    """A ranking's statistics from its noised tables: at least one customer per group, every count within
    [0, customers] (NDCG lists within [0, customers], hits within [0, NDCG lists]), every sum within what its
    count allows (a value in [0, 1] per customer; a sum of squares between sum**2 / n and the sum)."""
    counts, sums = _list_columns(ranking)
    noised = np.rint(released["lists"].values)
    queries = np.maximum(noised[:, 0], 1.0)
    values = {"queries": queries}
    for j, name in enumerate(counts[1:], start=1):
        values[name] = np.clip(noised[:, j], 0.0, queries)
    if "ndcg_lists" in values:
        values["hit"] = np.minimum(values["hit"], values["ndcg_lists"])
    if sums:
        raw = dict(zip(sums, released["list_sums"].values.T, strict=True))
        for name, n in (("ndcg", values["ndcg_lists"]), ("precision", queries)):
            total = np.clip(raw[name], 0.0, n)
            values[name] = total
            values[f"{name}_sq"] = np.clip(raw[f"{name}_sq"], np.where(n > 0, total**2 / np.where(n > 0, n, 1), 0),
                                           total)
    table = np.zeros(ranking.sums.shape)
    for name, column in values.items():
        table[:, QUERY_SUMS.index(name)] = column
    items = pd.DataFrame(columns=list(ranking.items.columns), dtype=float)
    return RankingStats(ranking.attributes, ranking.groups, table, np.zeros((len(table), 0)),
                        np.zeros((len(table), 0)), items, ranking.k, ranking.has_target, ranking.has_favorable)


def public_statistics(statistics: Statistics, released: dict[str, Release],
                      score_range: tuple[float, float] | None = None) -> Statistics:
    """The statistics every number of the transparency report is computed from: the noised tables after
    post-processing (see the module docstring)."""
    if statistics.ranking is not None:
        return Statistics(None, ranking=public_ranking(statistics.ranking, released))
    if score_range is not None:
        stats, scores = public_scores(statistics, released, score_range)
        return Statistics(stats, scores=scores)
    stats = statistics.stats
    shape = stats.count.shape
    segments = None
    if statistics.segments is not None:
        counts = nonnegative(released["segments"].values)
        segments = replace(statistics.segments, count=counts, weight=counts, weight_sq=counts)
        favorable = np.array(statistics.favorable if statistics.favorable is not None
                             else [False] * counts.shape[1])
        decided = np.column_stack([counts[:, ~favorable].sum(axis=1), counts[:, favorable].sum(axis=1)])
        if stats.has_target:
            cells = nonnegative(released["cells"].values)
            by_decision = cells.sum(axis=3)  # (groups, y, p)
            cells = np.zeros(shape)
            for p in (0, 1):
                cells[:, :, p, 0] = _scaled(by_decision[:, :, p], decided[:, p])
        else:
            cells = decided.reshape(shape)
    else:
        cells = nonnegative(released["cells"].values)
    score_sum = score_sq_sum = np.zeros(shape)
    hist = None
    if stats.has_score:
        per_bin = cells.sum(axis=(1, 2))  # (groups, bins)
        sums = np.clip(released["score_sums"].values, per_bin * CALIBRATION_EDGES[:-1], per_bin * CALIBRATION_EDGES[1:])
        mean = np.where(per_bin > 0, sums / np.where(per_bin > 0, per_bin, 1), 0.0)[:, None, None, :]
        width = np.diff(CALIBRATION_EDGES)
        score_sum = cells * mean
        score_sq_sum = cells * (mean**2 + width**2 / 12)
        if stats.has_target:
            hist = cells.sum(axis=2)
    public = replace(stats, count=cells, weight=cells, weight_sq=cells, score_sum=score_sum,
                     score_sq_sum=score_sq_sum, score_hist=hist,
                     score_edges=None if hist is None else CALIBRATION_EDGES.copy())
    return Statistics(public, segments, statistics.favorable)
