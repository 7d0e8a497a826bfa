"""The HTML report: Jinja2 templates with autoescaping, inline CSS and inline SVG charts, no script."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from fairaudit.report import compliance, context

if TYPE_CHECKING:
    from fairaudit.result import AuditResult


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment: autoescape on for every template, undefined names are errors."""
    return Environment(
        loader=PackageLoader("fairaudit.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


@functools.lru_cache(maxsize=1)
def stylesheet() -> Markup:
    """The report's CSS (screen, phone and print): our own file, so inserted as it is."""
    return Markup(resources.files("fairaudit.report").joinpath("style.css").read_text(encoding="utf-8"))


def render_html(result: AuditResult) -> str:
    """The full report of ``result`` as one self-contained HTML document (small groups suppressed)."""
    page = context.build(result.suppressed()) | compliance.sections(result)
    return environment().get_template("report.html.j2").render(css=stylesheet(), **page)


def render_notebook(result: AuditResult) -> str:
    """The compact notebook view: verdict, key findings and the headline measures."""
    shown = result.suppressed()
    return environment().get_template("notebook.html.j2").render(**context.notebook(shown))


def write_html(result: AuditResult, path: str | Path) -> Path:
    """Write the HTML report to ``path`` (folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(result), encoding="utf-8")
    return target
