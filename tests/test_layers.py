"""The house flows one way: import-linter's contracts (pyproject.toml) hold, and they can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _lint(source: Path, config: Path) -> subprocess.CompletedProcess:
    """lint-imports on ``source`` (a folder holding the fairaudit package) in a fresh interpreter."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=source.parent,
                          env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"})


def test_the_layer_contracts_hold():
    done = _lint(ROOT / "src", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_no_module_imports_itself_back_through_others():
    """No cycle at all between modules, package __init__ files included (the contracts check layers and
    siblings; this checks every module)."""
    graph = grimp.build_graph("fairaudit", cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            circle = []
            while not circle or circle[-1] != module:
                circle.append(stack.pop())
            if len(circle) > 1:
                circles.append(sorted(circle))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert circles == []


def test_an_upward_import_inside_a_function_breaks_the_contract(tmp_path):
    """The contract is not vacuous: statistics importing the report, even lazily, is refused."""
    source = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "fairaudit", source / "fairaudit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    stats = source / "fairaudit" / "stats.py"
    stats.write_text(stats.read_text() + "\n\ndef _render(result):\n    from fairaudit.report import render_html\n\n"
                     "    return render_html(result)\n")
    done = _lint(source, ROOT / "pyproject.toml")
    assert done.returncode == 1
    assert "fairaudit.stats -> fairaudit.report" in done.stdout
