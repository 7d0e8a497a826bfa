"""Per-group aggregates of the contributions: importance, and the decomposition of each group's gap.

Only these aggregates leave the explanation step; the per-row contributions are dropped here.

* importance of a feature in a group: weighted mean of ``|contribution|`` over the group's rows;
* gap of a group: weighted mean output of the group minus that of every other row (the rest);
  a feature's contribution to it: the same difference of its contributions. Since each row's
  contributions add up to its output minus a common base, the features' contributions add up to the
  gap; ``(residual)`` is what they miss (rounding, and pipeline columns that belong to no single raw
  feature).
* intervals: percentile bootstrap over the explained rows, redrawn within each finest group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairaudit.explain.sampling import bootstrap_stratum_sums, stratum_sums
from fairaudit.uncertainty import percentile_interval

OVERALL = ("overall", "all")
TOTAL, RESIDUAL = "(total gap)", "(residual)"


@dataclass(frozen=True)
class Attribute:
    """A sensitive attribute: its group names and, for each finest group, the group it belongs to."""

    name: str
    labels: list[str]
    of_stratum: np.ndarray


def _means(sums: np.ndarray, weight: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weight[..., None] > 0, sums / weight[..., None], np.nan)


def importance_table(values: np.ndarray, weights: np.ndarray, strata: np.ndarray, n_strata: int,
                     attributes: Sequence[Attribute], features: Sequence[str]) -> pd.DataFrame:
    """Index (``attribute``, ``group``), first ``("overall", "all")``; one column per feature."""
    sums = stratum_sums(np.abs(values) * weights[:, None], strata, n_strata)
    weight = np.bincount(strata, weights=weights, minlength=n_strata)
    rows, index = [_means(sums.sum(axis=0), np.asarray(weight.sum()))], [OVERALL]
    for attribute in attributes:
        for code, label in enumerate(attribute.labels):
            inside = attribute.of_stratum == code
            rows.append(_means(sums[inside].sum(axis=0), np.asarray(weight[inside].sum())))
            index.append((attribute.name, label))
    return pd.DataFrame(np.vstack(rows), columns=list(features),
                        index=pd.MultiIndex.from_tuples(index, names=["attribute", "group"]))


def gap_table(values: np.ndarray, unmapped: np.ndarray, output: np.ndarray, weights: np.ndarray,
              strata: np.ndarray, n_strata: int, attributes: Sequence[Attribute], features: Sequence[str], *,
              n_boot: int, confidence: float, rng: np.random.Generator) -> pd.DataFrame:
    """Index (``attribute``, ``group``, ``feature``); columns ``contribution``, ``ci_low``, ``ci_high``.

    Per group, one row per feature, then ``(total gap)`` and ``(residual)`` (the latter without interval).
    """
    m = len(features)
    table = np.column_stack([values, unmapped, output, np.ones(len(output))]) * weights[:, None]
    sums = stratum_sums(table, strata, n_strata)  # (strata, m + 3)
    replicates = bootstrap_stratum_sums(table, strata, n_strata, n_boot, rng)  # (boot, strata, m + 3)
    rows, index = [], []
    for attribute in attributes:
        for code, label in enumerate(attribute.labels):
            inside = attribute.of_stratum == code
            point = _difference(sums[None, inside], sums[None, ~inside])[0]
            low, high = percentile_interval(_difference(replicates[:, inside], replicates[:, ~inside]), confidence)
            gap = point[m + 1]
            residual = gap - point[:m].sum()
            for j, feature in enumerate(features):
                rows.append((point[j], low[j], high[j]))
                index.append((attribute.name, label, feature))
            rows.append((gap, low[m + 1], high[m + 1]))
            index.append((attribute.name, label, TOTAL))
            rows.append((residual, np.nan, np.nan))
            index.append((attribute.name, label, RESIDUAL))
    frame = pd.DataFrame(rows, columns=["contribution", "ci_low", "ci_high"], dtype=float)
    frame.index = pd.MultiIndex.from_tuples(index, names=["attribute", "group", "feature"])
    return frame


def _difference(inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Weighted mean of each column over the group minus over the rest; ``(..., strata, m + 3)`` in."""
    a, b = inside.sum(axis=-2), outside.sum(axis=-2)
    return _means(a[..., :-1], a[..., -1]) - _means(b[..., :-1], b[..., -1])


def group_counts(population: np.ndarray, taken: np.ndarray, attributes: Sequence[Attribute]) -> pd.DataFrame:
    """Index (``attribute``, ``group``) with ``("overall", "all")``: ``count`` (rows in the data) and
    ``sample_count`` (rows explained)."""
    rows, index = [(int(population.sum()), int(taken.sum()))], [OVERALL]
    for attribute in attributes:
        for code, label in enumerate(attribute.labels):
            inside = attribute.of_stratum == code
            rows.append((int(population[inside].sum()), int(taken[inside].sum())))
            index.append((attribute.name, label))
    return pd.DataFrame(rows, columns=["count", "sample_count"],
                        index=pd.MultiIndex.from_tuples(index, names=["attribute", "group"]))
