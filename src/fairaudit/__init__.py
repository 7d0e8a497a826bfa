"""fairaudit: audit machine-learning models for group fairness, with intervals on every number."""

from fairaudit._audit import audit
from fairaudit.datasets import DATASETS, load_dataset
from fairaudit.inputs import (
    AuditInputError,
    AuditTypeError,
    FairAuditWarning,
    MissingSensitiveValueWarning,
    SingleGroupWarning,
    UndefinedMetricWarning,
)
from fairaudit.metrics import METRICS
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
    "GroupStats",
    "MissingSensitiveValueWarning",
    "SingleGroupWarning",
    "UndefinedMetricWarning",
    "audit",
    "load",
    "load_dataset",
]
