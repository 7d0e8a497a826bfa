"""The model adapter: turns any model into decisions (0/1) and, where it has them, scores in [0, 1].

Task inference lives here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from fairaudit.inputs import AuditInputError, AuditInputs, AuditTypeError, binarize_labels, check_scores

SUPPORTED_TASKS = ("auto", "binary")


@dataclass(frozen=True)
class Predictions:
    """What the audit measures: decisions, optional scores, and where they came from."""

    y_pred: np.ndarray
    y_score: np.ndarray | None
    source: str
    task: str = "binary"


def infer_task(task: str) -> str:
    """The task to audit; binary classification is the one task of this version."""
    if task not in SUPPORTED_TASKS:
        raise AuditInputError(
            f"The 'task' argument must be one of {', '.join(map(repr, SUPPORTED_TASKS))}; got {task!r}."
        )
    return "binary"


def predict(model: Any, inputs: AuditInputs) -> Predictions:
    """Decisions and scores from precomputed columns or from the model."""
    if model is None:
        return _from_columns(inputs)
    X = inputs.data[inputs.features]
    if is_clusterer(model):
        raise AuditInputError(
            f"The 'model' argument is a clustering model ({type(model).__name__}): its cluster ids are "
            "segments, not yes/no decisions, and this version audits binary decisions only. Map the "
            "clusters to a decision column and pass it as y_pred=."
        )
    if hasattr(model, "predict_proba"):
        proba = _call(model.predict_proba, X, "predict_proba", inputs)
        scores = _positive_column(proba, model, inputs.pos_label)
        return _thresholded(check_scores("model.predict_proba", scores, inputs.threshold), inputs,
                            "predict_proba")
    if hasattr(model, "decision_function"):
        margin = np.asarray(_call(model.decision_function, X, "decision_function", inputs), dtype=float)
        if margin.ndim != 1:
            raise AuditInputError("model.decision_function returned more than one column: not a binary model.")
        classes = getattr(model, "classes_", None)
        if classes is not None and len(classes) == 2 and classes[0] == inputs.pos_label:
            margin = -margin
        return _thresholded(expit(margin), inputs, "decision_function (logistic)")
    if hasattr(model, "predict"):
        return _from_output(_call(model.predict, X, "predict", inputs), inputs, "predict")
    if callable(model):
        return _from_output(_call(model, X, "model", inputs), inputs, "callable")
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
            if len(classes) == 2 and set(np.asarray(classes).tolist()) == {0, 1}:
                return proba[:, 1]
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


def _from_output(output: np.ndarray, inputs: AuditInputs, source: str) -> Predictions:
    """A callable's or ``predict``'s output: probabilities (2 columns), scores in [0, 1], or labels."""
    if output.ndim == 2 and output.shape[1] == 2:
        return _thresholded(check_scores(source, output[:, 1], inputs.threshold), inputs, source)
    if output.ndim != 1:
        raise AuditInputError(f"{source} returned an array of shape {output.shape}; expected one value per row.")
    if output.dtype.kind == "f":
        finite = output[np.isfinite(output)]
        if not np.all(np.isin(finite, (0.0, 1.0))):
            return _thresholded(check_scores(source, output, inputs.threshold), inputs, source)
    distinct = pd.unique(output)
    if len(distinct) > 2:
        raise AuditInputError(
            f"{source} returned {len(distinct)} distinct labels; a binary audit needs two. Pass a binary "
            "classifier, or map its output to a decision column and pass it as y_pred=."
        )
    labels = binarize_labels(f"{source} output", pd.Series(output), inputs.pos_label)
    return Predictions(labels, inputs.y_score, source)


def _thresholded(scores: np.ndarray, inputs: AuditInputs, source: str) -> Predictions:
    """Decisions from scores: positive when the score is at or above the threshold."""
    return Predictions((scores >= inputs.threshold).astype(np.int8), scores, source)


def _from_columns(inputs: AuditInputs) -> Predictions:
    if inputs.y_pred is not None:
        return Predictions(inputs.y_pred, inputs.y_score, "columns")
    return _thresholded(inputs.y_score, inputs, "columns")
