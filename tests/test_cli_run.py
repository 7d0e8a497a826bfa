"""End to end: the installed ``fairaudit`` command on audit configs (exit codes, outputs, drift, models).

Checks of the command's logic alone (config errors, validate, baselines, comparisons, options) call
``fairaudit.cli.main`` in this process (``command``), which the installed command calls: each start of a new
interpreter costs some 3 s of imports. What only a process shows (exit codes through the installed script,
warnings and progress on stderr, model files imported, signals, concurrent runs) is checked on the installed
command (``fairaudit``)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression


def fairaudit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = shutil.which("fairaudit", path=str(Path(sys.executable).parent))
    return subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def command(monkeypatch, capsys):
    """``fairaudit <args>`` as ``fairaudit.cli.main`` runs it in this process, from ``cwd``: its exit code
    and what it printed, as ``fairaudit`` returns them."""
    from fairaudit.cli import main

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(["fairaudit", *args], code, printed.out, printed.err)

    return run


def table(n: int = 3000, bias: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n)
    x = rng.normal(size=n) + bias * (group == "a")
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    return pd.DataFrame({"group": group, "x": x, "y": y, "score": 1 / (1 + np.exp(-x))})


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


CONFIG = """name: churn
data: {data}
target: y
sensitive: [group]
y_score: score
n_boot: 200
"""


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    table(bias=0.0).to_csv(tmp_path / "fair.csv", index=False)
    table(bias=1.5, seed=1).to_parquet(tmp_path / "biased.parquet")
    return tmp_path


def test_passing_audit_exit_0_and_timestamped_outputs(workdir):
    write(workdir, "fair.yaml", CONFIG.format(data="fair.csv"))
    out = fairaudit("run", "fair.yaml", "--out", "reports", "--format", "json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("PASSED: churn")
    folders = [p for p in (workdir / "reports" / "churn").iterdir() if p.name != "latest"]
    assert len(folders) == 1 and folders[0].name.endswith("Z")
    assert (folders[0] / "audit.json").exists() and (workdir / "reports/churn/latest/audit.json").exists()
    assert f"json: {folders[0] / 'audit.json'}" in out.stdout
    assert "auditing 3,000 rows" in out.stderr  # progress goes to stderr


def test_failing_audit_exit_1_json_output(workdir):
    write(workdir, "biased.yaml", CONFIG.format(data="biased.parquet"))
    out = fairaudit("run", "biased.yaml", "--out", "reports", "--format", "json", "--json", cwd=workdir)
    assert out.returncode == 1, out.stderr
    payload = json.loads(out.stdout)
    assert payload["passed"] is False and payload["exit_code"] == 1
    assert any(f["code"] == "FA101" for f in payload["findings"])
    assert Path(payload["reports"]["json"]).exists()


def test_fail_on_warn(workdir):
    data = table(n=3000, bias=0.0, seed=3)
    data.loc[:99, "group"] = None  # FA202 (warn): missing sensitive values, a group large enough to decide
    data.to_csv(workdir / "warn.csv", index=False)
    write(workdir, "warn.yaml", CONFIG.format(data="warn.csv"))
    # nothing fails: 0, or 4 while a required check is undecided; with --fail-on warn any warning is 1
    assert fairaudit("run", "warn.yaml", "--format", "json", "--quiet", cwd=workdir).returncode in (0, 4)
    out = fairaudit("run", "warn.yaml", "--format", "json", "--fail-on", "warn", "--quiet", cwd=workdir)
    assert out.returncode == 1 and out.stdout == ""


@pytest.mark.parametrize("text, message", [
    (CONFIG.format(data="fair.csv") + "thresold: 0.5\n", "Unknown config key 'thresold'"),
    (CONFIG.format(data="fair.csv") + "n_boot: many\n", "Config key 'n_boot' is invalid"),
    (CONFIG.format(data="fair.csv").replace("sensitive: [group]\n", ""), "Config key 'sensitive' is required"),
    (CONFIG.format(data="missing.csv"), "Config key 'data': file"),
    (CONFIG.format(data="fair.csv") + "policy: {thresholds: {disparate_impact_ratio: 1.5}}\n",
     "'thresholds.disparate_impact_ratio' is 1.5, impossible"),
    (CONFIG.format(data="fair.csv").replace("sensitive: [group]", "sensitive: [grp]"), "'grp'"),
])
def test_bad_config_exit_2_names_the_key(workdir, text, message, command):
    write(workdir, "bad.yaml", text)
    out = command("run", "bad.yaml", "--format", "json", cwd=workdir)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr


def _model(workdir: Path) -> LogisticRegression:
    data = pd.read_csv(workdir / "fair.csv")
    return LogisticRegression().fit(data[["x"]], data["y"])


MODEL_CONFIG = """name: scored
data: fair.csv
target: y
sensitive: group
features: [x]
model: {model}
n_boot: 100
"""


def test_pickle_needs_trust(workdir):
    with open(workdir / "model.pkl", "wb") as handle:
        pickle.dump(_model(workdir), handle)
    write(workdir, "pickled.yaml", MODEL_CONFIG.format(model="model.pkl"))
    refused = fairaudit("run", "pickled.yaml", "--format", "json", cwd=workdir)
    assert refused.returncode == 2
    assert "loading it runs any code" in refused.stderr and "--trust-model" in refused.stderr
    assert not (workdir / "reports" / "scored").exists() or not any((workdir / "reports" / "scored").iterdir())
    trusted = fairaudit("run", "pickled.yaml", "--format", "json", "--trust-model", cwd=workdir)
    assert trusted.returncode == 0, trusted.stderr


def test_skops_and_entry_point_models(workdir):
    skops.io.dump(_model(workdir), workdir / "model.skops")
    write(workdir, "skops.yaml", MODEL_CONFIG.format(model="model.skops"))
    assert fairaudit("run", "skops.yaml", "--format", "json", cwd=workdir).returncode == 0
    write(workdir, "scoring.py", "import numpy as np\n\ndef score(X):\n    return 1 / (1 + np.exp(-X['x']))\n")
    write(workdir, "entry.yaml", MODEL_CONFIG.format(model="scoring:score") + "trusted: true\n")
    assert fairaudit("run", "entry.yaml", "--format", "json", cwd=workdir).returncode == 0
    write(workdir, "broken.py", "def score(X):\n    raise RuntimeError('boom')\n")
    write(workdir, "broken.yaml", MODEL_CONFIG.format(model="broken:score") + "trusted: true\n")
    broken = fairaudit("run", "broken.yaml", "--format", "json", cwd=workdir)
    assert broken.returncode == 3 and "RuntimeError: boom" in broken.stderr


def test_baseline_regression_is_fa501_and_nothing_is_overwritten(workdir, command):
    write(workdir, "drift.yaml", CONFIG.format(data="fair.csv"))
    first = command("run", "drift.yaml", "--format", "json", cwd=workdir)
    assert first.returncode == 0, first.stderr
    table(bias=1.5, seed=1).to_csv(workdir / "fair.csv", index=False)  # the production data drifts
    second = command("run", "drift.yaml", "--format", "json", "--baseline", "latest", "--json", cwd=workdir)
    assert second.returncode == 1
    payload = json.loads(second.stdout)
    assert any(f["code"] == "FA501" and f["severity"] == "fail" for f in payload["findings"])
    folders = sorted(p for p in (workdir / "reports" / "churn").iterdir() if p.name != "latest")
    assert len(folders) == 2
    old, new = (json.loads((f / "audit.json").read_text()) for f in folders)
    assert old["passed"] is True and new["passed"] is False
    assert Path(payload["reports"]["comparison"]).exists()
    compared = command("compare", str(folders[0] / "audit.json"), str(folders[1] / "audit.json"), cwd=workdir)
    assert compared.returncode == 1
    assert "demographic_parity_difference" in compared.stdout and "fail" in compared.stdout


def test_validate_and_datasets(workdir, command):
    write(workdir, "fair.yaml", CONFIG.format(data="fair.csv"))
    ok = command("validate", "fair.yaml", cwd=workdir)
    assert ok.returncode == 0 and "valid audit config 'churn'" in ok.stdout
    write(workdir, "bad.yaml", CONFIG.format(data="fair.csv") + "explain: yes please\n")
    assert command("validate", "bad.yaml", cwd=workdir).returncode == 2
    listing = command("datasets", cwd=workdir)
    assert listing.returncode == 0 and "telco_churn" in listing.stdout and "CC BY 4.0" in listing.stdout


def test_example_config_for_the_bank_demo(tmp_path, command):
    example = Path(__file__).resolve().parents[1] / "examples" / "bank_marketing.yaml"
    assert command("validate", str(example), cwd=tmp_path).returncode == 0
    out = command("run", str(example), "--out", str(tmp_path), "--format", "json", cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # the demo model fails the four-fifths rule by age group
    assert "FA103" in out.stdout and "age_group" in out.stdout


def test_the_report_shows_the_comparison(workdir, command):
    write(workdir, "drift.yaml", CONFIG.format(data="fair.csv"))
    assert command("run", "drift.yaml", "--format", "json", cwd=workdir).returncode == 0
    table(bias=1.5, seed=1).to_csv(workdir / "fair.csv", index=False)
    out = command("run", "drift.yaml", "--format", "html,json", "--baseline", "latest", "--json", cwd=workdir)
    payload = json.loads(out.stdout)
    html = Path(payload["reports"]["html"]).read_text()
    assert "Comparison with the baseline audit" in html and "demographic parity difference" in html
    saved = json.loads(Path(payload["reports"]["json"]).read_text())
    assert saved["comparison"]["records"] and saved["metadata"]["baseline"]["fingerprint_sha256"]
    from fairaudit import load

    loaded = load(payload["reports"]["json"])
    assert ("group", "demographic_parity_difference") in loaded.comparison.index


def test_parquet_glob_is_audited_by_duckdb(workdir):
    parts = workdir / "parts"
    parts.mkdir()
    data = table(bias=1.5, seed=1)
    for i, start in enumerate(range(0, len(data), 1000)):
        data.iloc[start:start + 1000].to_parquet(parts / f"part-{i}.parquet")
    write(workdir, "glob.yaml", CONFIG.format(data="parts/*.parquet"))
    out = fairaudit("run", "glob.yaml", "--format", "json", "--json", cwd=workdir)
    assert out.returncode == 1, out.stderr
    saved = json.loads(Path(json.loads(out.stdout)["reports"]["json"]).read_text())
    assert saved["metadata"]["engine"] == "files" and saved["metadata"]["rows"] == len(data)
    assert "with DuckDB" in out.stderr


def test_config_with_top_k_and_segments(workdir, command):
    write(workdir, "topk.yaml", CONFIG.format(data="fair.csv") + "top_k: 0.1\n")
    out = command("run", "topk.yaml", "--format", "json", "--json", cwd=workdir)
    saved = json.loads(Path(json.loads(out.stdout)["reports"]["json"]).read_text())
    assert saved["metadata"]["targeted"] == 300
    data = pd.read_csv(workdir / "fair.csv")
    data["tier"] = np.where(data["score"] > 0.6, "premium", "standard")
    data.to_csv(workdir / "tiers.csv", index=False)
    write(workdir, "tiers.yaml", "name: tiers\ndata: tiers.csv\nsensitive: group\ny_pred: tier\ntask: segmentation\n"
          "favorable: [premium]\nn_boot: 100\n")
    out = command("run", "tiers.yaml", "--format", "json", "--json", cwd=workdir)
    assert out.returncode in (0, 1, 4), out.stderr
    assert json.loads(out.stdout)["exit_code"] == {"passed": 0, "failed": 1, "not_determined": 4}[
        json.loads(out.stdout)["verdict"]]
    saved = json.loads(Path(json.loads(out.stdout)["reports"]["json"]).read_text())
    assert saved["metadata"]["task"] == "segmentation" and saved["segments"]["records"]


def test_quiet_run_prints_nothing_even_while_explaining(workdir):
    write(workdir, "scoring.py", "import numpy as np\n\ndef score(X):\n    return 1 / (1 + np.exp(-X['x']))\n")
    write(workdir, "explained.yaml", MODEL_CONFIG.format(model="scoring:score") + "explain: true\ntrusted: true\n")
    out = fairaudit("run", "explained.yaml", "--format", "json", "--quiet", cwd=workdir)
    assert out.returncode in (0, 1) and out.stdout == "" and out.stderr == "", out.stderr
    loud = fairaudit("run", "explained.yaml", "--format", "json", "--json", cwd=workdir)
    saved = json.loads(Path(json.loads(loud.stdout)["reports"]["json"]).read_text())
    assert saved["explanations"]["explainer"] == "permutation"


# ---------------------------------------------------------------------------- engines, trust, atomic runs, signals
def test_engine_results_render_html_and_pdf(workdir):
    """Engine results (a Parquet path, a polars frame) render every report form."""
    import polars as pl
    import pypdfium2

    import fairaudit as fa

    for data in (str(workdir / "biased.parquet"), pl.read_parquet(workdir / "biased.parquet")):
        result = fa.audit(None, data, sensitive="group", target="y", y_score="score", n_boot=50)
        assert result.metadata["features"] == ["x"]
        html = result.to_html()
        assert "Scope" in html and "Model inputs: x</p>" in html
        result.to_pdf(workdir / "engine.pdf")
        text = pypdfium2.PdfDocument(workdir / "engine.pdf")[0].get_textpage().get_text_range()
        assert "Fairness audit" in text


def test_engine_duckdb_writes_all_three_reports(workdir):
    write(workdir, "duck.yaml", CONFIG.format(data="biased.parquet") + "engine: duckdb\n")
    out = fairaudit("run", "duck.yaml", "--json", cwd=workdir)
    assert out.returncode == 1, out.stderr
    payload = json.loads(out.stdout)
    assert set(payload["reports"]) == {"json", "html", "pdf"}
    assert all(Path(path).stat().st_size > 1000 for path in payload["reports"].values())
    assert json.loads(Path(payload["reports"]["json"]).read_text())["metadata"]["engine"] == "files"


SCORING = "import numpy as np\n\ndef score(X):\n    return 1 / (1 + np.exp(-X['x']))\n"
SHADOW = "import pathlib\npathlib.Path(__file__).with_name('SHADOW_RAN').write_text('x')\nraise SystemExit(99)\n"


def test_entry_points_beside_the_config_need_trust(workdir):
    """A module beside the config is imported only when trusted, and never shadows an installed package."""
    configs = workdir / "configs"
    configs.mkdir()
    write(configs, "scoring.py", SCORING)
    write(configs, "weasyprint.py", SHADOW)  # would run during PDF rendering if the folder stayed importable
    write(configs, "entry.yaml", MODEL_CONFIG.format(model="scoring:score").replace("fair.csv", "../fair.csv"))
    refused = fairaudit("run", "configs/entry.yaml", "--format", "json", cwd=workdir)
    assert refused.returncode == 2 and "Config key 'model'" in refused.stderr and "trusted: true" in refused.stderr
    refused_cwd = fairaudit("run", "entry.yaml", "--format", "json", cwd=configs)
    assert refused_cwd.returncode == 2, refused_cwd.stderr
    trusted = fairaudit("run", "configs/entry.yaml", "--trust-model", cwd=workdir)
    assert trusted.returncode == 0, trusted.stderr
    assert "pdf: " in trusted.stdout
    assert not (configs / "SHADOW_RAN").exists()
    installed = workdir / "site"  # an installed package: on the import path, not beside the config
    installed.mkdir()
    write(installed, "fa_scoring_pkg.py", SCORING)
    write(configs, "installed.yaml", MODEL_CONFIG.format(model="fa_scoring_pkg:score").replace("fair.csv",
                                                                                                "../fair.csv"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])}
    command = shutil.which("fairaudit", path=str(Path(sys.executable).parent))
    ok = subprocess.run([command, "run", "configs/installed.yaml", "--format", "json"], cwd=workdir, env=env,
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr


def _runs(home: Path) -> list[Path]:
    return sorted(p for p in home.iterdir() if p.name != "latest" and not p.name.startswith("."))


def test_concurrent_runs_into_one_folder_never_collide(workdir):
    """Four processes, three runs each, into one output folder: every run exits 0 with its own folder."""
    write(workdir, "fair.yaml", CONFIG.format(data="fair.csv").replace("n_boot: 200", "n_boot: 0"))
    loop = ("import sys\nfrom fairaudit.cli import main\n"
            "codes = [main(['run', 'fair.yaml', '--format', 'json', '--quiet']) for _ in range(3)]\n"
            "print(codes)\nsys.exit(max(codes))\n")
    workers = [subprocess.Popen([sys.executable, "-c", loop], cwd=workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, outputs
    home = workdir / "reports" / "churn"
    runs = _runs(home)
    assert len(runs) == 12 and all((r / "audit.json").exists() for r in runs)
    assert not [p for p in home.iterdir() if p.name.startswith(".")]
    assert (home / "latest").is_symlink() and (home / "latest" / "audit.json").exists()
    assert (home / "latest").resolve() in runs


def _started(process: subprocess.Popen, home: Path) -> None:
    for _ in range(600):
        if home.exists() and any(p.name.startswith(".tmp-") for p in home.iterdir()):
            return
        if process.poll() is not None:
            raise AssertionError(process.communicate())
        time.sleep(0.1)
    raise AssertionError("the run never started")


SLOW = "import time\nimport numpy as np\n\ndef score(X):\n    time.sleep(60)\n    return 1 / (1 + np.exp(-X['x']))\n"


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_a_stopped_run_leaves_no_visible_half_written_folder(workdir, signum, code):
    write(workdir, "slow.py", SLOW)
    write(workdir, "slow.yaml", MODEL_CONFIG.format(model="slow:score") + "trusted: true\n")
    command = shutil.which("fairaudit", path=str(Path(sys.executable).parent))
    process = subprocess.Popen([command, "run", "slow.yaml"], cwd=workdir, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    home = workdir / "reports" / "scored"
    _started(process, home)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert _runs(home) == []
    if signum != signal.SIGKILL:
        assert list(home.iterdir()) == [], "the temporary folder and its scratch files are removed"
        return
    assert [p.name.startswith(".tmp-") for p in home.iterdir()] == [True]  # hidden, and cleaned by the next run
    write(workdir, "slow.py", SCORING)
    assert fairaudit("run", "slow.yaml", "--format", "json", cwd=workdir).returncode == 0
    assert [p.name for p in home.iterdir() if p.name.startswith(".")] == []


def test_scratch_files_live_in_the_run_folder_and_go_with_it(workdir):
    """DuckDB spill folders (tempfile.mkdtemp) are created inside the run's hidden folder, removed after."""
    write(workdir, "spy.py", "import tempfile, pathlib\nimport numpy as np\n\ndef score(X):\n"
          "    pathlib.Path('scratch.txt').write_text(tempfile.mkdtemp(prefix='fairaudit-duckdb-'))\n"
          "    return 1 / (1 + np.exp(-X['x']))\n")
    write(workdir, "spy.yaml", MODEL_CONFIG.format(model="spy:score") + "trusted: true\n")
    assert fairaudit("run", "spy.yaml", "--format", "json", cwd=workdir).returncode == 0
    scratch = Path((workdir / "scratch.txt").read_text())
    assert scratch.parent.parent.name.startswith(".tmp-") and scratch.parent.parent.parent.name == "scored"
    assert not scratch.exists() and not scratch.parent.parent.exists()


def test_quiet_silences_warnings(workdir):
    data = table()
    data.loc[:5, "group"] = None  # MissingSensitiveValueWarning
    data.to_csv(workdir / "warn.csv", index=False)
    write(workdir, "warn.yaml", CONFIG.format(data="warn.csv"))
    loud = fairaudit("run", "warn.yaml", "--format", "json", cwd=workdir)
    assert "missing value" in loud.stderr
    quiet = fairaudit("run", "warn.yaml", "--format", "json", "--quiet", cwd=workdir)
    assert quiet.stdout == "" and quiet.stderr == "", quiet.stderr


def test_name_outside_the_output_folder_is_refused_and_latest_untouched(workdir, command):
    (workdir / "latest").mkdir()
    write(workdir / "latest", "keep.txt", "mine")
    write(workdir, "dots.yaml", CONFIG.format(data="fair.csv").replace("name: churn", 'name: ".."'))
    for verb in ("validate", "run"):
        out = command(verb, "dots.yaml", cwd=workdir)
        assert out.returncode == 2 and "Config key 'name' is '..'" in out.stderr
    assert (workdir / "latest" / "keep.txt").read_text() == "mine"
