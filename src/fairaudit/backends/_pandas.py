"""The in-memory engine: a pandas DataFrame through the audit's own input validation and model adapter,
counted with numpy ``bincount`` (the reference the other engines are tested against)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.backends._common import EngineStats, Request, Task, fingerprint
from fairaudit.inputs import AuditInputs, MissingSensitiveValueWarning, SingleGroupWarning, resolve_inputs
from fairaudit.models import Predictions, predict
from fairaudit.scores import ScoreStats
from fairaudit.scoring_rate import above_median
from fairaudit.segmentation import SegmentStats, favorable_codes
from fairaudit.stats import MISSING_GROUP, GroupStats


def decisions_of(predictions: Predictions, task: Task) -> np.ndarray:
    """Binary decisions; for a segmentation, membership of the favourable segments."""
    wanted = favorable_codes(task.favorable, predictions.segment_labels) if task.name == "segmentation" else None
    return predictions.y_pred if wanted is None else np.isin(predictions.segments, wanted).astype(np.int8)


def memory_stats(inputs: AuditInputs, predictions: Predictions, task: Task,
                 score_edges: np.ndarray | None = None) -> tuple[GroupStats, ScoreStats | None, SegmentStats | None]:
    """The group statistics of rows in memory: decisions (for a segmentation, membership of the
    favourable segments), and the score or segment statistics of those tasks."""
    groups = inputs.sensitive
    continuous = task.name == "score"
    decisions = decisions_of(predictions, task)
    segment_stats = score_stats = None
    if task.name == "segmentation":
        segment_stats = SegmentStats.from_codes(groups.attributes, groups.groups, groups.codes,
                                                predictions.segment_labels, predictions.segments,
                                                inputs.sample_weight)
    if continuous:
        score_stats = ScoreStats.from_codes(groups.attributes, groups.groups, groups.codes, predictions.y_score,
                                            inputs.y_true, inputs.sample_weight, edges=score_edges)
    stats = GroupStats.from_codes(groups.attributes, groups.groups, groups.codes,
                                  None if continuous else inputs.y_true, decisions,
                                  None if continuous else predictions.y_score, inputs.sample_weight,
                                  score_edges=score_edges)
    return stats, score_stats, segment_stats


def compute(data: pd.DataFrame, request: Request, engine: str, task: Task) -> Any:

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingSensitiveValueWarning)
        warnings.simplefilter("ignore", SingleGroupWarning)
        inputs = resolve_inputs(
            data, sensitive=list(request.sensitive), target=request.target,
            features=None if request.features is None else list(request.features), y_pred=request.y_pred,
            y_score=request.y_score, sample_weight=request.sample_weight, pos_label=request.pos_label,
            threshold=request.threshold, confidence=0.95, n_boot=0, model=request.model, task=task.name,
            top_k=task.top_k,
        )
    predictions = predict(request.model, inputs, task.name, task.top_k)
    stats, score_stats, segment_stats = memory_stats(inputs, predictions, task, score_edges=request.score_edges)
    missing = {
        name: int(stats.group_count[[g[a] == MISSING_GROUP for g in stats.groups]].sum())
        for a, name in enumerate(stats.attributes)
    }
    columns = [str(c) for c in data.columns]
    rows = len(data)
    return EngineStats(stats=stats, rows=rows, fingerprint=fingerprint(stats, rows, columns),
                       missing_sensitive=missing, columns=columns, engine=engine, score_stats=score_stats,
                       segment_stats=segment_stats, segments=predictions.segment_labels,
                       targeted=predictions.targeted,
                       above_median=above_median(inputs.sensitive.codes, predictions.y_score, stats.n_groups)
                       if task.name == "score" and inputs.sample_weight is None else None)
