"""Engines that compute an audit's group statistics where the data lives.

Every engine returns the same statistics as the in-memory path (:class:`~fairaudit.stats.GroupStats`,
and for ``task="score"`` / ``"segmentation"`` the score or segment statistics), so metrics, intervals,
findings and reports never know which engine ran:

* ``"pandas"``: a pandas DataFrame, in memory (numpy ``bincount``: the reference semantics);
* every other input through one narwhals implementation (:mod:`fairaudit.backends._narwhals`):
  ``"polars"`` (DataFrame or LazyFrame), ``"pyarrow"`` (Table), ``"duckdb"`` (relation), ``"ibis"``
  (table: DuckDB, Snowflake, BigQuery, Postgres ...), ``"spark"`` (DataFrame) and ``"files"`` (Parquet or
  CSV paths, globs allowed, read lazily by DuckDB).

Only small tables come back from an engine; the rows never leave it. Optional libraries are imported
only when such an input is passed: ``import fairaudit`` imports none of duckdb, polars, pyspark, ibis.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from fairaudit.backends._common import EngineStats, MissingExtraError, Task, make_request
from fairaudit.inputs import AuditInputError, AuditTypeError, check_decision_source

__all__ = ["ENGINES", "EngineStats", "MissingExtraError", "engine_of", "group_stats"]

ENGINES = ("pandas", "polars", "pyarrow", "duckdb", "ibis", "spark", "files")


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
    if root == "pyarrow" and type(data).__name__ == "Table":
        return "pyarrow"
    if root == "pyspark" and type(data).__name__ == "DataFrame":
        return "spark"
    if root == "ibis" and type(data).__name__ == "Table":
        return "ibis"
    raise AuditTypeError(
        f"The 'data' argument must be a pandas, polars or Spark DataFrame, a DuckDB relation, a pyarrow or "
        f"Ibis Table, or a path to Parquet/CSV files; got {type(data).__module__}.{type(data).__name__}."
    )


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
    task: str = "binary",
    top_k: float | int | None = None,
    favorable: Sequence[Any] | None = None,
    score_edges: np.ndarray | None = None,
    sensitive_proba: dict[str, Sequence[str]] | None = None,
    proba_prior: dict[str, dict[str, float]] | None = None,
) -> EngineStats:
    """The finest-group statistics of ``data``, computed by the engine that holds it.

    Arguments are those of :func:`fairaudit.audit` (``task`` already inferred). The validation is the
    in-memory path's (missing labels or scores, scores outside [0, 1], negative weights, more than 50
    groups in a sensitive column: the same errors), done on aggregates. AUC histogram edges are those of
    :func:`fairaudit.stats.default_score_edges`, computed by the engine, unless ``score_edges`` fixes them
    (e.g. to recount statistics on the bins of an earlier audit). ``sensitive_proba`` names each estimated
    attribute's probability columns: its groups are weighted by their shares, and ``estimates`` holds the
    sums its correction needs (see :mod:`fairaudit.backends._estimated`).

    Warnings are left to the caller (:meth:`EngineStats.warn`).
    """
    request = make_request(sensitive=sensitive, target=target, y_pred=y_pred, y_score=y_score,
                           sample_weight=sample_weight, pos_label=pos_label, threshold=threshold, model=model,
                           features=features, score_edges=score_edges, sensitive_proba=sensitive_proba,
                           proba_prior=proba_prior)
    check_decision_source(y_pred, top_k)
    engine = engine_of(data)
    if engine == "pandas" and request.estimated:
        raise AuditInputError("The 'sensitive_proba' argument of group_stats() applies to engine inputs; for a "
                              "pandas DataFrame use audit().")
    if engine == "pandas":
        from fairaudit.backends._pandas import compute
    else:
        from fairaudit.backends._native import compute
    return compute(data, request, engine, Task(task, top_k, None if favorable is None else tuple(
        [favorable] if isinstance(favorable, (str, int)) else favorable)))
