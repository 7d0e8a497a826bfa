"""The model adapter: turns any model into decisions (0/1) and, where it has them, scores in [0, 1].

Task inference lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from fairaudit.inputs import (
    MAX_GROUPS_PER_ATTRIBUTE,
    AuditInputError,
    AuditInputs,
    AuditTypeError,
    binarize_labels,
    check_scores,
    check_top_k,
    factorize,
)

SUPPORTED_TASKS = ("auto", "binary", "score", "segmentation", "ranking")


@dataclass(frozen=True)
class Predictions:
    """What the audit measures: decisions, optional scores, segments, and where they came from.

    ``targeted`` is the number of rows a ``top_k`` rule selected (ties at the cutoff included)."""

    y_pred: np.ndarray
    y_score: np.ndarray | None
    source: str
    task: str = "binary"
    segments: np.ndarray | None = None
    segment_labels: tuple[str, ...] = ()
    targeted: int | None = None


def infer_task(task: str, model: Any, top_k: float | int | None = None, query: Any = None) -> str:
    """The task to audit: ``"ranking"`` when ``query`` names the lists, ``"segmentation"`` for clustering
    models, ``"score"`` for regressors, else ``"binary"``; a ``top_k`` rule turns any score into a binary
    decision (in a ranking it is the list cutoff)."""
    if task not in SUPPORTED_TASKS:
        raise AuditInputError(
            f"The 'task' argument must be one of {', '.join(map(repr, SUPPORTED_TASKS))}; got {task!r}."
        )
    if query is not None and task in ("auto", "ranking"):
        return "ranking"
    if task == "ranking":
        raise AuditInputError("task='ranking' needs query= naming the column that identifies each list (the "
                              "customer id), with y_rank= or y_score= and item=.")
    if top_k is not None and task in ("auto", "score"):
        return "binary"
    if task == "auto":
        if is_clusterer(model):
            return "segmentation"
        return "score" if _is_regressor(model) else "binary"
    return task


def _is_regressor(model: Any) -> bool:
    try:
        from sklearn.base import is_regressor

        return bool(is_regressor(model))
    except (AttributeError, TypeError, ValueError):
        return False


def predict(model: Any, inputs: AuditInputs, task: str = "binary", top_k: float | int | None = None) -> Predictions:
    """Decisions and scores (or segments) from precomputed columns or from the model."""
    if task == "segmentation":
        return _segments(model, inputs)
    if task == "score":
        return _continuous(model, inputs)
    if model is None:
        return _from_columns(inputs, top_k)
    X = inputs.data[inputs.features]
    if is_clusterer(model):
        raise AuditInputError(
            f"The 'model' argument is a clustering model ({type(model).__name__}): its cluster ids are "
            "segments, not yes/no decisions. Audit it with task='segmentation' (and favorable=[...] for the "
            "segments that count as a favourable decision)."
        )
    if hasattr(model, "predict_proba"):
        proba = _call(model.predict_proba, X, "predict_proba", inputs)
        scores = _positive_column(proba, model, inputs.pos_label)
        return _decide(check_scores("model.predict_proba", scores, inputs.threshold), inputs, "predict_proba", top_k)
    if hasattr(model, "decision_function"):
        margin = np.asarray(_call(model.decision_function, X, "decision_function", inputs), dtype=float)
        if margin.ndim != 1:
            raise AuditInputError("model.decision_function returned more than one column: not a binary model.")
        classes = getattr(model, "classes_", None)
        if classes is not None and len(classes) == 2 and classes[0] == inputs.pos_label:
            margin = -margin
        return _decide(expit(margin), inputs, "decision_function (logistic)", top_k)
    if hasattr(model, "predict"):
        return _from_output(_call(model.predict, X, "predict", inputs), inputs, "predict", top_k)
    if callable(model):
        return _from_output(_call(model, X, "model", inputs), inputs, "callable", top_k)
    raise AuditTypeError(
        f"The 'model' argument of type {type(model).__name__} has no predict_proba, decision_function or "
        "predict method and is not callable. Pass a fitted estimator, a function of the feature "
        "DataFrame, or model=None with y_pred=/y_score= naming columns of data."
    )


def is_clusterer(model: Any) -> bool:
    """scikit-learn's own judgement of whether a model clusters (False for non-estimators)."""
    try:
        from sklearn.base import is_clusterer as sklearn_is_clusterer

        return bool(sklearn_is_clusterer(model))
    except (AttributeError, TypeError, ValueError):
        return False


def _call(method: Any, X: pd.DataFrame, name: str, inputs: AuditInputs) -> np.ndarray:
    output = np.asarray(method(X))
    if output.shape[0] != len(inputs.data):
        raise AuditInputError(
            f"{name} returned {output.shape[0]} predictions for {len(inputs.data)} rows of data."
        )
    return output


def _positive_column(proba: np.ndarray, model: Any, pos_label: Any) -> np.ndarray:
    if proba.ndim == 1:
        return proba
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) == proba.shape[1]:
        matches = [i for i, c in enumerate(classes) if c == pos_label]
        if not matches:
            raise AuditInputError(
                f"pos_label={pos_label!r} is not one of the model's classes {list(classes)}; pass "
                "pos_label= set to the favourable class."
            )
        return proba[:, matches[0]]
    if proba.shape[1] == 2:
        return proba[:, 1]
    raise AuditInputError(
        f"predict_proba returned {proba.shape[1]} columns and the model has no classes_: "
        "cannot tell which column is the positive class."
    )


def _from_output(output: np.ndarray, inputs: AuditInputs, source: str, top_k: float | int | None) -> Predictions:
    """A callable's or ``predict``'s output: probabilities (2 columns), scores, or labels."""
    if output.ndim == 2 and output.shape[1] == 2:
        return _decide(check_scores(source, output[:, 1], inputs.threshold), inputs, source, top_k)
    if output.ndim != 1:
        raise AuditInputError(f"{source} returned an array of shape {output.shape}; expected one value per row.")
    if output.dtype.kind == "f":
        finite = output[np.isfinite(output)]
        if not np.all(np.isin(finite, (0.0, 1.0))) or top_k is not None:
            scores = check_scores(source, output, inputs.threshold, probabilities=top_k is None)
            return _decide(scores, inputs, source, top_k)
    if top_k is not None:
        raise AuditInputError(f"The 'top_k' argument needs scores to rank, but {source} returned labels.")
    distinct = pd.unique(output)
    if len(distinct) > 2:
        raise AuditInputError(
            f"{source} returned {len(distinct)} distinct labels; a binary audit needs two. Pass a binary "
            "classifier, or map its output to a decision column and pass it as y_pred=."
        )
    labels = binarize_labels(f"{source} output", pd.Series(output), inputs.pos_label)
    return Predictions(labels, inputs.y_score, source)


def _decide(scores: np.ndarray, inputs: AuditInputs, source: str, top_k: float | int | None) -> Predictions:
    """Decisions from scores: at or above the threshold, or among the ``top_k`` highest.

    Top-k: every row whose score ties with the k-th highest is targeted too, so that equal scores get
    equal decisions; the number targeted is recorded. Scores outside [0, 1] rank but are not
    probabilities, so probability metrics are not computed from them."""
    if top_k is None:
        return Predictions((scores >= inputs.threshold).astype(np.int8), scores, source)
    k = check_top_k(top_k, len(scores))
    cutoff = -np.partition(-scores, k - 1)[k - 1]
    decisions = (scores >= cutoff).astype(np.int8)
    probabilities = scores if scores.min() >= 0 and scores.max() <= 1 else None
    return Predictions(decisions, probabilities, f"{source}, top {k}", targeted=int(decisions.sum()))


def _from_columns(inputs: AuditInputs, top_k: float | int | None) -> Predictions:
    if top_k is not None:
        if inputs.y_score is None:
            raise AuditInputError("The 'top_k' argument needs scores to rank: pass y_score= or a model with scores.")
        return _decide(inputs.y_score, inputs, "columns", top_k)
    if inputs.y_pred is not None:
        return Predictions(inputs.y_pred, inputs.y_score, "columns")
    return _decide(inputs.y_score, inputs, "columns", None)


def one_value_per_row(model: Any, inputs: AuditInputs, what: str) -> tuple[np.ndarray, str]:
    """The output of ``model.predict`` (or of the callable) on the features: one ``what`` per row."""
    method = getattr(model, "predict", None) or (model if callable(model) else None)
    if method is None:
        raise AuditTypeError(
            f"The 'model' argument of type {type(model).__name__} cannot give a {what} per row: it has no predict "
            f"method and is not callable. Pass a fitted model, or model=None with the {what}s as a column."
        )
    output = _call(method, inputs.data[inputs.features], "model", inputs)
    if output.ndim != 1:
        raise AuditInputError(f"The model returned an array of shape {output.shape}; expected one {what} per row.")
    return output, "predict" if hasattr(model, "predict") else "callable"


def _continuous(model: Any, inputs: AuditInputs) -> Predictions:
    """Continuous scores from a regressor, a callable, or the ``y_score`` column."""
    if model is None:
        if inputs.y_score is None:
            raise AuditInputError("task='score' needs a model, or y_score= naming the column of scores.")
        scores, source = inputs.y_score, "columns"
    else:
        output, source = one_value_per_row(model, inputs, "score")
        scores = check_scores("model output", output, inputs.threshold, probabilities=False)
    return Predictions(np.zeros(len(scores), dtype=np.int8), scores, source, "score")


def check_segment_labels(labels: Sequence[str]) -> None:
    """Refuse a segmentation with one segment, or with more segments than a segmentation has."""
    if len(labels) < 2:
        raise AuditInputError(
            f"The segmentation assigns every row to one segment ({labels[0]!r}): there is nothing to compare."
        )
    if len(labels) > MAX_GROUPS_PER_ATTRIBUTE:
        raise AuditInputError(
            f"The segmentation has {len(labels)} distinct segments, more than {MAX_GROUPS_PER_ATTRIBUTE}: pass "
            "segment ids, not a continuous score (use top_k= to audit a ranking)."
        )


def _segments(model: Any, inputs: AuditInputs) -> Predictions:
    """Segment assignments from a clustering model, a callable, or the ``y_pred`` column."""
    if model is None:
        if inputs.segment_column is None:
            raise AuditInputError("task='segmentation' needs a model, or y_pred= naming the column of segments.")
        raw, source = inputs.segment_column, "columns"
    else:
        output, source = one_value_per_row(model, inputs, "segment")
        raw = pd.Series(output)
    if raw.isna().any():
        raise AuditInputError(f"The segments have {int(raw.isna().sum())} missing value(s); every row needs a segment.")
    codes, labels = factorize(raw)
    check_segment_labels(labels)
    return Predictions(np.zeros(len(codes), dtype=np.int8), None, source, "segmentation", codes, tuple(labels))
