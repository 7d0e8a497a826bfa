"""The "Method and limits" section, taken from where each rule is defined: the metric registry, the
named measures, and the docstrings of :mod:`fairaudit.uncertainty` and :mod:`fairaudit.privacy`."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

from fairaudit import estimated as estimated_module
from fairaudit import privacy, segmentation, uncertainty
from fairaudit import ranking as ranking_module
from fairaudit import scores as score_module
from fairaudit.metrics import METRICS
from fairaudit.tables import MEASURES

RATIO_INTERVAL = "Katz log ratio to the reference group, simultaneous over the groups"

LIMITS = (
    "Whether the recorded labels are themselves biased: every error rate is measured against them.",
    "Whether the sensitive attributes are recorded correctly, or anything about groups absent from the data.",
    "Why a disparity exists: a difference between groups is evidence to examine, not proof of discrimination, "
    "and its absence is not proof of fairness. Some measures cannot all be equal at once when base rates differ.",
    "How the model behaves on other people or at another time: intervals cover sampling uncertainty in this "
    "data only, at the decision threshold used in this audit.",
)

_INLINE = (
    (re.compile(r"``(.+?)``"), r"<code>\1</code>"),
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r":(?:func|mod|class|meth):`~?([^`]+)`"), r"<code>\1</code>"),
)


def _inline(text: str) -> str:
    out = str(escape(text))
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out


def docstring_html(doc: str) -> Markup:
    """A module docstring as HTML: paragraphs and ``*`` bullet lists, ``literals`` and **bold**."""
    blocks = []
    for block in re.split(r"\n\s*\n", (doc or "").strip()):
        lines = [line.strip() for line in block.strip().splitlines()]
        if lines and lines[0].startswith("* "):
            items: list[str] = []
            for line in lines:
                if line.startswith("* "):
                    items.append(line[2:])
                else:
                    items[-1] += " " + line
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        elif lines:
            blocks.append(f"<p>{_inline(' '.join(lines))}</p>")
    return Markup("\n".join(blocks))


def method(metric_names: list[str], measure_names: list[str], *, segments: bool = False,
           scores: bool = False, ranking: bool = False, estimated: bool = False) -> dict[str, Any]:
    """The section's content for the metrics and measures a result holds."""
    metrics = [
        {"name": name, "description": METRICS[name].description,
         "interval": METRICS[name].interval.label}
        for name in metric_names if name in METRICS
    ]
    if "disparate_impact_ratio" in metric_names:
        metrics.append({"name": "disparate_impact_ratio", "description": MEASURES["disparate_impact_ratio"],
                        "interval": RATIO_INTERVAL})
    return {
        "metrics": metrics,
        "measures": [{"name": m, "description": MEASURES[m]} for m in measure_names if m in MEASURES],
        "intervals": docstring_html(uncertainty.__doc__),
        "audits": [docstring_html(module.__doc__) for module, present in ((segmentation, segments),
                                                                           (score_module, scores),
                                                                           (ranking_module, ranking),
                                                                           (estimated_module, estimated))
                   if present],
        "privacy": docstring_html(privacy.__doc__),
        "limits": LIMITS,
    }
