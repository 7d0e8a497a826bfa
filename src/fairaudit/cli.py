"""The command line: run audit configs, compare audits, validate configs, list datasets, the demo.

Exit codes: 0 the policy passed, 1 it failed (with --fail-on warn also: a warning or a verdict not
determined), 2 bad input or config, 3 an internal error, 4 not determined (nothing fails, but a required
check could not be decided), 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

from fairaudit import __version__

PASSED, FAILED, BAD_INPUT, INTERNAL, NOT_DETERMINED = 0, 1, 2, 3, 4


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwinds the run (its ``finally`` blocks clean up) and exits 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.code = 128 + signum


def _stop(signum: int, frame: object) -> None:
    raise Interrupted(signum)

EXAMPLES = """examples:
  fairaudit run examples/bank_marketing.yaml --out reports
  fairaudit run audit.yaml --baseline reports/churn/latest/audit.json --fail-on warn --json
  fairaudit compare reports/churn/20261101T020000Z/audit.json reports/churn/latest/audit.json
  fairaudit validate audit.yaml
  fairaudit datasets
  fairaudit demo --out reports/demo

exit codes: 0 policy passed, 1 policy failed (with --fail-on warn also a warning or a verdict not
determined), 2 bad input or config, 3 internal error, 4 verdict not determined (a required check undecided),
130/143 interrupted by SIGINT/SIGTERM (the run's temporary files are removed, no report is half-written)"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fairaudit", description="Audit machine-learning models for group "
                                     "fairness.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fairaudit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="audit a model as an audit config (YAML) says",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("config", help="audit config YAML (see config.schema.json)")
    run.add_argument("--out", default="reports", help="output folder (default: reports)")
    run.add_argument("--format", help="comma-separated: html,pdf,json (json always; default: the config's "
                     "'format', else all three)")
    run.add_argument("--baseline", help="earlier audit JSON to compare with, or 'latest'")
    run.add_argument("--fail-on", choices=("fail", "warn"), default="fail", help="severity that fails the run")
    run.add_argument("--trust-model", action="store_true", help="allow loading a pickled model (runs its code)")
    run.add_argument("--mlflow", action="store_true", help="also log measures, verdict and reports to MLflow "
                     "(MLFLOW_TRACKING_URI; needs fairaudit[mlflow])")
    quiet = run.add_mutually_exclusive_group()
    quiet.add_argument("--quiet", action="store_true", help="print nothing; the exit code is the verdict")
    quiet.add_argument("--json", action="store_true", help="print one JSON object: verdict and report paths")

    compare = commands.add_parser("compare", help="compare two saved audits, measure by measure")
    compare.add_argument("old")
    compare.add_argument("new")

    validate = commands.add_parser("validate", help="check an audit config without running it")
    validate.add_argument("config")

    commands.add_parser("datasets", help="list the bundled datasets with their source and licence")

    demo = commands.add_parser("demo", help="audit a model on the bundled bank-marketing data")
    demo.add_argument("--out", default="reports/demo", help="output folder (default: reports/demo)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from fairaudit.compliance import ComplianceError
    from fairaudit.config import ConfigError
    from fairaudit.inputs import AuditInputError, AuditTypeError
    from fairaudit.integrations.mlflow import MlflowUnavailable
    from fairaudit.model_files import UntrustedModelError
    from fairaudit.policy import PolicyError

    bad_input = (ConfigError, PolicyError, AuditInputError, AuditTypeError, UntrustedModelError, FileNotFoundError,
                 ComplianceError, MlflowUnavailable)
    handlers = _catch_signals()
    try:
        return COMMANDS[args.command](args)
    except Interrupted as stop:
        print(f"fairaudit: stopped by {stop}", file=sys.stderr)
        return stop.code
    except bad_input as error:
        print(f"fairaudit: {error}", file=sys.stderr)
        return BAD_INPUT
    except Exception:  # the contract: any other failure is an internal error, exit 3
        traceback.print_exc()
        return INTERNAL
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _catch_signals() -> dict:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` (only the main thread may set handlers)."""
    try:
        return {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        return {}


def _run(args: argparse.Namespace) -> int:
    from fairaudit.config import ConfigError, load_config
    from fairaudit.runner import FORMATS, run_config

    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"  # no progress bars either (tqdm reads TQDM_* overrides)
        warnings.simplefilter("ignore")  # nor warnings, the config's own too: the exit code is the verdict
    config = load_config(args.config)
    if args.format is None:
        formats = tuple(config.spec.get("format", FORMATS))
    else:
        formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"--format {unknown[0]!r} is not one of {', '.join(FORMATS)}.")

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"fairaudit: {message}", file=sys.stderr)

    outcome = run_config(config, out=Path(args.out).resolve(), formats=formats, baseline=args.baseline,
                         trust_model=args.trust_model, progress=progress, mlflow=args.mlflow)
    result = outcome.result
    failing = {"fail"} if args.fail_on == "fail" else {"fail", "warn"}
    code = exit_code(result.verdict, any(f.severity in failing for f in result.findings), args.fail_on)
    if args.json:
        print(json.dumps({
            "name": config.name, "passed": code == PASSED, "verdict": result.verdict, "exit_code": code,
            "counts": result.counts(),
            "reports": {k: str(v) for k, v in outcome.reports.items()}, "folder": str(outcome.folder),
            "baseline": None if outcome.baseline is None else str(outcome.baseline),
            "mlflow_run_id": outcome.mlflow_run,
            "findings": [f.to_dict() for f in result.findings if f.severity in ("fail", "warn")],
        }, default=str))
    elif not args.quiet:
        counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n)
        print(f"{result.verdict.replace('_', ' ').upper()}: {config.name} ({counts})")
        for finding in result.findings:
            if finding.severity in failing:
                print(f"  [{finding.severity}] {finding.code} {finding.message}")
        for kind, path in outcome.reports.items():
            print(f"{kind}: {path}")
        if outcome.mlflow_run:
            print(f"mlflow run: {outcome.mlflow_run}")
    return code


def exit_code(verdict: str, failing: bool, fail_on: str) -> int:
    """The run's exit code: 1 when a finding of the ``--fail-on`` severity or worse is present (with
    ``warn``, an undetermined verdict too), 4 when the verdict is not determined, else 0."""
    if failing or verdict == "failed":
        return FAILED
    if verdict == "not_determined":
        return FAILED if fail_on == "warn" else NOT_DETERMINED
    return PASSED


def _compare(args: argparse.Namespace) -> int:
    from fairaudit.drift import compare, drift_findings
    from fairaudit.runner import read_audit

    old, new = (read_audit(Path(path), key) for path, key in ((args.old, "old"), (args.new, "new")))
    table = compare(old, new, new.metadata.get("confidence", 0.95))
    findings = drift_findings(table, new.policy.max_regression)
    verdicts = {(f.attribute, f.measure): f.severity for f in findings}
    table["verdict"] = [verdicts.get(key, "") for key in table.index]
    print(table.round(4).to_string())
    return FAILED if any(f.severity == "fail" for f in findings) else PASSED


def _validate(args: argparse.Namespace) -> int:
    from fairaudit.config import BUNDLED, ConfigError, load_config
    from fairaudit.model_files import ENTRY_POINT

    config = load_config(args.config)
    if not config.spec["data"].startswith(BUNDLED) and not config.path("data").exists():
        raise ConfigError(f"Config key 'data': file {str(config.path('data'))!r} does not exist.")
    model = config.spec.get("model")
    if model is not None and not config.path("model").exists() and not ENTRY_POINT.match(model):
        raise ConfigError(f"Config key 'model': {model!r} is neither a file nor an entry point "
                          "package.module:attribute.")
    print(f"{args.config}: valid audit config {config.name!r}")
    return PASSED


def _datasets(args: argparse.Namespace) -> int:
    from fairaudit.datasets import DATASETS, data_dir

    for name, info in DATASETS.items():
        folder = data_dir() / name.removesuffix("_sample")
        licence = next((line.split(":", 1)[1].strip() for line in
                        (folder / "SOURCE.txt").read_text(encoding="utf-8").splitlines()
                        if line.startswith("LICENSE")), "see SOURCE.txt")
        print(f"{name}: {info.rows:,} rows, target {info.target}, sensitive {', '.join(info.sensitive)}")
        print(f"    {info.description}")
        print(f"    licence: {licence}")
    return PASSED


def _demo(args: argparse.Namespace) -> int:
    from fairaudit.demo import run_demo

    print("Training a subscription model on bank_marketing and auditing it ...", file=sys.stderr)
    result, path = run_demo(args.out)
    print(result)
    print(f"wrote {path} and, beside it, audit.html and audit.pdf")
    return PASSED


COMMANDS = {"run": _run, "compare": _compare, "validate": _validate, "datasets": _datasets, "demo": _demo}


if __name__ == "__main__":
    sys.exit(main())
