"""Proxies: features that stand in for a sensitive attribute and weigh in the model's output.

Association is a **one-feature AUC**: how well the feature alone tells the people of one group of the
attribute from everyone else, taking the group it tells apart best. 0.5 is chance, 1 a perfect
give-away. The feature's values are scored by the share of the group among rows with the same value
(numeric features: the same of up to ``NUMERIC_BINS`` quantile bins; missing values are a value of
their own), so any relation counts, not only a monotone one. Those shares are estimated on the other
half of the rows (2-fold cross-fitting, shrunk toward the overall share), so a rare category cannot
fake an association. It is computed on up to ``ASSOCIATION_ROWS`` rows drawn at random from the data,
over groups with at least ``MIN_GROUP_ROWS`` of them (on a tie, the smaller group is named).

Importance is the feature's share of the model's explanation: its mean absolute contribution over all
rows divided by the sum over all features (shares add up to 1).

A feature is flagged when its association is at least ``MIN_ASSOCIATION`` and its importance at least
``MIN_IMPORTANCE``. Sensitive attributes that are themselves model inputs are not listed as proxies;
they are reported as ``sensitive_inputs`` (finding FA302).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fairaudit.explain.summaries import Attribute

MIN_ASSOCIATION = 0.75
MIN_IMPORTANCE = 0.05
ASSOCIATION_ROWS = 50_000
NUMERIC_BINS = 20
MIN_GROUP_ROWS = 10
SHRINKAGE = 10.0
"""Pseudo-rows pulling a value's group share toward the overall share."""

COLUMNS = ["association", "group", "group_count", "importance", "mean_abs_contribution", "flag"]


def value_codes(series: pd.Series) -> np.ndarray:
    """Integer codes of a feature's values (quantile bins for numbers), missing values their own code."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.to_numpy(dtype=float, na_value=np.nan)
        finite = numbers[np.isfinite(numbers)]
        distinct = np.unique(finite)
        if len(distinct) > NUMERIC_BINS:
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
            codes = np.searchsorted(edges, numbers, side="right")
        else:
            codes = np.searchsorted(distinct, numbers)
        return np.where(np.isfinite(numbers), codes, -1).astype(np.int64) + 1
    codes, _ = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64) + 1


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``score`` for the 0/1 ``positive``, ties counted half."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    distinct, inverse = np.unique(score, return_inverse=True)
    pos = np.bincount(inverse, weights=positive, minlength=len(distinct))
    neg = np.bincount(inverse, minlength=len(distinct)) - pos
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    return float((pos * (below + neg / 2)).sum() / (n_pos * n_neg))


def feature_association(codes: np.ndarray, member: np.ndarray, fold: np.ndarray) -> float:
    """Cross-fitted one-feature AUC of value codes for group membership."""
    n_values = int(codes.max()) + 1
    score = np.empty(len(codes))
    for half in (0, 1):
        train, test = fold != half, fold == half
        prior = member[train].mean() if train.any() else 0.5
        count = np.bincount(codes[train], minlength=n_values)
        hits = np.bincount(codes[train], weights=member[train], minlength=n_values)
        share = (hits + SHRINKAGE * prior) / (count + SHRINKAGE)
        score[test] = share[codes[test]]
    return auc(score, member)


def proxy_table(features: pd.DataFrame, group_codes: dict[str, np.ndarray], attributes: Sequence[Attribute],
                population: dict[str, np.ndarray], mean_abs: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """Index (``attribute``, ``feature``); columns :data:`COLUMNS`.

    ``features``: the candidate features on the association rows; ``group_codes``: each attribute's
    group code on those rows; ``population``: each attribute's group sizes in the whole data;
    ``mean_abs``: mean absolute contribution of every model input over all rows.
    """
    total = float(mean_abs.sum())
    fold = rng.permutation(np.arange(len(features)) % 2)
    coded = {name: value_codes(features[name]) for name in features.columns}
    rows, index = [], []
    for attribute in attributes:
        codes = group_codes[attribute.name]
        sizes = np.bincount(codes, minlength=len(attribute.labels))
        eligible = [g for g in range(len(attribute.labels))
                    if sizes[g] >= MIN_GROUP_ROWS and len(codes) - sizes[g] >= MIN_GROUP_ROWS]
        for name in features.columns:
            scores = [(feature_association(coded[name], (codes == g).astype(float), fold), g) for g in eligible]
            association, group = max(scores, key=lambda s: (round(float(np.nan_to_num(s[0], nan=-1.0)), 9),
                                                            -sizes[s[1]]), default=(np.nan, None))
            weight = float(mean_abs.get(name, 0.0))
            share = weight / total if total > 0 else np.nan
            flag = bool(association >= MIN_ASSOCIATION and share >= MIN_IMPORTANCE)
            rows.append((association, None if group is None else attribute.labels[group],
                         0 if group is None else int(population[attribute.name][group]), share, weight, flag))
            index.append((attribute.name, name))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.index = pd.MultiIndex.from_tuples(index, names=["attribute", "feature"])
    return frame.astype({"association": float, "group_count": "int64", "importance": float,
                         "mean_abs_contribution": float, "flag": bool})
