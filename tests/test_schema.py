"""Saved audits: the packaged JSON Schema, the round trip, and refusing a newer schema."""

from __future__ import annotations

import copy
import json

import jsonschema
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.schema import audit_schema
from tests.test_privacy import result as small_group_result  # noqa: F401  (a module fixture)

VALIDATOR = jsonschema.Draft202012Validator


def test_schema_is_valid_and_packaged():
    schema = audit_schema()
    VALIDATOR.check_schema(schema)
    assert schema["properties"]["schema_version"]["type"] == "string"


def test_demo_json_validates_and_round_trips(demo, tmp_path):
    path = tmp_path / "audit.json"
    demo.to_json(path)
    payload = json.loads(path.read_text())
    VALIDATOR(audit_schema()).validate(payload)
    assert payload["schema_version"] == fa.SCHEMA_VERSION
    loaded = fa.load(path)
    for name in ("by_group", "overall", "disparities", "measures"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(demo, name))
    assert loaded.findings == demo.findings and loaded.passed == demo.passed
    assert loaded.policy == demo.policy


def test_suppressed_json_validates_and_is_stable(small_group_result):  # noqa: F811
    payload = small_group_result.to_dict()
    VALIDATOR(audit_schema()).validate(payload)
    loaded = fa.AuditResult.from_dict(payload)
    assert loaded.by_group.loc[("region", "Zeta"), "suppressed"]
    assert pd.isna(loaded.by_group.loc[("region", "Zeta"), "count"])
    assert loaded.to_dict() == payload  # saving a loaded audit changes nothing


def test_schema_rejects_numbers_of_a_suppressed_group(small_group_result):  # noqa: F811
    payload = small_group_result.to_dict()
    broken = copy.deepcopy(payload)
    record = next(r for r in broken["by_group"]["records"] if r["suppressed"])
    record["count"] = 7
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR(audit_schema()).validate(broken)
    broken = copy.deepcopy(payload)
    broken["findings"][0]["severity"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR(audit_schema()).validate(broken)
