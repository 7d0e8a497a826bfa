"""The report's "Estimated attributes" section: weighted and corrected metrics of groups that are not recorded,
read from the (suppressed) result's ``estimates`` table."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fairaudit.report import fmt


def estimates_context(estimates: pd.DataFrame | None, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """Where the probabilities come from, and one table per estimated view: each group's corrected metric with
    its interval beside the weighted one."""
    if estimates is None or not len(estimates):
        return None
    tables = []
    for view in dict.fromkeys(estimates.index.get_level_values("attribute")):
        rows = []
        for (group, metric), row in estimates.loc[view].iterrows():
            rows.append({
                "group": group, "metric": fmt.words(metric), "suppressed": bool(row.get("suppressed", False)),
                "weighted": fmt.number(row["weighted"]),
                "corrected": fmt.evidence(row["corrected"], row["ci_low"], row["ci_high"]),
                "effective_size": fmt.number(row["effective_size"], 1),
                "identified": "yes" if row["identified"] else "no: inconclusive",
            })
        tables.append({"name": view, "rows": rows})
    sources = "; ".join(f"{name} from columns {', '.join(info.get('columns', []))}"
                        for name, info in (metadata.get("estimated") or {}).items())
    return {"sources": sources, "tables": tables}
