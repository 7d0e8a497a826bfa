"""GroupStats: the per-group sufficient statistics every metric is computed from.

An audit reads its rows exactly once, into a small table of weighted counts per *finest* group (the
crossing of all sensitive attributes). Every metric, interval and test in fairaudit is a function of
this table, never of rows. The table is *mergeable*: the statistics of two row sets add up to the
statistics of their union, which is what lets a bootstrap resample statistics instead of rows and
lets other engines (DuckDB, Spark) produce the same table with a GROUP BY.

Cells. Each finest group holds a grid of cells indexed by

* ``y``  the true label (two levels, 0 and 1; one level "unknown" when no target is given),
* ``p``  the decision (0 or 1),
* ``c``  the calibration bin of the score (10 equal-width bins on [0, 1], scikit-learn's
  ``calibration_curve`` convention; one bin when no score is given).

and each cell carries five sums: the row count, the sum of weights, of squared weights, of
weight × score and of weight × score². With a target and a score, ``score_hist`` also holds the weighted
histogram of scores per label on ``score_edges`` (for ROC AUC).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

N_CALIBRATION_BINS = 10
CALIBRATION_EDGES = np.linspace(0.0, 1.0, N_CALIBRATION_BINS + 1)
SUM_FIELDS = ("count", "weight", "weight_sq", "score_sum", "score_sq_sum")


def calibration_bin(scores: np.ndarray) -> np.ndarray:
    """Calibration bin of each score, as in ``sklearn.calibration.calibration_curve`` (uniform): the number
    of interior edges below it (nine comparisons cost less than a binary search per score)."""
    out = np.zeros(np.shape(scores), dtype=np.int8)
    for edge in CALIBRATION_EDGES[1:-1]:
        out += scores > edge
    return out


SCORE_GRID = 1 << 14
"""Quantile bin edges of probabilities are snapped to multiples of ``1 / SCORE_GRID``, so that a score's
bin is a table look-up of ``floor(score * SCORE_GRID)`` instead of a binary search, and an engine's
histogram per group and label has at most SCORE_GRID cells (a bin is never narrower than one cell)."""


def score_bin(scores: np.ndarray, edges: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
    """Histogram bin of each score: bin ``b`` holds ``edges[b] <= s < edges[b + 1]``; scores below
    the first edge fall in the first bin, at or above the last in the last. ``cells``: the scores' grid cells
    (:func:`grid_cells`), if known."""
    interior = edges[1:-1]
    on_grid = interior * SCORE_GRID
    if (interior.size and np.array_equal(on_grid, np.floor(on_grid)) and interior[0] >= 0
            and interior[-1] <= 1 and (cells is not None or (scores.min() >= 0 and scores.max() <= 1))):
        table = np.searchsorted(interior, np.arange(SCORE_GRID + 1) / SCORE_GRID, side="right")
        return table.astype(np.int32)[grid_cells(scores) if cells is None else cells]
    return np.searchsorted(interior, scores, side="right")


def grid_cells(scores: np.ndarray) -> np.ndarray | None:
    """Each probability's cell ``floor(score * SCORE_GRID)`` on the grid; None unless every score is in [0, 1]."""
    if not scores.size or scores.min() < 0 or scores.max() > 1:
        return None
    return (scores * SCORE_GRID).astype(np.int64)


@dataclass(frozen=True)
class ScoreBins:
    """Each score's calibration bin and, if asked for, its histogram bin (for ROC AUC) with the histogram's edges."""

    calibration: np.ndarray
    edges: np.ndarray | None = None
    histogram: np.ndarray | None = None


_kept_bins: list[tuple[weakref.ref, ScoreBins]] = []


def bin_scores(scores: np.ndarray, edges: np.ndarray | None = None, *, histogram: bool = True,
               keep: bool = False) -> ScoreBins:
    """The scores' calibration bins and (``histogram``) histogram bins on ``edges``, default
    :func:`default_score_edges`. ``keep``: hold the default bins for the next call on the same array, which
    takes them (the audit bins a score column while the sensitive columns are coded; the statistics read them)."""
    if edges is None and _kept_bins and _kept_bins[0][0]() is scores and (
            _kept_bins[0][1].histogram is not None or not histogram):
        return _kept_bins.pop()[1]
    if not histogram:
        binned = ScoreBins(calibration_bin(scores))
    else:
        cells = grid_cells(scores)
        chosen = default_score_edges(scores, cells=cells) if edges is None else edges
        binned = ScoreBins(calibration_bin(scores), chosen, score_bin(scores, chosen, cells))
    if keep and edges is None:
        _kept_bins[:] = [(weakref.ref(scores), binned)]
    return binned


@dataclass(frozen=True, eq=False)
class GroupStats:
    """Sufficient statistics per group of one or more sensitive attributes.

    ``attributes`` names the sensitive attributes; ``groups`` holds, per group, one string value per
    attribute. The cell arrays have shape ``(n_groups, n_y, 2, n_c)``.
    """

    attributes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    count: np.ndarray
    weight: np.ndarray
    weight_sq: np.ndarray
    score_sum: np.ndarray
    score_sq_sum: np.ndarray
    has_target: bool
    has_score: bool
    score_edges: np.ndarray | None = None
    score_hist: np.ndarray | None = field(default=None)
    _memberships: dict[tuple[str, ...], tuple[tuple[tuple[str, ...], ...], np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_codes(
        cls,
        attributes: tuple[str, ...],
        groups: tuple[tuple[str, ...], ...],
        group_code: np.ndarray,
        y_true: np.ndarray | None,
        y_pred: np.ndarray,
        y_score: np.ndarray | None,
        sample_weight: np.ndarray | None,
        score_edges: np.ndarray | None = None,
    ) -> GroupStats:
        """One pass over rows: ``group_code`` indexes ``groups``; labels and decisions are 0/1."""
        n_groups = len(groups)
        n_y = 1 if y_true is None else 2
        n_c = 1 if y_score is None else N_CALIBRATION_BINS
        shape = (n_groups, n_y, 2, n_c)
        labelled = np.asarray(group_code, dtype=np.intp)  # group x label, then x decision x calibration bin
        if y_true is not None:
            labelled = labelled * 2 + y_true
        cell = labelled * (2 * n_c)
        cell += y_pred if n_c == 1 else y_pred * np.int8(n_c)
        binned = None if y_score is None else bin_scores(y_score, score_edges, histogram=y_true is not None)
        if binned is not None:
            cell += binned.calibration
        size = int(np.prod(shape))
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        count = np.bincount(cell, minlength=size).astype(float)
        weight = count if w is None else np.bincount(cell, weights=w, minlength=size)
        weight_sq = count if w is None else np.bincount(cell, weights=w * w, minlength=size)
        if y_score is None:
            score_sum = np.zeros(size)
            score_sq_sum = np.zeros(size)
        else:
            ws = y_score if w is None else w * y_score
            score_sum = np.bincount(cell, weights=ws, minlength=size)
            score_sq_sum = np.bincount(cell, weights=ws * y_score, minlength=size)
        hist = None
        if y_true is not None and binned is not None:
            score_edges = binned.edges
            n_bins = len(score_edges) - 1
            hcell = labelled * n_bins
            hcell += binned.histogram
            hist = np.bincount(hcell, weights=w, minlength=n_groups * 2 * n_bins).reshape(n_groups, 2, n_bins)
        else:
            score_edges = None
        return cls(
            attributes=tuple(attributes),
            groups=tuple(tuple(g) for g in groups),
            count=count.reshape(shape),
            weight=weight.reshape(shape),
            weight_sq=weight_sq.reshape(shape),
            score_sum=score_sum.reshape(shape),
            score_sq_sum=score_sq_sum.reshape(shape),
            has_target=y_true is not None,
            has_score=y_score is not None,
            score_edges=score_edges,
            score_hist=hist,
        )

    # ------------------------------------------------------------------ algebra
    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def group_count(self) -> np.ndarray:
        """Rows per group (unweighted)."""
        return self.count.sum(axis=(1, 2, 3))

    @property
    def group_weight(self) -> np.ndarray:
        """Sum of weights per group."""
        return self.weight.sum(axis=(1, 2, 3))

    def _check_compatible(self, other: GroupStats) -> None:
        if self.attributes != other.attributes:
            raise ValueError(f"Cannot merge GroupStats over {self.attributes} and {other.attributes}.")
        if (self.has_target, self.has_score) != (other.has_target, other.has_score):
            raise ValueError("Cannot merge GroupStats with and without target or score.")
        if self.score_edges is not None and not np.array_equal(self.score_edges, other.score_edges):
            raise ValueError(
                "Cannot merge GroupStats with different score histogram bins: compute both with the "
                "same `score_edges`."
            )

    def __add__(self, other: GroupStats) -> GroupStats:
        """Statistics of the union of the two row sets."""
        if not isinstance(other, GroupStats):
            return NotImplemented
        self._check_compatible(other)
        keys = list(dict.fromkeys(self.groups + other.groups))
        index = {k: i for i, k in enumerate(keys)}

        def merged(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            out = np.zeros((len(keys),) + a.shape[1:])
            out[[index[k] for k in self.groups]] += a
            out[[index[k] for k in other.groups]] += b
            return out

        sums = {name: merged(getattr(self, name), getattr(other, name)) for name in SUM_FIELDS}
        return replace(
            self, groups=tuple(keys), score_hist=merged(self.score_hist, other.score_hist), **sums
        )

    def equals(self, other: GroupStats, rtol: float = 1e-12) -> bool:
        """Same groups (in any order) and the same sums up to floating-point rounding."""
        try:
            self._check_compatible(other)
        except ValueError:
            return False
        if set(self.groups) != set(other.groups):
            return False
        order = [other.groups.index(g) for g in self.groups]
        names = SUM_FIELDS + (("score_hist",) if self.score_hist is not None else ())
        return all(
            np.allclose(getattr(self, n), getattr(other, n)[order], rtol=rtol, atol=1e-9) for n in names
        )

    def membership(self, attributes: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
        """Groups of the given attribute subset and, per finest group, the index of its coarse group (read-only;
        computed once per subset)."""
        attributes = tuple(attributes)
        if attributes not in self._memberships:
            positions = [self.attributes.index(a) for a in attributes]
            coarse = [tuple(g[p] for p in positions) for g in self.groups]
            keys = natural_order(set(coarse))
            index = {k: i for i, k in enumerate(keys)}
            member = np.array([index[k] for k in coarse], dtype=np.intp)
            member.flags.writeable = False
            self._memberships[attributes] = (tuple(keys), member)
        return self._memberships[attributes]

    def collapse(self, attributes: tuple[str, ...]) -> GroupStats:
        """Statistics of a subset of the attributes (``()`` gives one group: all rows), by summing."""
        keys, member = self.membership(tuple(attributes))

        def summed(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else sum_groups(a, member, len(keys), axis=0)

        sums = {name: summed(getattr(self, name)) for name in SUM_FIELDS}
        return replace(
            self, attributes=tuple(attributes), groups=keys, score_hist=summed(self.score_hist), **sums
        )


def compact(values: np.ndarray, space: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of non-negative integers and each value's position among them, without
    a sort when the values lie below ``space`` (default: their maximum + 1) and that is at most 2**22."""
    space = int(values.max()) + 1 if space is None and values.size else space or 0
    if space > 1 << 22:
        return np.unique(values, return_inverse=True)
    present = np.flatnonzero(np.bincount(values, minlength=space))
    if present.size == space:  # every value occurs: positions are the values
        return present, values
    remap = np.zeros(space, dtype=np.int64)
    remap[present] = np.arange(present.size)
    return present, remap[values]


def sum_groups(array: np.ndarray, member: np.ndarray, n_groups: int, axis: int,
               out: np.ndarray | None = None) -> np.ndarray:
    """Sum the entries of ``array`` along ``axis`` into ``n_groups`` groups (``member`` per entry); with
    ``axis=0``, into ``out`` (zeros) if given."""
    if axis == 0:  # whole contiguous slices: one addition per entry beats a strided reduction
        if out is None:
            out = np.zeros((n_groups,) + array.shape[1:], dtype=np.result_type(array.dtype, float))
        for entry, group in enumerate(member.tolist()):
            out[group] += array[entry]
        return out
    if np.all(member[1:] >= member[:-1]):  # already grouped: no reordering copy
        return np.add.reduceat(array, np.searchsorted(member, np.arange(n_groups)), axis=axis)
    order = np.argsort(member, kind="stable")
    starts = np.searchsorted(member[order], np.arange(n_groups))
    return np.add.reduceat(np.take(array, order, axis=axis), starts, axis=axis)


MISSING_GROUP = "(missing)"
JOIN = " & "
"""How the name of a crossing joins its attributes' (or groups') names."""


def natural_order(keys: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Group keys sorted naturally: numbers by value, then strings, the missing group last."""
    return sorted(keys, key=lambda k: [_group_sort_key(v) for v in k])


def _group_sort_key(value: str) -> tuple[int, float, str]:
    """Sort groups naturally: numbers by value, then strings, the missing group last."""
    if value == MISSING_GROUP:
        return (2, 0.0, value)
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


MAX_SCORE_BINS = 16384


def sample_and_distinct(scores: np.ndarray, max_bins: int,
                        sample_size: int = 200_000) -> tuple[np.ndarray, np.ndarray | None]:
    """A systematic sample of the scores, and their sorted distinct values when there are at most
    ``max_bins`` of them in the whole array (else None)."""
    sample = scores if scores.size <= sample_size else scores[:: scores.size // sample_size + 1]
    distinct = np.unique(sample)
    if distinct.size <= max_bins:
        found = distinct[np.minimum(np.searchsorted(distinct, scores), distinct.size - 1)]
        if np.array_equal(found, scores):
            return sample, distinct
    return sample, None


def default_score_edges(scores: np.ndarray, max_bins: int = MAX_SCORE_BINS,
                        cells: np.ndarray | None = None) -> np.ndarray:
    """Histogram edges for ROC AUC.

    When the scores take at most ``max_bins`` distinct values, every value gets its own bin and the
    AUC is exact. Otherwise the edges are quantiles of all the scores (numpy's "linear" method; each bin
    holds about ``1 / max_bins`` of the rows; probabilities' edges snapped down to a grid of
    ``1 / SCORE_GRID``), and the AUC counts pairs inside one bin as ties. Probabilities' edges come from
    their grid histogram (:func:`edges_from_grid`, exact, one pass; an engine computes the same), so
    they do not depend on the order of the rows. ``cells``: the scores' :func:`grid_cells`, if known.
    """
    scores = np.asarray(scores, dtype=float)
    cells = grid_cells(scores) if cells is None else cells
    if cells is not None:
        counts = np.bincount(cells, minlength=SCORE_GRID + 1)
        occupied = np.flatnonzero(counts)
        lows, highs = np.full(counts.size, np.inf), np.full(counts.size, -np.inf)
        np.minimum.at(lows, cells, scores)
        np.maximum.at(highs, cells, scores)
        counts, lows, highs = counts[occupied], lows[occupied], highs[occupied]
        spread = np.count_nonzero(lows < highs)
        if spread == 0 and occupied.size <= max_bins:  # one score per cell: the cells' scores are all of them
            return np.append(lows, np.inf)
        if occupied.size + spread > max_bins:  # more distinct scores than bins, for sure
            return edges_from_grid(occupied, counts, lows, highs, max_bins)
    values, counts = np.unique(scores, return_counts=True)
    return edges_from_distinct(values, counts, max_bins)


def numpy_linear_quantiles(sorted_values: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(rows, q)`` (method "linear") of rows given as sorted distinct values with counts,
    computed as numpy does, without expanding the rows."""
    n = int(counts.sum())
    virtual = (n - 1) * q
    previous = np.floor(virtual).astype(np.int64)
    nxt = np.minimum(previous + 1, n - 1)
    gamma = virtual - previous
    ends = np.cumsum(counts)
    a = sorted_values[np.searchsorted(ends, previous, side="right")]
    b = sorted_values[np.searchsorted(ends, nxt, side="right")]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def edges_from_distinct(values: np.ndarray, counts: np.ndarray, max_bins: int = MAX_SCORE_BINS) -> np.ndarray:
    """:func:`default_score_edges` of all rows, from their distinct scores and counts: one bin per value
    when there are at most ``max_bins``, else quantile edges (on the grid for probabilities)."""
    order = np.argsort(values)
    values, counts = values[order], counts[order]
    if values.size <= max_bins:
        return np.append(values, np.inf)
    quantiles = numpy_linear_quantiles(values, counts, np.linspace(0.0, 1.0, max_bins + 1)[1:-1])
    return _snapped(quantiles, values[0], values[-1])


def edges_from_grid(cells: np.ndarray, counts: np.ndarray, lows: np.ndarray, highs: np.ndarray,
                    max_bins: int = MAX_SCORE_BINS) -> np.ndarray:
    """:func:`default_score_edges` of all rows (quantile edges on the grid), from row counts per grid
    cell ``floor(score * SCORE_GRID)`` with each cell's smallest and largest score.

    A quantile interpolates two consecutive order statistics: in one cell, its snapped value is that
    cell; in two cells, they are the first cell's largest and the second's smallest score, so the
    interpolation is numpy's, exactly."""
    order = np.argsort(cells)
    cells, counts, lows, highs = cells[order], counts[order], lows[order], highs[order]
    n = int(counts.sum())
    q = np.linspace(0.0, 1.0, max_bins + 1)[1:-1]
    virtual = (n - 1) * q
    previous = np.floor(virtual).astype(np.int64)
    nxt = np.minimum(previous + 1, n - 1)
    ends = np.cumsum(counts)
    cell_a = np.searchsorted(ends, previous, side="right")
    cell_b = np.searchsorted(ends, nxt, side="right")
    a, b = highs[cell_a], lows[cell_b]
    gamma = virtual - previous
    diff = b - a
    value = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=value, where=gamma >= 0.5)
    value = np.where(cell_a == cell_b, cells[cell_a] / SCORE_GRID, value)
    return _snapped(value, lows[0], highs[-1])


def _snapped(quantiles: np.ndarray, low: float, high: float) -> np.ndarray:
    if low >= 0 and high <= 1:
        quantiles = np.floor(quantiles * SCORE_GRID) / SCORE_GRID
    return np.concatenate([[-np.inf], np.unique(quantiles), [np.inf]])
