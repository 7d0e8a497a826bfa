"""Privacy by construction: small groups never show their numbers, and cannot be recovered by subtraction."""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from io import BytesIO

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

import fairaudit as fa
from fairaudit.privacy import suppress, suppressed_groups


def by_group(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(counts), names=["attribute", "group"])
    return pd.DataFrame({"count": list(counts.values())}, index=index)


def recoverable(table: pd.DataFrame, hidden: set) -> list:
    """Sums (view total, or a coarser group as the sum of its crossing's groups) with exactly one hidden
    part while the whole is shown: a hand-written check, independent of the implementation."""
    out = []
    views = {}
    for view, group in table.index:
        views.setdefault(view, []).append(group)
    for view, groups in views.items():
        if sum((view, g) in hidden for g in groups) == 1:
            out.append((view, "total"))
        if " & " in view:
            first, second = view.split(" & ")
            for position, parent in ((0, first), (1, second)):
                for value in views[parent]:
                    parts = [g for g in groups if g.split(" & ")[position] == value]
                    if (parent, value) not in hidden and sum((view, g) in hidden for g in parts) == 1:
                        out.append((view, value))
    return out


def test_complementary_suppression_within_a_view():
    table = by_group({("region", "a"): 5, ("region", "b"): 30, ("region", "c"): 40, ("region", "d"): 100})
    assert suppressed_groups(table, 10) == {("region", "a"), ("region", "b")}


def test_two_small_groups_need_no_complement():
    table = by_group({("region", "a"): 5, ("region", "b"): 6, ("region", "c"): 40})
    assert suppressed_groups(table, 10) == {("region", "a"), ("region", "b")}


def test_nothing_suppressed_when_every_group_is_large_enough():
    table = by_group({("region", "a"): 10, ("region", "b"): 30})
    assert suppressed_groups(table, 10) == set()


def test_complementary_suppression_across_a_crossing():
    counts = {
        ("region", "Zeta"): 7, ("region", "Beta"): 40, ("region", "Gamma"): 153,
        ("sex", "f"): 100, ("sex", "m"): 100,
        ("region & sex", "Zeta & f"): 4, ("region & sex", "Zeta & m"): 3,
        ("region & sex", "Beta & f"): 20, ("region & sex", "Beta & m"): 20,
        ("region & sex", "Gamma & f"): 76, ("region & sex", "Gamma & m"): 77,
    }
    table = by_group(counts)
    hidden = suppressed_groups(table, 10)
    # Zeta & f alone hidden would be sex=f (100) minus Beta & f and Gamma & f: so Beta & f goes too
    assert hidden == {("region", "Zeta"), ("region", "Beta"), ("region & sex", "Zeta & f"),
                      ("region & sex", "Zeta & m"), ("region & sex", "Beta & f"), ("region & sex", "Beta & m")}
    assert recoverable(table, hidden) == []
    assert recoverable(table, {k for k, n in counts.items() if n < 10}) != []  # the check can fail


# ---------------------------------------------------------------------------- end to end
def small_group_data() -> pd.DataFrame:
    """200 people; region 'Zeta' has 7, with a selection rate of 3/7 (0.429) no other number shares."""
    rows = []
    zeta_true, zeta_pred = [1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0]
    rows += [("Zeta", t, p) for t, p in zip(zeta_true, zeta_pred, strict=True)]
    rows += [("Beta", int(i < 20), int(i % 4 == 0)) for i in range(40)]
    rows += [("Gamma", int(i < 80), int(i % 10 < 3)) for i in range(153)]
    data = pd.DataFrame(rows, columns=["region", "y", "p"])
    data["sex"] = np.where(np.arange(len(data)) % 2 == 0, "f", "m")
    return data


@pytest.fixture(scope="module")
def result():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        return fa.audit(None, small_group_data(), sensitive=["region", "sex"], target="y", y_pred="p", n_boot=100)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag == "style"

    def handle_endtag(self, tag):
        self.skip -= tag == "style"

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(BytesIO(data)).pages).split())


def test_in_memory_tables_stay_complete(result):
    assert result.by_group.loc[("region", "Zeta"), "count"] == 7
    assert result.by_group.loc[("region", "Zeta"), "selection_rate"] == pytest.approx(3 / 7)
    assert "suppressed" not in result.by_group.columns


def test_suppressed_copy(result):
    shown = suppress(result)
    table = shown.by_group
    assert table.loc[("region", "Zeta"), "suppressed"] and table.loc[("region", "Beta"), "suppressed"]
    assert not table.loc[("region", "Gamma"), "suppressed"]
    numbers = table.drop(columns="suppressed").loc[[("region", "Zeta"), ("region", "Beta")]]
    assert numbers.isna().all().all()
    # Zeta has the highest selection rate: every ratio to it would reveal it
    assert shown.disparities.loc[("region", "selection_rate"), "suppressed"]
    assert np.isnan(shown.disparities.loc[("region", "selection_rate"), "difference"])
    assert shown.measures.loc[("region", "demographic_parity_difference"), "suppressed"]
    assert table.loc["region", "disparate_impact_ratio"].isna().all()
    assert not shown.by_group.loc["sex", "suppressed"].any()
    for finding in shown.findings:
        if finding.attribute == "region" and finding.measure:
            assert finding.value is None and finding.ci_low is None and "withheld" in finding.message
            assert finding.code == next(f.code for f in result.findings if f.measure == finding.measure
                                        and f.attribute == "region")


def test_group_of_seven_never_shows_in_json(result):
    payload = result.to_dict()
    records = {(r["attribute"], r["group"]): r for r in payload["by_group"]["records"]}
    zeta = records[("region", "Zeta")]
    assert zeta["suppressed"] is True and zeta["count"] is None and zeta["share"] is None
    assert all(v is None for k, v in zeta.items() if k not in ("attribute", "group", "suppressed"))
    assert records[("region", "Beta")]["count"] is None  # its complement
    assert records[("region", "Gamma")]["count"] == 153
    text = json.dumps(payload)
    assert "0.42857" not in text


def test_group_of_seven_never_shows_in_html_or_pdf(result):
    html_text = visible_text(result.to_html())
    assert not re.search(r"(?<!to )0\.429", html_text)  # an interval's upper bound may round to it too
    assert re.search(r"Zeta (suppressed|\d)", html_text).group(1) == "suppressed"
    assert not re.search(r"Zeta \d", html_text)
    assert not re.search(r"Beta \d", html_text)
    assert "Gamma 153" in html_text
    text = pdf_text(result.to_pdf())
    assert not re.search(r"(?<!to )0\.429", text) and "suppressed" in text
    assert not re.search(r"Zeta \d", text) and "Gamma 153" in text


def test_the_checks_would_see_the_group(result):
    """Without suppression the same checks find the numbers: the tests above can fail."""
    import dataclasses

    open_result = dataclasses.replace(result, policy=fa.Policy(suppress_below=0))
    assert "0.429" in visible_text(open_result.to_html())
    assert re.search(r"Zeta 7", visible_text(open_result.to_html()))


def test_notebook_view_and_repr_are_suppressed(result):
    assert "0.429" not in result._repr_html_()
    assert "withheld" in result._repr_html_() or "suppressed" in result._repr_html_()
    assert "0.429" not in repr(result)
