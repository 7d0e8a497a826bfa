"""Reports of an audit: HTML (the source), PDF (the same HTML in print layout), the notebook view and
the charts. Every form is built from :meth:`AuditResult.suppressed`'s copy of the result."""

from fairaudit.report.charts import CHARTS, ChartUnavailable, show_in_notebooks, with_key
from fairaudit.report.html import render_html, render_notebook, write_html
from fairaudit.report.pdf import render_pdf, write_pdf

__all__ = ["CHARTS", "ChartUnavailable", "render_html", "render_notebook", "render_pdf", "write_html",
           "show_in_notebooks", "with_key", "write_pdf"]
