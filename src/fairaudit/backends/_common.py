"""What every engine shares: the request, column checks, label and group semantics, and the assembly of
the small tables an engine returns into :class:`~fairaudit.stats.GroupStats`.

The in-memory path (:mod:`fairaudit.inputs`) defines the semantics; this module reproduces them on
aggregates so that an engine never has to hand rows back:

* group names are the strings of the sorted distinct values (integral floats printed as integers,
  booleans as ``"0"``/``"1"``, or ``"False"``/``"True"`` when the column also holds missing values, as
  pandas reads such a column), missing values form the last group ``"(missing)"``;
* finest groups are the observed crossings, ordered by the attributes' value order;
* labels are binarised with ``pos_label`` as :func:`fairaudit.inputs.binarize_labels` does;
* decisions are ``score >= threshold`` unless a decision column is given.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.estimated import check_proba_arguments, check_probability_columns, unknown_probability_column
from fairaudit.inputs import (
    MAX_GROUPS_PER_ATTRIBUTE,
    AuditInputError,
    AuditInputs,
    AuditTypeError,
    MissingSensitiveValueWarning,
    SingleGroupWarning,
    group_name,
)
from fairaudit.inputs import _what as what_is
from fairaudit.scores import ScoreStats
from fairaudit.segmentation import SegmentStats
from fairaudit.stats import (
    CALIBRATION_EDGES,
    MISSING_GROUP,
    SCORE_GRID,
    GroupStats,
)

MAX_LABEL_VALUES = 10_000
"""A label column (target or y_pred) with more distinct values than this is refused: it is not a label."""

CALIBRATION_INTERIOR = tuple(float(e) for e in CALIBRATION_EDGES[1:-1])

# Column kinds: what an engine's column type means to an audit.
STRING, ENUM, INTEGER, FLOAT, DECIMAL, BOOLEAN, TEMPORAL, UNSUPPORTED = (
    "string", "enum", "integer", "float", "decimal", "boolean", "temporal", "unsupported",
)
GROUP_KINDS = frozenset({STRING, ENUM, INTEGER, FLOAT, DECIMAL, BOOLEAN, TEMPORAL})
LABEL_KINDS = frozenset({STRING, ENUM, INTEGER, FLOAT, DECIMAL, BOOLEAN})
NUMERIC_KINDS = frozenset({INTEGER, FLOAT, DECIMAL, BOOLEAN})


class MissingExtraError(AuditInputError, ImportError):
    """An optional engine is not installed; the message names the extra to install."""


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional engine module, or raise :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"Auditing {what} needs the optional dependency {module.split('.')[0]!r}, which is not "
            f"installed ({error}). Install it with: pip install 'fairaudit[{extra}]'"
        ) from None


# ---------------------------------------------------------------------------- the request
@dataclass(frozen=True)
class Task:
    """What an audit computes: ``binary`` decisions (from a threshold, or the ``top_k`` highest scores),
    ``score`` statistics, or a ``segmentation`` (with ``favorable`` segments as a decision)."""

    name: str = "binary"
    top_k: float | int | None = None
    favorable: tuple[Any, ...] | None = None
    binary_pred: bool = False
    """The decision column holds 0/1 decisions already (a model's labels, binarised by the adapter)."""


@dataclass(frozen=True)
class Request:
    """The validated arguments of :func:`fairaudit.backends.group_stats`."""

    sensitive: tuple[str, ...]
    target: str | None
    y_pred: str | None
    y_score: str | None
    sample_weight: str | None
    pos_label: Any
    threshold: float
    model: Any
    features: tuple[str, ...] | None
    score_edges: np.ndarray | None = None
    estimated: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Estimated attributes: (name, probability columns), see :mod:`fairaudit.backends._estimated`."""
    prior: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()

    def roles(self) -> list[tuple[str, str]]:
        """(argument, column) of every named column, in the order the in-memory path checks them."""
        out = [("sensitive", name) for name in self.sensitive]
        for argument in ("target", "sample_weight", "y_pred", "y_score"):
            name = getattr(self, argument)
            if name is not None:
                out.append((argument, name))
        return out


def make_request(*, sensitive: Any, target: Any, y_pred: Any, y_score: Any, sample_weight: Any,
                 pos_label: Any, threshold: Any, model: Any, features: Any, score_edges: Any = None,
                 sensitive_proba: Any = None, proba_prior: Any = None) -> Request:
    """Check the arguments that do not depend on the data."""
    names = [] if sensitive is None and sensitive_proba else [sensitive] if isinstance(sensitive, str) else sensitive
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise AuditTypeError(
            "The 'sensitive' argument must be a column name or a list of column names when data is a "
            f"file, a DuckDB relation or a Spark DataFrame; got {sensitive!r}. Add arrays as columns first."
        )
    estimated, prior = _estimated_request(sensitive_proba, proba_prior, names)
    if not names and not estimated:
        raise AuditInputError("The 'sensitive' argument is empty: name at least one sensitive column.")
    duplicated = [n for i, n in enumerate(names) if n in names[:i]]
    if duplicated:
        raise AuditInputError(f"The 'sensitive' argument names column {duplicated[0]!r} twice.")
    for argument, value in (("target", target), ("y_pred", y_pred), ("y_score", y_score),
                            ("sample_weight", sample_weight)):
        if value is not None and not isinstance(value, str):
            raise AuditTypeError(
                f"The '{argument}' argument must be a column name when data is a file, a DuckDB relation "
                f"or a Spark DataFrame; got {type(value).__name__}. Add it as a column first."
            )
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise AuditInputError(f"The 'threshold' argument must be a finite number; got {threshold!r}.")
    if model is None and y_pred is None and y_score is None:
        raise AuditInputError(
            "No predictions to audit: pass a model, or model=None with y_pred= and/or y_score= naming "
            "columns of data."
        )
    if features is not None:
        features = (features,) if isinstance(features, str) else tuple(str(f) for f in features)
    return Request(tuple(names), target, y_pred, y_score, sample_weight, pos_label, float(threshold), model,
                   features, None if score_edges is None else np.asarray(score_edges, dtype=float), estimated, prior)


def _estimated_request(sensitive_proba: Any, proba_prior: Any, observed: Sequence[str]) -> tuple[tuple, tuple]:
    """``sensitive_proba`` (probability columns only: the rows are in the engine) and ``proba_prior``."""
    if sensitive_proba is None:
        return (), ()
    check_proba_arguments(sensitive_proba, proba_prior, observed)
    estimated = []
    for name, spec in sensitive_proba.items():
        if isinstance(spec, str) or not isinstance(spec, Sequence):
            raise AuditTypeError(f"The 'sensitive_proba' entry of {str(name)!r} must be a list of column names of data "
                                 f"when data is a file, a DuckDB relation, a Spark DataFrame or another engine's "
                                 f"table; got {type(spec).__name__}. Add the probabilities as columns of data first.")
        estimated.append((str(name), tuple(str(c) for c in spec)))
    prior = tuple((str(name), tuple((str(g), float(v)) for g, v in shares.items()))
                  for name, shares in (proba_prior or {}).items())
    return tuple(estimated), prior


def unknown_column(argument: str, name: str, columns: Sequence[str]) -> AuditInputError:
    """The in-memory path's message for a column that is not in data, with close matches."""
    names = [str(c) for c in columns]
    close = difflib.get_close_matches(str(name), names, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(c) for c in names[:20]) + (", ..." if len(names) > 20 else "")
    return AuditInputError(
        f"The '{argument}' argument names column {name!r}, which is not in data.{hint} Columns are: {shown}."
    )


def check_columns(request: Request, columns: Sequence[str]) -> None:
    present = set(columns)
    for argument, name in request.roles():
        if name not in present:
            raise unknown_column(argument, name, columns)
    for attribute, names in request.estimated:
        for name in names:
            if name not in present:
                raise unknown_probability_column(attribute, name)
    for name in request.features or ():
        if name not in present:
            raise unknown_column("features", name, columns)


def check_kinds(request: Request, kinds: dict[str, str], types: dict[str, str]) -> None:
    """Refuse column types an audit cannot use (structs, lists, maps, binary ...), naming the column."""
    wanted = {"sensitive": (GROUP_KINDS, "strings, numbers, booleans or dates"),
              "target": (LABEL_KINDS, "labels (strings, numbers or booleans)"),
              "y_pred": (LABEL_KINDS, "labels (strings, numbers or booleans)"),
              "y_score": (NUMERIC_KINDS, "numeric scores"),
              "sample_weight": (NUMERIC_KINDS, "numeric weights")}
    for argument, name in request.roles():
        allowed, what = wanted[argument]
        if kinds[name] not in allowed:
            raise AuditTypeError(
                f"The '{argument}' argument names column {name!r} of type {types[name]}, which cannot be "
                f"audited: it must hold {what}. Select a field or cast the column first "
                f"(e.g. CAST({name} AS VARCHAR))."
            )
    for attribute, names in request.estimated:
        check_probability_columns(attribute, names, [c for c in names if kinds[c] not in (INTEGER, FLOAT, DECIMAL)])


def resolve_features(request: Request, columns: Sequence[str]) -> list[str]:
    """Model input columns: as given, else the model's ``feature_names_in_``, else every unused column."""
    if request.model is None:
        return []
    features = request.features
    if features is None:
        known = getattr(request.model, "feature_names_in_", None)
        if known is None:
            used = {name for _, name in request.roles()}
            return [c for c in columns if c not in used]
        features = tuple(str(c) for c in known)
    for name in features:
        if name not in columns:
            raise unknown_column("features", name, columns)
    return list(features)


# ---------------------------------------------------------------------------- checks on aggregates
def check_rows(rows: int) -> None:
    if rows == 0:
        raise AuditInputError("The 'data' argument has no rows: there is nothing to audit.")


def check_group_count(name: str, distinct: int) -> None:
    if distinct > MAX_GROUPS_PER_ATTRIBUTE:
        raise AuditInputError(
            f"Sensitive column {name!r} has {distinct} distinct values, more than the limit of "
            f"{MAX_GROUPS_PER_ATTRIBUTE}: groups that small cannot be audited. Bin it first, e.g. "
            f"CASE WHEN {name} < 25 THEN '<25' WHEN {name} < 45 THEN '25-44' ELSE '45+' END."
        )


def check_no_missing(argument: str, missing: int, rows: int, name: str | None = None) -> None:
    if missing:
        raise AuditInputError(
            f"{what_is(argument, name)} has {missing} missing value(s) (NaN) out of {rows}. "
            "fairaudit drops no rows silently: fill or remove those rows before the audit."
        )


def check_label_count(argument: str, distinct: int) -> None:
    if distinct > MAX_LABEL_VALUES:
        raise AuditInputError(
            f"The '{argument}' argument has {distinct} distinct values: that is not a label column. Pass the "
            "column of true (target) or predicted (y_pred) labels, or a score column as y_score=."
        )


def check_weights(*, missing: int, infinite: int, negative: int, minimum: float, total: float,
                  name: str | None = None) -> None:
    """The in-memory path's weight checks, on aggregates."""
    if missing:
        raise AuditInputError(
            f"{what_is('sample_weight', name)} has {missing} missing value(s) (NaN); every row needs a weight."
        )
    if infinite:
        raise AuditInputError(f"{what_is('sample_weight', name)} has infinite values; weights must be finite.")
    if negative:
        raise AuditInputError(
            f"{what_is('sample_weight', name)} has {negative} negative value(s) (min {minimum:g}); "
            "weights must be >= 0."
        )
    if total <= 0:
        raise AuditInputError(f"{what_is('sample_weight', name)} sums to 0: at least one row needs a weight > 0.")


def check_scores(argument: str, *, rows: int, missing: int, infinite: int, outside: int, minimum: float,
                 maximum: float, threshold: float, name: str | None = None) -> None:
    """The in-memory path's score checks (:func:`fairaudit.inputs.check_scores`), on aggregates."""
    check_no_missing(argument, missing, rows, name)
    if infinite:
        raise AuditInputError(
            f"{what_is(argument, name)} has {infinite} infinite score(s); every score must be a finite number."
        )
    if outside:
        raise AuditInputError(
            f"{what_is(argument, name)} has {outside} score(s) outside [0, 1] (min {minimum:g}, "
            f"max {maximum:g}), but threshold={threshold:g} is meant for probabilities. Pass "
            "probabilities of the positive class (e.g. predict_proba(X)[:, 1]); fairaudit does not "
            "clip scores."
        )


# ---------------------------------------------------------------------------- groups
def _natural_key(kind: str, value: Any) -> Any:
    return str(value) if kind in (STRING, ENUM) else value


@dataclass(frozen=True)
class GroupCoder:
    """Group names and codes of the raw values an engine returned, in the in-memory path's order.

    ``values[a]`` holds attribute ``a``'s distinct raw values in order (``None``, the missing value, last
    when present); ``groups`` the observed finest crossings, named; ``index`` maps a tuple of per-attribute
    codes to the position of its finest group.
    """

    attributes: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    names: tuple[tuple[str, ...], ...]
    groups: tuple[tuple[str, ...], ...]
    index: dict[tuple[int, ...], int]

    def codes_of_values(self, attribute: int, values: Sequence[Any]) -> list[int]:
        """Codes of raw values of one attribute (-1 for a value the coder has not seen)."""
        lookup = {hashable_key(v): i for i, v in enumerate(self.values[attribute])}
        return [lookup.get(hashable_key(v), -1) for v in values]


def hashable_key(value: Any) -> Any:
    """A dictionary key for a raw value; the missing value gets a key no column value can equal."""
    return ("__none__",) if value is None else value


def group_coder(attributes: Sequence[str], kinds: Sequence[str], keys: Sequence[tuple[Any, ...]],
                enum_codes: Sequence[dict[Any, int] | None] | None = None) -> GroupCoder:
    """Order and name the distinct values of each attribute and the observed crossings.

    ``keys`` are the raw value tuples of the observed crossings (``None`` for missing; duplicates
    allowed); ``enum_codes`` gives, for an enumerated (categorical) attribute, each value's position in
    its declared categories, which then orders it as pandas orders a categorical.
    """
    enum_codes = enum_codes or [None] * len(attributes)
    all_values, all_names = [], []
    for a, kind in enumerate(kinds):
        distinct = {hashable_key(k[a]): k[a] for k in keys}
        present = [v for v in distinct.values() if v is not None]
        has_missing = ("__none__",) in distinct
        order = enum_codes[a]
        if order is not None:
            present.sort(key=lambda v, order=order: order[v])
        else:
            present.sort(key=lambda v, kind=kind: _natural_key(kind, v))
        if kind == BOOLEAN and not has_missing:
            names = [str(int(bool(v))) for v in present]
        else:
            names = [group_name(v) for v in present]
        if has_missing:
            present.append(None)
            names.append(MISSING_GROUP)
        all_values.append(tuple(present))
        all_names.append(tuple(names))
    lookup = [{hashable_key(v): i for i, v in enumerate(values)} for values in all_values]
    codes = sorted({tuple(lookup[a][hashable_key(v)] for a, v in enumerate(key)) for key in keys})
    groups = tuple(tuple(all_names[a][c] for a, c in enumerate(code)) for code in codes)
    return GroupCoder(tuple(attributes), tuple(all_values), tuple(all_names), groups,
                      {code: i for i, code in enumerate(codes)})


def finest_of_mixed(coder: GroupCoder, mixed: np.ndarray) -> np.ndarray:
    """Position in ``coder.groups`` of each group key computed by the engine (per-attribute codes in mixed
    radix, first attribute most significant)."""
    sizes = [len(values) for values in coder.values]
    places = [int(np.prod(sizes[a + 1:])) for a in range(len(sizes))]
    table = {sum(c * p for c, p in zip(code, places, strict=True)): i for code, i in coder.index.items()}
    keys = np.array(sorted(table), dtype=np.int64)
    positions = np.array([table[k] for k in keys], dtype=np.int64)
    found = np.minimum(np.searchsorted(keys, mixed), keys.size - 1)
    if np.any(keys[found] != mixed):
        raise RuntimeError("The engine returned a crossing of groups its first pass did not see.")
    return positions[found]


# ---------------------------------------------------------------------------- score histogram
def grid_table(edges: np.ndarray) -> np.ndarray:
    """Bin of every cell ``floor(score * SCORE_GRID)`` of the grid, for edges on the grid."""
    interior = edges[1:-1]
    return np.searchsorted(interior, np.arange(SCORE_GRID + 1) / SCORE_GRID, side="right")


def bins_of_scores(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each (exact) score: :func:`fairaudit.stats.score_bin`."""
    return np.searchsorted(edges[1:-1], scores, side="right")


# ---------------------------------------------------------------------------- fingerprint
def fingerprint(stats: GroupStats, rows: int, columns: Sequence[str]) -> str:
    """SHA-256 of what an audit saw, from aggregates only: the column names, the row count, the groups
    and the exact row count of every cell (group x label x decision x calibration bin). It identifies
    the data without holding it, and it is the same whichever engine computed the statistics (it uses
    no floating-point sum, whose last bits depend on the order of summation)."""
    digest = hashlib.sha256()
    digest.update(repr((list(columns), rows, stats.attributes, stats.has_target, stats.has_score)).encode())
    order = sorted(range(stats.n_groups), key=lambda i: stats.groups[i])
    digest.update(repr([stats.groups[i] for i in order]).encode())
    digest.update(np.ascontiguousarray(np.rint(stats.count[order]).astype(np.int64)).tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- model on a batch
def batch_inputs(frame: Any, features: list[str], pos_label: Any, threshold: float) -> AuditInputs:
    """An :class:`~fairaudit.inputs.AuditInputs` over one batch of rows, for the model adapter."""
    values = {f.name: None for f in fields(AuditInputs)}
    values.update(data=frame, features=list(features), pos_label=1 if pos_label is None else pos_label,
                  threshold=float(threshold),
                  confidence=0.95, n_boot=0)
    return AuditInputs(**values)


def predict_batch(model: Any, frame: Any, features: list[str], pos_label: Any, threshold: float,
                  task: str = "binary") -> dict[str, Any]:
    """The model's output on one batch, exactly as the in-memory path's model adapter computes it:
    ``score`` (``None`` for a model that returns labels) and 0/1 ``pred`` for a binary task, ``score``
    for task ``"score"``; for a segmentation each row's ``segment`` name, and ``segment_num`` its
    number when the segments are numeric (for their numeric order)."""
    from fairaudit.models import one_value_per_row, predict

    inputs = batch_inputs(frame, features, pos_label, threshold)
    if task != "segmentation":
        predictions = predict(model, inputs, task)
        return {"score": predictions.y_score, "pred": np.asarray(predictions.y_pred, dtype=np.int8)}
    output, _ = one_value_per_row(model, inputs, "segment")
    series = pd.Series(output)
    names = [None if pd.isna(v) else group_name(v) for v in series]
    numeric = series.dtype.kind in "iufb"
    return {"segment": names, "segment_num": series.to_numpy(dtype=float) if numeric else None}


def warn_groups(missing: dict[str, int], coder_names: dict[str, list[str]], stacklevel: int = 3) -> None:
    """The in-memory path's warnings: missing sensitive values, attributes with one group."""
    for name, count in missing.items():
        if count:
            warnings.warn(
                f"Sensitive column {name!r} has {count} missing value(s); they are audited as the group "
                f"{MISSING_GROUP!r}.", MissingSensitiveValueWarning, stacklevel=stacklevel,
            )
    for name, names in coder_names.items():
        if len(names) < 2:
            warnings.warn(
                f"Sensitive column {name!r} has one group only ({names[0]!r}); its disparities are "
                "undefined (NaN).", SingleGroupWarning, stacklevel=stacklevel,
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
    score_stats: ScoreStats | None = None
    segment_stats: SegmentStats | None = None
    segments: tuple[str, ...] = ()
    targeted: int | None = None
    above_median: tuple[np.ndarray, float] | None = None
    estimates: Any = None
    """Estimated attributes: :class:`fairaudit.backends._estimated.EngineEstimates`."""

    def warn(self, stacklevel: int = 2) -> None:
        """Emit the warnings the in-memory path emits: missing sensitive values (audited as
        ``"(missing)"``) and attributes with a single group."""
        names = {}
        for a, attribute in enumerate(self.stats.attributes):
            values = list(dict.fromkeys(g[a] for g in self.stats.groups))
            names[attribute] = sorted(values, key=lambda v: v == MISSING_GROUP)
        warn_groups(self.missing_sensitive, names, stacklevel=stacklevel + 1)
