"""Recommendations with measured effect: run the catalogue's mitigations on held-out rows.

The audited rows are split in two halves, stratified by group and label. Each applicable mitigation
is fitted on the first half and both the original and the mitigated model are audited on the second,
with the same intervals as any audit. A mitigation *clears the policy* when every threshold check of the
mitigated model passes on the held-out half (an undefined measure, e.g. a model that selects nobody,
does not pass). Recommendations are ranked: those that clear the policy first, then by disparity removed
(the summed distance of the measures beyond their thresholds) per point of *balanced* accuracy lost (at
least 0.1 point counted): with rare positives, plain accuracy would reward rejecting everyone. For the
same reason ThresholdOptimizer maximises balanced accuracy under its constraint.

Each measured recommendation carries ``warnings``: the selection rate falls by more than half
(``COLLAPSE``), a measure within the policy before is beyond it after (a new failure), balanced accuracy
falls by more than ``ACCURACY_LOSS``, or the simulation could not run (by error type and a reason, never
the error's text, which may name a suppressed group).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from fairaudit.assessment import assess_decisions
from fairaudit.backends._common import Task
from fairaudit.backends._pandas import memory_stats
from fairaudit.catalogue import CATALOGUE, CatalogueEntry
from fairaudit.findings import Finding
from fairaudit.inputs import AuditInputError, FairAuditWarning, resolve_inputs
from fairaudit.models import predict
from fairaudit.policy import Policy
from fairaudit.progress import progress_bars
from fairaudit.recommendations import Recommendation
from fairaudit.tables import JOIN

MITIGATION_BOOTSTRAP = 300
COLLAPSE = 0.5
"""Relative fall of the selection rate that is warned about (0.131 to 0.009 is a fall of 93%)."""
ACCURACY_LOSS = 0.05
"""Fall of balanced accuracy (absolute) that is warned about."""
FAILURE_REASONS = {
    "ValueError": "the held-out data of some group does not allow it (for example a group whose labels are "
                  "all the same, or too few rows to fit)",
    "TypeError": "the model does not offer what it needs (refitting, sample weights or predict_proba)",
    "AttributeError": "the model does not offer what it needs (refitting, sample weights or predict_proba)",
    "NotImplementedError": "the model does not offer what it needs (refitting, sample weights or predict_proba)",
    "AuditInputError": "the data does not suit it (for example no numeric feature to decorrelate)",
}


@dataclass(frozen=True)
class Split:
    """The audit's rows split into a fitting half and a held-out half."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    groups_train: pd.DataFrame
    groups_test: pd.DataFrame


class _Reframed(BaseEstimator, ClassifierMixin):
    """A model seen through fairlearn: rebuilds the DataFrame fairlearn turns into an array, and routes
    ``sample_weight`` to a Pipeline's final step."""

    def __init__(self, estimator: Any = None, columns: tuple[str, ...] = (), dtypes: dict | None = None,
                 prefit: bool = False):
        self.estimator = estimator
        self.columns = columns
        self.dtypes = dtypes
        self.prefit = prefit

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame) and list(X.columns) == list(self.columns):
            return X
        frame = pd.DataFrame(np.asarray(X, dtype=object), columns=list(self.columns))
        return frame.astype(self.dtypes)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _Reframed:
        model = self.estimator
        if sample_weight is None:
            model.fit(self._frame(X), y)
        elif isinstance(model, Pipeline):
            model.fit(self._frame(X), y, **{f"{model.steps[-1][0]}__sample_weight": sample_weight})
        else:
            model.fit(self._frame(X), y, sample_weight=sample_weight)
        self.classes_ = np.asarray(getattr(model, "classes_", [0, 1]))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator.predict(self._frame(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator.predict_proba(self._frame(X))

    def __sklearn_is_fitted__(self) -> bool:
        return self.prefit or hasattr(self, "classes_")


def split_rows(data: pd.DataFrame, features: list[str], attributes: list[str], y: np.ndarray,
               random_state: int) -> Split:
    """Halves stratified by group crossing and label (by label alone when a stratum is too small)."""
    groups = data[attributes].astype(str)
    strata = groups.apply(JOIN.join, axis=1) + "|" + pd.Series(y, index=data.index).astype(str)
    stratify = strata if strata.value_counts().min() >= 2 else y
    index = np.arange(len(data))
    train, test = train_test_split(index, test_size=0.5, random_state=random_state, stratify=stratify)
    X = data[features]
    return Split(X.iloc[train], X.iloc[test], y[train], y[test], groups.iloc[train], groups.iloc[test])


def _codes_to_fix(findings: list[Finding], attributes: list[str]) -> set[str]:
    return {f.code for f in findings if f.severity in ("fail", "warn") and f.attribute in attributes}


def recommend(model: Any, data: pd.DataFrame, *, features: list[str], attributes: list[str],
              y_true: np.ndarray, threshold: float, findings: list[Finding], policy: Policy,
              confidence: float, random_state: int) -> list[Recommendation]:
    """Recommendations for the failing or warning findings, simulated where the catalogue can."""
    targets = _target_attributes(findings, attributes)
    to_fix = _codes_to_fix(findings, attributes)
    noted = {f.code for f in findings if f.severity != "pass"}
    entries = [e for e in CATALOGUE if set(e.addresses) & noted]
    if not entries:
        return []
    split = split_rows(data, features, targets, y_true, random_state)
    measure = _HeldOut(split, targets, threshold, replace(policy, attributes=None), confidence, random_state)
    before = measure(_original(model, split, threshold)) if to_fix else None
    out = []
    for entry in tqdm(entries, desc="mitigations", unit="mitigation", disable=not progress_bars() or not to_fix,
                      leave=False):
        runner = RUNNERS.get(entry.simulate) if entry.simulate else None
        if runner is None or not set(entry.addresses) & to_fix:
            out.append(_advice(entry))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predictions = runner(entry, model, split, threshold)
        except Exception as error:  # a mitigation that cannot run on this model is reported, not fatal
            out.append(_not_simulated(entry, error, len(split.y_test)))
            continue
        after = measure(predictions)
        out.append(_measured(entry, before, after, policy))
    return sorted(out, key=_rank)


def advice(findings: list[Finding]) -> list[Recommendation]:
    """The catalogue's entries for the findings that did not pass, without simulation."""
    noted = {f.code for f in findings if f.severity != "pass"}
    return [_advice(e) for e in CATALOGUE if set(e.addresses) & noted]


def _target_attributes(findings: list[Finding], attributes: list[str]) -> list[str]:
    """Single attributes with a failing or warning threshold check (all of them if none)."""
    failing = [a for a in attributes
               if any(f.attribute == a and f.severity in ("fail", "warn") and f.measure for f in findings)]
    return failing or list(attributes)


def _advice(entry: CatalogueEntry, note: str = "") -> Recommendation:
    return Recommendation(entry.key, entry.title, entry.addresses, entry.rationale, entry.prerequisites,
                          entry.caveats + note)


def _not_simulated(entry: CatalogueEntry, error: Exception, rows: int) -> Recommendation:
    """The entry, with a warning that says why it could not be simulated: the error's type and a reason,
    never its message (which may quote a suppressed group or its labels)."""
    kind = type(error).__name__
    reason = FAILURE_REASONS.get(kind, "the mitigation stopped with an error on this model and data")
    return replace(_advice(entry), warnings=(f"Not simulated ({kind}): {reason}.",), held_out_rows=rows)


def _rank(recommendation: Recommendation) -> tuple:
    return (recommendation.clears_policy is not True, recommendation.effect is None,
            -(recommendation.score if recommendation.score is not None else -np.inf))


# ---------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class _Predictions:
    y_pred: np.ndarray
    y_score: np.ndarray | None


class _HeldOut:
    """Audits predictions on the held-out half through the audit's own statistics, tables and findings
    (:func:`fairaudit.assessment.assess_decisions`): the policy's measures plus accuracy, balanced accuracy,
    selection rate and ROC AUC."""

    def __init__(self, split: Split, attributes: list[str], threshold: float, policy: Policy,
                 confidence: float, random_state: int):
        self.split, self.attributes, self.threshold = split, attributes, threshold
        self.policy, self.confidence, self.random_state = policy, confidence, random_state

    def __call__(self, predictions: _Predictions) -> _Measured:
        frame = self.split.groups_test.reset_index(drop=True).assign(
            _y=self.split.y_test, _pred=predictions.y_pred)
        if predictions.y_score is not None:
            frame["_score"] = predictions.y_score
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FairAuditWarning)
            inputs = resolve_inputs(
                frame, sensitive=self.attributes, target="_y", features=None, y_pred="_pred",
                y_score="_score" if predictions.y_score is not None else None, sample_weight=None, pos_label=None,
                threshold=self.threshold, confidence=self.confidence, n_boot=MITIGATION_BOOTSTRAP, model=None,
                task="binary", top_k=None)
            stats, _, _ = memory_stats(inputs, predict(None, inputs), Task("binary", None, None))
            assessed = assess_decisions(stats, intersections=False, confidence=inputs.confidence,
                                        n_boot=inputs.n_boot, rng=np.random.default_rng(self.random_state),
                                        policy=self.policy)
        return _Measured(list(stats.attributes), assessed.tables.measures, assessed.tables.overall,
                         assessed.findings, len(frame))


@dataclass(frozen=True)
class _Measured:
    """What the held-out audit of one model measured: the policy's measures, the overall metrics, the
    findings and the number of held-out rows."""

    attributes: list[str]
    measures: pd.DataFrame
    overall: pd.DataFrame
    findings: list[Finding]
    rows: int


def _effect_rows(result: _Measured, policy: Policy) -> dict[str, tuple[float, float, float]]:
    rows = {}
    for attribute in result.attributes:
        for name in policy.thresholds:
            if (attribute, name) in result.measures.index:
                r = result.measures.loc[(attribute, name)]
                rows[f"{name} ({attribute})"] = (r["value"], r["ci_low"], r["ci_high"])
    for metric in ("accuracy", "balanced_accuracy", "selection_rate", "roc_auc"):
        if metric in result.overall.index:
            r = result.overall.loc[metric]
            rows[metric] = (r["value"], r["ci_low"], r["ci_high"])
        else:
            rows[metric] = (np.nan, np.nan, np.nan)
    return rows


def _excess(result: _Measured, policy: Policy) -> float:
    """How far the measures lie beyond the policy, summed (0 when every measure is within it)."""
    total = 0.0
    for attribute in result.attributes:
        for name, threshold in policy.thresholds.items():
            if (attribute, name) in result.measures.index:
                value = result.measures.loc[(attribute, name), "value"]
                if np.isfinite(value):
                    total += max(value - threshold.value, 0.0) if threshold.bound == "max" \
                        else max(threshold.value - value, 0.0)
    return total


def _measured(entry: CatalogueEntry, before: _Measured, after: _Measured, policy: Policy) -> Recommendation:
    rows_before, rows_after = _effect_rows(before, policy), _effect_rows(after, policy)
    effect = pd.DataFrame(
        [(*rows_before[k], *rows_after.get(k, (np.nan,) * 3)) for k in rows_before],
        index=pd.Index(list(rows_before), name="measure"),
        columns=["before", "before_ci_low", "before_ci_high", "after", "after_ci_low", "after_ci_high"],
    )
    removed = _excess(before, policy) - _excess(after, policy)
    lost_points = max(100 * (effect.loc["balanced_accuracy", "before"] - effect.loc["balanced_accuracy", "after"]),
                      0.1)
    checks = [f for f in after.findings if f.measure in policy.thresholds]
    passed = bool(checks) and all(f.severity == "pass" for f in checks)
    return Recommendation(entry.key, entry.title, entry.addresses, entry.rationale, entry.prerequisites,
                          entry.caveats, effect=effect, clears_policy=passed, score=float(removed / lost_points),
                          warnings=effect_warnings(effect, policy), held_out_rows=after.rows)


def effect_warnings(effect: pd.DataFrame, policy: Policy) -> tuple[str, ...]:
    """What a measured mitigation costs that its ranking does not show: the selection collapses, a measure
    within the policy before is beyond it after, or balanced accuracy falls markedly."""
    out = []
    if "selection_rate" in effect.index:
        before, after = effect.loc["selection_rate", ["before", "after"]]
        if np.isfinite(before) and np.isfinite(after) and before > 0 and (before - after) / before > COLLAPSE:
            out.append(f"Selection collapses: the selection rate falls from {before:.3f} to {after:.3f} "
                       f"({(before - after) / before:.0%} fewer positive decisions).")
    for name, row in effect.iterrows():
        threshold = policy.thresholds.get(str(name).split(" (")[0])
        if threshold is None or not (np.isfinite(row["before"]) and np.isfinite(row["after"])):
            continue
        if not threshold.breached_by(row["before"]) and threshold.breached_by(row["after"]):
            out.append(f"New failure: the {str(name).replace('_', ' ')} goes from {row['before']:.3f} (within the "
                       f"policy) to {row['after']:.3f} (beyond {threshold}).")
    if "balanced_accuracy" in effect.index:
        before, after = effect.loc["balanced_accuracy", ["before", "after"]]
        if np.isfinite(before) and np.isfinite(after) and before - after > ACCURACY_LOSS:
            out.append(f"Accuracy falls: balanced accuracy goes from {before:.3f} to {after:.3f}.")
    return tuple(out)


# ---------------------------------------------------------------------------- runners
def _reframed(model: Any, split: Split, prefit: bool) -> _Reframed:
    estimator = model if prefit else clone(model)
    return _Reframed(estimator, tuple(split.X_train.columns), split.X_train.dtypes.to_dict(), prefit)


def _scores(model: Any, X: pd.DataFrame) -> np.ndarray | None:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return None


def _original(model: Any, split: Split, threshold: float) -> _Predictions:
    scores = _scores(model, split.X_test)
    if scores is None:
        return _Predictions(np.asarray(model.predict(split.X_test)).astype(int), None)
    return _Predictions((scores >= threshold).astype(int), scores)


def _threshold_optimizer(entry: CatalogueEntry, model: Any, split: Split, threshold: float) -> _Predictions:
    from fairlearn.postprocessing import ThresholdOptimizer

    optimizer = ThresholdOptimizer(estimator=_reframed(model, split, prefit=True), constraints=entry.constraint,
                                   objective="balanced_accuracy_score", prefit=True, predict_method="predict_proba")
    optimizer.fit(split.X_train, split.y_train, sensitive_features=split.groups_train)
    decided = optimizer.predict(split.X_test, sensitive_features=split.groups_test, random_state=0)
    return _Predictions(np.asarray(decided).astype(int), None)


def _exponentiated_gradient(entry: CatalogueEntry, model: Any, split: Split, threshold: float) -> _Predictions:
    from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient, TruePositiveRateParity

    constraint = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
                  "true_positive_rate_parity": TruePositiveRateParity}[entry.constraint]()
    reduction = ExponentiatedGradient(_reframed(model, split, prefit=False), constraints=constraint,
                                      eps=0.01, max_iter=30)
    reduction.fit(split.X_train, split.y_train, sensitive_features=split.groups_train)
    # probability that the randomised mixture decides positive: its weights over its predictors' decisions
    scores = sum(w * np.asarray(p.predict(split.X_test), dtype=float)
                 for w, p in zip(reduction.weights_, reduction.predictors_, strict=True) if w > 0)
    return _Predictions(reduction.predict(split.X_test, random_state=0).astype(int), np.clip(scores, 0, 1))


def kamiran_calders_weights(groups: pd.Series, y: np.ndarray) -> np.ndarray:
    """Weights P(group) P(label) / P(group, label): label and group independent after weighting."""
    frame = pd.DataFrame({"g": np.asarray(groups), "y": y})
    p_group = frame["g"].map(frame["g"].value_counts(normalize=True))
    p_label = frame["y"].map(frame["y"].value_counts(normalize=True))
    p_joint = frame.groupby(["g", "y"])["y"].transform("size") / len(frame)
    return (p_group * p_label / p_joint).to_numpy()


def _refit_predictions(estimator: Any, split: Split, threshold: float, X_test: pd.DataFrame) -> _Predictions:
    scores = _scores(estimator, X_test)
    if scores is None:
        return _Predictions(np.asarray(estimator.predict(X_test)).astype(int), None)
    return _Predictions((scores >= threshold).astype(int), scores)


def _reweighing(entry: CatalogueEntry, model: Any, split: Split, threshold: float) -> _Predictions:
    weights = kamiran_calders_weights(split.groups_train.apply(JOIN.join, axis=1), split.y_train)
    refitted = _reframed(model, split, prefit=False).fit(split.X_train, split.y_train, sample_weight=weights)
    return _refit_predictions(refitted, split, threshold, split.X_test)


def _correlation_remover(entry: CatalogueEntry, model: Any, split: Split, threshold: float) -> _Predictions:
    from fairlearn.preprocessing import CorrelationRemover

    numeric = [c for c in split.X_train.columns if pd.api.types.is_numeric_dtype(split.X_train[c])]
    if not numeric:
        raise AuditInputError("CorrelationRemover needs at least one numeric feature.")
    indicators = pd.get_dummies(split.groups_train, dtype=float)
    sensitive = list(indicators.columns)

    def decorrelated(X: pd.DataFrame, groups: pd.DataFrame, remover: Any = None) -> tuple[pd.DataFrame, Any]:
        dummies = pd.get_dummies(groups, dtype=float).reindex(columns=sensitive, fill_value=0.0)
        frame = pd.concat([X[numeric].reset_index(drop=True).astype(float), dummies.reset_index(drop=True)],
                          axis=1)
        if remover is None:
            remover = CorrelationRemover(sensitive_feature_ids=sensitive).fit(frame)
        out = X.copy()
        out[numeric] = remover.transform(frame)
        return out, remover

    X_train, remover = decorrelated(split.X_train, split.groups_train)
    X_test, _ = decorrelated(split.X_test, split.groups_test, remover)
    refitted = clone(model).fit(X_train, split.y_train)
    return _refit_predictions(refitted, split, threshold, X_test)


def _recalibration(entry: CatalogueEntry, model: Any, split: Split, threshold: float) -> _Predictions:
    from sklearn.isotonic import IsotonicRegression

    train_scores, test_scores = _scores(model, split.X_train), _scores(model, split.X_test)
    if train_scores is None:
        raise AuditInputError("Recalibration needs a model with predict_proba.")
    train_groups = split.groups_train.apply(JOIN.join, axis=1).to_numpy()
    test_groups = split.groups_test.apply(JOIN.join, axis=1).to_numpy()
    calibrated = test_scores.copy()
    for group in np.unique(train_groups):
        fit_rows, apply_rows = train_groups == group, test_groups == group
        if apply_rows.any():
            mapping = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
            mapping.fit(train_scores[fit_rows], split.y_train[fit_rows])
            calibrated[apply_rows] = mapping.predict(test_scores[apply_rows])
    return _Predictions((calibrated >= threshold).astype(int), calibrated)


RUNNERS: dict[str, Callable[[CatalogueEntry, Any, Split, float], _Predictions]] = {
    "threshold_optimizer": _threshold_optimizer,
    "exponentiated_gradient": _exponentiated_gradient,
    "reweighing": _reweighing,
    "correlation_remover": _correlation_remover,
    "recalibration": _recalibration,
}
