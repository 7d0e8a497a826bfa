"""From group statistics to the audit's tables: by_group, overall, disparities, measures.

Views. Each single sensitive attribute and (with intersections) each crossing of two or more is a
*view*: its statistics are the finest table summed over the other attributes. A crossing's name joins
the attribute names with ``" & "`` in the order given; its groups join the values the same way.

Disparities between the groups of a view, as fairlearn's ``between_groups``: ``difference`` is
max - min and ``ratio`` min / max over the *compared* groups where the metric is defined, with intervals
simultaneous over the groups (:mod:`fairaudit.uncertainty`). Compared groups leave out those too small to
be shown (policy ``suppress_below``) and, unless the policy's ``compare_missing`` is true, any group with a
missing value; ``result.metadata["left_out"]`` lists them with the reason. The disparate impact ratio takes
every compared group's selection rate over the reference group's: the one named by ``reference=``, else
the most favoured compared group, never ``"(missing)"``.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.inputs import UndefinedMetricWarning
from fairaudit.metrics import Bootstrap, Metric, applicable_metrics, safe_divide
from fairaudit.stats import JOIN, MISSING_GROUP, SUM_FIELDS, GroupStats, sum_groups
from fairaudit.uncertainty import (
    Contrasts,
    Estimate,
    Replicates,
    bootstrap_cells,
    bootstrap_margins,
    estimate,
    holm,
    homogeneity,
    percentile_interval,
    range_critical,
    range_p_value,
    replicate_variance,
)

MEASURES = {
    "demographic_parity_difference": "largest difference in selection rate between groups",
    "demographic_parity_ratio": "smallest over largest selection rate",
    "equalized_odds_difference": "larger of the true- and false-positive-rate differences",
    "equalized_odds_ratio": "smaller of the true- and false-positive-rate ratios",
    "equal_opportunity_difference": "largest difference in true positive rate between groups",
    "equal_opportunity_ratio": "smallest over largest true positive rate",
    "disparate_impact_ratio": "selection rate of the least favoured group over the reference group (default the "
                              "most favoured; the four-fifths rule asks >= 0.8)",
}


@dataclass(frozen=True)
class Check:
    """One measure of one view as a function of the critical value: its point ``value`` and ``bounds(z)``;
    ``n_groups`` and ``families`` say which simultaneous distribution ``z`` refers to."""

    value: float
    bounds: Callable[[float], tuple[float, float]]
    n_groups: int
    families: int = 1
    _intervals: dict[float, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)

    def interval(self, confidence: float) -> tuple[float, float]:
        """The simultaneous interval at level ``confidence`` (computed once: tables and findings read it again)."""
        if self.n_groups < 2 or not np.isfinite(self.value):
            return np.nan, np.nan
        if confidence not in self._intervals:
            self._intervals[confidence] = self.bounds(range_critical(self.n_groups, confidence, self.families))
        return self._intervals[confidence]

    def p_value(self, bound: str, limit: float) -> float:
        """Evidence that the measure lies beyond ``limit`` (``bound`` "max": above; "min": below): the
        smallest simultaneous error level at which the interval lies wholly beyond it."""
        if self.n_groups < 2 or not np.isfinite(self.value):
            return np.nan

        def beyond(z: float) -> bool:
            low, high = self.bounds(z)
            return bool(low > limit) if bound == "max" else bool(high < limit)

        if not beyond(0.0):
            return 1.0
        inside, outside = 0.0, 64.0
        if beyond(outside):
            return range_p_value(outside, self.n_groups, self.families)
        for _ in range(20):  # z to within 64 / 2**20
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if beyond(middle) else (inside, middle)
        return range_p_value(inside, self.n_groups, self.families)


@dataclass(frozen=True)
class Tables:
    by_group: pd.DataFrame
    overall: pd.DataFrame
    disparities: pd.DataFrame
    measures: pd.DataFrame
    pairwise: pd.DataFrame
    left_out: pd.DataFrame
    checks: dict[tuple[str, str], Check]

    def p_value(self, attribute: str, name: str, bound: str, limit: float) -> float:
        """:meth:`Check.p_value` of a named measure or a ``<metric>_difference`` / ``_ratio`` (NaN if absent)."""
        check = self.checks.get((attribute, name))
        return np.nan if check is None else check.p_value(bound, limit)


@dataclass(frozen=True)
class _View:
    """One view's point values, intervals and contrasts per metric, and which groups it compares."""

    name: str
    labels: list[str]
    stats: GroupStats
    values: dict[str, np.ndarray]
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    variance: dict[str, np.ndarray]
    contrasts: dict[str, Contrasts]
    compared: np.ndarray
    reference: np.ndarray
    member: np.ndarray
    """Per finest group, the index of its group in this view."""

    _compared_groups: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def groups(self, metric: str) -> np.ndarray:
        """Indices of the groups compared on ``metric``: shown, and with a defined value and variance (read once
        the view's estimates are final)."""
        if metric not in self._compared_groups:
            ok = self.compared & np.isfinite(self.values[metric]) & np.isfinite(self.variance[metric])
            self._compared_groups[metric] = np.flatnonzero(ok)
        return self._compared_groups[metric]


def views(attributes: tuple[str, ...], intersections: bool) -> list[tuple[str, ...]]:
    """Single attributes, then (optionally) every crossing of two or more, in the order given."""
    out = [(a,) for a in attributes]
    if intersections:
        for size in range(2, len(attributes) + 1):
            out.extend(itertools.combinations(attributes, size))
    return out


def left_out_groups(stats: GroupStats, *, intersections: bool, suppress_below: int,
                    compare_missing: bool) -> dict[tuple[str, tuple[str, ...]], str]:
    """The (view, group key) pairs that no comparison may use, with the reason: groups too small to be
    shown, and (unless ``compare_missing``) groups with a missing value of any of their attributes."""
    out = {}
    for attrs in views(stats.attributes, intersections):
        keys, member = stats.membership(attrs)
        counts = np.bincount(member, weights=stats.group_count, minlength=len(keys))
        for key, count in zip(keys, counts, strict=True):
            if count < suppress_below:
                out[(JOIN.join(attrs), key)] = f"fewer than {suppress_below} people (policy suppress_below)"
            elif not compare_missing and MISSING_GROUP in key:
                out[(JOIN.join(attrs), key)] = "missing value (policy compare_missing: false)"
    return out


def build_tables(stats: GroupStats, *, intersections: bool, confidence: float, n_boot: int,
                 rng: np.random.Generator, decisions: bool = True,
                 left_out: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
                 reference: Mapping[str, str] | None = None,
                 overrides: Mapping[tuple[str, ...], Mapping[str, Any]] | None = None) -> Tables:
    """Every table of the audit from the finest group statistics (``decisions=False``: counts only, for
    a segmentation without favourable segments). ``left_out`` (see :func:`left_out_groups`) keeps groups
    out of every comparison; ``reference`` names, per attribute, the group ratios are taken against;
    ``overrides`` replaces some views' metrics by other estimates (the corrected metrics of an estimated
    attribute, :mod:`fairaudit.estimated`): per view and metric, ``keys``, ``values``, ``low``, ``high`` and
    bootstrap ``replicates`` per group."""
    metrics = applicable_metrics(stats.has_target, stats.has_score) if decisions else []
    left_out = dict(left_out or {})
    reference = dict(reference or {})
    bootstrapped = [m for m in metrics if isinstance(m.interval, Bootstrap)]
    plain = [m for m in metrics if m not in bootstrapped]
    margins = bootstrap_margins(bootstrapped)
    every = [*views(stats.attributes, intersections), ()]
    compared = _Compared({}, {}, {})
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the multinomial draw releases the GIL: it runs while the other metrics are estimated and compared
        drawn = pool.submit(bootstrap_cells, stats, n_boot, rng, margins) if margins else None
        stacked, summed = _view_stats(stats, every)
        every_view = [_view(stats, attrs, summed[attrs][0], left_out, reference) for attrs in every]
        spans = [(attrs, summed[attrs][1]) for attrs in every]
        found = {m.name: estimate(m, stacked, None, confidence) for m in plain}
        _compare(every_view, spans, plain, found, overrides or {}, stats.has_target, confidence, compared)
        replicates = None if drawn is None else drawn.result()
    if replicates is not None:
        parts = [(view.member, span) for view, (_, span) in zip(every_view, spans, strict=True)]
        cells = _stacked_replicates(replicates, parts).cells(stats.has_target)
        found = {m.name: estimate(m, stacked, cells, confidence) for m in bootstrapped}
        _compare(every_view, spans, bootstrapped, found, overrides or {}, stats.has_target, confidence, compared)
    *evaluated, overall = every_view
    _warn_undefined(evaluated, metrics)
    return Tables(
        by_group=_by_group(evaluated, metrics, stats.group_weight.sum(), confidence),
        overall=pd.DataFrame(
            {
                "value": [overall.values[m.name][0] for m in metrics],
                "ci_low": [overall.low[m.name][0] for m in metrics],
                "ci_high": [overall.high[m.name][0] for m in metrics],
            },
            index=pd.Index([m.name for m in metrics], name="metric"),
        ),
        disparities=_disparities(evaluated, metrics, compared.disparities),
        measures=_measures(evaluated, compared.checks, confidence),
        pairwise=_pairwise(evaluated, metrics, compared.pairwise),
        left_out=pd.DataFrame(
            {"reason": list(left_out.values())},
            index=pd.MultiIndex.from_tuples([(v, JOIN.join(k)) for v, k in left_out] or [("", "")][:0],
                                            names=["attribute", "group"]),
        ),
        checks=compared.checks,
    )


@dataclass(frozen=True)
class _Compared:
    """The comparisons of every view and metric, keyed by (view, metric or measure), filled a set of
    metrics at a time: checks, disparity rows and pairwise columns."""

    checks: dict[tuple[str, str], Check]
    disparities: dict[tuple[str, str], tuple]
    pairwise: dict[tuple[str, str], tuple[np.ndarray, ...]]


def _compare(every_view: list[_View], spans: list[tuple[tuple[str, ...], slice]], metrics: list[Metric],
             found: dict[str, Estimate], overrides: Mapping[tuple[str, ...], Mapping[str, Any]], has_target: bool,
             confidence: float, compared: _Compared) -> None:
    """Add the ``metrics``' stacked estimates ``found`` to every view (the overall one last; ``spans``: each
    view's attributes and rows in the stack; ``overrides`` replacing some), then their comparisons between the
    groups of each view to ``compared``."""
    names = {m.name for m in metrics}
    for view, (attrs, span) in zip(every_view, spans, strict=True):
        _add_estimates(view, span, found)
        if attrs:
            _overridden(view, {k: v for k, v in overrides.get(attrs, {}).items() if k in names})
    evaluated = every_view[:-1]
    compared.checks.update(_checks(evaluated, metrics, has_target, named="selection_rate" in names))
    compared.pairwise.update(_pairwise_parts(evaluated, metrics, confidence, compared.checks))
    compared.disparities.update(_disparity_rows(evaluated, metrics, compared.checks, confidence))


def _view_stats(finest: GroupStats, every: list[tuple[str, ...]]
                ) -> tuple[GroupStats, dict[tuple[str, ...], tuple[GroupStats, slice]]]:
    """Every view's statistics, written one after the other into one stack of groups (so that each metric is
    estimated once for all views): the stack, and per view its statistics (a slice of the stack) and slice.
    A view is summed from the view with the fewest groups already summed that holds its attributes (the finest
    one at first): crossings before their parts. Groups are in their keys' natural order."""
    keys = {attrs: finest.membership(attrs)[0] for attrs in every}
    starts = np.cumsum([0] + [len(keys[attrs]) for attrs in every])
    spans = {attrs: slice(int(start), int(start) + len(keys[attrs])) for attrs, start in zip(every, starts[:-1],
                                                                                          strict=True)}
    names = [*SUM_FIELDS, *(["score_hist"] if finest.score_hist is not None else [])]
    stack = {name: np.zeros((int(starts[-1]),) + getattr(finest, name).shape[1:],  # counted histograms stay integers
                            dtype=np.result_type(getattr(finest, name).dtype, np.int64)) for name in names}
    done: dict[tuple[str, ...], tuple[GroupStats, slice]] = {}
    for attrs in sorted(every, key=len, reverse=True):
        parent = min((s for a, (s, _) in done.items() if set(attrs) <= set(a)), key=lambda s: s.n_groups,
                     default=finest)
        _, member = parent.membership(attrs)
        span = spans[attrs]
        for name in names:
            sum_groups(getattr(parent, name), member, len(keys[attrs]), axis=0, out=stack[name][span])
        done[attrs] = (replace(finest, attributes=attrs, groups=keys[attrs],
                               **{name: stack[name][span] for name in names}), span)
    stacked = replace(finest, attributes=("view", "group"),
                      groups=tuple((JOIN.join(attrs), JOIN.join(key)) for attrs in every for key in keys[attrs]),
                      **stack)
    return stacked, done


def _stacked_replicates(replicates: Replicates, parts: list[tuple[np.ndarray, slice]]) -> Replicates:
    """The finest groups' replicates summed to every view's groups, stacked as :func:`_view_stats` stacks them
    (``parts``: per view, each finest group's group in it and the view's rows in the stack): one product with
    the 0/1 membership matrix."""
    membership = np.zeros((parts[-1][1].stop, len(parts[0][0])))
    for member, span in parts:
        membership[span.start + member, np.arange(len(member))] = 1.0

    def stacked(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else (membership @ array.reshape(len(array), -1)).reshape(
            (len(membership),) + array.shape[1:])

    return Replicates(*(stacked(a) for a in (replicates.confusion, replicates.by_bin, replicates.score_by_bin)))


def _view(finest: GroupStats, attrs: tuple[str, ...], stats: GroupStats,
          left_out: dict[tuple[str, tuple[str, ...]], str], reference: dict[str, str]) -> _View:
    """The view ``attrs`` (its statistics ``stats``), no metric estimated yet, and which of its groups are
    compared and can be the reference."""
    keys, member = finest.membership(attrs)
    name = JOIN.join(attrs)
    compared = np.array([(name, k) not in left_out for k in keys], dtype=bool)
    chosen = tuple(reference.get(a) for a in attrs)
    if attrs and all(c is not None for c in chosen) and chosen in keys and compared[keys.index(chosen)]:
        ref = np.array([k == chosen for k in keys])
    else:
        ref = compared & np.array([MISSING_GROUP not in k for k in keys], dtype=bool)
    return _View(name, [JOIN.join(k) for k in keys], stats, {}, {}, {}, {}, {}, compared, ref, member)


def _add_estimates(view: _View, span: slice, found: dict[str, Estimate]) -> None:
    """Add the metrics ``found`` for all views stacked (see :func:`_view_stats`), rows ``span`` being the view's."""
    for metric, estimated in found.items():
        trials = estimated.contrasts.trials
        view.values[metric], view.low[metric], view.high[metric] = (
            estimated.value[span], estimated.low[span], estimated.high[span])
        view.variance[metric] = estimated.variance[span]
        view.contrasts[metric] = Contrasts(estimated.contrasts.value[span], estimated.contrasts.variance[span],
                                           None if trials is None else trials[span])


def _overridden(view: _View, overrides: Mapping[str, Any] | None) -> _View:
    """The view with some metrics replaced by other estimates; their contrasts are normal, on the
    variance of their replicates."""
    for name, override in (overrides or {}).items():
        if name not in view.values:
            continue
        order = [override.keys.index(key) for key in view.stats.groups]
        view.values[name] = override.values[order]
        view.low[name], view.high[name] = override.low[order], override.high[order]
        view.variance[name] = replicate_variance(override.replicates[:, order])
        view.contrasts[name] = Contrasts(view.values[name], view.variance[name], None)
    return view


def _warn_undefined(evaluated: list[_View], metrics: list[Metric]) -> None:
    undefined = [
        (metric.name, view.name, view.labels[position])
        for view in evaluated
        for metric in metrics
        for position in np.flatnonzero(np.isnan(view.values[metric.name])).tolist()
    ]
    if undefined:
        shown = "; ".join(f"{m} for {a} = {g}" for m, a, g in undefined[:5])
        more = f" (and {len(undefined) - 5} more)" if len(undefined) > 5 else ""
        warnings.warn(
            f"{len(undefined)} metric value(s) are undefined and reported as NaN, e.g. {shown}{more}: "
            "the group has no rows of the kind the metric divides by (e.g. no positives).",
            UndefinedMetricWarning,
            stacklevel=4,
        )


# ---------------------------------------------------------------------------- checks
def _pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs ``(i, j)`` with ``i`` in ``first``, ``j`` in ``second`` and ``i != j``."""
    return _ordered_pairs(tuple(first.tolist()), tuple(second.tolist()))


@functools.lru_cache(maxsize=256)
def _ordered_pairs(first: tuple[int, ...], second: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.repeat(np.array(first, dtype=np.intp), len(second)), np.tile(np.array(second, dtype=np.intp), len(first))
    different = i != j
    return i[different], j[different]


def _undefined(n_groups: int) -> Check:
    return Check(np.nan, lambda z: (np.nan, np.nan), n_groups)


def _difference_check(contrast: Contrasts, idx: np.ndarray) -> Check:
    """max - min over the groups ``idx``: at least the largest lower bound of any ordered pair's difference
    (and 0), at most the largest upper bound."""
    if len(idx) < 2:
        return _undefined(len(idx))
    i, j = _pairs(idx, idx)

    def bounds(z: float) -> tuple[float, float]:
        low, high = contrast.difference(i, j, z)
        return max(float(np.max(low)), 0.0), float(np.max(high))

    return Check(float(contrast.value[idx].max() - contrast.value[idx].min()), bounds, len(idx))


def _ratio_check(contrast: Contrasts, idx: np.ndarray, references: np.ndarray) -> Check:
    """The smallest ratio of a group in ``idx`` to a group in ``references``, with the log-scale bounds of
    every such pair (capped at 1 when two or more groups can be the reference)."""
    i, j = _pairs(idx, references)
    if len(idx) < 2 or len(i) == 0:
        return _undefined(len(idx))
    ratios = safe_divide(contrast.value[i], contrast.value[j])
    defined = ratios[~np.isnan(ratios)]
    value = float(defined.min()) if defined.size else np.nan  # np.nanmin, without its warning for no defined ratio
    cap = 1.0 if len(references) >= 2 else np.inf

    def bounds(z: float) -> tuple[float, float]:
        low, high = contrast.log_ratio(i, j, z)
        return min(float(np.exp(np.min(low))), cap), min(float(np.exp(np.min(high))), cap)

    return Check(value, bounds, len(idx))


def _either(a: Check, b: Check, pick) -> Check:
    """fairlearn's worst case of two measures on independent rows (NaN when either is undefined)."""
    if not (np.isfinite(a.value) and np.isfinite(b.value)):
        return _undefined(max(a.n_groups, b.n_groups))

    def bounds(z: float) -> tuple[float, float]:
        (a_low, a_high), (b_low, b_high) = a.bounds(z), b.bounds(z)
        return float(pick(a_low, b_low)), float(pick(a_high, b_high))

    return Check(float(pick(a.value, b.value)), bounds, max(a.n_groups, b.n_groups), a.families + b.families)


def _references(view: _View, idx: np.ndarray) -> np.ndarray:
    return idx[view.reference[idx]]


def _checks(evaluated: list[_View], metrics: list[Metric], has_target: bool,
            named: bool = True) -> dict[tuple[str, str], Check]:
    """Every disparity of the ``metrics`` in every view, and (``named``) the named measures, as a :class:`Check`."""
    out: dict[tuple[str, str], Check] = {}
    for view in evaluated:
        for metric in metrics:
            idx = view.groups(metric.name)
            contrast = view.contrasts[metric.name]
            out[(view.name, f"{metric.name}_difference")] = _difference_check(contrast, idx)
            out[(view.name, f"{metric.name}_ratio")] = _ratio_check(contrast, idx, idx)
        if not named or "selection_rate" not in view.values:
            continue
        measures = {
            "demographic_parity_difference": out[(view.name, "selection_rate_difference")],
            "demographic_parity_ratio": out[(view.name, "selection_rate_ratio")],
        }
        if has_target:
            tpr_d, tpr_r = (out[(view.name, f"true_positive_rate_{kind}")] for kind in ("difference", "ratio"))
            fpr_d, fpr_r = (out[(view.name, f"false_positive_rate_{kind}")] for kind in ("difference", "ratio"))
            measures.update(equalized_odds_difference=_either(tpr_d, fpr_d, max),
                         equalized_odds_ratio=_either(tpr_r, fpr_r, min),
                         equal_opportunity_difference=tpr_d, equal_opportunity_ratio=tpr_r)
        idx = view.groups("selection_rate")
        measures["disparate_impact_ratio"] = _ratio_check(view.contrasts["selection_rate"], idx,
                                                          _references(view, idx))
        out.update({(view.name, name): check for name, check in measures.items()})
    return out


# ---------------------------------------------------------------------------- tables
def _by_group(evaluated: list[_View], metrics: list[Metric], total_weight: float,
              confidence: float) -> pd.DataFrame:
    columns: dict[str, list[np.ndarray]] = {}
    for view in evaluated:
        part = {
            "count": view.stats.group_count.astype(np.int64),
            "share": view.stats.group_weight / total_weight,
        }
        for metric in metrics:
            part[metric.name] = view.values[metric.name]
            part[f"{metric.name}_ci_low"] = view.low[metric.name]
            part[f"{metric.name}_ci_high"] = view.high[metric.name]
        if "selection_rate" in view.values:
            ratio, low, high = _impact_ratio(view, confidence)
            part.update(disparate_impact_ratio=ratio, disparate_impact_ratio_ci_low=low,
                        disparate_impact_ratio_ci_high=high)
        for column, values in part.items():
            columns.setdefault(column, []).append(values)
    index = pd.MultiIndex.from_arrays([[view.name for view in evaluated for _ in view.labels],
                                       [label for view in evaluated for label in view.labels]],
                                      names=["attribute", "group"])
    return pd.DataFrame({column: np.concatenate(parts) for column, parts in columns.items()}, index=index)


def _impact_ratio(view: _View, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each compared group's selection rate over the reference's (the named reference, else the most
    favoured group that can be a reference), with Katz intervals simultaneous over the groups."""
    nan = np.full(len(view.labels), np.nan)
    rate = view.values["selection_rate"]
    idx = view.groups("selection_rate")
    references = _references(view, idx)
    if len(idx) < 2 or len(references) == 0:
        return nan, nan.copy(), nan.copy()
    favoured = int(references[np.argmax(rate[references])])
    others = idx[idx != favoured]
    low, high = view.contrasts["selection_rate"].log_ratio(
        others, np.full(len(others), favoured), range_critical(len(idx), confidence))
    ratio, ci_low, ci_high = nan.copy(), nan.copy(), nan.copy()
    ratio[idx] = safe_divide(rate[idx], rate[favoured])
    ci_low[others], ci_high[others] = np.exp(low), np.exp(high)
    ci_low[favoured] = ci_high[favoured] = 1.0
    return ratio, ci_low, ci_high


def _spread(values: np.ndarray, replicates: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """max - min and min / max over the groups where the value is defined, and their bootstrap replicates
    contrasting the same two groups (used by :mod:`fairaudit.scores`)."""
    defined = np.isfinite(values)
    if defined.sum() < 2:
        nan = np.full(replicates.shape[0], np.nan)
        return np.nan, np.nan, nan, nan.copy()
    high, low = int(np.nanargmax(values)), int(np.nanargmin(values))
    difference = values[high] - values[low]
    ratio = float(safe_divide(values[low], values[high]))
    return difference, ratio, replicates[:, high] - replicates[:, low], safe_divide(
        replicates[:, low], replicates[:, high])


def _intervals(rep_difference: np.ndarray, rep_ratio: np.ndarray, confidence: float) -> tuple[float, ...]:
    """Percentile intervals of a difference (kept >= 0) and a ratio (kept <= 1)."""
    d_low, d_high = percentile_interval(rep_difference, confidence)
    r_low, r_high = percentile_interval(rep_ratio, confidence)
    return max(d_low, 0.0), max(d_high, 0.0), min(r_low, 1.0), min(r_high, 1.0)


_DISPARITY_COLUMNS = ["difference", "difference_ci_low", "difference_ci_high", "ratio", "ratio_ci_low",
                      "ratio_ci_high", "p_value", "min_group", "max_group"]


def _disparity_rows(evaluated: list[_View], metrics: list[Metric], checks: dict[tuple[str, str], Check],
                    confidence: float) -> dict[tuple[str, str], tuple]:
    """The disparities table's row (:data:`_DISPARITY_COLUMNS`) of each view and metric."""
    rows = {}
    for view in evaluated:
        for metric in metrics:
            value = view.values[metric.name]
            idx = view.groups(metric.name)
            difference = checks[(view.name, f"{metric.name}_difference")]
            ratio = checks[(view.name, f"{metric.name}_ratio")]
            decided = len(idx) >= 2
            rows[(view.name, metric.name)] = (
                difference.value, *difference.interval(confidence), ratio.value, *ratio.interval(confidence),
                homogeneity(metric, view.stats, value, view.variance[metric.name], idx,
                            view.contrasts[metric.name].trials) if decided else np.nan,
                view.labels[idx[np.argmin(value[idx])]] if decided else None,
                view.labels[idx[np.argmax(value[idx])]] if decided else None)
    return rows


def _disparities(evaluated: list[_View], metrics: list[Metric], rows: dict[tuple[str, str], tuple]) -> pd.DataFrame:
    """The disparities table from the rows of :func:`_disparity_rows`, views in order, metrics in order."""
    columns = _DISPARITY_COLUMNS
    index = [(view.name, metric.name) for view in evaluated for metric in metrics]
    ordered = [rows[key] for key in index]
    data = dict(zip(columns, map(list, zip(*ordered, strict=True)), strict=True)) if ordered else {
        c: np.array([], dtype=object) for c in columns}
    table = pd.DataFrame({c: np.array(data[c], dtype=float) if c not in ("min_group", "max_group") else data[c]
                          for c in columns}, index=pd.MultiIndex.from_tuples(index, names=["attribute", "metric"]))
    table.insert(table.columns.get_loc("p_value") + 1, "p_value_adjusted", holm(table["p_value"].to_numpy()))
    return table


def _measures(evaluated: list[_View], checks: dict[tuple[str, str], Check], confidence: float) -> pd.DataFrame:
    rows, index = [], []
    for view in evaluated:
        for name in MEASURES:
            check = checks.get((view.name, name))
            if check is None:
                continue
            rows.append((float(check.value), *(float(bound) for bound in check.interval(confidence))))
            index.append((view.name, name))
    return pd.DataFrame(np.array(rows, dtype=float).reshape(-1, 3), columns=["value", "ci_low", "ci_high"],
                        index=pd.MultiIndex.from_tuples(index, names=["attribute", "measure"]))


_PAIRWISE_COLUMNS = ["attribute", "metric", "group_a", "group_b", "difference", "difference_ci_low",
                     "difference_ci_high", "ratio", "ratio_ci_low", "ratio_ci_high"]


def _pairwise_parts(evaluated: list[_View], metrics: list[Metric], confidence: float,
                    checks: dict[tuple[str, str], Check]) -> dict[tuple[str, str], tuple[np.ndarray, ...]]:
    """Every pair of compared groups per view and metric: difference and ratio (first over second) with
    intervals that hold simultaneously over the view's pairs: the two groups' positions in the view, then the
    columns ``difference`` to ``ratio_ci_high``. The same bounds give the metric's difference and ratio
    :class:`Check` their interval at ``confidence`` (:func:`_seed`)."""
    parts: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}
    for metric in metrics:
        shown = [(view, view.groups(metric.name)) for view in evaluated]
        shown = [(view, idx) for view, idx in shown if len(idx) >= 2]
        for counted in (True, False):  # rates' contrasts and other (or overridden) ones are bounded apart
            alike = [(view, idx) for view, idx in shown if (view.contrasts[metric.name].trials is not None) == counted]
            if alike:
                _bound_pairs(alike, metric.name, confidence, checks, parts)
    return parts


def _bound_pairs(shown: list[tuple[_View, np.ndarray]], metric: str, confidence: float,
                 checks: dict[tuple[str, str], Check], parts: dict[tuple[str, str], tuple[np.ndarray, ...]]) -> None:
    """:func:`_pairwise_parts` of one metric in the views ``shown`` (with their compared groups), bounded at once:
    the views' groups one after the other, each group with its view's critical value."""
    contrasts = [view.contrasts[metric] for view, _ in shown]
    offsets = np.cumsum([0] + [len(c.value) for c in contrasts])
    counted = contrasts[0].trials is not None
    stacked = Contrasts(np.concatenate([c.value for c in contrasts]), np.concatenate([c.variance for c in contrasts]),
                        np.concatenate([c.trials for c in contrasts]) if counted else None)
    z = np.empty(offsets[-1])
    local, pairs = [], []
    for (_, idx), start, end in zip(shown, offsets[:-1], offsets[1:], strict=True):
        z[start:end] = range_critical(len(idx), confidence)
        first, second = _upper_pairs(len(idx))
        local.append((idx[first], idx[second]))
        pairs.append((start + idx[first], start + idx[second]))
    i, j = (np.concatenate(side) for side in zip(*pairs, strict=True))
    d_low, d_high = stacked.difference(i, j, z)
    r_low, r_high = stacked.log_ratio(i, j, z)
    value = stacked.value
    columns = (value[i] - value[j], d_low, d_high, safe_divide(value[i], value[j]), np.exp(r_low), np.exp(r_high))
    ends = np.cumsum([len(first) for first, _ in local])
    starts = np.concatenate([[0], ends[:-1]])
    extremes = [np.maximum.reduceat(d_low, starts), np.minimum.reduceat(d_high, starts),
                np.maximum.reduceat(d_high, starts), np.minimum.reduceat(d_low, starts),
                np.minimum.reduceat(r_low, starts), np.maximum.reduceat(r_high, starts),
                np.minimum.reduceat(r_high, starts), np.maximum.reduceat(r_low, starts)]
    for k, ((view, _), (first, second), begin, end) in enumerate(zip(shown, local, starts, ends, strict=True)):
        parts[(view.name, metric)] = (first, second, *(column[begin:end] for column in columns))
        _seed(checks[(view.name, f"{metric}_difference")], checks[(view.name, f"{metric}_ratio")], confidence,
              *(extreme[k] for extreme in extremes))


def _seed(difference: Check, ratio: Check, confidence: float, max_d_low: float, min_d_high: float,
          max_d_high: float, min_d_low: float, min_r_low: float, max_r_high: float, min_r_high: float,
          max_r_low: float) -> None:
    """Give a metric's difference and ratio checks their interval at ``confidence`` from the extreme bounds of
    every unordered pair (the pairwise table's): a reversed pair's difference bounds are ``(-high, -low)``, and
    so are its log ratio's, so the ordered pairs' extremes are those of both (the same numbers
    :meth:`Check.bounds` would compute again; NaN if any is NaN)."""
    if difference.n_groups >= 2 and np.isfinite(difference.value):
        difference._intervals[confidence] = (max(float(np.maximum(max_d_low, -min_d_high)), 0.0),
                                             float(np.maximum(max_d_high, -min_d_low)))
    if ratio.n_groups >= 2 and np.isfinite(ratio.value):  # every compared group can be the reference: capped at 1
        ratio._intervals[confidence] = (min(float(np.exp(np.minimum(min_r_low, -max_r_high))), 1.0),
                                        min(float(np.exp(np.minimum(min_r_high, -max_r_low))), 1.0))


def _pairwise(evaluated: list[_View], metrics: list[Metric],
              parts: dict[tuple[str, str], tuple[np.ndarray, ...]]) -> pd.DataFrame:
    """The pairwise table from :func:`_pairwise_parts`, views in order, metrics in order; its index is built
    from the groups' positions (no text is hashed again)."""
    keys = [(view.name, metric.name) for view in evaluated for metric in metrics if (view.name, metric.name) in parts]
    columns = _PAIRWISE_COLUMNS
    if not keys:
        return pd.DataFrame({c: np.array([], dtype=object if k < 4 else float) for k, c in enumerate(columns)}
                            ).set_index(columns[:4])
    sizes = [len(parts[key][0]) for key in keys]
    labels = sorted({label for view in evaluated for label in view.labels})
    position = {label: code for code, label in enumerate(labels)}
    coded = {view.name: np.array([position[label] for label in view.labels], dtype=np.intp) for view in evaluated}
    attributes = sorted({view for view, _ in keys})
    names = sorted({metric for _, metric in keys})
    codes = [np.repeat([attributes.index(view) for view, _ in keys], sizes),
             np.repeat([names.index(metric) for _, metric in keys], sizes),
             *(np.concatenate([coded[view][parts[(view, metric)][side]] for view, metric in keys]) for side in (0, 1))]
    used = [np.unique(c) for c in codes]  # each level holds the values it uses, sorted (as set_index makes it)
    index = pd.MultiIndex(
        levels=[pd.Index(np.array(values, dtype=object)[u]) for values, u in zip(
            (attributes, names, labels, labels), used, strict=True)],
        codes=[np.searchsorted(u, c) for u, c in zip(used, codes, strict=True)], names=columns[:4],
        verify_integrity=False)
    return pd.DataFrame({c: np.concatenate([parts[key][k] for key in keys]) for k, c in enumerate(columns[4:], 2)},
                        index=index)


@functools.lru_cache(maxsize=64)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(a, b)``, ``a < b``, of every unordered pair of ``n`` items (``np.triu_indices``)."""
    return np.triu_indices(n, 1)
