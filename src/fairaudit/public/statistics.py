"""The sufficient statistics behind a transparency report: which tables are released, and the
post-processing that turns noised tables into statistics the ordinary table builders read.

Released tables (one privacy unit changes each by at most ``k`` in L1 and L2, ``k`` the rows a unit may
contribute, 1 by default):

* ``cells``: per finest group (the crossing of every sensitive attribute), the row count of each
  (true label, decision, calibration bin) cell. Every rate, ROC AUC (on the ten calibration bins) and the
  group sizes come from it.
* ``score_sums`` (with scores): per finest group and calibration bin, the sum of the scores.
* ``segments`` (segmentations): per finest group, the row count of each segment.

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

from fairaudit.public.noise import Release
from fairaudit.segmentation import SegmentStats
from fairaudit.stats import CALIBRATION_EDGES, GroupStats


@dataclass(frozen=True, eq=False)
class Statistics:
    """What an audit keeps in memory (never serialised) so that :meth:`AuditResult.to_public` can noise it:
    the finest-group statistics, the segment counts of a segmentation with the favourable segments (as
    decision 1), and ``bounded(column, k, seed)`` recounting them with at most ``k`` rows per value of a
    column (``None`` when the rows are gone)."""

    stats: GroupStats
    segments: SegmentStats | None = None
    favorable: tuple[bool, ...] | None = None
    bounded: Callable[[str, int, int], Statistics] | None = None


def exact_tables(statistics: Statistics) -> dict[str, tuple[np.ndarray, bool]]:
    """The tables to release, by name: (exact values, integer?)."""
    stats = statistics.stats
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


def public_statistics(statistics: Statistics, released: dict[str, Release]) -> Statistics:
    """The statistics every number of the transparency report is computed from: the noised tables after
    post-processing (see the module docstring)."""
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
