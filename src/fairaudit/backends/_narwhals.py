"""The one engine: an audit's group statistics computed over narwhals' lazy API, wherever the rows live.

The same expressions run on polars (eager and lazy), pyarrow, DuckDB relations, Ibis tables and PySpark
DataFrames; the backend quotes every identifier itself, and the rows are first renamed to internal
aliases that no column of the input can equal, so that any column name works. The passes over the rows:

1. the *profile*: one ``group_by`` over the sensitive columns (and the label or segment columns), with
   the counts the in-memory path's checks need (missing, infinite and out-of-range scores, weights);
   unless a top-k cut-off or estimated attributes' shares must be known first, the same ``group_by`` also
   splits by the decision taken from the scores and the calibration bin and carries the weighted sums of
   :class:`~fairaudit.stats.GroupStats` (and of ``ScoreStats``): the *cells*, coded on the few result rows
   (:meth:`Rows.cells_of`). Otherwise the cells are a second such pass;
2. with scores to histogram (binary with a target: AUC; ``task="score"``), the *histogram*: a count (and a
   weight) per group x label x cell of a grid of ``1 / SCORE_GRID`` of the scores' range (probabilities: of
   [0, 1]), with the cell's smallest and largest score. Summed over groups and labels, that is the *pooled
   grid* from which :func:`fairaudit.stats.edges_from_grid` computes the AUC edges exactly. When there are
   few distinct scores but more than one in some grid cell, the histogram is taken once more by exact score.
   Its group and label are packed in one integer in the engine (:meth:`Rows.group_key`): its hash table is
   the largest, and one integer key keeps it lean.

``top_k`` finds its cut-off with one more pass over the grid and a sort of the rows of one grid cell. Only
these small tables leave the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import narwhals as nw
import numpy as np

from fairaudit.backends._common import (
    BOOLEAN,
    CALIBRATION_INTERIOR,
    DECIMAL,
    ENUM,
    FLOAT,
    INTEGER,
    MAX_LABEL_VALUES,
    STRING,
    TEMPORAL,
    UNSUPPORTED,
    GroupCoder,
    Request,
    Task,
    bins_of_scores,
    check_columns,
    check_group_count,
    check_kinds,
    check_label_count,
    check_no_missing,
    check_rows,
    check_scores,
    check_weights,
    finest_of_mixed,
    fingerprint,
    grid_table,
    group_coder,
    hashable_key,
)
from fairaudit.inputs import AuditInputError, check_top_k, group_name, positive_labels
from fairaudit.segmentation import SegmentStats, favorable_codes
from fairaudit.stats import (
    MAX_SCORE_BINS,
    MISSING_GROUP,
    N_CALIBRATION_BINS,
    SCORE_GRID,
    GroupStats,
    compact,
    edges_from_distinct,
    edges_from_grid,
    numpy_linear_quantiles,
)

PROFILE_CAP = 100_000
"""At most this many rows of the profile come back; more means a column with too many values, whose
distinct values are then counted on their own to raise the in-memory path's error."""


def kind_of(dtype: Any) -> str:
    """What a narwhals dtype means to an audit (structs, lists, binary ...: unsupported)."""
    if dtype == nw.String:
        return STRING
    if dtype == nw.Enum or dtype == nw.Categorical:
        return ENUM
    if dtype == nw.Boolean:
        return BOOLEAN
    if dtype == nw.Decimal:
        return DECIMAL
    if dtype.is_integer():
        return INTEGER
    if dtype.is_float():
        return FLOAT
    if dtype.is_temporal():
        return TEMPORAL
    return UNSUPPORTED


def alias_prefix(columns: list[str]) -> str:
    """A prefix of internal column names that starts no column of the input."""
    prefix = "fa_"
    while any(c.startswith(prefix) for c in columns):
        prefix = "_" + prefix
    return prefix


@dataclass(frozen=True)
class Computed:
    """What :func:`compute` hands back: aggregates only."""

    stats: GroupStats
    score_stats: Any
    segment_stats: Any
    segments: tuple[str, ...]
    targeted: int | None
    above_median: tuple[np.ndarray, float] | None
    rows: int
    missing: dict[str, int]
    fingerprint: str
    estimates: Any = None


class Rows:
    """The audited rows as a narwhals LazyFrame of internal aliases: ``k0..`` sensitive, ``y`` target,
    ``p`` decision labels or segments, ``s`` score, ``w`` weight."""

    def __init__(self, frame: Any, request: Request, kinds: dict[str, str], task: Task):
        self.nw, self.request, self.task = nw, request, task
        columns = list(frame.collect_schema().names())
        self.prefix = alias_prefix(columns)
        self.keys = [self.name(f"k{i}") for i in range(len(request.sensitive))]
        self.kinds = kinds
        selected = [self.clean(nw.col(c), kinds[c]).alias(k) for c, k in zip(request.sensitive, self.keys, strict=True)]
        for role, argument in (("y", "target"), ("p", "y_pred"), ("s", "y_score"), ("w", "sample_weight")):
            name = getattr(request, argument)
            if name is None:
                continue
            column = nw.col(name)
            if role in ("s", "w") or (role == "y" and task.name == "score"):
                column = column.cast(nw.Float64)
            else:
                column = self.clean(column, kinds[name])
            selected.append(column.alias(self.name(role)))
        for a, (_, names) in enumerate(request.estimated):  # probabilities: NaN is missing, as in pandas
            selected += [nw.col(c).cast(nw.Float64).fill_nan(None).alias(self.name(f"e{a}_{j}"))
                         for j, c in enumerate(names)]
        self.frame = frame.select(*selected)

    def name(self, role: str) -> str:
        return self.prefix + role

    def col(self, role: str) -> Any:
        return self.nw.col(self.name(role))

    def clean(self, column: Any, kind: str) -> Any:
        """NaN is a missing value in a float key column (pandas' view)."""
        return column.fill_nan(None) if kind == FLOAT else column

    def has(self, argument: str) -> bool:
        return getattr(self.request, argument) is not None

    def label_keys(self) -> list[str]:
        """Columns grouped by in the profile besides the sensitive ones: labels and segments."""
        out = []
        if self.has("target") and self.task.name != "score":
            out.append(self.name("y"))
        if self.has("y_pred"):
            out.append(self.name("p"))
        return out

    # ------------------------------------------------------------------ pass 1: the profile
    def profile(self, keys: list[str], cap: int | None = PROFILE_CAP,
                cells: CellPass | None = None) -> dict[str, list[Any]]:
        """One row per observed value of ``keys`` (at most ``cap + 1`` rows): row count and the counts of
        the checks; with no keys, one row of totals. With ``cells``, the rows are also split by the decision
        taken from the scores and the calibration bin, and carry the cells' weighted sums: the profile is
        then the cells too (:meth:`cells_of`), and the rows are read once for both."""
        nw = self.nw
        extra, sums, mins, maxs = {}, [], [], []

        def numeric_checks(role: str) -> None:
            v = self.col(role)
            extra[self.name(role + "_na")] = (v.is_null() | v.is_nan()).cast(nw.Int64)
            extra[self.name(role + "_inf")] = (v.abs() == float("inf")).cast(nw.Int64)
            extra[self.name(role + "_f")] = nw.when(v.is_finite()).then(v)
            if role == "w":  # weights: negative ones and the total; scores and targets: outside [0, 1]
                extra[self.name(role + "_neg")] = (v < 0).cast(nw.Int64)
                sums.extend(self.name(role + s) for s in ("_na", "_inf", "_neg", "_f"))
            else:
                extra[self.name(role + "_out")] = ((v < 0) | (v > 1)).cast(nw.Int64)
                sums.extend(self.name(role + s) for s in ("_na", "_inf", "_out"))
            mins.append(self.name(role + "_f"))
            maxs.append(self.name(role + "_f"))

        for role, argument in (("s", "y_score"), ("w", "sample_weight")):
            if self.has(argument):
                numeric_checks(role)
        if self.has("target") and self.task.name == "score":
            numeric_checks("y")
        keys = list(keys)
        cell_sums = []
        if cells is not None:
            for role, expression in self.cell_keys(cells).items():
                extra[self.name(role)] = expression
                keys.append(self.name(role))
            for role, expression in {**self.cell_sums(), **(cells.extra or {})}.items():
                extra[self.name("sum_" + role)] = expression
                cell_sums.append(self.name("sum_" + role))
        frame = self.frame.with_columns(**extra) if extra else self.frame
        aggs = [nw.len().alias(self.name("n"))]
        aggs += [nw.col(c).sum().alias(c + "_sum") for c in sums]
        aggs += [nw.col(c).min().alias(c + "_min") for c in mins]
        aggs += [nw.col(c).max().alias(c + "_max") for c in maxs]
        aggs += [nw.col(c).sum() for c in cell_sums]
        if not keys:
            return collect(frame.select(*aggs))
        grouped = frame.group_by(*keys, drop_null_keys=False).agg(*aggs)
        return collect(grouped if cap is None else grouped.head(cap + 1))

    def distinct(self, alias: str) -> int:
        """Distinct non-missing values of one column (when the profile overflowed; of the scores, when their
        grid cells leave open whether there are more than MAX_SCORE_BINS)."""
        frame = self.frame.select(self.nw.col(alias)).drop_nulls().unique().select(self.nw.len().alias("n"))
        return int(collect(frame)["n"][0])

    def missing(self, alias: str) -> int:
        """Missing values of one column (when the profile overflowed)."""
        frame = self.frame.select(self.nw.col(alias).is_null().cast(self.nw.Int64).sum().alias("n"))
        return int(collect(frame)["n"][0])

    def values(self, alias: str) -> list[Any]:
        """The distinct values of one column, missing included (when the profile overflowed)."""
        return collect(self.frame.select(self.nw.col(alias)).unique().head(MAX_LABEL_VALUES + 1))[alias]

    # ------------------------------------------------------------------ top_k: the cut-off
    def kth_largest(self, k: int, low: float, high: float) -> float:
        """The k-th largest score: the grid cell that holds it, then a sort of that cell's rows."""
        nw = self.nw
        cell = self.name("cell")
        frame = self.frame.with_columns(**{cell: self.grid(low, high)})
        counts = collect(frame.group_by(cell).agg(nw.len().alias("n")))
        cells = np.asarray(counts[cell], dtype=np.int64)
        n = np.asarray(counts["n"], dtype=np.int64)
        order = np.argsort(-cells)
        above = np.cumsum(n[order])
        position = int(np.searchsorted(above, k))
        chosen = int(cells[order][position])
        rank = k - (int(above[position - 1]) if position else 0)
        inside = frame.filter(nw.col(cell) == chosen).select(self.col("s")).sort(self.name("s"), descending=True)
        return float(collect(inside.head(rank))[self.name("s")][-1])

    def grid(self, low: float, high: float) -> Any:
        """Grid cell of each score: ``floor((s - low) * SCORE_GRID / (high - low))``."""
        scale = SCORE_GRID / (high - low) if high > low else 0.0
        s = self.col("s")
        return ((s - low) * scale).floor().cast(self.nw.Int64)

    # ------------------------------------------------------------------ pass 2: the cells
    def code(self, column: Any, coder: GroupCoder, attribute: int) -> Any:
        """A key column's code in ``coder`` (its values in order, missing last), computed in the engine as
        one CASE expression (-1 for a value the profile did not see)."""
        nw = self.nw
        values = coder.values[attribute]
        chain = nw.when(column.is_null()).then(nw.lit(len(values) - 1 if None in values else -1, nw.Int64))
        for code, value in enumerate(values):
            if value is not None:
                chain = chain.when(column == value).then(nw.lit(code, nw.Int64))
        return chain.otherwise(nw.lit(-1, nw.Int64))

    def matches(self, column: Any, values: list[Any]) -> Any:
        """1 where the column equals one of ``values`` (at most two: label values), else 0."""
        nw = self.nw
        if not values:
            return nw.lit(0, nw.Int64)
        found = column == values[0]
        for value in values[1:]:
            found = found | (column == value)
        return nw.when(found).then(nw.lit(1, nw.Int64)).otherwise(nw.lit(0, nw.Int64))

    def group_key(self, coder: GroupCoder, positives: dict[str, list[Any]]) -> Any:
        """The finest group's code and, for a binary task with a target, the label: one integer (mixed
        radix, first attribute most significant, label last), read back by :func:`assemble`."""
        nw = self.nw
        key = nw.lit(0, nw.Int64)
        for i, values in enumerate(coder.values):
            key = key * len(values) + self.code(self.col(f"k{i}"), coder, i)
        if self.has("target") and self.task.name != "score":
            key = key * 2 + self.matches(self.col("y"), positives["target"])
        return key

    def cell_keys(self, cells: CellPass) -> dict[str, Any]:
        """What splits a profile row into cells besides the key and label columns: the decision taken from the
        scores (``d``: at the threshold or the top-k cut) and the calibration bin (``c``: the first interior
        edge at or above the score)."""
        nw = self.nw
        out = {}
        if self.task.name == "binary" and not self.has("y_pred"):
            out["d"] = (self.col("s") >= (self.request.threshold if cells.cut is None else cells.cut)).cast(nw.Int64)
        if cells.calibrated:
            s = self.col("s")
            chain = nw.when(s <= CALIBRATION_INTERIOR[0]).then(nw.lit(0, nw.Int64))
            for c, edge in enumerate(CALIBRATION_INTERIOR[1:], start=1):
                chain = chain.when(s <= edge).then(nw.lit(c, nw.Int64))
            out["c"] = chain.otherwise(nw.lit(N_CALIBRATION_BINS - 1, nw.Int64))
        return out

    def cell_sums(self) -> dict[str, Any]:
        """The weighted sums of :class:`~fairaudit.stats.GroupStats` (and of ``ScoreStats``) per row."""
        task = self.task.name
        weighted = self.has("sample_weight")
        w = self.col("w")
        sums = {"weight": w, "weight_sq": w * w} if weighted else {}
        if self.has("y_score") and task != "segmentation":
            s = self.col("s")
            sums.update(score_sum=w * s if weighted else s, score_sq_sum=(w * s if weighted else s) * s)
            if task == "score" and self.has("target"):
                error = s - self.col("y")
                weighted_error = w * error if weighted else error
                sums.update(error=weighted_error, abs_error=weighted_error.abs(), error_sq=weighted_error * error,
                            error_4=weighted_error * error * error * error)
        return sums

    def cells_of(self, profile: dict[str, list[Any]], *, coder: GroupCoder, segments: GroupCoder | None,
                 positives: dict[str, list[Any]]) -> dict[str, np.ndarray]:
        """The cells of a profile taken with :class:`CellPass`: each row's key columns coded and packed in one
        integer ``key`` (group as :meth:`group_key` packs it in the engine, label, decision or segment,
        calibration bin), with the row count (``sum_count``) and the weighted sums."""
        n = self.name
        key = np.zeros(len(profile[n("n")]), dtype=np.int64)
        for i, values in enumerate(coder.values):
            key = key * len(values) + _codes(profile[n(f"k{i}")], values)
        if self.has("target") and self.task.name != "score":
            key = key * 2 + _codes(profile[n("y")], positives["target"], match=True)
        if self.task.name == "segmentation":
            key = key * len(segments.values[0]) + _codes(profile[n("p")], segments.values[0])
        elif self.has("y_pred"):
            key = key * 2 + _codes(profile[n("p")], positives["y_pred"], match=True)
        elif self.task.name == "binary":
            key = key * 2 + np.asarray(profile[n("d")], dtype=np.int64)
        if n("c") in profile:
            key = key * N_CALIBRATION_BINS + np.asarray(profile[n("c")], dtype=np.int64)
        if np.any(key < 0):
            raise RuntimeError("The engine returned a value its first pass did not see.")
        out = {"key": key, "sum_count": np.asarray(profile[n("n")], dtype=float)}
        out.update({name[len(self.prefix):]: np.asarray(values, dtype=float) for name, values in profile.items()
                    if name.startswith(n("sum_"))})
        if not self.has("sample_weight"):
            out["sum_weight"] = out["sum_weight_sq"] = out["sum_count"]
        return out

    def histogram(self, *, coder: GroupCoder, positives: dict[str, list[Any]], exact: bool,
                  span: tuple[float, float], extra: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Rows (and weights) per group (x label) x score bucket ``b``: the exact score, or its grid cell on
        ``span`` with the cell's smallest and largest score there (``lo``, ``hi``: the pooled grid,
        :func:`pooled_grid`), and the sums of the ``extra`` expressions. Only a count, a weight and the two
        bounds per row: the engine's largest hash table stays lean."""
        weighted = self.has("sample_weight")
        s = self.col("s")
        bucket, bounds = (s, {}) if exact else (self.grid(*span), {"lo": s.min(), "hi": s.max()})
        out = self.aggregate({"key": self.group_key(coder, positives), "b": bucket},
                             {**({"weight": self.col("w")} if weighted else {}), **(extra or {})}, **bounds)
        if not weighted:
            out["sum_weight"] = out["sum_count"]
        return out

    def aggregate(self, keys: dict[str, Any], sums: dict[str, Any], **extra: Any) -> dict[str, np.ndarray]:
        """``group_by(keys)`` with the row count, the sums and ``extra`` aggregations, as numpy arrays
        (integer keys; floats otherwise)."""
        nw = self.nw
        n = self.name
        columns = {n(name): expression for name, expression in keys.items()}
        columns.update({n("sum_" + name): expression for name, expression in sums.items()})
        aggs = [nw.len().alias(n("sum_count"))] + [nw.col(n("sum_" + name)).sum() for name in sums]
        aggs += [expression.alias(n(name)) for name, expression in extra.items()]
        table = self.frame.with_columns(**columns).group_by(*[n(k) for k in keys]).agg(*aggs)
        native = table.collect(backend="pyarrow").to_native().combine_chunks()
        out = {}
        for name in native.column_names:
            values = native.column(name).to_numpy()
            out[name[len(self.prefix):]] = values.astype(np.int64 if name == n("key") else float, copy=False)
        if "key" in out and np.any(out["key"] < 0):
            raise RuntimeError("The engine returned a value its first pass did not see.")
        return out


@dataclass(frozen=True)
class CellPass:
    """A profile that is also the cells (:meth:`Rows.profile`): the top-k cut-off (else the threshold decides),
    whether scores get calibration bins, and any further sums (estimated attributes' shares)."""

    cut: float | None
    calibrated: bool
    extra: dict[str, Any] | None = None


def _codes(column: list[Any], values: Sequence[Any], *, match: bool = False) -> np.ndarray:
    """Each entry's position in ``values`` (-1 when absent; missing is ``None``'s position), or with ``match``
    1 where it is one of ``values``, else 0 (missing included); values compare as the engine's keys do."""
    found = {hashable_key(v): 1 if match else i for i, v in enumerate(values)}
    absent = 0 if match else -1
    return np.array([found.get(hashable_key(v), absent) for v in column], dtype=np.int64)


def collect(frame: Any) -> dict[str, list[Any] | np.ndarray]:
    """A small lazy result as Python lists (keys, keeping their types) and numpy arrays (numbers)."""
    native = frame.collect(backend="pyarrow").to_native()
    out: dict[str, Any] = {}
    for name in native.column_names:
        column = native.column(name)
        out[name] = column.to_pylist()
    return out


# ---------------------------------------------------------------------------- the computation
def describe(frame: Any) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Column names, kinds and printed types of a LazyFrame (its schema only: no pass over the rows)."""
    schema = frame.collect_schema()
    columns = [str(c) for c in schema.names()]
    return columns, {c: kind_of(t) for c, t in zip(columns, schema.dtypes(), strict=True)}, {
        c: str(t) for c, t in zip(columns, schema.dtypes(), strict=True)}


def compute(frame: Any, request: Request, task: Task, columns: list[str]) -> Computed:
    """The group statistics of ``frame`` (a narwhals LazyFrame), checked as the in-memory path checks;
    ``columns`` are the input's own columns (the frame may hold a model's output besides)."""
    present, kinds, types = describe(frame)
    check_columns(request, present)
    check_kinds(request, kinds, types)
    if task.name == "score" and request.y_pred is not None:
        raise AuditInputError("task='score' audits a continuous score: pass y_score=, not y_pred=.")
    rows = Rows(frame, request, kinds, task)
    # without a top-k cut to find first (or shares to sum), the first pass is the cells pass too
    at_once = task.top_k is None and not request.estimated
    first = CellPass(None, rows.has("y_score") and task.name == "binary") if at_once else None
    profile = totals = crossings = rows.profile(rows.keys + rows.label_keys(), cells=first)
    n_rows = int(sum(profile[rows.name("n")]))
    check_rows(n_rows)
    overflow = len(profile[rows.name("n")]) > PROFILE_CAP
    if overflow:  # too many (groups x labels) rows to bring back: count column by column
        for i, name in enumerate(request.sensitive):
            check_group_count(name, rows.distinct(rows.keys[i]))
        totals, crossings = rows.profile([]), rows.profile(rows.keys, cap=None)
        n_rows = int(totals[rows.name("n")][0])
        labels = {key: rows.values(key) for key in rows.label_keys()}
    else:
        labels = {key: profile[key] for key in rows.label_keys()}
    key_rows = (list(zip(*(crossings[key] for key in rows.keys), strict=True)) if rows.keys
                else [()] * len(crossings[rows.name("n")]))
    for i, name in enumerate(request.sensitive):
        check_group_count(name, len({key[i] for key in key_rows} - {None}))
    for i, name in enumerate(request.sensitive):
        if any(key[i] is not None and group_name(key[i]) == MISSING_GROUP for key in key_rows):
            raise AuditInputError(
                f"Sensitive column {name!r} has the value {MISSING_GROUP!r}, the name fairaudit gives to missing "
                "values: the report could not tell them apart. Rename that value (e.g. "
                f"data[{name!r}].replace({MISSING_GROUP!r}, 'not stated')), or make it a real missing value (NaN).")
    label_values = {key: [v for v in dict.fromkeys(found) if v is not None] for key, found in labels.items()}
    total = {c: sum(v for v in values if v is not None) for c, values in totals.items() if c.endswith("_sum")}
    extreme = {c: _extreme(values, c.endswith("_min")) for c, values in totals.items()
               if c.endswith(("_min", "_max"))}
    positives: dict[str, list[Any]] = {}
    for argument, role in (("target", "y"), ("sample_weight", "w"), ("y_pred", "p"), ("y_score", "s")):
        if not rows.has(argument):
            continue
        alias = rows.name(role)
        if argument == "target" and task.name == "score":
            _check_numbers("target", rows, role, total, extreme, n_rows, request.threshold, probabilities=False)
        elif argument in ("target", "y_pred"):
            check_no_missing(argument, rows.missing(alias) if overflow else int(sum(
                n for n, v in zip(profile[rows.name("n")], profile[alias], strict=True) if v is None)), n_rows,
                getattr(request, argument))
            if task.name == "segmentation" and argument == "y_pred":
                continue
            check_label_count(argument, len(label_values[alias]))
            positives[argument] = ([1] if argument == "y_pred" and task.binary_pred
                                   else positive_labels(argument, label_values[alias], request.pos_label,
                                                        getattr(request, argument)))
        elif argument == "sample_weight":
            check_weights(missing=int(total[alias + "_na_sum"]), infinite=int(total[alias + "_inf_sum"]),
                          negative=int(total[alias + "_neg_sum"]), minimum=extreme[alias + "_f_min"] or 0.0,
                          total=float(total[alias + "_f_sum"]), name=request.sample_weight)
        else:
            _check_numbers("y_score", rows, role, total, extreme, n_rows, request.threshold,
                           probabilities=task.name == "binary" and task.top_k is None)
    enum_codes = [_enum_order(frame, name, kinds) for name in request.sensitive]
    coder = group_coder(request.sensitive, [kinds[name] for name in request.sensitive], key_rows, enum_codes)
    segments_coder = None
    if task.name == "segmentation":
        values = label_values.get(rows.name("p"), [])
        segments_coder = _segments(request.y_pred, kinds[request.y_pred], values, _enum_order(frame, request.y_pred,
                                                                                           kinds))
    low = high = 0.0
    if rows.has("y_score"):
        low, high = extreme[rows.name("s_f_min")], extreme[rows.name("s_f_max")]
    cut = None
    if task.top_k is not None:
        if not rows.has("y_score"):
            raise AuditInputError("The 'top_k' argument needs scores to rank: pass y_score= or a model with scores.")
        cut = rows.kth_largest(check_top_k(task.top_k, n_rows), low, high)
    scored = rows.has("y_score") and task.name != "segmentation"
    probabilities = scored and low >= 0 and high <= 1
    span = (0.0, 1.0) if probabilities else (low, high)
    with_score = scored and task.name == "binary" and probabilities
    estimation = None
    if request.estimated:
        from fairaudit.backends._estimated import Estimation

        estimation = Estimation(rows, request)
    if not at_once or overflow:  # the cells need the cut, the shares, or more rows than a profile brings back
        profile = rows.profile(rows.keys + rows.label_keys(), cap=None, cells=CellPass(
            cut, with_score, None if estimation is None else {**estimation.cell_sums(), **estimation.moment_sums()}))
    cells = rows.cells_of(profile, coder=coder, segments=segments_coder, positives=positives)
    hist = pooled = None
    exact = False
    fixed = request.score_edges
    if (with_score and rows.has("target")) or (scored and task.name == "score"):
        shares = None if estimation is None else estimation.histogram_sums()
        hist = rows.histogram(coder=coder, positives=positives, exact=False, span=span, extra=shares)
        pooled = pooled_grid(hist)
        few = _few_scores(pooled)
        exact = few or (fixed is not None and not (probabilities and on_grid(fixed))) or (
            _distinct_at_least(pooled) <= MAX_SCORE_BINS and rows.distinct(rows.name("s")) <= MAX_SCORE_BINS)
        if exact and not few:  # exact scores, not grid cells: once more, by score
            hist = rows.histogram(coder=coder, positives=positives, exact=True, span=span, extra=shares)
        if few:  # each grid cell holds one score: the cell's score is exact
            hist["b"] = pooled["lo"][np.searchsorted(pooled["b"], hist["b"])]
    estimates = None
    if estimation is not None:
        binary_target = rows.has("target") and task.name != "score"
        estimates = estimation.moments(cells, coder, binary_target, N_CALIBRATION_BINS if with_score else 1)
        tail = (2 if binary_target else 1) * 2 * (N_CALIBRATION_BINS if with_score else 1)
        cells, crossed = estimation.expand(cells, coder, tail)
        if hist is not None:
            hist, _ = estimation.expand(hist, coder, 2 if binary_target else 1)
        coder = crossed
    built = assemble(cells, hist, pooled, coder=coder, task=task, has_target=rows.has("target"),
                     with_score=with_score, exact=exact, segments=segments_coder,
                     weighted=rows.has("sample_weight"), score_edges=fixed)
    missing = {name: int(sum(n for n, key in zip(crossings[rows.name("n")], key_rows, strict=True) if key[i] is None))
               for i, name in enumerate(request.sensitive)}
    return replace(built, rows=n_rows, missing=missing, fingerprint=fingerprint(built.stats, n_rows, columns),
                   estimates=estimates)


def pooled_grid(hist: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows per grid cell ``b`` of the scores, with the cell's smallest and largest score, from the grid
    histogram (:meth:`Rows.histogram`): the histogram edges' exact quantiles come from this small table."""
    cells, inverse = np.unique(hist["b"], return_inverse=True)
    lows, highs = np.full(cells.size, np.inf), np.full(cells.size, -np.inf)
    np.minimum.at(lows, inverse, hist["lo"])
    np.maximum.at(highs, inverse, hist["hi"])
    return {"b": cells, "sum_count": np.bincount(inverse, weights=hist["sum_count"], minlength=cells.size),
            "lo": lows, "hi": highs}


def assemble(cells: dict[str, Any], hist: dict[str, Any] | None, pooled: dict[str, Any] | None, *,
             coder: GroupCoder, task: Task, has_target: bool, with_score: bool, exact: bool,
             segments: GroupCoder | None, weighted: bool, score_edges: np.ndarray | None = None) -> Computed:
    """GroupStats (and ScoreStats or SegmentStats) from the engine's tables (:meth:`Rows.cells`,
    :meth:`Rows.histogram`, :func:`pooled_grid`), as ``from_codes`` builds them from rows: the same cells,
    the same histogram edges (see :func:`fairaudit.stats.edges_from_grid`)."""
    sums = {name: cells["sum_" + name] for name in ("count", "weight", "weight_sq")}
    row_count = cells.get("sum_rows", sums["count"])  # estimated groups: a row's shares, its count once
    binary_target = has_target and task.name != "score"
    keys, row_key = compact(cells["key"])  # the few distinct cells are decoded, then spread to the rows
    key, c, p, code = keys, 0, 0, 0
    if with_score:
        key, c = np.divmod(key, N_CALIBRATION_BINS)
    if task.name == "segmentation":
        key, code = np.divmod(key, len(segments.values[0]))
    elif task.name == "binary":
        key, p = np.divmod(key, 2)
    g, y = _groups_and_labels(coder, key, binary_target)
    g, y, p, c, code = (np.broadcast_to(v, keys.shape)[row_key] for v in (g, y, p, c, code))
    segment_labels: tuple[str, ...] = ()
    segment_stats = score_stats = None
    if task.name == "segmentation":
        segment_labels = segments.names[0]
        segment_stats = _segment_stats(coder, segment_labels, g, code, sums)
        wanted = favorable_codes(task.favorable, segment_labels)
        p = np.isin(code, wanted).astype(np.int64) if wanted is not None else np.zeros_like(g)
    n_y, n_c = (2 if binary_target else 1), (N_CALIBRATION_BINS if with_score else 1)
    shape = (len(coder.groups), n_y, 2, n_c)
    cell = ((g * n_y + y) * 2 + p) * n_c + c
    size = int(np.prod(shape))
    arrays = {name: np.bincount(cell, weights=sums[name], minlength=size).reshape(shape) for name in sums}
    for name in ("score_sum", "score_sq_sum"):
        values = cells["sum_" + name] if with_score else np.zeros(cell.size)
        arrays[name] = np.bincount(cell, weights=values, minlength=size).reshape(shape)
    edges = histogram = above = None
    if hist is not None:
        hist_keys, hist_row = compact(hist["key"])
        hist_g, hist_y = (np.broadcast_to(v, hist_keys.shape)[hist_row]
                          for v in _groups_and_labels(coder, hist_keys, binary_target))
        buckets = hist["b"]
        if with_score and binary_target:
            edges, bins = _auc_bins(pooled, buckets, hist.get("sum_rows", hist["sum_count"]), exact, score_edges)
            n_bins = len(edges) - 1
            histogram = np.bincount((hist_g * 2 + hist_y) * n_bins + bins, weights=hist["sum_weight"],
                                    minlength=len(coder.groups) * 2 * n_bins).reshape(len(coder.groups), 2, n_bins)
        if task.name == "score":
            values = buckets if exact else _cell_lows(pooled, buckets)
            score_stats = _score_stats(cells, hist, coder, g, hist_g, values, has_target, score_edges)
            if not weighted:
                above = _above_median(values, hist["sum_count"], hist_g, len(coder.groups))
    stats = GroupStats(attributes=coder.attributes, groups=coder.groups, has_target=binary_target,
                       has_score=with_score, score_edges=edges, score_hist=histogram, **arrays)
    targeted = int(row_count[p == 1].sum()) if task.top_k is not None else None
    return Computed(stats=stats, score_stats=score_stats, segment_stats=segment_stats, segments=segment_labels,
                    targeted=targeted, above_median=above, rows=0, missing={}, fingerprint="")


def _groups_and_labels(coder: GroupCoder, key: np.ndarray, binary_target: bool) -> tuple[np.ndarray, Any]:
    """Finest group and label of keys built by :meth:`Rows.group_key`."""
    y = 0
    if binary_target:
        key, y = np.divmod(key, 2)
    return finest_of_mixed(coder, key), y


def _cell_lows(pooled: dict[str, Any], buckets: np.ndarray) -> np.ndarray:
    """The smallest score of each bucket's grid cell."""
    return pooled["lo"][np.searchsorted(pooled["b"], buckets)]


def _above_median(values: np.ndarray, counts: np.ndarray, g: np.ndarray, n_groups: int) -> tuple[np.ndarray, float]:
    """Rows per finest group scoring strictly above the median score, and the median: exact from exact
    scores; from grid cells (a cell counts when its smallest score is above the median: the median's own
    cell may be split, an approximation within 1/16384 of the score range) otherwise."""
    distinct, inverse = np.unique(values, return_inverse=True)
    median = float(numpy_linear_quantiles(distinct, np.bincount(inverse, weights=counts), np.array([0.5]))[0])
    return np.bincount(g, weights=counts * (values > median), minlength=n_groups), median


def _segment_stats(coder: GroupCoder, segments: tuple[str, ...], g: np.ndarray, code: np.ndarray,
                   sums: dict[str, np.ndarray]) -> SegmentStats:
    """SegmentStats from the table rows' summed counts and weights."""
    shape = (len(coder.groups), len(segments))
    cell = g * len(segments) + code
    arrays = [np.bincount(cell, weights=sums[name], minlength=shape[0] * shape[1]).reshape(shape)
              for name in ("count", "weight", "weight_sq")]
    return SegmentStats(coder.attributes, coder.groups, segments, *arrays)


def _auc_bins(pooled: dict[str, Any], buckets: np.ndarray, counts: np.ndarray, exact: bool,
              fixed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The AUC histogram's edges (``fixed``, else :func:`fairaudit.stats.default_score_edges` of the rows)
    and each histogram row's bin (fixed edges off the 1/16384 grid come with exact scores)."""
    if fixed is not None:
        return fixed, (bins_of_scores(buckets, fixed) if exact else grid_table(fixed)[buckets.astype(np.int64)])
    if exact:
        values, inverse = np.unique(buckets, return_inverse=True)
        edges = edges_from_distinct(values, np.bincount(inverse, weights=counts))
        return edges, bins_of_scores(buckets, edges)
    edges = edges_from_grid(pooled["b"], pooled["sum_count"], pooled["lo"], pooled["hi"])
    return edges, grid_table(edges)[buckets.astype(np.int64)]


def _distinct_at_least(pooled: dict[str, Any]) -> int:
    """A lower bound of the number of distinct scores: one per occupied grid cell, two where a cell's
    smallest and largest score differ."""
    return int(pooled["b"].size + np.count_nonzero(pooled["lo"] < pooled["hi"]))


def _score_stats(cells: dict[str, Any], hist: dict[str, Any], coder: GroupCoder, g: np.ndarray,
                 hist_g: np.ndarray, values: np.ndarray, has_target: bool, fixed: np.ndarray | None = None) -> Any:
    """ScoreStats of a continuous score: the sums per group and the histogram on ``fixed`` edges (the rows then
    come with exact scores, or grid cells when the edges lie on the grid), else on
    :func:`fairaudit.scores.score_edges` (exact from the distinct scores; from the grid cells' smallest
    scores when there are too many, an approximation within one cell, 1/16384 of the score range)."""
    from fairaudit.scores import MAX_BINS, SUMS, ScoreStats

    names = {"score": "score_sum", "score_sq": "score_sq_sum"}
    n = len(coder.groups)
    columns = []
    for name in SUMS:
        key = "sum_" + names.get(name, name)
        columns.append(np.bincount(g, weights=cells[key], minlength=n) if key in cells else np.zeros(n))
    distinct, inverse = np.unique(values, return_inverse=True)
    counts = np.bincount(inverse, weights=hist["sum_count"])
    if fixed is not None:
        edges = fixed
    elif distinct.size <= MAX_BINS:
        edges = np.append(distinct, np.inf)
    else:
        edges = np.unique(numpy_linear_quantiles(distinct, counts, np.linspace(0, 1, MAX_BINS + 1)[:-1]))
        edges[0] = min(edges[0], distinct[0])
        edges = np.append(edges, np.inf)
    n_bins = len(edges) - 1
    bins = np.searchsorted(edges[1:-1], values, side="right")
    hist = np.bincount(hist_g * n_bins + bins, weights=hist["sum_weight"], minlength=n * n_bins).reshape(n, n_bins)
    return ScoreStats(coder.attributes, coder.groups, np.column_stack(columns), hist, edges, has_target)


def _extreme(values: list[Any], smallest: bool) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return min(present) if smallest else max(present)


def _check_numbers(argument: str, rows: Rows, role: str, total: dict[str, Any], extreme: dict[str, Any],
                   n_rows: int, threshold: float, *, probabilities: bool) -> None:
    alias = rows.name(role)
    check_scores(argument, rows=n_rows, missing=int(total[alias + "_na_sum"]),
                 infinite=int(total[alias + "_inf_sum"]),
                 outside=int(total[alias + "_out_sum"]) if probabilities else 0,
                 minimum=extreme[alias + "_f_min"], maximum=extreme[alias + "_f_max"], threshold=threshold,
                 name=getattr(rows.request, argument))


def on_grid(edges: np.ndarray) -> bool:
    """Whether the interior edges lie on the ``1 / SCORE_GRID`` grid of [0, 1] (a score's bin is then a
    function of its grid cell)."""
    interior = edges[1:-1] * SCORE_GRID
    return bool(interior.size and np.array_equal(interior, np.floor(interior)) and interior[0] >= 0
                and interior[-1] <= SCORE_GRID)


def _few_scores(pooled: dict[str, Any]) -> bool:
    """Whether every grid cell holds one distinct score and there are at most MAX_SCORE_BINS of them
    (then the cells' scores are the exact distinct scores)."""
    return bool(pooled["b"].size <= MAX_SCORE_BINS and np.array_equal(pooled["lo"], pooled["hi"]))


def _enum_order(frame: Any, name: str, kinds: dict[str, str]) -> dict[Any, int] | None:
    """Position of each category of an enumerated column (pandas orders a categorical so)."""
    if kinds[name] != ENUM:
        return None
    dtype = frame.collect_schema()[name]
    categories = getattr(dtype, "categories", None)
    if categories is None:
        return None
    return {value: i for i, value in enumerate(categories)}


def _segments(name: str, kind: str, values: list[Any], enum_codes: dict[Any, int] | None) -> GroupCoder:
    from fairaudit.models import check_segment_labels

    coder = group_coder((name,), [kind], [(v,) for v in values], [enum_codes])
    check_segment_labels(list(coder.names[0]))
    return coder


