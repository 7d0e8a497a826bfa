"""``fairaudit run``: audit a configuration, write its reports in a new timestamped folder, judge drift."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fairaudit._audit import audit
from fairaudit.config import AuditConfig
from fairaudit.drift import compare, drift_findings
from fairaudit.model_files import load_model
from fairaudit.result import AuditResult, load

FORMATS = ("html", "pdf", "json")


@dataclass
class RunOutcome:
    """What a run produced: the result, where its reports are, and the drift table if compared."""

    result: AuditResult
    folder: Path
    reports: dict[str, Path] = field(default_factory=dict)
    baseline: Path | None = None
    comparison: Any = None
    mlflow_run: str | None = None


def run_config(config: AuditConfig, *, out: Path, formats: tuple[str, ...], baseline: str | None,
               trust_model: bool, progress: Any = None, mlflow: bool = False) -> RunOutcome:
    """Load data and model, audit, compare with the baseline, and write the reports (and, with ``mlflow``,
    log them to MLflow: :func:`fairaudit.integrations.mlflow.log_audit`)."""
    say = progress or (lambda message: None)
    say(f"loading data {config.spec['data']}")
    data = config.load_data()
    model = None
    if "model" in config.spec:
        say(f"loading model {config.spec['model']}")
        model = load_model(config.spec["model"], base=config.base,
                           trusted=trust_model or bool(config.spec.get("trusted")))
    say(f"auditing {len(data):,} rows" if hasattr(data, "__len__") and not isinstance(data, str)
        else f"auditing {data} with DuckDB")
    result = audit(model, data, **config.audit_options())
    if "model_card" in config.spec:
        result.metadata["model_card"] = dict(config.spec["model_card"])
    home = out / config.name
    outcome = RunOutcome(result, _new_folder(home))
    reference = _baseline_path(baseline or config.spec.get("baseline"), home, config.base)
    if reference is not None:
        say(f"comparing with baseline {reference}")
        outcome.baseline = reference
        baseline_result = load(reference)
        outcome.comparison = compare(baseline_result, result, result.metadata.get("confidence", 0.95))
        result.findings.extend(drift_findings(outcome.comparison, result.policy.max_regression))
        result.comparison = outcome.comparison
        result.metadata["baseline"] = {
            "path": str(reference),
            "created_utc": baseline_result.metadata.get("created_utc"),
            "fingerprint_sha256": baseline_result.metadata.get("fingerprint_sha256"),
        }
    outcome.reports = write_reports(result, outcome.folder, formats, say)
    if "publish" in config.spec:
        say(f"publishing a transparency report (epsilon {config.spec['publish']['epsilon']:g})")
        public = result.to_public(**config.spec["publish"], random_state=config.spec.get("random_state"))
        outcome.reports.update({f"public_{k}": v for k, v in
                                write_reports(public, outcome.folder, formats, say, stem="public").items()})
    if outcome.comparison is not None:
        path = outcome.folder / "comparison.csv"
        outcome.comparison.to_csv(path)
        outcome.reports["comparison"] = path
    if mlflow:
        from fairaudit.integrations.mlflow import log_audit

        say("logging to MLflow")
        outcome.mlflow_run = log_audit(result, files=outcome.reports)
    latest = home / "latest"
    if latest.exists():
        shutil.rmtree(latest)
    shutil.copytree(outcome.folder, latest)
    return outcome


def write_reports(result: AuditResult, folder: Path, formats: tuple[str, ...], say: Any,
                  stem: str = "audit") -> dict[str, Path]:
    """The JSON always (``stem.json``), the other requested formats (``stem.html``, ...), and the requested
    compliance tables as CSV (``nyc_ll144.csv``, ``eeoc_four_fifths.csv``), in ``folder``."""
    written = {"json": folder / f"{stem}.json"}
    result.to_json(written["json"])
    for standard in result.metadata.get("compliance", []):
        written[standard] = folder / f"{standard}.csv"
        result.compliance(standard).to_csv(written[standard])
    for fmt in formats:
        if fmt == "json":
            continue
        say(f"writing {fmt}")
        written[fmt] = folder / f"{stem}.{fmt}"
        getattr(result, f"to_{fmt}")(written[fmt])
    return written


def _new_folder(home: Path) -> Path:
    """``home/<UTC timestamp>``, never an existing folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = home / stamp, 1
    while candidate.exists():
        candidate, n = home / f"{stamp}-{n}", n + 1
    candidate.mkdir(parents=True)
    return candidate


def _baseline_path(reference: str | None, home: Path, base: Path) -> Path | None:
    if reference is None:
        return None
    if reference == "latest":
        path = home / "latest" / "audit.json"
        if not path.exists():
            print(f"fairaudit: no earlier audit under {home} yet; nothing to compare with.", file=sys.stderr)
            return None
        return path
    path = Path(reference)
    path = path if path.is_absolute() else (Path.cwd() / path)
    if not path.exists():
        path = (base / reference).resolve()
    if not path.exists():
        raise FileNotFoundError(f"Baseline audit {reference!r} does not exist.")
    return path
