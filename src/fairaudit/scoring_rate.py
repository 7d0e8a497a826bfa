"""The scoring rate of NYC Local Law 144, recorded while the rows are at hand.

For a tool that scores rather than selects, LL144 compares *scoring rates*: the share of a category
whose score lies strictly above the median score of everyone audited. A result holds only aggregates,
so :func:`fairaudit.audit` counts, per finest group, the rows above that median and keeps the rate of
every group of every view as the ``scoring_rate`` column of ``by_group`` (suppressed like any number).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairaudit.stats import GroupStats
from fairaudit.tables import JOIN


def above_median(group_code: np.ndarray, scores: np.ndarray, n_groups: int) -> tuple[np.ndarray, float]:
    """Rows per finest group scoring strictly above the median of ``scores``, and that median."""
    median = float(np.median(scores))
    return np.bincount(group_code, weights=(scores > median).astype(float), minlength=n_groups), median


def scoring_rates(by_group: pd.DataFrame, stats: GroupStats, counted: tuple[np.ndarray, float],
                  views: list[tuple[str, ...]]) -> tuple[pd.Series, float]:
    """Each group's share of rows scoring strictly above the median, aligned with ``by_group``, and that
    median; ``counted`` is :func:`above_median` (or an engine's same counts, computed from aggregates)."""
    above, median = counted
    rates = pd.Series(np.nan, index=by_group.index, name="scoring_rate")
    for attrs in views:
        keys, member = stats.membership(attrs)
        view = JOIN.join(attrs)
        index = pd.MultiIndex.from_tuples([(view, JOIN.join(k)) for k in keys])
        sums = np.bincount(member, weights=above, minlength=len(keys))
        rates[index] = sums / by_group.loc[index, "count"].to_numpy()
    return rates, median
