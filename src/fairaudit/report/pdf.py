"""The PDF report: the HTML report laid out by WeasyPrint with the print stylesheet."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from fairaudit.report.html import render_html

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

# What WeasyPrint says about rules meant for screens (media queries) and about the presentation
# attributes of inline SVG (fill, stroke, ...), which its SVG renderer reads but its CSS parser does not.
_EXPECTED = re.compile(r"unknown property|media type")


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _EXPECTED.search(record.getMessage())


@contextlib.contextmanager
def _quiet_expected_warnings() -> Iterator[None]:
    logger, drop = logging.getLogger("weasyprint"), _DropExpected()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


PDF_VARIANT = "pdf/ua-1"
"""Tagged PDF for assistive technology (WeasyPrint's PDF/UA variant: structure tags, language, title)."""


def render_pdf(result: AuditResult) -> bytes:
    """The report as tagged PDF bytes (PDF/UA-1): title page, contents with page numbers, numbered pages,
    fonts embedded; its metadata carries the title, author (the model's owner), subject and creation date."""
    from weasyprint import HTML  # imported here: it loads Pango, which only the PDF needs

    with _quiet_expected_warnings():
        return HTML(string=render_html(result)).write_pdf(pdf_variant=PDF_VARIANT, pdf_tags=True)


def write_pdf(result: AuditResult, path: str | Path) -> Path:
    """Write the PDF report to ``path`` (folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(render_pdf(result))
    return target
