"""Which raw input feature each column of a fitted transformer comes from.

A Pipeline's last step sees encoded columns (one-hot indicators, scaled numbers, ...); people know the
raw features. The mapping is *measured*, not parsed: for each raw feature in turn, every probe row gets
a different value of that feature alone (values drawn from the data, so every category is tried), and
the output columns that change belong to it. That works for any transformer (ColumnTransformer,
OneHotEncoder, scalers, imputers, nested pipelines) without knowing its internals.

A column that changes with two raw features (an interaction, a polynomial term) makes the transformer
*not separable*: summing columns back onto features would no longer be exact, so the caller falls
back to explaining the whole pipeline. A column that changes with none (a category that appears
nowhere in the data) is matched by its name from ``get_feature_names_out`` when it names exactly one
feature, and otherwise left unmapped: its share is reported in the residual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd


class NotSeparableError(ValueError):
    """A transformed column depends on more than one raw feature."""


def as_array(matrix: Any) -> np.ndarray:
    """A dense 2-D array of a transformer's output (sparse matrices and DataFrames included)."""
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    elif isinstance(matrix, pd.DataFrame):
        matrix = matrix.to_numpy()
    array = np.asarray(matrix)
    return array.reshape(len(array), -1)


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Columns where any row differs (NaN equal to NaN)."""
    differs = before != after
    if differs.any():
        differs &= ~(pd.isna(before) & pd.isna(after))
    return differs.any(axis=0)


def _altered(probe: pd.DataFrame, feature: str, candidates: pd.DataFrame) -> pd.DataFrame | None:
    """``probe`` with every row's ``feature`` replaced by another value seen in the data."""
    values = pd.concat([probe[feature], candidates[feature]], ignore_index=True).drop_duplicates()
    if len(values) < 2:
        return None
    own = pd.Index(values).get_indexer(probe[feature])
    shift = 1 + np.arange(len(probe)) % (len(values) - 1)
    changed = probe.copy()
    changed[feature] = values.array.take((own + shift) % len(values))
    return changed


def column_owners(transform: Callable[[pd.DataFrame], Any], probe: pd.DataFrame, candidates: pd.DataFrame,
                  features: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
    """For each output column of ``transform``, the position in ``features`` of the raw feature it is
    computed from (-1 when none is found). Raises :class:`NotSeparableError` for shared columns."""
    probe = probe.reset_index(drop=True)
    before = as_array(transform(probe))
    owners = np.full(before.shape[1], -1, dtype=np.int64)
    for position, feature in enumerate(features):
        changed = _altered(probe, feature, candidates)
        if changed is None:
            continue
        columns = np.flatnonzero(_changed(before, as_array(transform(changed))))
        shared = columns[(owners[columns] >= 0) & (owners[columns] != position)]
        if shared.size:
            other = features[owners[shared[0]]]
            raise NotSeparableError(
                f"transformed column {int(shared[0])} depends on both {other!r} and {feature!r}"
            )
        owners[columns] = position
    if names is not None and len(names) == len(owners):
        for column in np.flatnonzero(owners < 0):
            owners[column] = _owner_by_name(str(names[column]), features)
    return owners


def _owner_by_name(name: str, features: Sequence[str]) -> int:
    """The feature a column name like ``onehotencoder__city_Paris`` names, or -1 when not exactly one."""
    stem = name.rsplit("__", 1)[-1]
    matches = [i for i, f in enumerate(features) if stem == f or stem.startswith(f"{f}_")]
    longest = max((len(features[i]) for i in matches), default=0)
    best = [i for i in matches if len(features[i]) == longest]
    return best[0] if len(best) == 1 else -1


def aggregation_matrix(owners: np.ndarray, n_features: int) -> np.ndarray:
    """``(n_columns, n_features + 1)`` 0/1 matrix summing columns onto features; the last column
    collects the unmapped ones."""
    matrix = np.zeros((len(owners), n_features + 1))
    matrix[np.arange(len(owners)), np.where(owners >= 0, owners, n_features)] = 1.0
    return matrix
