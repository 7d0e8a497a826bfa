"""Which rows are explained: a sample stratified by the finest sensitive group, and its bootstrap.

Allocation. ``max_rows`` is shared between the finest groups (crossings of every sensitive attribute)
by water-filling: every group gets the same quota, groups smaller than the quota are kept whole and
what they leave is shared by the larger ones. So a small group is never thinned, and a large one is
not explained in more detail than the comparison needs. Each sampled row carries the design weight
``N_g / n_g`` of its group (rows in the data over rows explained), and every mean of the explanation
is weighted by it, so it estimates the mean over the whole data.

Order. The sampled rows are processed in an order that interleaves the groups in proportion, so a run
cut short by a time budget has explained about the same share of every group.

Bootstrap. Replicates redraw rows with replacement within each finest group (a multinomial of the
group's sampled size), which is the sampling design itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    """Rows to explain (positions into the data, in processing order) and their design."""

    rows: np.ndarray
    strata: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def head(self, count: int, population: np.ndarray) -> Sample:
        """The first ``count`` rows, re-weighted so each group's weights still add up to its size."""
        strata = self.strata[:count]
        taken = np.bincount(strata, minlength=len(population))
        weights = population[strata] / taken[strata]
        return Sample(self.rows[:count], strata, weights.astype(float))


def allocate(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Rows to draw per group: an equal quota, groups under it kept whole (at least 1 row each)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() <= budget:
        return sizes.copy()
    present = sizes > 0
    if budget <= present.sum():
        return present.astype(np.int64)
    low, high = 1, int(sizes.max())
    while low < high:  # the largest quota whose allocation fits the budget
        middle = (low + high + 1) // 2
        if np.minimum(sizes, middle).sum() <= budget:
            low = middle
        else:
            high = middle - 1
    taken = np.minimum(sizes, low)
    left = budget - int(taken.sum())
    larger = np.flatnonzero(sizes > low)
    taken[larger[:left]] += 1
    return taken


def stratified_sample(strata: np.ndarray, n_strata: int, max_rows: int, rng: np.random.Generator) -> Sample:
    """A sample of at most ``max_rows`` rows (one per group when there are more groups than that)."""
    population = np.bincount(strata, minlength=n_strata)
    quota = allocate(population, max_rows)
    order = np.argsort(strata, kind="stable")
    starts = np.concatenate([[0], np.cumsum(population)[:-1]])
    rows, keys, codes = [], [], []
    for group in np.flatnonzero(quota):
        members = order[starts[group]:starts[group] + population[group]]
        chosen = members if quota[group] == population[group] else rng.choice(members, quota[group], replace=False)
        chosen = rng.permutation(chosen)
        rows.append(chosen)
        keys.append((np.arange(len(chosen)) + rng.random(len(chosen))) / len(chosen))
        codes.append(np.full(len(chosen), group))
    rows_all, keys_all, codes_all = np.concatenate(rows), np.concatenate(keys), np.concatenate(codes)
    interleaved = np.argsort(keys_all, kind="stable")
    codes_all = codes_all[interleaved]
    weights = population[codes_all] / quota[codes_all]
    return Sample(rows_all[interleaved], codes_all, weights.astype(float))


def background_rows(n_rows: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of a uniform random background sample (all rows when there are fewer)."""
    if n_rows <= size:
        return np.arange(n_rows)
    return np.sort(rng.choice(n_rows, size, replace=False))


def stratum_sums(values: np.ndarray, strata: np.ndarray, n_strata: int) -> np.ndarray:
    """``(n_strata, k)`` sums of the rows of ``values`` (``(n, k)``) per group."""
    columns = [np.bincount(strata, weights=values[:, j], minlength=n_strata) for j in range(values.shape[1])]
    return np.stack(columns, axis=1) if columns else np.zeros((n_strata, 0))


def bootstrap_stratum_sums(values: np.ndarray, strata: np.ndarray, n_strata: int, n_boot: int,
                           rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n_strata, k)`` per-group sums of ``values`` over rows redrawn with replacement
    within their group, one group at a time (memory ``n_boot`` x the largest group)."""
    out = np.zeros((n_boot, n_strata, values.shape[1]))
    if n_boot == 0:
        return out
    order = np.argsort(strata, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(strata, minlength=n_strata))])
    for group in range(n_strata):
        members = order[bounds[group]:bounds[group + 1]]
        if len(members):
            draws = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_boot)
            out[:, group, :] = draws @ values[members]
    return out
