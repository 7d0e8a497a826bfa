"""What each section of a report shows: the result's tables and findings laid out and formatted.

Everything here reads a result that :meth:`fairaudit.result.AuditResult.suppressed` has already masked; nothing is
computed beyond choosing, ordering and formatting what the result holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from fairaudit.findings import Finding
from fairaudit.privacy import FLAG, Layout
from fairaudit.provenance import DATA_KEYS, MODEL_KEYS
from fairaudit.public import transparency
from fairaudit.report import charts, fmt
from fairaudit.report.estimated import estimates_context
from fairaudit.report.method import method
from fairaudit.tables import JOIN

if TYPE_CHECKING:
    from fairaudit.result import AuditResult

SEVERITY_WORDS = {"fail": "fail", "warn": "warning", "inconclusive": "inconclusive", "pass": "pass"}
TALLY = {"fail": ("fails", "fail"), "warn": ("is a warning", "are warnings"),
         "inconclusive": ("is inconclusive", "are inconclusive"), "pass": ("passes", "pass")}
FIRST_TABLE = ("selection_rate", "disparate_impact_ratio", "true_positive_rate", "false_positive_rate",
               "false_negative_rate", "true_negative_rate")
KEY_FINDINGS = (3, 5)  # at least, at most
MODEL_REPR_CHARS = 1200


def build(result: AuditResult) -> dict[str, Any]:
    """The template context of the full report."""
    meta = result.metadata
    public = transparency(meta)
    views = list(dict.fromkeys(result.by_group.index.get_level_values("attribute")))
    metric_names = [c for c in result.by_group.columns if f"{c}_ci_low" in result.by_group.columns]
    measure_names = list(dict.fromkeys(result.measures.index.get_level_values("measure")))
    chart_svgs: dict[str, str | None] = {}
    chart_keys: dict[str, list[tuple[str, str]]] = {}
    for name, draw in charts.CHARTS.items():
        try:
            figure = draw(result)
        except charts.ChartUnavailable:
            chart_svgs[name], chart_keys[name] = None, []
            continue
        chart_svgs[name], chart_keys[name] = charts.to_svg(figure, prefix=name), figure.fairaudit_key
    return {
        "title": public["title"] if public else title(meta),
        "transparency": public,
        "subtitle": _subtitle(meta),
        "author": (meta.get("model_info") or {}).get("owner", ""),
        "created": meta.get("created_utc", ""),
        "identity": identity(meta),
        "rates_caption": _rates_caption(result),
        "summary": summary(result),
        "training_note": _training_note(meta),
        "signoff": SIGNOFF,
        "verdict": verdict(result),
        "fingerprint": meta.get("fingerprint_sha256") or "not recorded",
        "version": (meta.get("versions") or {}).get("fairaudit", ""),
        "confidence": f"{meta['confidence']:.0%}" if "confidence" in meta else "confidence",
        "key_findings": [_finding(f) for f in key_findings(result.findings)],
        "findings": [_finding(f) for f in result.findings],
        "scope": scope(result, views),
        "overall": _overall(result.overall),
        "views": [_view(result, view, i, metric_names) for i, view in enumerate(views, start=1)],
        "charts": chart_svgs,
        "chart_keys": chart_keys,
        "recommendations": [_recommendation(r, i) for i, r in enumerate(result.recommendations, start=1)],
        "recommendations_note": _recommendations_note(result),
        "comparison": _comparison(result),
        "segments": _segments(result),
        "scores": _group_table(getattr(result, "score_quantiles", None), "{:.3f}"),
        "ranking": _ranking(result),
        "explanations": _explanations(getattr(result, "explanations", None)),
        "privacy": _privacy(result),
        "estimates": estimates_context(getattr(result, "estimates", None), meta),
        "method": method(metric_names, measure_names, segments=getattr(result, "segments", None) is not None,
                         scores=getattr(result, "score_quantiles", None) is not None,
                         ranking=getattr(result, "item_exposure", None) is not None,
                         estimated=getattr(result, "estimates", None) is not None),
    }


def title(meta: dict[str, Any]) -> str:
    """The audit's name (``name=`` / the config's ``title`` or ``name``), else the model's class."""
    return meta.get("name") or f"Fairness audit of the {meta.get('model') or 'audited'} model"


def identity(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Page 1's model and data identity: what was audited, by whom, on which rows."""
    model, data = meta.get("model_info") or {}, meta.get("data_info") or {}
    pairs = [
        ("model", model.get("name") or meta.get("model")),
        ("version", model.get("version")),
        ("owner", model.get("owner")),
        ("intended use", model.get("intended_use")),
        ("model file SHA-256", model.get("file_sha256")),
        *[(fmt.words(k), v) for k, v in model.items() if k not in MODEL_KEYS],
        ("data source", data.get("source")),
        ("data period", data.get("period")),
        *[(fmt.words(k), v) for k, v in data.items() if k not in DATA_KEYS],
        ("rows audited", fmt.count(meta["rows"]) if "rows" in meta else None),
        ("sensitive attributes", ", ".join(meta.get("sensitive") or [])),
        ("a positive decision", positive_decision(meta)),
        ("audited (UTC)", meta.get("created_utc")),
    ]
    return [(k, str(v)) for k, v in pairs if v not in (None, "")]


def positive_decision(meta: dict[str, Any]) -> str:
    """What a positive decision means: the owner's words, else the label and threshold that make one."""
    given = (meta.get("model_info") or {}).get("positive_decision")
    if given:
        return given
    if meta.get("task") == "segmentation":
        favorable = meta.get("favorable")
        return f"assignment to segment {', '.join(favorable)}" if favorable else "not defined (segments only)"
    outcome = f"{meta['target']} = {meta.get('pos_label', 1)}" if meta.get("target") else \
        f"the label {meta.get('pos_label', 1)}"
    if meta.get("targeted"):
        return f"being among the targeted top scores (predicted {outcome})"
    if meta.get("prediction_source", "").startswith("model") or meta.get("threshold") not in (None, 0.5):
        return f"predicted {outcome}: a score of at least {meta.get('threshold')}"
    return f"predicted {outcome}"


def summary(result: AuditResult) -> dict[str, Any]:
    """Which attributes and measures fail, which required checks could not be decided and why."""
    fails: dict[str, list[str]] = {}
    undecided: dict[str, list[str]] = {}
    rows = []
    for f in result.findings:
        failing = f.severity == "fail"
        open_required = f.required and f.severity in ("warn", "inconclusive")
        if not (failing or open_required):
            continue
        name = fmt.words(f.measure) if f.measure else TOPICS.get(f.code, f.code)
        (fails if failing else undecided).setdefault(f.attribute or "all views", []).append(name)
        rows.append({
            "attribute": f.attribute or "all views", "measure": name, "code": f.code,
            "value": fmt.number(f.value) if f.measure and fmt.is_number(f.value) else "",
            "interval": fmt.interval(f.ci_low, f.ci_high) if f.measure else "",
            "threshold": f.threshold or "", "severity": f.severity,
            "severity_word": "fail" if failing else "not decided",
            "reason": f.message if failing or f.severity == "inconclusive" else REASONS["warn"],
        })
    return {"fails": [(a, ", ".join(dict.fromkeys(m))) for a, m in fails.items()],
            "undecided": [(a, ", ".join(dict.fromkeys(m))) for a, m in undecided.items()],
            "rows": rows}


TOPICS = {"FA201": "small groups", "FA202": "missing sensitive values", "FA203": "single group",
          "FA401": "suppressed groups", "FA402": "undefined metrics"}
REASONS = {"warn": "The estimate lies beyond the limit but its interval reaches back within it: the data "
                   "cannot tell whether the model meets the policy (more people would decide it)."}
SIGNOFF = ("approve", "approve with conditions", "reject")


def _rates_caption(result: AuditResult) -> str:
    if "selection_rate" in result.by_group.columns:
        return (f"How often each group receives a positive decision ({positive_decision(result.metadata)}), "
                "with its interval; the dotted line is everyone's rate; n is the number of people.")
    return "Each group's mean score with its interval; the dotted line is everyone's; n is the number of people."


def _training_note(meta: dict[str, Any]) -> str:
    overlap = meta.get("training_rows_audited")
    if overlap is None:
        return ("Whether the audited rows include the model's training rows is not recorded (pass "
                "train_index= or the config key train_index).")
    if overlap == 0:
        return "None of the audited rows trained the model."
    return (f"{fmt.count(overlap)} of the {fmt.count(meta.get('rows'))} audited rows trained the model (finding "
            "FA204): error-rate measures on them look better than they will be on new people.")


def _subtitle(meta: dict[str, Any]) -> str:
    parts = [f"{fmt.count(meta['rows'])} rows" if "rows" in meta else None,
             f"sensitive attributes: {', '.join(meta['sensitive'])}" if meta.get("sensitive") else None,
             f"audited {meta['created_utc']}" if meta.get("created_utc") else None]
    return " · ".join(p for p in parts if p)


# ---------------------------------------------------------------------------- verdict and findings
def verdict(result: AuditResult) -> dict[str, Any]:
    """PASSED / FAILED / NOT DETERMINED and one plain sentence with the count of checks by severity."""
    counts = result.counts()
    total = sum(counts.values())
    tally = ", ".join(f"{n} {TALLY[s][n != 1]}" for s, n in counts.items() if n)
    state = result.verdict
    undecided = sum(f.required and f.severity in ("warn", "inconclusive") for f in result.findings)
    if state == "passed":
        sentence = (f"The model passes the fairness policy: every required check was decided and none of its "
                    f"{total} checks fails" + (f" ({tally})." if tally else "."))
    elif state == "failed":
        sentence = f"The model fails the fairness policy. Of {total} checks, {tally}."
    else:
        sentence = (f"The audit cannot say whether the model meets the fairness policy: no check fails, but "
                    f"{undecided} required check{'s' if undecided != 1 else ''} could not be decided "
                    f"(of {total} checks, {tally}).")
    return {"passed": state == "passed", "state": state, "label": state.replace("_", " ").upper(),
            "sentence": sentence, "counts": counts}


def key_findings(findings: list[Finding]) -> list[Finding]:
    """The findings that matter: every fail and warning up to five, topped up to three with the rest
    (findings come most severe first)."""
    low, high = KEY_FINDINGS
    serious = [f for f in findings if f.severity in ("fail", "warn")][:high]
    rest = [f for f in findings if f.severity not in ("fail", "warn")]
    return serious + rest[: max(low - len(serious), 0)]


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity,
        "severity_word": SEVERITY_WORDS.get(finding.severity, finding.severity),
        "attribute": finding.attribute or "all views",
        "measure": fmt.words(finding.measure) if finding.measure else "",
        "evidence": fmt.evidence(finding.value, finding.ci_low, finding.ci_high)
        if finding.measure else "",
        "threshold": finding.threshold or "",
        "message": finding.message,
    }


# ---------------------------------------------------------------------------- scope
def scope(result: AuditResult, views: list[str]) -> dict[str, Any]:
    """Model, data, sensitive groups with their counts, policy and versions."""
    meta = result.metadata
    model_repr = str(meta.get("model_repr", ""))
    if len(model_repr) > MODEL_REPR_CHARS:
        model_repr = model_repr[:MODEL_REPR_CHARS] + " …"
    data = [
        ("rows", fmt.count(meta["rows"]) if "rows" in meta else ""),
        ("columns", fmt.count(meta["columns"]) if "columns" in meta else ""),
        ("target", meta.get("target")),
        ("task", meta.get("task")),
        ("favourable label", meta.get("pos_label")),
        ("decision threshold", meta.get("threshold")),
        ("predictions from", meta.get("prediction_source")),
        ("weighted", {True: "yes", False: "no"}.get(meta.get("weighted"))),
        ("confidence level", f"{meta['confidence']:.0%}" if "confidence" in meta else None),
        ("bootstrap replicates", meta.get("n_boot")),
        ("random state", meta.get("random_state")),
        ("audited (UTC)", meta.get("created_utc")),
        ("data fingerprint (SHA-256)", meta.get("fingerprint_sha256")),
        ("policy SHA-256", meta.get("policy_sha256")),
        ("config file SHA-256", meta.get("config_sha256")),
        ("training rows audited", _training_note(meta)),
    ]
    sensitive = meta.get("sensitive") or [v for v in views if v in meta.get("sensitive", views)]
    groups = []
    for attribute in sensitive:
        if attribute not in views:
            continue
        table = _in_order(result.by_group.loc[attribute])
        groups.append({"attribute": attribute, "groups": [
            (label, fmt.SUPPRESSED if row.get(FLAG, False) else fmt.count(row["count"]))
            for label, row in table.iterrows()]})
    policy = result.policy
    return {
        "model": meta.get("model", ""),
        "model_repr": model_repr,
        "features": ", ".join(meta.get("features", [])),
        "data": [(k, v) for k, v in data if v not in (None, "")],
        "groups": groups,
        "crossings": [v for v in views if v not in sensitive],
        "thresholds": [(fmt.words(name), str(t)) for name, t in policy.thresholds.items()],
        "policy": [("smallest group for a conclusion", policy.min_group_size),
                   ("groups smaller than this are suppressed", policy.suppress_below),
                   ("attributes in scope", ", ".join(policy.attributes) if policy.attributes else "all"),
                   ("muted finding codes", ", ".join(policy.ignore) or "none")],
        "versions": sorted((meta.get("versions") or {}).items()),
    }


# ---------------------------------------------------------------------------- group metrics
def _cell(value: Any, low: Any = None, high: Any = None) -> dict[str, str]:
    return {"value": fmt.number(value), "interval": fmt.interval(low, high)}


def _overall(overall: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"metric": fmt.words(m), **_cell(r["value"], r["ci_low"], r["ci_high"])} for m, r in overall.iterrows()]


def _in_order(table: pd.DataFrame) -> pd.DataFrame:
    """A view's groups in their natural order (``<25``, ``25-44``, ``45-64``, ``65+``)."""
    return table.reindex(fmt.ordered(table.index))


def _crossing_order(result: AuditResult, view: str) -> pd.DataFrame:
    """A crossing's groups ordered by each attribute's natural order in turn (``female & <25`` before
    ``female & 25-44``), from the groups' values, never from their joined names."""
    table = result.by_group.loc[view]
    layout = Layout.of(result.metadata, result.by_group.index)
    parts = [layout.values[(view, label)] for label in table.index]
    ranks = [{v: i for i, v in enumerate(fmt.ordered(dict.fromkeys(p[k] for p in parts)))}
             for k in range(len(parts[0]) if parts else 0)]
    order = sorted(range(len(parts)), key=lambda i: tuple(rank[v] for rank, v in zip(ranks, parts[i], strict=True)))
    return table.iloc[order]


def _view(result: AuditResult, view: str, number: int, metric_names: list[str]) -> dict[str, Any]:
    table = _in_order(result.by_group.loc[view]) if JOIN not in view else _crossing_order(result, view)
    hidden = table[FLAG].fillna(False).astype(bool) if FLAG in table.columns else pd.Series(False, table.index)
    first = [m for m in FIRST_TABLE if m in metric_names]
    rest = [m for m in metric_names if m not in first]
    tables = []
    for names in [c for c in (first, rest) if c] or [[]]:
        rows = []
        for label, row in table[~hidden.to_numpy()].iterrows():
            rows.append({
                "group": label,
                "count": fmt.count(row["count"]),
                "share": fmt.percent(row["share"]),
                "cells": [_cell(row[m], row.get(f"{m}_ci_low"), row.get(f"{m}_ci_high")) for m in names],
            })
        tables.append({"columns": [fmt.words(m) for m in names], "rows": rows})
    return {
        "name": view,
        "anchor": f"view-{number}",
        "tables": tables if len(table) > int(hidden.sum()) else [],
        "suppressed": [str(label) for label in table.index[hidden.to_numpy()]],
        "groups": len(table),
        "disparities": _disparities(result.disparities, view),
        "measures": _measures(result, view),
    }


def _comparison(result: AuditResult) -> dict[str, Any] | None:
    """Each measure against the baseline audit, with the FA501 verdict."""
    table = getattr(result, "comparison", None)
    if table is None:
        return None
    verdicts = {(f.attribute, f.measure): f.severity for f in result.findings if f.code == "FA501"}
    rows = []
    for (attribute, measure), row in table.iterrows():
        severity = verdicts.get((attribute, measure), "")
        rows.append({
            "attribute": attribute, "measure": fmt.words(measure),
            "withheld": bool(row.get(FLAG, False)),
            "old": fmt.number(row["old"]), "new": fmt.number(row["new"]),
            **_cell(row["change"], row["change_ci_low"], row["change_ci_high"]),
            "severity": severity, "severity_word": SEVERITY_WORDS.get(severity, ""),
        })
    baseline = result.metadata.get("baseline") or {}
    return {"rows": rows, "created": baseline.get("created_utc") or "unknown date",
            "fingerprint": baseline.get("fingerprint_sha256") or "not recorded",
            "max_regression": f"{result.policy.max_regression:g}"}


def _disparities(disparities: pd.DataFrame, view: str) -> list[dict[str, Any]]:
    if view not in disparities.index.get_level_values("attribute"):
        return []
    rows = []
    for metric, row in disparities.loc[view].iterrows():
        rows.append({
            "metric": fmt.words(metric),
            "withheld": bool(row.get(FLAG, False)),
            "difference": _cell(row["difference"], row["difference_ci_low"], row["difference_ci_high"]),
            "ratio": _cell(row["ratio"], row["ratio_ci_low"], row["ratio_ci_high"]),
            "p_value": fmt.p_value(row["p_value_adjusted"]),
            "lowest": row["min_group"] if isinstance(row["min_group"], str) else "",
            "highest": row["max_group"] if isinstance(row["max_group"], str) else "",
        })
    return rows


def _measures(result: AuditResult, view: str) -> list[dict[str, Any]]:
    if view not in result.measures.index.get_level_values("attribute"):
        return []
    severity = {f.measure: f.severity for f in result.findings
                if f.attribute == view and f.measure and not f.code.startswith("FA5")}
    rows = []
    for measure, row in result.measures.loc[view].iterrows():
        threshold = result.policy.thresholds.get(measure)
        rows.append({
            "measure": fmt.words(measure),
            "withheld": bool(row.get(FLAG, False)),
            **_cell(row["value"], row["ci_low"], row["ci_high"]),
            "threshold": str(threshold) if threshold is not None else "",
            "severity": severity.get(measure, ""),
            "severity_word": SEVERITY_WORDS.get(severity.get(measure, ""), ""),
        })
    return rows


# ---------------------------------------------------------------------------- segments, scores, explanations
def _group_table(table: pd.DataFrame | None, pattern: str, low: pd.DataFrame | None = None,
                 high: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """A per-group table (segment shares, score quantiles) laid out per view; suppressed rows marked."""
    if table is None:
        return []
    out = []
    for view in dict.fromkeys(table.index.get_level_values("attribute")):
        rows = []
        for group, row in table.loc[view].iterrows():
            cells = []
            for column, value in row.items():
                span = fmt.interval(low.loc[(view, group), column], high.loc[(view, group), column]) \
                    if low is not None and high is not None else ""
                cells.append({"value": pattern.format(value) if fmt.is_number(value) else fmt.UNDEFINED,
                              "interval": span})
            rows.append({"group": group, "suppressed": not any(fmt.is_number(v) for v in row),
                         "cells": cells})
        out.append({"name": view, "columns": [str(c) for c in table.columns], "rows": rows})
    return out


def _segments(result: AuditResult) -> list[dict[str, Any]]:
    shares = getattr(result, "segments", None)
    return _group_table(shares, "{:.1%}", getattr(result, "segments_ci_low", None),
                        getattr(result, "segments_ci_high", None))


def _ranking(result: AuditResult) -> dict[str, Any] | None:
    """Ranking audits: favourable items by position per group, and the item-side exposure table."""
    items = getattr(result, "item_exposure", None)
    if items is None:
        return None
    meta = result.metadata
    columns = [c for c in ("shown", "exposure_share", "relevance_share", "exposure_per_merit") if c in items.columns]
    patterns = {"shown": "{:,.0f}", "exposure_share": "{:.1%}", "relevance_share": "{:.1%}",
                "exposure_per_merit": "{:.2f}"}
    rows = [{"item": str(name), "cells": [patterns[c].format(row[c]) if fmt.is_number(row[c]) else fmt.UNDEFINED
                                          for c in columns]} for name, row in items.iterrows()]
    ratio = meta.get("exposure_per_merit_ratio")
    return {
        "k": meta.get("top_k"), "query": meta.get("query"), "item": meta.get("item"),
        "customers": fmt.count(meta["customers"]) if "customers" in meta else "",
        "favorable": ", ".join(meta.get("favorable") or []),
        "lists_without_relevant": meta.get("lists_without_relevant"),
        "positions": _group_table(getattr(result, "ranking_positions", None), "{:.1%}"),
        "item_columns": [c.replace("_", " ") for c in columns], "item_rows": rows,
        "exposure_per_merit_ratio": f"{ratio:.2f}" if fmt.is_number(ratio) else None,
    }


EXPLAINED_FEATURES = 5


def _explanations(explanations: Any) -> dict[str, Any] | None:
    """The gap of each group with its largest parts, and the proxy table."""
    if explanations is None:
        return None
    gaps = []
    frame = explanations.gap
    for attribute, group in dict.fromkeys((a, g) for a, g, _ in frame.index):
        rows = frame.loc[(attribute, group)]
        total = rows.loc["(total gap)"] if "(total gap)" in rows.index else None
        features = rows.drop(index=[i for i in rows.index if str(i).startswith("(")], errors="ignore")
        top = features.reindex(features["contribution"].abs().sort_values(ascending=False).index)
        top = top.head(EXPLAINED_FEATURES)
        gaps.append({
            "attribute": attribute, "group": group,
            "suppressed": total is not None and not fmt.is_number(total["contribution"]),
            "total": fmt.evidence(total["contribution"], total.get("ci_low"), total.get("ci_high"))
            if total is not None else "",
            "parts": [{"feature": f, "share": fmt.evidence(r["contribution"], r.get("ci_low"), r.get("ci_high"))}
                      for f, r in top.iterrows()],
        })
    proxies = []
    for (attribute, feature), row in explanations.proxies.iterrows():
        proxies.append({"attribute": attribute, "feature": feature, "group": row.get("group", ""),
                        "association": fmt.number(row.get("association")),
                        "importance": fmt.percent(row.get("importance")),
                        "flag": bool(row.get("flag", False)),
                        "suppressed": not fmt.is_number(row.get("association"))})
    return {"units": explanations.units, "explainer": explanations.explainer,
            "sample_rows": fmt.count(explanations.sample_rows), "reference": explanations.reference,
            "association": explanations.association, "gaps": gaps, "proxies": proxies}


# ---------------------------------------------------------------------------- recommendations, privacy
def _recommendation(rec: Any, number: int) -> dict[str, Any]:
    effect = []
    if rec.effect is not None:
        for measure, row in rec.effect.iterrows():
            effect.append({"measure": fmt.words(measure),
                           "before": fmt.evidence(row.get("before"), row.get("before_ci_low"),
                                                  row.get("before_ci_high")) or fmt.UNDEFINED,
                           "after": fmt.evidence(row.get("after"), row.get("after_ci_low"),
                                                 row.get("after_ci_high")) or fmt.UNDEFINED})
    clears = {True: "yes", False: "no", None: "not simulated"}[rec.clears_policy]
    return {
        "number": number, "title": rec.title, "mitigation": rec.mitigation,
        "addresses": ", ".join(rec.addresses), "rationale": rec.rationale,
        "prerequisites": rec.prerequisites, "caveats": rec.caveats, "clears_policy": clears,
        "rank": _rank_words(rec), "effect": effect, "warnings": list(getattr(rec, "warnings", ())),
    }


RANKING = ("Recommendations are ranked: first those whose simulated model clears the policy, then those with "
           "a measured effect, and within each the one that removes the most disparity beyond the policy's "
           "limits (summed over the measures) per point of balanced accuracy it costs; advice without a "
           "measured effect comes last.")


def _rank_words(rec: Any) -> str:
    """The recommendation's ranking number said in words."""
    if rec.score is None or rec.effect is None:
        return ""
    cost = ""
    if "balanced_accuracy" in rec.effect.index:
        before, after = rec.effect.loc["balanced_accuracy", ["before", "after"]]
        if fmt.is_number(before) and fmt.is_number(after):
            cost = f"; balanced accuracy {fmt.number(before)} before, {fmt.number(after)} after"
    verb = "removes" if rec.score >= 0 else "adds"
    return f"{verb} {fmt.number(abs(rec.score))} of disparity beyond the limits per point of balanced accuracy " \
           f"lost{cost}"


def _recommendations_note(result: AuditResult) -> dict[str, Any]:
    """How the effects were measured, how the list is ranked, and whether any option clears the policy."""
    simulated = [r for r in result.recommendations if r.effect is not None]
    rows = next((r.held_out_rows for r in simulated if getattr(r, "held_out_rows", None)), None)
    measured = ""
    if simulated:
        measured = ("Each simulated mitigation was fitted on one half of the audited rows and measured, with the "
                    f"original model, on the same other half ({fmt.count(rows) if rows else 'the held-out'} rows, "
                    "stratified by group and label): that is why the values before differ from the headline "
                    "figures, which use every audited row.")
    none_clears = bool(simulated) and not any(r.clears_policy for r in simulated)
    return {"measured": measured, "ranking": RANKING if simulated else "",
            "none_clears": "No simulated mitigation clears the policy: none is enough on its own; combine them, "
                           "collect more data, or revisit the model." if none_clears else ""}


def _privacy(result: AuditResult) -> dict[str, Any]:
    flags = result.by_group[FLAG] if FLAG in result.by_group.columns else pd.Series(dtype=bool)
    return {"suppress_below": result.policy.suppress_below, "suppressed": int(flags.sum()),
            "groups": int(len(flags))}


# ---------------------------------------------------------------------------- notebook view
HEADLINE = ("demographic_parity_difference", "equalized_odds_difference", "disparate_impact_ratio")


def notebook(result: AuditResult) -> dict[str, Any]:
    """The compact view for notebooks: verdict, key findings, headline measures per view."""
    measures = result.measures
    views = list(dict.fromkeys(measures.index.get_level_values("attribute")))
    names = list(dict.fromkeys(measures.index.get_level_values("measure")))
    columns = [m for m in HEADLINE if m in names] or names[:3]  # score and segmentation audits
    rows = []
    for view in views:
        cells = []
        for name in columns:
            if (view, name) not in measures.index:
                cells.append({"value": "", "interval": "", "withheld": False})
                continue
            row = measures.loc[(view, name)]
            cells.append({**_cell(row["value"], row["ci_low"], row["ci_high"]),
                          "withheld": bool(row.get(FLAG, False))})
        rows.append({"view": view, "cells": cells})
    try:
        figure = charts.rates(result)
        chart, chart_key = charts.to_svg(figure, prefix="notebook-rates"), figure.fairaudit_key
    except charts.ChartUnavailable:
        chart, chart_key = None, []
    return {
        "title": title(result.metadata),
        "subtitle": _subtitle(result.metadata),
        "verdict": verdict(result),
        "chart": chart,
        "chart_key": chart_key,
        "key_findings": [_finding(f) for f in key_findings(result.findings)],
        "columns": [fmt.words(c) for c in columns],
        "rows": rows,
        "privacy": _privacy(result),
    }
