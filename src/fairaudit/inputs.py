"""Resolve and validate the inputs of an audit, once, at the door.

Every error names the argument or column, says what was found and what to do. Nothing is dropped
silently: missing sensitive values become the explicit group ``"(missing)"`` with a warning.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.stats import MISSING_GROUP

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
    """A column of ``data`` by name, or an array aligned with it; returns the series and its name."""
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
        return pd.Series(values, index=data.index, name=name), None if name is None else str(name)
    raise AuditTypeError(
        f"The '{argument}' argument must be a column name of data or an array aligned with it; "
        f"got {type(value).__name__}."
    )


def _check_no_missing(argument: str, series: pd.Series) -> None:
    missing = int(series.isna().sum())
    if missing:
        raise AuditInputError(
            f"The '{argument}' argument has {missing} missing value(s) (NaN) out of {len(series)}. "
            "fairaudit drops no rows silently: fill or remove those rows before the audit."
        )


def binarize_labels(argument: str, series: pd.Series, pos_label: Any) -> np.ndarray:
    """Labels as 0/1 with ``pos_label`` as 1; refuses labels the positive label does not fit."""
    _check_no_missing(argument, series)
    values = pd.unique(series)
    if any(_same(v, pos_label) for v in values):
        return np.asarray(series.to_numpy() == pos_label, dtype=np.int8)
    if all(_same(v, 0) or _same(v, 1) for v in values) and _same(pos_label, 1):
        return np.asarray(series.to_numpy() == 1, dtype=np.int8)
    shown = ", ".join(repr(_plain(v)) for v in sorted(values, key=str)[:10])
    more = "" if len(values) <= 10 else f" and {len(values) - 10} more"
    raise AuditInputError(
        f"The '{argument}' argument has values {shown}{more}, and pos_label={pos_label!r} is not one "
        f"of them. Pass pos_label= set to the favourable value, e.g. pos_label={_plain(values[0])!r}."
    )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------- sensitive groups
def encode_sensitive(data: pd.DataFrame, sensitive: str | Sequence) -> SensitiveGroups:
    """Integer codes of the finest crossing of the sensitive attributes, and the group names."""
    items = [sensitive] if isinstance(sensitive, (str, pd.Series)) else list(sensitive)
    if not items:
        raise AuditInputError("The 'sensitive' argument is empty: name at least one sensitive column.")
    names, codes, labels = [], [], []
    for position, item in enumerate(items):
        series, name = column(data, "sensitive", item)
        name = name or f"sensitive_{position}"
        if name in names:
            raise AuditInputError(f"The 'sensitive' argument names column {name!r} twice.")
        code, uniques = factorize(series)
        if len(uniques) > MAX_GROUPS_PER_ATTRIBUTE:
            raise AuditInputError(
                f"Sensitive column {name!r} has {len(uniques)} distinct values, more than the limit of "
                f"{MAX_GROUPS_PER_ATTRIBUTE}: groups that small cannot be audited. Bin it first, e.g. "
                f"data['{name}_group'] = pd.cut(data['{name}'], bins=[0, 25, 45, 65, 120])."
            )
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
    finest, combos = _cross(codes, [len(u) for u in labels])
    groups = tuple(tuple(labels[a][c] for a, c in enumerate(combo)) for combo in combos)
    return SensitiveGroups(tuple(names), groups, finest)


def factorize(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes 0..k-1 of the observed values in sorted order (-1 for missing) and their names."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _compact(series.cat.codes.to_numpy(), np.asarray(series.cat.categories))
    values = series.to_numpy()
    if values.dtype.kind in "iub" and values.size:
        low = int(values.min())
        if int(values.max()) - low < 1 << 20:
            shifted = values.astype(np.int64) - low
            return _compact(shifted, np.arange(low, int(values.max()) + 1))
    try:
        code, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    except TypeError:
        code, uniques = pd.factorize(series.astype(str).where(series.notna()), sort=True)
    return code.astype(np.int64), [group_name(v) for v in uniques]


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
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    for code, size in zip(codes, sizes, strict=True):
        combined = combined * size + code
    space = int(np.prod(sizes, dtype=np.float64))
    if space <= 1 << 22:
        present = np.flatnonzero(np.bincount(combined, minlength=space))
        remap = np.zeros(space, dtype=np.int64)
        remap[present] = np.arange(present.size)
        finest = remap[combined]
    else:
        present, finest = np.unique(combined, return_inverse=True)
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
) -> AuditInputs:
    """Validate every argument of :func:`fairaudit.audit` and align the columns."""
    if not isinstance(data, pd.DataFrame):
        raise AuditTypeError(
            f"The 'data' argument must be a pandas DataFrame; got {type(data).__name__}. "
            "Convert it with pd.DataFrame(...) first."
        )
    if len(data) == 0:
        raise AuditInputError("The 'data' argument has no rows: there is nothing to audit.")
    check_options(threshold=threshold, confidence=confidence, n_boot=n_boot)

    groups = encode_sensitive(data, sensitive)
    used = set(groups.attributes)
    y_true, target_name = None, None
    if target is not None:
        series, target_name = column(data, "target", target)
        if task == "score":
            y_true = check_scores("target", series, threshold, probabilities=False)
        else:
            y_true = binarize_labels("target", series, pos_label)
        used.add(target_name)
    weight = None
    if sample_weight is not None:
        series, name = column(data, "sample_weight", sample_weight)
        weight = _check_weights(series)
        used.add(name)
    pred = score = segments = None
    if y_pred is not None:
        series, name = column(data, "y_pred", y_pred)
        if task == "segmentation":
            _check_no_missing("y_pred", series)
            segments = series
        elif task == "score":
            raise AuditInputError("task='score' audits a continuous score: pass y_score=, not y_pred=.")
        else:
            pred = binarize_labels("y_pred", series, pos_label)
        used.add(name)
    if y_score is not None:
        series, name = column(data, "y_score", y_score)
        score = check_scores("y_score", series, threshold, probabilities=top_k is None and task != "score")
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
        pos_label=pos_label,
        threshold=float(threshold),
        confidence=float(confidence),
        n_boot=int(n_boot),
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


def _check_weights(series: pd.Series) -> np.ndarray:
    try:
        weights = series.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise AuditTypeError(
            f"The 'sample_weight' argument must be numeric; got values of type {series.dtype}."
        ) from None
    bad_nan = int(np.isnan(weights).sum())
    if bad_nan:
        raise AuditInputError(
            f"The 'sample_weight' argument has {bad_nan} missing value(s) (NaN); every row needs a weight."
        )
    if not np.all(np.isfinite(weights)):
        raise AuditInputError("The 'sample_weight' argument has infinite values; weights must be finite.")
    negative = int((weights < 0).sum())
    if negative:
        raise AuditInputError(
            f"The 'sample_weight' argument has {negative} negative value(s) (min {weights.min():g}); "
            "weights must be >= 0."
        )
    if weights.sum() <= 0:
        raise AuditInputError("The 'sample_weight' argument sums to 0: at least one row needs a weight > 0.")
    return weights


def check_scores(argument: str, values: Any, threshold: float, probabilities: bool = True) -> np.ndarray:
    """Scores as floats; refuses NaN and infinities, and (for ``probabilities``) scores outside [0, 1]
    (no silent clipping)."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    try:
        scores = series.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise AuditTypeError(
            f"The '{argument}' argument must hold numeric scores; got values of type {series.dtype}."
        ) from None
    missing = int(np.isnan(scores).sum())
    if missing:
        raise AuditInputError(
            f"The '{argument}' argument has {missing} missing value(s) (NaN) out of {len(scores)}. "
            "fairaudit drops no rows silently: fill or remove those rows before the audit."
        )
    infinite = int(np.isinf(scores).sum())
    if infinite:
        raise AuditInputError(
            f"The '{argument}' argument has {infinite} infinite score(s); every score must be a finite number."
        )
    outside = int(((scores < 0) | (scores > 1)).sum()) if probabilities else 0
    if outside:
        raise AuditInputError(
            f"The '{argument}' argument has {outside} score(s) outside [0, 1] (min {scores.min():g}, "
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
