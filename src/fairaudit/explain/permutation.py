"""Permutation SHAP for black boxes, batched over rows so the model sees large calls.

For a row ``x`` and a fixed background set ``B``, a coalition ``S`` of features is worth
``v(S) = mean over b in B of f(x on S, b elsewhere)`` (interventional Shapley values). Walking a
permutation of the features adds them one at a time; each feature gets the change in ``v`` when it
joins. The changes along one permutation add up to ``f(x) - mean f(B)`` exactly, whatever the
permutation, so additivity holds row by row. Each row gets its own random permutation and its
reverse (antithetic pair); with three features or fewer every permutation is walked, which gives the
exact Shapley values.

Cost per explained row: ``2 * pairs * (features - 1) * len(B)`` model evaluations, sent to the model
in calls of about ``CALL_ROWS`` rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd

CALL_ROWS = 32_768
"""Rows per model call (rows explained at once times background rows)."""


def _orders(n_rows: int, n_features: int, pairs: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Feature orders to walk: ``(n_rows, n_features)`` arrays, each row its own permutation."""
    if n_features <= 3:
        return [np.tile(np.array(p), (n_rows, 1)) for p in itertools.permutations(range(n_features))]
    out = []
    for _ in range(pairs):
        order = np.argsort(rng.random((n_rows, n_features)), axis=1)
        out += [order, order[:, ::-1]]
    return out


def _pools(X: pd.DataFrame, background: pd.DataFrame) -> list:
    """Per column, the row values followed by the background values (dtype kept)."""
    pools = []
    for name in X.columns:
        joined = pd.concat([X[name], background[name]], ignore_index=True)
        pools.append(joined.to_numpy() if isinstance(joined.dtype, np.dtype) else joined.array)
    return pools


def _hybrid(columns: pd.Index, pools: list, inside: np.ndarray, n_rows: int, n_background: int) -> pd.DataFrame:
    """Rows ``x_i`` on features where ``inside[i]`` holds, background ``b`` elsewhere: row ``i * k + b``."""
    own = np.repeat(np.arange(n_rows), n_background)
    other = n_rows + np.tile(np.arange(n_background), n_rows)
    mask = np.repeat(inside, n_background, axis=0)
    data = {}
    for j, name in enumerate(columns):
        index = np.where(mask[:, j], own, other)
        pool = pools[j]
        data[name] = pool[index] if isinstance(pool, np.ndarray) else pool.take(index)
    return pd.DataFrame(data, columns=columns, copy=False)


def permutation_values(f: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, background: pd.DataFrame,
                       base: float, *, pairs: int, rng: np.random.Generator,
                       on_rows: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Contributions ``(n, features)`` and outputs ``(n,)`` of the rows of ``X``; ``base`` is
    ``mean f(background)``. ``on_rows`` is told how many rows each chunk finished."""
    n, m = X.shape
    k = len(background)
    output = np.asarray(f(X), dtype=float)
    phi = np.zeros((n, m))
    if m == 1:
        phi[:, 0] = output - base
        return phi, output
    chunk = max(1, CALL_ROWS // k)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        part = X.iloc[rows].reset_index(drop=True)
        size = len(part)
        pools = _pools(part, background)
        orders = _orders(size, m, pairs, rng)
        for order in orders:
            rank = np.argsort(order, axis=1)
            previous = np.full(size, base)
            for step in range(1, m):
                inside = rank < step
                values = np.asarray(f(_hybrid(X.columns, pools, inside, size, k)), dtype=float)
                current = values.reshape(size, k).mean(axis=1)
                phi[np.arange(start, start + size), order[:, step - 1]] += current - previous
                previous = current
            phi[np.arange(start, start + size), order[:, m - 1]] += output[rows] - previous
        phi[rows] /= len(orders)
        if on_rows is not None:
            on_rows(size)
    return phi, output
