"""The number that is explained: the model's output per row, read exactly as the audit reads it.

It mirrors :func:`fairaudit.models.predict`: ``predict_proba``'s column of ``pos_label`` (units
``"probability"``), else the logistic of ``decision_function`` (``"score"``), else ``predict`` or the
callable's output: scores as given (``"score"``), or labels turned into the 0/1 decision for
``pos_label`` (``"score"``; the mean of a decision is the selection rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from fairaudit.inputs import AuditInputError, AuditTypeError, binarize_labels
from fairaudit.models import _positive_column, is_clusterer


@dataclass(frozen=True)
class ModelOutput:
    """A function from feature rows to one float per row, and what those floats are."""

    function: Callable[[pd.DataFrame], np.ndarray]
    units: str
    source: str


def model_output(model: Any, pos_label: Any, probe: pd.DataFrame) -> ModelOutput:
    """How to read ``model``'s output; ``probe`` (rows of the data) decides between scores and labels."""
    if is_clusterer(model):
        raise AuditInputError(
            f"The 'model' argument is a clustering model ({type(model).__name__}); explanations cover "
            "binary classifiers and score models only."
        )
    if hasattr(model, "predict_proba"):
        def probability(X: pd.DataFrame) -> np.ndarray:
            return np.asarray(_positive_column(np.asarray(model.predict_proba(X)), model, pos_label), dtype=float)

        return ModelOutput(probability, "probability", "predict_proba")
    if hasattr(model, "decision_function"):
        classes = getattr(model, "classes_", None)
        sign = -1.0 if classes is not None and len(classes) == 2 and classes[0] == pos_label else 1.0

        def logistic(X: pd.DataFrame) -> np.ndarray:
            return expit(sign * np.asarray(model.decision_function(X), dtype=float))

        return ModelOutput(logistic, "score", "decision_function (logistic)")
    if hasattr(model, "predict"):
        return _from_output(model.predict, "predict", pos_label, probe)
    if callable(model):
        return _from_output(model, "callable", pos_label, probe)
    raise AuditTypeError(
        f"The 'model' argument of type {type(model).__name__} has no predict_proba, decision_function or "
        "predict method and is not callable: there is no output to explain."
    )


def _from_output(method: Callable, source: str, pos_label: Any, probe: pd.DataFrame) -> ModelOutput:
    sample = np.asarray(method(probe))
    if sample.ndim == 2 and sample.shape[1] == 2:
        return ModelOutput(lambda X: np.asarray(method(X), dtype=float)[:, 1], "score", source)
    if sample.ndim != 1:
        raise AuditInputError(f"{source} returned an array of shape {sample.shape}; expected one value per row.")
    if sample.dtype.kind == "f" and not np.all(np.isin(sample[np.isfinite(sample)], (0.0, 1.0))):
        return ModelOutput(lambda X: np.asarray(method(X), dtype=float), "score", source)
    labels = pd.Series(sample)
    if not (labels == pos_label).any() and labels.nunique() >= 2:
        binarize_labels(f"{source} output", labels, pos_label)  # raises unless 0/1 labels with pos_label=1

    def decision(X: pd.DataFrame) -> np.ndarray:
        return (pd.Series(np.asarray(method(X))) == pos_label).to_numpy(dtype=float)

    return ModelOutput(decision, "score", f"{source} (0/1 decision)")
