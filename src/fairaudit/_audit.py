"""audit(): orchestrates inputs -> predictions -> group statistics -> tables -> result."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.assessment import comparison
from fairaudit.backends import engine_of, group_stats
from fairaudit.backends._common import Task, fingerprint
from fairaudit.backends._native import open_source, sample_rows
from fairaudit.backends._pandas import decisions_of, memory_stats
from fairaudit.compliance import check_options as compliance_options
from fairaudit.estimated import (
    corrected_views,
    estimated_metadata,
    expand,
    labelled,
    moment_mixing,
    resolve_sensitive_proba,
    row_mixing,
    weighted_stats,
)
from fairaudit.explain import Explanations, explanation_findings
from fairaudit.explain import explain as explain_model
from fairaudit.findings import SEVERITIES, evaluate
from fairaudit.inputs import AuditInputError, AuditInputs, check_options, group_name, resolve_inputs
from fairaudit.metrics import applicable_metrics
from fairaudit.mitigation import advice, recommend
from fairaudit.models import Predictions, infer_task, predict
from fairaudit.policy import (
    DEFAULT_THRESHOLDS,
    RANKING_THRESHOLDS,
    SCORE_THRESHOLDS,
    SEGMENTATION_THRESHOLDS,
    Policy,
    PolicyError,
)
from fairaudit.privacy import view_parts
from fairaudit.progress import progress_bars
from fairaudit.provenance import training_rows, versions, with_provenance
from fairaudit.public import Statistics, in_engine, in_memory
from fairaudit.result import AuditResult
from fairaudit.scores import ScoreStats, score_overall, score_tables
from fairaudit.scoring_rate import above_median, scoring_rates
from fairaudit.segmentation import SegmentStats, segment_tables
from fairaudit.stats import GroupStats
from fairaudit.tables import JOIN, build_tables, views


def audit(
    model: Any,
    data: Any,
    *,
    sensitive: str | Sequence[str] | None = None,
    target: str | None = None,
    features: Sequence[str] | None = None,
    y_pred: str | None = None,
    y_score: str | None = None,
    task: str = "auto",
    threshold: float = 0.5,
    pos_label: Any = None,
    intersections: bool = True,
    sample_weight: str | Any | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    explain: bool = False,
    policy: Any = None,
    mitigate: bool = False,
    top_k: float | int | None = None,
    favorable: Sequence[Any] | None = None,
    compliance: Sequence[str] | None = None,
    compliance_attributes: Mapping[str, str] | Sequence[str] | None = None,
    query: str | None = None,
    y_rank: str | None = None,
    item: str | None = None,
    reference: dict[str, Any] | None = None,
    name: str | None = None,
    model_info: dict[str, Any] | None = None,
    data_info: dict[str, Any] | None = None,
    train_index: Any = None,
    sensitive_proba: dict[str, Any] | None = None,
    proba_prior: dict[str, dict[str, float]] | None = None,
) -> AuditResult:
    """Audit a model's decisions for group fairness across sensitive attributes and their crossings.

    Parameters
    ----------
    model : fitted scikit-learn estimator or Pipeline, any object with ``predict_proba``,
        ``decision_function`` or ``predict``, a callable of the feature DataFrame returning scores or
        labels, or ``None`` when ``y_pred`` / ``y_score`` name precomputed columns.
    data : pandas DataFrame holding the features, sensitive columns and (optionally) the target.
    sensitive : one or more column names (or aligned Series) of sensitive attributes.
    target : column of true labels; without it only outcome metrics (selection rate, mean score).
    features : model input columns; default the model's ``feature_names_in_``, else every column that
        is not sensitive, target, prediction or weight.
    y_pred, y_score : precomputed decision / score columns (scores are probabilities in [0, 1]).
    task : ``"auto"`` (segmentation for clustering models, score for regressors, else binary),
        ``"binary"``, ``"score"`` (a continuous output from the model's ``predict`` or the ``y_score``
        column; the target, if any, numeric) or ``"segmentation"`` (segments from the model's ``predict``
        or the ``y_pred`` column).
    threshold : a score at or above it is a positive decision.
    top_k : instead of a threshold, target the ``top_k`` highest scores: a fraction in (0, 1] of the rows
        or a count; rows tied with the k-th score are targeted too.
    favorable : segmentation: the segments that count as a favourable decision; the segment assignment
        is then also audited as a binary decision with every parity measure.
    pos_label : the favourable label of the target and of label predictions; ``None`` reads 0/1 (or
        False/True) labels with 1 as favourable and refuses any other pair of values. Labels with more
        than two distinct values, or of mixed types, are refused.
    intersections : also audit every crossing of two or more sensitive attributes.
    sample_weight : column name or array of non-negative row weights.
    confidence : level of every interval.
    n_boot : bootstrap replicates of the group statistics (0 turns the bootstrap off).
    random_state : seed or Generator of the bootstrap.
    explain : explain with SHAP, on a sample stratified by group, what drives each group's gap in mean
        model output and which features stand in for a sensitive attribute (``result.explanations``,
        findings FA301/FA302); needs a model. See :mod:`fairaudit.explain`.
    policy : :class:`~fairaudit.Policy`, dict or YAML path; ``None`` is the default policy
        (four-fifths rule, demographic parity and equalized odds differences <= 0.1).
    mitigate : fit the catalogue's mitigations for the failing findings on half of the rows and measure
        their effect on the other half (needs a refittable model and a target); see
        :mod:`fairaudit.mitigation`. Without it, recommendations are listed without measured effect.
    compliance : standards whose tables the report shows (``"nyc_ll144"``, ``"eeoc_four_fifths"``); any
        result builds them with :meth:`AuditResult.compliance`.
    compliance_attributes : the sensitive attributes those tables use, ``{"sex": column, "race": column}``
        or a list of names; default every audited attribute.
    query, y_rank, item : ranking audits (``task="ranking"``, long data: one row per customer x item shown):
        the column identifying each list (customer), the rank column (1 = top; or ``y_score=`` ranked within
        each query) and the item (offer) column; ``top_k`` is then the list cutoff and ``favorable`` the
        favourable items. See :mod:`fairaudit.ranking`.
    reference : per attribute, the group every ratio (disparate impact) is taken against, e.g.
        ``{"sex": "male"}``; default the most favoured group that can be shown, never ``"(missing)"``.
    name : the audit's title in every report (default: the model's class name).
    model_info, data_info : what the report says about the model (``name``, ``version``, ``owner``,
        ``intended_use``, ``positive_decision``: what a positive decision means, ``file_sha256``) and the
        data (``source``, ``period``); see :mod:`fairaudit.provenance`.
    train_index : the rows of ``data`` that trained the model (index labels, a boolean mask, or the name of
        a boolean column, which is then not a model input); audited training rows give finding FA204.
    sensitive_proba : attributes that are not recorded but estimated: ``{attribute: P}`` with ``P`` a
        DataFrame aligned with data (one column of probabilities per group, rows summing to 1, NaN rows for
        people whose group is unknown) or a list of columns of data holding them (e.g. from
        :func:`fairaudit.proxies.bisg`; for an engine input, columns only). Their metrics are corrected for the
        probabilities' mixing, with the weighted estimates beside them in ``result.estimates``; see
        :mod:`fairaudit.estimated`.
    proba_prior : known population shares of an estimated attribute's groups, ``{attribute: {group:
        share}}``, to re-calibrate its probabilities before correcting.
    """
    started = time.perf_counter()
    if sensitive is None and sensitive_proba is None:
        raise AuditInputError("The 'sensitive' argument is required: name the sensitive columns (or give estimated "
                              "attributes with sensitive_proba=).")
    task_name = infer_task(task, model, top_k, query)
    data, training = training_rows(data, train_index)
    if task_name == "ranking":
        if compliance is not None or compliance_attributes is not None:
            raise AuditInputError("The 'compliance' tables report selection or scoring rates of decisions; they do "
                                  "not apply to task='ranking': leave compliance= out.")
        ranked = _audit_ranking(model, data, sensitive=sensitive, target=target, query=query, y_rank=y_rank,
                                y_score=y_score, item=item, favorable=favorable, top_k=top_k,
                                intersections=intersections, sample_weight=sample_weight, confidence=confidence,
                                n_boot=n_boot, random_state=random_state, policy=policy, explain=explain,
                                mitigate=mitigate, y_pred=y_pred, features=features, threshold=threshold,
                                pos_label=pos_label, started=started)
        return with_provenance(ranked, name=name, model_info=model_info, data_info=data_info, training=training)
    if query is not None or y_rank is not None or item is not None:
        raise AuditInputError(f"The 'query', 'y_rank' and 'item' arguments apply to task='ranking' (got "
                              f"task={task!r}): pass task='ranking' (or 'auto') with query= naming the column that "
                              "identifies each list.")
    rules = _policy(policy, task_name, favorable)
    recorded = compliance_options(compliance, compliance_attributes)
    if favorable is not None and task_name != "segmentation":
        raise AuditInputError("The 'favorable' argument applies to task='segmentation' only.")
    work = Task(task_name, top_k, None if favorable is None else tuple(
        [favorable] if isinstance(favorable, (str, int)) else favorable))
    if sensitive_proba is not None and (task_name != "binary" or mitigate):
        raise AuditInputError("The 'sensitive_proba' argument audits binary decisions (with or without scores), "
                              "without mitigate=.")
    if not isinstance(data, pd.DataFrame) and engine_of(data) != "pandas":
        result = _audit_in_engine(model, data, sensitive=sensitive, target=target, features=features, y_pred=y_pred,
                                  y_score=y_score, threshold=threshold, pos_label=pos_label,
                                  intersections=intersections, sample_weight=sample_weight, confidence=confidence,
                                  n_boot=n_boot, random_state=random_state, policy=rules, started=started,
                                  explain=explain, reference=reference, task=work, recorded=recorded,
                                  sensitive_proba=sensitive_proba, proba_prior=proba_prior, mitigate=mitigate)
        result.metadata.update(recorded)
        return with_provenance(result, name=name, model_info=model_info, data_info=data_info,
                               training=training)
    inputs = resolve_inputs(
        data, sensitive=sensitive, target=target, features=features, y_pred=y_pred, y_score=y_score,
        sample_weight=sample_weight, pos_label=pos_label, threshold=threshold, confidence=confidence,
        n_boot=n_boot, model=model, task=task_name, top_k=top_k, sensitive_required=sensitive_proba is None,
    )
    estimated = resolve_sensitive_proba(inputs.data, sensitive_proba, inputs.sensitive.attributes, proba_prior)
    predictions = predict(model, inputs, task_name, top_k)
    groups = inputs.sensitive
    decisions = decisions_of(predictions, work)
    stats, score_stats, segment_stats = memory_stats(inputs, predictions, work)
    continuous = task_name == "score"
    rng = np.random.default_rng(random_state)
    overrides, estimates = None, None
    if estimated:
        observed = groups if groups.attributes else None
        stats = weighted_stats(expand(observed, estimated, len(inputs.data)), inputs.y_true, decisions,
                               predictions.y_score, inputs.sample_weight)
        mixing = row_mixing(observed, estimated, y_true=inputs.y_true, y_pred=decisions, y_score=predictions.y_score,
                            sample_weight=inputs.sample_weight, n_boot=inputs.n_boot, rng=rng.spawn(1)[0])
        overrides, estimates = corrected_views(
            stats, groups.attributes, groups.groups if observed is not None else ((),), estimated, mixing,
            views(stats.attributes, intersections), [m.name for m in applicable_metrics(stats.has_target,
                                                                                      stats.has_score)],
            has_target=inputs.y_true is not None, confidence=inputs.confidence, min_group_size=rules.min_group_size)
    tables, measures, segmented, extra, extra_meta = _task_tables(
        stats, score_stats, segment_stats, work, intersections=intersections, confidence=inputs.confidence,
        n_boot=inputs.n_boot, rng=rng, policy=rules, reference=reference, overrides=overrides)
    pairs = getattr(tables, "pairs", None)
    if continuous and inputs.sample_weight is None:
        tables.by_group["scoring_rate"], recorded["median_score"] = scoring_rates(
            tables.by_group, stats, above_median(groups.codes, predictions.y_score, stats.n_groups),
            views(groups.attributes, intersections))
    _check_scope(rules, stats.attributes)
    by_group = tables.by_group
    findings = evaluate(by_group, tables.disparities, measures, rules, inputs.confidence,
                        p_values=getattr(tables, "p_value", None))
    if estimated:
        by_group, findings = labelled(by_group, findings, estimates, estimated, views(stats.attributes, intersections),
                                      stats)
        extra["estimates"] = estimates
    if mitigate and task_name != "binary":
        raise AuditInputError("The 'mitigate' argument applies to binary decisions: use favorable= or top_k= to "
                              "turn segments or scores into a decision.")
    if explain:
        explained = _explained_model(model, task_name, favorable, extra.get("segments"))
        extra["explanations"] = _explanations(explained, inputs, random_state)
        explained_segments = getattr(explained, "segments", None)
        findings = sorted(findings + explanation_findings(extra["explanations"], min_group_size=rules.min_group_size),
                          key=lambda f: SEVERITIES.index(f.severity))
        findings = [f for f in findings if f.code not in rules.ignore]
    recommendations = _recommendations(model, inputs, findings, rules, mitigate, random_state)
    meta = _metadata(model, inputs, predictions, stats, random_state, time.perf_counter() - started)
    meta.update(recorded)
    meta.update(_compared(tables), **extra_meta)
    meta["views"] = view_parts(stats, views(stats.attributes, intersections))
    if estimated:
        meta["estimated"] = estimated_metadata(estimated, proba_prior)
    if continuous:
        meta["score_pairs"] = pairs
    if explain:
        meta["explained_output"] = (f"membership of segment(s) {', '.join(explained_segments)} (0/1)"
                                    if explained_segments else extra["explanations"].units)
    if segmented is not None:
        meta["segments"] = list(predictions.segment_labels)
        meta["favorable"] = None if favorable is None else [group_name(f) for f in favorable]
        meta["chi2_method"] = segmented.methods
    statistics = None if estimated else in_memory(
        stats, data=inputs.data, codes=groups.codes, y_true=None if continuous else inputs.y_true,
        decisions=decisions, y_score=None if continuous else predictions.y_score, segments=segment_stats,
        segment_codes=predictions.segments, scores=predictions.y_score if continuous else None,
        favorable=None if segmented is None or favorable is None else tuple(np.bincount(
            predictions.segments, weights=decisions, minlength=len(predictions.segment_labels)) > 0))
    return with_provenance(AuditResult(
        by_group=by_group, overall=tables.overall, disparities=tables.disparities,
        measures=measures, metadata=meta, findings=findings, policy=rules,
        recommendations=recommendations, pairwise=getattr(tables, "pairwise", None), statistics=statistics, **extra,
    ), name=name, model_info=model_info, data_info=data_info, training=training)


def _audit_in_engine(model: Any, data: Any, *, sensitive: Any, target: Any, features: Any, y_pred: Any, y_score: Any,
                     threshold: float, pos_label: Any, intersections: bool, sample_weight: Any, confidence: float,
                     n_boot: int, random_state: Any, policy: Policy, started: float, task: Task,
                     recorded: dict[str, Any], explain: bool = False,
                     reference: dict[str, Any] | None = None, sensitive_proba: Any = None,
                     proba_prior: Any = None, mitigate: bool = False) -> AuditResult:
    """The audit of data held by an engine: the engine computes the group statistics (every task), the
    rest is shared; explanations and mitigations run on one random sample the engine draws."""
    check_options(threshold=threshold, confidence=confidence, n_boot=n_boot)
    if mitigate and task.name != "binary":
        raise AuditInputError("The 'mitigate' argument applies to binary decisions: use favorable= or top_k= to "
                              "turn segments or scores into a decision.")
    if mitigate and (model is None or target is None):
        raise AuditInputError(
            "The 'mitigate' argument needs a model to retrain or post-process and a target to measure "
            "against: pass model= and target=, or call audit() with mitigate=False."
        )
    computed = group_stats(data, sensitive=sensitive, target=target, y_pred=y_pred, y_score=y_score,
                           sample_weight=sample_weight, pos_label=pos_label, threshold=threshold, model=model,
                           features=features, task=task.name, top_k=task.top_k, favorable=task.favorable,
                           sensitive_proba=sensitive_proba, proba_prior=proba_prior)
    computed.warn(stacklevel=4)
    stats = computed.stats
    rng = np.random.default_rng(random_state)
    overrides = estimates = estimated = None
    if computed.estimates is not None:  # the mixing sums came from the engine: replicates drawn from their moments
        estimated = computed.estimates.attributes
        overrides, estimates = corrected_views(
            stats, computed.estimates.observed, computed.estimates.fine, estimated,
            moment_mixing(computed.estimates.moments, n_boot=n_boot, rng=rng.spawn(1)[0]),
            views(stats.attributes, intersections),
            [m.name for m in applicable_metrics(stats.has_target, stats.has_score)], has_target=stats.has_target,
            confidence=confidence, min_group_size=policy.min_group_size)
    tables, measures, segmented, extra, extra_meta = _task_tables(
        stats, computed.score_stats, computed.segment_stats, task, intersections=intersections, confidence=confidence,
        n_boot=n_boot, rng=rng, policy=policy, reference=reference, overrides=overrides)
    if computed.above_median is not None:
        tables.by_group["scoring_rate"], recorded["median_score"] = scoring_rates(
            tables.by_group, stats, computed.above_median, views(stats.attributes, intersections))
    _check_scope(policy, stats.attributes)
    findings = evaluate(tables.by_group, tables.disparities, measures, policy, confidence,
                        p_values=getattr(tables, "p_value", None))
    by_group = tables.by_group
    if estimated:
        by_group, findings = labelled(by_group, findings, estimates, estimated, views(stats.attributes, intersections),
                                      stats)
        extra["estimates"] = estimates
    explained_segments = None
    attributes = list(computed.estimates.observed if estimated else stats.attributes)
    inputs_used = {target, y_pred, y_score, sample_weight} | set(attributes)
    features = list(features) if features is not None else [  # the columns the model could read, as on pandas
        str(c) for c in getattr(model, "feature_names_in_", [c for c in computed.columns if c not in inputs_used])]
    seed = random_state if isinstance(random_state, int) else 0
    sample = None
    if explain or mitigate:
        sample = sample_rows(data, computed.engine, list(dict.fromkeys(attributes + features + (
            [target] if mitigate else []))), total=computed.rows, seed=seed)
    if explain:
        explained = _explained_model(model, task.name, task.favorable, extra.get("segments"))
        explained_segments = getattr(explained, "segments", None)
        extra["explanations"] = explain_model(explained, sample, sensitive=attributes, features=features,
                                              pos_label=1 if pos_label is None else pos_label,
                                              confidence=confidence, random_state=seed,
                                              progress=progress_bars())
        findings = sorted(findings + explanation_findings(extra["explanations"], min_group_size=policy.min_group_size),
                          key=lambda f: SEVERITIES.index(f.severity))
        findings = [f for f in findings if f.code not in policy.ignore]
    source = "columns" if model is None else "model (in the engine)"
    meta = {
        "rows": computed.rows, "sensitive": list(stats.attributes), "finest_groups": stats.n_groups,
        "engine": computed.engine, "target": target, "pos_label": str(pos_label), "task": task.name,
        "targeted": computed.targeted,
        "model": "none (precomputed columns)" if model is None else type(model).__name__,
        "model_repr": None if model is None else _short_repr(model), "columns": len(computed.columns),
        "prediction_source": source if task.top_k is None else f"{source}, top {computed.targeted}",
        "threshold": float(threshold),
        "features": features, "weighted": sample_weight is not None,
        "confidence": confidence, "n_boot": n_boot,
        "random_state": random_state if isinstance(random_state, (int, type(None))) else "Generator",
        "auc_score_bins": None if stats.score_edges is None else len(stats.score_edges) - 1,
        "fingerprint_sha256": computed.fingerprint,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 4), "versions": versions(),
    }
    meta["views"] = view_parts(stats, views(stats.attributes, intersections))
    meta.update(_compared(tables), **extra_meta)
    if task.name == "score":
        meta["score_pairs"] = tables.pairs
    if estimated:
        meta["estimated"] = estimated_metadata(estimated, proba_prior)
    if explain:
        meta["explanation_sample_rows"] = len(sample)
        meta["explained_output"] = (f"membership of segment(s) {', '.join(explained_segments)} (0/1)"
                                    if explained_segments else extra["explanations"].units)
    if segmented is not None:
        meta["segments"] = list(computed.segments)
        meta["favorable"] = None if task.favorable is None else [group_name(f) for f in task.favorable]
        meta["chi2_method"] = segmented.methods

    def recount(bounded: Any, score_edges: np.ndarray | None = None) -> Any:
        return group_stats(bounded, sensitive=sensitive, target=target, y_pred=y_pred, y_score=y_score,
                           sample_weight=sample_weight, pos_label=pos_label, threshold=threshold, model=model,
                           features=features, task=task.name, top_k=task.top_k, favorable=task.favorable,
                           score_edges=stats.score_edges if score_edges is None else score_edges)

    recommendations = advice(findings)
    if mitigate:  # refitted and measured on the engine's sample, as on a DataFrame
        sampled = resolve_inputs(sample, sensitive=attributes, target=target, features=features, y_pred=None,
                                 y_score=None, sample_weight=None, pos_label=pos_label, threshold=threshold,
                                 confidence=confidence, n_boot=0, model=model, task="binary")
        recommendations = _recommendations(model, sampled, findings, policy, True, random_state)
        meta["mitigation_sample_rows"] = len(sample)
    return AuditResult(by_group=by_group, overall=tables.overall, disparities=tables.disparities,
                       measures=measures, metadata=meta, findings=findings, policy=policy,
                       recommendations=recommendations, pairwise=getattr(tables, "pairwise", None),
                       statistics=None if estimated else in_engine(stats, data, computed.engine, recount,
                                                                   scored=task.name == "score"), **extra)


def _task_tables(stats: GroupStats, score_stats: ScoreStats | None, segment_stats: SegmentStats | None, task: Task, *,
                 intersections: bool, confidence: float, n_boot: int, rng: np.random.Generator, policy: Policy,
                 reference: dict[str, Any] | None, overrides: Any = None) -> Any:
    """The tables of any task from its statistics: ``(tables, measures, segment tables or None, extra
    result fields, extra metadata)``; the same for every engine."""
    extra: dict[str, Any] = {}
    extra_meta: dict[str, Any] = {}
    if score_stats is not None:
        if reference is not None:
            raise AuditInputError("The 'reference' argument applies to ratios of decision rates; a score audit has "
                                  "none. Pass threshold= or top_k= to audit decisions, or drop reference=.")
        tables = _score_tables(stats, score_stats, intersections, confidence, n_boot, rng)
        extra["score_quantiles"] = tables.quantiles
    else:
        compared = comparison(stats, intersections=intersections, policy=policy, reference=reference)
        extra_meta = {"reference": compared["reference"]}
        tables = build_tables(stats, intersections=intersections, confidence=confidence, n_boot=n_boot, rng=rng,
                              decisions=task.name != "segmentation" or task.favorable is not None, overrides=overrides,
                              **compared)
    measures, segmented = tables.measures, None
    if segment_stats is not None:
        segmented = segment_tables(segment_stats, stats, views(stats.attributes, intersections),
                                   confidence=confidence, n_boot=n_boot, rng=rng)
        measures = pd.concat([measures, segmented.measures]).sort_index(level="attribute", sort_remaining=False)
        extra.update(segments=segmented.segments, segments_ci_low=segmented.segments_ci_low,
                     segments_ci_high=segmented.segments_ci_high)
    return tables, measures, segmented, extra, extra_meta


def _audit_ranking(model: Any, data: Any, *, sensitive: Any, target: str | None, query: str, y_rank: str | None,
                   y_score: str | None, item: str | None, favorable: Any, top_k: Any, intersections: bool,
                   sample_weight: Any, confidence: float, n_boot: int, random_state: Any, policy: Any,
                   explain: bool, mitigate: bool, y_pred: Any, features: Any, threshold: float, pos_label: Any,
                   started: float) -> AuditResult:
    """The audit of ranked lists, from any engine: the engine returns per-group sums (see
    :mod:`fairaudit.ranking_engine`), the rest is the ranking tables and the usual findings."""
    from fairaudit.ranking import ranking_stats, ranking_tables
    from fairaudit.ranking_checks import customer_policy, ranking_findings
    from fairaudit.ranking_input import check_ranking_arguments, ranking_engine, ranking_fingerprint

    check_options(threshold=threshold, confidence=confidence, n_boot=n_boot)
    names, k, favorable = check_ranking_arguments(
        model=model, sensitive=sensitive, target=target, query=query, y_rank=y_rank, y_score=y_score, item=item,
        favorable=favorable, top_k=top_k, sample_weight=sample_weight, explain=explain, mitigate=mitigate,
        y_pred=y_pred, features=features, threshold=threshold, pos_label=pos_label)
    engine = ranking_engine(data)
    source = open_source(data, engine)  # files: the engines' one opener (CSV headers kept exactly)
    try:
        stats, columns = ranking_stats(source.data, sensitive=names, query=query, item=item, k=k, y_rank=y_rank,
                                       y_score=y_score, target=target, favorable=favorable)
    finally:
        source.close()
    rules = Policy.coerce(policy) if policy is not None else Policy(
        thresholds={name: t for name, t in RANKING_THRESHOLDS.items()
                    if (name.startswith("ndcg") and target is not None)
                    or (name.startswith("favorable") and favorable is not None)})
    tables = ranking_tables(stats, views(stats.attributes, intersections), confidence=confidence, n_boot=n_boot,
                            rng=np.random.default_rng(random_state))
    _check_scope(rules, stats.attributes)
    findings = evaluate(tables.by_group, tables.disparities, tables.measures, customer_policy(rules), confidence)
    findings += ranking_findings(tables.by_group, tables.items, tables.exposure_per_merit_ratio, rules, item)
    findings = sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
    rows = int(stats.column("rows").sum())
    customers = int(stats.column("queries").sum())
    meta = {
        "rows": rows, "sensitive": list(stats.attributes), "finest_groups": len(stats.groups),
        "engine": engine, "task": "ranking",
        "target": target, "query": query, "item": item, "y_rank": y_rank, "y_score": y_score, "top_k": k,
        "customers": customers, "favorable": None if favorable is None else [group_name(f) for f in favorable],
        "lists_without_relevant": int(customers - stats.column("ndcg_lists").sum()) if target else None,
        "exposure_per_merit_ratio": tables.exposure_per_merit_ratio,
        "model": "none (precomputed columns)", "model_repr": None, "columns": len(columns),
        "prediction_source": "columns", "confidence": confidence, "n_boot": n_boot,
        "random_state": random_state if isinstance(random_state, (int, type(None))) else "Generator",
        "fingerprint_sha256": ranking_fingerprint(stats, rows, columns),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 4), "versions": versions(),
        "views": view_parts(stats, views(stats.attributes, intersections)),
    }
    return AuditResult(by_group=tables.by_group, overall=tables.overall, disparities=tables.disparities,
                       measures=tables.measures, metadata=meta, findings=findings, policy=rules,
                       recommendations=advice(findings), ranking_positions=tables.positions,
                       item_exposure=tables.items, statistics=Statistics(None, ranking=stats))


def _explained_model(model: Any, task: str, favorable: Sequence[Any] | None, segments: pd.DataFrame | None) -> Any:
    """What SHAP explains: the model's output, or for a segmentation the membership of the favourable
    segments (else of the segment whose share differs most between groups), as a 0/1 function."""
    if model is None:
        raise AuditInputError("The 'explain' argument needs the model itself: pass model=, not only y_pred=/y_score=.")
    if task != "segmentation":
        return model
    if favorable is not None:
        chosen = [group_name(f) for f in ([favorable] if isinstance(favorable, (str, int)) else favorable)]
    else:
        spread = segments.max() - segments.min()
        chosen = [str(spread.idxmax())]

    def membership(X: pd.DataFrame) -> np.ndarray:
        labels = np.array([group_name(v) for v in np.asarray(model.predict(X))], dtype=object)
        return np.isin(labels, chosen).astype(float)

    membership.segments = chosen  # type: ignore[attr-defined]
    return membership


def _explanations(model: Any, inputs: AuditInputs, random_state: Any) -> Explanations:
    """SHAP summaries of the model on a stratified sample of the audited rows."""
    groups = inputs.sensitive
    data = inputs.data
    absent = [a for a in groups.attributes if a not in data.columns]
    if absent:  # sensitive values given as arrays: explain needs them as columns
        labels = np.array(groups.groups, dtype=object)[groups.codes]
        data = data.assign(**{a: labels[:, groups.attributes.index(a)] for a in absent})
    seed = random_state if isinstance(random_state, int) else 0
    return explain_model(model, data, sensitive=list(groups.attributes), features=inputs.features,
                         pos_label=inputs.pos_label, confidence=inputs.confidence, random_state=seed,
                         progress=progress_bars())


def _score_tables(stats: GroupStats, score_stats: ScoreStats, intersections: bool, confidence: float, n_boot: int,
                  rng: np.random.Generator) -> Any:
    """The tables of a continuous-score audit, with ``overall`` and ``quantiles``."""
    tables = score_tables(score_stats, stats, views(stats.attributes, intersections),
                          confidence=confidence, n_boot=n_boot, rng=rng)
    return ScoreAuditTables(tables.by_group, score_overall(score_stats, stats, confidence), tables.disparities,
                            tables.measures, tables.quantiles, tables.pairs)


@dataclass(frozen=True)
class ScoreAuditTables:
    by_group: pd.DataFrame
    overall: pd.DataFrame
    disparities: pd.DataFrame
    measures: pd.DataFrame
    quantiles: pd.DataFrame
    pairs: dict[str, dict[str, list[str]]]


def _policy(policy: Any, task: str, favorable: Sequence[Any] | None) -> Policy:
    """The given policy; by default, for a segmentation, the segmentation thresholds (plus the decision
    thresholds when favourable segments make it a decision)."""
    if policy is not None or task == "binary":
        return Policy.coerce(policy)
    if task == "score":
        return Policy(thresholds=dict(SCORE_THRESHOLDS))
    thresholds = dict(SEGMENTATION_THRESHOLDS)
    if favorable is not None:
        thresholds.update(DEFAULT_THRESHOLDS)
    return Policy(thresholds=thresholds)


def _recommendations(model: Any, inputs: AuditInputs, findings: list, policy: Policy, mitigate: bool,
                     random_state: Any) -> list:
    if not mitigate:
        return advice(findings)
    if model is None or inputs.y_true is None:
        raise AuditInputError(
            "The 'mitigate' argument needs a model to retrain or post-process and a target to measure "
            "against: pass model= and target=, or call audit() with mitigate=False."
        )
    seed = random_state if isinstance(random_state, int) else 0
    return recommend(model, inputs.data, features=inputs.features, attributes=list(inputs.sensitive.attributes),
                     y_true=inputs.y_true, threshold=inputs.threshold, findings=findings, policy=policy,
                     confidence=inputs.confidence, random_state=seed)


def _compared(tables: Any) -> dict[str, Any]:
    """Metadata on who the comparisons left out, and why."""
    left_out = getattr(tables, "left_out", None)
    if left_out is None:
        return {}
    return {"left_out": [{"attribute": a, "group": g, "reason": r} for (a, g), r in left_out["reason"].items()]}


def _check_scope(policy: Policy, attributes: tuple[str, ...]) -> None:
    for name in policy.attributes or ():
        if not all(part in attributes for part in name.split(JOIN)):
            raise PolicyError(
                f"Policy key 'attributes' names {name!r}, which is not a sensitive attribute of this audit "
                f"({', '.join(attributes)})."
            )


def _short_repr(model: Any, limit: int = 600) -> str:
    """The model's own description (scikit-learn prints its parameters), cut to ``limit`` characters."""
    try:
        text = " ".join(repr(model).split())
    except Exception:  # a model whose repr fails is still auditable
        text = type(model).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _metadata(model: Any, inputs: AuditInputs, predictions: Predictions, stats: GroupStats,
              random_state: Any, seconds: float) -> dict[str, Any]:
    return {
        "rows": len(inputs.data),
        "sensitive": list(inputs.sensitive.attributes),
        "finest_groups": stats.n_groups,
        "target": inputs.target_name,
        "pos_label": str(inputs.pos_label),
        "task": predictions.task,
        "targeted": predictions.targeted,
        "model": "none (precomputed columns)" if model is None else type(model).__name__,
        "model_repr": None if model is None else _short_repr(model),
        "columns": len(inputs.data.columns),
        "prediction_source": predictions.source,
        "threshold": inputs.threshold,
        "features": inputs.features,
        "weighted": inputs.sample_weight is not None,
        "confidence": inputs.confidence,
        "n_boot": inputs.n_boot,
        "random_state": random_state if isinstance(random_state, (int, type(None))) else "Generator",
        "auc_score_bins": None if stats.score_edges is None else len(stats.score_edges) - 1,
        "fingerprint_sha256": fingerprint(stats, len(inputs.data), [str(c) for c in inputs.data.columns]),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(seconds, 4),
        "versions": versions(),
    }
