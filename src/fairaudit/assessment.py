"""From group statistics to judged decisions: the comparisons' scope, the tables and the policy's findings.

:func:`fairaudit.audit` and the mitigation simulations (:mod:`fairaudit.mitigation`) go through the same
steps, so a mitigation's effect is measured exactly as an audit measures a model: :func:`comparison`
decides which groups the comparisons leave out and which group ratios are taken against,
:func:`fairaudit.tables.build_tables` builds the tables with their intervals and
:func:`fairaudit.findings.evaluate` judges them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fairaudit.findings import Finding, evaluate
from fairaudit.inputs import AuditInputError, group_name
from fairaudit.policy import Policy
from fairaudit.stats import GroupStats
from fairaudit.tables import Tables, build_tables, left_out_groups


@dataclass(frozen=True)
class Assessment:
    """The tables of a binary decision audit and the policy's findings on them."""

    tables: Tables
    findings: list[Finding]


def assess_decisions(stats: GroupStats, *, intersections: bool, confidence: float, n_boot: int,
                     rng: np.random.Generator, policy: Policy,
                     reference: Mapping[str, Any] | None = None) -> Assessment:
    """The tables and findings of binary decisions from their group statistics."""
    tables = build_tables(stats, intersections=intersections, confidence=confidence, n_boot=n_boot, rng=rng,
                          **comparison(stats, intersections=intersections, policy=policy, reference=reference))
    findings = evaluate(tables.by_group, tables.disparities, tables.measures, policy, confidence,
                        p_values=tables.p_value)
    return Assessment(tables, findings)


def comparison(stats: GroupStats, *, intersections: bool, policy: Policy,
               reference: Mapping[str, Any] | None) -> dict[str, Any]:
    """Which groups the comparisons leave out (too small to show; missing values unless the policy compares
    them) and the checked reference group of each attribute."""
    left_out = left_out_groups(stats, intersections=intersections, suppress_below=policy.suppress_below,
                               compare_missing=policy.compare_missing)
    if reference is None:
        return {"left_out": left_out, "reference": None}
    if not isinstance(reference, Mapping):
        raise AuditInputError(f"The 'reference' argument must map attribute names to a group, e.g. "
                              f"{{'sex': 'male'}}; got {type(reference).__name__}.")
    checked = {}
    for attribute, group in reference.items():
        if attribute not in stats.attributes:
            raise AuditInputError(f"The 'reference' argument names attribute {attribute!r}, which is not a sensitive "
                                  f"attribute of this audit ({', '.join(stats.attributes)}).")
        keys, _ = stats.membership((attribute,))
        name = group_name(group)
        if (name,) not in keys:
            raise AuditInputError(f"The 'reference' argument names group {name!r} of attribute {attribute!r}, which "
                                  f"has no such group; its groups are {', '.join(k[0] for k in keys)}.")
        if (attribute, (name,)) in left_out:
            raise AuditInputError(f"The 'reference' argument names group {name!r} of attribute {attribute!r}, which "
                                  f"no comparison may use: {left_out[(attribute, (name,))]}. Choose another group.")
        checked[attribute] = name
    return {"left_out": left_out, "reference": checked}
