"""Every metric, disparity and named measure against fairlearn and scikit-learn on the bundled data.

Each registered metric is checked against its own ``reference`` (scikit-learn or fairlearn on the rows of
each group, through fairlearn's MetricFrame). Rates and counts must agree to 1e-9. ROC AUC is computed from
score histograms with up to 4096 quantile bins; with continuous scores it must agree to 1e-3, and exactly
when scores take few values.
"""

from __future__ import annotations

import itertools
import warnings

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import fairaudit as fa
from fairaudit.metrics import METRICS
from tests.conftest import REFERENCE_CASES

TOL = 1e-9
AUC_TOL = 1e-3


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


LARGE = ("adult", "default_credit_taiwan", "bank_marketing")
"""The three largest datasets (32,561, 30,000 and 45,203 rows) run with ``-m slow``: fairlearn's per-view
MetricFrames of every metric take most of this file's time (fairlearn stacks each argument value by value, for
every group and metric); the three others run always: german_credit with missing values, telco_churn, and
bank_marketing_sample (4,521 rows: the same attributes and groups as bank_marketing)."""
CASES = [pytest.param((name, weighted), marks=[pytest.mark.slow] if name in LARGE else [],
                      id=f"{name}-{'weighted' if weighted else 'unweighted'}")
         for name in REFERENCE_CASES for weighted in (False, True)]


@pytest.fixture(scope="module", params=CASES)
def case(request, scored):
    name, weighted = request.param
    data = scored[name]
    sensitive = REFERENCE_CASES[name]
    target = fa.DATASETS[name].target
    return data, sensitive, target, weighted, run(data, sensitive, target, weighted)


@pytest.fixture(scope="module")
def frames(case):
    """fairlearn MetricFrames of every registered metric's reference, one per view of the case."""
    data, sensitive, target, weighted, _ = case
    y_true = data[target].to_numpy()
    y_pred = (data["score"] >= 0.5).astype(int).to_numpy()
    weights = {"sample_weight": data["weight"].to_numpy()} if weighted else {}
    scores = {"y_score": data["score"].to_numpy()}
    references = {name: metric.reference for name, metric in METRICS.items()}
    # the score only to the metrics that read it: fairlearn's cost grows with the arguments it passes
    params = {name: {**weights, **(scores if metric.needs_score else {})} for name, metric in METRICS.items()}
    out = {}
    for attrs in views(sensitive):
        features = data[list(attrs)].astype(str)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = flm.MetricFrame(metrics=references, y_true=y_true, y_pred=y_pred, sensitive_features=features,
                                    sample_params={name: p for name, p in params.items() if p})
        by_group = frame.by_group
        by_group.index = [" & ".join(np.atleast_1d(k)) for k in by_group.index]
        group = features.iloc[:, 0].str.cat(features.iloc[:, 1:], sep=" & ") if len(attrs) > 1 \
            else features.iloc[:, 0]
        kinds = pd.crosstab(group, [pd.Series(y_true, name="y"), pd.Series(y_pred, name="p")])
        # fairlearn lists every combination of values, observed or not: keep the observed groups
        by_group = by_group.loc[kinds.index]
        out[attrs] = (by_group.astype(float), frame.overall, frame, kinds)
    return out


@pytest.mark.parametrize("metric", list(METRICS))
def test_by_group_matches_the_reference(case, frames, metric):
    """Ours is undefined exactly where the reference is, and equal to it elsewhere."""
    result = case[-1]
    for attrs, (by_group, overall, _, _) in frames.items():
        expected = by_group[metric]
        ours = result.by_group.loc[" & ".join(attrs), metric]
        assert set(expected.index) == set(ours.index)
        ours, expected = ours[expected.index].to_numpy(), expected.to_numpy()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
        defined = np.isfinite(expected)
        tol = AUC_TOL if metric == "roc_auc" else TOL
        np.testing.assert_allclose(ours[defined], expected[defined], atol=tol, rtol=0)
        assert abs(result.overall.loc[metric, "value"] - overall[metric]) <= tol


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
