"""Findings that only a ranking audit has: the item-side exposure check (FA144) and the count of lists
left out of NDCG (FA145). The customer-side checks are ordinary threshold checks
(:func:`fairaudit.findings.evaluate`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairaudit.findings import LISTS_WITHOUT_RELEVANT, MEASURE_CODES, Finding
from fairaudit.policy import ITEM_MEASURES, Policy


def customer_policy(policy: Policy) -> Policy:
    """The policy without its item-side thresholds, which :func:`ranking_findings` checks."""
    import dataclasses

    return dataclasses.replace(policy, thresholds={k: v for k, v in policy.thresholds.items()
                                                   if k not in ITEM_MEASURES})


def ranking_findings(by_group: pd.DataFrame, items: pd.DataFrame, ratio: float, policy: Policy,
                     item_column: str) -> list[Finding]:
    """FA144 when the policy limits ``exposure_per_merit_ratio``; FA145 when lists had no relevant item."""
    out = []
    threshold = policy.thresholds.get("exposure_per_merit_ratio")
    if threshold is not None:
        code = MEASURE_CODES["exposure_per_merit_ratio"]
        if not np.isfinite(ratio):
            out.append(Finding(code, "inconclusive", None, "exposure_per_merit_ratio", (), None, None, None,
                               str(threshold), f"The exposure per unit of merit of the {item_column!r} items cannot "
                               "be compared: it needs a target and at least two items with relevance.", True))
        else:
            merit = items["exposure_per_merit"].dropna()
            groups = (str(merit.idxmin()), str(merit.idxmax()))
            severity = "fail" if threshold.breached_by(ratio) else "pass"
            out.append(Finding(
                code, severity, None, "exposure_per_merit_ratio", groups, ratio, None, None, str(threshold),
                f"Item {groups[0]!r} receives {ratio:.2f} times the exposure per unit of relevance of item "
                f"{groups[1]!r} ({'beyond' if severity == 'fail' else 'within'} the policy limit of {threshold}; "
                "a population total, without sampling interval).", True))
    if "ndcg_lists" in by_group.columns and LISTS_WITHOUT_RELEVANT not in policy.ignore:
        first = by_group.index.get_level_values("attribute")[0]
        table = by_group.loc[first]
        lists, left_out = int(table["count"].sum()), int((table["count"] - table["ndcg_lists"]).sum())
        if left_out:
            out.append(Finding(
                LISTS_WITHOUT_RELEVANT, "pass", None, "ndcg_at_k", (), float(left_out), None, None, None,
                f"{left_out} of {lists} lists have no relevant item: they are left out of NDCG@k (undefined "
                "there) and count as misses in precision@k and hit rate@k."))
    return [f for f in out if f.code not in policy.ignore]
