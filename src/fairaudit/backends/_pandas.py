"""The in-memory engine: a pandas DataFrame through the audit's own input validation and model adapter."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from fairaudit.backends._common import Request, fingerprint
from fairaudit.inputs import MissingSensitiveValueWarning, SingleGroupWarning, resolve_inputs
from fairaudit.models import predict
from fairaudit.stats import MISSING_GROUP, GroupStats


def compute(data: pd.DataFrame, request: Request, engine: str) -> Any:
    from fairaudit.backends import EngineStats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingSensitiveValueWarning)
        warnings.simplefilter("ignore", SingleGroupWarning)
        inputs = resolve_inputs(
            data, sensitive=list(request.sensitive), target=request.target,
            features=None if request.features is None else list(request.features), y_pred=request.y_pred,
            y_score=request.y_score, sample_weight=request.sample_weight, pos_label=request.pos_label,
            threshold=request.threshold, confidence=0.95, n_boot=0, model=request.model,
        )
    predictions = predict(request.model, inputs)
    groups = inputs.sensitive
    stats = GroupStats.from_codes(groups.attributes, groups.groups, groups.codes, inputs.y_true,
                                  predictions.y_pred, predictions.y_score, inputs.sample_weight,
                                  score_edges=request.score_edges)
    missing = {
        name: int(stats.group_count[[g[a] == MISSING_GROUP for g in stats.groups]].sum())
        for a, name in enumerate(stats.attributes)
    }
    columns = [str(c) for c in data.columns]
    rows = len(data)
    return EngineStats(stats=stats, rows=rows, fingerprint=fingerprint(stats, rows, columns),
                       missing_sensitive=missing, columns=columns, engine=engine)
