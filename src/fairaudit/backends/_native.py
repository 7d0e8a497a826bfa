"""What narwhals does not do, once per engine: opening files, applying a model where the rows live, and
drawing a random sample. No SQL is assembled here; identifiers reach an engine as data only.

* files: Parquet through DuckDB's ``read_parquet``; CSV through ``read_csv`` with the header read by
  Python's ``csv`` module (DuckDB would trim a leading space of a column name) and pandas' types and
  missing-value markers;
* a model: Spark ``mapInPandas`` (the model broadcast, the scored rows persisted in Spark); every other
  engine streams Arrow batches of the needed columns through the model adapter into a DuckDB table
  (spilled to disk when large) or, for in-memory polars and pyarrow inputs, an Arrow table;
* samples: Spark's ``sample``, DuckDB's reservoir sample (``USING SAMPLE``), polars' ``sample``.
"""

from __future__ import annotations

import csv
import glob
import gzip
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.backends._common import (
    EngineStats,
    Request,
    Task,
    check_columns,
    predict_batch,
    require,
    resolve_features,
)
from fairaudit.inputs import AuditInputError, AuditTypeError

CSV_TYPES = ["BIGINT", "DOUBLE", "VARCHAR"]
"""CSV columns are read as pandas.read_csv reads them: integers, floats, else text ("yes"/"no" stay text)."""
CSV_MISSING = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
               "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
"""pandas.read_csv's missing-value markers."""
OUTPUTS = ("score", "pred", "segment", "segment_num")
DUCKDB_CONFIG = {"preserve_insertion_order": False, "perfect_ht_threshold": 22}
"""DuckDB connections fairaudit opens: rows in any order, and an array instead of a hash table for a
GROUP BY whose integer keys span at most 2**22 values (the score histogram: group x label x grid cell)."""


@dataclass
class Source:
    """An engine input opened for narwhals, and what to close afterwards."""

    data: Any
    engine: str
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Close what was opened, once (closing again does nothing)."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            close()


# ---------------------------------------------------------------------------- opening
def open_source(data: Any, engine: str) -> Source:
    """The input as something narwhals reads lazily (files become a DuckDB relation)."""
    if engine != "files":
        return Source(data, engine)
    duckdb = require("duckdb", "duckdb", "Parquet/CSV files")
    paths = _paths(data)
    con = duckdb.connect(config=DUCKDB_CONFIG)
    source = Source(None, engine, [con.close])
    try:
        if _file_format(paths) == "parquet":
            source.data = con.read_parquet(paths)
        else:
            source.data = con.read_csv(paths, header=True, names=_csv_header(paths[0]), na_values=CSV_MISSING,
                                       auto_type_candidates=CSV_TYPES)
    except duckdb.Error as error:
        source.close()
        raise AuditInputError(f"The 'data' argument: DuckDB cannot read {paths!r}: {error}") from None
    return source


def quote(name: str) -> str:
    """A column name as a quoted DuckDB identifier (for the few DuckDB queries other modules run)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Relation:
    """A DuckDB relation over an engine input (not Spark), and what to close afterwards."""

    relation: Any
    source: Source

    def close(self) -> None:
        self.source.close()


def duckdb_relation(data: Any, engine: str) -> Relation:
    """The input as a DuckDB relation: files and relations as they are; polars, pyarrow and Ibis tables
    through Arrow (an Ibis DuckDB table through its own SQL, on its connection)."""
    duckdb = require("duckdb", "duckdb", "this operation on an engine input")
    source = open_source(data, engine)
    if engine in ("files", "duckdb"):
        return Relation(source.data, source)
    if engine == "ibis":
        import ibis

        backend = data.get_backend()
        if backend.name == "duckdb":
            return Relation(backend.con.sql(ibis.to_sql(data, dialect="duckdb")), source)
        table = data.to_pyarrow()
    else:
        import narwhals as nw

        frame = nw.from_native(data)
        table = (frame.collect() if isinstance(frame, nw.LazyFrame) else frame).to_arrow()
    con = duckdb.connect()
    source.closers.append(con.close)
    return Relation(con.from_arrow(table), source)


def _paths(data: Any) -> list[str]:
    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    found = []
    for path in (os.fspath(p) for p in items):
        if "://" in path:
            found.append(path)
            continue
        matches = sorted(glob.glob(path))
        if not matches:
            raise AuditInputError(f"The 'data' argument names {path!r}, which matches no file.")
        found.extend(matches)
    return found


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


def _csv_header(path: str) -> list[str]:
    """The CSV's column names exactly as written (spaces kept), as pandas.read_csv reads them."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def to_lazy(data: Any) -> Any:
    """A narwhals LazyFrame of the input (eager polars and pyarrow frames stay in memory)."""
    import narwhals as nw

    frame = nw.from_native(data)
    return frame.lazy() if isinstance(frame, nw.DataFrame) else frame


# ---------------------------------------------------------------------------- the model
def apply_model(source: Source, request: Request, task: Task, columns: list[str]) -> tuple[Source, Request, Task]:
    """The rows with the model's output as new columns, computed where the rows live; the request then
    audits those columns (scores, 0/1 decisions, or segments)."""
    from fairaudit.backends._narwhals import alias_prefix

    features = resolve_features(request, columns)
    prefix = alias_prefix(columns)
    kept = list(dict.fromkeys([name for _, name in request.roles()] + [c for _, names in request.estimated
                                                                       for c in names]))
    names = {output: prefix + output for output in OUTPUTS}
    if source.engine == "spark":
        scored = _spark_scored(source, request, task, kept, features, names)
    else:
        scored = _batch_scored(source, request, task, kept, features, names)
    try:
        return _model_output(scored, request, task, names)
    except BaseException:  # the caller closes the input; the scored rows are closed here
        scored.close()
        raise


def _model_output(scored: Source, request: Request, task: Task, names: dict[str, str]) -> tuple[Source, Request,
                                                                                                 Task]:
    """The request auditing the model's output columns of ``scored``: scores, 0/1 decisions or segments."""
    import narwhals as nw

    frame = to_lazy(scored.data)
    counts = frame.select(nw.len().alias("rows"), *[nw.col(names[o]).count().alias(o) for o in OUTPUTS])
    try:
        counted = counts.collect(backend="pyarrow").to_native().to_pylist()[0]
    except Exception as error:
        raise _translated(error) or error from None
    rows = counted["rows"]
    request = replace(request, model=None, features=None)
    if task.name == "segmentation":
        numeric = counted["segment_num"] == rows
        request = replace(request, y_pred=names["segment_num" if numeric else "segment"])
        return scored, request, task
    if counted["score"] not in (0, rows):
        raise AuditInputError(
            f"The model returned scores for {counted['score']} rows and labels for the other "
            f"{rows - counted['score']}: it must return one kind of output for every batch of rows."
        )
    if counted["score"]:
        return scored, replace(request, y_score=names["score"], y_pred=None), task
    if task.top_k is not None:
        raise AuditInputError("The 'top_k' argument needs scores to rank, but the model returned labels.")
    return scored, replace(request, y_pred=names["pred"]), replace(task, binary_pred=True)


_ERROR = re.compile(r"(AuditInputError|AuditTypeError): (.*)")


def _translated(error: Exception) -> Exception | None:
    """fairaudit's own error raised on a Spark executor (a model's output refused by the adapter), as the
    driver's exception of the same type and message; ``None`` for any other error."""
    found = _ERROR.findall(str(error))
    if not found:
        return None
    name, message = found[-1]
    return (AuditTypeError if name == "AuditTypeError" else AuditInputError)(message.strip())


def score_frame(model: Any, frame: pd.DataFrame, features: list[str], request: Request, task: Task,
                names: dict[str, str]) -> pd.DataFrame:
    """The model's output on one batch of rows, as the columns ``names`` (see :data:`OUTPUTS`)."""
    out = predict_batch(model, frame[features], features, request.pos_label, request.threshold, task.name)
    n = len(frame)
    empty = np.full(n, np.nan)
    return pd.DataFrame({
        names["score"]: empty if out.get("score") is None else np.asarray(out["score"], dtype=float),
        names["pred"]: np.zeros(n, np.int8) if out.get("pred") is None else np.asarray(out["pred"], np.int8),
        names["segment"]: pd.Series(out.get("segment", [None] * n), dtype=object),
        names["segment_num"]: empty if out.get("segment_num") is None else out["segment_num"],
    }, index=frame.index)


def _arrow_schema(names: dict[str, str]) -> Any:
    import pyarrow as pa

    return [pa.field(names["score"], pa.float64()), pa.field(names["pred"], pa.int8()),
            pa.field(names["segment"], pa.string()), pa.field(names["segment_num"], pa.float64())]


def _batches(source: Source, needed: list[str]) -> Iterator[Any]:
    """Arrow record batches of the needed columns, streamed from the engine."""
    import narwhals as nw

    data = source.data
    if source.engine in ("files", "duckdb"):
        relation = nw.from_native(data).select(*[nw.col(c) for c in needed]).to_native()
        reader = relation.to_arrow_reader() if hasattr(relation, "to_arrow_reader") else relation.fetch_record_batch()
        yield from reader
    elif source.engine == "ibis":
        selected = data.select(*needed)
        backend = selected.get_backend()
        if backend.name == "duckdb":  # ibis 12's batches fail on duckdb 2: DuckDB runs ibis' own SQL
            import ibis

            yield from backend.con.sql(ibis.to_sql(selected, dialect="duckdb")).to_arrow_reader()
        else:
            yield from selected.to_pyarrow_batches()
    else:
        frame = nw.from_native(data)
        if isinstance(frame, nw.LazyFrame):
            frame = frame.collect()
        yield from frame.select(*[nw.col(c) for c in needed]).to_arrow().to_batches(max_chunksize=100_000)


def _batch_scored(source: Source, request: Request, task: Task, kept: list[str], features: list[str],
                  names: dict[str, str]) -> Source:
    """Arrow batches through the model; kept in memory for in-memory inputs, else in a DuckDB table."""
    import pyarrow as pa

    needed = list(dict.fromkeys(kept + features))
    schema_fields = None
    model = request.model

    def scored() -> Iterator[Any]:
        nonlocal schema_fields
        for batch in _batches(source, needed):
            frame = batch.to_pandas()
            out = score_frame(model, frame, features, request, task, names)
            table = pa.Table.from_pandas(out, schema=pa.schema(_arrow_schema(names)), preserve_index=False)
            arrays = [batch.column(i) for i in range(batch.num_columns) if batch.schema.names[i] in kept]
            fields = [batch.schema.field(n) for n in batch.schema.names if n in kept]
            yield pa.RecordBatch.from_arrays(arrays + [c.combine_chunks() for c in table.columns],
                                             schema=pa.schema(fields + _arrow_schema(names)))

    if source.engine in ("polars", "pyarrow"):
        return Source(pa.Table.from_batches(list(scored())), "pyarrow", source.closers)
    duckdb = require("duckdb", "duckdb", "a model applied to an engine's rows")
    spill = tempfile.mkdtemp(prefix="fairaudit-duckdb-")
    con = duckdb.connect(config={**DUCKDB_CONFIG, "temp_directory": spill})
    own = [lambda: shutil.rmtree(spill, ignore_errors=True), con.close]
    closers = [*source.closers, *own]
    try:
        batches = iter(scored())
        first = next(batches, None)
        if first is None:
            return Source(con.from_arrow(pa.table({})), "duckdb", closers)
        reader = pa.RecordBatchReader.from_batches(first.schema, _chained(first, batches))
        con.from_arrow(reader).to_table("fairaudit_scored")
    except BaseException:  # the model or the rows failed: nothing stays open, no spill folder stays behind
        Source(None, "duckdb", own).close()
        raise
    return Source(con.table("fairaudit_scored"), "duckdb", closers)


def _chained(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _spark_scored(source: Source, request: Request, task: Task, kept: list[str], features: list[str],
                  names: dict[str, str]) -> Source:
    """mapInPandas over the needed columns with the model broadcast; the result persisted in Spark."""
    from pyspark import StorageLevel
    from pyspark.sql import types as T

    frame = source.data
    needed = list(dict.fromkeys(kept + features))
    selected = frame.select(*[frame[c] for c in needed])
    schema = T.StructType([f for f in selected.schema.fields if f.name in kept] + [
        T.StructField(names["score"], T.DoubleType()), T.StructField(names["pred"], T.ByteType()),
        T.StructField(names["segment"], T.StringType()), T.StructField(names["segment_num"], T.DoubleType())])
    model = request.model
    try:
        broadcast = frame.sparkSession.sparkContext.broadcast(model)
        get_model = lambda: broadcast.value
    except Exception:  # Spark Connect has no SparkContext: the model travels in the closure
        get_model = lambda: model

    def score_batches(batches: Any) -> Any:
        fitted = get_model()
        for batch in batches:
            out = score_frame(fitted, batch, features, request, task, names)
            yield pd.concat([batch[kept], out], axis=1)

    scored = selected.mapInPandas(score_batches, schema).persist(StorageLevel.MEMORY_AND_DISK)
    return Source(scored, "spark", [*source.closers, scored.unpersist])


# ---------------------------------------------------------------------------- samples
SAMPLE_ROWS = 50_000


def sample_rows(data: Any, engine: str, columns: Sequence[str], *, total: int, rows: int = SAMPLE_ROWS,
                seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows of ``columns``, uniformly at random, drawn by the engine (only they leave it)."""
    import narwhals as nw

    source = open_source(data, engine)
    try:
        data = source.data
        if engine == "spark":
            fraction = min(1.0, 1.2 * rows / max(total, 1))
            selected = data.select(*[data[c] for c in columns])
            return selected.sample(withReplacement=False, fraction=fraction, seed=seed).limit(rows).toPandas()
        if engine in ("files", "duckdb"):
            relation = nw.from_native(data).select(*[nw.col(c) for c in columns]).to_native()
            return _reservoir(relation, rows, seed)
        if engine == "ibis":
            return data.select(*columns).to_pandas() if total <= rows else _ibis_sample(data, columns, rows, seed,
                                                                                      total)
        frame = nw.from_native(data)
        if isinstance(frame, nw.LazyFrame):
            frame = frame.select(*[nw.col(c) for c in columns]).collect()
        else:
            frame = frame.select(*[nw.col(c) for c in columns])
        if len(frame) > rows:
            frame = frame.sample(n=rows, seed=seed)
        return frame.to_pandas()
    finally:
        source.close()


def _reservoir(relation: Any, rows: int, seed: int) -> pd.DataFrame:
    """DuckDB's reservoir sample of a relation (the query names the relation's alias only)."""
    alias = "fairaudit_rows"
    return relation.query(alias, f"SELECT * FROM {alias} USING SAMPLE reservoir({int(rows)} ROWS) "
                                 f"REPEATABLE ({int(seed)})").df()


def _ibis_sample(table: Any, columns: Sequence[str], rows: int, seed: int, total: int) -> pd.DataFrame:
    fraction = min(1.0, 1.2 * rows / max(total, 1))
    return table.select(*columns).sample(fraction, seed=seed).limit(rows).to_pandas()


# ---------------------------------------------------------------------------- entry point
def compute(data: Any, request: Request, engine: str, task: Task) -> Any:
    """The statistics of an engine input: opened, the model applied where the rows live, then the one
    narwhals implementation."""
    from fairaudit.backends._narwhals import compute as statistics

    source = open_source(data, engine)
    audited = source
    try:
        columns = list(to_lazy(source.data).collect_schema().names())
        if request.model is not None:
            check_columns(request, columns)
            audited, request, task = apply_model(source, request, task, columns)
        computed = statistics(to_lazy(audited.data), request, task, columns)
        return EngineStats(stats=computed.stats, rows=computed.rows, fingerprint=computed.fingerprint,
                           missing_sensitive=computed.missing, columns=columns, engine=engine,
                           score_stats=computed.score_stats, segment_stats=computed.segment_stats,
                           segments=computed.segments, targeted=computed.targeted,
                           above_median=computed.above_median, estimates=computed.estimates)
    finally:
        audited.close()
