"""Findings of the explanation step: FA301 (proxy features) and FA302 (sensitive attributes as inputs).

Codes are documented in ``docs/findings.md``. Passing checks are kept.
"""

from __future__ import annotations

from fairaudit.explain.explanations import Explanations
from fairaudit.findings import SEVERITIES, Finding

PROXY, SENSITIVE_INPUT = "FA301", "FA302"
ENCODES = 0.95
"""A one-feature AUC from which an input counts as encoding the attribute (derived from it, or nearly so:
``personal_status_sex`` for ``sex``, ``age`` for ``age_group``): FA302, whatever its weight in the model."""


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
            feature = str(measured.idxmax())
            best, share = float(measured.max()), float(rows.loc[feature, "importance"])
            tracking = (f"the input that tracks it most closely, {feature!r}, tells the {rows.loc[feature, 'group']!r} "
                        f"group apart with an AUC of {best:.2f} but carries {_percent(share)} of the model's "
                        f"reasoning") if best >= explanations.min_association else \
                (f"the closest tracking, by {feature!r}, has an AUC of {best:.2f}, under "
                 f"{explanations.min_association:g}")
            out.append(Finding(PROXY, "pass", attribute, None, (), best, None, None, _threshold(explanations),
                               f"No input both closely tracks {attribute} and weighs heavily in the model's "
                               f"decisions: {tracking}."))
    return out


def _encoders(explanations: Explanations, attribute: str) -> list[tuple[str, str, float]]:
    """Inputs that encode the attribute: (feature, group it reveals, AUC), strongest first."""
    table = explanations.proxies
    if attribute not in table.index.get_level_values("attribute"):
        return []
    rows = table.xs(attribute, level="attribute")
    strong = rows[rows["association"] >= ENCODES].sort_values("association", ascending=False)
    return [(str(f), str(r["group"]), float(r["association"])) for f, r in strong.iterrows()]


def _input_finding(explanations: Explanations, attribute: str) -> Finding:
    overall = explanations.importance.loc[("overall", "all")]
    total = float(overall.sum())
    encoders = _encoders(explanations, attribute)
    if attribute not in explanations.sensitive_inputs and not encoders:
        return Finding(SENSITIVE_INPUT, "pass", attribute, None, (), None, None, None, f"AUC < {ENCODES:g}",
                       f"The model does not take {attribute} as an input, nor an input that encodes it (every "
                       f"input tells {attribute}'s groups apart with an AUC under {ENCODES:g}).")
    if attribute in explanations.sensitive_inputs:
        share = float(overall[attribute]) / total if total > 0 else float("nan")
        weight = f", and it carries {_percent(share)} of the model's reasoning" if share == share else ""
        return Finding(SENSITIVE_INPUT, "warn", attribute, None, (), share if share == share else None, None,
                       None, None, f"The model takes {attribute} itself as an input, so it can treat people "
                                   f"differently because of their {attribute}{weight}.")
    feature, group, association = encoders[0]
    share = float(overall[feature]) / total if total > 0 and feature in overall.index else float("nan")
    weight = f"; it carries {_percent(share)} of the model's reasoning" if share == share else ""
    others = f" (also: {', '.join(repr(f) for f, _, _ in encoders[1:])})" if len(encoders) > 1 else ""
    return Finding(SENSITIVE_INPUT, "warn", attribute, None, (group,), share if share == share else None, None,
                   None, f"AUC < {ENCODES:g}",
                   f"The model takes {feature!r}{others}, which encodes {attribute}: on its own it tells the "
                   f"{group!r} group apart from everyone else with an AUC of {association:.2f}, so the model can "
                   f"treat people differently because of their {attribute}{weight}.")
