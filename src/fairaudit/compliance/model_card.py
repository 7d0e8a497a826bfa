"""The model-card section: what a provider pastes into its model documentation.

The fields follow Google's Model Card schema (``model_details``, ``model_parameters.data``,
``quantitative_analysis.performance_metrics`` with ``slice`` and ``confidence_interval``,
``considerations.use_cases`` / ``limitations`` / ``ethical_considerations`` with ``mitigation_strategy``)
where they apply, and cover what the EU AI Act asks of the instructions for use (Art. 13(3)(b):
accuracy and performance on specific groups) and of the data examination (Art. 10(2)(f)-(g): bias and
data gaps). Everything is read from :meth:`AuditResult.suppressed`'s copy: small groups stay hidden.
:func:`model_card` gives the section as data (the report lays it out); :func:`model_card_markdown` as
Markdown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fairaudit.privacy import FLAG

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

PERFORMANCE = ("selection_rate", "accuracy", "balanced_accuracy", "true_positive_rate", "false_positive_rate",
               "precision", "roc_auc", "calibration_error", "mean_score", "mean_absolute_error",
               "root_mean_squared_error")
LIMITING = ("fail", "warn", "inconclusive")


def model_card(result: AuditResult, *, intended_use: str | None = None,
               data_period: str | None = None) -> dict[str, Any]:
    """The model-card section of ``result`` as formatted text fields, keyed by the Model Card schema."""
    shown = result.suppressed()
    meta = shown.metadata
    model, data = meta.get("model_info") or {}, meta.get("data_info") or {}
    sensitive = [a for a in meta.get("sensitive", []) if a in shown.by_group.index.get_level_values(0)]
    metrics = [m for m in PERFORMANCE if m in shown.by_group.columns]
    confidence = meta.get("confidence")
    return {
        "model_details": {
            "name": model.get("name") or meta.get("model") or "not recorded",
            "version": model.get("version") or "not stated",
            "owners": model.get("owner") or "not stated",
            "overview": meta.get("model_repr") or "predictions supplied as columns",
            "documentation": f"fairaudit {(meta.get('versions') or {}).get('fairaudit', '')} audit of "
                             f"{meta.get('created_utc', 'an unrecorded date')}; "
                             f"verdict {shown.verdict.replace('_', ' ')}",
        },
        "use_cases": intended_use or model.get("intended_use") or _decision(meta)
        + " The intended use was not stated to fairaudit: state who uses the model, for which decision and "
          "on whom, before publishing this card.",
        "data": [
            ("evaluation rows", f"{meta['rows']:,}" if "rows" in meta else "not recorded"),
            ("source", data.get("source") or "not stated"),
            ("period", data_period or data.get("period") or "not stated"),
            ("data fingerprint (SHA-256)", meta.get("fingerprint_sha256") or "not recorded"),
            ("target", meta.get("target") or "none (outcomes only)"),
            ("sensitive attributes", ", ".join(meta.get("sensitive", []))),
        ],
        "groups": [{"attribute": a, "groups": [(g, _count(row)) for g, row in shown.by_group.loc[a].iterrows()]}
                   for a in sensitive],
        "confidence": f"{confidence:.0%}" if isinstance(confidence, float) else "",
        "performance": {
            "metrics": [m.replace("_", " ") for m in metrics],
            "slices": [{"slice": f"{a} = {g}", "values": [_with_interval(row, m) for m in metrics]}
                       for a in sensitive for g, row in shown.by_group.loc[a].iterrows()],
        },
        "fairness": [{"attribute": a, "measure": m.replace("_", " "),
                      "value": "withheld" if row.get(FLAG, False) else _evidence(row["value"], row["ci_low"],
                                                                                  row["ci_high"]),
                      "threshold": str(shown.policy.thresholds.get(m) or "")}
                     for (a, m), row in shown.measures.iterrows()],
        "limitations": [f"[{f.severity}] {f.code}: {f.message}" for f in shown.findings if f.severity in LIMITING],
        "ethical_considerations": [_mitigation(r) for r in shown.recommendations],
    }


def model_card_markdown(result: AuditResult, *, intended_use: str | None = None,
                        data_period: str | None = None) -> str:
    """The model-card section as Markdown, ready to paste."""
    card = model_card(result, intended_use=intended_use, data_period=data_period)
    details = card["model_details"]
    lines = ["## Model card: fairness and performance by group", "",
             "### Model details", "", f"- **Name:** {_md(details['name'])}",
             f"- **Version:** {_md(details['version'])}", f"- **Owners:** {_md(details['owners'])}",
             f"- **Overview:** `{details['overview']}`",
             f"- **Documentation:** {details['documentation']}", "",
             "### Intended use", "", _md(card["use_cases"]), "",
             "### Evaluation data", "", *_table(["field", "value"], card["data"]), "",
             "### Groups and their sizes", ""]
    for attribute in card["groups"]:
        lines += [f"**{_md(attribute['attribute'])}**", "", *_table(["group", "people"], attribute["groups"]), ""]
    performance = card["performance"]
    lines += ["### Performance per group", "",
              f"Each value with its {card['confidence']} interval in brackets.", "",
              *_table(["slice", *performance["metrics"]], [[s["slice"], *s["values"]] for s in performance["slices"]]),
              "", "### Fairness measures", "",
              *_table(["attribute", "measure", "value", "policy limit"],
                      [[f["attribute"], f["measure"], f["value"], f["threshold"]] for f in card["fairness"]]),
              "", "### Known limitations", ""]
    lines += [f"- {_md(text)}" for text in card["limitations"]] or ["- No check of the policy fails, warns or "
                                                                     "is inconclusive."]
    lines += ["", "### Mitigations considered", ""]
    for item in card["ethical_considerations"]:
        lines += [f"- **{_md(item['name'])}** (`{item['mitigation']}`): {_md(item['mitigation_strategy'])}"]
        lines += [f"  - {_md(effect)}" for effect in item["effects"]]
    if not card["ethical_considerations"]:
        lines.append("- None: the audit recommended no mitigation.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- fields
def _decision(meta: dict[str, Any]) -> str:
    task = meta.get("task", "binary")
    target = meta.get("target")
    if task == "score":
        return f"A model that scores people{f' (against {target})' if target else ''}."
    if task == "segmentation":
        return "A model that assigns people to segments."
    about = f" (predicting {target} = {meta.get('pos_label')})" if target else ""
    return f"A model that takes a yes/no decision about people{about}."


def _mitigation(rec: Any) -> dict[str, Any]:
    effects = [] if rec.effect is None else [
        f"{measure.replace('_', ' ')}: {_evidence(*(row.get(f'before{s}') for s in ('', '_ci_low', '_ci_high')))}"
        f" before, {_evidence(*(row.get(f'after{s}') for s in ('', '_ci_low', '_ci_high')))} after"
        for measure, row in rec.effect.iterrows()]
    cleared = {True: "clears the policy on held-out rows", False: "does not clear the policy on held-out rows",
               None: "not simulated"}[rec.clears_policy]
    return {"name": rec.title, "mitigation": rec.mitigation,
            "mitigation_strategy": f"{rec.rationale} Measured: {cleared}.", "effects": effects}


def _count(row: Any) -> str:
    return "suppressed" if row.get(FLAG, False) else f"{int(row['count']):,}"


def _with_interval(row: Any, metric: str) -> str:
    if row.get(FLAG, False):
        return "suppressed"
    return _evidence(row[metric], row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"))


def _evidence(value: Any, low: Any, high: Any) -> str:
    """``0.605 [0.551, 0.658]``; ``undefined`` for a missing value."""
    if not _finite(value):
        return "undefined"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if _finite(low) and _finite(high) else f"{value:.3f}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------- Markdown
def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell or list item: pipes escaped, no line breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[Any]) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
