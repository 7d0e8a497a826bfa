"""User strings (column names, group labels) reach every report only as escaped text."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from tests.test_privacy import pdf_text, visible_text

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def hostile():
    """Two sensitive columns named with the payloads, each with the other payload as a group label."""
    rng = np.random.default_rng(0)
    n = 400
    data = pd.DataFrame({
        SCRIPT: np.where(np.arange(n) % 2 == 0, IMG, "plain"),
        IMG: np.where(np.arange(n) % 3 == 0, SCRIPT, "other"),
        "y": rng.integers(0, 2, n),
        "p": rng.integers(0, 2, n),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(None, data, sensitive=[SCRIPT, IMG], target="y", y_pred="p", n_boot=50)


def assert_inert(markup: str) -> None:
    assert not re.search(r"<\s*script", markup, re.I)
    assert not re.search(r"<\s*img", markup, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup


def test_html_report_escapes_payloads(hostile):
    html = hostile.to_html()
    assert_inert(html)
    text = visible_text(html)
    assert SCRIPT in text and IMG in text  # shown to the reader as the literal strings


def test_notebook_view_escapes_payloads(hostile):
    assert_inert(hostile._repr_html_())


def test_chart_text_is_escaped(hostile):
    html = hostile.to_html()
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert svgs and all(not re.search(r"<\s*(script|img)", svg, re.I) for svg in svgs)
    assert any("&lt;script&gt;" in svg for svg in svgs)


def test_pdf_shows_payloads_as_text(hostile):
    text = pdf_text(hostile.to_pdf())
    assert "alert(1)" in text and "onerror" in text


def test_json_keeps_payloads_as_data(hostile):
    loaded = fa.AuditResult.from_dict(hostile.to_dict())
    assert SCRIPT in loaded.by_group.index.get_level_values("attribute")
    assert IMG in loaded.by_group.index.get_level_values("group")
