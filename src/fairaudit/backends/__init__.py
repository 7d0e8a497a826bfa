"""Engines that compute an audit's group statistics where the data lives.

Every engine returns the same :class:`~fairaudit.stats.GroupStats` as the in-memory path, so metrics,
intervals, findings and reports never know which engine ran:

* ``"pandas"``: a pandas DataFrame, in memory (the reference semantics);
* ``"files"``: a path to Parquet or CSV files (globs allowed), read by DuckDB out of core;
* ``"duckdb"``: a DuckDB relation (or a pyarrow Table), computed by DuckDB;
* ``"polars"``: a polars DataFrame, computed by DuckDB on its Arrow memory;
* ``"spark"``: a Spark DataFrame, computed by Spark (a model is applied with ``mapInPandas``).

Only small tables come back from an engine (one row per group x label x decision x calibration bin, and
the score histogram); the rows never leave it. Optional libraries are imported only when such an input
is passed: ``import fairaudit`` never imports duckdb or pyspark.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fairaudit.backends._common import MissingExtraError, make_request, warn_groups
from fairaudit.inputs import AuditTypeError
from fairaudit.stats import MISSING_GROUP, GroupStats

__all__ = ["ENGINES", "EngineStats", "MissingExtraError", "engine_of", "group_stats"]

ENGINES = ("pandas", "polars", "duckdb", "spark", "files")


def engine_of(data: Any) -> str:
    """The engine that audits ``data``, told from its type without importing any optional library.

    Raises :class:`~fairaudit.inputs.AuditTypeError` for an input no engine reads.
    """
    module = type(data).__module__ or ""
    root = module.split(".")[0]
    if isinstance(data, (str, os.PathLike)) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data)
    ):
        return "files"
    if root == "pandas" and type(data).__name__ == "DataFrame":
        return "pandas"
    if root == "polars" and type(data).__name__ in ("DataFrame", "LazyFrame"):
        return "polars"
    if root in ("duckdb", "_duckdb") and "Relation" in type(data).__name__:
        return "duckdb"
    if root == "pyarrow" and type(data).__name__ in ("Table", "RecordBatch"):
        return "duckdb"
    if root == "pyspark" and type(data).__name__ == "DataFrame":
        return "spark"
    raise AuditTypeError(
        f"The 'data' argument must be a pandas, polars or Spark DataFrame, a DuckDB relation, a pyarrow "
        f"Table, or a path to Parquet/CSV files; got {type(data).__module__}.{type(data).__name__}."
    )


@dataclass(frozen=True)
class EngineStats:
    """What an engine hands back: the statistics and what is known about the rows, never the rows.

    ``fingerprint`` is a SHA-256 of the statistics and audited column names (computed from aggregates,
    the same whichever engine ran); ``missing_sensitive`` counts rows with a missing value per sensitive
    attribute (they form the group ``"(missing)"``); ``columns`` lists every column of the input.
    """

    stats: GroupStats
    rows: int
    fingerprint: str
    missing_sensitive: dict[str, int] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    engine: str = "pandas"

    def warn(self, stacklevel: int = 2) -> None:
        """Emit the warnings the in-memory path emits: missing sensitive values (audited as
        ``"(missing)"``) and attributes with a single group."""
        names = {}
        for a, attribute in enumerate(self.stats.attributes):
            values = list(dict.fromkeys(g[a] for g in self.stats.groups))
            names[attribute] = sorted(values, key=lambda v: v == MISSING_GROUP)
        warn_groups(self.missing_sensitive, names, stacklevel=stacklevel + 1)


def group_stats(
    data: Any,
    *,
    sensitive: Sequence[str] | str,
    target: str | None = None,
    y_pred: str | None = None,
    y_score: str | None = None,
    sample_weight: str | None = None,
    pos_label: Any = 1,
    threshold: float = 0.5,
    model: Any = None,
    features: Sequence[str] | None = None,
    score_edges: np.ndarray | None = None,
) -> EngineStats:
    """The finest-group statistics of ``data``, computed by the engine that holds it.

    Arguments are the column names of :func:`fairaudit.audit`. The validation is the in-memory path's
    (missing labels or scores, scores outside [0, 1], negative weights, more than 50 groups in a
    sensitive column: errors naming the count), done on aggregates. ``score_edges`` fixes the score
    histogram's bins (e.g. to merge with other statistics); by default they are the distinct scores
    when there are at most 16,384, else quantiles on a 1/65536 grid, computed by the engine.

    Warnings are left to the caller (:meth:`EngineStats.warn`).
    """
    request = make_request(sensitive=sensitive, target=target, y_pred=y_pred, y_score=y_score,
                           sample_weight=sample_weight, pos_label=pos_label, threshold=threshold, model=model,
                           features=features, score_edges=score_edges)
    engine = engine_of(data)
    if engine == "pandas":
        from fairaudit.backends._pandas import compute
    elif engine == "spark":
        from fairaudit.backends.spark import compute
    elif engine == "polars":
        from fairaudit.backends.polars import compute
    else:
        from fairaudit.backends.duckdb import compute
    return compute(data, request, engine)
