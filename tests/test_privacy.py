"""Privacy by construction: small groups never show their numbers, and cannot be recovered by subtraction."""

from __future__ import annotations

import dataclasses
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
from fairaudit.privacy import Layout, exposed_by_rates, suppressed_groups


def by_group(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(counts), names=["attribute", "group"])
    return pd.DataFrame({"count": list(counts.values())}, index=index)


def layout(table: pd.DataFrame, crossings: dict[str, tuple[str, str]]) -> Layout:
    """Views as given: each crossing names its two attributes; its groups are (first, second) value pairs
    written 'x | y' (so that nothing is read back from ' & ')."""
    attributes = {view: crossings.get(view, (view,)) for view, _ in table.index}
    values = {(view, g): tuple(g.split(" | ")) if view in crossings else (g,) for view, g in table.index}
    return Layout(attributes, values)


def solvable(table: pd.DataFrame, lay: Layout, hidden: set) -> list:
    """Hidden cells whose count the shown counts and the total determine: a hand-written rank test over all
    cells (each view sums to the total; each crossing's cells sum to each of its attributes' cells)."""
    keys = list(table.index)
    position = {k: i for i, k in enumerate(keys)}
    total = table["count"].groupby(level=0).sum().iloc[0]
    rows, rhs = [], []
    for view in dict.fromkeys(v for v, _ in keys):
        row = np.zeros(len(keys))
        row[[position[k] for k in keys if k[0] == view]] = 1
        rows.append(row), rhs.append(total)
        for i, attribute in enumerate(lay.attributes[view] if len(lay.attributes[view]) == 2 else ()):
            for key in [k for k in keys if k[0] == attribute]:
                row = np.zeros(len(keys))
                row[[position[k] for k in keys if k[0] == view and lay.values[k][i] == key[1]]] = 1
                row[position[key]] = -1
                rows.append(row), rhs.append(0)
    for key in keys:
        if key not in hidden:
            row = np.zeros(len(keys))
            row[position[key]] = 1
            rows.append(row), rhs.append(table.loc[key, "count"])
    system = np.array(rows)
    rank = np.linalg.matrix_rank(system)
    out = []
    for key in sorted(hidden):
        unit = np.zeros(len(keys))
        unit[position[key]] = 1
        if np.linalg.matrix_rank(np.vstack([system, unit])) == rank:
            out.append(key)
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
        ("rs", "Zeta | f"): 4, ("rs", "Zeta | m"): 3, ("rs", "Beta | f"): 20, ("rs", "Beta | m"): 20,
        ("rs", "Gamma | f"): 76, ("rs", "Gamma | m"): 77,
    }
    table = by_group(counts)
    lay = layout(table, {"rs": ("region", "sex")})
    hidden = suppressed_groups(table, 10, lay)
    # Zeta & f alone hidden would be sex=f (100) minus Beta & f and Gamma & f: so Beta & f goes too
    assert hidden == {("region", "Zeta"), ("region", "Beta"), ("rs", "Zeta | f"), ("rs", "Zeta | m"),
                      ("rs", "Beta | f"), ("rs", "Beta | m")}
    assert solvable(table, lay, hidden) == []
    assert solvable(table, lay, {k for k, n in counts.items() if n < 10}) != []  # the check can fail


def test_a_cell_no_single_sum_isolates_is_still_protected():
    """Every sum has 0 or 2+ hidden parts, yet a cell is solvable (as A & C = 34 - (17 + 23 - 15) = 9 in the
    issue): two hidden 2 x 2 cycles joined by one hidden cell, A & G, which the row and column sums pin
    down. The old rule (no sum with exactly one hidden part) accepted such patterns; the rank test does not."""
    rows, columns = "ABEF", "CDGH"
    counts = {("x", r): 48 for r in rows} | {("y", c): 48 for c in columns}
    counts |= {("xy", f"{r} | {c}"): 12 for r in rows for c in columns}
    counts[("xy", "A | G")] = 3
    table = by_group(counts)
    lay = layout(table, {"xy": ("x", "y")})
    pattern = {("xy", f"{r} | {c}") for r, c in ["AC", "AD", "BC", "BD", "EG", "EH", "FG", "FH", "AG"]}
    for line in [*rows, *columns]:  # the old rule's check passes ...
        assert sum(line in lay.values[k] for k in pattern) != 1
    assert solvable(table, lay, pattern) == [("xy", "A | G")]  # ... yet A & G is solvable
    hidden = suppressed_groups(table, 10, lay)
    assert ("xy", "A | G") in hidden and solvable(table, lay, hidden) == []


def test_one_rate_of_a_complement_is_safe_two_are_not():
    """Two complements whose counts and selected counts sum to published numbers: publishing both selection
    rates solves n1 + n2 = N, r1 n1 + r2 n2 = S; one of them leaves a free direction."""
    table = by_group({("g", "a"): 5, ("g", "b"): 30, ("g", "c"): 100})
    lay = layout(table, {})
    sums = lay.sums(table.index)
    hidden = suppressed_groups(table, 10, lay)
    assert hidden == {("g", "a"), ("g", "b")}
    assert exposed_by_rates(sums, hidden, {(("g", "b"), "selection_rate"): 0.4}) == set()
    assert exposed_by_rates(sums, hidden, {(("g", "b"), "selection_rate"): 0.4,
                                           (("g", "a"), "selection_rate"): 0.8}) == hidden
    assert exposed_by_rates(sums, hidden, {(("g", "b"), "selection_rate"): 0.0}) == hidden  # selected: 0, S
    assert exposed_by_rates(sums, hidden, {(("g", "b"), "roc_auc"): 0.7}) == {("g", "b")}  # not a ratio


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
    shown = result.suppressed()
    table = shown.by_group
    assert table.loc[("region", "Zeta"), "suppressed"] and table.loc[("region", "Beta"), "suppressed"]
    assert not table.loc[("region", "Gamma"), "suppressed"]
    numbers = table.drop(columns="suppressed").loc[[("region", "Zeta"), ("region", "Beta")]]
    assert numbers.isna().all().all()
    # Zeta (7 people, the highest selection rate) is left out of every comparison; Beta, hidden to protect it,
    # is compared only where its rates expose nothing about Zeta (privacy.exposed_by_rates)
    deciders = shown.disparities.loc["region", ["min_group", "max_group"]].stack().dropna()
    assert set(deciders) <= {"Beta", "Gamma"}
    assert np.isnan(table.loc[("region", "Zeta"), "disparate_impact_ratio"])
    assert not shown.by_group.loc["sex", "suppressed"].any()
    withheld = {key for key, hidden in shown.measures["suppressed"].items() if hidden}
    for finding in shown.findings:
        if (finding.attribute, finding.measure) in withheld:
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

    open_text = visible_text(dataclasses.replace(result, policy=fa.Policy(suppress_below=0)).to_html())
    assert "0.429" in open_text
    assert re.search(r"Zeta 7", open_text)


def test_notebook_view_and_repr_are_suppressed(result):
    assert "0.429" not in result._repr_html_()
    assert "withheld" in result._repr_html_() or "suppressed" in result._repr_html_()
    assert "0.429" not in repr(result)


# ---------------------------------------------------------------------------- comparison, scores
def test_the_baseline_comparison_withholds_what_the_report_withholds(result, tmp_path):
    """The comparison used to show, in HTML/PDF and comparison.csv, measures the JSON withheld."""
    from fairaudit.config import AuditConfig
    from fairaudit.drift import compare
    from fairaudit.runner import run_config

    withheld = next(key for key, hidden in result.suppressed().measures["suppressed"].items() if hidden)
    value = result.measures.loc[withheld, "value"]
    shown = dataclasses.replace(result, comparison=compare(result, result)).suppressed()
    assert shown.comparison.loc[withheld, "suppressed"]
    assert shown.comparison.loc[withheld].drop("suppressed").isna().all()
    assert not shown.comparison.loc[("sex", "demographic_parity_difference"), "suppressed"]
    html = visible_text(dataclasses.replace(result, comparison=compare(result, result)).to_html())
    start = html.index("Comparison with the baseline audit", html.index("Comparison with the baseline") + 40)
    section = html[start:html.index("Recommendations", start)]
    assert f"{withheld[0]} {withheld[1].replace('_', ' ')} withheld" in section
    assert not re.search(rf"(?<![\d.-]){value:.3f}", section) and "sex demographic parity difference 0." in section
    small_group_data().to_csv(tmp_path / "data.csv", index=False)
    config = AuditConfig({"name": "small", "data": "data.csv", "sensitive": ["region", "sex"], "target": "y",
                          "y_pred": "p", "n_boot": 20}, tmp_path)
    run_config(config, out=tmp_path / "reports", formats=("json",), baseline=None, trust_model=False)
    outcome = run_config(config, out=tmp_path / "reports", formats=("json",), baseline="latest", trust_model=False)
    table = pd.read_csv(outcome.reports["comparison"], index_col=[0, 1])
    assert table.loc[withheld, "suppressed"] and table.loc[withheld, ["old", "new", "change"]].isna().all()
    assert np.isfinite(table.loc[("sex", "demographic_parity_difference"), "new"])


def score_data() -> pd.DataFrame:
    """A 12-person group 'z' beside groups of 25 and 400, with distinct scores (rounded to cents)."""
    rng = np.random.default_rng(5)
    sizes = {"z": 12, "m": 25, "big": 400}
    group = np.repeat(list(sizes), list(sizes.values()))
    score = np.round(rng.uniform(0, 1000, len(group)), 2)
    return pd.DataFrame({"g": group, "s": score})


def test_score_quantiles_never_publish_an_individual_score():
    data = score_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        scored = fa.audit(None, data, sensitive="g", y_score="s", task="score", n_boot=20)
    payload = scored.to_dict()
    records = {(r["attribute"], r["group"]): r for r in payload["score_quantiles"]["records"]}
    columns = [c for c in records[("g", "big")] if c.startswith("q")]
    assert all(records[("g", "z")][c] is None for c in columns)  # 12 people: no quantile at all
    assert [c for c in columns if records[("g", "m")][c] is not None] == ["q50"]  # 25: the median only
    assert all(records[("g", "big")][c] is not None for c in columns)  # 400: every quantile (n * 5% >= 10)
    published = [v for r in records.values() for c in columns if (v := r[c]) is not None]
    assert published and not set(published) & set(data["s"])
    assert not {"min", "max", "q00", "q100"} & set(columns)
    text = visible_text(scored.to_html())
    for person in data.loc[data.g == "z", "s"]:
        assert f"{person:.3f}" not in text
