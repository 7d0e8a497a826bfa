"""Resolve and validate the inputs of an audit, once, at the door.

Every error names the argument or column, says what was found and what to do. Nothing is dropped
silently: missing sensitive values become the explicit group ``"(missing)"`` with a warning.
"""

from __future__ import annotations

import difflib
import itertools
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.stats import JOIN, MISSING_GROUP, bin_scores, compact

MAX_GROUPS_PER_ATTRIBUTE = 50
"""A sensitive column with more distinct values than this is refused: bin it first."""

ArrayLike = Any


class AuditInputError(ValueError):
    """An argument or column of an audit has a value that cannot be audited."""


class AuditTypeError(TypeError):
    """An argument of an audit has a type that cannot be audited."""


class FairAuditWarning(UserWarning):
    """Base class of fairaudit's warnings."""


class MissingSensitiveValueWarning(FairAuditWarning):
    """Rows with a missing sensitive value were put in the group ``"(missing)"``."""


class SingleGroupWarning(FairAuditWarning):
    """A sensitive attribute has one group only: its disparities are undefined."""


class UndefinedMetricWarning(FairAuditWarning):
    """A metric is undefined for some group (e.g. no positives): its value is NaN."""


@dataclass(frozen=True)
class SensitiveGroups:
    """Sensitive attributes encoded as one integer code per row of the finest crossing."""

    attributes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    codes: np.ndarray


@dataclass(frozen=True)
class AuditInputs:
    """Validated, aligned inputs: everything downstream reads these and nothing else."""

    data: pd.DataFrame
    sensitive: SensitiveGroups
    y_true: np.ndarray | None
    target_name: str | None
    y_pred: np.ndarray | None
    segment_column: pd.Series | None
    y_score: np.ndarray | None
    sample_weight: np.ndarray | None
    features: list[str]
    pos_label: Any
    threshold: float
    confidence: float
    n_boot: int


# ---------------------------------------------------------------------------- helpers
def _unknown_column(argument: str, name: object, data: pd.DataFrame) -> AuditInputError:
    names = [str(c) for c in data.columns]
    close = difflib.get_close_matches(str(name), names, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(c) for c in names[:20]) + (", ..." if len(names) > 20 else "")
    return AuditInputError(
        f"The '{argument}' argument names column {name!r}, which is not in data.{hint} "
        f"Columns are: {shown}."
    )


def column(data: pd.DataFrame, argument: str, value: ArrayLike) -> tuple[pd.Series, str | None]:
    """A column of ``data`` by name, or an array aligned with it; returns the series and its name.

    A Series is aligned with ``data`` by index (its index must hold the same labels); arrays and lists by
    position."""
    if isinstance(value, str) or (np.isscalar(value) and not isinstance(value, (bool, float))):
        if value not in data.columns:
            raise _unknown_column(argument, value, data)
        return data[value], str(value)
    if isinstance(value, (pd.Series, np.ndarray, list, tuple, pd.Index)):
        values = np.asarray(value) if not isinstance(value, pd.Series) else value.to_numpy()
        if values.ndim != 1:
            raise AuditInputError(
                f"The '{argument}' argument must be one-dimensional; got an array of shape {values.shape}."
            )
        if len(values) != len(data):
            raise AuditInputError(
                f"The '{argument}' argument has {len(values)} values but data has {len(data)} rows; "
                "pass an array aligned with data, or a column name."
            )
        name = value.name if isinstance(value, pd.Series) and value.name is not None else None
        if isinstance(value, pd.Series) and not value.index.equals(data.index):
            values = _aligned(argument, value, data.index)
        return pd.Series(values, index=data.index, name=name), None if name is None else str(name)
    raise AuditTypeError(
        f"The '{argument}' argument must be a column name of data or an array aligned with it; "
        f"got {type(value).__name__}."
    )


def _aligned(argument: str, series: pd.Series, index: pd.Index) -> np.ndarray:
    """The values of ``series`` in the order of ``index``; refuses an index with other or repeated labels."""
    if series.index.has_duplicates or index.has_duplicates or not series.index.isin(index).all():
        strangers = series.index[~series.index.isin(index)]
        example = f" (e.g. label {strangers[0]!r} is not in data's index)" if len(strangers) else ""
        raise AuditInputError(
            f"The '{argument}' argument is a Series whose index does not match data's index{example}; "
            "fairaudit lines Series up with data by index label. Pass a Series indexed like data "
            "(series.set_axis(data.index) if its order is already right), or its values (series.to_numpy()) "
            "to line them up by position."
        )
    return series.reindex(index).to_numpy()


def _what(argument: str, name: str | None) -> str:
    """How an error names an input: the column the user named, and the argument it was passed as."""
    return f"The {argument} column {name!r}" if name is not None else f"The '{argument}' argument"


def _check_no_missing(argument: str, series: pd.Series, name: str | None = None) -> None:
    missing = int(series.isna().sum())
    if missing:
        raise AuditInputError(
            f"{_what(argument, name)} has {missing} missing value(s) (NaN) out of {len(series)}. "
            "fairaudit drops no rows silently: fill or remove those rows before the audit."
        )


def binarize_labels(argument: str, series: pd.Series, pos_label: Any, name: str | None = None) -> np.ndarray:
    """Labels as 0/1 with ``pos_label`` as 1 (see :func:`positive_labels`)."""
    _check_no_missing(argument, series, name)
    values = series.to_numpy() if series.dtype.kind in "iub" else None
    if values is not None and np.can_cast(values.dtype, np.intp) and values.size:
        codes = values.astype(np.intp)  # integer labels: their distinct values by counting, not hashing
        low = int(codes.min())
        if int(codes.max()) - low < 1 << 16:
            present = np.flatnonzero(np.bincount(codes - low if low else codes)) + low
            hits = np.zeros(values.shape, dtype=bool)
            for label in positive_labels(argument, present.astype(values.dtype), pos_label, name):
                hits |= values == label
            return hits.astype(np.int8)
    positive = positive_labels(argument, pd.unique(series), pos_label, name)
    return np.asarray(series.isin(positive).to_numpy(), dtype=np.int8)


def positive_labels(argument: str, values: Sequence[Any], pos_label: Any, name: str | None = None) -> list[Any]:
    """The distinct label values that count as positive, from the distinct ``values`` of a label column.

    A binary audit takes at most two distinct values of one type. ``pos_label=None`` reads 0/1 (or
    False/True) labels with 1 as positive; any other pair of values needs ``pos_label``. Raises
    :class:`AuditInputError` otherwise, naming the argument and the column."""
    values = [_plain(v) for v in values]
    what = _what(argument, name)
    shown = ", ".join(repr(v) for v in sorted(values, key=str)[:10])
    more = "" if len(values) <= 10 else f" and {len(values) - 10} more"
    kinds = sorted({_kind(v) for v in values})
    if len(kinds) > 1:
        raise AuditInputError(
            f"{what} mixes value types ({', '.join(kinds)}): {shown}{more}. A label such as 1 and '1' would be "
            "two different classes; convert the column to one type first (e.g. .astype(int) or .astype(str))."
        )
    if len(values) > 2:
        raise AuditInputError(
            f"{what} has {len(values)} distinct values ({shown}{more}); a binary audit needs two. Map them to "
            "a yes/no decision first (e.g. data['label'] = (data['grade'] >= 2).astype(int))."
        )
    zero_one = all(_same(v, 0) or _same(v, 1) for v in values)
    if pos_label is None:
        if zero_one:
            return [v for v in values if _same(v, 1)]
        example = sorted(values, key=str)[-1]
        raise AuditInputError(
            f"{what} has values {shown}, not 0/1: say which one is favourable with pos_label=, "
            f"e.g. pos_label={example!r}."
        )
    matched = [v for v in values if _same(v, pos_label)]
    if matched or (zero_one and _same(pos_label, 1)):
        return matched
    example = sorted(values, key=str)[0] if values else None
    raise AuditInputError(
        f"{what} has values {shown}{more}, and pos_label={pos_label!r} is not one "
        f"of them. Pass pos_label= set to the favourable value, e.g. pos_label={example!r}."
    )


def _kind(value: Any) -> str:
    if isinstance(value, (bool, int, float, np.bool_, np.number)):
        return "number"
    return "text" if isinstance(value, str) else type(value).__name__


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------- sensitive groups
def encode_sensitive(data: pd.DataFrame, sensitive: str | Sequence | None, required: bool = True, *,
                     meanwhile: Callable[[ThreadPoolExecutor], Any] | None = None) -> SensitiveGroups:
    """Integer codes of the finest crossing of the sensitive attributes, and the group names (with
    ``required=False`` and no attribute: no attributes and one group holding every row). ``meanwhile(pool)``
    runs while the columns are coded (it may add work to their pool, run before the results are read)."""
    single = isinstance(sensitive, (str, pd.Series)) or (isinstance(sensitive, np.ndarray) and sensitive.ndim == 1)
    items = [] if sensitive is None else [sensitive] if single else list(sensitive)
    if not items:
        if not required:
            if meanwhile is not None:
                with ThreadPoolExecutor(max_workers=1) as pool:
                    meanwhile(pool)
            return SensitiveGroups((), ((),), np.zeros(len(data), dtype=np.int64))
        raise AuditInputError("The 'sensitive' argument is empty: name at least one sensitive column (or give "
                              "estimated attributes with sensitive_proba=).")
    resolved, unresolved = [], None
    for position, item in enumerate(items):
        try:
            series, name = column(data, "sensitive", item)
        except (AuditInputError, AuditTypeError) as error:  # raised after the checks of the columns before it
            unresolved = error
            break
        resolved.append((series, name or f"sensitive_{position}"))
    names, codes, labels = [], [], []
    with ThreadPoolExecutor(max_workers=max(1, min(len(resolved) + 1, os.cpu_count() or 1))) as pool:
        # factorising releases the GIL (arrow strings): the columns are coded side by side, checked in turn
        coded = [pool.submit(factorize, series, name=name) for series, name in resolved]
        if meanwhile is not None:
            meanwhile(pool)
        for (_, name), job in zip(resolved, coded, strict=True):
            if name in names:
                raise AuditInputError(f"The 'sensitive' argument names column {name!r} twice.")
            code, uniques = job.result()
            _check_group_values(name, uniques)
            missing = code < 0
            if missing.any():
                warnings.warn(
                    f"Sensitive column {name!r} has {int(missing.sum())} missing value(s); they are audited "
                    f"as the group {MISSING_GROUP!r}.",
                    MissingSensitiveValueWarning,
                    stacklevel=3,
                )
                code = np.where(missing, len(uniques), code)
                uniques = uniques + [MISSING_GROUP]
            if len(uniques) < 2:
                warnings.warn(
                    f"Sensitive column {name!r} has one group only ({uniques[0]!r}); its disparities are "
                    "undefined (NaN).",
                    SingleGroupWarning,
                    stacklevel=3,
                )
            names.append(name)
            codes.append(code)
            labels.append(uniques)
    if unresolved is not None:
        raise unresolved
    finest, combos = _cross(codes, [len(u) for u in labels])
    groups = tuple(tuple(labels[a][c] for a, c in enumerate(combo)) for combo in combos)
    _check_crossings(names, groups)
    return SensitiveGroups(tuple(names), groups, finest)


def _check_group_values(name: str, uniques: list[str]) -> None:
    """Refuse a sensitive column with a value named like the missing group, or with too many values."""
    if MISSING_GROUP in uniques:
        raise AuditInputError(
            f"Sensitive column {name!r} has the value {MISSING_GROUP!r}, the name fairaudit gives to missing "
            "values: the report could not tell them apart. Rename that value (e.g. "
            f"data[{name!r}].replace({MISSING_GROUP!r}, 'not stated')), or make it a real missing value (NaN)."
        )
    if len(uniques) > MAX_GROUPS_PER_ATTRIBUTE:
        raise AuditInputError(
            f"Sensitive column {name!r} has {len(uniques)} distinct values, more than the limit of "
            f"{MAX_GROUPS_PER_ATTRIBUTE}: groups that small cannot be audited. Bin it first, e.g. "
            f"data['{name}_group'] = pd.cut(data['{name}'], bins=[0, 25, 45, 65, 120])."
        )


def _check_crossings(names: list[str], groups: tuple[tuple[str, ...], ...]) -> None:
    """Refuse attribute or group names whose crossings print the same (``"p & q"`` x ``"r"`` and
    ``"p"`` x ``"q & r"`` both read ``"p & q & r"``): the report would merge or confuse them."""
    if len(names) < 2 or not any(JOIN in text for text in [*names, *itertools.chain(*groups)]):
        return
    views: dict[str, tuple[str, ...]] = {}
    for size in range(1, len(names) + 1):
        for chosen in itertools.combinations(range(len(names)), size):
            view = JOIN.join(names[i] for i in chosen)
            if view in views:
                raise AuditInputError(
                    f"Sensitive columns {' and '.join(repr(n) for n in views[view])} and crossing "
                    f"{' and '.join(repr(names[i]) for i in chosen)} would both be reported as {view!r}; rename "
                    f"the columns so that none contains {JOIN!r}."
                )
            views[view] = tuple(names[i] for i in chosen)
            seen: dict[str, tuple[str, ...]] = {}
            for group in groups:
                parts = tuple(group[i] for i in chosen)
                label = JOIN.join(parts)
                if seen.setdefault(label, parts) != parts:
                    raise AuditInputError(
                        f"Sensitive columns {', '.join(repr(names[i]) for i in chosen)}: groups {seen[label]!r} and "
                        f"{parts!r} would both be reported as {label!r}. Rename the values that contain "
                        f"{JOIN!r} (e.g. data[col].str.replace(' & ', ' and '))."
                    )


def factorize(series: pd.Series, *, name: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Codes 0..k-1 of the observed values in sorted order (-1 for missing) and their names; refuses
    distinct values with the same name (``1`` and ``"1"``)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        _check_names(np.asarray(series.cat.categories), name)
        return _compact(series.cat.codes.to_numpy(), np.asarray(series.cat.categories))
    values = series.to_numpy() if series.dtype.kind in "iub" else None  # strings are not copied to objects
    if values is not None and values.dtype.kind in "iub" and values.size:
        low = int(values.min())
        if int(values.max()) - low < 1 << 20:
            shifted = values.astype(np.int64) - low
            return _compact(shifted, np.arange(low, int(values.max()) + 1))
    try:
        code, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    except TypeError:
        _check_names(pd.unique(series.dropna()), name)
        code, uniques = pd.factorize(series.astype(str).where(series.notna()), sort=True)
    names = [group_name(v) for v in uniques]
    if len(set(names)) < len(names):
        _check_names(uniques, name)
    return code.astype(np.int64, copy=False), names


def _check_names(values: Any, name: str | None) -> None:
    named: dict[str, Any] = {}
    for value in values:
        other = named.setdefault(group_name(value), value)
        if other is not value and not _same(other, value):
            where = f"Column {name!r}" if name is not None else "A column"
            raise AuditInputError(
                f"{where} has distinct values {_plain(other)!r} and {_plain(value)!r} that read the same in a "
                f"report; convert the column to one type first (e.g. data[{name or 'col'!r}].astype(str))."
            )


def _compact(codes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Renumber codes (into ``labels``; -1 missing) to the observed labels only, in one pass."""
    present = np.flatnonzero(np.bincount(codes[codes >= 0] if (codes < 0).any() else codes,
                                         minlength=len(labels)))
    remap = np.full(len(labels) + 1, -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    return remap[codes], [group_name(v) for v in labels[present]]


def group_name(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cross(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Combine per-attribute codes into codes of the observed crossings (mixed radix, then compacted)."""
    combined = np.asarray(codes[0], dtype=np.int64)
    for position, (code, size) in enumerate(zip(codes[1:], sizes[1:], strict=True)):
        if position:
            combined *= size
        else:  # the first product is a new array: no copy of the first codes, and all in one integer type
            combined = combined * size
        combined += code
    present, finest = compact(combined, int(np.prod(sizes, dtype=np.float64)))
    combos = []
    for value in present.tolist():
        digits = []
        for size in reversed(sizes):
            value, digit = divmod(value, size)
            digits.append(digit)
        combos.append(tuple(reversed(digits)))
    return finest, combos


# ---------------------------------------------------------------------------- the door
def resolve_inputs(
    data: Any,
    *,
    sensitive: Any,
    target: Any,
    features: Sequence[str] | None,
    y_pred: Any,
    y_score: Any,
    sample_weight: Any,
    pos_label: Any,
    threshold: float,
    confidence: float,
    n_boot: int,
    model: Any,
    task: str = "binary",
    top_k: float | int | None = None,
    sensitive_required: bool = True,
) -> AuditInputs:
    """Validate every argument of :func:`fairaudit.audit` and align the columns."""
    if not isinstance(data, pd.DataFrame):
        raise AuditTypeError(
            f"The 'data' argument must be a pandas DataFrame; got {type(data).__name__}. "
            "Convert it with pd.DataFrame(...) first."
        )
    if len(data) == 0:
        raise AuditInputError("The 'data' argument has no rows: there is nothing to audit.")
    repeated = data.columns[data.columns.duplicated()]
    if len(repeated):
        raise AuditInputError(
            f"The 'data' argument has the column name {repeated[0]!r} more than once; fairaudit refers to "
            "columns by name: rename or drop the duplicates (e.g. data.loc[:, ~data.columns.duplicated()])."
        )
    check_options(threshold=threshold, confidence=confidence, n_boot=n_boot)
    check_decision_source(y_pred, top_k)

    probabilities = top_k is None and task != "score"
    early: dict[str, Any] = {}

    def meanwhile(pool: ThreadPoolExecutor) -> None:
        """The target and score columns, checked while the sensitive columns are coded (their errors reported
        after the sensitive columns', in turn); a probability column's bins computed in the pool."""
        early["target"] = _checked(_target_column, data, target, task, threshold, pos_label)
        early["score"] = _checked(_score_column, data, y_score, threshold, probabilities)
        if not isinstance(early["score"], Exception) and early["score"][1] is not None and probabilities:
            pool.submit(bin_scores, early["score"][1], histogram=target is not None, keep=True)

    groups = encode_sensitive(data, sensitive, required=sensitive_required, meanwhile=meanwhile)
    used = set(groups.attributes)
    if isinstance(early["target"], Exception):
        raise early["target"]
    target_name, y_true = early["target"]
    if target is not None:
        used.add(target_name)
    weight = None
    if sample_weight is not None:
        series, name = column(data, "sample_weight", sample_weight)
        weight = _check_weights(series, name)
        used.add(name)
    pred = score = segments = None
    if y_pred is not None:
        series, name = column(data, "y_pred", y_pred)
        if task == "segmentation":
            _check_no_missing("y_pred", series, name)
            segments = series
        elif task == "score":
            raise AuditInputError("task='score' audits a continuous score: pass y_score=, not y_pred=.")
        else:
            pred = binarize_labels("y_pred", series, pos_label, name)
        used.add(name)
    if isinstance(early["score"], Exception):  # reported after the columns checked before it
        raise early["score"]
    if y_score is not None:
        name, score = early["score"]
        used.add(name)
    if model is None and pred is None and score is None and segments is None:
        raise AuditInputError(
            "No predictions to audit: pass a model, or model=None with y_pred= and/or y_score= naming "
            "columns of data."
        )
    return AuditInputs(
        data=data,
        sensitive=groups,
        y_true=y_true,
        target_name=target_name,
        y_pred=pred,
        segment_column=segments,
        y_score=score,
        sample_weight=weight,
        features=_resolve_features(data, features, model, used - {None}),
        pos_label=1 if pos_label is None else pos_label,
        threshold=float(threshold),
        confidence=float(confidence),
        n_boot=int(n_boot),
    )


def _checked(check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, or the input error it raises."""
    try:
        return check(*args)
    except (AuditInputError, AuditTypeError) as error:
        return error


def _target_column(data: pd.DataFrame, target: Any, task: str, threshold: float,
                   pos_label: Any) -> tuple[str | None, np.ndarray | None]:
    """The target column's name and checked values (labels as 0/1; numbers for a score audit)."""
    if target is None:
        return None, None
    series, name = column(data, "target", target)
    if task == "score":
        return name, check_scores("target", series, threshold, probabilities=False, name=name)
    return name, binarize_labels("target", series, pos_label, name)


def _score_column(data: pd.DataFrame, y_score: Any, threshold: float,
                  probabilities: bool) -> tuple[str | None, np.ndarray | None]:
    """The ``y_score`` column's name and checked scores."""
    if y_score is None:
        return None, None
    series, name = column(data, "y_score", y_score)
    return name, check_scores("y_score", series, threshold, probabilities=probabilities, name=name)


def check_decision_source(y_pred: Any, top_k: Any) -> None:
    """Refuse two sources of the decisions: given ones (``y_pred``) and the top-ranked rows (``top_k``)."""
    if y_pred is not None and top_k is not None:
        named = f" ({y_pred!r})" if isinstance(y_pred, str) else ""
        raise AuditInputError(
            f"The 'y_pred' argument{named} gives the decisions, and the 'top_k' argument would decide from the "
            "scores instead: pass one of them (y_pred= to audit the given decisions, or top_k= with y_score= "
            "to audit who is ranked in the top k)."
        )


def check_top_k(top_k: Any, rows: int) -> int:
    """The number of rows ``top_k`` targets: a fraction in (0, 1] of the rows, or a count."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, float, np.integer, np.floating)):
        raise AuditTypeError(f"The 'top_k' argument must be a fraction in (0, 1] or a row count; got {top_k!r}.")
    if isinstance(top_k, (float, np.floating)):
        if not 0 < top_k <= 1:
            raise AuditInputError(
                f"The 'top_k' argument {top_k!r} is a fraction outside (0, 1]; pass e.g. top_k=0.1 for the top "
                "10%, or an integer count of rows."
            )
        return max(1, int(np.ceil(top_k * rows)))
    if not 1 <= top_k <= rows:
        raise AuditInputError(
            f"The 'top_k' argument {top_k} is not between 1 and the {rows} rows of data."
        )
    return int(top_k)


def check_options(*, threshold: float, confidence: float, n_boot: int) -> None:
    if not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        raise AuditInputError(f"The 'threshold' argument must be a finite number; got {threshold!r}.")
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise AuditInputError(
            f"The 'confidence' argument must be a float in (0, 1), e.g. 0.95; got {confidence!r}."
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise AuditInputError(
            f"The 'n_boot' argument must be an integer >= 0 (0 turns the bootstrap off); got {n_boot!r}."
        )


def _check_weights(series: pd.Series, name: str | None = None) -> np.ndarray:
    what = _what("sample_weight", name)
    try:
        weights = series.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise AuditTypeError(f"{what} must be numeric; got values of type {series.dtype}.") from None
    bad_nan = int(np.isnan(weights).sum())
    if bad_nan:
        raise AuditInputError(f"{what} has {bad_nan} missing value(s) (NaN); every row needs a weight.")
    if not np.all(np.isfinite(weights)):
        raise AuditInputError(f"{what} has infinite values; weights must be finite.")
    negative = int((weights < 0).sum())
    if negative:
        raise AuditInputError(f"{what} has {negative} negative value(s) (min {weights.min():g}); weights must be >= 0.")
    with np.errstate(over="ignore"):
        total, squares = float(weights.sum()), float(np.sum(np.square(weights)))
    if total <= 0:
        raise AuditInputError(f"{what} sums to 0: at least one row needs a weight > 0.")
    if not np.isfinite(squares) or not np.isfinite(total) or total > 1e154:
        raise AuditInputError(
            f"{what} holds weights too large to sum in floating point (max {weights.max():g}); only their ratios "
            "matter to the audit: divide them by their mean first (w / w.mean())."
        )
    return weights


def check_scores(argument: str, values: Any, threshold: float, probabilities: bool = True,
                 name: str | None = None) -> np.ndarray:
    """Scores as floats; refuses NaN and infinities, and (for ``probabilities``) scores outside [0, 1]
    (no silent clipping)."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    what = _what(argument, name)
    try:
        scores = series.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise AuditTypeError(
            f"{what} must hold numeric scores; got values of type {series.dtype}."
        ) from None
    if scores.size:  # the usual case in two passes: the extremes are finite (no NaN) and, for probabilities, in [0, 1]
        low, high = scores.min(), scores.max()
        if np.isfinite(low) and np.isfinite(high) and (not probabilities or (low >= 0 and high <= 1)):
            return scores
    missing = int(np.isnan(scores).sum())
    if missing:
        raise AuditInputError(
            f"{what} has {missing} missing value(s) (NaN) out of {len(scores)}. "
            "fairaudit drops no rows silently: fill or remove those rows before the audit."
        )
    infinite = int(np.isinf(scores).sum())
    if infinite:
        raise AuditInputError(
            f"{what} has {infinite} infinite score(s); every score must be a finite number."
        )
    outside = int(((scores < 0) | (scores > 1)).sum()) if probabilities else 0
    if outside:
        raise AuditInputError(
            f"{what} has {outside} score(s) outside [0, 1] (min {scores.min():g}, "
            f"max {scores.max():g}), but threshold={threshold:g} is meant for probabilities. Pass "
            "probabilities of the positive class (e.g. predict_proba(X)[:, 1]), audit a continuous score with "
            "task='score', or rank it with top_k=; fairaudit does not clip scores."
        )
    return scores


def _resolve_features(data: pd.DataFrame, features: Sequence[str] | None, model: Any,
                      used: set[str]) -> list[str]:
    if features is None:
        known = getattr(model, "feature_names_in_", None)
        if known is not None:
            features = [str(c) for c in known]
        else:
            return [str(c) for c in data.columns if str(c) not in used]
    if isinstance(features, str):
        features = [features]
    features = list(features)
    for name in features:
        if name not in data.columns:
            raise _unknown_column("features", name, data)
    return features
