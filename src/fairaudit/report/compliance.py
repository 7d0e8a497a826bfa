"""What the compliance sections of a report show: the tables of the standards the audit names
(``compliance=`` / the config's ``compliance:``) and the model card, formatted for the template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from fairaudit.compliance import ComplianceError, compliance_table, model_card
from fairaudit.privacy import FLAG
from fairaudit.report import fmt

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

TITLES = {"nyc_ll144": "NYC Local Law 144 bias audit", "eeoc_four_fifths": "EEOC four-fifths rule"}


def sections(result: AuditResult) -> dict[str, Any]:
    """``compliance``: one table per requested standard (small groups suppressed); ``model_card``."""
    tables = []
    for standard in result.metadata.get("compliance", []):
        try:
            table = compliance_table(result, standard)
        except ComplianceError as error:
            tables.append({"standard": standard, "title": TITLES[standard], "error": str(error)})
            continue
        tables.append({"standard": standard, "title": TITLES[standard], "error": "",
                       "rules": table.attrs["rules"], "suppression": table.attrs["suppression"],
                       "level": table.index.names[1],
                       "columns": [fmt.words(c) for c in table.columns if c not in ("note", FLAG)],
                       "rows": [_row(key, row) for key, row in table.iterrows()]})
    return {"compliance": tables, "model_card": model_card(result)}


def _row(key: tuple[str, str], row: pd.Series) -> dict[str, Any]:
    return {"attribute": key[0], "group": key[1], "suppressed": bool(row[FLAG]), "note": row["note"],
            "cells": [_cell(name, value) for name, value in row.items() if name not in ("note", FLAG)]}


def _cell(name: str, value: Any) -> str:
    """A formatted number; empty where the rule gives none (the row's note says why)."""
    if value is pd.NA or value is None or (isinstance(value, float) and value != value):
        return ""
    if name in ("excluded", "adverse_impact"):
        return "yes" if bool(value) else "no"
    if name in ("count", "selected"):
        return fmt.count(value)
    if name == "p_value":
        return fmt.p_value(value)
    if name == "shortfall":
        return fmt.number(value, 1)
    return fmt.number(value)
