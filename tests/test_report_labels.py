"""Long names on charts: shortened to a code and their start, with a key mapping each code back, so that no
label is cut or lies on another; checked on the drawn figures' text boxes with 60+ character and unicode
names."""

from __future__ import annotations

import itertools
import re

import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from fairaudit.report import charts
from fairaudit.report.charts import SHORT, Names, with_key
from tests.helpers import quiet_audit
from tests.test_privacy import visible_text

JOB = "occupation_reported_by_the_applicant_on_the_form"  # 48 characters
JOBS = ["Self-employed, incorporated business owner with ten or more employees",  # 69
        "Σύμβουλος επιχειρήσεων — conseillère « indépendante » für Öffentlichkeit",  # 72, Greek and accents
        "Self-employed, incorporated business owner without employees <R&D>",  # same start as the first
        "nurse"]
REGION = "région"
REGIONS = ["Île-de-France et départements d'outre-mer (Guadeloupe, Martinique, Réunion)", "Nord"]


def long_names(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    job = rng.choice(JOBS, n)
    region = rng.choice(REGIONS, n)
    pred = (rng.random(n) < np.where(job == JOBS[0], 0.5, 0.25)).astype(int)
    return pd.DataFrame({JOB: job, REGION: region, "y": np.where(rng.random(n) < 0.8, pred, 1 - pred),
                         "pred": pred})


@pytest.fixture(scope="module")
def result():
    return quiet_audit(None, long_names(), sensitive=[JOB, REGION], target="y", y_pred="pred", n_boot=50)


def _width(text: str) -> int:
    return charts._width(text)


def test_long_names_get_codes_that_the_key_maps_back(result):
    names = Names(result)
    shown = {name: names.short(name) for name in JOBS + REGIONS + ["nurse", "Nord"]}
    assert shown["nurse"] == "nurse" and shown["Nord"] == "Nord"  # short names stay as they are
    long = [name for name in JOBS + REGIONS if _width(name) > SHORT]
    assert len({shown[name] for name in long}) == len(long)  # two names with the same start stay apart
    for name in long:
        assert _width(shown[name]) <= SHORT and shown[name].endswith("…")
        assert re.fullmatch(r"G\d+ .+…", shown[name])
    assert names.short(JOB, "attribute").startswith("A1 ")
    key = dict(names.keyed(charts._figure(1, 1)).fairaudit_key)
    assert {key[shown[name].split()[0]] for name in long} == set(long)
    assert Names(result).short(JOBS[1]) == shown[JOBS[1]]  # the same code in every chart of one result
    assert charts._start("日本語のラベル", 5) == "日本"  # wide characters count twice


def _ticks(axes):
    """The tick labels matplotlib draws (those of ticks inside the view limits, on shown axes)."""
    return [tick.label1 for axis in (axes.xaxis, axes.yaxis) for tick in axis._update_ticks()
            if tick.label1.get_visible() and tick.label1.get_text().strip()]


def _boxes(figure):
    """Every text drawn, with its extent in pixels."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    every_tick = {id(t) for axes in figure.axes for t in axes.get_xticklabels() + axes.get_yticklabels()}
    drawn = {id(t) for axes in figure.axes if axes.get_visible() for t in _ticks(axes)}
    for text in figure.findobj(matplotlib.text.Text):
        if not (text.get_visible() and text.get_text().strip()):
            continue
        hidden_axes = text.axes is not None and not text.axes.get_visible()
        if hidden_axes or (id(text) in every_tick and id(text) not in drawn):
            continue
        yield text, text.get_window_extent(renderer)


def _labels(figure):
    """Tick labels, axis labels and titles: the text that must never lie on other text."""
    out = []
    for axes in figure.axes:
        if not axes.get_visible():
            continue
        out += _ticks(axes)
        out += [t for t in (axes.title, axes._left_title, axes.xaxis.label, axes.yaxis.label) if t.get_text().strip()]
    return out


def _check(figure, kind):
    box = figure.bbox
    for text, extent in _boxes(figure):
        assert box.x0 - 0.5 <= extent.x0 and extent.x1 <= box.x1 + 0.5, (kind, text.get_text())
        assert box.y0 - 0.5 <= extent.y0 and extent.y1 <= box.y1 + 0.5, (kind, text.get_text())
        for line in text.get_text().split("\n"):
            assert _width(line) <= 70, (kind, line)  # nothing long is printed in one piece
    renderer = figure.canvas.get_renderer()
    extents = [(t.get_text(), t.get_window_extent(renderer)) for t in _labels(figure)]
    for (a, ea), (b, eb) in itertools.combinations(extents, 2):
        overlap_x = min(ea.x1, eb.x1) - max(ea.x0, eb.x0)
        overlap_y = min(ea.y1, eb.y1) - max(ea.y0, eb.y0)
        assert overlap_x <= 0.5 or overlap_y <= 0.5, (kind, a, b)


@pytest.mark.parametrize("kind", ["rates", "forest", "heatmap"])
def test_no_chart_label_is_cut_or_overlaps(result, kind):
    figure = charts.CHARTS[kind](result)
    _check(figure, kind)
    texts = " ".join(t.get_text() for t, _ in _boxes(figure))
    for name in JOBS[:3] + REGIONS[:1]:
        assert name not in texts  # shortened ...
    assert {code for code, _ in figure.fairaudit_key} <= set(re.findall(r"\b[AG]\d+\b", texts))
    keyed = with_key(figure)  # ... and, on its own (result.plot), with its key beneath
    _check(keyed, kind)
    drawn = " ".join(t.get_text() for t, _ in _boxes(keyed)).replace("\n    ", " ")
    for code, name in figure.fairaudit_key:
        assert f"{code} = " in drawn and name.replace("$", r"\$")[:30] in drawn


def test_the_check_finds_a_cut_label(result):
    """Without shortening, the same check fails: a 69-character tick label runs out of a narrow figure."""
    figure = charts._figure(3.0, 1.5)
    axes = figure.subplots()
    axes.set_yticks([0, 1], [JOBS[0], JOBS[1]])
    with pytest.raises(AssertionError):
        _check(figure, "raw")


def test_the_report_prints_each_chart_key_as_a_table(result):
    html = result.to_html()
    text = visible_text(html)
    assert "Shortened names on the chart" in text
    for name in JOBS[:3] + REGIONS[:1]:
        assert name.replace("<R&D>", "<R&D>") in text
    assert "&lt;R&amp;D&gt;" in html and "<R&D>" not in html  # escaped
    plotted = result.plot("rates")
    assert plotted.fairaudit_key and any("Key:" in t.get_text() for t in plotted.texts + [plotted._supxlabel])
