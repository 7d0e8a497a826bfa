"""The tables regulators prescribe, built from an audit's per-group aggregates.

``nyc_ll144`` — NYC Local Law 144 bias audit (6 RCNY §5-301), one row per (``attribute``, ``category``)
for each mapped attribute (sex, race/ethnicity) and their crossing:

* ``count``: people in the category;
* ``selection_rate`` (decisions: share selected) or ``scoring_rate`` (score audits: share scoring
  strictly above the median score of all audited rows);
* ``excluded``: the category holds under 2% of the people whose category is known, so it is left out
  of the impact ratios (its count and rate are still reported); the unknown category is always excluded;
* ``impact_ratio``: the category's rate over the highest rate among the categories not excluded;
* ``note``: why a row has no ratio (excluded, unknown, suppressed, withheld).

The unknown category is one row per attribute labelled ``"(missing)"`` with its count only; in the
crossing it counts everyone whose sex or race is unknown.

``eeoc_four_fifths`` — EEOC Uniform Guidelines, 29 CFR 1607.4(D), one row per (``attribute``, ``group``):
``count``, ``selected``, ``selection_rate``, ``impact_ratio`` (over the highest selection rate among the
known groups), ``adverse_impact`` (ratio < 0.8), ``p_value`` (two-sided Fisher exact test of the group's
2×2 table selected / not selected against the highest group's, ``scipy.stats.fisher_exact``; none for
the highest group itself) and ``shortfall`` = count × highest rate − selected: the selections the group
lacks to be selected at the highest group's rate (fractional, not rounded).

Both tables hide the groups the report hides (:func:`fairaudit.privacy.suppressed_groups`) unless
``suppress=False``; a ratio, test or shortfall that would reveal a hidden highest group is withheld.
``table.attrs`` says which standard, whether suppression was applied, and the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from fairaudit.privacy import FLAG, Layout, suppressed_groups
from fairaudit.stats import MISSING_GROUP

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

STANDARDS = ("nyc_ll144", "eeoc_four_fifths")
LL144_ROLES = ("sex", "race")
EXCLUDED_BELOW = 0.02
FOUR_FIFTHS = 0.8
UNKNOWN = "category unknown: no rate or ratio"
ATTRIBUTES = "The 'compliance_attributes' (or 'attributes') argument"


class ComplianceError(ValueError):
    """A compliance table cannot be built from this audit (wrong standard, attributes or task)."""


def check_options(standards: Sequence[str] | None, attributes: Any) -> dict[str, Any]:
    """The validated ``compliance`` / ``compliance_attributes`` options of :func:`fairaudit.audit`, as
    recorded in the result's metadata (empty when none are given)."""
    names = [standards] if isinstance(standards, str) else list(standards or ())
    for name in names:
        _check_standard(name, "compliance")
    out: dict[str, Any] = {}
    if names:
        out["compliance"] = list(dict.fromkeys(names))
    if attributes is not None:
        out["compliance_attributes"] = _roles(attributes)
    return out


def compliance_table(result: AuditResult, standard: str, *, attributes: Any = None,
                     suppress: bool = True) -> pd.DataFrame:
    """The ``standard``'s table of ``result`` (see the module docstring)."""
    _check_standard(standard, "standard")
    if not isinstance(suppress, bool):
        raise ComplianceError(f"The 'suppress' argument must be True or False; got {suppress!r}.")
    meta = result.metadata
    if meta.get("weighted"):
        raise ComplianceError(f"The {standard} table counts people, but this audit was weighted (sample_weight): "
                              "audit again without sample_weight to build it.")
    by_group = result.by_group
    layout = Layout.of(meta, by_group.index)
    hidden = suppressed_groups(by_group, result.policy.suppress_below, layout) if suppress else set()
    if not suppress and FLAG in by_group.columns and by_group[FLAG].any():
        raise ComplianceError("suppress=False needs the complete audit, but this result was loaded from a report "
                              "whose small groups are suppressed; build the table from the audit itself.")
    rate = _rate_column(by_group, meta, standard)
    roles = _roles(attributes) if attributes is not None else meta.get("compliance_attributes")
    if standard == "nyc_ll144":
        table = _ll144(by_group, _ll144_views(by_group, roles, meta, layout), rate, hidden, layout)
    else:
        table = _four_fifths(by_group, _eeoc_views(by_group, roles, meta), hidden)
    table.attrs.update(_attrs(standard, rate, suppress, result.policy.suppress_below))
    return table


# ---------------------------------------------------------------------------- options
def _check_standard(name: Any, argument: str) -> None:
    if name not in STANDARDS:
        raise ComplianceError(f"The '{argument}' argument must name one of {', '.join(map(repr, STANDARDS))}; "
                              f"got {name!r}.")


def _roles(attributes: Any) -> dict[str, str] | list[str]:
    """``{"sex": column, "race": column}`` (either role may be left out), or a list of attribute names."""
    if isinstance(attributes, Mapping):
        unknown = [k for k in attributes if k not in LL144_ROLES]
        if unknown or not attributes:
            raise ComplianceError(f"{ATTRIBUTES} maps the roles {', '.join(LL144_ROLES)} to sensitive columns; "
                                  f"got {dict(attributes)!r}.")
        values = dict(attributes)
    elif isinstance(attributes, Sequence) and not isinstance(attributes, str) and attributes:
        values = list(attributes)
    else:
        raise ComplianceError(f"{ATTRIBUTES} must be a mapping {{'sex': column, 'race': column}} or a list of "
                              f"sensitive attribute names; got {attributes!r}.")
    names = values.values() if isinstance(values, dict) else values
    if not all(isinstance(v, str) for v in names):
        raise ComplianceError(f"{ATTRIBUTES} must name attributes as strings; got {attributes!r}.")
    return values


def _rate_column(by_group: pd.DataFrame, meta: dict[str, Any], standard: str) -> str:
    score = meta.get("task") == "score"
    if not score and "selection_rate" in by_group.columns:
        return "selection_rate"
    if score and standard == "nyc_ll144" and "scoring_rate" in by_group.columns:
        return "scoring_rate"
    if score:
        lacking = "decisions" if standard != "nyc_ll144" else "decisions or a scoring rate (this saved result has none)"
        raise ComplianceError(f"The {standard} table needs {lacking}: audit with top_k= to turn the scores into "
                              "decisions.")
    raise ComplianceError(f"The {standard} table needs decisions: this audit has no selection rate (a "
                          "segmentation needs favorable= to say which segments are a positive decision).")


def _named(roles: dict[str, str] | list[str] | None, meta: dict[str, Any], standard: str) -> list[str]:
    sensitive = list(meta.get("sensitive") or [])
    if roles is None:
        if standard == "nyc_ll144" and len(sensitive) > 2:
            raise ComplianceError(
                f"The nyc_ll144 table crosses sex and race/ethnicity, but this audit has {len(sensitive)} sensitive "
                f"attributes ({', '.join(sensitive)}): pass compliance_attributes={{'sex': ..., 'race': ...}}.")
        return sensitive
    return [roles[r] for r in LL144_ROLES if r in roles] if isinstance(roles, dict) else list(roles)


def _check_views(names: list[str], by_group: pd.DataFrame) -> None:
    audited = list(dict.fromkeys(by_group.index.get_level_values("attribute")))
    for name in names:
        if name not in audited:
            raise ComplianceError(f"{ATTRIBUTES} names {name!r}, which this audit has no table for; the audited "
                                  f"attributes and crossings are {', '.join(audited)}.")


def _ll144_views(by_group: pd.DataFrame, roles: Any, meta: dict[str, Any],
                 layout: Layout) -> list[tuple[str, list[str]]]:
    """(view, its single attributes) for each attribute and, with two, their crossing."""
    names = _named(roles, meta, "nyc_ll144")
    if len(names) > 2:
        raise ComplianceError(f"The nyc_ll144 table crosses at most two attributes (sex, race/ethnicity); got "
                              f"{', '.join(names)}.")
    _check_views(names, by_group)
    views = [(name, [name]) for name in names]
    if len(names) == 2:
        audited = dict.fromkeys(by_group.index.get_level_values("attribute"))
        crossing = next((v for v in audited if sorted(layout.attributes[v]) == sorted(names)), None)
        if crossing is None:
            raise ComplianceError(f"The nyc_ll144 table needs the crossing of {names[0]} and {names[1]}, which this "
                                  "audit did not compute: audit with intersections=True.")
        views.append((crossing, list(layout.attributes[crossing])))
    return views


def _eeoc_views(by_group: pd.DataFrame, roles: Any, meta: dict[str, Any]) -> list[str]:
    names = _named(roles, meta, "eeoc_four_fifths")
    _check_views(names, by_group)
    return names


def _attrs(standard: str, rate: str, suppress: bool, suppress_below: int) -> dict[str, Any]:
    rules = {
        "nyc_ll144": (f"{rate.replace('_', ' ')} per category; impact ratio = rate / highest rate among the "
                      f"categories not excluded; excluded = under {EXCLUDED_BELOW:.0%} of the people whose "
                      "category is known (count and rate still shown); '(missing)' = category unknown"
                      + ("; scoring rate = share strictly above the median score of all audited rows"
                         if rate == "scoring_rate" else "")),
        "eeoc_four_fifths": ("impact ratio = selection rate / highest group's; adverse impact when below "
                             f"{FOUR_FIFTHS:g}; p_value: two-sided Fisher exact test against the highest group; "
                             "shortfall = count x highest rate - selected"),
    }[standard]
    suppression = (f"groups under {suppress_below} people, and those hiding them, are suppressed" if suppress else
                   f"NOT suppressed (suppress=False): groups under {suppress_below} people are shown")
    return {"standard": standard, "rate": rate, "suppressed": suppress, "rules": rules, "suppression": suppression}


# ---------------------------------------------------------------------------- NYC LL144
SUPPRESSED_NOTE = "suppressed: a small group, or hidden so that one cannot be recovered"
_NO_COMPARISON = ("suppressed", "category unknown", "under ")


def _ll144(by_group: pd.DataFrame, views: list[tuple[str, list[str]]], rate: str,
           hidden: set[tuple[str, str]], layout: Layout) -> pd.DataFrame:
    frames = []
    for view, _ in views:
        table = _complete(by_group, view)
        unknown = np.array([MISSING_GROUP in layout.values[(view, label)] for label in table.index])
        known = table[~unknown]
        counts = known["count"].astype(float)
        excluded = (counts / counts.sum() < EXCLUDED_BELOW).to_numpy()
        rates = known[rate].astype(float)
        reference = rates[~excluded].idxmax() if rates[~excluded].notna().any() else None
        out = pd.DataFrame({
            "count": pd.array(counts.round(), dtype="Int64"), rate: rates,
            "excluded": pd.array(excluded, dtype="boolean"),
            "impact_ratio": np.where(excluded, np.nan, rates / rates.get(reference, np.nan)),
            "note": np.where(excluded, f"under {EXCLUDED_BELOW:.0%} of known categories: no impact ratio", ""),
        }, index=known.index)
        out.loc[MISSING_GROUP] = {"count": int(table.loc[unknown, "count"].sum()), rate: np.nan, "excluded": True,
                                  "impact_ratio": np.nan, "note": UNKNOWN}
        for label in known.index:
            if (view, label) in hidden:
                _hide(out, label)
        if any((view, label) in hidden for label in table.index[unknown]):
            _hide(out, MISSING_GROUP)
        if reference is not None and (view, reference) in hidden:
            _withhold(out, ["impact_ratio"], "impact ratio withheld: the highest category is suppressed")
        frames.append(_indexed(out, view, "category"))
    return _flagged(pd.concat(frames))


def _complete(by_group: pd.DataFrame, view: str) -> pd.DataFrame:
    """A view's rows, refused when a saved result lost some counts to suppression (the 2% rule and the
    highest group need them all)."""
    table = by_group.loc[view]
    if table["count"].isna().any():
        raise ComplianceError(f"Some groups of {view} were suppressed when the audit was saved, and these tables "
                              "need every count: build them from the audit itself (fairaudit run writes them).")
    return table


def _four_fifths(by_group: pd.DataFrame, views: list[str], hidden: set[tuple[str, str]]) -> pd.DataFrame:
    frames = []
    for view in views:
        table = _complete(by_group, view)
        counts = table["count"].astype(float)
        rates = table["selection_rate"].astype(float)
        selected = (counts * rates).round()
        known = np.asarray(table.index != MISSING_GROUP)
        reference = rates[known].idxmax() if rates[known].notna().any() else None
        top = rates.get(reference, np.nan)
        ratio = (rates / top).where(known)
        compared = known & (table.index != reference)
        out = pd.DataFrame({
            "count": pd.array(counts.round(), dtype="Int64"), "selected": pd.array(selected, dtype="Int64"),
            "selection_rate": rates, "impact_ratio": ratio,
            "adverse_impact": pd.array(np.where(ratio.notna(), ratio < FOUR_FIFTHS, None), dtype="boolean"),
            "p_value": [_fisher(n, s, counts.get(reference), selected.get(reference)) if ok else np.nan
                        for n, s, ok in zip(counts, selected, compared, strict=True)],
            "shortfall": (counts * top - selected).where(known),
            "note": np.where(known, np.where(table.index == reference, "highest selection rate (reference)", ""),
                             "category unknown: not compared"),
        }, index=table.index)
        for label in table.index:
            if (view, label) in hidden:
                _hide(out, label)
        if reference is not None and (view, reference) in hidden:
            _withhold(out, ["impact_ratio", "adverse_impact", "p_value", "shortfall"],
                      "ratio, test and shortfall withheld: the highest group is suppressed")
        frames.append(_indexed(out, view, "group"))
    return _flagged(pd.concat(frames))


def _fisher(n: float, s: float, top_n: float | None, top_s: float | None) -> float:
    """Two-sided Fisher exact p-value of selected / not selected in a group against the highest group."""
    if top_n is None or top_s is None or not np.isfinite([n, s, top_n, top_s]).all():
        return np.nan
    return float(fisher_exact([[int(s), int(n - s)], [int(top_s), int(top_n - top_s)]],
                              alternative="two-sided").pvalue)


# ---------------------------------------------------------------------------- suppression
def _hide(out: pd.DataFrame, label: str) -> None:
    """Blank every number and flag of a row; its note says why."""
    for column in out.columns.drop("note"):
        out.loc[label, column] = np.nan if out[column].dtype == float else pd.NA
    out.loc[label, "note"] = SUPPRESSED_NOTE


def _withhold(out: pd.DataFrame, columns: list[str], note: str) -> None:
    """Blank the comparisons of a view whose hidden reference they would reveal."""
    compared = ~out["note"].str.startswith(_NO_COMPARISON)
    for column in columns:
        out.loc[compared, column] = np.nan if out[column].dtype == float else pd.NA
    out.loc[compared, "note"] = note


def _indexed(out: pd.DataFrame, view: str, level: str) -> pd.DataFrame:
    out.index = pd.MultiIndex.from_product([[view], out.index], names=["attribute", level])
    return out


def _flagged(table: pd.DataFrame) -> pd.DataFrame:
    table[FLAG] = table["note"] == SUPPRESSED_NOTE
    return table
