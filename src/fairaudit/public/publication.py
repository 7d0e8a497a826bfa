"""``AuditResult.to_public``: a transparency report whose every number comes from OpenDP-noised statistics.

1. The audit's sufficient statistics (kept in memory, :class:`~fairaudit.public.statistics.Statistics`)
   are released table by table through OpenDP (:mod:`fairaudit.public.noise`); the budget ``epsilon``
   (and ``delta``) is split equally across the released tables (sequential composition), each table's
   share recorded in ``metadata["privacy"]["tables"]``.
2. The noised tables are post-processed into non-negative, consistent statistics
   (:mod:`fairaudit.public.statistics`) and every table is rebuilt from them by the functions of an
   ordinary audit (:func:`fairaudit.tables.build_tables`, :func:`fairaudit.segmentation.segment_tables`,
   :func:`fairaudit.scores.score_tables`, :func:`fairaudit.ranking.ranking_tables`), with the same
   comparisons: groups under ``suppress_below`` (judged on the noised counts) and missing values left out
   (``metadata["left_out"]``), ratios against the audit's reference group.
3. Intervals carry the noise: the noise is drawn again from the mechanism's law (:func:`~fairaudit.public.
   noise.simulate`) ``NOISE_REPLICATES`` times onto the released tables, everything rebuilt, and each
   number's spread ``sd`` over those replicates is added in quadrature to its sampling interval: each side
   ``h`` of the interval becomes ``sqrt(h**2 + (t * sd)**2)``, ``t`` Student's quantile of the level with
   ``NOISE_REPLICATES - 1`` degrees of freedom (``pairwise`` comparisons too). The homogeneity p-values
   are Wald tests on the per-group values with sampling and noise variance. Findings are judged on these
   widened intervals, and a check fails only on evidence that survives the policy's multiplicity
   correction, as in the audit: its p-value is the audit's (:meth:`fairaudit.tables.Check.p_value`) with
   the noise's spread added in quadrature at every critical value (:func:`noisy_p_values`).
4. Left out: the data fingerprint, the audit's duration, explanations (computed on rows), measured effects
   of mitigations, comparisons with a baseline, counts of targeted rows: only the whitelisted metadata
   (:data:`PUBLIC_METADATA`) is kept, ``rows`` becomes the noised total.

Unit of privacy: one row; with ``privacy_unit=column``, all the rows sharing a value of that column (one
customer), of which at most ``max_rows_per_unit`` (chosen at random) are kept, so that one customer changes
each table by at most that many (the sensitivity); a ranking's unit is one customer (one list). A score
audit needs public bounds of the score (``score_range``). Weighted audits are refused: a weight has no bound, so
neither has a row's influence. The categories of the sensitive attributes are treated as public knowledge
(the groups shown are those of the audit, including any whose noised count is 0).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from fairaudit.findings import evaluate
from fairaudit.inputs import FairAuditWarning
from fairaudit.mitigation import advice
from fairaudit.public.noise import PrivacyError, Release, opendp, release, simulate
from fairaudit.public.statistics import (
    SCORE_BINS,
    UNRELEASED,
    Statistics,
    exact_tables,
    per_unit,
    public_statistics,
)
from fairaudit.ranking import ranking_tables
from fairaudit.ranking_checks import customer_policy
from fairaudit.scores import score_overall, score_tables
from fairaudit.segmentation import segment_tables
from fairaudit.stats import GroupStats
from fairaudit.tables import JOIN, Check, build_tables, left_out_groups, views
from fairaudit.uncertainty import holm, wald_homogeneity, z_value

NOISE_REPLICATES = 30
UNBOUNDED = ("min_representation_ratio", "standardized_mean_difference", "wasserstein_distance")
PUBLIC_TABLES = ("by_group", "overall", "disparities", "measures", "segments", "segments_ci_low", "segments_ci_high",
                 "pairwise", "score_quantiles")
RANKING_METADATA = ("query", "item", "y_rank", "y_score", "top_k", "favorable")
PUBLIC_METADATA = ("sensitive", "finest_groups", "target", "pos_label", "task", "model", "model_repr", "engine",
                   "columns", "prediction_source", "threshold", "features", "weighted", "confidence", "n_boot",
                   "segments", "favorable", "versions", "model_info", "data_info")
GUARANTEE = (
    "Differential privacy bounds what anyone can learn about one person from this report: whether or not any "
    "one person's data was used, every number here would have come out with nearly the same probability, at "
    "most e^epsilon times more or less likely (epsilon = {epsilon:g}{delta}). Each count was released with "
    "random noise from OpenDP before any rate or disparity was computed, and the intervals are widened to "
    "include that noise, so a difference they do not rule out may be noise rather than a finding."
)


def publish(result: Any, *, epsilon: float, delta: float = 0.0, random_state: Any = None,
            privacy_unit: str | None = None, max_rows_per_unit: int = 1,
            score_range: tuple[float, float] | None = None) -> Any:
    """The transparency report of ``result``: a new result of the same class whose every number is computed
    from OpenDP-noised sufficient statistics (see the module docstring)."""
    _check(result, epsilon, delta, privacy_unit, max_rows_per_unit, score_range)
    opendp()
    rng = np.random.default_rng(random_state)
    statistics: Statistics = result.statistics
    sensitivity = 1
    if privacy_unit is not None:
        statistics = statistics.bounded(privacy_unit, max_rows_per_unit, int(rng.integers(2**31)))
        sensitivity = max_rows_per_unit
    exact = exact_tables(statistics, score_range)
    share_eps, share_delta = epsilon / len(exact), delta / len(exact)
    released = {name: release(name, values, integer=integer, sensitivity=sensitivity * per_unit(statistics, name),
                              epsilon=share_eps, delta=share_delta) for name, (values, integer) in exact.items()}
    meta = result.metadata
    policy = result.policy
    options = {"intersections": any(JOIN in v for v in result.by_group.index.get_level_values("attribute")),
               "confidence": meta.get("confidence", 0.95), "n_boot": meta.get("n_boot", 1000),
               "decisions": meta.get("task") != "segmentation" or meta.get("favorable") is not None}
    public = public_statistics(statistics, released, score_range)
    compared = {"left_out": {}, "reference": None} if public.ranking is not None else _compared(
        public.stats, policy, meta.get("reference"), options["intersections"])
    point = rebuild(public, rng=rng, **options, **compared)
    replicates = [rebuild(public_statistics(statistics, _renoised(released, rng), score_range), rng=rng,
                          **{**options, "n_boot": 0}, **compared) for _ in range(NOISE_REPLICATES)]
    tables = widen(point, replicates, options["confidence"], rates=score_range is None,
                   impact_cap=1.0 if not compared["reference"] else np.inf)
    findings = evaluate(tables["by_group"], tables["disparities"], tables["measures"],
                        policy if public.ranking is None else _released_policy(policy), options["confidence"],
                        p_values=noisy_p_values(point["checks"], replicates))
    metadata = {k: meta[k] for k in PUBLIC_METADATA if k in meta}
    metadata.update(rows=int(point["rows"]), created_utc=meta.get("created_utc"), auc_score_bins=point["bins"],
                    random_state=random_state if isinstance(random_state, (int, type(None))) else "Generator")
    if "chi2_method" in meta:
        metadata["chi2_method"] = point["methods"]
    if point["left_out"] is not None:
        metadata["left_out"] = [{"attribute": a, "group": g, "reason": r}
                                for (a, g), r in point["left_out"]["reason"].items()]
        metadata["reference"] = compared["reference"]
    if point["pairs"] is not None:
        metadata["score_pairs"] = point["pairs"]
    if public.ranking is not None:
        metadata.update({k: meta[k] for k in RANKING_METADATA if k in meta}, customers=int(point["rows"]))
    metadata["privacy"] = _privacy(released, epsilon, delta, privacy_unit, max_rows_per_unit, score_range,
                                   ranking=public.ranking is not None)
    # a new result, not a copy: any other field (explanations, comparison, tables added later) keeps its
    # default instead of carrying exact numbers into the public report
    return type(result)(metadata=metadata, findings=findings, policy=policy, recommendations=advice(findings),
                        **{k: tables[k] for k in PUBLIC_TABLES})


def _compared(stats: GroupStats, policy: Any, reference: dict[str, str] | None,
              intersections: bool) -> dict[str, Any]:
    """The groups the public comparisons leave out, decided as the audit decides them but on the noised
    counts, and the audit's reference groups (one left out after the noise falls back to the default, with
    a warning)."""
    left_out = left_out_groups(stats, intersections=intersections, suppress_below=policy.suppress_below,
                               compare_missing=policy.compare_missing)
    kept = {a: g for a, g in (reference or {}).items() if (a, (g,)) not in left_out}
    for attribute in set(reference or {}) - set(kept):
        warnings.warn(f"The reference group {reference[attribute]!r} of {attribute!r} has fewer than "
                      f"{policy.suppress_below} people after the noise: the transparency report takes the most "
                      "favoured group as its reference instead.", FairAuditWarning, stacklevel=4)
    return {"left_out": left_out, "reference": kept if reference is not None else None}


def _check(result: Any, epsilon: float, delta: float, privacy_unit: str | None, max_rows_per_unit: int,
           score_range: tuple[float, float] | None) -> None:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (0 < epsilon < math.inf):
        raise PrivacyError(f"The 'epsilon' parameter of to_public must be a positive finite number; got {epsilon!r}.")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 <= delta < 1:
        raise PrivacyError(f"The 'delta' parameter of to_public must be in [0, 1); got {delta!r}.")
    if isinstance(max_rows_per_unit, bool) or not isinstance(max_rows_per_unit, int) or max_rows_per_unit < 1:
        raise PrivacyError("The 'max_rows_per_unit' parameter of to_public must be a positive integer; "
                           f"got {max_rows_per_unit!r}.")
    statistics = getattr(result, "statistics", None)
    if statistics is None:
        raise PrivacyError("to_public needs the statistics audit() keeps in memory; this result has none (it was "
                           "loaded from JSON, or is already public): run fairaudit.audit again and call to_public.")
    scored = statistics.score_counts is not None
    if scored and score_range is None:
        raise PrivacyError("The 'score_range' parameter of to_public is required for a score audit: give public "
                           "bounds (low, high) of the score, known without looking at the data (e.g. (0, 10000) "
                           "for a lifetime value); scores outside are counted at the nearest bound.")
    if score_range is not None and not (scored and _is_range(score_range)):
        raise PrivacyError("The 'score_range' parameter of to_public must be a pair (low, high) of finite numbers "
                           f"with low < high, for score audits only; got {score_range!r}.")
    if statistics.ranking is not None and (privacy_unit is not None or score_range is not None):
        raise PrivacyError("The 'privacy_unit' and 'score_range' parameters of to_public do not apply to a ranking "
                           "audit: its unit of privacy is one customer (one list) already. Leave them out.")
    if result.metadata.get("weighted"):
        raise PrivacyError("to_public refuses weighted audits: a row's weight has no bound, so neither has its "
                           "influence on the released sums. Audit without sample_weight for the public report.")
    if privacy_unit is not None and statistics.bounded is None:
        raise PrivacyError(f"The 'privacy_unit' parameter of to_public names column {privacy_unit!r}, but this "
                           "audit's rows are not reachable any more to bound each unit's rows.")


def _is_range(score_range: Any) -> bool:
    try:
        low, high = (float(v) for v in score_range)
    except (TypeError, ValueError):
        return False
    return math.isfinite(low) and math.isfinite(high) and low < high and not isinstance(score_range, str)


def _renoised(released: dict[str, Release], rng: np.random.Generator) -> dict[str, Release]:
    """The released tables with one more draw of their noise (for the spread the noise adds)."""
    return {name: dataclasses.replace(table, values=table.values + simulate(table, rng))
            for name, table in released.items()}


def rebuild(public: Statistics, *, rng: np.random.Generator, intersections: bool, confidence: float, n_boot: int,
            decisions: bool, left_out: dict, reference: dict | None) -> dict[str, Any]:
    """Every table of the audit from the public statistics, by the ordinary audit's functions (a score
    audit's from its noised histogram)."""
    stats = public.stats
    out: dict[str, Any] = {"segments": None, "segments_ci_low": None, "segments_ci_high": None, "methods": None,
                           "pairs": None, "score_quantiles": None, "checks": {}, "pairwise": None, "left_out": None,
                           "bins": None if stats is None or stats.score_edges is None else len(stats.score_edges) - 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if public.ranking is not None:
            ranked = ranking_tables(public.ranking, views(public.ranking.attributes, intersections),
                                    confidence=confidence, n_boot=n_boot, rng=rng)
            out.update(_released_only(ranked), rows=public.ranking.column("queries").sum())
            return out
        scores = public.scores
        if scores is not None:
            tables = score_tables(scores, stats, views(stats.attributes, intersections), confidence=confidence,
                                  n_boot=n_boot, rng=rng)
            out.update(by_group=tables.by_group, overall=score_overall(scores, stats, confidence),
                       disparities=tables.disparities, measures=tables.measures, pairs=tables.pairs,
                       score_quantiles=tables.quantiles, rows=scores.column("count").sum())
            return out
        tables = build_tables(stats, intersections=intersections, confidence=confidence, n_boot=n_boot, rng=rng,
                              decisions=decisions, left_out=left_out, reference=reference)
        out.update(by_group=tables.by_group, overall=tables.overall, disparities=tables.disparities,
                   measures=tables.measures, checks=tables.checks, pairwise=tables.pairwise,
                   left_out=tables.left_out, rows=stats.count.sum())
        if public.segments is not None:
            segmented = segment_tables(public.segments, stats, views(stats.attributes, intersections),
                                       confidence=confidence, n_boot=n_boot, rng=rng)
            out["measures"] = pd.concat([tables.measures, segmented.measures]).sort_index(
                level="attribute", sort_remaining=False)
            out.update(segments=segmented.segments, segments_ci_low=segmented.segments_ci_low,
                       segments_ci_high=segmented.segments_ci_high, methods=segmented.methods)
    return out


def _released_policy(policy: Any) -> Any:
    """A ranking's customer policy without checks of metrics no released table carries."""
    customers = customer_policy(policy)
    return dataclasses.replace(customers, thresholds={name: t for name, t in customers.thresholds.items()
                                                      if not name.startswith(UNRELEASED)})


def _released_only(ranked: Any) -> dict[str, pd.DataFrame]:
    """A ranking's tables without the metrics no released table carries (:data:`UNRELEASED`)."""
    def kept(labels: pd.Index) -> np.ndarray:
        return ~np.array([any(str(label).startswith(m) for m in UNRELEASED) for label in labels], dtype=bool)

    return {"by_group": ranked.by_group.loc[:, kept(ranked.by_group.columns)],
            "overall": ranked.overall[kept(ranked.overall.index)],
            "disparities": ranked.disparities[kept(ranked.disparities.index.get_level_values("metric"))],
            "measures": ranked.measures[kept(ranked.measures.index.get_level_values("measure"))]}


def widen(point: dict[str, Any], replicates: list[dict[str, Any]], confidence: float, *,
          rates: bool = True, impact_cap: float = 1.0) -> dict[str, Any]:
    """``point``'s intervals widened by the spread of each number over the noise ``replicates`` (times
    Student's quantile with ``len(replicates) - 1`` degrees of freedom: the spread is itself estimated).
    ``rates``: every per-group value lies in [0, 1] (else a score's, unbounded); ``impact_cap`` bounds the
    disparate impact ratios (1 against the most favoured group, none against a named reference)."""
    z = float(scipy_stats.t.ppf(0.5 + confidence / 2, len(replicates) - 1))
    span = (0.0, 1.0) if rates else (-np.inf, np.inf)
    out = dict(point)
    by_group = point["by_group"].copy()
    for column in [c for c in by_group.columns if f"{c}_ci_low" in by_group.columns]:
        _widen_columns(by_group, replicates, "by_group", column, f"{column}_ci_low", f"{column}_ci_high", z,
                       *((0.0, impact_cap) if column == "disparate_impact_ratio" else span))
    out["by_group"] = by_group
    for name in ("overall", "measures"):
        frame = point[name].copy()
        lower, upper = -np.inf, np.inf  # a score audit's overall mean and spread
        if rates or name == "measures":
            lower, upper = 0.0, np.where(frame.index.get_level_values(-1).isin(UNBOUNDED), np.inf, 1.0)
        _widen_columns(frame, replicates, name, "value", "ci_low", "ci_high", z, lower, upper)
        out[name] = frame
    disparities = point["disparities"].copy()
    _widen_columns(disparities, replicates, "disparities", "difference", "difference_ci_low", "difference_ci_high", z,
                   0.0, span[1] if rates else np.inf)
    _widen_columns(disparities, replicates, "disparities", "ratio", "ratio_ci_low", "ratio_ci_high", z,
                   span[0], 1.0)
    disparities["p_value"] = [_p_value(by_group.loc[view, metric], by_group.loc[view, f"{metric}_ci_low"],
                                       by_group.loc[view, f"{metric}_ci_high"], z_value(confidence))
                              if metric in by_group.columns and np.isfinite(p) else np.nan
                              for (view, metric), p in disparities["p_value"].items()]
    disparities["p_value_adjusted"] = holm(disparities["p_value"].to_numpy(dtype=float))
    out["disparities"] = disparities
    if point["pairwise"] is not None:
        pairwise = point["pairwise"].copy()
        aligned = [{"pairwise": r["pairwise"].reindex(pairwise.index)} for r in replicates]
        _widen_columns(pairwise, aligned, "pairwise", "difference", "difference_ci_low", "difference_ci_high", z,
                       -1.0, 1.0)
        _widen_columns(pairwise, aligned, "pairwise", "ratio", "ratio_ci_low", "ratio_ci_high", z, 0.0, np.inf)
        out["pairwise"] = pairwise
    if point["segments"] is not None:
        spread = _spread([r["segments"].to_numpy(dtype=float) for r in replicates])
        for side, sign in (("segments_ci_low", -1), ("segments_ci_high", 1)):
            out[side] = point["segments"] + sign * _side(point["segments"].to_numpy(), point[side].to_numpy(), spread,
                                                         z, sign)
            out[side] = out[side].clip(0.0, 1.0)
    return out


def noisy_p_values(checks: dict[tuple[str, str], Check], replicates: list[dict[str, Any]]
                   ) -> Callable[[str, str, str, float], float] | None:
    """The evidence of a breach of each threshold check, as the audit's (:meth:`fairaudit.tables.Check.p_value`,
    simultaneous over the view's groups, then the policy's multiplicity correction) with the noise's standard
    deviation over the ``replicates`` added in quadrature to each side at every critical value."""
    if not checks:
        return None
    spread = {key: float(_spread([np.array([r["checks"][key].value if key in r["checks"] else np.nan])
                                  for r in replicates])[0]) for key in checks}

    def p_value(attribute: str, name: str, bound: str, limit: float) -> float:
        check = checks.get((attribute, name))
        if check is None:
            return np.nan
        return _noisy(check, np.nan_to_num(spread[(attribute, name)])).p_value(bound, limit)

    return p_value


def _noisy(check: Check, sd: float) -> Check:
    def bounds(z: float) -> tuple[float, float]:
        low, high = check.bounds(z)
        v = check.value
        return (v - math.hypot(max(v - low, 0.0), z * sd), v + math.hypot(max(high - v, 0.0), z * sd))

    return dataclasses.replace(check, bounds=bounds)


def _spread(draws: list[np.ndarray]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(np.stack(draws), axis=0, ddof=1)


def _side(value: np.ndarray, bound: np.ndarray, spread: np.ndarray, z: float, sign: int) -> np.ndarray:
    """One side's new half-width: the sampling half-width and ``z`` noise standard deviations in quadrature."""
    half = np.maximum(sign * (bound - value), 0.0)
    return np.sqrt(half**2 + (z * np.nan_to_num(spread)) ** 2)


def _widen_columns(frame: pd.DataFrame, replicates: list[dict[str, Any]], name: str, value: str, low: str, high: str,
                   z: float, lower: Any, upper: Any) -> None:
    spread = _spread([r[name][value].to_numpy(dtype=float) for r in replicates])
    v = frame[value].to_numpy(dtype=float)
    frame[low] = np.maximum(v - _side(v, frame[low].to_numpy(dtype=float), spread, z, -1), lower)
    frame[high] = np.minimum(v + _side(v, frame[high].to_numpy(dtype=float), spread, z, 1), upper)


def _p_value(values: pd.Series, low: pd.Series, high: pd.Series, z: float) -> float:
    """Wald homogeneity p-value with each group's variance read off its widened interval."""
    return wald_homogeneity(values.to_numpy(dtype=float), ((high - low).to_numpy(dtype=float) / (2 * z)) ** 2)


def _privacy(released: dict[str, Release], epsilon: float, delta: float, privacy_unit: str | None,
             max_rows_per_unit: int, score_range: tuple[float, float] | None, *, ranking: bool) -> dict[str, Any]:
    unit = ("one row (one customer = one row)" if privacy_unit is None else
            f"one value of column {privacy_unit!r} (one customer), at most {max_rows_per_unit} of its rows kept")
    if ranking:
        unit = ("one customer (one list, all its rows); the favourable exposure has no per-customer bound and is "
                "not released")
    return {
        "epsilon": float(epsilon), "delta": float(delta),
        "mechanism": "; ".join(dict.fromkeys(t.mechanism for t in released.values())),
        "unit": unit, "rows_per_unit": max_rows_per_unit if privacy_unit is not None else 1,
        "budget": "split equally across the released tables (sequential composition)",
        "tables": {name: table.describe() for name, table in released.items()},
        "intervals": (f"sampling and noise in quadrature: the spread of each number over {NOISE_REPLICATES} "
                      "redraws of the noise widens each side of its interval"),
        "categories": "the categories of the sensitive attributes are treated as public",
        "guarantee": GUARANTEE.format(epsilon=epsilon, delta=f", delta = {delta:g}" if delta else ""),
        **({} if score_range is None else {"scores": (
            f"scores counted in {SCORE_BINS} equal-width bins of the public range [{score_range[0]:g}, "
            f"{score_range[1]:g}] (outside it: the nearest bin); each bin's scores taken as uniform over it; the "
            "error metrics of a numeric target are not released")}),
    }


def transparency(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The report's context of a transparency report (``None`` for an internal audit)."""
    privacy = metadata.get("privacy")
    if not privacy:
        return None
    return {"title": "Transparency report: group fairness under differential privacy",
            "guarantee": privacy["guarantee"], "epsilon": privacy["epsilon"], "delta": privacy["delta"],
            "unit": privacy["unit"], "mechanism": privacy["mechanism"],
            "tables": [{"name": n, **t} for n, t in privacy["tables"].items()], "intervals": privacy["intervals"]}

