"""The JSON Schema of a saved audit (:meth:`fairaudit.AuditResult.to_json`), shipped with the package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "audit.schema.json"


def audit_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every saved audit of this schema version satisfies."""
    return json.loads(resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
