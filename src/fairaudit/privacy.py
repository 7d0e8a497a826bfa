"""Privacy by construction: the copy of a result that every report, JSON file and notebook view shows.

Groups with fewer than ``suppress_below`` people (a policy setting, 10 by default) are never shown:

* **primary suppression**: such a group shows "suppressed" in place of its count, share, every metric
  and every interval;
* **complementary suppression**: where a suppressed group could be recovered by subtraction, a second
  group is suppressed too. The groups of a view add up to the audited total, and the groups of a
  crossing add up to the groups of each coarser view (``a & b`` to ``a`` and to ``b``); whenever exactly
  one part of such a sum is suppressed while the sum is shown, the smallest other part is suppressed,
  until no sum has a single hidden part;
* a disparity or named measure whose lowest or highest group is suppressed is withheld, and so is the
  disparate impact ratio of every group of a view whose most favoured group is suppressed; a score
  measure comparing a pair of groups is withheld when either is suppressed, and a measure that is an
  extreme over the groups of a view (such as the lowest representation ratio) whenever any is;
* segment shares, score quantiles and SHAP summaries (importance, share of the gap, proxies that predict
  the group) of a suppressed group are suppressed with it;
* a finding about a suppressed group or a withheld measure keeps its code and severity, but not its
  value or interval.

The tables of the in-memory result stay complete: whoever ran the audit already holds the rows. Only
aggregates are ever written; no row-level value, identifier or per-person explanation appears, and the
data is identified by the SHA-256 fingerprint of the audited columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fairaudit.findings import SUPPRESSED_GROUPS, Finding
from fairaudit.tables import JOIN

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

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
GROUP_TABLES = ("segments", "segments_ci_low", "segments_ci_high", "score_quantiles", "ranking_positions")
_IMPACT = ("disparate_impact_ratio", "disparate_impact_ratio_ci_low", "disparate_impact_ratio_ci_high")


def suppress(result: AuditResult) -> AuditResult:
    """A copy of ``result`` whose tables and findings hide small groups (see the module docstring).

    Each table of the copy has a boolean ``suppressed`` column; hidden numbers are NaN.
    """
    hidden = suppressed_groups(result.by_group, result.policy.suppress_below)
    disparities = _mask_disparities(result.disparities, hidden)
    pairs = result.metadata.get("score_pairs") or {}
    measures = _mask_measures(result.measures, disparities, hidden, pairs)
    by_group = _mask_by_group(result.by_group, hidden, disparities)
    withheld = {key for key, flag in measures[FLAG].items() if flag}
    withheld |= {(a, f"{m}_{kind}") for (a, m), flag in disparities[FLAG].items() if flag
                 for kind in ("difference", "ratio")}
    findings = [_mask_finding(f, hidden, withheld, result.policy.suppress_below) for f in result.findings]
    extra = {name: _mask_rows(getattr(result, name), hidden) for name in GROUP_TABLES
             if getattr(result, name, None) is not None}
    masked = dataclasses.replace(result, by_group=by_group, disparities=disparities, measures=measures,
                                 findings=findings, **extra)
    explanations = getattr(result, "explanations", None)
    if explanations is not None:
        object.__setattr__(masked, "explanations", mask_explanations(explanations, hidden))
    return masked


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


def suppressed_groups(by_group: pd.DataFrame, suppress_below: int) -> set[Key]:
    """The (attribute, group) pairs to hide: small groups, then their complements until none can be
    recovered by subtraction. Rows already flagged ``suppressed`` (a loaded result) stay hidden."""
    counts = by_group["count"]
    hidden = {key for key, n in counts.items() if pd.isna(n) or n < suppress_below}
    if FLAG in by_group.columns:
        hidden |= {key for key, flag in by_group[FLAG].items() if flag}
    sums = _sums(by_group)
    changed = bool(hidden)
    while changed:
        changed = False
        for whole, parts in sums:
            if whole in hidden:
                continue
            shown = [p for p in parts if p not in hidden]
            if len(parts) - len(shown) != 1:
                continue
            hidden.add(min(shown, key=lambda p: (counts[p], p)) if shown else whole)
            changed = True
    return hidden


def _sums(by_group: pd.DataFrame) -> list[tuple[Key | None, list[Key]]]:
    """Each known sum as (whole, parts): a view's groups add up to the total (whole ``None``); a
    crossing's groups add up, per group of each coarser view, to that group."""
    groups: dict[str, list[str]] = {}
    for view, label in by_group.index:
        groups.setdefault(view, []).append(label)
    sums: list[tuple[Key | None, list[Key]]] = [(None, [(v, g) for g in labels]) for v, labels in groups.items()]
    for view, labels in groups.items():
        names = view.split(JOIN)
        if len(names) < 2 or not all(n in groups for n in names):
            continue
        split = {label: split_group(label, [groups[n] for n in names]) for label in labels}
        if any(parts is None for parts in split.values()):
            continue
        for drop in range(len(names)):
            parent = JOIN.join(names[:drop] + names[drop + 1:])
            if parent not in groups:
                continue
            children: dict[str, list[Key]] = {}
            for label, values in split.items():
                children.setdefault(JOIN.join(values[:drop] + values[drop + 1:]), []).append((view, label))
            sums.extend(((parent, p), kids) for p, kids in children.items() if p in groups[parent])
    return sums


def split_group(label: str, values: list[list[str]]) -> tuple[str, ...] | None:
    """The one way to read a crossing's group label as a value of each attribute, or None."""
    first, rest = values[0], values[1:]
    if not rest:
        return (label,) if label in first else None
    found = [(v, *tail) for v in first if label.startswith(v + JOIN)
             for tail in [split_group(label[len(v) + len(JOIN):], rest)] if tail is not None]
    return found[0] if len(found) == 1 else None


def _blank(frame: pd.DataFrame, rows: np.ndarray, keep: tuple[str, ...] = ()) -> None:
    """Hide every value of ``rows`` (a boolean mask) in place, whatever the column's type, except the
    columns in ``keep`` and the ``suppressed`` flag: numbers become NaN, anything else None."""
    if not rows.any():
        return
    for column in frame.columns:
        if column == FLAG or column in keep:
            continue
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype(float)
            frame.loc[rows, column] = np.nan
        else:
            frame[column] = frame[column].astype(object)
            frame.loc[rows, column] = None


def _mask_by_group(by_group: pd.DataFrame, hidden: set[Key], disparities: pd.DataFrame) -> pd.DataFrame:
    out = by_group.copy()
    flag = pd.Series([key in hidden for key in out.index], index=out.index, dtype=bool)
    _blank(out, flag.to_numpy())
    impact = [c for c in _IMPACT if c in out.columns]
    for view in dict.fromkeys(out.index.get_level_values("attribute")):
        key = (view, "selection_rate")
        if key in disparities.index and disparities.loc[key, FLAG] and impact:
            _blank(out, (out.index.get_level_values("attribute") == view), keep=tuple(
                c for c in out.columns if c not in impact))
    out[FLAG] = flag
    return out


def _mask_disparities(disparities: pd.DataFrame, hidden: set[Key]) -> pd.DataFrame:
    out = disparities.copy()
    flag = pd.Series(
        [_deciding_hidden(view, (row.get("min_group"), row.get("max_group")), hidden)
         for (view, _), row in out.iterrows()] if len(out) else [], index=out.index, dtype=bool)
    if FLAG in disparities.columns:
        flag |= disparities[FLAG].astype(bool)
    _blank(out, flag.to_numpy())
    out[FLAG] = flag
    return out


def _deciding_hidden(view: str, groups: Iterable[object], hidden: set[Key]) -> bool:
    return any(isinstance(g, str) and (view, g) in hidden for g in groups)


def _mask_measures(measures: pd.DataFrame, disparities: pd.DataFrame, hidden: set[Key],
                   pairs: dict[str, dict[str, list[str]]]) -> pd.DataFrame:
    """Withhold a measure decided by a hidden group: through the disparities it is built from, the pair
    of groups it compares (score audits), or, for an extreme over groups, any hidden group of its view."""
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
    return out


def _mask_finding(finding: Finding, hidden: set[Key], withheld: set[Key], suppress_below: int) -> Finding:
    if finding.code == SUPPRESSED_GROUPS or finding.attribute is None:
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
    verdict = {"fail": "fails the policy limit", "warn": "is beyond the policy limit",
               "pass": "is within the policy limit", "inconclusive": "cannot be judged"}.get(finding.severity, "")
    limit = f" of {finding.threshold}" if finding.threshold and finding.severity != "inconclusive" else ""
    return (f"In {finding.attribute}, the {what} {verdict}{limit}; its numbers are withheld because a group "
            f"it compares has fewer than {suppress_below} people or is suppressed to protect one that has.")
