"""The report's charts as matplotlib figures, drawn from a result that is already suppressed.

Charts only draw what the result holds: no statistic is computed here.

* ``rates``: the selection rate (mean score) of each group of each attribute with its interval;
* ``forest``: each disparity measure per view, with its interval and the policy threshold;
* ``heatmap``: selection rate by the two attributes of each two-way crossing;
* ``tradeoff``: each simulated recommendation's disparity after against its accuracy after, with the
  model before marked;
* ``segments``: each group's share in each segment (segmentation audits);
* ``scores``: each group's score distribution as percentiles (score audits);
* ``gap``: each group's gap in mean model output split into features' SHAP contributions (explanations);
* ``positions``: per group, the share of customers shown a favourable item at each position (rankings).
"""

from __future__ import annotations

import functools
import io
import re
import sys
import textwrap
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fairaudit.privacy import FLAG, Layout
from fairaudit.report.fmt import SUPPRESSED, WITHHELD, is_number, number, ordered, words
from fairaudit.stats import JOIN

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "fairaudit",
}
SEVERITY_COLOURS = {"fail": "#b3261e", "warn": "#b86e00", "inconclusive": "#6b6b6b", "pass": "#2e7d32"}
NEUTRAL = "#1f4e79"
CHART_WIDTH = 5.2
"""Inches: printed at A4 column width with 9 pt text; on a phone a wider chart scrolls sideways."""
PHONE_WIDTH = 3.8
"""Inches: page 1's chart fits a 390 px phone screen (366 px inside its margins) at its own size."""
PAD = 0.08
"""Inches around each chart: room for a browser's font drawing labels a little wider than matplotlib measured."""


class ChartUnavailable(ValueError):
    """The result holds nothing this chart draws (no crossing, no simulated recommendation)."""


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    figure.get_layout_engine().set(w_pad=PAD, h_pad=PAD)
    FigureCanvasAgg(figure)
    return figure


def _styled(draw: Callable[[AuditResult], Figure]) -> Callable[[AuditResult], Figure]:
    """Draw with the report's style, leaving the caller's matplotlib settings alone."""

    @functools.wraps(draw)
    def wrapper(result: AuditResult) -> Figure:
        with matplotlib.rc_context(STYLE):
            return draw(result)

    return wrapper


def _text(label: object) -> str:
    """A user string as literal chart text (a ``$`` would otherwise start mathematics)."""
    return str(label).replace("$", r"\$")


SHORT = 18
"""A name longer than this (in characters, East Asian wide ones counted twice) is shortened on charts to a code
and its start, ``G1 Self-employe…``; the chart's key (``figure.fairaudit_key``) maps each code back."""
KINDS = {"attribute": "A", "group": "G", "feature": "F", "segment": "S"}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _start(text: str, room: int) -> str:
    """The longest start of ``text`` no wider than ``room``."""
    out, used = [], 0
    for char in text:
        used += _width(char)
        if used > room:
            break
        out.append(char)
    return "".join(out).rstrip()


class Names:
    """How one result's names read on its charts: each name longer than :data:`SHORT` gets a code (``A1`` for
    attributes, ``G1`` for groups, ``F1`` features, ``S1`` segments), the same in every chart of the result;
    :attr:`used` collects the codes a chart showed, for its key."""

    def __init__(self, result: AuditResult) -> None:
        self.layout = Layout.of(result.metadata, result.by_group.index)
        self.codes: dict[tuple[str, str], str] = {}
        self.used: dict[str, str] = {}
        for attributes in self.layout.attributes.values():
            for name in attributes:
                self._code("attribute", name)
        for parts in self.layout.values.values():
            for name in parts:
                self._code("group", name)

    def _code(self, kind: str, name: str) -> str | None:
        if _width(name) <= SHORT:
            return None
        if (kind, name) not in self.codes:
            self.codes[(kind, name)] = f"{KINDS[kind]}{1 + sum(k == kind for k, _ in self.codes)}"
        return self.codes[(kind, name)]

    def short(self, name: object, kind: str = "group") -> str:
        """``name`` as a chart shows it: as it is when short, else its code and start (``G1 Self-employe…``)."""
        text = str(name)
        code = self._code(kind, text)
        if code is None:
            return _text(text)
        self.used[code] = text
        return _text(f"{code} {_start(text, SHORT - len(code) - 2)}…")

    def view(self, view: str, *, wrap: bool = True) -> str:
        """A view's name: its attributes, each shortened, one per line (``sex &`` / ``race``) unless not ``wrap``."""
        parts = self.layout.attributes.get(view, (view,))
        return (" &\n" if wrap else JOIN).join(self.short(a, "attribute") for a in parts)

    def group(self, view: str, label: str, *, width: int = SHORT + 2) -> str:
        """A group's label: its value of each attribute, each shortened, a crossing broken after each ``&``,
        lines wrapped at ``width`` characters."""
        parts = [self.short(v) for v in self.layout.values.get((view, label), (label,))]
        lines = []
        for i, part in enumerate(parts):
            lines += textwrap.wrap(part + (" &" if i < len(parts) - 1 else ""), width, break_long_words=True) or [""]
        return "\n".join(lines)

    def keyed(self, figure: Figure) -> Figure:
        """``figure`` with ``fairaudit_key``: the codes it shows, in order, with the names they stand for."""
        figure.fairaudit_key = sorted(self.used.items(), key=lambda item: (item[0][0], int(item[0][1:])))
        return figure


def with_key(figure: Figure) -> Figure:
    """``figure`` with its key drawn beneath it (for a figure shown on its own; the report prints the key as
    a table instead)."""
    key = getattr(figure, "fairaudit_key", [])
    if key:
        width = max(int(figure.get_figwidth() * 72 / (7 * 0.62)), 30)
        lines = [line for code, name in key
                 for line in textwrap.wrap(f"{code} = {name}", width, subsequent_indent="    ", break_long_words=True)]
        figure.set_figheight(figure.get_figheight() + (len(lines) + 1.5) * 7 * 1.3 / 72)  # the plots keep their room
        figure.supxlabel(_text("\n".join(["Key:", *lines])), x=0.01, ha="left", fontsize=7, linespacing=1.3)
    return figure


# ---------------------------------------------------------------------------- forest plot
FOREST_GAP = 0.07
"""Inches between the forest plot's rows (its labels are attribute names, its rows many)."""


def _forest_rows(result: AuditResult) -> list[tuple[str, list[tuple[str, float, float, float, bool]]]]:
    """(measure, [(view, value, low, high, withheld)]) for each named measure and each policy threshold on
    a metric's disparity."""
    panels: dict[str, list[tuple[str, float, float, float, bool]]] = {}
    for (view, measure), row in result.measures.iterrows():
        panels.setdefault(measure, []).append(
            (view, row["value"], row["ci_low"], row["ci_high"], bool(row.get(FLAG, False))))
    for name in result.policy.thresholds:
        if name in panels:
            continue
        for suffix in ("difference", "ratio"):
            metric = name.removesuffix(f"_{suffix}")
            if name.endswith(f"_{suffix}") and metric in result.disparities.index.get_level_values("metric"):
                table = result.disparities.xs(metric, level="metric")
                panels[name] = [(view, row[suffix], row[f"{suffix}_ci_low"], row[f"{suffix}_ci_high"],
                                 bool(row.get(FLAG, False))) for view, row in table.iterrows()]
    return list(panels.items())


@_styled
def forest(result: AuditResult) -> Figure:
    """Each disparity measure per view with its interval; the policy threshold is the dashed line."""
    panels = _forest_rows(result)
    if not panels:
        raise ChartUnavailable("This result has no disparity measure to draw.")
    # differences on the left, ratios on the right: half the height of one column
    columns = [c for c in ([p for p in panels if not p[0].endswith("_ratio")],
                           [p for p in panels if p[0].endswith("_ratio")]) if c]
    names = Names(result)
    tall = {measure: _rows([names.view(view) for view, *_ in rows], FOREST_GAP)[1] for measure, rows in panels}
    heights = [0.55 + max(tall[c[r][0]] for c in columns if r < len(c)) for r in range(max(len(c) for c in columns))]
    figure = _figure(CHART_WIDTH if len(columns) == 1 else 7.2, sum(heights) + 0.7)
    severity = {(f.attribute, f.measure): f.severity for f in result.findings}
    grid = figure.subplots(len(heights), len(columns), squeeze=False, height_ratios=heights, sharex=True)
    for c, column in enumerate(columns):
        for r in range(len(heights)):
            if r >= len(column):
                grid[r][c].set_visible(False)
                continue
            measure, rows = column[r]
            _forest_panel(grid[r][c], measure, rows, severity, result.policy.thresholds.get(measure), names,
                          title_width=60 if len(columns) == 1 else 30)
            grid[r][c].tick_params(axis="x", labelbottom=True, labelsize=7.5)
    ends = [v for _, rows in panels for row in rows for v in row[1:4] if is_number(v)]
    grid[0][0].set_xlim(min([0.0, *ends]) - 0.02, max([1.0, *ends]) + 0.02)
    figure.suptitle("Disparity measures with their intervals (dashed: the policy's limit)", fontsize=10)
    return names.keyed(figure)


def _forest_panel(axes, measure, rows, severity, threshold, names, title_width) -> None:
    labels = [names.view(view) for view, *_ in rows]
    ys, y = _rows(labels, FOREST_GAP)  # a wrapped label takes as many lines as it has
    for yy, (view, value, low, high, withheld) in zip(ys, rows, strict=True):
        if withheld or not is_number(value):
            axes.text(0.5, yy, WITHHELD if withheld else "undefined", ha="center", va="center",
                      color="#6b6b6b", fontsize=8, style="italic")
            continue
        colour = SEVERITY_COLOURS.get(severity.get((view, measure)), NEUTRAL)
        if is_number(low) and is_number(high):
            axes.errorbar([value], [yy], xerr=[[max(value - low, 0.0)], [max(high - value, 0.0)]], fmt="o",
                          color=colour, markersize=5, capsize=3, linewidth=1.4)
        else:
            axes.plot([value], [yy], "o", color=colour, markersize=5)
    if threshold is not None:
        axes.axvline(threshold.value, color="#b3261e", linestyle="--", linewidth=1)
    axes.set_yticks(ys, labels, fontsize=8)
    axes.set_ylim(-y, 0)
    title = words(measure) + (f" (limit {threshold})" if threshold is not None else "")
    axes.set_title(textwrap.fill(title, title_width), loc="left", fontsize=8.5, pad=3)
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.6)


# ---------------------------------------------------------------------------- rates per group
RATE_METRICS = ("selection_rate", "mean_score")


@_styled
def rates(result: AuditResult) -> Figure:
    """The headline rate (selection rate; mean score in score audits) of each group of each single
    attribute with its interval; the dotted line is everyone's rate."""
    metric = next((m for m in RATE_METRICS if m in result.by_group.columns), None)
    sensitive = [a for a in result.metadata.get("sensitive", []) if a in result.by_group.index.get_level_values(0)]
    if metric is None or not sensitive:
        raise ChartUnavailable("This result has no selection rate or mean score per group to draw.")
    tables = {a: result.by_group.loc[a].reindex(ordered(result.by_group.loc[a].index)) for a in sensitive}
    names = Names(result)
    labels = {a: [_counted(names.group(a, g), c, hidden) for g, c, hidden in zip(
        t.index, t["count"], t[FLAG] if FLAG in t else [False] * len(t), strict=True)] for a, t in tables.items()}
    rows = {a: _rows(found) for a, found in labels.items()}  # (y of each row, total height), in inches
    heights = [0.42 + total for _, total in rows.values()]
    figure = _figure(PHONE_WIDTH, sum(heights) + 0.55)
    axes_list = figure.subplots(len(tables), 1, squeeze=False, height_ratios=heights, sharex=True)[:, 0]
    overall = result.overall["value"].get(metric) if metric in result.overall.index else None
    ends = [v for t in tables.values() for c in (metric, f"{metric}_ci_low", f"{metric}_ci_high") if c in t
            for v in t[c] if is_number(v)]
    for axes, (attribute, table) in zip(axes_list, tables.items(), strict=True):
        ys, total = rows[attribute]
        for y, (_, row) in zip(ys, table.iterrows(), strict=True):
            value, low, high = row[metric], row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
            if bool(row.get(FLAG, False)) or not is_number(value):
                axes.text(0.02, y, SUPPRESSED if row.get(FLAG, False) else "undefined", va="center",
                          color="#6b6b6b", style="italic", fontsize=8, transform=axes.get_yaxis_transform())
                continue
            spread = [[max(value - low, 0.0)], [max(high - value, 0.0)]] \
                if is_number(low) and is_number(high) else None
            axes.errorbar([value], [y], xerr=spread, fmt="o", color=NEUTRAL, markersize=5, capsize=3)
            axes.annotate(number(value), (high if is_number(high) else value, y), xytext=(5, 0),
                          textcoords="offset points", ha="left", va="center", fontsize=7.5, color="#333333")
        if is_number(overall):
            axes.axvline(overall, color="#6b6b6b", linestyle=":", linewidth=1)
        axes.set_yticks(ys, labels[attribute], fontsize=8)
        axes.set_ylim(-total, 0)
        axes.set_title(textwrap.fill(f"{words(metric)} by {names.short(attribute, 'attribute')}", 28), loc="left")
        axes.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    axes_list[-1].set_xlim(0, max([*ends, 0.05]) * 1.12)
    axes_list[-1].set_xlabel(f"{words(metric)} with its interval\n(dotted: everyone)")
    return names.keyed(figure)


def _counted(label: str, count: object, hidden: bool) -> str:
    """A group's label with its number of people, on the same line when both fit in :data:`SHORT` + 4."""
    if hidden or not is_number(count):
        return label
    n = f"(n={int(count):,})"
    return f"{label} {n}" if "\n" not in label and _width(label) + len(n) < SHORT + 4 else f"{label}\n{n}"


LINE = 8 * 1.25 / 72
"""Inches: one line of 8 pt tick-label text."""


def _rows(labels: list[str], gap: float = 0.12) -> tuple[list[float], float]:
    """The y of each row (top to bottom, negative) and the total height, each row as tall as its label plus
    ``gap`` inches."""
    ys, y = [], 0.0
    for label in labels:
        height = gap + LINE * (label.count("\n") + 1)
        ys.append(-(y + height / 2))
        y += height
    return ys, y


# ---------------------------------------------------------------------------- heat map
HEATMAP_METRICS = ("selection_rate", "mean_score")


def _heatmap_metric(result: AuditResult) -> str:
    metric = next((m for m in HEATMAP_METRICS if m in result.by_group.columns), None)
    if metric is None:
        raise ChartUnavailable("This result has no selection rate or mean score to draw by crossing.")
    return metric


def _crossings(result: AuditResult) -> list[tuple[str, list[str], list[str], dict[tuple[str, str], tuple]]]:
    """Each two-way crossing as (view, row labels, column labels, {(row, column): (value, suppressed,
    count)}), labels in their natural order."""
    metric = _heatmap_metric(result)
    table = result.by_group
    layout = Layout.of(result.metadata, table.index)
    groups: dict[str, list[str]] = {}
    for view, label in table.index:
        groups.setdefault(view, []).append(label)
    single = {layout.attributes[view]: view for view in groups if len(layout.attributes[view]) == 1}
    out = []
    for view, labels in groups.items():
        names = [single.get((a,)) for a in layout.attributes[view]]
        if len(names) != 2 or None in names:
            continue
        cells = {}
        for label in labels:
            row = table.loc[(view, label)]
            cells[layout.values[(view, label)]] = (row[metric], bool(row.get(FLAG, False)), row["count"])
        out.append((view, ordered(groups[names[0]]), ordered(groups[names[1]]), cells))
    return out


@_styled
def heatmap(result: AuditResult) -> Figure:
    """Selection rate (mean score in score audits) by the two attributes of each two-way crossing, with the
    number of people in each cell."""
    crossings = _crossings(result)
    metric = words(_heatmap_metric(result))
    if not crossings:
        raise ChartUnavailable("This result has no two-way crossing of sensitive attributes to draw.")
    # the attribute with more groups runs down the side, so that columns stay wide enough for their text
    crossings = [(v, r, c, cells, False) if len(r) >= len(c)
                 else (v, c, r, {(b, a): x for (a, b), x in cells.items()}, True) for v, r, c, cells in crossings]
    hidden_all = {v for v, _, _, cells, _ in crossings if all(c[1] for c in cells.values())}
    heights = [0.45 if v in hidden_all else 1.1 + 0.42 * len(rows) for v, rows, _, _, _ in crossings]
    width = min(max(4.2, 1.8 + 0.85 * max(len(cols) for _, _, cols, _, _ in crossings)), CHART_WIDTH + 1.3)
    figure = _figure(width, sum(heights) + 0.3)
    names = Names(result)
    axes_list = figure.subplots(len(crossings), 1, squeeze=False, height_ratios=heights)[:, 0]
    top = max((c[0] for _, _, _, cells, _ in crossings for c in cells.values() if is_number(c[0])), default=1.0)
    cmap = matplotlib.colormaps["Blues"]
    for axes, (view, rows, cols, cells, swapped) in zip(axes_list, crossings, strict=True):
        if view in hidden_all:  # a grid of "suppressed" says nothing: one line says it
            axes.axis("off")
            axes.text(0, 0.5, textwrap.fill(f"{metric} by {names.view(view, wrap=False)}: every cell is "
                                            f"{SUPPRESSED}", 60), transform=axes.transAxes, va="center",
                      fontsize=8.5, color="#6b6b6b", style="italic")
            continue
        grid = np.full((len(rows), len(cols)), np.nan)
        for (r, c), (rate, hidden, _) in cells.items():
            if not hidden and is_number(rate):
                grid[rows.index(r), cols.index(c)] = rate
        axes.pcolormesh(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=max(top, 1e-9),
                        edgecolors="white", linewidth=1.5)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                rate, hidden, people = cells.get((r, c), (np.nan, False, 0))
                if (r, c) not in cells:
                    text, colour = "no one", "#6b6b6b"
                elif hidden:
                    text, colour = SUPPRESSED, "#6b6b6b"
                    axes.add_patch(matplotlib.patches.Rectangle((j, i), 1, 1, facecolor="#f0f0f0",
                                                                hatch="///", edgecolor="#cccccc"))
                else:
                    text = f"{number(rate)}\nn={int(people):,}" if is_number(rate) else "undefined"
                    colour = "white" if is_number(rate) and rate > 0.6 * top else "black"
                axes.text(j + 0.5, i + 0.5, text, ha="center", va="center", color=colour, fontsize=7.5,
                          linespacing=1.1)
        down, across = Layout.of(result.metadata, result.by_group.index).attributes[view]
        if swapped:
            down, across = across, down
        axes.set_xlabel(names.short(across, "attribute"))
        axes.set_ylabel(names.short(down, "attribute"))
        axes.set_xticks(np.arange(len(cols)) + 0.5, [_wrap(names.short(c), 12) for c in cols], fontsize=8)
        axes.set_yticks(np.arange(len(rows)) + 0.5, [names.short(r) for r in rows], fontsize=8)
        axes.invert_yaxis()
        axes.set_title(textwrap.fill(f"{metric} by {names.view(view, wrap=False)} (n: people in the cell)", 42),
                       loc="left")
        axes.tick_params(length=0)
        for side in axes.spines.values():
            side.set_visible(False)
    return names.keyed(figure)


# ---------------------------------------------------------------------------- trade-off
@_styled
def tradeoff(result: AuditResult) -> Figure:
    """Each recommendation's policy measure after mitigation against its balanced accuracy after (the
    ranking's cost); the model before is the cross, the policy's limit the dashed line."""
    simulated = [(i, r) for i, r in enumerate(result.recommendations, start=1)
                 if r.effect is not None and "accuracy" in r.effect.index]
    measures = list(dict.fromkeys(m for _, r in simulated for m in r.effect.index
                                  if _base(m) in result.policy.thresholds))
    if not simulated or not measures:
        raise ChartUnavailable("This result has no recommendation with a measured effect to draw.")
    quality = "balanced_accuracy" if all("balanced_accuracy" in r.effect.index for _, r in simulated) else "accuracy"
    columns = 3 if len(measures) > 4 else min(2, len(measures))  # many measures: a grid that fits one page
    rows = -(-len(measures) // columns)
    figure = _figure(7.2 if columns > 1 else CHART_WIDTH, 2.1 * rows + 0.6)
    names = Names(result)
    axes_grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes in axes_grid[len(measures):]:
        axes.set_visible(False)
    for axes, measure in zip(axes_grid, measures, strict=False):
        before = next((r.effect for _, r in simulated if measure in r.effect.index), None)
        if before is not None:
            axes.plot(before.loc[quality, "before"], before.loc[measure, "before"], "X", color="black",
                      markersize=9, label="before")
        for rank, rec in simulated:
            if measure not in rec.effect.index:
                continue
            x, y = rec.effect.loc[quality], rec.effect.loc[measure]
            axes.errorbar([x["after"]], [y["after"]], xerr=_spread(x), yerr=_spread(y), fmt="o",
                          color=NEUTRAL if rec.clears_policy is not False else "#b86e00", capsize=3,
                          markersize=5)
            axes.annotate(str(rank), (x["after"], y["after"]), fontsize=8, fontweight="bold",
                          xytext=OFFSETS[rank % len(OFFSETS)], textcoords="offset points")
        threshold = result.policy.thresholds.get(_base(measure))
        if threshold is not None:
            axes.axhline(threshold.value, color="#b3261e", linestyle="--", linewidth=1)
        axes.set_xlabel(f"{words(quality)} after", fontsize=8)
        base, _, view = measure.partition(" (")
        title = words(base) + (f" ({names.view(view.removesuffix(')'), wrap=False)})" if view else "")
        axes.set_title(textwrap.fill(title, 34 if columns < 3 else 26), fontsize=8.5, loc="left")
        axes.tick_params(labelsize=8)
        axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        axes.grid(color="#e5e5e5", linewidth=0.6)
        axes.legend(loc="best", fontsize=7, frameon=False)
    figure.suptitle("Recommendations: each measure after mitigation against accuracy\n"
                    "(points numbered as the recommendations; orange: does not clear the policy)", fontsize=9.5)
    return names.keyed(figure)


OFFSETS = ((5, 4), (5, -11), (-12, 4), (-12, -11))
"""Where each point's number sits (cycled), so that neighbouring numbers do not print on each other."""


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=True)) or text


def _base(measure: str) -> str:
    """``demographic_parity_difference (age_group)`` -> ``demographic_parity_difference``."""
    return measure.split(" (")[0]


def _spread(row) -> list[list[float]] | None:
    low, high, value = row.get("after_ci_low"), row.get("after_ci_high"), row["after"]
    if not (is_number(low) and is_number(high) and is_number(value)):
        return None
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


# ---------------------------------------------------------------------------- segments, scores, explanations
def _views(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {view: table.xs(view, level="attribute") for view in dict.fromkeys(table.index.get_level_values(0))}


@_styled
def segments(result: AuditResult) -> Figure:
    """Each group's share in each segment, one stacked bar per group (segmentation audits)."""
    if getattr(result, "segments", None) is None:
        raise ChartUnavailable("This result has no segments: it is not a segmentation audit.")
    views = _views(result.segments)
    heights = [0.7 + 0.3 * len(t) for t in views.values()]
    figure = _figure(7.0, sum(heights) + 0.6)
    names = Names(result)
    colours = matplotlib.colormaps["tab10"].colors
    axes_list = figure.subplots(len(views), 1, squeeze=False, height_ratios=heights)[:, 0]
    for axes, (view, table) in zip(axes_list, views.items(), strict=True):
        labels = [names.group(view, g) for g in table.index]
        ys = np.arange(len(table))[::-1]
        left = np.zeros(len(table))
        for k, segment in enumerate(table.columns):
            share = table[segment].to_numpy(dtype=float)
            axes.barh(ys, np.nan_to_num(share), left=left, color=colours[k % len(colours)],
                      label=names.short(segment, "segment"), height=0.7)
            left += np.nan_to_num(share)
        for y, row in zip(ys, table.itertuples(index=False), strict=True):
            if not np.isfinite(np.asarray(row, dtype=float)).any():
                axes.text(0.5, y, SUPPRESSED, ha="center", va="center", color="#6b6b6b", style="italic")
        axes.set_yticks(ys, labels)
        axes.set_xlim(0, 1)
        axes.set_title(f"segment shares by {names.view(view, wrap=False)}", loc="left")
    axes_list[0].legend(loc="lower left", bbox_to_anchor=(0, 1.15), ncol=min(len(result.segments.columns), 6),
                        fontsize=8, frameon=False)
    return names.keyed(figure)


@_styled
def scores(result: AuditResult) -> Figure:
    """Score distribution by group: 5th to 95th percentile (line), quartiles (box) and median (score audits)."""
    table = getattr(result, "score_quantiles", None)
    if table is None:
        raise ChartUnavailable("This result has no score quantiles: it is not a score audit.")
    views = _views(table)
    heights = [0.7 + 0.32 * len(t) for t in views.values()]
    figure = _figure(7.0, sum(heights) + 0.3)
    names = Names(result)
    axes_list = figure.subplots(len(views), 1, squeeze=False, height_ratios=heights, sharex=True)[:, 0]
    for axes, (view, frame) in zip(axes_list, views.items(), strict=True):
        ys = np.arange(len(frame))[::-1]
        for y, (_, row) in zip(ys, frame.iterrows(), strict=True):
            q = row.to_numpy(dtype=float)
            if not np.isfinite(q).all():
                axes.text(0.5, y, SUPPRESSED, ha="center", va="center", color="#6b6b6b", style="italic",
                          transform=axes.get_yaxis_transform())
                continue
            low, q25, median, q75, high = q[0], q[2], q[3], q[4], q[-1]
            axes.plot([low, high], [y, y], color=NEUTRAL, linewidth=1.2)
            axes.add_patch(matplotlib.patches.Rectangle((q25, y - 0.25), q75 - q25, 0.5, facecolor="#c6dbef",
                                                        edgecolor=NEUTRAL))
            axes.plot([median, median], [y - 0.25, y + 0.25], color="black", linewidth=1.6)
        axes.set_yticks(ys, [names.group(view, g) for g in frame.index])
        axes.set_ylim(-0.7, len(frame) - 0.3)
        axes.set_title(f"score by {names.view(view, wrap=False)} (5th, 25th, 50th, 75th, 95th percentiles)",
                       loc="left")
        axes.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    return names.keyed(figure)


GAP_FEATURES = 6
GAP_COLUMN = 4
"""Up to this many groups the gap panels stand in one column, more in two."""


@_styled
def gap(result: AuditResult) -> Figure:
    """Each group's gap in mean model output, split into the features' SHAP contributions with intervals."""
    explanations = getattr(result, "explanations", None)
    if explanations is None or explanations.gap.empty:
        raise ChartUnavailable("This result has no explanations: audit with explain=True.")
    frame = explanations.gap
    crossed = Layout.of(result.metadata, result.by_group.index).attributes
    found = [k for k in dict.fromkeys((a, g) for a, g, _ in frame.index) if len(crossed.get(k[0], (k[0],))) == 1]
    keys = [(a, g) for a in dict.fromkeys(a for a, _ in found) for g in ordered([g for b, g in found if b == a])]
    frame = frame.sort_index()  # looked up by group below
    columns = 1 if len(keys) <= GAP_COLUMN else 2  # two columns keep many groups on one page at a legible size
    rows_of_panels = -(-len(keys) // columns)
    figure = _figure(CHART_WIDTH if columns == 1 else 7.2, 0.4 + rows_of_panels * (0.35 + 0.14 * (GAP_FEATURES + 2)))
    names = Names(result)
    axes_list = figure.subplots(rows_of_panels, columns, squeeze=False).ravel()
    for axes in axes_list[len(keys):]:
        axes.set_visible(False)
    for axes, (attribute, group) in zip(axes_list, keys, strict=False):
        rows = frame.loc[(attribute, group)]
        features = rows.drop(index=[i for i in rows.index if str(i).startswith("(")], errors="ignore")
        top = features.reindex(features["contribution"].abs().sort_values(ascending=False).index[:GAP_FEATURES])
        shown = pd.concat([top, rows.loc[[i for i in ("(residual)", "(total gap)") if i in rows.index]]])
        ys = np.arange(len(shown))[::-1]
        values = shown["contribution"].to_numpy(dtype=float)
        title = f"{names.short(attribute, 'attribute')} = {names.short(group)}: gap in mean {explanations.units}"
        if not np.isfinite(values).any():
            axes.text(0.5, 0.5, SUPPRESSED, ha="center", va="center", color="#6b6b6b", style="italic",
                      transform=axes.transAxes)
        else:
            colours = ["black" if str(i) == "(total gap)" else "#b3261e" if v < 0 else NEUTRAL
                       for i, v in zip(shown.index, values, strict=True)]
            errors = None
            if {"ci_low", "ci_high"} <= set(shown.columns):
                low = np.nan_to_num(values - shown["ci_low"].to_numpy(dtype=float))
                high = np.nan_to_num(shown["ci_high"].to_numpy(dtype=float) - values)
                errors = [np.maximum(low, 0), np.maximum(high, 0)]
            axes.barh(ys, np.nan_to_num(values), xerr=errors, color=colours, height=0.6, capsize=2)
            axes.axvline(0, color="#6b6b6b", linewidth=0.8)
        axes.set_yticks(ys, [names.short(i, "feature") for i in shown.index], fontsize=7.5)
        axes.tick_params(axis="x", labelsize=7.5)
        axes.set_title(textwrap.fill(title, 44 if columns > 1 else 70), loc="left", fontsize=8.5)
        axes.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    return names.keyed(figure)


@_styled
def positions(result: AuditResult) -> Figure:
    """Favourable exposure by position: per view, one line per group of the share of its customers shown a
    favourable item at each position (ranking audits)."""
    table = getattr(result, "ranking_positions", None)
    if table is None:
        raise ChartUnavailable("This result has no favourable items by position: it is not a ranking audit "
                               "with favorable=.")
    crossed = Layout.of(result.metadata, result.by_group.index).attributes
    views = {v: t for v, t in _views(table).items() if len(crossed.get(v, (v,))) == 1}
    figure = _figure(7.0, 0.4 + 2.2 * len(views))
    names = Names(result)
    axes_list = figure.subplots(len(views), 1, squeeze=False)[:, 0]
    for axes, (view, frame) in zip(axes_list, views.items(), strict=True):
        xs = np.array([int(c) for c in frame.columns])
        for group, row in frame.iterrows():
            values = row.to_numpy(dtype=float)
            if np.isfinite(values).any():
                axes.plot(xs, values, marker="o", markersize=3, linewidth=1.3, label=names.group(view, group))
        hidden = [names.group(view, g, width=200) for g, row in frame.iterrows()
                  if not np.isfinite(row.to_numpy(dtype=float)).any()]
        title = f"share shown a favourable item at each position, by {names.view(view, wrap=False)}"
        axes.set_title(title + (f" ({', '.join(hidden)}: {SUPPRESSED})" if hidden else ""), loc="left")
        axes.set_xticks(xs)
        axes.set_xlabel("position in the list (1 = top)")
        axes.set_ylim(bottom=0)
        axes.grid(color="#e5e5e5", linewidth=0.6)
        axes.legend(fontsize=8, frameon=False, ncol=min(len(frame), 5))
    return names.keyed(figure)


# ---------------------------------------------------------------------------- registry and SVG
CHARTS: dict[str, Callable[[AuditResult], Figure]] = {
    "rates": rates, "forest": forest, "heatmap": heatmap, "tradeoff": tradeoff, "segments": segments,
    "scores": scores, "gap": gap,
}
CHARTS["positions"] = positions

def show_in_notebooks() -> None:
    """Let a running IPython show our figures as PNG images: pyplot registers that display when imported,
    but our figures never import pyplot, so a fresh kernel would print ``<Figure size ...>`` instead."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)  # already shown (``%matplotlib inline``, or called before)
    except KeyError:
        formatter.for_type(Figure, _png)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


_SVG_START = re.compile(r"^.*?(?=<svg\b)", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')
_IDS = re.compile(r'\bid="([^"]+)"')
_REFERENCES = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def to_svg(figure: Figure, prefix: str = "chart") -> str:
    """The figure as inline SVG markup: text stays text, no metadata, no XML prologue; element ids start
    with ``prefix`` so that several charts can share one page."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                       "Type": None})
    svg = _SVG_START.sub("", buffer.getvalue(), count=1)
    # inline SVG in HTML needs no namespace declarations (the HTML parser supplies them)
    head, _, body = svg.partition(">")
    svg = _NAMESPACES.sub("", head) + ">" + body
    ids = set(_IDS.findall(svg))
    return _REFERENCES.sub(lambda m: f"{m[1]}{prefix}-{m[2]}" if m[2] in ids else m[0], svg)
