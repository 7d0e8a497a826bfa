"""Every metric, disparity and named measure against fairlearn and scikit-learn on the bundled data.

Rates and counts must agree to 1e-9. ROC AUC is computed from score histograms with up to 4096
quantile bins; with continuous scores it must agree to 1e-3, and exactly when scores take few values.
"""

from __future__ import annotations

import itertools
import warnings

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score, roc_auc_score

import fairaudit as fa
from tests.conftest import REFERENCE_CASES

TOL = 1e-9
AUC_TOL = 1e-3


def _precision(y_true, y_pred, sample_weight=None):
    return precision_score(y_true, y_pred, zero_division=np.nan, sample_weight=sample_weight)


def _npv(y_true, y_pred, sample_weight=None):
    return precision_score(y_true, y_pred, pos_label=0, zero_division=np.nan, sample_weight=sample_weight)


def _base_rate(y_true, y_pred, sample_weight=None):
    return np.average(y_true, weights=sample_weight)


# metric name -> (reference function of (y_true, y_pred[, sample_weight]), uses scores)
REFERENCES = {
    "selection_rate": (flm.selection_rate, False),
    "base_rate": (_base_rate, False),
    "true_positive_rate": (flm.true_positive_rate, False),
    "false_positive_rate": (flm.false_positive_rate, False),
    "false_negative_rate": (flm.false_negative_rate, False),
    "true_negative_rate": (flm.true_negative_rate, False),
    "precision": (_precision, False),
    "negative_predictive_value": (_npv, False),
    "accuracy": (accuracy_score, False),
    "balanced_accuracy": (balanced_accuracy_score, False),
    "roc_auc": (roc_auc_score, True),
    "mean_score": (lambda y_true, s, sample_weight=None: np.average(s, weights=sample_weight), True),
}


def calibration_error_reference(y_true, scores, sample_weight=None) -> float:
    """ECE with pandas' right-closed bins (the first closed on the left), as calibration_curve bins."""
    weights = np.ones(len(scores)) if sample_weight is None else np.asarray(sample_weight)
    bins = pd.cut(scores, np.linspace(0, 1, 11), include_lowest=True, right=True)
    frame = pd.DataFrame({"bin": bins, "w": weights, "wy": weights * y_true, "ws": weights * scores})
    sums = frame.groupby("bin", observed=True)[["w", "wy", "ws"]].sum()
    return float(np.abs(sums["wy"] - sums["ws"]).sum() / weights.sum())


def views(sensitive):
    for size in range(1, len(sensitive) + 1):
        yield from itertools.combinations(sensitive, size)


def run(data, sensitive, target, weighted, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        # fairlearn compares every group: so do we here (by default groups under 10 and "(missing)" are left out)
        return fa.audit(None, data, sensitive=sensitive, target=target, y_score="score",
                        sample_weight="weight" if weighted else None, n_boot=50,
                        policy={"suppress_below": 0, "compare_missing": True}, **kwargs)


CASES = [(name, weighted) for name in REFERENCE_CASES for weighted in (False, True)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{'weighted' if w else 'unweighted'}" for n, w in CASES])
def case(request, scored):
    name, weighted = request.param
    data = scored[name]
    sensitive = REFERENCE_CASES[name]
    target = fa.DATASETS[name].target
    return data, sensitive, target, weighted, run(data, sensitive, target, weighted)


@pytest.fixture(scope="module")
def frames(case):
    """fairlearn MetricFrames of every reference metric, one per view of the case."""
    data, sensitive, target, weighted, _ = case
    y_true = data[target].to_numpy()
    y_pred = (data["score"] >= 0.5).astype(int).to_numpy()
    params = {"sample_weight": data["weight"].to_numpy()} if weighted else None
    label_metrics = {m: f for m, (f, uses_score) in REFERENCES.items() if not uses_score}
    score_metrics = {m: f for m, (f, uses_score) in REFERENCES.items() if uses_score}
    out = {}
    for attrs in views(sensitive):
        features = data[list(attrs)].astype(str)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = flm.MetricFrame(
                metrics=label_metrics, y_true=y_true, y_pred=y_pred, sensitive_features=features,
                sample_params={m: params for m in label_metrics} if params else None,
            )
            scores = flm.MetricFrame(
                metrics=score_metrics, y_true=y_true, y_pred=data["score"].to_numpy(),
                sensitive_features=features,
                sample_params={m: params for m in score_metrics} if params else None,
            )
        by_group = pd.concat([labels.by_group, scores.by_group], axis=1)
        by_group.index = [" & ".join(np.atleast_1d(k)) for k in by_group.index]
        group = features.iloc[:, 0].str.cat(features.iloc[:, 1:], sep=" & ") if len(attrs) > 1 \
            else features.iloc[:, 0]
        kinds = pd.crosstab(group, [pd.Series(y_true, name="y"), pd.Series(y_pred, name="p")])
        # fairlearn lists every combination of values, observed or not: keep the observed groups
        by_group = by_group.loc[kinds.index]
        overall = pd.concat([labels.overall, scores.overall])
        out[attrs] = (by_group.astype(float), overall, labels, kinds)
    return out


def _lacks_a_kind(kinds: pd.DataFrame, group: str) -> bool:
    """The group has no positives, negatives, predicted positives or predicted negatives."""
    row = kinds.loc[group]
    return min(row.T.groupby(level="y").sum().min(), row.T.groupby(level="p").sum().min()) == 0


@pytest.mark.parametrize("metric", list(REFERENCES))
def test_by_group_matches_fairlearn(case, frames, metric):
    result = case[-1]
    for attrs, (by_group, overall, _, kinds) in frames.items():
        expected = by_group[metric]
        ours = result.by_group.loc[" & ".join(attrs), metric]
        assert set(expected.index) == set(ours.index)
        ours = ours[expected.index].to_numpy()
        # where scikit-learn/fairlearn fall back to 0 (or to the class present) we report NaN: check
        # that such a group really lacks positives, negatives, predicted positives or negatives
        defined = np.isfinite(ours)
        for group in expected.index[~defined]:
            assert _lacks_a_kind(kinds, group), group
        tol = AUC_TOL if metric == "roc_auc" else TOL
        np.testing.assert_allclose(ours[defined], expected.to_numpy()[defined], atol=tol, rtol=0)
        assert abs(result.overall.loc[metric, "value"] - overall[metric]) <= tol


def test_overall_calibration_error(case):
    data, sensitive, target, weighted, result = case
    y_true = data[target].to_numpy()
    scores = data["score"].to_numpy()
    w = data["weight"].to_numpy() if weighted else None
    expected = calibration_error_reference(y_true, scores, w)
    assert abs(result.overall.loc["calibration_error", "value"] - expected) <= TOL


def test_calibration_error_by_group(case):
    data, sensitive, target, weighted, result = case
    attr = sensitive[0]
    for group, rows in data.groupby(attr, observed=True):
        w = rows["weight"].to_numpy() if weighted else None
        expected = calibration_error_reference(rows[target].to_numpy(), rows["score"].to_numpy(), w)
        assert abs(result.by_group.loc[(attr, str(group)), "calibration_error"] - expected) <= TOL


NAMED = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
    "equal_opportunity_difference": flm.equal_opportunity_difference,
    "equal_opportunity_ratio": flm.equal_opportunity_ratio,
    "disparate_impact_ratio": flm.demographic_parity_ratio,
}


@pytest.mark.parametrize("measure", list(NAMED))
def test_named_measures_match_fairlearn(case, frames, measure):
    """fairlearn's own functions where every group has both labels; where a group has no positives
    (or negatives) fairlearn counts its rate as 0 while we leave the group out, so there the
    reference is fairlearn's per-group rates with that group removed."""
    data, sensitive, target, weighted, result = case
    y_true = data[target].to_numpy()
    y_pred = (data["score"] >= 0.5).astype(int).to_numpy()
    w = data["weight"].to_numpy() if weighted else None
    for attrs, (by_group, _, _, kinds) in frames.items():
        ours = result.measures.loc[(" & ".join(attrs), measure), "value"]
        positives = kinds.T.groupby(level="y").sum().T
        both_labels = bool((positives > 0).all(axis=None))
        if both_labels:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = NAMED[measure](y_true, y_pred, sensitive_features=data[list(attrs)].astype(str),
                                          sample_weight=w)
        else:
            expected = _measure_without_undefined(measure, by_group, positives)
        assert abs(ours - expected) <= TOL, attrs


def _measure_without_undefined(measure, by_group, positives) -> float:
    rates = by_group[["selection_rate", "true_positive_rate", "false_positive_rate"]].copy()
    rates.loc[positives[1] == 0, "true_positive_rate"] = np.nan
    rates.loc[positives[0] == 0, "false_positive_rate"] = np.nan
    difference = rates.max() - rates.min()
    ratio = rates.min() / rates.max()
    return {
        "demographic_parity_difference": difference["selection_rate"],
        "demographic_parity_ratio": ratio["selection_rate"],
        "disparate_impact_ratio": ratio["selection_rate"],
        "equalized_odds_difference": max(difference["true_positive_rate"], difference["false_positive_rate"]),
        "equalized_odds_ratio": min(ratio["true_positive_rate"], ratio["false_positive_rate"]),
        "equal_opportunity_difference": difference["true_positive_rate"],
        "equal_opportunity_ratio": ratio["true_positive_rate"],
    }[measure]


def test_disparities_match_metricframe_difference_and_ratio(case, frames):
    data, sensitive, target, weighted, result = case
    for attrs, (_, _, labels, _) in frames.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            difference, ratio = labels.difference(), labels.ratio()
        for metric in ("selection_rate", "accuracy", "base_rate"):
            row = result.disparities.loc[(" & ".join(attrs), metric)]
            assert abs(row["difference"] - difference[metric]) <= TOL
            assert abs(row["ratio"] - ratio[metric]) <= TOL
            assert row["max_group"] == " & ".join(np.atleast_1d(labels.by_group[metric].idxmax()))
            assert row["min_group"] == " & ".join(np.atleast_1d(labels.by_group[metric].idxmin()))


def test_auc_is_exact_when_scores_take_few_values(scored):
    data = scored["adult"].copy()
    data["score"] = data["score"].round(2)
    result = run(data, ["sex", "race"], "income_over_50k", weighted=True)
    assert result.metadata["auc_score_bins"] <= 101
    for (sex, race), rows in data.groupby(["sex", "race"], observed=True):
        expected = roc_auc_score(rows["income_over_50k"], rows["score"], sample_weight=rows["weight"])
        assert abs(result.by_group.loc[("sex & race", f"{sex} & {race}"), "roc_auc"] - expected) <= TOL


def test_counts_and_shares(case):
    data, sensitive, target, weighted, result = case
    for attr in sensitive:
        counts = data[attr].astype(str).value_counts()
        table = result.by_group.loc[attr]
        assert table["count"].to_dict() == counts.to_dict()
        w = data["weight"] if weighted else pd.Series(1.0, index=data.index)
        shares = w.groupby(data[attr].astype(str)).sum() / w.sum()
        np.testing.assert_allclose(table["share"][shares.index], shares, atol=TOL)
