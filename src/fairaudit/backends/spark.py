"""Spark engine: a Spark DataFrame, computed by Spark (local mode or any cluster).

Every statistic is a ``groupBy().agg`` in Spark; what comes back to the driver is one row of checks, the
distinct values of the sensitive columns (at most 50 each), the cells table (one row per observed group x
label x decision x calibration bin) and the score histogram. With a model, predictions are computed on the
executors by ``mapInPandas`` with the model broadcast, and kept in Spark (persisted, never collected).
fairaudit must be installed on the executors for that (it is, in local mode).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from fairaudit.backends._common import (
    BOOLEAN,
    CALIBRATION_INTERIOR,
    CELL_SUMS,
    DECIMAL,
    EXACT_KEY_LIMIT,
    FLOAT,
    INTEGER,
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
    group_coder,
    on_grid,
    place_values,
    positive_values,
    predict_batch,
    require,
    resolve_features,
)
from fairaudit.inputs import AuditInputError, AuditTypeError
from fairaudit.stats import SCORE_GRID

EXTRA = "spark"
GROUPS_CAP = 100_000
"""At most this many (group, label, prediction) rows are brought back by the first GROUP BY; more means
a column with too many values, whose distinct values are then counted on their own."""

_KINDS = {
    "StringType": STRING, "VarcharType": STRING, "CharType": STRING,
    "ByteType": INTEGER, "ShortType": INTEGER, "IntegerType": INTEGER, "LongType": INTEGER,
    "FloatType": FLOAT, "DoubleType": FLOAT, "DecimalType": DECIMAL, "BooleanType": BOOLEAN,
    "DateType": TEMPORAL, "TimestampType": TEMPORAL, "TimestampNTZType": TEMPORAL,
}


def kind_of(data_type: Any) -> str:
    """What a Spark column type means to an audit (structs, arrays, maps, binary: unsupported)."""
    return _KINDS.get(type(data_type).__name__, UNSUPPORTED)


def compute(data: Any, request: Request, engine: str) -> Any:
    require("pyspark.sql.functions", EXTRA, "a Spark DataFrame")
    audit = SparkAudit(data, request)
    try:
        return audit.run()
    finally:
        audit.close()


_ERROR = re.compile(r"(AuditInputError|AuditTypeError|MissingExtraError): (.*)")


def _translated(error: Exception) -> Exception | None:
    """fairaudit's own error raised on an executor, as the driver's exception of the same type."""
    found = _ERROR.findall(str(error))
    if not found:
        return None
    name, message = found[-1]
    return (AuditTypeError if name == "AuditTypeError" else AuditInputError)(message.strip())


class SparkAudit:
    """The aggregations over one DataFrame."""

    def __init__(self, data: Any, request: Request):
        from pyspark.sql import functions

        self.F = functions
        self.df = data
        self.request = request
        self.persisted: list[Any] = []

    def close(self) -> None:
        for frame in self.persisted:
            frame.unpersist()

    # -------------------------------------------------------------- helpers
    def col(self, name: str) -> Any:
        return self.F.col("`" + name.replace("`", "``") + "`")

    def describe(self, frame: Any) -> None:
        self.columns = [str(f.name) for f in frame.schema.fields]
        self.types = {str(f.name): f.dataType.simpleString() for f in frame.schema.fields}
        self.kinds = {str(f.name): kind_of(f.dataType) for f in frame.schema.fields}

    def key(self, name: str) -> Any:
        column = self.col(name)
        if self.kinds[name] == FLOAT:
            return self.F.when(self.F.isnan(column), self.F.lit(None)).otherwise(column)
        return column

    def missing(self, name: str) -> Any:
        column = self.col(name)
        if self.kinds[name] == FLOAT:
            return column.isNull() | self.F.isnan(column)
        return column.isNull()

    def as_double(self, name: str) -> Any:
        return self.col(name).cast("double")

    def count_if(self, condition: Any) -> Any:
        return self.F.count(self.F.when(condition, self.F.lit(1)))

    def action(self, run: Any) -> Any:
        """Run a Spark action; fairaudit's own errors raised on an executor come back as themselves."""
        try:
            return run()
        except (AuditInputError, AuditTypeError, RuntimeError):
            raise
        except Exception as error:
            translated = _translated(error)
            if translated is not None:
                raise translated from None
            raise

    def collect(self, frame: Any) -> list[Any]:
        return self.action(frame.collect)

    def arrays(self, frame: Any) -> dict[str, np.ndarray]:
        """A small numeric result as numpy columns (through Arrow where this Spark has it)."""
        if hasattr(frame, "toArrow"):
            table = self.action(frame.toArrow)
            if any(table.column(name).null_count for name in table.column_names):
                raise RuntimeError("Spark returned a sensitive value that its first pass did not see.")
            return {name: table.column(name).to_numpy() for name in table.column_names}
        table = self.action(frame.toPandas)  # Spark 3.5: Arrow when spark.sql.execution.arrow.pyspark.enabled
        if table.isna().to_numpy().any():
            raise RuntimeError("Spark returned a sensitive value that its first pass did not see.")
        return {name: table[name].to_numpy() for name in table.columns}

    # -------------------------------------------------------------- the passes
    def run(self) -> Any:
        from fairaudit.backends import EngineStats

        request = self.request
        self.describe(self.df)
        check_columns(request, self.columns)
        check_kinds(request, self.kinds, self.types)
        original_columns = list(self.columns)
        features = resolve_features(request, self.columns)
        checks = self.check(request)
        coder, codes, values = self.groups(request, checks)
        self.raise_checks(request, checks)
        labels = {argument: self.positives(argument, getattr(request, argument), values[argument])
                  for argument in values}
        frame, has_score = self.prepare(request, labels, codes, features, checks)
        stats = self.statistics(request, frame, coder, has_score, checks)
        rows = int(checks["rows"])
        missing = {name: int(checks[f"missing_{i}"]) for i, name in enumerate(request.sensitive)}
        return EngineStats(stats=stats, rows=rows, fingerprint=fingerprint(stats, rows, original_columns),
                           missing_sensitive=missing, columns=original_columns, engine="spark")

    def check(self, request: Request) -> dict[str, Any]:
        """One aggregation of the counts behind the in-memory path's checks."""
        F = self.F
        items = {"rows": F.count(F.lit(1))}
        for i, name in enumerate(request.sensitive):
            items[f"missing_{i}"] = self.count_if(self.missing(name))
        for argument in ("target", "y_pred"):
            name = getattr(request, argument)
            if name is not None:
                items[f"{argument}_missing"] = self.count_if(self.missing(name))
        if request.sample_weight is not None:
            w = self.as_double(request.sample_weight)
            finite = ~F.isnan(w) & (F.abs(w) != float("inf"))
            items.update(
                w_missing=self.count_if(w.isNull() | F.isnan(w)),
                w_infinite=self.count_if(F.abs(w) == float("inf")),
                w_negative=self.count_if(w < 0), w_min=F.min(w), w_sum=F.sum(F.when(finite, w)),
            )
        if request.y_score is not None:
            s = self.as_double(request.y_score)
            present = ~F.isnan(s)
            items.update(
                s_missing=self.count_if(s.isNull() | F.isnan(s)),
                s_infinite=self.count_if(F.abs(s) == float("inf")),
                s_outside=self.count_if(present & ((s < 0) | (s > 1))),
                s_min=F.min(F.when(present, s)), s_max=F.max(F.when(present, s)),
                s_distinct=F.approx_count_distinct(s, 0.05),
            )
        row = self.collect(self.df.agg(*[expr.alias(alias) for alias, expr in items.items()]))[0]
        return {alias: row[alias] for alias in items}

    def raise_checks(self, request: Request, checks: dict[str, Any]) -> None:
        """The in-memory path's errors, in its order."""
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

    def positives(self, argument: str, name: str, values: list[Any]) -> Any:
        """The 0/1 label column: the values equal to ``pos_label``."""
        positive = positive_values(argument, values, self.request.pos_label)
        if not positive:
            return self.F.lit(0)
        return self.col(name).isin(positive).cast("int")

    def groups(self, request: Request, checks: dict[str, Any]) -> tuple[Any, list[Any], dict[str, list[Any]]]:
        """The observed crossings of the sensitive values and the values of the label columns, in one
        GROUP BY whose result is capped; beyond the cap (a column with too many values), each column's
        distinct values are counted on their own. Then each attribute's code column."""
        F = self.F
        keys = [self.key(name).alias(f"k{i}") for i, name in enumerate(request.sensitive)]
        labels = {argument: getattr(request, argument) for argument in ("target", "y_pred")
                  if getattr(request, argument) is not None}
        columns = keys + [self.col(name).alias(argument) for argument, name in labels.items()]
        rows = self.collect(self.df.groupBy(*columns).count().limit(GROUPS_CAP + 1))
        if len(rows) > GROUPS_CAP:
            for i, name in enumerate(request.sensitive):
                checks[f"distinct_{i}"] = self.exact_distinct(self.key(name))
            for argument, name in labels.items():
                checks[f"{argument}_distinct"] = self.exact_distinct(self.col(name))
            self.raise_checks(request, checks)
            rows = self.collect(self.df.groupBy(*keys).count())
            values = {argument: [row[0] for row in self.collect(self.df.select(self.col(name)).distinct())]
                      for argument, name in labels.items()}
        else:
            values = {argument: list(dict.fromkeys(row[argument] for row in rows)) for argument in labels}
        key_rows = [tuple(row[f"k{i}"] for i in range(len(keys))) for row in rows]
        for i in range(len(keys)):
            checks.setdefault(f"distinct_{i}", len({k[i] for k in key_rows} - {None}))
        values = {argument: [v for v in found if v is not None] for argument, found in values.items()}
        for argument, found in values.items():
            checks.setdefault(f"{argument}_distinct", len(found))
        coder = group_coder(request.sensitive, [self.kinds[n] for n in request.sensitive], key_rows)
        codes = []
        for i, name in enumerate(request.sensitive):
            key = self.key(name)
            expression = None
            for code, value in enumerate(coder.values[i]):
                condition = key.isNull() if value is None else key == F.lit(value)
                expression = (F.when(condition, code) if expression is None
                              else expression.when(condition, code))
            codes.append(expression.otherwise(F.lit(None)).cast("int").alias(f"k{i}"))
        return coder, codes, values

    def exact_distinct(self, column: Any) -> int:
        return int(self.collect(self.df.agg(self.F.countDistinct(column).alias("d")))[0]["d"])

    def prepare(self, request: Request, labels: dict[str, Any], codes: list[Any], features: list[str],
                checks: dict[str, Any]) -> tuple[Any, bool]:
        """The rows reduced to codes ``k*``, label ``y``, weight ``w``, score ``s`` and decision ``p`` (the
        model applied in Spark), and whether there is a score."""
        F = self.F
        has_score = request.y_score is not None
        columns = [*codes, labels.get("target", F.lit(0)).cast("int").alias("y")]
        columns.append((F.lit(1.0) if request.sample_weight is None
                        else self.as_double(request.sample_weight)).alias("w"))
        columns.append((self.as_double(request.y_score) if has_score else F.lit(None).cast("double")).alias("s"))
        if request.model is None:
            if request.y_pred is not None:
                decision = labels["y_pred"]
            else:
                decision = (self.as_double(request.y_score) >= F.lit(request.threshold)).cast("int")
            return self.df.select(*columns, decision.alias("p")), has_score
        return self.apply_model(request, columns, features, len(codes), checks)

    def apply_model(self, request: Request, columns: list[Any], features: list[str], n_keys: int,
                    checks: dict[str, Any]) -> tuple[Any, bool]:
        """Predictions on the executors: mapInPandas over batches of the feature columns with the model
        broadcast, through the in-memory path's model adapter; the result is persisted in Spark."""
        F = self.F
        feature_columns = [self.col(f).alias(f"f{j}") for j, f in enumerate(features)]
        source = self.df.select(*columns, *feature_columns)
        passthrough = [f"k{i}" for i in range(n_keys)] + ["y", "w", "s"]
        schema = ", ".join([f"k{i} int" for i in range(n_keys)]
                           + ["y int", "w double", "s double", "model_score double", "p int"])
        model, pos_label, threshold = request.model, request.pos_label, request.threshold
        try:
            broadcast = self.df.sparkSession.sparkContext.broadcast(model)
            get_model = lambda: broadcast.value
        except Exception:  # Spark Connect has no SparkContext: the model travels in the closure
            get_model = lambda: model
        names = {f"f{j}": f for j, f in enumerate(features)}

        def score_batches(batches: Any) -> Any:
            import pandas as pd

            fitted = get_model()
            for batch in batches:
                frame = batch[list(names)].rename(columns=names)
                scores, decisions = predict_batch(fitted, frame, features, pos_label, threshold)
                out = batch[passthrough].copy()
                out["model_score"] = pd.Series(np.nan if scores is None else scores, index=out.index, dtype=float)
                out["p"] = decisions.astype(np.int32)
                yield out

        scored = source.mapInPandas(score_batches, schema)
        from pyspark import StorageLevel

        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        self.persisted.append(scored)
        model_score = F.col("model_score")
        row = self.collect(scored.agg(
            F.count(F.lit(1)).alias("n"),
            self.count_if(model_score.isNotNull() & ~F.isnan(model_score)).alias("scored"),
            F.approx_count_distinct(model_score, 0.05).alias("distinct"),
        ))[0]
        rows, with_score = int(row["n"]), int(row["scored"])
        if with_score:
            checks["s_distinct"] = int(row["distinct"])
        if with_score not in (0, rows):
            raise AuditInputError(
                f"The model returned scores for {with_score} rows and labels for the other {rows - with_score}: "
                "it must return one kind of output for every batch of rows."
            )
        if with_score:
            scored = scored.withColumn("s", F.col("model_score"))
        return scored, bool(with_score) or request.y_score is not None

    def statistics(self, request: Request, frame: Any, coder: Any, has_score: bool, checks: dict[str, Any]) -> Any:
        F = self.F
        has_target = request.target is not None
        n_keys = len(request.sensitive)
        keys = [F.col(f"k{i}") for i in range(n_keys)]
        s, w = F.col("s"), F.col("w")
        c = F.lit(0)
        if has_score:
            for edge in CALIBRATION_INTERIOR:
                c = c + (s > F.lit(edge)).cast("int")
        frame = frame.withColumn("c", c)
        n = F.count(F.lit(1))
        if request.sample_weight is None:
            sums = [n, n, n] + ([F.sum(s), F.sum(s * s)] if has_score else [F.lit(0.0)] * 2)
        else:
            sums = [n, F.sum(w), F.sum(w * w)] + ([F.sum(w * s), F.sum(w * s * s)] if has_score
                                                  else [F.lit(0.0)] * 2)
        aggregates = [expr.alias(name) for expr, name in zip(sums, CELL_SUMS, strict=True)]
        cells = self.arrays(frame.groupBy(*keys, "y", "p", "c").agg(*aggregates))
        code_rows = np.column_stack([cells[f"k{i}"] for i in range(n_keys)]).astype(np.int64)
        codes = [tuple(row) for row in code_rows.tolist()]
        sums = {name: cells[name].astype(float) for name in CELL_SUMS}
        hist = {}
        if has_target and has_score:
            hist = self.histogram(request, frame, coder, int(checks["s_distinct"]))
        return assemble(coder, codes=codes, y=cells["y"].astype(np.int64), p=cells["p"].astype(np.int64),
                        c=cells["c"].astype(np.int64), sums=sums, has_target=has_target, has_score=has_score,
                        **hist)

    def histogram(self, request: Request, frame: Any, coder: Any, approx_distinct: int) -> dict[str, Any]:
        """The weighted score histogram per finest group and label, and its edges.

        Few distinct scores: grouped by the exact score. Many: the default edges come from a global
        GROUP BY of the grid cells ``floor(score * 65536)`` (with each cell's extreme scores), and the
        scores are binned on the executors by a binary search (``Bucketizer``)."""
        F = self.F
        edges = request.score_edges
        exact = approx_distinct <= EXACT_KEY_LIMIT and (edges is None or not on_grid(edges))
        s = F.col("s")
        if not exact and edges is None:
            cell = F.floor(s * SCORE_GRID).cast("int")
            cells = self.arrays(frame.groupBy(cell.alias("b")).agg(F.count(F.lit(1)).alias("n"),
                                                                   F.min(s).alias("lo"), F.max(s).alias("hi")))
            edges = edges_from_grid(*(cells[c].astype(float) for c in ("b", "n", "lo", "hi")))
        if exact:
            frame = frame.withColumn("b", s)
        else:
            from pyspark.ml.feature import Bucketizer

            splits = [-float("inf"), *[float(e) for e in edges[1:-1]], float("inf")]
            frame = Bucketizer(splits=splits, inputCol="s", outputCol="b").transform(frame)
        places = place_values(coder)
        group_label = sum(F.col(f"k{i}").cast("long") * places[i] for i in range(len(places))) * 2 + F.col("y")
        weight = F.count(F.lit(1)) if request.sample_weight is None else F.sum("w")
        aggregates = [F.count(F.lit(1)).alias("n"), weight.alias("wsum")]
        table = self.arrays(frame.groupBy(group_label.alias("g"), "b").agg(*aggregates))
        labels = table["g"].astype(np.int64)
        buckets = table["b"]
        counts = table["n"].astype(float)
        if exact:
            if edges is None:
                unique, inverse = np.unique(buckets.astype(float), return_inverse=True)
                edges = edges_from_distinct(unique, np.bincount(inverse, weights=counts))
            bins = bins_of_scores(buckets.astype(float), edges)
        else:
            bins = buckets.astype(np.int64)
        return dict(hist_group=finest_of_mixed(coder, labels // 2), hist_y=labels % 2, hist_bin=bins,
                    hist_weight=table["wsum"].astype(float), score_edges=edges)
