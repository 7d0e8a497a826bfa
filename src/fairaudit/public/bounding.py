"""Bounding each person's contribution: at most ``k`` rows per value of a ``privacy_unit`` column, then the
statistics counted again, so that one person changes each released table by at most ``k``.

The rows kept are chosen at random within each person (a choice that depends on that person's rows only,
so the bounded data of two neighbouring data sets differ in one person's at most ``k`` rows). In memory
(pandas) the choice is seeded; in DuckDB (files, relations, polars) and Spark it is made by the engine and
the rows never leave it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.inputs import AuditInputError
from fairaudit.public.statistics import Statistics
from fairaudit.scores import ScoreStats
from fairaudit.segmentation import SegmentStats
from fairaudit.stats import SUM_FIELDS, GroupStats


def _missing_units(column: str, missing: int) -> AuditInputError:
    return AuditInputError(f"The 'privacy_unit' argument names column {column!r}, which has {missing} missing "
                           "value(s): every row must say whose it is. Fill or drop them before the audit.")


def _unknown(column: str, columns: list[str]) -> AuditInputError:
    return AuditInputError(f"The 'privacy_unit' argument names column {column!r}, which the audited data does not "
                           f"have; its columns are: {', '.join(map(str, columns))}.")


def kept_rows(units: pd.Series, k: int, seed: int) -> np.ndarray:
    """A mask keeping at most ``k`` rows of each unit, chosen at random."""
    codes, _ = pd.factorize(units, use_na_sentinel=True)
    order = np.random.default_rng(seed).permutation(len(codes))
    shuffled = codes[order]
    rank = pd.Series(shuffled).groupby(shuffled).cumcount().to_numpy()
    keep = np.zeros(len(codes), dtype=bool)
    keep[order] = rank < k
    return keep


def in_memory(stats: GroupStats, *, data: pd.DataFrame, codes: np.ndarray, y_true: np.ndarray | None,
              decisions: np.ndarray, y_score: np.ndarray | None, segments: SegmentStats | None = None,
              segment_codes: np.ndarray | None = None, favorable: tuple[bool, ...] | None = None,
              scores: np.ndarray | None = None) -> Statistics:
    """The statistics of an in-memory audit, able to recount them with each unit's rows bounded (and, for a
    score audit, ``scores``, to count them on the public bins)."""

    def counted(keep: np.ndarray) -> Callable[[np.ndarray], ScoreStats] | None:
        if scores is None:
            return None
        return lambda edges: ScoreStats.from_codes(stats.attributes, stats.groups, codes[keep], scores[keep], None,
                                                   None, edges=edges)

    def bounded(column: str, k: int, seed: int) -> Statistics:
        if column not in data.columns:
            raise _unknown(column, list(data.columns))
        units = data[column]
        if units.isna().any():
            raise _missing_units(column, int(units.isna().sum()))
        keep = kept_rows(units, k, seed)
        picked = None if y_score is None else y_score[keep]
        recounted = GroupStats.from_codes(stats.attributes, stats.groups, codes[keep],
                                          None if y_true is None else y_true[keep], decisions[keep], picked, None,
                                          score_edges=stats.score_edges)
        segmented = None if segments is None else SegmentStats.from_codes(
            segments.attributes, segments.groups, codes[keep], segments.segments, segment_codes[keep], None)
        return Statistics(recounted, segmented, favorable, score_counts=counted(keep))

    return Statistics(stats, segments, favorable, bounded, counted(np.ones(len(codes), dtype=bool)))


def in_engine(stats: GroupStats, data: Any, engine: str, recount: Callable[..., Any], *,
              scored: bool = False) -> Statistics:
    """The statistics of an engine audit; ``recount(data, score_edges=None)`` computes the statistics of a
    (bounded) input in the engine (same columns and options as the audit): ``.stats``, and for a score audit
    (``scored``) ``.score_stats`` on the given bin edges."""

    def scores_of(source: Callable[[Callable[[Any], Any]], Any]) -> Callable[[np.ndarray], ScoreStats] | None:
        if not scored:
            return None
        return lambda edges: _aligned_scores(stats, source(lambda rows: recount(rows, score_edges=edges).score_stats))

    def bounded(column: str, k: int, seed: int) -> Statistics:
        def source(consume: Callable[[Any], Any]) -> Any:
            return _on_bounded(data, engine, column, k, seed, consume)

        return Statistics(_aligned(stats, source(lambda rows: recount(rows).stats)), score_counts=scores_of(source))

    return Statistics(stats, bounded=bounded, score_counts=scores_of(lambda consume: consume(data)))


def _on_bounded(data: Any, engine: str, column: str, k: int, seed: int, consume: Callable[[Any], Any]) -> Any:
    """``consume`` applied to ``data`` with at most ``k`` random rows per value of ``column``, in the engine."""
    if engine == "spark":
        return consume(_spark_bounded(data, column, k, seed))
    from fairaudit.backends._native import duckdb_relation, quote

    source = duckdb_relation(data, engine)
    try:
        relation = source.relation
        if column not in relation.columns:
            raise _unknown(column, list(relation.columns))
        missing = relation.filter(f"{quote(column)} IS NULL").aggregate("count(*)").fetchall()[0][0]
        if missing:
            raise _missing_units(column, int(missing))
        kept = relation.query("audited", f"SELECT * EXCLUDE (__fairaudit_draw, __fairaudit_rank) FROM ("
                                         f"SELECT *, row_number() OVER (PARTITION BY {quote(column)} ORDER BY "
                                         "__fairaudit_draw) AS __fairaudit_rank FROM (SELECT *, random() AS "
                                         f"__fairaudit_draw FROM audited)) WHERE __fairaudit_rank <= {int(k)}")
        return consume(kept)
    finally:
        source.close()


def _spark_bounded(data: Any, column: str, k: int, seed: int) -> Any:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if column not in data.columns:
        raise _unknown(column, list(data.columns))
    missing = data.filter(F.col(column).isNull()).count()
    if missing:
        raise _missing_units(column, int(missing))
    rank = F.row_number().over(Window.partitionBy(F.col(column)).orderBy(F.rand(seed)))
    return data.withColumn("__fairaudit_rank", rank).filter(F.col("__fairaudit_rank") <= k).drop("__fairaudit_rank")


def _aligned_scores(stats: GroupStats, recounted: ScoreStats) -> ScoreStats:
    """``recounted`` on the audit's finest groups, in the audit's order (a group with no row left has zeros)."""
    empty = ScoreStats(stats.attributes, stats.groups, np.zeros((stats.n_groups, recounted.sums.shape[1])),
                       np.zeros((stats.n_groups, recounted.hist.shape[1])), recounted.edges, recounted.has_target)
    merged = empty + recounted
    return replace(merged, groups=stats.groups, sums=merged.sums[:stats.n_groups], hist=merged.hist[:stats.n_groups])


def _aligned(stats: GroupStats, recounted: GroupStats) -> GroupStats:
    """``recounted`` on the audit's groups, in the audit's order (a group the bounding emptied has zero rows)."""
    empty = replace(stats, **{name: np.zeros_like(getattr(stats, name)) for name in SUM_FIELDS},
                    score_hist=None if stats.score_hist is None else np.zeros_like(stats.score_hist))
    merged = empty + recounted
    return replace(merged, groups=stats.groups, **{name: getattr(merged, name)[:stats.n_groups]
                                                   for name in SUM_FIELDS},
                   score_hist=None if merged.score_hist is None else merged.score_hist[:stats.n_groups])
