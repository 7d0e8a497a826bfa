"""Log an audit to MLflow: its measures as metrics, its verdict as a tag, its reports as artefacts.

Metric names are ``fairness/<attribute>/<measure>``, with ``_ci_low`` and ``_ci_high`` for the interval's
ends, for every measure of the (suppressed) result; a measure withheld to protect a small group is not
logged. MLflow allows only letters, digits, ``_ - . : /`` and spaces in a name, so an attribute's name is
mapped by :func:`metric_key`: a crossing's ``" & "`` becomes ``"_x_"`` (``sex & race`` gives
``sex_x_race``) and every other character outside ``[A-Za-z0-9_.-]`` becomes ``_``. Two attributes that map
to the same key are an error rather than a silent overwrite.

Tags: ``fairaudit.verdict`` (``passed``, ``failed`` or ``not_determined``), ``fairaudit.passed``,
``fairaudit.fingerprint_sha256``, ``fairaudit.version``. Artefacts under ``fairaudit/``: ``audit.html``,
``audit.pdf``, ``audit.json`` and any compliance CSV written beside them.

Needs the ``mlflow`` extra (``pip install "fairaudit[mlflow]"``); the tracking URI is MLflow's own
(``MLFLOW_TRACKING_URI`` or ``mlflow.set_tracking_uri``).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fairaudit.privacy import FLAG
from fairaudit.tables import JOIN

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

PREFIX = "fairness"
ARTIFACT_PATH = "fairaudit"
REPORTS = ("html", "pdf", "json")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


class MlflowUnavailable(ImportError):
    """MLflow is not installed."""


def metric_key(attribute: str) -> str:
    """The metric-name form of an attribute or crossing: ``" & "`` as ``"_x_"``, other characters outside
    ``[A-Za-z0-9_.-]`` as ``"_"``."""
    return _UNSAFE.sub("_", attribute.replace(JOIN, "_x_"))


def audit_metrics(result: AuditResult) -> dict[str, float]:
    """Every measure shown in the report, with its interval, under its MLflow metric name."""
    measures = result.suppressed().measures
    keys: dict[str, str] = {}
    for attribute in dict.fromkeys(measures.index.get_level_values("attribute")):
        key = metric_key(attribute)
        if key in keys:
            raise ValueError(f"The attributes {keys[key]!r} and {attribute!r} both map to the MLflow key {key!r}; "
                             "rename one of them.")
        keys[key] = attribute
    metrics = {}
    for (attribute, measure), row in measures.iterrows():
        if row.get(FLAG, False):
            continue
        name = f"{PREFIX}/{metric_key(attribute)}/{measure}"
        for suffix, column in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            if row[column] == row[column]:  # NaN (undefined) is not logged
                metrics[name + suffix] = float(row[column])
    return metrics


def log_audit(result: AuditResult, run_id: str | None = None, *,
              files: Mapping[str, str | Path] | None = None) -> str:
    """Log ``result`` to the MLflow run ``run_id`` (default: the active run, else a new one) and return
    the run's id. ``files`` names reports already written (``{"html": path, ...}``, as ``fairaudit run``
    has them); the missing HTML, PDF and JSON are rendered into a temporary folder."""
    try:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError as error:
        raise MlflowUnavailable('Logging to MLflow needs MLflow: pip install "fairaudit[mlflow]".') from error
    metrics = audit_metrics(result)
    client = MlflowClient()
    started = None
    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            started = mlflow.start_run()
            active = started
        run_id = active.info.run_id
    stamp = int(time.time() * 1000)
    try:
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()])
        tags = {"verdict": result.verdict, "passed": str(result.passed).lower(),
                "fingerprint_sha256": str(result.metadata.get("fingerprint_sha256", "")),
                "version": str((result.metadata.get("versions") or {}).get("fairaudit", ""))}
        for name, value in tags.items():
            client.set_tag(run_id, f"fairaudit.{name}", value)
        with tempfile.TemporaryDirectory() as folder:
            for path in _reports(result, dict(files or {}), Path(folder)):
                client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_PATH)
    finally:
        if started is not None:
            mlflow.end_run()
    return run_id


def _reports(result: AuditResult, files: dict[str, str | Path], folder: Path) -> list[Path]:
    """The given report files, plus the HTML, PDF and JSON rendered into ``folder`` where not given."""
    for kind in REPORTS:
        if kind not in files:
            files[kind] = folder / f"audit.{kind}"
            getattr(result, f"to_{kind}")(files[kind])
    return [Path(p) for p in files.values()]
