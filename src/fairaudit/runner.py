"""``fairaudit run``: audit a configuration, write its reports in a new timestamped folder, judge drift.

Outputs appear atomically. Everything is first written to a hidden folder ``<out>/<name>/.tmp-<pid>-<id>``
(which also holds the run's scratch files: ``tempfile`` points there, so DuckDB spill folders go with it);
the finished reports are then renamed to ``<out>/<name>/<UTC timestamp>`` and the symlink ``latest`` is
replaced by one pointing at them (``os.replace``). An interrupted run removes its hidden folder; one killed
outright leaves only a hidden folder, which the next run into the same folder removes once its process
is gone.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fairaudit._audit import audit
from fairaudit.config import AuditConfig, ConfigError
from fairaudit.drift import compare, drift_findings
from fairaudit.model_files import load_model
from fairaudit.result import AuditResult, load

FORMATS = ("html", "pdf", "json")
TEMPORARY = ".tmp-"
"""Prefix of a run's hidden working folder (``.tmp-<pid>-<id>``): never a report."""
LATEST = "latest"


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
    """Load data and model, audit, compare with the baseline, and write the reports (atomically; and, with
    ``mlflow``, log them to MLflow: :func:`fairaudit.integrations.mlflow.log_audit`)."""
    say = progress or (lambda message: None)
    home = out / config.name
    if home.resolve().parent != out.resolve():
        raise ConfigError(f"Config key 'name': {config.name!r} would write outside the output folder {str(out)!r}.")
    with _working_folder(home) as work:
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
        result.metadata["config_sha256"] = config.sha256
        reports = work / "reports"
        reports.mkdir()
        outcome = RunOutcome(result, reports)
        reference = _baseline_path(baseline or config.spec.get("baseline"), home, config.base, say)
        if reference is not None:
            say(f"comparing with baseline {reference}")
            outcome.baseline = reference
            baseline_result = read_audit(reference, "baseline")
            outcome.comparison = compare(baseline_result, result, result.metadata.get("confidence", 0.95))
            result.findings.extend(drift_findings(outcome.comparison, result.policy.max_regression))
            result.comparison = outcome.comparison
            result.metadata["baseline"] = {
                "path": str(reference),
                "created_utc": baseline_result.metadata.get("created_utc"),
                "fingerprint_sha256": baseline_result.metadata.get("fingerprint_sha256"),
            }
        outcome.reports = write_reports(result, reports, formats, say)
        if "publish" in config.spec:
            say(f"publishing a transparency report (epsilon {config.spec['publish']['epsilon']:g})")
            public = result.to_public(**config.spec["publish"], random_state=config.spec.get("random_state"))
            outcome.reports.update({f"public_{k}": v for k, v in
                                    write_reports(public, reports, formats, say, stem="public").items()})
        if outcome.comparison is not None:
            result.suppressed().comparison.to_csv(reports / "comparison.csv")  # withheld measures are blank
            outcome.reports["comparison"] = reports / "comparison.csv"
        outcome.folder = _publish(reports, home)
        outcome.reports = {kind: outcome.folder / path.name for kind, path in outcome.reports.items()}
        if mlflow:
            from fairaudit.integrations.mlflow import log_audit

            say("logging to MLflow")
            outcome.mlflow_run = log_audit(result, files=outcome.reports)
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


def read_audit(path: Path, key: str) -> AuditResult:
    """A saved audit, or a :class:`ConfigError` naming ``key`` and the file when it is not one this
    version reads (not JSON, not an audit, a newer schema)."""
    try:
        return load(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"The {key} file {str(path)!r} is not an audit JSON saved by fairaudit ({error}).") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"The {key} file {str(path)!r} is JSON but not a fairaudit audit (no {error}).") from None
    except ValueError as error:
        raise ConfigError(f"The {key} file {str(path)!r}: {error}") from None


@contextmanager
def _working_folder(home: Path) -> Iterator[Path]:
    """A hidden folder for this run in ``home``, also the run's ``tempfile`` directory; removed at the end,
    whether the run succeeded, failed or was interrupted."""
    home.mkdir(parents=True, exist_ok=True)
    _remove_stale(home)
    work = home / f"{TEMPORARY}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    scratch = work / "scratch"
    scratch.mkdir(parents=True)
    previous = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        yield work
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(work, ignore_errors=True)


def _remove_stale(home: Path) -> None:
    """Remove the hidden folders of runs whose process is gone (killed before it could clean up)."""
    for folder in home.glob(f"{TEMPORARY}*"):
        pid = folder.name[len(TEMPORARY):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _publish(reports: Path, home: Path) -> Path:
    """Rename the finished ``reports`` to ``home/<UTC timestamp>`` (``-1``, ``-2``... when taken) and point
    ``home/latest`` at it; both steps are atomic renames, safe under concurrent runs."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(10_000):
        folder = home / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            os.rename(reports, folder)  # fails on an existing non-empty folder: never overwrites a report
            break
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    else:  # pragma: no cover - ten thousand runs in one second
        raise RuntimeError(f"No free timestamp folder under {home}.")
    link = reports.parent / LATEST
    link.symlink_to(folder.name, target_is_directory=True)
    latest = home / LATEST
    if latest.is_dir() and not latest.is_symlink():  # a copied folder from fairaudit before atomic runs
        os.rename(latest, reports.parent / "old-latest")
    os.replace(link, latest)
    return folder


def _baseline_path(reference: str | None, home: Path, base: Path, say: Any) -> Path | None:
    if reference is None:
        return None
    if reference == LATEST:
        path = home / LATEST / "audit.json"
        if not path.exists():
            say(f"no earlier audit under {home} yet; nothing to compare with.")
            return None
        return path.resolve()
    path = Path(reference)
    path = path if path.is_absolute() else (Path.cwd() / path)
    if not path.exists():
        path = (base / reference).resolve()
    if not path.exists():
        raise FileNotFoundError(f"Baseline audit {reference!r} does not exist.")
    return path
