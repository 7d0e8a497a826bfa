"""fairaudit: audit machine-learning models for group fairness, with intervals on every number."""

from fairaudit._audit import audit
from fairaudit.datasets import DATASETS, load_dataset
from fairaudit.findings import Finding
from fairaudit.inputs import (
    AuditInputError,
    AuditTypeError,
    FairAuditWarning,
    MissingSensitiveValueWarning,
    SingleGroupWarning,
    UndefinedMetricWarning,
)
from fairaudit.metrics import METRICS
from fairaudit.policy import Policy, PolicyError, Threshold
from fairaudit.result import SCHEMA_VERSION, AuditResult, load
from fairaudit.stats import GroupStats

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "METRICS",
    "SCHEMA_VERSION",
    "AuditInputError",
    "AuditResult",
    "AuditTypeError",
    "FairAuditWarning",
    "Finding",
    "GroupStats",
    "MissingSensitiveValueWarning",
    "Policy",
    "PolicyError",
    "SingleGroupWarning",
    "Threshold",
    "UndefinedMetricWarning",
    "audit",
    "load",
    "load_dataset",
]
