"""The per-query computation of a ranking audit, written once with narwhals for every engine.

The rows of a ranking (one per customer x item shown) never leave the engine: it validates them with
aggregates, computes each query's values with windows over the query column, and hands back three small
tables: sums per finest sensitive group, favourable items per group and position, and sums per item.
pandas, polars, pyarrow, DuckDB, PySpark and Ibis tables run the same expressions.

Position weights. An item at rank ``r`` has the position weight (exposure) ``1 / log2(1 + r)``, cut to 0
beyond the list cutoff ``k`` for NDCG@k. With ``y_rank`` the ranks of a query must be exactly 1, 2, ..., n.
With ``y_score`` (higher is better) the items are ranked within each query, and items with tied scores
share their positions equally: each gets the mean weight (and the mean top-k membership) of the
positions the tie occupies, as scikit-learn's ``ndcg_score`` does with ``ignore_ties=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.inputs import MAX_GROUPS_PER_ATTRIBUTE, AuditInputError, group_name

MAX_POSITIONS = 20
"""Positions 1 to MAX_POSITIONS are kept in the table of favourable items by position."""

QUERY_SUMS = ("queries", "ndcg_lists", "ndcg", "ndcg_sq", "precision", "precision_sq", "hit",
              "favorable_exposure", "favorable_exposure_sq", "favorable_top", "rows")
ITEM_SUMS = ("shown", "exposure", "relevance", "relevant")


@dataclass(frozen=True)
class RankingSpec:
    """The column roles of a ranking audit (names in the data) and the list cutoff ``k``."""

    sensitive: tuple[str, ...]
    query: str
    item: str
    k: int
    y_rank: str | None = None
    y_score: str | None = None
    target: str | None = None
    favorable: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class EngineTables:
    """What the engine returns: per finest group ``sums`` (QUERY_SUMS), ``positions`` (favourable items
    per group and position) and per item ``items`` (ITEM_SUMS); group keys are raw values."""

    groups: pd.DataFrame
    positions: pd.DataFrame
    items: pd.DataFrame
    columns: list[str]


def _lazy(native: Any) -> Any:
    """A narwhals LazyFrame; a pyarrow table runs in DuckDB (narwhals' pyarrow backend has no ranked windows)."""
    import narwhals as nw

    if (type(native).__module__ or "").split(".")[0] == "pyarrow":
        import duckdb

        native = duckdb.from_arrow(native)
    frame = nw.from_native(native)
    return frame.lazy() if isinstance(frame, nw.DataFrame) else frame


def _collect(frame: Any) -> pd.DataFrame:
    return frame.collect().to_pandas()


def _check_columns(spec: RankingSpec, columns: Sequence[str]) -> None:
    roles = [("sensitive", s) for s in spec.sensitive] + [("query", spec.query), ("item", spec.item)]
    roles += [(arg, name) for arg, name in (("y_rank", spec.y_rank), ("y_score", spec.y_score),
                                            ("target", spec.target)) if name is not None]
    for argument, name in roles:
        if name not in columns:
            shown = ", ".join(map(repr, list(columns)[:20]))
            raise AuditInputError(f"The '{argument}' argument names column {name!r}, which is not in the data; "
                                  f"the columns are {shown}.")


def _text_keys(frame: Any, names: Sequence[str]) -> Any:
    """Categorical key columns as text, so that every engine orders and compares them alike."""
    import narwhals as nw

    schema = frame.collect_schema()
    cast = [nw.col(n).cast(nw.String) for n in dict.fromkeys(names) if schema[n] in (nw.Categorical, nw.Enum)]
    return frame.with_columns(*cast) if cast else frame


def _grouped(frame: Any, keys: Sequence[str], *aggs: Any) -> tuple[Any, dict[str, str]]:
    """``frame.group_by(*keys).agg(*aggs)`` over internal copies of the key columns, and the renaming back:
    narwhals hands DuckDB the key names as SQL text, which a name such as ``" sex"`` or ``"a;b"`` breaks."""
    import narwhals as nw

    safe = {f"__key_{i}": key for i, key in enumerate(keys)}
    return frame.with_columns(**{s: nw.col(k) for s, k in safe.items()}).group_by(*safe).agg(*aggs), safe


def engine_tables(native: Any, spec: RankingSpec) -> EngineTables:
    """Validate the rows of ``native`` and compute the ranking audit's sums in its engine."""
    import narwhals as nw

    frame = _lazy(native)
    columns = list(frame.collect_schema().names())
    _check_columns(spec, columns)
    frame = _text_keys(frame, [*spec.sensitive, spec.query, spec.item])
    position = spec.y_rank or spec.y_score
    _check_rows(frame, spec, position)
    favorable_values = _favorable_values(frame, spec)
    col = nw.col
    rel = col(spec.target).cast(nw.Float64) if spec.target else nw.lit(0.0)
    fav = col(spec.item).is_in(favorable_values).cast(nw.Float64) if favorable_values else nw.lit(0.0)
    if spec.y_rank is not None:
        rank = col(spec.y_rank).cast(nw.Float64)
        position_key = rank
    else:
        rank = col(spec.y_score).rank(method="ordinal", descending=True).over(spec.query).cast(nw.Float64)
        position_key = col(spec.y_score).rank(method="min", descending=True).over(spec.query).cast(nw.Float64)
    k = float(spec.k)
    rows = frame.with_columns(
        __r=rank, __p=position_key, __rel=rel, __fav=fav,
        __ir=rel.rank(method="ordinal", descending=True).over(spec.query).cast(nw.Float64) if spec.target
        else nw.lit(1.0),
    ).with_columns(
        __w=1.0 / (col("__r") + 1.0).log(2),
        __wk=nw.when(col("__r") <= k).then(1.0 / (col("__r") + 1.0).log(2)).otherwise(0.0),
        __t=nw.when(col("__r") <= k).then(1.0).otherwise(0.0),
        __iw=nw.when(col("__ir") <= k).then(1.0 / (col("__ir") + 1.0).log(2)).otherwise(0.0),
        __relb=(col("__rel") > 0).cast(nw.Float64),
        **{f"__null_{i}": col(a).is_null().cast(nw.Int64) for i, a in enumerate(spec.sensitive)},
    )
    if spec.y_score is not None:  # tied scores share the positions they occupy
        rows = rows.with_columns(**{c: col(c).mean().over(spec.query, spec.y_score) for c in ("__w", "__wk", "__t")})
    rows = rows.with_columns(
        __gain=col("__rel") * col("__wk"), __ideal=col("__rel") * col("__iw"), __hits=col("__relb") * col("__t"),
        __fexp=col("__fav") * col("__w"), __ftop=col("__fav") * col("__t"),
    )
    keys = list(spec.sensitive)
    per_query, _ = _grouped(
        rows, [spec.query], col("__gain").sum().alias("dcg"), col("__ideal").sum().alias("idcg"),
        col("__hits").sum().alias("hits"),
        col("__fexp").sum().alias("fexp"), col("__ftop").sum().alias("ftop"), nw.len().alias("n"),
        col("__r").min().alias("rank_min"), col("__r").max().alias("rank_max"),
        col("__r").n_unique().alias("rank_distinct"), col(spec.item).n_unique().alias("items"),
        *[col(a).min().alias(f"__min_{i}") for i, a in enumerate(keys)],
        *[col(a).max().alias(f"__max_{i}") for i, a in enumerate(keys)],
        *[col(f"__null_{i}").sum() for i in range(len(keys))],
    )
    _check_queries(per_query, spec)
    has_rel = (col("idcg") > 0).cast(nw.Float64)
    ndcg = has_rel * col("dcg") / nw.when(col("idcg") > 0).then(col("idcg")).otherwise(1.0)
    precision = col("hits") / nw.when(col("n") < k).then(col("n").cast(nw.Float64)).otherwise(k)
    per_query = per_query.with_columns(
        __has=has_rel, __ndcg=ndcg, __prec=precision, __hit=(col("hits") > 0).cast(nw.Float64),
        __ftop1=(col("ftop") > 0).cast(nw.Float64),
    ).with_columns(__ndcg_sq=col("__ndcg") ** 2, __prec_sq=col("__prec") ** 2, __fexp_sq=col("fexp") ** 2)
    group_keys = [f"__min_{i}" for i in range(len(keys))]
    groups = _collect(per_query.group_by(*group_keys).agg(
        nw.len().alias("queries"), col("__has").sum().alias("ndcg_lists"), col("__ndcg").sum().alias("ndcg"),
        col("__ndcg_sq").sum().alias("ndcg_sq"), col("__prec").sum().alias("precision"),
        col("__prec_sq").sum().alias("precision_sq"), col("__hit").sum().alias("hit"),
        col("fexp").sum().alias("favorable_exposure"), col("__fexp_sq").sum().alias("favorable_exposure_sq"),
        col("__ftop1").sum().alias("favorable_top"), col("n").sum().alias("rows"),
    )).rename(columns=dict(zip(group_keys, keys, strict=True)))
    positions, names = _grouped(rows.filter(col("__p") <= MAX_POSITIONS), [*keys, "__p"],
                                col("__fav").sum().alias("favorable"), nw.len().alias("shown"))
    positions = _collect(positions).rename(columns={**names, f"__key_{len(keys)}": "position"})
    items, names = _grouped(rows, [spec.item], nw.len().alias("shown"), col("__w").sum().alias("exposure"),
                            col("__rel").sum().alias("relevance"), col("__relb").sum().alias("relevant"))
    return EngineTables(groups, positions, _collect(items).rename(columns={"__key_0": "item"}), columns)


def _check_rows(frame: Any, spec: RankingSpec, position: str) -> None:
    """Row-level checks, each an aggregate: missing values, non-integer ranks, negative relevance."""
    import narwhals as nw

    col = nw.col
    checks = {f"null:{a}:{n}": col(n).is_null().cast(nw.Int64).sum() for a, n in
              (("query", spec.query), ("item", spec.item), ("y_rank" if spec.y_rank else "y_score", position))}
    numeric = col(position).cast(nw.Float64)
    checks["nonfinite"] = (~numeric.is_finite()).cast(nw.Int64).sum()
    if spec.y_rank is not None:
        checks["fraction"] = (numeric != numeric.floor()).cast(nw.Int64).sum()
    if spec.target is not None:
        target = col(spec.target).cast(nw.Float64)
        checks[f"null:target:{spec.target}"] = target.is_null().cast(nw.Int64).sum()
        checks["negative"] = (target < 0).cast(nw.Int64).sum()
        checks["target_nonfinite"] = (~target.is_finite()).cast(nw.Int64).sum()
    checks["rows"] = nw.len()
    found = _collect(frame.select(**{k.replace(":", "__"): v for k, v in checks.items()})).iloc[0]
    if int(found["rows"]) == 0:
        raise AuditInputError("The 'data' argument has no rows: a ranking audit needs one row per customer x item.")
    for key in checks:
        n = int(found[key.replace(":", "__")] or 0)
        if key.startswith("null:") and n:
            _, argument, name = key.split(":", 2)
            raise AuditInputError(f"The '{argument}' column {name!r} has {n} missing value(s); every row of a "
                                  "ranking needs one: drop or fill them before the audit.")
    argument = "y_rank" if spec.y_rank else "y_score"
    if int(found["nonfinite"] or 0):
        raise AuditInputError(f"The '{argument}' column {position!r} has {int(found['nonfinite'])} value(s) that "
                              "are not finite numbers.")
    if int(found.get("fraction", 0) or 0):
        raise AuditInputError(f"The 'y_rank' column {position!r} has {int(found['fraction'])} rank(s) that are not "
                              "whole numbers; ranks are positions 1, 2, ... (pass scores as y_score= instead).")
    if spec.target is not None and int(found["negative"] or 0) + int(found["target_nonfinite"] or 0):
        raise AuditInputError(f"The 'target' column {spec.target!r} has negative or non-finite relevance values; "
                              "relevance must be a number >= 0 (1/0 for clicked or not, or graded).")


def _favorable_values(frame: Any, spec: RankingSpec) -> list[Any]:
    """The item values named by ``favorable`` (compared by their text), refusing names that never occur."""
    import narwhals as nw

    items = _collect(frame.select(nw.col(spec.item)).unique())[spec.item].tolist()
    if len(items) > MAX_GROUPS_PER_ATTRIBUTE:
        raise AuditInputError(
            f"The 'item' column {spec.item!r} has {len(items)} distinct values, more than "
            f"{MAX_GROUPS_PER_ATTRIBUTE}: name a column of item groups (offer type, category) as item=.")
    if spec.favorable is None:
        return []
    by_name = {group_name(v): v for v in items}
    unknown = [f for f in spec.favorable if group_name(f) not in by_name]
    if unknown:
        raise AuditInputError(
            f"The 'favorable' argument names item {unknown[0]!r}, which never occurs in the 'item' column "
            f"{spec.item!r}; its values are {', '.join(sorted(map(repr, by_name)))}.")
    return [by_name[group_name(f)] for f in spec.favorable]


def _check_queries(per_query: Any, spec: RankingSpec) -> None:
    """List-level checks on the per-query table, as counts of offending queries."""
    import narwhals as nw

    col = nw.col
    checks = {"items": (col("items") < col("n")).cast(nw.Int64).sum()}
    for i, _ in enumerate(spec.sensitive):
        split = (col(f"__min_{i}") != col(f"__max_{i}")) | ((col(f"__null_{i}") > 0) & (col(f"__null_{i}") < col("n")))
        checks[f"split_{i}"] = split.fill_null(False).cast(nw.Int64).sum()
    if spec.y_rank is not None:
        checks["duplicate"] = (col("rank_distinct") < col("n")).cast(nw.Int64).sum()
        checks["start"] = (col("rank_min") != 1).cast(nw.Int64).sum()
        checks["gap"] = ((col("rank_distinct") == col("n")) & (col("rank_min") == 1)
                         & (col("rank_max") != col("n"))).cast(nw.Int64).sum()
    found = {k: int(v or 0) for k, v in _collect(per_query.select(**checks)).iloc[0].items()}
    for i, name in enumerate(spec.sensitive):
        if found[f"split_{i}"]:
            raise AuditInputError(
                f"The 'sensitive' column {name!r} is not constant within {found[f'split_{i}']} quer(ies) of the "
                f"'query' column {spec.query!r}: each customer (list) must belong to one group. Fix the data or "
                "check that query= names the customer id.")
    if found["items"]:
        raise AuditInputError(f"The 'item' column {spec.item!r} repeats an item within {found['items']} list(s) of "
                              f"the 'query' column {spec.query!r}: each item is shown at most once per list.")
    messages = {
        "duplicate": "has duplicate ranks within {n} list(s)",
        "start": "has {n} list(s) whose ranks do not start at 1",
        "gap": "has {n} list(s) with a gap in their ranks",
    }
    for key, text in messages.items():
        if found.get(key):
            raise AuditInputError(
                f"The 'y_rank' column {spec.y_rank!r} {text.format(n=found[key])} of the 'query' column "
                f"{spec.query!r}; the ranks of a list must be exactly 1, 2, ..., n (rank 1 = top). Re-rank each "
                "list, or pass the model's scores as y_score= to rank them within each query.")


def group_labels(table: pd.DataFrame, keys: Sequence[str]) -> list[tuple[str, ...]]:
    """Each row's group as text, a missing value as ``"(missing)"`` (fairaudit's group name)."""
    from fairaudit.stats import MISSING_GROUP

    return [tuple(MISSING_GROUP if _missing(v) else group_name(v) for v in row)
            for row in table[list(keys)].itertuples(index=False, name=None)]


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def as_float(table: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    return table[list(names)].to_numpy(dtype=float)
