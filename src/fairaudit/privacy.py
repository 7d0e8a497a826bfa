"""Privacy by construction: the copy of a result that every report, JSON file and notebook view shows.

Groups with fewer than ``suppress_below`` people (a policy setting, 10 by default) are never shown:

* **primary suppression**: such a group shows "suppressed" in place of its count, share, every metric
  and every interval;
* **complementary suppression, audited against linear recovery**: the groups of a view add up to the
  audited total (which is published), and the groups of a crossing add up, per group of each view of one
  attribute fewer, to that group. Every additive quantity (count, weight, selected, positives, each
  confusion cell, sums of scores) is published for exactly the shown groups, so one linear system serves
  them all: with shown groups moved to the right-hand side, a hidden group is recoverable exactly when its
  unit vector lies in the row space of the sums over hidden groups (:func:`recoverable`, a rank test as
  statistical agencies run). While any is, a shown group sharing a sum with it is suppressed too: of its
  own view before a coarser one, the smallest that frees it, else the smallest. Crossings carry their
  parts structurally (``metadata["views"]``, :class:`Layout`): names are never split on ``" & "``. A view
  of a single group equals the total and cannot be protected.
* a disparity or named measure whose lowest or highest group is suppressed is withheld, unless that
  group is hidden only as a complement and publishing its rate (which the disparity reveals) together
  with the rates already published exposes no hidden group (:func:`exposed_by_rates`; balanced accuracy,
  ROC AUC and calibration error count as the rates they are functions of, :data:`_IMPLIED`), and then
  without its intervals and p-value, which depend on the complement's size; the disparate
  impact ratio of every group of a view whose selection-rate disparity is withheld is withheld too; a score
  measure comparing a pair of groups is withheld when either is suppressed, and a measure that is an
  extreme over the groups of a view (such as the lowest representation ratio) whenever any is;
* a simulated mitigation's measures of an attribute with a suppressed group are withheld (they are measured
  on held-out rows, where its groups are smaller still);
* segment shares, score quantiles and SHAP summaries (importance, share of the gap, proxies that predict
  the group) of a suppressed group are suppressed with it; the baseline comparison (and FA501 drift
  findings) withholds the measures the suppressed copy withholds;
* **no individual's value**: score quantiles are boundaries of a coarsened histogram placed between two
  adjacent distinct scores (:func:`fairaudit.scores.quantiles`), and quantile q of a group of n people is
  shown only when n * min(q, 1 - q) >= ``suppress_below`` (the median from 2 x, the quartiles from 4 x,
  the 5th and 95th percentiles from 20 x ``suppress_below`` people); minimum and maximum are never shown;
* a finding about a suppressed group or a withheld measure keeps its code and severity, but not its
  value or interval.

The tables of the in-memory result stay complete: whoever ran the audit already holds the rows. Only
aggregates are ever written; no row-level value, identifier or per-person explanation appears, and the
data is identified by the SHA-256 fingerprint of the audited columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.findings import SUPPRESSED_GROUPS, Finding
from fairaudit.tables import JOIN
from fairaudit.uncertainty import holm

FLAG = "suppressed"
Key = tuple[str, str]

# the disparities (by metric) whose lowest and highest groups decide each named measure
_DECIDING = {
    "demographic_parity": ("selection_rate",),
    "disparate_impact": ("selection_rate",),
    "equalized_odds": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity": ("true_positive_rate",),
}
# measures pooled over all groups of a view, which isolate none of them (segmentation audits)
_POOLED = ("chi2_p_value", "cramers_v", "normalized_mutual_info")
# per-group tables besides by_group, suppressed row by row
GROUP_TABLES = ("segments", "segments_ci_low", "segments_ci_high", "score_quantiles", "ranking_positions", "estimates")
_IMPACT = ("disparate_impact_ratio", "disparate_impact_ratio_ci_low", "disparate_impact_ratio_ci_high")


MASKED = ("by_group", "disparities", "measures", "findings", "recommendations", "comparison", "explanations",
          *GROUP_TABLES)
"""The tables :func:`suppress` masks (``None`` where an audit has no such table)."""


def suppress(tables: Mapping[str, Any], *, suppress_below: int, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Masked copies of an audit's tables and findings that hide small groups (see the module docstring).

    ``tables`` maps the names of :data:`MASKED` to an audit's tables (``by_group``, ``disparities`` and
    ``measures`` required); ``metadata`` holds the views' parts (``metadata["views"]``) and the score pairs.
    Each masked table has a boolean ``suppressed`` column; hidden numbers are NaN.
    """
    k = suppress_below
    by_group = tables["by_group"]
    layout = Layout.of(metadata, by_group.index)
    hidden = suppressed_groups(by_group, k, layout)
    sums = layout.sums(by_group.index)
    disparities, narrowed = _mask_disparities(tables["disparities"], by_group, hidden, _primary(by_group, k), sums)
    measures = _mask_measures(tables["measures"], disparities, hidden, metadata.get("score_pairs") or {}, narrowed)
    withheld = {key for key, flag in measures[FLAG].items() if flag}
    withheld |= {(a, f"{m}_{kind}") for (a, m), flag in disparities[FLAG].items() if flag
                 for kind in ("difference", "ratio")}
    shown = {key for key, flag in measures[FLAG].items() if not flag}
    shown |= {(a, f"{m}_{kind}") for (a, m), flag in disparities[FLAG].items() if not flag
              for kind in ("difference", "ratio")}
    narrowed_checks = {(a, f"{m}_{kind}") for a, m in narrowed for kind in ("difference", "ratio")}
    narrowed_checks |= {key for key in measures.index if not measures.loc[key, FLAG] and np.isnan(
        measures.loc[key, "ci_low"]) and np.isfinite(tables["measures"].loc[key, "ci_low"])}
    masked: dict[str, Any] = {
        "by_group": _mask_by_group(by_group, hidden, disparities, narrowed), "disparities": disparities,
        "measures": measures,
        "findings": [_mask_finding(f, hidden, withheld, shown, k, narrowed_checks)
                     for f in tables.get("findings") or []],
    }
    masked.update({name: _mask_rows(tables[name], hidden) for name in GROUP_TABLES
                   if tables.get(name) is not None})
    if "score_quantiles" in masked:
        masked["score_quantiles"] = _mask_quantiles(masked["score_quantiles"], by_group["count"], k)
    if tables.get("comparison") is not None:
        masked["comparison"] = mask_comparison(tables["comparison"], measures)
    recommendations = tables.get("recommendations") or []
    if any(r.effect is not None for r in recommendations):
        masked["recommendations"] = [_mask_effect(r, {view for view, _ in hidden}) for r in recommendations]
    if tables.get("explanations") is not None:
        masked["explanations"] = mask_explanations(tables["explanations"], hidden)
    return masked


def mask_comparison(comparison: pd.DataFrame, measures: pd.DataFrame) -> pd.DataFrame:
    """The baseline comparison without the measures the suppressed ``measures`` withhold (NaN, flagged)."""
    out = comparison.copy()
    flag = out.index.isin(measures.index[measures[FLAG].astype(bool)])
    if FLAG in comparison.columns:
        flag |= comparison[FLAG].fillna(False).astype(bool).to_numpy()
    _blank(out, flag)
    out[FLAG] = flag
    return out


def _mask_effect(recommendation: Any, views: set[str]) -> Any:
    """A simulated mitigation's measures ("measure (attribute)"), measured on held-out rows where every group
    is smaller still, are withheld for each attribute with a suppressed group."""
    if recommendation.effect is None:
        return recommendation
    effect = recommendation.effect.copy()
    rows = np.array([any(str(label).endswith(f" ({view})") for view in views) for label in effect.index], dtype=bool)
    _blank(effect, rows)
    return dataclasses.replace(recommendation, effect=effect)


def _mask_quantiles(table: pd.DataFrame, counts: pd.Series, suppress_below: int) -> pd.DataFrame:
    """Score quantile q of a group of n people is shown only when n * min(q, 1 - q) >= suppress_below."""
    out = table.copy()
    sizes = counts.reindex(out.index).to_numpy(dtype=float)
    for column in out.columns:
        if column == FLAG:
            continue
        q = int(column[1:]) / 100
        too_few = ~(sizes * min(q, 1 - q) >= suppress_below)
        out[column] = out[column].astype(float).where(~too_few)
    return out


def mask_explanations(explanations: Any, hidden: set[Key]) -> Any:
    """SHAP aggregates with the rows of hidden groups as NaN: their importance, their share of the gap,
    their counts, and the proxies that predict them best."""
    proxies = explanations.proxies.copy()
    if "group" in proxies.columns and len(proxies):
        rows = np.array([(view, group) in hidden for (view, _), group in zip(proxies.index, proxies["group"],
                                                                               strict=True)])
        _blank(proxies, rows, keep=("group", "importance", "flag"))
    return dataclasses.replace(
        explanations, proxies=proxies,
        importance=_mask_rows(explanations.importance, hidden),
        gap=_mask_rows(explanations.gap, hidden),
        groups=_mask_rows(explanations.groups, hidden),
    )


def _mask_rows(table: pd.DataFrame, hidden: set[Key]) -> pd.DataFrame:
    """A table indexed by (attribute, group, ...) with the numbers of hidden groups as NaN."""
    out = table.copy()
    rows = np.array([tuple(key[:2]) in hidden for key in out.index], dtype=bool)
    _blank(out, rows)
    return out


def suppressed_groups(by_group: pd.DataFrame, suppress_below: int, layout: Layout | None = None) -> set[Key]:
    """The (attribute, group) pairs to hide: small groups, then complements until the linear-recovery
    audit (:func:`recoverable`) finds no hidden group determined by the published ones. Rows already
    flagged ``suppressed`` (a loaded result) stay hidden. ``layout`` gives the crossings' parts (default:
    every view a single attribute, related to the others only through the total)."""
    counts = by_group["count"]
    layout = layout or Layout.of({}, by_group.index)
    sums = layout.sums(by_group.index)
    incidence = _Incidence(sums)
    hidden = _primary(by_group, suppress_below)
    while True:
        found = incidence.recoverable(hidden)
        if not found:
            return hidden
        added: set[Key] = set()
        for cell in sorted(found, key=lambda k: (counts[k], k)):
            near = _neighbours(sums, cell)
            if near & added:  # a complement chosen this round may already free it
                continue
            ranked = sorted(near - hidden, key=lambda k: (k[0] != cell[0], counts[k], k))  # its own view first
            if ranked:
                added.add(next((p for p in ranked[:_TRIES] if cell not in incidence.recoverable(hidden | added | {p})),
                               ranked[0]))
        if not added:  # nothing left to hide: a view of one group is the audited total itself
            return hidden
        hidden |= added


_TRIES = 4  # shown partners tried, smallest first, for the one that frees a recoverable cell


def _neighbours(sums: list[tuple[Key | None, list[Key]]], cell: Key) -> set[Key]:
    """The cells that share a published sum with ``cell`` (the total excluded)."""
    return {p for whole, parts in sums if cell in parts or whole == cell for p in [*parts, whole]
            if p is not None and p != cell}


def _primary(by_group: pd.DataFrame, suppress_below: int) -> set[Key]:
    """Groups hidden for their own sake: fewer than ``suppress_below`` people, or flagged when loaded."""
    counts = by_group["count"]
    hidden = {key for key, n in counts.items() if pd.isna(n) or n < suppress_below}
    if FLAG in by_group.columns:
        hidden |= {key for key, flag in by_group[FLAG].items() if flag}
    return hidden


@dataclasses.dataclass(frozen=True)
class Layout:
    """The parts of each view, carried structurally (never read back from joined names): ``attributes``
    maps a view to its attribute tuple, ``values`` maps (view, group) to its value of each attribute."""

    attributes: dict[str, tuple[str, ...]]
    values: dict[Key, tuple[str, ...]]

    @classmethod
    def of(cls, metadata: dict[str, Any], index: Iterable[Key]) -> Layout:
        """From a result's ``metadata["views"]`` (see :func:`view_parts`); a view it does not describe is
        taken as one attribute of its own name."""
        described = metadata.get("views") or {}
        attributes: dict[str, tuple[str, ...]] = {}
        values: dict[Key, tuple[str, ...]] = {}
        for view, label in index:
            spec = described.get(view)
            if spec is None:
                attributes[view], values[(view, label)] = (view,), (label,)
            else:
                attributes[view] = tuple(spec["attributes"])
                values[(view, label)] = tuple(spec["groups"][label])
        return cls(attributes, values)

    def sums(self, index: Iterable[Key]) -> list[tuple[Key | None, list[Key]]]:
        """Each published sum as (whole, parts): a view's groups add up to the total (whole ``None``); a
        crossing's groups add up, per group of each view of one attribute fewer, to that group."""
        keys = list(index)
        cells: dict[str, list[Key]] = {}
        for key in keys:
            cells.setdefault(key[0], []).append(key)
        view_of = {attrs: view for view, attrs in self.attributes.items()}
        label_of = {(view, self.values[key]): key for key in keys for view in [key[0]]}
        out: list[tuple[Key | None, list[Key]]] = [(None, members) for members in cells.values()]
        for view, members in cells.items():
            attrs = self.attributes[view]
            for drop in range(len(attrs) if len(attrs) > 1 else 0):
                parent = view_of.get(attrs[:drop] + attrs[drop + 1:])
                if parent is None:
                    continue
                children: dict[Key, list[Key]] = {}
                for key in members:
                    values = self.values[key]
                    whole = label_of.get((parent, values[:drop] + values[drop + 1:]))
                    if whole is not None:
                        children.setdefault(whole, []).append(key)
                out.extend(children.items())
        return out


def view_parts(stats: Any, views: Iterable[tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """``metadata["views"]`` of a result: per view name, its ``attributes`` and, per group label, its
    value of each attribute, from the finest groups' key tuples (``stats.attributes``, ``stats.groups``)."""
    out = {}
    for attrs in views:
        positions = [stats.attributes.index(a) for a in attrs]
        keys = dict.fromkeys(tuple(g[p] for p in positions) for g in stats.groups)
        out[JOIN.join(attrs)] = {"attributes": list(attrs), "groups": {JOIN.join(k): list(k) for k in keys}}
    return out


def recoverable(sums: list[tuple[Key | None, list[Key]]], hidden: set[Key]) -> set[Key]:
    """The hidden cells whose value the published ones determine by linear algebra.

    Every additive quantity (count, weight, selected, positives, each confusion cell, sum of scores) is
    published for exactly the shown groups, so one structure serves them all: with the shown cells and
    the total moved to the right-hand side, each sum is a row over the hidden cells, and hidden cell j is
    determined exactly when e_j lies in the row space, i.e. when the null space vanishes at j."""
    return _Incidence(sums).recoverable(hidden)


class _Incidence:
    """The published sums as one matrix over every group (row: a sum; +1 a part, -1 its whole)."""

    def __init__(self, sums: list[tuple[Key | None, list[Key]]]) -> None:
        keys = sorted({k for whole, parts in sums for k in [*parts, whole] if k is not None})
        self.column = {key: j for j, key in enumerate(keys)}
        self.matrix = np.zeros((len(sums), len(keys)))
        for i, (whole, parts) in enumerate(sums):
            np.add.at(self.matrix[i], [self.column[p] for p in parts], 1.0)
            if whole is not None:
                self.matrix[i, self.column[whole]] -= 1.0

    def rows(self, order: list[Key]) -> np.ndarray:
        """The sums over the hidden groups ``order`` (shown ones moved to the right-hand side)."""
        sub = self.matrix[:, [self.column[k] for k in order]]
        return sub[np.any(sub != 0, axis=1)]

    def recoverable(self, hidden: set[Key]) -> set[Key]:
        order = sorted(hidden)
        return {order[j] for j in np.flatnonzero(_determined(self.rows(order)))}


def _null_space(matrix: np.ndarray) -> np.ndarray:
    """A basis (rows) of the vectors x with matrix @ x = 0."""
    if not matrix.size:
        return np.eye(matrix.shape[1])
    if matrix.shape[0] > matrix.shape[1]:  # same row space, square: keeps the SVD small
        matrix = np.linalg.qr(matrix, mode="r")
    _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
    rank = int((singular > 1e-9 * max(1.0, singular[0])).sum())
    return vt[rank:]


def _determined(matrix: np.ndarray) -> np.ndarray:
    """Per column j, whether e_j is in the row space of ``matrix`` (the null space vanishes at j)."""
    return np.linalg.norm(_null_space(matrix), axis=0) < 1e-8


# Rates as ratios of additive quantities, in a basis every confusion cell is a combination of.
_QUANTITIES = ("weight", "positives", "selected", "true_positives", "score", "error", "abs_error")
_CELLS = {"false_positives": {"selected": 1, "true_positives": -1},
          "false_negatives": {"positives": 1, "true_positives": -1},
          "true_negatives": {"weight": 1, "positives": -1, "selected": -1, "true_positives": 1}}
# besides each quantity: every confusion cell, and those not selected / not positive
_COMPLEMENTS = (*_CELLS.values(), {"weight": 1, "selected": -1}, {"weight": 1, "positives": -1})
_RATIOS: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "selection_rate": ({"selected": 1}, {"weight": 1}),
    "base_rate": ({"positives": 1}, {"weight": 1}),
    "true_positive_rate": ({"true_positives": 1}, {"positives": 1}),
    "false_negative_rate": (_CELLS["false_negatives"], {"positives": 1}),
    "false_positive_rate": (_CELLS["false_positives"], {"weight": 1, "positives": -1}),
    "true_negative_rate": (_CELLS["true_negatives"], {"weight": 1, "positives": -1}),
    "precision": ({"true_positives": 1}, {"selected": 1}),
    "negative_predictive_value": (_CELLS["true_negatives"], {"weight": 1, "selected": -1}),
    "accuracy": ({"weight": 1, "positives": -1, "selected": -1, "true_positives": 2}, {"weight": 1}),
    "mean_score": ({"score": 1}, {"weight": 1}),
    "mean_error": ({"error": 1}, {"weight": 1}),
    "mean_absolute_error": ({"abs_error": 1}, {"weight": 1}),
}


# metrics that are functions of rates: publishing one publishes no more than publishing those rates
_IMPLIED = {"balanced_accuracy": ("true_positive_rate", "true_negative_rate")}
# metrics that are functions of a group's score histogram by label (its shape, whatever its size): no per-bin
# count of any group, nor their totals, is published, so in the linear system the bins are free unknowns tied
# to the rest only through their sums within the group; vouched for by every rate of the group
_SHAPES = ("roc_auc", "calibration_error")


def exposed_by_rates(sums: list[tuple[Key | None, list[Key]]], hidden: set[Key],
                     rates: dict[tuple[Key, str], float]) -> set[Key]:
    """The hidden groups that become recoverable when ``rates`` ((group, metric) -> value) of some hidden
    groups are published: the question "may this complement's rate be shown?" for a (view, group).

    A rate such as the selection rate is a ratio of two additive quantities (selected / weight), each
    published for the shown groups with the sums of :func:`recoverable`. The audit stacks one copy of those
    sums per quantity involved (weight, positives, selected, true positives; score sums in score audits)
    and adds a row ``numerator - rate * denominator = 0`` per published rate; a hidden group is exposed
    when any of its quantities or confusion cells becomes determined. One rate alone exposes nothing
    unless it is 0 or 1; two rates of groups whose sum is published do (n1 + n2 = N, r1 n1 + r2 n2 = S).
    A metric that is no such ratio (balanced accuracy, AUC, calibration error, spreads) or an undefined
    rate is never vouched for here: its groups count as exposed (the suppressed copy vouches for balanced
    accuracy, AUC and calibration error through the rates they are functions of)."""
    order = sorted(hidden)
    return _exposed(_null_space(_Incidence(sums).rows(order)), order, rates)


def _exposed(null: np.ndarray, order: list[Key], rates: dict[tuple[Key, str], float]) -> set[Key]:
    """:func:`exposed_by_rates` given the null space of the sums over the hidden groups ``order``: each
    quantity is x_q = null.T @ y_q, so the rate rows act on the small coordinates y."""
    unknown = {key for (key, metric), rate in rates.items() if metric not in _RATIOS or not np.isfinite(rate)}
    if unknown:
        return unknown
    k = null.shape[0]
    used = {q for _, metric in rates for part in _RATIOS[metric] for q in part}
    basis = [q for q in _QUANTITIES if q in used]
    position = {key: j for j, key in enumerate(order)}
    coupling = np.zeros((len(rates), len(basis) * k))
    for i, ((key, metric), rate) in enumerate(rates.items()):
        numerator, denominator = _RATIOS[metric]
        for sign, part in ((1.0, numerator), (-rate, denominator)):
            for quantity, coefficient in part.items():
                at = basis.index(quantity) * k
                coupling[i, at:at + k] += sign * coefficient * null[:, position[key]]
    free = _null_space(coupling)
    functionals = [{q: 1} for q in basis] + [f for f in _COMPLEMENTS if set(f) <= set(basis)]
    exposed = np.zeros(len(order), dtype=bool)
    for functional in functionals:
        vectors = np.zeros((len(basis) * k, len(order)))
        for quantity, coefficient in functional.items():
            at = basis.index(quantity) * k
            vectors[at:at + k] = coefficient * null
        exposed |= np.linalg.norm(free @ vectors, axis=0) < 1e-8
    return {order[j] for j in np.flatnonzero(exposed)}


def _blank(frame: pd.DataFrame, rows: np.ndarray, keep: tuple[str, ...] = ()) -> None:
    """Hide every value of ``rows`` (a boolean mask) in place, whatever the column's type, except the
    columns in ``keep`` and the ``suppressed`` flag: numbers become NaN, anything else None."""
    if not rows.any():
        return
    columns = [c for c in frame.columns if c != FLAG and c not in keep]
    numeric = [c for c in columns
               if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    other = [c for c in columns if c not in numeric]
    if numeric:
        values = frame[numeric].to_numpy(dtype=float, na_value=np.nan, copy=True)
        values[rows] = np.nan
        frame[numeric] = values
    for column in other:
        frame[column] = frame[column].astype(object).mask(rows, None)


def _mask_by_group(by_group: pd.DataFrame, hidden: set[Key], disparities: pd.DataFrame,
                   narrowed: set[Key] = frozenset()) -> pd.DataFrame:
    out = by_group.copy()
    flag = pd.Series([key in hidden for key in out.index], index=out.index, dtype=bool)
    _blank(out, flag.to_numpy())
    impact = [c for c in _IMPACT if c in out.columns]
    for view in dict.fromkeys(out.index.get_level_values("attribute")):
        key = (view, "selection_rate")
        rows = out.index.get_level_values("attribute") == view
        if key in disparities.index and disparities.loc[key, FLAG] and impact:
            _blank(out, rows, keep=tuple(c for c in out.columns if c not in impact))
        elif key in narrowed and impact:  # ratios to a hidden reference: their intervals give its size away
            _blank(out, rows, keep=tuple(c for c in out.columns if c not in impact[1:]))
    out[FLAG] = flag
    return out


_INTERVALS = ("difference_ci_low", "difference_ci_high", "ratio_ci_low", "ratio_ci_high", "p_value",
              "p_value_adjusted")


def _mask_disparities(disparities: pd.DataFrame, by_group: pd.DataFrame, hidden: set[Key], primary: set[Key],
                      sums: list[tuple[Key | None, list[Key]]]) -> tuple[pd.DataFrame, set[Key]]:
    """Withhold each disparity decided by a hidden group, unless every deciding group is hidden only as a
    complement and publishing its rate (with the rates already published) exposes no hidden cell. A
    disparity shown so keeps its difference and ratio but not its intervals and p-value: they depend on the
    hidden group's size, which would give the small group's size away; the adjusted p-values are then
    Holm's over the p-values shown. Also returns those (view, metric) rows."""
    out = disparities.copy()
    released: dict[tuple[Key, str], float] = {}
    order = sorted(hidden)
    null = _null_space(_Incidence(sums).rows(order))
    loaded = {key for key, flag in by_group[FLAG].items() if flag} if FLAG in by_group.columns else set()
    flags = []
    for (view, metric), row in out.iterrows():
        deciders = {(view, g) for g in (row.get("min_group"), row.get("max_group")) if isinstance(g, str)} & hidden
        if deciders and deciders <= loaded and FLAG in disparities.columns:  # decided when it was saved
            flags.append(bool(row[FLAG]))
        else:
            flags.append(bool(deciders) and not _release(deciders, metric, by_group, primary, null, order, released))
    flag = pd.Series(flags, index=out.index, dtype=bool)
    if FLAG in disparities.columns:
        flag |= disparities[FLAG].astype(bool)
    _blank(out, flag.to_numpy())
    out[FLAG] = flag
    narrowed = np.array([not f and bool({(view, g) for g in (row.get("min_group"), row.get("max_group"))
                                         if isinstance(g, str)} & hidden)
                         for f, ((view, _), row) in zip(flag, disparities.iterrows(), strict=True)], dtype=bool)
    if narrowed.any():
        _blank(out, narrowed, keep=tuple(c for c in out.columns if c not in _INTERVALS))
        if "p_value_adjusted" in out.columns:
            out["p_value_adjusted"] = holm(out["p_value"].to_numpy(dtype=float))
    return out, set(out.index[narrowed])


def _implied(metric: str, columns: Iterable[str]) -> tuple[str, ...]:
    """The rates a group's ``metric`` is a function of (itself for a rate; none known: empty)."""
    if metric in _RATIOS:
        return (metric,)
    if metric in _IMPLIED:
        return _IMPLIED[metric]
    if metric in _SHAPES:
        return tuple(c for c in _RATIOS if c in columns)
    return ()


def _release(deciders: set[Key], metric: str, by_group: pd.DataFrame, primary: set[Key], null: np.ndarray,
             order: list[Key], released: dict[tuple[Key, str], float]) -> bool:
    """Whether the ``metric`` values of ``deciders`` (complements only) can join the rates already released
    without exposing a hidden group (:func:`exposed_by_rates`); if so the rates they imply are added to
    ``released``. A metric that is a function of rates is vouched for by those rates (see :data:`_IMPLIED`)."""
    implied = _implied(metric, by_group.columns)
    if deciders & primary or metric not in by_group.columns or not implied or any(
            m not in by_group.columns for m in implied):
        return False
    rates = {**released, **{(key, m): float(by_group.at[key, m]) for key in deciders for m in implied}}
    if _exposed(null, order, rates):
        return False
    released.update(rates)
    return True


def _deciding_hidden(view: str, groups: Iterable[object], hidden: set[Key]) -> bool:
    return any(isinstance(g, str) and (view, g) in hidden for g in groups)


def _mask_measures(measures: pd.DataFrame, disparities: pd.DataFrame, hidden: set[Key],
                   pairs: dict[str, dict[str, list[str]]], narrowed: set[Key] = frozenset()) -> pd.DataFrame:
    """Withhold a measure decided by a hidden group: through the disparities it is built from, the pair
    of groups it compares (score audits), or, for an extreme over groups, any hidden group of its view; a
    measure built from a disparity shown without its intervals (``narrowed``) loses its interval too."""
    out = measures.copy()
    withheld = {key for key, flag in disparities[FLAG].items() if flag}
    views_hidden = {view for view, _ in hidden}
    flags = []
    for view, name in out.index:
        stem = name.removesuffix("_difference").removesuffix("_ratio")
        pair = (pairs.get(view) or {}).get("ks_statistic" if name == "ks_p_value" else name)
        if pair is not None:
            flags.append(_deciding_hidden(view, pair, hidden))
        elif stem in _DECIDING:
            flags.append(any((view, m) in withheld for m in _DECIDING[stem]))
        else:
            flags.append(name not in _POOLED and view in views_hidden)
    flag = pd.Series(flags, index=out.index, dtype=bool)
    if FLAG in measures.columns:
        flag |= measures[FLAG].astype(bool)
    _blank(out, flag.to_numpy())
    out[FLAG] = flag
    stems = [name.removesuffix("_difference").removesuffix("_ratio") for _, name in out.index]
    rows = np.array([any((view, m) in narrowed for m in _DECIDING.get(stem, ()))
                     for (view, _), stem in zip(out.index, stems, strict=True)], dtype=bool)
    _blank(out, rows & ~flag.to_numpy(), keep=tuple(c for c in out.columns if c not in ("ci_low", "ci_high")))
    return out


def _mask_finding(finding: Finding, hidden: set[Key], withheld: set[Key], shown: set[Key],
                  suppress_below: int, narrowed: set[Key] = frozenset()) -> Finding:
    """A finding about a shown measure keeps its numbers (a complement deciding it was released), but not
    the interval of one shown without it (``narrowed``); one naming a hidden group or about a withheld
    measure keeps its code and severity only."""
    if finding.code == SUPPRESSED_GROUPS or finding.attribute is None:
        return finding
    if finding.measure is not None and (finding.attribute, finding.measure) in narrowed:
        what = finding.measure.replace("_", " ")
        value = "undefined" if finding.value is None else f"{finding.value:.2f}"
        return dataclasses.replace(finding, ci_low=None, ci_high=None, message=(
            f"In {finding.attribute}, the {what} is {value}: it {_VERDICTS.get(finding.severity, '')}"
            f"{_limit(finding)}; its interval is withheld because it would give away the size of a group "
            f"suppressed to protect one with fewer than {suppress_below} people."))
    if finding.measure is not None and (finding.attribute, finding.measure) in shown:
        return finding
    names_hidden = any((finding.attribute, g) in hidden for g in finding.groups)
    measure_withheld = finding.measure is not None and (finding.attribute, finding.measure) in withheld
    if not (names_hidden or measure_withheld):
        return finding
    if finding.measure is None and finding.value is None:
        return finding
    return dataclasses.replace(finding, value=None, ci_low=None, ci_high=None,
                               message=withheld_message(finding, suppress_below))


def withheld_message(finding: Finding, suppress_below: int) -> str:
    """The message of a finding whose numbers are withheld."""
    what = (finding.measure or "check").replace("_", " ")
    verdict, limit = _VERDICTS.get(finding.severity, ""), _limit(finding)
    return (f"In {finding.attribute}, the {what} {verdict}{limit}; its numbers are withheld because a group "
            f"it compares has fewer than {suppress_below} people or is suppressed to protect one that has.")


_VERDICTS = {"fail": "fails the policy limit", "warn": "is beyond the policy limit",
             "pass": "is within the policy limit", "inconclusive": "cannot be judged"}


def _limit(finding: Finding) -> str:
    return f" of {finding.threshold}" if finding.threshold and finding.severity != "inconclusive" else ""
