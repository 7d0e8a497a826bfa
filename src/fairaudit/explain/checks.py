"""Findings of the explanation step: FA301 (proxy features) and FA302 (sensitive attributes as inputs).

Codes are documented in ``docs/findings.md``. Passing checks are kept.
"""

from __future__ import annotations

from fairaudit.explain.explanations import Explanations
from fairaudit.findings import SEVERITIES, Finding

PROXY, SENSITIVE_INPUT = "FA301", "FA302"


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 else "under 1%"


def explanation_findings(explanations: Explanations, *, min_group_size: int) -> list[Finding]:
    """FA301 per flagged proxy (or one passing FA301) and FA302 per sensitive attribute, most severe first.

    A flagged proxy whose best-predicted group has fewer than ``min_group_size`` people is
    ``inconclusive``: too few to say the feature reveals membership.
    """
    attributes = list(dict.fromkeys(a for a, _ in explanations.groups.index if a != "overall"))
    out: list[Finding] = []
    for attribute in attributes:
        out.extend(_proxy_findings(explanations, attribute, min_group_size))
        out.append(_input_finding(explanations, attribute))
    return sorted(out, key=lambda f: SEVERITIES.index(f.severity))


def _threshold(explanations: Explanations) -> str:
    return (f"association < {explanations.min_association:g} or importance < "
            f"{explanations.min_importance:g}")


def _proxy_findings(explanations: Explanations, attribute: str, min_group_size: int) -> list[Finding]:
    table = explanations.proxies
    rows = table.xs(attribute, level="attribute") if attribute in table.index.get_level_values("attribute") \
        else table.iloc[:0].droplevel("attribute")
    flagged = rows[rows["flag"]]
    out = []
    for feature, row in flagged.iterrows():
        group, association, share = str(row["group"]), float(row["association"]), float(row["importance"])
        small = int(row["group_count"]) < min_group_size
        sentence = (
            f"The feature {feature!r} closely tracks {attribute}: on its own it tells the {group!r} group apart "
            f"from everyone else with an AUC of {association:.2f} (0.5 is chance, 1 is certain), and it carries "
            f"{_percent(share)} of the model's reasoning, so it can stand in for {attribute}"
        )
        sentence += (f", though the {group!r} group has fewer than {min_group_size} people, too few to be sure."
                     if small else ".")
        out.append(Finding(PROXY, "inconclusive" if small else "warn", attribute, None, (group,), association,
                           None, None, _threshold(explanations), sentence))
    if not out:
        measured = rows["association"].dropna()
        if measured.empty:
            out.append(Finding(PROXY, "inconclusive", attribute, None, (), None, None, None,
                               _threshold(explanations),
                               f"No feature could be checked as a stand-in for {attribute}: it needs two "
                               "groups with enough people and at least one model input besides the "
                               "sensitive attributes."))
        else:
            out.append(Finding(PROXY, "pass", attribute, None, (), float(measured.max()), None, None,
                               _threshold(explanations),
                               f"No feature both closely tracks {attribute} and weighs heavily in the model's "
                               f"decisions (the closest tracking has an AUC of {measured.max():.2f})."))
    return out


def _input_finding(explanations: Explanations, attribute: str) -> Finding:
    if attribute not in explanations.sensitive_inputs:
        return Finding(SENSITIVE_INPUT, "pass", attribute, None, (), None, None, None, None,
                       f"The model does not take {attribute} as an input.")
    overall = explanations.importance.loc[("overall", "all")]
    total = float(overall.sum())
    share = float(overall[attribute]) / total if total > 0 else float("nan")
    weight = f", and it carries {_percent(share)} of the model's reasoning" if share == share else ""
    return Finding(SENSITIVE_INPUT, "warn", attribute, None, (), share if share == share else None, None, None,
                   None, f"The model takes {attribute} itself as an input, so it can treat people differently "
                         f"because of their {attribute}{weight}.")
