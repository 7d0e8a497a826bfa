"""The HTML and PDF reports of the demo audit (``fairaudit demo``, run once: tests/conftest.py), read as a reviewer
reads them."""

from __future__ import annotations

import dataclasses
import re
from io import BytesIO

import pandas as pd
import pytest
from matplotlib.figure import Figure
from pypdf import PdfReader

import fairaudit as fa
from fairaudit.recommendations import Recommendation
from fairaudit.report import ChartUnavailable
from tests.test_privacy import pdf_text, visible_text


@pytest.fixture(scope="module")
def html(demo_run):
    return (demo_run.folder / "audit.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pdf(demo_run):
    return (demo_run.folder / "audit.pdf").read_bytes()


def squeeze(text: str) -> str:
    """Text without whitespace: PDF extraction breaks lines wherever the layout did."""
    return re.sub(r"\s+", "", text)


def test_html_shows_the_verdict_findings_and_numbers(demo, html):
    text = visible_text(html)
    assert "FAILED" in text and "The model fails the fairness policy" in text
    for finding in demo.findings:
        assert finding.message in text
    row = demo.by_group.loc[("age_group", ">=65")]
    assert f">=65 {int(row['count'])} {100 * row['share']:.1f}% {row['selection_rate']:.3f}" in text
    assert f"{row['selection_rate_ci_low']:.3f} to {row['selection_rate_ci_high']:.3f}" in text
    for section in ("Verdict and summary", "Scope", "Group metrics", "Recommendations", "Method and limits",
                    "What this audit cannot tell", demo.metadata["fingerprint_sha256"]):
        assert section in text


def test_html_is_self_contained_and_readable_anywhere(html):
    assert "<script" not in html.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"""url\(\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "@import" not in html and "<link" not in html and "<img" not in html
    assert "http://" not in html and "https://" not in html
    assert '<meta name="viewport"' in html and "@media print" in html and "@page" in html
    assert "page-break-inside: avoid" in html and "target-counter" in html and "counter(page)" in html


def test_charts_are_inline_svg_with_text(html):
    assert html.count("<svg") >= 2  # forest plot and intersection heat map
    assert "<text" in html and "<image" not in html
    assert "demographic parity difference" in html and "selection rate by age_group &amp; marital" in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_method_section_reuses_the_definitions(demo, html):
    text = visible_text(html)
    for metric in fa.METRICS.values():
        assert metric.description in text
    assert "Wilson score interval" in text and "percentile bootstrap" in text  # uncertainty docstring
    assert "complementary suppression" in text.lower()


def test_demo_writes_three_reports(demo_run):
    assert sorted(p.name for p in demo_run.folder.iterdir()) == ["audit.html", "audit.json", "audit.pdf"]
    assert fa.load(demo_run.folder / "audit.json").passed == demo_run.result.passed


def test_pdf_shows_what_the_html_shows(demo, pdf):
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) > 1
    text = pdf_text(pdf)
    flat = squeeze(text)
    assert "FAILED" in text
    for finding in demo.findings:
        assert squeeze(finding.message) in flat
    row = demo.by_group.loc[("age_group", ">=65")]
    assert squeeze(f">=65 {int(row['count']):,} {100 * row['share']:.1f}% {row['selection_rate']:.3f}") in flat
    assert f"Page 2 of {len(reader.pages)}" in text
    first = reader.pages[0].extract_text()
    assert "FAILED" in first and "What fails" in first and "Page" not in first  # the summary page
    assert any("Second reviewer" in page.extract_text() for page in reader.pages[1:4])  # the sign-off page
    assert re.search(r"Verdict and summary\s*\.{5,}\s*\d+", text)  # contents with page numbers


def test_pdf_embeds_its_fonts(pdf):
    reader = PdfReader(BytesIO(pdf))
    fonts = {}
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            fonts[str(font["/BaseFont"])] = described["/FontDescriptor"].get_object()
    assert fonts and any("DejaVu" in name for name in fonts)
    for name, descriptor in fonts.items():
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), name


def test_plot_returns_each_chart_of_the_report(demo):
    for kind in ("forest", "heatmap"):
        assert isinstance(demo.plot(kind), Figure)
    with pytest.raises(ValueError, match="'forest', 'heatmap', 'tradeoff'"):
        demo.plot("pie")


# ---------------------------------------------------------------------------- recommendations
def recommendation(mitigation: str, after_dp: float, after_accuracy: float, clears: bool) -> Recommendation:
    effect = pd.DataFrame(
        {"before": [0.605, 0.875, 0.766], "before_ci_low": [0.551, 0.869, 0.752],
         "before_ci_high": [0.658, 0.880, 0.780], "after": [after_dp, after_accuracy, 0.75],
         "after_ci_low": [after_dp - 0.02, after_accuracy - 0.01, 0.73],
         "after_ci_high": [after_dp + 0.02, after_accuracy + 0.01, 0.77]},
        index=pd.Index(["demographic_parity_difference", "accuracy", "roc_auc"], name="measure"))
    return Recommendation(mitigation=mitigation, title=f"Apply {mitigation}", addresses=("FA101",),
                          rationale=f"{mitigation} equalises selection rates.", prerequisites="held-out rows",
                          caveats="may cost accuracy", effect=effect, clears_policy=clears, score=1.5)


@pytest.fixture(scope="module")
def advised(demo):
    recs = [recommendation("threshold_optimizer", 0.083, 0.861, True),
            recommendation("reweighing", 0.312, 0.870, False),
            Recommendation("collect_data", "Collect more data on small groups", ("FA201",),
                           "Intervals are wide for <=21.", "", "slow")]
    return dataclasses.replace(demo, recommendations=recs)


def test_recommendations_are_rendered_with_their_effect(advised):
    html = advised.to_html()
    text = visible_text(html)
    assert "1. Apply threshold_optimizer" in text and "2. Apply reweighing" in text
    assert "3. Collect more data on small groups" in text and "Intervals are wide for <=21." in text
    assert "0.605 (0.551 to 0.658)" in text and "0.083 (0.063 to 0.103)" in text
    assert "Clears the policy when simulated: yes" in text and "not simulated" in text
    assert "Recommendations: each measure after mitigation against accuracy" in html  # the trade-off chart
    # rates, forest, heat map, trade-off (+ gap)
    assert html.count("<svg") == 4 + (advised.explanations is not None)
    assert isinstance(advised.plot("tradeoff"), Figure)


def test_tradeoff_needs_a_measured_effect(demo):
    bare = dataclasses.replace(demo, recommendations=[])
    with pytest.raises(ChartUnavailable, match="no recommendation with a measured effect"):
        bare.plot("tradeoff")
    assert "This audit holds no recommendation." in visible_text(bare.to_html())


def test_recommendations_survive_json(advised, tmp_path):
    path = tmp_path / "audit.json"
    advised.to_json(path)
    loaded = fa.load(path)
    assert [r.title for r in loaded.recommendations] == [r.title for r in advised.recommendations]
    pd.testing.assert_frame_equal(loaded.recommendations[0].effect, advised.recommendations[0].effect)


def test_notebook_view_is_compact(demo):
    view = demo._repr_html_()
    text = visible_text(view)
    assert "FAILED" in text and demo.findings[0].message in text
    assert "demographic parity difference" in text
    assert "<script" not in view and len(view) < 40_000  # the rate chart is inline SVG
