"""Drift: every measure of an audit compared with a baseline audit, and a finding where it worsened.

A change's interval combines the two audits' intervals as independent normal ones:
``change +- z * sqrt(se_old^2 + se_new^2)`` with ``se = (ci_high - ci_low) / (2 z)``. A measure worsens
when a difference grows or a ratio shrinks; FA501 is ``fail`` when the whole interval of the change is
worse than the policy's ``max_regression``, ``warn`` when only the estimate is, ``pass`` otherwise.
FA502 notes measures the baseline does not have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairaudit.findings import Finding
from fairaudit.result import AuditResult
from fairaudit.uncertainty import z_value

WORSENED, NOT_COMPARABLE = "FA501", "FA502"


def compare(old: AuditResult, new: AuditResult, confidence: float = 0.95) -> pd.DataFrame:
    """Per (attribute, measure): ``old``, ``new``, ``change`` (new - old), its interval, and ``worsening``
    (the change in the harmful direction: growth of a difference, shrinkage of a ratio)."""
    z = z_value(confidence)
    joined = new.measures.add_suffix("_new").join(old.measures.add_suffix("_old"), how="left")
    se_new = (joined["ci_high_new"] - joined["ci_low_new"]) / (2 * z)
    se_old = (joined["ci_high_old"] - joined["ci_low_old"]) / (2 * z)
    change = joined["value_new"] - joined["value_old"]
    half = z * np.sqrt(se_new**2 + se_old**2)
    harmful = np.where([m.endswith("_ratio") for m in joined.index.get_level_values("measure")], -1.0, 1.0)
    return pd.DataFrame({
        "old": joined["value_old"], "new": joined["value_new"], "change": change,
        "change_ci_low": change - half, "change_ci_high": change + half, "worsening": harmful * change,
    }, index=joined.index)


def drift_findings(table: pd.DataFrame, max_regression: float) -> list[Finding]:
    """FA501 per compared measure that changed, FA502 for measures missing from the baseline."""
    out = []
    for (attribute, measure), row in table.iterrows():
        if not np.isfinite(row["old"]) or not np.isfinite(row["new"]):
            out.append(Finding(NOT_COMPARABLE, "inconclusive", attribute, measure, (), None, None, None, None,
                               f"The {measure.replace('_', ' ')} of {attribute} cannot be compared with the "
                               "baseline audit, which does not have it."))
            continue
        if abs(row["change"]) < 1e-12:  # unchanged: nothing to judge, so no check is counted
            continue
        sign = -1.0 if measure.endswith("_ratio") else 1.0
        bounds = sorted((sign * row["change_ci_low"], sign * row["change_ci_high"]))
        worsening = row["worsening"]
        if worsening <= max_regression:
            severity = "pass"
        elif np.isfinite(bounds[0]) and bounds[0] > max_regression:
            severity = "fail"
        else:
            severity = "warn"
        direction = "worsened" if worsening > 0 else "improved"
        message = (f"Since the baseline audit, the {measure.replace('_', ' ')} of {attribute} {direction}: "
                   f"{row['old']:.2f} then, {row['new']:.2f} now (change {row['change']:+.2f}, interval "
                   f"{row['change_ci_low']:+.2f} to {row['change_ci_high']:+.2f}); the policy allows a "
                   f"worsening of at most {max_regression:g}.")
        out.append(Finding(WORSENED, severity, attribute, measure, (), float(row["change"]),
                           float(row["change_ci_low"]), float(row["change_ci_high"]),
                           f"worsening <= {max_regression:g}", message))
    return out
