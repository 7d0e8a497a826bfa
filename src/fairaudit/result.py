"""AuditResult: the tables of an audit, its metadata, and their serialisation."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fairaudit.findings import SEVERITIES, Finding, verdict_of
from fairaudit.policy import Policy
from fairaudit.privacy import FLAG, GROUP_TABLES, MASKED, Layout, suppress, suppressed_groups
from fairaudit.recommendations import Recommendation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SCHEMA_VERSION = "1.0"
TABLES = ("by_group", "overall", "disparities", "measures")
HEADLINE_MEASURES = ("demographic_parity_difference", "equalized_odds_difference", "disparate_impact_ratio",
                     "favorable_exposure_ratio", "favorable_in_top_k_difference", "ndcg_at_k_difference")


@dataclass(eq=False)
class AuditResult:
    """The outcome of :func:`fairaudit.audit`.

    Attributes
    ----------
    by_group : DataFrame indexed by (``attribute``, ``group``): ``count``, ``share``, every metric and
        its ``_ci_low`` / ``_ci_high``; unweighted score audits also ``scoring_rate`` (the share strictly above
        the median score of all audited rows, for NYC Local Law 144).
    overall : DataFrame indexed by ``metric``: ``value``, ``ci_low``, ``ci_high`` on all rows.
    disparities : DataFrame indexed by (``attribute``, ``metric``): ``difference`` (max - min),
        ``ratio`` (min / max), their intervals, ``p_value``, ``p_value_adjusted`` (Holm),
        ``min_group``, ``max_group``.
    measures : DataFrame indexed by (``attribute``, ``measure``): ``value``, ``ci_low``, ``ci_high``.
    metadata : rows, time, versions, options and a SHA-256 fingerprint of the audited columns.
    findings : every check of the policy, most severe first (passing checks included).
    policy : the policy the findings were judged by.
    recommendations : mitigations for the findings, best first, with their measured effect when simulated.
    explanations : with ``explain=True``, a :class:`fairaudit.explain.Explanations` (per-group SHAP
        importance, gap decomposition with intervals, proxy features); aggregates only.
    comparison : with a baseline audit (``fairaudit run --baseline``): per (``attribute``, ``measure``)
        ``old``, ``new``, ``change`` and its interval, and ``worsening`` (see :mod:`fairaudit.drift`).
    pairwise : DataFrame indexed by (``attribute``, ``metric``, ``group_a``, ``group_b``): every pair of
        compared groups' ``difference`` (a - b) and ``ratio`` (a / b) with intervals simultaneous over the
        view's pairs; rows of groups hidden for privacy are left out of the JSON.
    estimates : with estimated attributes (``sensitive_proba``): per (``attribute``, ``group``, ``metric``)
        the ``weighted`` and ``corrected`` values, the corrected interval, ``effective_size``, the mixing
        matrix's ``condition`` and whether the group is ``identified`` (see :mod:`fairaudit.estimated`).
    statistics : the audit's sufficient statistics in memory (:class:`fairaudit.public.Statistics`), for
        :meth:`to_public`; never serialised.
    segments : segmentation audits: each group's share in each segment (index (``attribute``, ``group``),
        one column per segment, rows sum to 1), with Wilson intervals in ``segments_ci_low/_high``.
    ranking_positions : ranking audits with favourable items: per (``attribute``, ``group``) and position
        (columns ``"1"``, ``"2"``, ...), the share of the group's customers shown a favourable item there.
    item_exposure : ranking audits: per item, ``shown``, ``exposure`` and ``exposure_share``; with a target
        ``relevance``, ``relevance_share`` and ``exposure_per_merit`` (see :mod:`fairaudit.ranking`).
    """

    by_group: pd.DataFrame
    overall: pd.DataFrame
    disparities: pd.DataFrame
    measures: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    recommendations: list[Recommendation] = field(default_factory=list)
    segments: pd.DataFrame | None = None
    segments_ci_low: pd.DataFrame | None = None
    segments_ci_high: pd.DataFrame | None = None
    score_quantiles: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    explanations: Any = None
    ranking_positions: pd.DataFrame | None = None
    item_exposure: pd.DataFrame | None = None
    pairwise: pd.DataFrame | None = None
    statistics: Any = field(default=None, repr=False)
    estimates: pd.DataFrame | None = None

    @property
    def verdict(self) -> str:
        """``"passed"``, ``"failed"`` or ``"not_determined"`` (no check fails, but a required one could not
        be decided); see :func:`fairaudit.findings.verdict_of`."""
        return verdict_of(self.findings)

    @property
    def passed(self) -> bool:
        """True only when the verdict is ``"passed"``: nothing fails and every required check was decided."""
        return self.verdict == "passed"

    def summary(self) -> pd.DataFrame:
        """The findings as a table, most severe first."""
        columns = ["code", "severity", "attribute", "measure", "value", "ci_low", "ci_high", "threshold",
                   "message"]
        return pd.DataFrame([{c: getattr(f, c) for c in columns} for f in self.findings], columns=columns)

    def counts(self) -> dict[str, int]:
        """How many findings of each severity."""
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: tables as lists of records (NaN as null), plus metadata.

        Built from :meth:`suppressed`'s copy: every record of ``by_group``, ``disparities`` and ``measures``
        carries ``suppressed`` (true: its numbers are null to protect a small group)."""
        shown = self.suppressed()
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "passed": shown.passed,
            "verdict": shown.verdict,
            "metadata": _clean(shown.metadata),
            "policy": shown.policy.to_dict(),
            "findings": _clean([f.to_dict() for f in shown.findings]),
            "recommendations": _clean([r.to_dict() for r in shown.recommendations]),
        }
        for name in TABLES:
            out[name] = _records(getattr(shown, name))
        for name in GROUP_TABLES:
            table = getattr(shown, name, None)
            out[name] = None if table is None else _records(table)
        explanations = getattr(shown, "explanations", None)
        out["explanations"] = None if explanations is None else explanations.to_dict()
        out["comparison"] = None if shown.comparison is None else _records(shown.comparison)
        out["item_exposure"] = None if self.item_exposure is None else _records(self.item_exposure)
        out["pairwise"] = None if self.pairwise is None else _records(_shown_pairs(self.pairwise, self))
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """The result as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)
        if path is not None:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> AuditResult:
        """Rebuild a result from :meth:`to_dict` output; refuses a newer schema than this version reads."""
        version = str(payload.get("schema_version", ""))
        if not version:
            raise ValueError("Not a fairaudit result: it has no 'schema_version'.")
        if int(version.split(".")[0]) > int(SCHEMA_VERSION.split(".")[0]):
            raise ValueError(
                f"This audit was saved with schema_version {version}, newer than the {SCHEMA_VERSION} "
                "this fairaudit reads. Upgrade fairaudit to read it."
            )
        tables = {name: _table(payload[name]) for name in TABLES}
        count = tables["by_group"]["count"]
        tables["by_group"]["count"] = count.astype("Int64" if count.isna().any() else "int64")
        known = {f.name for f in dataclasses.fields(cls)}
        for name in GROUP_TABLES:
            if name in known and payload.get(name) is not None:
                tables[name] = _table(payload[name], columns_name="segment" if name.startswith("segments")
                                      else "position" if name == "ranking_positions" else None)
        if payload.get("comparison") is not None:
            tables["comparison"] = _table(payload["comparison"])
        if payload.get("item_exposure") is not None:
            tables["item_exposure"] = _table(payload["item_exposure"])
        if payload.get("pairwise") is not None:
            tables["pairwise"] = _table(payload["pairwise"])
        if "explanations" in known and payload.get("explanations") is not None:
            from fairaudit.explain import Explanations

            tables["explanations"] = Explanations.from_dict(payload["explanations"])
        return cls(
            metadata=without_model_card(payload.get("metadata", {})),
            findings=[Finding.from_dict(f) for f in payload.get("findings", [])],
            policy=Policy.from_dict(payload["policy"]) if "policy" in payload else Policy(),
            recommendations=[Recommendation.from_dict(r) for r in payload.get("recommendations", [])],
            **tables,
        )

    # ------------------------------------------------------------------ regulators' formats
    def compliance(self, standard: str, *, attributes: Mapping[str, str] | Sequence[str] | None = None,
                   suppress: bool = True) -> pd.DataFrame:
        """The table a standard prescribes: ``"nyc_ll144"`` (NYC Local Law 144 bias audit: rates and impact
        ratios per category of sex, race/ethnicity and their crossing) or ``"eeoc_four_fifths"`` (EEOC
        four-fifths rule with Fisher's exact test and the shortfall); see :mod:`fairaudit.compliance.tables`.

        ``attributes`` maps ``{"sex": column, "race": column}`` (default: the audit's
        ``compliance_attributes``, else its sensitive attributes). Small groups are suppressed as in the
        report unless ``suppress=False``; ``table.attrs`` records which, and the rules applied.
        """
        table = _above("fairaudit.compliance", "compliance_table")
        return table(self, standard, attributes=attributes, suppress=suppress)

    def model_card(self, *, intended_use: str | None = None, data_period: str | None = None) -> str:
        """A model-card section in Markdown (Google Model Card fields; EU AI Act Art. 10 and 13): intended
        use, evaluation data, groups and sizes, performance per group with intervals, limitations from the
        findings, mitigations with their measured effect. Small groups are suppressed."""
        card = _above("fairaudit.compliance", "model_card_markdown")
        return card(self, intended_use=intended_use, data_period=data_period)

    def to_public(self, *, epsilon: float, delta: float = 0.0, random_state: Any = None,
                  privacy_unit: str | None = None, max_rows_per_unit: int = 1,
                  score_range: tuple[float, float] | None = None) -> AuditResult:
        """A transparency report: a new result whose every number is computed from sufficient statistics
        noised by OpenDP under ``(epsilon, delta)``-differential privacy, with intervals widened to carry the
        noise and ``metadata["privacy"]`` saying how (see :mod:`fairaudit.public.publication`).

        ``privacy_unit`` names a column identifying one person when a person has several rows; at most
        ``max_rows_per_unit`` of each person's rows are kept. ``random_state`` seeds the intervals only:
        OpenDP's noise is never seeded. A score audit needs ``score_range=(low, high)``, public bounds of the
        score. Needs the ``dp`` extra (OpenDP)."""
        return _above("fairaudit.public", "publish")(
            self, epsilon=epsilon, delta=delta, random_state=random_state, privacy_unit=privacy_unit,
            max_rows_per_unit=max_rows_per_unit, score_range=score_range)

    # ------------------------------------------------------------------ display
    def headline(self) -> pd.DataFrame:
        """The named measures that decide most audits, one row per attribute."""
        table = self.measures["value"].unstack("measure")
        return table[[m for m in HEADLINE_MEASURES if m in table.columns]]

    def suppressed(self) -> AuditResult:
        """The copy every report, JSON file and notebook view shows: small groups hidden, the measures they
        decide withheld (see :mod:`fairaudit.privacy`)."""
        tables = {name: getattr(self, name) for name in MASKED}
        return dataclasses.replace(self, **suppress(tables, suppress_below=self.policy.suppress_below,
                                                    metadata=self.metadata))

    def __repr__(self) -> str:
        shown = self.suppressed()
        meta = shown.metadata
        counts = ", ".join(f"{n} {s}" for s, n in shown.counts().items() if n)
        lines = [
            f"AuditResult: {shown.verdict.replace('_', ' ').upper()} ({counts or 'no findings'})",
            f"{meta.get('rows', '?')} rows, sensitive {', '.join(meta.get('sensitive', []))}, "
            f"{len(shown.by_group)} groups in {shown.by_group.index.get_level_values(0).nunique()} views",
            shown.headline().round(3).to_string(),
        ]
        lines += [f"[{f.severity}] {f.code} {f.message}" for f in shown.findings if f.severity in ("fail", "warn")][:5]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The notebook view: verdict, the key findings and the headline measures, small groups suppressed."""
        return _above("fairaudit.report", "render_notebook")(self)

    # ------------------------------------------------------------------ reports
    def to_html(self, path: str | Path | None = None) -> str:
        """The report as one self-contained HTML document (inline CSS and SVG charts, no script, nothing
        loaded from the network); also written to ``path`` when given. Small groups are suppressed."""
        text = _above("fairaudit.report", "render_html")(self)
        if path is not None:
            _write(path, text.encode("utf-8"))
        return text

    def to_pdf(self, path: str | Path | None = None) -> bytes:
        """The report as PDF (WeasyPrint: title page, contents, page numbers, fonts embedded); also written
        to ``path`` when given."""
        data = _above("fairaudit.report", "render_pdf")(self)
        if path is not None:
            _write(path, data)
        return data

    def plot(self, kind: str = "forest") -> Figure:
        """One chart of the report as a matplotlib Figure, drawn from the suppressed result.

        ``kind`` is ``"rates"`` (each group's selection rate with its interval), ``"forest"`` (each
        disparity measure with its interval and the policy's limit),
        ``"heatmap"`` (selection rate in each two-way crossing) or ``"tradeoff"`` (each simulated
        recommendation's disparity after against its accuracy after). A chart the result holds nothing
        for raises :class:`fairaudit.report.ChartUnavailable` (a ``ValueError``). In a notebook the figure
        shows as an image. Names longer than 18 characters are shortened to a code and their start, with the
        key drawn beneath the figure (and kept as ``figure.fairaudit_key``).
        """
        _above("fairaudit.report", "show_in_notebooks")()
        charts = _above("fairaudit.report", "CHARTS")
        if kind not in charts:
            raise ValueError(f"The 'kind' parameter of plot must be one of {', '.join(map(repr, charts))}; "
                             f"got {kind!r}.")
        return _above("fairaudit.report", "with_key")(charts[kind](self.suppressed()))


def _above(module: str, name: str) -> Any:
    """The one seam from the result up to the layers that present it (:mod:`fairaudit.report`,
    :mod:`fairaudit.compliance`, :mod:`fairaudit.public`): the convenience methods ``to_html``, ``to_pdf``,
    ``plot``, the notebook view, ``compliance``, ``model_card`` and ``to_public`` look their function up here,
    by name and only when called, so the result layer never imports a layer above it (the import-linter
    contract in ``pyproject.toml`` checks every other import)."""
    return getattr(importlib.import_module(module), name)


def load(path: str | Path) -> AuditResult:
    """Read an audit saved with :meth:`AuditResult.to_json`."""
    return AuditResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _shown_pairs(pairwise: pd.DataFrame, result: AuditResult) -> pd.DataFrame:
    """The pairs without any group that privacy hides."""
    hidden = suppressed_groups(result.by_group, result.policy.suppress_below,
                               Layout.of(result.metadata, result.by_group.index))
    if not hidden or pairwise.empty:
        return pairwise
    attribute = pairwise.index.get_level_values("attribute")
    keep = [(a, x) not in hidden and (a, y) not in hidden for a, x, y in zip(
        attribute, pairwise.index.get_level_values("group_a"), pairwise.index.get_level_values("group_b"), strict=True)]
    return pairwise[pd.Series(keep, index=pairwise.index, dtype=bool)]


def _records(table: pd.DataFrame) -> dict[str, Any]:
    """A table as its index names and a list of records (NaN as null)."""
    return {"index": list(table.index.names), "records": _clean(table.reset_index().to_dict(orient="records"))}


def _table(spec: dict[str, Any], columns_name: str | None = None) -> pd.DataFrame:
    """A table from its JSON records; the ``suppressed`` flag is kept only when some row has it set."""
    index = spec["index"]
    frame = pd.DataFrame.from_records(spec["records"])
    if frame.empty:
        frame = pd.DataFrame(columns=index)
    if FLAG in frame.columns:
        flags = frame[FLAG].fillna(False).astype(bool)
        frame = frame.assign(**{FLAG: flags}) if flags.any() else frame.drop(columns=FLAG)
    text = set(index) | {"min_group", "max_group", FLAG}
    frame = frame.set_index(index).astype({c: float for c in frame.columns if c not in text})
    frame.columns.name = columns_name
    return frame


def _write(path: str | Path, data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


MODEL_CARD_KEYS = {"intended_use": ("model_info", "intended_use"), "data_period": ("data_info", "period")}
"""Where each key of the former ``model_card`` section (config key, saved metadata) now lives."""


def without_model_card(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata saved with the former ``model_card`` section, its keys moved into ``model_info`` /
    ``data_info`` where those do not already say otherwise."""
    card = meta.get("model_card")
    if not isinstance(card, dict):
        return meta
    moved = {k: v for k, v in meta.items() if k != "model_card"}
    for key, value in card.items():
        if key in MODEL_CARD_KEYS:
            section, field_name = MODEL_CARD_KEYS[key]
            moved[section] = {field_name: str(value), **(moved.get(section) or {})}
    return moved
