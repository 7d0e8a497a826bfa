"""Explanations: the aggregates of the SHAP step, and their JSON-safe form for the saved audit."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.explain.summaries import RESIDUAL, TOTAL

FRAMES = ("importance", "gap", "proxies", "groups")
_KINDS = {"f": "float", "i": "int", "u": "int", "b": "bool"}
_DTYPES = {"float": float, "int": "int64", "bool": bool, "str": object}


@dataclass(frozen=True, eq=False, repr=False)
class Explanations:
    """Why groups get different model outputs, from SHAP values on a stratified sample.

    Attributes
    ----------
    importance : DataFrame indexed by (``attribute``, ``group``), first ``("overall", "all")``; one
        column per model input: the mean absolute contribution of the feature in the group, in ``units``.
    gap : DataFrame indexed by (``attribute``, ``group``, ``feature``); columns ``contribution``,
        ``ci_low``, ``ci_high``. For each group, one row per model input (its share of the gap), then
        ``feature="(total gap)"`` (mean output of the group minus mean output of the rest, see
        ``reference``) and ``feature="(residual)"`` (total gap minus the sum of the features' shares;
        no interval).
    proxies : DataFrame indexed by (``attribute``, ``feature``) over the inputs that are not sensitive
        attributes; columns ``association`` (one-feature AUC for the group it predicts best, 0.5 to 1),
        ``group`` (that group), ``group_count`` (its rows in the data), ``importance`` (share of the
        explanation, 0 to 1), ``mean_abs_contribution`` (in ``units``) and ``flag`` (proxy: both high).
    groups : DataFrame indexed by (``attribute``, ``group``), first ``("overall", "all")``; columns
        ``count`` (rows in the data) and ``sample_count`` (rows explained).
    sensitive_inputs : sensitive attributes that are themselves model inputs.
    units : ``"probability"`` (a classifier's probability of ``pos_label``) or ``"score"``.
    explainer : the path that ran: ``"tree"``, ``"linear"``, ``"pipeline+tree"``,
        ``"pipeline+linear"`` or ``"permutation"``.
    sample_rows, background_rows : rows explained, rows of background data.
    rows_per_second : explained rows per second of the SHAP computation.
    seconds : duration of the whole explanation step.
    expected_value : the base every row's contributions add up from (mean output of the background).
    reference : what each gap compares.
    association : how the proxies' association is measured.
    min_association, min_importance : the thresholds of ``proxies.flag``.
    confidence, n_boot : level and replicates of the intervals.
    notes : why a faster path was not taken, and whether the time budget cut the sample.
    """

    importance: pd.DataFrame
    gap: pd.DataFrame
    proxies: pd.DataFrame
    groups: pd.DataFrame
    sensitive_inputs: tuple[str, ...]
    units: str
    explainer: str
    sample_rows: int
    background_rows: int
    rows_per_second: float
    seconds: float
    expected_value: float
    reference: str
    association: str
    min_association: float
    min_importance: float
    confidence: float
    n_boot: int
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        flagged = [f"{feature} ({attribute})" for (attribute, feature), flag in self.proxies["flag"].items() if flag]
        return (
            f"Explanations: {self.explainer} explainer, {self.units} units, {self.sample_rows:,} rows explained "
            f"({self.rows_per_second:,.0f} rows/s); proxies flagged: {', '.join(flagged) or 'none'}; "
            f"sensitive inputs: {', '.join(self.sensitive_inputs) or 'none'}"
        )

    def top_contributors(self, attribute: str, group: str, n: int = 3) -> pd.DataFrame:
        """The ``n`` features with the largest share (in absolute value) of a group's gap."""
        rows = self.gap.loc[(attribute, group)].drop(index=[TOTAL, RESIDUAL])
        return rows.reindex(rows["contribution"].abs().sort_values(ascending=False).index[:n])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: tables in split form (index names, index, columns, rows, dtypes), NaN as None."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = _frame_to_dict(value) if item.name in FRAMES else _clean(value)
        return out

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Explanations:
        """Rebuild from :meth:`to_dict` output."""
        values = {}
        for item in fields(cls):
            if item.name not in payload:
                continue
            value = payload[item.name]
            if item.name in FRAMES:
                value = _frame_from_dict(value)
            elif item.name in ("sensitive_inputs", "notes"):
                value = tuple(value)
            elif value is None:
                value = float("nan")
            values[item.name] = value
        return cls(**values)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _frame_to_dict(frame: pd.DataFrame) -> dict[str, Any]:
    dtypes = {str(c): _KINDS.get(frame[c].dtype.kind, "str") for c in frame.columns}
    return {
        "index_names": list(frame.index.names),
        "index": _clean([list(i) if isinstance(i, tuple) else [i] for i in frame.index]),
        "columns": [str(c) for c in frame.columns],
        "dtypes": dtypes,
        "rows": _clean(frame.astype(object).where(frame.notna(), None).to_numpy().tolist()),
    }


def _frame_from_dict(spec: dict[str, Any]) -> pd.DataFrame:
    names = spec["index_names"]
    tuples = [tuple(i) for i in spec["index"]]
    index = (pd.MultiIndex.from_tuples(tuples, names=names) if tuples
             else pd.MultiIndex.from_arrays([[] for _ in names], names=names))
    frame = pd.DataFrame(spec["rows"], columns=spec["columns"], index=index)
    types = {c: _DTYPES[kind] for c, kind in spec["dtypes"].items()}
    for column, kind in types.items():
        if kind is float:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        elif kind is not object:
            frame[column] = frame[column].astype(kind)
    return frame
