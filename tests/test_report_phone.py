"""The HTML report at phone width (390 CSS px): laid out by WeasyPrint with the stylesheet's phone rules, no
element may end right of the screen except inside a scroll container (wide tables and charts scroll
sideways); each screen is rendered to PNG and must show something."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from fairaudit.report.charts import PHONE_WIDTH
from tests.helpers import quiet_audit
from tests.phone import WIDTH, matches, phone_layout, screen_css
from tests.test_report_labels import JOB, REGION, long_names


@pytest.mark.parametrize(("query", "width", "expected"), [
    ("screen and (max-width: 640px)", 390, True), ("screen and (max-width: 640px)", 800, False),
    ("screen", 390, True), ("print", 390, False), ("(min-width: 40rem)", 390, False),
    ("(min-width: 40rem)", 700, True), ("print, screen and (max-width: 400px)", 390, True),
    ("screen and (orientation: landscape)", 390, False)])
def test_media_queries_are_evaluated_for_the_width(query, width, expected):
    assert matches(query, width) is expected


def test_the_phone_rules_replace_the_print_rules():
    css = "p { color: red } @media print { p { color: blue } } @media screen and (max-width: 640px) { p { margin: 0 } }"
    assert screen_css(css, 390).split() == ["p", "{", "color:", "red", "}", "p", "{", "margin:", "0", "}"]


def test_the_check_finds_what_overflows():
    wide = "x" * 120
    page = ("<html><head><style>body { margin: 0 }</style></head><body>"
            f"<p class='long' style='white-space: nowrap'>{wide}</p>"
            f"<div style='overflow: auto'><p style='white-space: nowrap'>{wide}</p></div></body></html>")
    layout = phone_layout(page)
    assert {(o.tag, o.classes) for o in layout.too_wide} == {("p", "long")}  # the scrolling copy is fine
    assert layout.too_wide[0].right > WIDTH


@pytest.fixture(scope="module")
def layout():
    result = quiet_audit(None, long_names(), sensitive=[JOB, REGION], target="y", y_pred="pred", n_boot=50,
                         name="A screening model with a long name: " + "very " * 12 + "long",
                         model_info={"file_sha256": "f" * 64, "intended_use": "screening " * 15})
    return phone_layout(result.to_html())


def test_the_report_reads_at_390_px(layout):
    assert layout.too_wide == [], layout.too_wide[:5]
    assert PHONE_WIDTH * 96 <= WIDTH - 24  # page 1's chart fits inside the body's margins at its own size
    images = [Image.open(BytesIO(png)).convert("L") for png in layout.pngs()]
    assert len(images) == len(layout.pages) >= 5
    for image in images:
        assert image.size[0] == WIDTH
        assert image.getextrema()[0] < 128  # every screen shows text or a chart: no empty screen
