"""SHAP explanations of group differences: importance per group, gap decomposition, proxy features.

``explain(model, data, sensitive=..., features=...)`` explains a stratified sample of rows with the
fastest exact path the model allows and keeps only aggregates (:class:`Explanations`);
``explanation_findings`` turns them into findings FA301 (proxy) and FA302 (sensitive input).
"""

from fairaudit.explain.checks import explanation_findings
from fairaudit.explain.core import explain
from fairaudit.explain.explanations import Explanations

__all__ = ["Explanations", "explain", "explanation_findings"]
