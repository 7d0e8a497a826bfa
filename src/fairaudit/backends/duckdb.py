"""DuckDB engine: Parquet/CSV files (globs allowed), DuckDB relations, pyarrow Tables.

DuckDB streams the files and aggregates out of core; what comes back is one row of checks, the cells
table (one row per observed group x label x decision x calibration bin) and the score histogram. The
passes over the data: one for the checks, one GROUP BY for the cells, one for the histogram (which also
gives the default bin edges: the distinct scores when there are few, else quantiles on the grid).

With a model, its predictions are computed by a vectorised (Arrow) DuckDB function over batches of the
feature columns, stored in a temporary table (spilled to disk by DuckDB when large), then audited.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fairaudit.backends._common import (
    BOOLEAN,
    CALIBRATION_INTERIOR,
    CELL_SUMS,
    DECIMAL,
    ENUM,
    EXACT_KEY_LIMIT,
    FLOAT,
    INTEGER,
    SCORE_GRID,
    STRING,
    TEMPORAL,
    UNSUPPORTED,
    Request,
    assemble,
    bins_of_scores,
    check_columns,
    check_group_count,
    check_kinds,
    check_label_count,
    check_no_missing,
    check_rows,
    check_scores,
    check_weights,
    edges_from_distinct,
    edges_from_grid,
    finest_of_mixed,
    fingerprint,
    grid_table,
    group_coder,
    on_grid,
    place_values,
    positive_values,
    predict_batch,
    require,
    resolve_features,
)
from fairaudit.inputs import AuditInputError

EXTRA = "duckdb"
MAX_SUM_EDGES = 64
"""Explicit histogram edges off the grid: up to this many are compared in one expression, more are
looked up with an ASOF join."""

CSV_TYPES = "['BIGINT', 'DOUBLE', 'VARCHAR']"
"""CSV columns are read as pandas.read_csv reads them: integers, floats, else text ("yes"/"no" stay text)."""
CSV_MISSING = ("['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', "
               "'<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null']")
"""pandas.read_csv's missing-value markers."""

_KINDS = {
    "varchar": STRING, "enum": ENUM,
    "tinyint": INTEGER, "smallint": INTEGER, "integer": INTEGER, "bigint": INTEGER, "hugeint": INTEGER,
    "utinyint": INTEGER, "usmallint": INTEGER, "uinteger": INTEGER, "ubigint": INTEGER, "uhugeint": INTEGER,
    "float": FLOAT, "double": FLOAT, "decimal": DECIMAL, "boolean": BOOLEAN,
    "date": TEMPORAL, "timestamp": TEMPORAL, "timestamp with time zone": TEMPORAL, "timestamp_s": TEMPORAL,
    "timestamp_ms": TEMPORAL, "timestamp_ns": TEMPORAL, "time": TEMPORAL,
}


def kind_of(duck_type: Any) -> str:
    """What a DuckDB column type means to an audit (structs, lists, maps, blobs: unsupported)."""
    return _KINDS.get(str(getattr(duck_type, "id", "")).lower(), UNSUPPORTED)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any, sql_type: str) -> str:
    """A value that came out of a column, written back as a SQL literal of the column's type."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    text = repr(value) if isinstance(value, float) else str(value)
    return f"CAST('{text.replace(chr(39), chr(39) * 2)}' AS {sql_type})"


def double(value: float) -> str:
    return f"CAST('{float(value)!r}' AS DOUBLE)"


# ---------------------------------------------------------------------------- the source
@dataclass
class Source:
    """A relation to audit, and the connection fairaudit opened for it (closed afterwards)."""

    relation: Any
    connection: Any = None
    owned: bool = False

    def close(self) -> None:
        if self.owned and self.connection is not None:
            self.connection.close()


def _connect(duckdb: Any) -> Any:
    return duckdb.connect(config={"preserve_insertion_order": False})


def _paths(data: Any) -> list[str]:
    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    paths = [os.fspath(p) for p in items]
    for path in paths:
        if "://" not in path and not glob.glob(path):
            raise AuditInputError(f"The 'data' argument names {path!r}, which matches no file.")
    return paths


def _file_format(paths: Sequence[str]) -> str:
    formats = set()
    for path in paths:
        name = path.lower()
        for suffix in (".gz", ".zst", ".bz2"):
            name = name.removesuffix(suffix)
        if name.endswith((".parquet", ".pq", ".parq")):
            formats.add("parquet")
        elif name.endswith((".csv", ".tsv", ".txt")):
            formats.add("csv")
        else:
            raise AuditInputError(
                f"The 'data' argument names {path!r}: fairaudit reads Parquet (.parquet) and CSV (.csv) files; "
                "convert the file, or load it yourself and pass the DataFrame."
            )
    if len(formats) > 1:
        raise AuditInputError("The 'data' argument mixes Parquet and CSV files: pass one format at a time.")
    return formats.pop()


def open_source(data: Any, engine: str, duckdb: Any) -> Source:
    if engine == "files":
        paths = _paths(data)
        listed = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
        if _file_format(paths) == "parquet":
            reader = f"read_parquet({listed})"
        else:
            reader = f"read_csv({listed}, auto_type_candidates = {CSV_TYPES}, nullstr = {CSV_MISSING})"
        con = _connect(duckdb)
        try:
            relation = con.sql(f"SELECT * FROM {reader}")
        except duckdb.Error as error:
            con.close()
            raise AuditInputError(f"The 'data' argument: DuckDB cannot read {paths!r}: {error}") from None
        return Source(relation, con, owned=True)
    if engine == "polars" or type(data).__module__.split(".")[0] == "pyarrow":
        table = data.to_arrow() if engine == "polars" else data
        con = _connect(duckdb)
        return Source(con.from_arrow(table), con, owned=True)
    return Source(data)


# ---------------------------------------------------------------------------- entry point
def compute(data: Any, request: Request, engine: str) -> Any:
    what = {"files": "Parquet/CSV files", "polars": "a polars DataFrame"}.get(engine, "a DuckDB relation")
    duckdb = require("duckdb", EXTRA, what)
    source = open_source(data, engine, duckdb)
    audit = Audit(source, request, engine, duckdb)
    try:
        return audit.run()
    finally:
        audit.close()
        source.close()


@dataclass
class Decision:
    """How a row's decision is computed: from a label column, from the score, or a 0/1 column."""

    kind: str  # "labels" | "score" | "binary"
    column: str | None = None


class Audit:
    """The passes over one relation."""

    def __init__(self, source: Source, request: Request, engine: str, duckdb: Any):
        self.source, self.request, self.engine, self.duckdb = source, request, engine, duckdb
        self.relation = source.relation
        self.view = f"fairaudit_{uuid.uuid4().hex[:12]}"
        self.opened: list[Any] = []
        self.spill: list[str] = []

    def close(self) -> None:
        for con in self.opened:
            con.close()
        for folder in self.spill:
            shutil.rmtree(folder, ignore_errors=True)

    # -------------------------------------------------------------- helpers
    def sql(self, query: str) -> Any:
        """Run ``query`` on the audited relation, named ``{src}`` in it."""
        try:
            return self.relation.query(self.view, query.replace("{src}", self.view))
        except self.duckdb.Error as error:
            raise AuditInputError(f"DuckDB could not compute the audit's statistics: {error}") from None

    def describe(self) -> None:
        self.columns = [str(c) for c in self.relation.columns]
        self.types = {c: str(t) for c, t in zip(self.columns, self.relation.types, strict=True)}
        self.kinds = {c: kind_of(t) for c, t in zip(self.columns, self.relation.types, strict=True)}

    def key(self, name: str) -> str:
        """A sensitive column as grouped: NaN is missing (pandas' view of a float column); nanosecond
        timestamps are taken to the microsecond (Python's precision, in which group names are made)."""
        column = quote(name)
        if self.kinds[name] == FLOAT:
            return f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"
        if self.types[name] == "TIMESTAMP_NS":
            return f"CAST({column} AS TIMESTAMP)"
        return column

    def key_type(self, name: str) -> str:
        return "TIMESTAMP" if self.types[name] == "TIMESTAMP_NS" else self.types[name]

    def missing(self, name: str) -> str:
        column = quote(name)
        return f"({column} IS NULL OR isnan({column}))" if self.kinds[name] == FLOAT else f"({column} IS NULL)"

    def as_double(self, name: str) -> str:
        return f"CAST({quote(name)} AS DOUBLE)"

    # -------------------------------------------------------------- the passes
    def run(self) -> Any:
        from fairaudit.backends import EngineStats

        request = self.request
        self.describe()
        check_columns(request, self.columns)
        check_kinds(request, self.kinds, self.types)
        original_columns = list(self.columns)
        decision = Decision("labels", request.y_pred) if request.y_pred is not None else Decision("score")
        if request.model is not None:
            features = resolve_features(request, self.columns)
            request, decision = self.apply_model(features)
        checks = self.check(request)
        labels = {argument: self.positives(argument, getattr(request, argument), checks)
                  for argument in ("target", "y_pred") if getattr(request, argument) is not None}
        stats = self.statistics(request, decision, labels, checks)
        rows = int(checks["rows"])
        missing = {name: int(checks[f"missing_{i}"]) for i, name in enumerate(request.sensitive)}
        return EngineStats(stats=stats, rows=rows, fingerprint=fingerprint(stats, rows, original_columns),
                           missing_sensitive=missing, columns=original_columns, engine=self.engine)

    def check(self, request: Request) -> dict[str, Any]:
        """One pass of counts for the in-memory path's checks, raised in its order."""
        items = {"rows": "count(*)"}
        distinct = {}
        for i, name in enumerate(request.sensitive):
            distinct[f"distinct_{i}"] = self.key(name)
            items[f"missing_{i}"] = f"count(*) FILTER (WHERE {self.missing(name)})"
        for argument in ("target", "y_pred"):
            name = getattr(request, argument)
            if name is not None:
                distinct[f"{argument}_distinct"] = quote(name)
                items[f"{argument}_missing"] = f"count(*) FILTER (WHERE {self.missing(name)})"
                items[f"{argument}_min"] = f"min({quote(name)})"
                items[f"{argument}_max"] = f"max({quote(name)})"
        if request.sample_weight is not None:
            w = self.as_double(request.sample_weight)
            items.update(
                w_missing=f"count(*) FILTER (WHERE {w} IS NULL OR isnan({w}))",
                w_infinite=f"count(*) FILTER (WHERE isinf({w}))",
                w_negative=f"count(*) FILTER (WHERE {w} < 0)",
                w_min=f"min({w})", w_sum=f"sum({w}) FILTER (WHERE NOT isnan({w}) AND NOT isinf({w}))",
            )
        if request.y_score is not None:
            s = self.as_double(request.y_score)
            items.update(
                s_missing=f"count(*) FILTER (WHERE {s} IS NULL OR isnan({s}))",
                s_infinite=f"count(*) FILTER (WHERE isinf({s}))",
                s_outside=f"count(*) FILTER (WHERE NOT isnan({s}) AND ({s} < 0 OR {s} > 1))",
                s_min=f"min({s}) FILTER (WHERE NOT isnan({s}))", s_max=f"max({s}) FILTER (WHERE NOT isnan({s}))",
                s_distinct=f"approx_count_distinct({s})",
            )
        query = "SELECT " + ", ".join(f"{expr} AS {alias}" for alias, expr in items.items()) + " FROM {src}"
        checks = dict(zip(items, self.sql(query).fetchall()[0], strict=True))
        checks.update(self.distinct_counts(distinct))
        rows = int(checks["rows"])
        check_rows(rows)
        for i, name in enumerate(request.sensitive):
            check_group_count(name, int(checks[f"distinct_{i}"]))
        if request.target is not None:
            check_no_missing("target", int(checks["target_missing"]), rows)
            check_label_count("target", int(checks["target_distinct"]))
        if request.sample_weight is not None:
            check_weights(missing=int(checks["w_missing"]), infinite=int(checks["w_infinite"]),
                          negative=int(checks["w_negative"]), minimum=checks["w_min"] or 0.0,
                          total=checks["w_sum"] or 0.0)
        if request.y_pred is not None:
            check_no_missing("y_pred", int(checks["y_pred_missing"]), rows)
            check_label_count("y_pred", int(checks["y_pred_distinct"]))
        if request.y_score is not None:
            check_scores("y_score", rows=rows, missing=int(checks["s_missing"]),
                         infinite=int(checks["s_infinite"]), outside=int(checks["s_outside"]),
                         minimum=checks["s_min"], maximum=checks["s_max"], threshold=request.threshold)
        return checks

    def distinct_counts(self, columns: dict[str, str]) -> dict[str, int]:
        """Distinct non-missing values of each column, in one pass: one GROUPING SET per column (small
        hash tables, where ``count(DISTINCT ...)`` on text columns costs much more memory)."""
        names = list(columns)
        n = len(names)
        aliases = [f"c{j}" for j in range(n)]
        masks = [(1 << n) - 1 - (1 << (n - 1 - j)) for j in range(n)]
        grouping = f"grouping({', '.join(aliases)})"
        missing = " ".join(f"WHEN {m} THEN {a} IS NULL" for m, a in zip(masks, aliases, strict=True))
        inner = (f"SELECT {grouping} AS w, CASE {grouping} {missing} END AS absent FROM "
                 f"(SELECT {', '.join(f'{expr} AS {a}' for expr, a in zip(columns.values(), aliases, strict=True))}"
                 f" FROM {{src}}) GROUP BY GROUPING SETS ({', '.join(f'({a})' for a in aliases)})")
        rows = self.sql(f"SELECT w, count(*) FILTER (WHERE NOT absent) FROM ({inner}) GROUP BY w").fetchall()
        found = dict(rows)
        return {name: int(found.get(mask, 0)) for name, mask in zip(names, masks, strict=True)}

    def code(self, attribute: int, name: str, coder: Any) -> str:
        """The attribute's group code, computed in SQL (NULL for a value the first pass did not see)."""
        key = self.key(name)
        branches = [f"WHEN {key} IS NULL THEN {c}" if v is None else f"WHEN {key} = {literal(v, self.key_type(name))} "
                    f"THEN {c}" for c, v in enumerate(coder.values[attribute])]
        return f"CASE {' '.join(branches)} ELSE NULL END"

    def positives(self, argument: str, name: str, checks: dict[str, Any]) -> str:
        """The 0/1 label expression: the column's values equal to ``pos_label``."""
        distinct = int(checks[f"{argument}_distinct"])
        if distinct <= 2:
            values = list(dict.fromkeys(checks[f"{argument}_{end}"] for end in ("min", "max")))[:distinct]
        else:
            query = f"SELECT DISTINCT {quote(name)} FROM {{src}} WHERE {quote(name)} IS NOT NULL"
            values = [row[0] for row in self.sql(query).fetchall()]
        positive = positive_values(argument, values, self.request.pos_label)
        if not positive:
            return "0"
        listed = ", ".join(literal(v, self.types[name]) for v in positive)
        return f"CAST({quote(name)} IN ({listed}) AS INTEGER)"

    def statistics(self, request: Request, decision: Decision, labels: dict[str, str],
                   checks: dict[str, Any]) -> Any:
        keys = [self.key(name) for name in request.sensitive]
        has_target, has_score = request.target is not None, request.y_score is not None
        y = labels.get("target", "0")
        s = self.as_double(request.y_score) if has_score else None
        if decision.kind == "labels":
            p = labels["y_pred"]
        elif decision.kind == "binary":
            p = f"CAST({quote(decision.column)} AS INTEGER)"
        else:
            p = f"CAST({s} >= {double(request.threshold)} AS INTEGER)"
        c = " + ".join(f"CAST({s} > {double(e)} AS INTEGER)" for e in CALIBRATION_INTERIOR) if has_score else "0"
        w = None if request.sample_weight is None else self.as_double(request.sample_weight)
        if w is None:
            sums = ["count(*)", "count(*)", "count(*)"]
            sums += [f"sum({s})", f"sum({s} * {s})"] if has_score else ["0.0", "0.0"]
        else:
            sums = ["count(*)", f"sum({w})", f"sum({w} * {w})"]
            sums += [f"sum({w} * {s})", f"sum({w} * {s} * {s})"] if has_score else ["0.0", "0.0"]
        enum_columns = [i for i, name in enumerate(request.sensitive) if self.kinds[name] == ENUM]
        k = len(keys)
        select = [f"{expr} AS k{i}" for i, expr in enumerate(keys)]
        select += [f"{y} AS y", f"{p} AS p", f"{c} AS c"]
        select += [f"min(enum_code({quote(request.sensitive[i])})) AS e{i}" for i in enum_columns]
        select += [f"{agg} AS a{j}" for j, agg in enumerate(sums)]
        group = ", ".join([f"k{i}" for i in range(k)] + ["y", "p", "c"])
        rows = self.sql(f"SELECT {', '.join(select)} FROM {{src}} GROUP BY {group}").fetchall()
        enum_codes: list[dict[Any, int] | None] = [None] * k
        for j, i in enumerate(enum_columns):
            enum_codes[i] = {row[i]: row[k + 3 + j] for row in rows if row[i] is not None}
        kinds = [self.kinds[name] for name in request.sensitive]
        key_rows = [tuple(row[:k]) for row in rows]
        coder = group_coder(request.sensitive, kinds, key_rows, enum_codes)
        codes = coder.codes_of(key_rows)
        first = k + 3 + len(enum_columns)
        column = lambda j: np.array([row[j] for row in rows], dtype=float)
        arrays = {name: column(first + j) for j, name in enumerate(CELL_SUMS)}
        ints = lambda j: np.array([row[j] for row in rows], dtype=np.int64)
        hist = {}
        if has_target and has_score:
            hist = self.histogram(request, y, s, w, coder, int(checks["s_distinct"]))
        return assemble(coder, codes=codes, y=ints(k), p=ints(k + 1), c=ints(k + 2), sums=arrays,
                        has_target=has_target, has_score=has_score, **hist)

    def histogram(self, request: Request, y: str, s: str, w: str | None, coder: Any,
                  approx_distinct: int) -> dict[str, Any]:
        """The weighted score histogram per finest group and label, and its edges.

        Few distinct scores: grouped by the exact score. Many: by grid cell ``floor(score * 65536)``
        (bins on the grid are unions of cells), the default edges coming from a first, global GROUP BY
        of the cells. Explicit edges off the grid: binned in SQL. Groups are integer codes computed in
        SQL, which keeps DuckDB's hash table small."""
        edges = request.score_edges
        if edges is None:
            mode = "exact" if approx_distinct <= EXACT_KEY_LIMIT else "grid"
        elif on_grid(edges):
            mode = "grid"
        elif approx_distinct <= EXACT_KEY_LIMIT:
            mode = "exact"
        else:
            mode = "bins"
        cell = f"CAST(floor({s} * {SCORE_GRID}) AS INTEGER)"
        if mode == "grid" and edges is None:
            table = self._arrow(self.sql(f"SELECT {cell} AS b, count(*) AS n, min({s}) AS lo, max({s}) AS hi "
                                         "FROM {src} GROUP BY b"))
            edges = edges_from_grid(*(table.column(c).to_numpy().astype(float) for c in ("b", "n", "lo", "hi")))
        join = ""
        if mode == "exact":
            bucket = s
        elif mode == "grid":
            bucket = cell
        else:
            interior = edges[1:-1]
            if len(interior) <= MAX_SUM_EDGES:
                bucket = " + ".join(f"CAST({s} >= {double(e)} AS INTEGER)" for e in interior) or "0"
            else:
                listed = ", ".join(f"'{float(e)!r}'" for e in interior)
                join = (f" ASOF LEFT JOIN (SELECT unnest(CAST([{listed}] AS DOUBLE[])) AS edge, "
                        f"unnest(range(1, {len(interior) + 1})) AS bin "
                        f"UNION ALL SELECT CAST('-inf' AS DOUBLE), 0) AS fa_edges ON {s} >= fa_edges.edge")
                bucket = "fa_edges.bin"
        places = place_values(coder)
        mixed = " + ".join(f"({self.code(i, name, coder)}) * {places[i]}" for i, name in enumerate(request.sensitive))
        group_label = f"(CAST({mixed} AS BIGINT) * 2 + {y})"
        weight = "count(*)" if w is None else f"sum({w})"
        if mode == "exact":
            counted = ", count(*) AS n" if request.score_edges is None else ""
            query = (f"SELECT {group_label} AS g, {bucket} AS b, {weight} AS w{counted} FROM {{src}}{join} "
                     "GROUP BY g, b")
        else:  # one integer key per (group, label, bucket): the smallest hash table
            n_buckets = SCORE_GRID + 1 if mode == "grid" else len(edges) - 1
            span = int(np.prod([len(v) for v in coder.values], dtype=np.float64)) * 2 * n_buckets
            integer = "INTEGER" if span < 2**31 else "BIGINT"  # 4-byte keys when they fit
            query = (f"SELECT CAST({group_label} * {n_buckets} + {bucket} AS {integer}) AS k, {weight} AS w "
                     f"FROM {{src}}{join} GROUP BY k")
        table = self._arrow(self.sql(query))
        if mode == "exact":
            if table.column("g").null_count:
                raise RuntimeError("DuckDB returned a sensitive value that its first pass did not see.")
            group_label_values = table.column("g").to_numpy().astype(np.int64)
            scores = table.column("b").to_numpy().astype(float)
            if edges is None:
                edges = edges_from_distinct(*_summed(scores, table.column("n").to_numpy().astype(float)))
            bins = bins_of_scores(scores, edges)
        else:
            if table.column("k").null_count:
                raise RuntimeError("DuckDB returned a sensitive value that its first pass did not see.")
            group_label_values, buckets = np.divmod(table.column("k").to_numpy().astype(np.int64), n_buckets)
            bins = grid_table(edges)[buckets] if mode == "grid" else buckets
        return dict(hist_group=finest_of_mixed(coder, group_label_values // 2), hist_y=group_label_values % 2,
                    hist_bin=bins, hist_weight=table.column("w").to_numpy().astype(float), score_edges=edges)

    @staticmethod
    def _arrow(relation: Any) -> Any:
        for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
            if hasattr(relation, method):
                return getattr(relation, method)()
        raise RuntimeError("This DuckDB version cannot return Arrow tables.")

    # -------------------------------------------------------------- the model
    def apply_model(self, features: list[str]) -> tuple[Request, Decision]:
        """Score the rows with the model inside DuckDB into a temporary table; audit that table."""
        import pyarrow as pa

        request = self.request
        duckdb = self.duckdb
        con = _connect(duckdb)
        self.opened.append(con)
        spill = tempfile.mkdtemp(prefix="fairaudit-duckdb-")
        self.spill.append(spill)
        con.execute(f"SET temp_directory = '{spill}'")
        needed = list(dict.fromkeys([n for _, n in request.roles()] + features))
        reader = self.relation.select(", ".join(quote(n) for n in needed))
        batches = reader.to_arrow_reader() if hasattr(reader, "to_arrow_reader") else reader.fetch_record_batch()
        source = con.from_arrow(batches)
        errors: list[BaseException] = []
        model, pos_label, threshold = request.model, request.pos_label, request.threshold

        def score(packed: Any) -> Any:
            try:
                packed = packed.combine_chunks() if isinstance(packed, pa.ChunkedArray) else packed
                arrays = [packed.field(j) for j in range(len(features))]
                frame = pa.table(dict(zip(features, arrays, strict=True))).to_pandas()
                scores, decisions = predict_batch(model, frame, features, pos_label, threshold)
            except Exception as error:  # re-raised with its own type once DuckDB stops
                errors.append(error)
                raise
            n = len(decisions)
            score_array = pa.nulls(n, pa.float64()) if scores is None else pa.array(scores, pa.float64())
            return pa.StructArray.from_arrays([score_array, pa.array(decisions, pa.int8())],
                                              names=["score", "pred"])

        types = dict(zip(map(str, source.columns), source.types, strict=True))
        name = f"fairaudit_model_{uuid.uuid4().hex[:8]}"
        packed_type = con.struct_type({f"f{j}": types[f] for j, f in enumerate(features)})
        con.create_function(name, score, [packed_type], con.struct_type({"score": "DOUBLE", "pred": "TINYINT"}),
                            type="arrow", null_handling="special", side_effects=False)
        kept = ", ".join(  # Arrow carries an ENUM as text: restore its declared order
            f"CAST({quote(n)} AS {self.types[n]}) AS {quote(n)}" if self.kinds[n] == ENUM else quote(n)
            for n in dict.fromkeys(n for _, n in request.roles()))
        args = "struct_pack(" + ", ".join(f"f{j} := {quote(f)}" for j, f in enumerate(features)) + ")"
        view = f"fairaudit_rows_{uuid.uuid4().hex[:8]}"
        try:
            created = source.query(view, f"CREATE TEMP TABLE fairaudit_scored AS SELECT {kept}"
                                         f"{',' if kept else ''} {name}({args}) AS fairaudit_out FROM {view}")
            if created is not None:  # DuckDB 1.x runs the statement at once, 2.x when fetched
                created.fetchall()
            counts = con.sql("SELECT count(*), count(fairaudit_out.score) FROM fairaudit_scored").fetchall()[0]
        except duckdb.Error as error:
            if errors:
                raise errors[0] from None
            raise AuditInputError(f"DuckDB could not apply the model: {error}") from None
        finally:
            try:
                con.remove_function(name)
            except duckdb.Error:
                pass
        rows, scored = counts
        if scored not in (0, rows):
            raise AuditInputError(
                f"The model returned scores for {scored} rows and labels for the other {rows - scored}: "
                "it must return one kind of output for every batch of rows."
            )
        self.relation = con.sql("SELECT *, fairaudit_out.score AS fairaudit_score, fairaudit_out.pred AS "
                                "fairaudit_pred FROM fairaudit_scored")
        self.opened.append(con)
        self.describe()
        y_score = "fairaudit_score" if scored else request.y_score
        return replace(request, y_score=y_score, y_pred=None), Decision("binary", "fairaudit_pred")


def _summed(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts)
