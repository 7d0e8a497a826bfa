"""The explainer chosen for a model: the fastest path that reproduces the model's own output.

Paths, fastest first:

* ``"tree"``: tree ensembles (scikit-learn forests, gradient boosting, HistGradientBoosting, decision
  trees, LightGBM, XGBoost and CatBoost when installed) go to :class:`shap.TreeExplainer` with its
  exact path-dependent algorithm (LightGBM and XGBoost through their native contributions).
* ``"linear"``: linear models (``coef_`` and ``intercept_``: logistic regression, linear SVMs, ridge,
  SGD, ...) get the exact linear SHAP values ``w_k (x_k - mean_k)`` (what :class:`shap.LinearExplainer`
  computes with independent features), ``mean_k`` taken over a background sample.
* ``"pipeline+tree"`` / ``"pipeline+linear"``: a scikit-learn Pipeline whose last step is one of the
  above. The last step is explained in its own (transformed) columns and each column's contribution
  is added back onto the raw feature it is computed from (:mod:`fairaudit.explain.mapping`), so the
  answer is in the features people know and still adds up exactly.
* ``"permutation"``: anything else (plain callables, unknown models, pipelines that mix features),
  with :mod:`fairaudit.explain.permutation`.

Units. Tree and linear paths give SHAP values of the model's raw output. When that output is
log-odds and the audited output is a probability (``expit`` of it), each row's contributions are
rescaled by ``(p(x) - p0) / (z(x) - z0)``, ``z0`` the expected log-odds and ``p0 = expit(z0)``: they
then add up exactly to the probability difference, keep their signs and their proportions within the
row (the "rescale rule"). That is a documented approximation: exact Shapley values of the probability
would need interventional TreeSHAP (about 300 rows/s here, and unavailable for categorical splits) or
sampling. When the raw output already is the probability (random forests), the rescaling is the
identity up to rounding. Before a fast path is used, it is checked on a pilot batch to reproduce the
model's output to ``LINK_TOLERANCE``; if not (or if shap cannot read the model), the permutation path
runs instead and the reason is kept in the explanation's notes. Every later batch is checked the same
way; a larger difference there is reported in the notes.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from fairaudit.explain.mapping import NotSeparableError, aggregation_matrix, as_array, column_owners
from fairaudit.explain.outputs import ModelOutput
from fairaudit.explain.permutation import permutation_values

LINK_TOLERANCE = 1e-5
"""Largest difference, on the pilot rows, between a fast path's prediction and the model's output."""

TREE_LIBRARIES = {
    "lightgbm": ("LGBMClassifier", "LGBMRegressor", "Booster"),
    "xgboost": ("XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor", "Booster"),
    "catboost": ("CatBoostClassifier", "CatBoostRegressor"),
}
PERMUTATION_PAIRS = 1
"""Antithetic permutation pairs per explained row on the permutation path."""


@dataclass(frozen=True)
class Batch:
    """Contributions of a batch of rows, in output units."""

    values: np.ndarray  # (rows, features)
    unmapped: np.ndarray  # (rows,): columns not traced to one raw feature (0 except on odd pipelines)
    output: np.ndarray  # (rows,): the model's output


class Explainer(ABC):
    kind: str
    base: float  # expected output: every row's contributions add up to output - base

    @abstractmethod
    def explain(self, X: pd.DataFrame, on_rows: Callable[[int], None] | None = None) -> Batch:
        """Contributions of the rows of ``X`` (columns: the raw features)."""


class FastPathUnavailable(Exception):
    """A tree or linear path cannot explain this model exactly."""


# ---------------------------------------------------------------------------- model families
def is_tree_ensemble(model: Any) -> bool:
    """A tree model shap's TreeExplainer reads (optional libraries detected without importing them)."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree

    sklearn_trees = (
        RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor,
        GradientBoostingClassifier, GradientBoostingRegressor, HistGradientBoostingClassifier,
        HistGradientBoostingRegressor, BaseDecisionTree,
    )
    if isinstance(model, sklearn_trees):
        return True
    library = type(model).__module__.split(".")[0]
    return type(model).__name__ in TREE_LIBRARIES.get(library, ())


def is_linear(model: Any) -> bool:
    """A fitted linear model of one output: ``coef_`` with one row and a single intercept."""
    coef, intercept = getattr(model, "coef_", None), getattr(model, "intercept_", None)
    if coef is None or intercept is None or np.size(intercept) != 1:
        return False
    coef = np.asarray(coef)
    classes = getattr(model, "classes_", None)
    return (coef.ndim == 1 or coef.shape[0] == 1) and (classes is None or len(classes) == 2)


def _pipeline_parts(model: Any) -> tuple[Any, Any] | None:
    """``(preprocessing, last step)`` of a scikit-learn Pipeline of two or more steps."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and len(model.steps) >= 2 and model.steps[-1][1] not in (None, "passthrough"):
        return model[:-1], model.steps[-1][1]
    return None


# ---------------------------------------------------------------------------- native contributions
class _Native(ABC):
    """SHAP values of a model's raw output in its own input columns, summed onto raw features."""

    def __init__(self, aggregate: np.ndarray):
        self.aggregate = aggregate  # (columns, features + 1)

    @abstractmethod
    def __call__(self, Xt: Any) -> tuple[np.ndarray, float]:
        """``(rows, features + 1)`` contributions (last column: unmapped) and the expected raw output."""


class _TreeNative(_Native):
    def __init__(self, model: Any, aggregate: np.ndarray, pos_label: Any):
        super().__init__(aggregate)
        with warnings.catch_warnings():  # shap's import warns about matplotlib's colormap API
            warnings.simplefilter("ignore")
            import shap

        self.explainer = shap.TreeExplainer(model)
        classes = getattr(model, "classes_", None)
        self.column = 1
        if classes is not None:
            matches = [i for i, c in enumerate(classes) if c == pos_label]
            self.column = matches[0] if matches else 1

    def __call__(self, Xt: Any) -> tuple[np.ndarray, float]:
        if hasattr(Xt, "toarray"):
            Xt = Xt.toarray()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = self.explainer.shap_values(Xt, check_additivity=False)
        if isinstance(values, list):
            values = np.stack(values, axis=-1)
        values = np.asarray(values, dtype=float)
        expected = np.atleast_1d(np.asarray(self.explainer.expected_value, dtype=float))
        if values.ndim == 3:
            values, expected = values[:, :, self.column], expected[self.column]
        else:
            expected = expected[0]
        return values @ self.aggregate, float(expected)


class _LinearNative(_Native):
    def __init__(self, model: Any, aggregate: np.ndarray, background_t: Any):
        super().__init__(aggregate)
        weights = np.asarray(model.coef_, dtype=float).ravel()
        mean = np.asarray(background_t.mean(axis=0), dtype=float).ravel()
        self.weighted = weights[:, None] * aggregate
        self.offset = (mean * weights) @ aggregate
        self.expected = float(mean @ weights + float(np.ravel(model.intercept_)[0]))

    def __call__(self, Xt: Any) -> tuple[np.ndarray, float]:
        values = np.asarray(Xt @ self.weighted, dtype=float) - self.offset
        return values, self.expected


def _to_float(X: Any) -> Any:
    if hasattr(X, "toarray"):
        return X.tocsr().astype(float)
    return as_array(X).astype(float)


# ---------------------------------------------------------------------------- the fast explainer
_LINKS = {
    ("identity", 1.0): lambda raw: raw,
    ("identity", -1.0): lambda raw: 1.0 - raw,
    ("logit", 1.0): expit,
    ("logit", -1.0): lambda raw: expit(-raw),
}


class FastExplainer(Explainer):
    """A tree or linear path, on the raw features or on a Pipeline's transformed columns."""

    def __init__(self, kind: str, transform: Callable[[pd.DataFrame], Any], native: _Native,
                 output: ModelOutput, pilot: pd.DataFrame):
        self.kind, self.transform, self.native, self.output = kind, transform, native, output
        values, expected = native(transform(pilot))
        truth = output.function(pilot)
        raw = expected + values.sum(axis=1)
        errors = {key: float(np.max(np.abs(link(raw) - truth))) for key, link in _LINKS.items()}
        (self.link, self.sign), error = min(errors.items(), key=lambda item: item[1])
        if not error <= LINK_TOLERANCE:
            raise FastPathUnavailable(
                f"the {kind} path does not reproduce the model's output (differs by up to {error:.3g})"
            )
        self.base = float(_LINKS[(self.link, self.sign)](expected))
        self.worst_error = error  # largest difference seen so far; checked again on every batch

    def explain(self, X: pd.DataFrame, on_rows: Callable[[int], None] | None = None) -> Batch:
        values, expected = self.native(self.transform(X))
        output = self.output.function(X)
        link = _LINKS[(self.link, self.sign)]
        self.worst_error = max(self.worst_error, float(np.max(np.abs(link(expected + values.sum(axis=1)) - output))))
        values = self.sign * values
        total = values.sum(axis=1)
        small = np.abs(total) < 1e-12
        slope = self.base * (1 - self.base) if self.link == "logit" else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(small, slope, (output - self.base) / np.where(small, 1.0, total))
        values = values * ratio[:, None]
        if on_rows is not None:
            on_rows(len(X))
        return Batch(values[:, :-1], values[:, -1], output)


class PermutationExplainer(Explainer):
    kind = "permutation"

    def __init__(self, output: ModelOutput, background: pd.DataFrame, rng: np.random.Generator,
                 pairs: int = PERMUTATION_PAIRS):
        self.output, self.background, self.rng, self.pairs = output, background.reset_index(drop=True), rng, pairs
        self.base = float(np.mean(output.function(self.background)))

    def explain(self, X: pd.DataFrame, on_rows: Callable[[int], None] | None = None) -> Batch:
        values, output = permutation_values(self.output.function, X, self.background, self.base, pairs=self.pairs,
                                            rng=self.rng, on_rows=on_rows)
        return Batch(values, np.zeros(len(X)), output)


# ---------------------------------------------------------------------------- the choice
def _identity_frame(X: pd.DataFrame) -> pd.DataFrame:
    return X


def _fast(model: Any, features: Sequence[str], output: ModelOutput, pos_label: Any, pilot: pd.DataFrame,
          background: pd.DataFrame, candidates: pd.DataFrame) -> FastExplainer | None:
    parts = _pipeline_parts(model)
    if parts is not None:
        pre, last = parts
        family = "tree" if is_tree_ensemble(last) else "linear" if is_linear(last) else None
        if family is None:
            return None
        probe = pd.concat([pilot, background], ignore_index=True).iloc[:256]
        try:
            names = [str(n) for n in pre.get_feature_names_out()]
        except (AttributeError, ValueError, TypeError):
            names = None
        owners = column_owners(pre.transform, probe, candidates, features, names)
        aggregate = aggregation_matrix(owners, len(features))
        kind = f"pipeline+{family}"
        if family == "tree":
            return FastExplainer(kind, pre.transform, _TreeNative(last, aggregate, pos_label), output, pilot)
        transform = lambda X: _to_float(pre.transform(X))
        native = _LinearNative(last, aggregate, transform(background))
        return FastExplainer(kind, transform, native, output, pilot)
    aggregate = aggregation_matrix(np.arange(len(features)), len(features))
    if is_tree_ensemble(model):
        return FastExplainer("tree", _identity_frame, _TreeNative(model, aggregate, pos_label), output, pilot)
    if is_linear(model):
        native = _LinearNative(model, aggregate, _to_float(background))
        return FastExplainer("linear", _to_float, native, output, pilot)
    return None


def choose_explainer(model: Any, features: Sequence[str], output: ModelOutput, *, pos_label: Any,
                     pilot: pd.DataFrame, background: pd.DataFrame, permutation_background: pd.DataFrame,
                     candidates: pd.DataFrame, rng: np.random.Generator) -> tuple[Explainer, list[str]]:
    """The explainer for ``model`` and notes on why a faster path was not taken."""
    notes: list[str] = []
    try:
        fast = _fast(model, features, output, pos_label, pilot, background, candidates)
    except NotSeparableError as error:
        notes.append(f"The pipeline mixes raw features ({error}), so it is explained as a whole by permutation.")
        fast = None
    except FastPathUnavailable as error:
        notes.append(f"Used the permutation explainer: {error}.")
        fast = None
    except Exception as error:  # shap cannot read every model; the permutation path still can
        notes.append(f"Used the permutation explainer: shap could not read the model "
                     f"({type(error).__name__}; its message is not kept, as it may quote the data).")
        fast = None
    if fast is not None:
        return fast, notes
    return PermutationExplainer(output, permutation_background, rng), notes
