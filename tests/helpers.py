"""Helpers shared by the tests."""

from __future__ import annotations

import warnings

import fairaudit as fa


def quiet_audit(*args, **kwargs) -> fa.AuditResult:
    """``fairaudit.audit`` with fairaudit's own warnings silenced (tests that check them call audit directly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(*args, **kwargs)
