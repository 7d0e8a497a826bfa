"""Findings: each check of the policy against the audit's tables, with a stable code and its evidence.

Severity of a threshold check, from the measure's interval:

* ``fail``: the measure is beyond the threshold with evidence that survives the policy's multiplicity
  correction (``multiplicity``, default Holm, at family-wise error ``fwer``, default 0.05) over every
  decided threshold check of the audit: every measure of every attribute and crossing. With no disparity
  at all, an audit fails with probability at most ``fwer`` (measured: 0 of 20 seeds at 2,000 and 20,000
  rows, 3 attributes and all crossings; tests/test_calibration.py);
* ``warn``: the point estimate is beyond it but the interval reaches back within, or the evidence does
  not hold across the family of checks;
* ``inconclusive``: the groups that decide the measure are smaller than ``min_group_size``, or the
  measure is undefined;
* ``pass``: otherwise. Passing checks are kept.

A finding is ``required`` when the verdict depends on it: the threshold checks and the single-group check
of every single attribute (of crossings too when the policy sets ``require_crossings``). The verdict
(:func:`verdict_of`) has three states: ``failed`` when any check fails; ``not_determined`` when none fails
but a required check could not be decided (``warn`` or ``inconclusive``); ``passed`` otherwise.

Codes are documented once, in ``docs/findings.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.metrics import MIN_AUC_COUNT
from fairaudit.policy import Policy, Threshold
from fairaudit.stats import MISSING_GROUP
from fairaudit.tables import JOIN
from fairaudit.uncertainty import holm

PValues = Callable[[str, str, str, float], float]

SEVERITIES = ("fail", "warn", "inconclusive", "pass")
VERDICTS = ("passed", "failed", "not_determined")

MEASURE_CODES = {
    "demographic_parity_difference": "FA101",
    "demographic_parity_ratio": "FA102",
    "disparate_impact_ratio": "FA103",
    "equalized_odds_difference": "FA104",
    "equalized_odds_ratio": "FA105",
    "equal_opportunity_difference": "FA106",
    "equal_opportunity_ratio": "FA107",
    "calibration_error_difference": "FA108",
    "cramers_v": "FA120",
    "min_representation_ratio": "FA121",
    "normalized_mutual_info": "FA122",
    "balance": "FA123",
    "standardized_mean_difference": "FA130",
    "ks_statistic": "FA131",
    "favorable_exposure_ratio": "FA140",
    "favorable_exposure_difference": "FA141",
    "favorable_in_top_k_difference": "FA142",
    "favorable_in_top_k_ratio": "FA142",
    "ndcg_at_k_difference": "FA143",
    "exposure_per_merit_ratio": "FA144",
}
LISTS_WITHOUT_RELEVANT = "FA145"
METRIC_DISPARITY_CODE = "FA110"
SMALL_GROUPS, MISSING_VALUES, SINGLE_GROUP = "FA201", "FA202", "FA203"
SUPPRESSED_GROUPS, UNDEFINED_METRICS, UNCERTAIN_AUC = "FA401", "FA402", "FA403"

# the metric whose lowest and highest groups decide each named measure
_DECIDING_METRICS = {
    "demographic_parity": ("selection_rate",),
    "disparate_impact": ("selection_rate",),
    "equalized_odds": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity": ("true_positive_rate",),
}


_PHRASES = {
    "cramers_v": "association between segment and group (Cramér's V)",
    "normalized_mutual_info": "information the segment carries about the group (normalised mutual information)",
    "min_representation_ratio": "lowest share any group holds in a segment relative to its population share",
    "balance": "balance of the segments (smallest over largest group count in a segment)",
    "standardized_mean_difference": "gap between the highest and lowest group's mean score, in standard "
                                    "deviations",
    "ks_statistic": "largest gap between two groups' score distributions (Kolmogorov-Smirnov)",
    "exposure_per_merit_ratio": "lowest over highest exposure per unit of relevance across items",
}


@dataclass(frozen=True)
class Finding:
    """One check: which measure of which attribute, its value and interval, and the verdict."""

    code: str
    severity: str
    attribute: str | None
    measure: str | None
    groups: tuple[str, ...]
    value: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: str | None
    message: str
    required: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = list(self.groups)
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Finding:
        return cls(**{**spec, "groups": tuple(spec["groups"]), "required": bool(spec.get("required", False))})


def verdict_of(findings: list[Finding]) -> str:
    """``failed`` if any finding fails; else ``not_determined`` if a required check is ``warn`` or
    ``inconclusive``; else ``passed``."""
    if any(f.severity == "fail" for f in findings):
        return "failed"
    if any(f.required and f.severity in ("warn", "inconclusive") for f in findings):
        return "not_determined"
    return "passed"


def evaluate(by_group: pd.DataFrame, disparities: pd.DataFrame, measures: pd.DataFrame,
             policy: Policy, confidence: float, *, p_values: PValues | None = None) -> list[Finding]:
    """Every finding of the policy on the audit's tables, most severe first.

    ``p_values(attribute, measure, bound, limit)`` gives each threshold check's evidence of a breach
    (:meth:`fairaudit.tables.Tables.p_value`); a check fails when that evidence survives the policy's
    multiplicity correction over every decided check. Without it (a result read back from JSON), or for
    a measure it does not know (segmentation and score measures), a check fails when its interval lies
    beyond the threshold."""
    attributes = [a for a in dict.fromkeys(by_group.index.get_level_values("attribute")) if _in_scope(a, policy)]
    tables = _Tables.of(by_group, disparities, measures)
    findings: list[Finding] = []
    pending: list[tuple[int, str, float]] = []
    for attribute in attributes:
        required = JOIN not in attribute or policy.require_crossings
        checks = []
        for name, threshold in policy.thresholds.items():
            finding, what = _threshold_check(attribute, name, threshold, tables, policy, confidence)
            p = np.nan
            if p_values is not None and finding.severity != "inconclusive":
                p = p_values(attribute, name, threshold.bound, threshold.value)
            if np.isfinite(p):
                pending.append((len(findings) + len(checks), what, p))
            checks.append(finding)
        checks += _data_checks(attribute, tables.groups[attribute], policy)
        checks += _auc_checks(attribute, tables.groups[attribute])
        findings.extend(dataclasses.replace(f, required=required and (f.measure is not None or f.code == SINGLE_GROUP))
                        for f in checks)
    adjusted = _adjust(np.array([p for _, _, p in pending]), policy.multiplicity)
    for (position, what, _), p in zip(pending, adjusted, strict=True):
        findings[position] = _judged(findings[position], what, p, len(pending), policy)
    findings.extend(_privacy_checks([(a, g) for a in attributes for g in tables.groups[a].names], tables.count, policy))
    kept = [f for f in findings if f.code not in policy.ignore]
    return sorted(kept, key=lambda f: SEVERITIES.index(f.severity))


@dataclass(frozen=True)
class _Groups:
    """One attribute's rows of by_group, as plain values: group names with their count, how many metric values
    (not interval bounds) are undefined, and the groups with an ROC AUC but no interval (None: no ROC AUC)."""

    names: list[str]
    count: list[Any]
    undefined: int
    auc_without_interval: list[str] | None


@dataclass(frozen=True)
class _Tables:
    """The audit's tables as dictionaries, read once: findings look rows up by key many times."""

    groups: dict[str, _Groups]
    count: dict[tuple[str, str], Any]
    disparities: dict[tuple[str, str], dict[str, Any]]
    measures: dict[tuple[str, str], dict[str, Any]]

    @classmethod
    def of(cls, by_group: pd.DataFrame, disparities: pd.DataFrame, measures: pd.DataFrame) -> _Tables:
        keys = list(by_group.index)
        values = [c for c in by_group.columns if not c.endswith(("_ci_low", "_ci_high"))]
        undefined = by_group[values].isna().to_numpy().sum(axis=1)
        auc = None
        if "roc_auc" in by_group.columns:
            auc = (by_group["roc_auc"].notna() & by_group["roc_auc_ci_low"].isna()).to_numpy()
        count = by_group["count"].tolist()
        rows: dict[str, list[int]] = {}
        for position, (attribute, _) in enumerate(keys):
            rows.setdefault(attribute, []).append(position)
        groups = {attribute: _Groups([keys[i][1] for i in at], [count[i] for i in at], int(undefined[at].sum()),
                                     None if auc is None else [keys[i][1] for i in at if auc[i]])
                  for attribute, at in rows.items()}
        return cls(groups, dict(zip(keys, count, strict=True)), _records(disparities), _records(measures))


def _records(table: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """Each row of ``table`` by its index key, as ``{column: value}`` with Python values (``to_dict("records")``,
    from whole columns)."""
    columns = list(table.columns)
    return {key: dict(zip(columns, row, strict=True))
            for key, row in zip(table.index, zip(*(table[c].tolist() for c in columns), strict=True), strict=True)}


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    if method == "holm":
        return holm(p)
    if method == "bonferroni":
        return np.minimum(p * len(p), 1.0)
    return p


def _judged(finding: Finding, what: str, adjusted: float, n_checks: int, policy: Policy) -> Finding:
    """A threshold check whose point estimate is beyond the limit fails only if the family-wise evidence holds."""
    if finding.severity == "pass":
        return finding
    family = f"the {n_checks} checks of this audit (family-wise error {policy.fwer:g}, {policy.multiplicity})"
    if adjusted <= policy.fwer:
        severity, verdict = "fail", f"beyond the policy limit of {finding.threshold} even allowing for " \
                                    f"uncertainty and for {family}"
    elif finding.severity == "fail":
        severity, verdict = "warn", f"beyond the policy limit of {finding.threshold}, but not by enough to " \
                                    f"hold across {family}"
    else:
        return finding
    return dataclasses.replace(finding, severity=severity, message=f"In {finding.attribute}, the {what}: {verdict}.")


def _in_scope(attribute: str, policy: Policy) -> bool:
    if policy.attributes is None:
        return True
    return attribute in policy.attributes or all(a in policy.attributes for a in attribute.split(JOIN))


def _number(value: float) -> str:
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3f}"


def _evidence(value: float, low: float, high: float, confidence: float) -> str:
    if np.isfinite(low) and np.isfinite(high):
        return f"{_number(value)} ({confidence:.0%} interval {_number(low)} to {_number(high)})"
    return _number(value)


def _severity(threshold: Threshold, value: float, low: float, high: float) -> str:
    if not threshold.breached_by(value):
        return "pass"
    beyond = low if threshold.bound == "max" else high
    return "fail" if np.isfinite(beyond) and threshold.breached_by(beyond) else "warn"


def _deciding(name: str, attribute: str, disparities: dict[tuple[str, str], dict[str, Any]]
              ) -> tuple[str | None, tuple[str, ...]]:
    """The metric and the (lowest, highest) groups behind a measure."""
    stem = name.removesuffix("_difference").removesuffix("_ratio")
    candidates = _DECIDING_METRICS.get(stem, (stem,))
    rows = [(m, disparities[(attribute, m)]) for m in candidates if (attribute, m) in disparities]
    if not rows:
        return None, ()
    if name.endswith("_ratio"):
        metric, row = min(rows, key=lambda r: np.nan_to_num(r[1]["ratio"], nan=np.inf))
    else:
        metric, row = max(rows, key=lambda r: np.nan_to_num(r[1]["difference"], nan=-np.inf))
    groups = tuple(g for g in (row["min_group"], row["max_group"]) if isinstance(g, str))
    return metric, groups


def _measure_row(name: str, attribute: str, tables: _Tables) -> tuple[float, float, float] | None:
    if (attribute, name) in tables.measures:
        row = tables.measures[(attribute, name)]
        return row["value"], row["ci_low"], row["ci_high"]
    for suffix in ("_difference", "_ratio"):
        metric = name.removesuffix(suffix)
        if name.endswith(suffix) and (attribute, metric) in tables.disparities:
            row = tables.disparities[(attribute, metric)]
            column = suffix[1:]
            return row[column], row[f"{column}_ci_low"], row[f"{column}_ci_high"]
    return None


def _threshold_check(attribute: str, name: str, threshold: Threshold, tables: _Tables, policy: Policy,
                     confidence: float) -> tuple[Finding, str]:
    code = MEASURE_CODES.get(name, METRIC_DISPARITY_CODE)
    words = name.replace("_", " ")
    row = _measure_row(name, attribute, tables)
    metric, groups = _deciding(name, attribute, tables.disparities)

    def finding(severity: str, message: str, value=None, low=None, high=None) -> Finding:
        return Finding(code, severity, attribute, name, groups, value, low, high, str(threshold), message)

    if row is None:
        return finding("inconclusive", f"The {words} of {attribute} cannot be checked: it needs true labels "
                                       "or scores that this audit does not have."), ""
    value, low, high = (float(v) for v in row)
    if not np.isfinite(value):
        return finding("inconclusive", f"The {words} of {attribute} is undefined: fewer than two groups have "
                                       "the people it compares."), ""
    small = [g for g in groups if tables.count[(attribute, g)] < policy.min_group_size]
    if small:
        return finding("inconclusive", f"The {words} of {attribute} is decided by group "
                                       f"{' and '.join(repr(g) for g in small)}, with fewer than "
                                       f"{policy.min_group_size} people: too few to conclude."), ""
    severity = _severity(threshold, value, low, high)
    lowest, highest = (groups + (None, None))[:2]
    if metric is None:
        what = f"{_PHRASES.get(name, words)} is {_evidence(value, low, high, confidence)}"
    elif name.endswith("_ratio"):
        what = f"{metric.replace('_', ' ')} of {lowest!r} is {_evidence(value, low, high, confidence)} times " \
               f"that of {highest!r}"
    else:
        what = f"{metric.replace('_', ' ')} differs by {_evidence(value, low, high, confidence)} between " \
               f"{highest!r} and {lowest!r}"
    verdict = {
        "pass": f"within the policy limit of {threshold}",
        "warn": f"beyond the policy limit of {threshold}, though the interval reaches back within it",
        "fail": f"beyond the policy limit of {threshold} even allowing for uncertainty",
    }[severity]
    return finding(severity, f"In {attribute}, the {what}: {verdict}.", value, low, high), what


def _data_checks(attribute: str, table: _Groups, policy: Policy) -> list[Finding]:
    out = []
    groups = table.names
    small = [g for g, count in zip(groups, table.count, strict=True) if count < policy.min_group_size]
    if small:
        out.append(Finding(
            SMALL_GROUPS, "inconclusive", attribute, None, tuple(small), None, None, None,
            f"count >= {policy.min_group_size}",
            f"In {attribute}, {len(small)} group(s) have fewer than {policy.min_group_size} people "
            f"({', '.join(small[:5])}{', ...' if len(small) > 5 else ''}): no conclusion can be drawn about them.",
        ))
    if JOIN not in attribute and MISSING_GROUP in groups:
        out.append(Finding(
            MISSING_VALUES, "warn", attribute, None, (MISSING_GROUP,), None, None, None, None,
            f"Some people have no recorded {attribute}; they are audited as their own group "
            f"{MISSING_GROUP!r}, and the reason their value is missing deserves a look.",
        ))
    if len(groups) < 2:
        out.append(Finding(
            SINGLE_GROUP, "inconclusive", attribute, None, tuple(groups), None, None, None, None,
            f"Everyone in the data has the same {attribute}, so no comparison between groups is possible.",
        ))
    if table.undefined:
        out.append(Finding(
            UNDEFINED_METRICS, "inconclusive", attribute, None, (), float(table.undefined), None, None, None,
            f"In {attribute}, {table.undefined} metric value(s) are undefined because a group has no people of the "
            "kind the metric counts (for example no actual positives).",
        ))
    return out


def _auc_checks(attribute: str, table: _Groups) -> list[Finding]:
    few = table.auc_without_interval
    if not few:
        return []
    return [Finding(
        UNCERTAIN_AUC, "inconclusive", attribute, None, tuple(few), None, None, None,
        f">= {MIN_AUC_COUNT} positives and negatives",
        f"In {attribute}, the ROC AUC of {', '.join(repr(g) for g in few[:5])}{', ...' if len(few) > 5 else ''} "
        f"has no interval and is left out of the comparison of ROC AUC between groups: fewer than {MIN_AUC_COUNT} "
        "people with a positive or a negative true label, too few for its interval to keep its promise.",
    )]


def _privacy_checks(keys: list[tuple[str, str]], count: dict[tuple[str, str], Any], policy: Policy) -> list[Finding]:
    hidden = [key for key in keys if count[key] < policy.suppress_below]
    if not hidden:
        return []
    return [Finding(
        SUPPRESSED_GROUPS, "inconclusive", None, None,
        tuple(f"{a}: {g}" for a, g in hidden), float(len(hidden)), None, None,
        f"count >= {policy.suppress_below}",
        f"{len(hidden)} group(s) have fewer than {policy.suppress_below} people; their numbers are withheld "
        "from reports to protect privacy, and they are left out of every comparison between groups (the "
        "disparities and measures compare the groups that can be shown).",
    )]
