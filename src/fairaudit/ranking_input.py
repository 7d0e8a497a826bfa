"""The arguments of a ranking audit, checked at the door, and what the audit records about its input."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from fairaudit.inputs import AuditInputError, AuditTypeError
from fairaudit.ranking import RankingStats


def check_ranking_arguments(*, model: Any, sensitive: Any, target: Any, query: Any, y_rank: Any, y_score: Any,
                            item: Any, favorable: Any, top_k: Any, sample_weight: Any, explain: bool,
                            mitigate: bool, y_pred: Any, features: Any = None, threshold: float = 0.5,
                            pos_label: Any = None) -> tuple[list[str], int, tuple[Any, ...] | None]:
    """The sensitive column names, the cutoff k and the favourable items; errors name the argument."""
    if model is not None:
        raise AuditInputError("A ranking audit reads ranks or scores from columns: pass model=None with y_rank= "
                              "(1 = top) or y_score= (ranked within each query), computed by your model.")
    unused = (("sample_weight", sample_weight, None), ("y_pred", y_pred, None), ("features", features, None),
              ("threshold", threshold, 0.5), ("pos_label", pos_label, None))
    for argument, value, default in unused:
        if (value is not None) if default is None else (value != default):
            raise AuditInputError(f"The '{argument}' argument does not apply to task='ranking' (each customer counts "
                                  "once, positions come from y_rank= or y_score=, relevance from target=); leave it "
                                  "out.")
    if explain or mitigate:
        raise AuditInputError("The 'explain' and 'mitigate' arguments need a model and do not apply to "
                              "task='ranking'; leave them out.")
    if (y_rank is None) == (y_score is None):
        raise AuditInputError("task='ranking' needs exactly one of y_rank= (the column of ranks, 1 = top) and "
                              "y_score= (the column of scores, ranked within each query, highest first).")
    if item is None:
        raise AuditInputError("task='ranking' needs item= naming the column of items (offers) shown.")
    names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for argument, value in [("sensitive", n) for n in names] + [("query", query), ("item", item),
                                                                ("y_rank", y_rank), ("y_score", y_score),
                                                                ("target", target)]:
        if value is not None and not isinstance(value, str):
            raise AuditTypeError(f"The '{argument}' argument of a ranking audit must be a column name; got "
                                 f"{type(value).__name__}. Add the values as a column of data.")
    roles = {"query": query, "item": item, "y_rank": y_rank, "y_score": y_score, "target": target}
    for argument, value in roles.items():
        if value is not None and value in names:
            raise AuditInputError(f"The '{argument}' argument names column {value!r}, which is also sensitive.")
    if not names:
        raise AuditInputError("The 'sensitive' argument names no column.")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise AuditInputError(f"task='ranking' needs top_k= as the list cutoff, a whole number >= 1 (e.g. top_k=3: "
                              f"the offers a customer sees first); got {top_k!r}.")
    if favorable is not None:
        favorable = (favorable,) if isinstance(favorable, (str, int)) else tuple(favorable)
    if target is None and favorable is None:
        raise AuditInputError("A ranking audit needs target= (relevance: clicked, bought) for NDCG, precision and "
                              "hit rate, or favorable= (the favourable items) for exposure, or both.")
    return names, int(top_k), favorable


def ranking_engine(data: Any) -> str:
    """The engine of a ranking's data: :func:`fairaudit.backends.engine_of`'s name, or ``"ibis"`` for an Ibis
    table (which narwhals runs on the table's own backend)."""
    from fairaudit.backends import engine_of

    engine = engine_of(data)
    return "duckdb" if engine == "pyarrow" else engine  # narwhals' pyarrow backend has no ranked windows


def ranking_fingerprint(stats: RankingStats, rows: int, columns: Sequence[str]) -> str:
    """SHA-256 of the column names, row count, groups and exact integer counts (customers, lists with a
    relevant item, items shown per position): the same whichever engine computed them."""
    digest = hashlib.sha256()
    digest.update(repr((list(columns), rows, stats.attributes, stats.k, stats.groups)).encode())
    counts = np.column_stack([stats.column("queries"), stats.column("ndcg_lists"), stats.column("rows"), stats.shown])
    digest.update(np.ascontiguousarray(np.rint(counts).astype(np.int64)).tobytes())
    return digest.hexdigest()
