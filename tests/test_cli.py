"""The installed command line: version and the demo audit (``fairaudit demo``, run once: tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import fairaudit as fa


def fairaudit_command() -> list[str]:
    installed = shutil.which("fairaudit", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, "-m", "fairaudit.cli"]


def test_version():
    out = subprocess.run(fairaudit_command() + ["--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"fairaudit {fa.__version__}"


def test_demo_writes_the_audit(demo_run):
    assert demo_run.exit_code == 0
    assert "wrote" in demo_run.stdout and "age_group" in demo_run.stdout
    result = fa.load(demo_run.folder / "audit.json")
    assert result.metadata["sensitive"] == ["age_group", "marital"]
    assert "age_group & marital" in result.by_group.index.get_level_values("attribute")
    assert result.metadata["n_boot"] == 1000
    payload = json.loads((demo_run.folder / "audit.json").read_text())
    assert payload["measures"]["records"]
