"""Provenance of an audit: what was audited (model, data, policy), with which libraries, and whether the
audited rows trained the model (finding FA204).

``model_info`` keys the report shows: ``name``, ``version``, ``owner``, ``intended_use``,
``positive_decision`` (what a positive decision means for the person), ``file_sha256``; ``data_info``
keys: ``source``, ``period``. Other keys are kept and listed as they are.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fairaudit.findings import SEVERITIES, Finding
from fairaudit.inputs import AuditInputError

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

TRAINING_ROWS = "FA204"
MODEL_KEYS = ("name", "version", "owner", "intended_use", "positive_decision", "file_sha256")
DATA_KEYS = ("source", "period")
# every library whose code produced a number or a page of the report
VERSIONED = ("fairaudit", "numpy", "pandas", "scipy", "scikit-learn", "fairlearn", "shap", "matplotlib",
             "jinja2", "weasyprint", "narwhals", "duckdb", "pyspark", "opendp")
CORE = ("fairaudit", "numpy", "pandas", "scipy", "scikit-learn")


def versions() -> dict[str, str]:
    """Python and every installed library in :data:`VERSIONED` (the core ones even when missing)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    """:func:`versions`, read once per process (reading package metadata takes tens of milliseconds)."""
    out = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            out[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            if package in CORE:
                out[package] = "not installed"
    return out


def sha256_of(value: Any) -> str:
    """SHA-256 of bytes, or of a JSON-able value in canonical form (sorted keys, no spaces)."""
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, separators=(",", ":"),
                                                             default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def training_rows(data: Any, train_index: Any) -> tuple[Any, np.ndarray | None]:
    """The data (without the marking column when ``train_index`` names one) and a boolean mask of the
    audited rows that trained the model (``None`` when unknown)."""
    if train_index is None:
        return data, None
    if not isinstance(data, pd.DataFrame):
        raise AuditInputError("The 'train_index' argument needs a pandas DataFrame as data; for engine inputs, "
                              "audit rows that did not train the model.")
    if isinstance(train_index, str):
        if train_index not in data.columns:
            raise AuditInputError(f"The 'train_index' argument names column {train_index!r}, which is not in the "
                                  "data; pass the name of a boolean column marking the training rows.")
        column = data[train_index]
        if not (pd.api.types.is_bool_dtype(column) or set(column.dropna().unique()) <= {0, 1}):
            raise AuditInputError(f"The 'train_index' column {train_index!r} must be boolean (or 0/1) marking the "
                                  "rows that trained the model.")
        return data.drop(columns=train_index), column.fillna(False).astype(bool).to_numpy()
    values = np.asarray(train_index)
    if values.dtype == bool:
        if len(values) != len(data):
            raise AuditInputError(f"The 'train_index' mask has {len(values)} entries for {len(data)} rows; pass one "
                                  "boolean per row, or the index labels of the training rows.")
        return data, values
    return data, np.asarray(data.index.isin(values))


def with_provenance(result: AuditResult, *, name: str | None, model_info: dict[str, Any] | None,
                    data_info: dict[str, Any] | None, training: np.ndarray | None) -> AuditResult:
    """The result with its title, model and data identity, policy hash and the training-rows finding."""
    meta = result.metadata
    if name is not None:
        meta["name"] = str(name)
    for key, given in (("model_info", model_info), ("data_info", data_info)):
        if given is not None:
            if not isinstance(given, dict):
                raise AuditInputError(f"The '{key}' argument must be a dict (e.g. {{'version': '1.2'}}); got "
                                      f"{type(given).__name__}.")
            meta[key] = {str(k): str(v) for k, v in given.items() if v is not None}
    meta["policy_sha256"] = sha256_of(result.policy.to_dict())
    if training is not None:
        overlap = int(training.sum())
        meta["training_rows_audited"] = overlap
        if overlap and TRAINING_ROWS not in result.policy.ignore:
            share = overlap / max(len(training), 1)
            result.findings = sorted([*result.findings, Finding(
                TRAINING_ROWS, "warn", None, None, (), share, None, None, None,
                f"{overlap:,} of the {len(training):,} audited rows ({share:.0%}) trained the model: on them its "
                "errors are smaller than on new people, so error-rate measures look better than they will be; "
                "audit rows the model has not seen.")], key=lambda f: SEVERITIES.index(f.severity))
    return result
