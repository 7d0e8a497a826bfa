"""The catalogue of mitigations: which findings each addresses, why, what it needs, its caveats.

Data, not code paths: :mod:`fairaudit.mitigation` looks entries up by the codes of the findings that
failed or warned, and runs those that can be simulated (``simulate`` names the runner).
"""

from __future__ import annotations

from dataclasses import dataclass

PARITY = ("FA101", "FA102", "FA103")
ODDS = ("FA104", "FA105")
OPPORTUNITY = ("FA106", "FA107")
SENSITIVE_AT_DECISION = (
    "It needs the sensitive attribute of every person at decision time and treats groups differently "
    "by design; in many jurisdictions (e.g. EU non-discrimination law, US fair-lending rules) using the "
    "protected attribute this way is restricted or unlawful: ask legal counsel before deploying it."
)
REFIT = "A model that can be refitted (scikit-learn compatible, its final step accepting sample_weight)."


@dataclass(frozen=True)
class CatalogueEntry:
    key: str
    title: str
    addresses: tuple[str, ...]
    rationale: str
    prerequisites: str
    caveats: str
    simulate: str | None  # runner name in fairaudit.mitigation, None for advice only
    constraint: str | None = None


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        "threshold_optimizer_demographic_parity", "Group-specific thresholds for equal selection rates",
        PARITY,
        "fairlearn's ThresholdOptimizer keeps the model and picks, per group, the decision threshold that "
        "maximises accuracy subject to equal selection rates (demographic parity).",
        "The fitted model's scores; the sensitive attribute at decision time.",
        SENSITIVE_AT_DECISION + " Decisions near the thresholds are randomised.",
        "threshold_optimizer", "demographic_parity",
    ),
    CatalogueEntry(
        "threshold_optimizer_equalized_odds", "Group-specific thresholds for equal error rates",
        ODDS,
        "fairlearn's ThresholdOptimizer picks per-group (randomised) thresholds so that true and false "
        "positive rates are equal across groups (equalized odds).",
        "The fitted model's scores; the sensitive attribute at decision time; true labels to fit on.",
        SENSITIVE_AT_DECISION + " Equalising both error rates usually costs more accuracy than parity alone.",
        "threshold_optimizer", "equalized_odds",
    ),
    CatalogueEntry(
        "threshold_optimizer_true_positive_rate_parity", "Group-specific thresholds for equal opportunity",
        OPPORTUNITY,
        "fairlearn's ThresholdOptimizer picks per-group thresholds so that the qualified (true positives) "
        "of every group are recognised at the same rate.",
        "The fitted model's scores; the sensitive attribute at decision time; true labels to fit on.",
        SENSITIVE_AT_DECISION,
        "threshold_optimizer", "true_positive_rate_parity",
    ),
    CatalogueEntry(
        "exponentiated_gradient_demographic_parity", "Retrain under a demographic-parity constraint",
        PARITY,
        "fairlearn's ExponentiatedGradient reduction retrains the model as a randomised mixture of models "
        "that satisfies demographic parity up to a tolerance, without using the attribute at decision time.",
        REFIT + " The sensitive attribute for the training data only.",
        "Retraining takes several model fits; the result is a randomised classifier that must be "
        "re-validated like any new model.",
        "exponentiated_gradient", "demographic_parity",
    ),
    CatalogueEntry(
        "exponentiated_gradient_equalized_odds", "Retrain under an equalized-odds constraint",
        ODDS,
        "fairlearn's ExponentiatedGradient retrains the model subject to equal true and false positive "
        "rates across groups.",
        REFIT + " True labels and the sensitive attribute for the training data.",
        "Retraining takes several model fits and produces a randomised classifier; labels carrying "
        "historical bias are reproduced, not corrected.",
        "exponentiated_gradient", "equalized_odds",
    ),
    CatalogueEntry(
        "exponentiated_gradient_true_positive_rate_parity", "Retrain under an equal-opportunity constraint",
        OPPORTUNITY,
        "fairlearn's ExponentiatedGradient retrains the model subject to equal true positive rates.",
        REFIT + " True labels and the sensitive attribute for the training data.",
        "Retraining takes several model fits and produces a randomised classifier.",
        "exponentiated_gradient", "true_positive_rate_parity",
    ),
    CatalogueEntry(
        "reweighing", "Reweigh the training data (Kamiran & Calders)",
        PARITY,
        "Weights each (group, label) cell by P(group) P(label) / P(group, label) so that label and group "
        "are independent in the training data, then retrains the same model.",
        REFIT + " True labels and the sensitive attribute for the training data only.",
        "Reduces, rarely removes, a disparity; it changes no decision rule, so check the effect measured here.",
        "reweighing",
    ),
    CatalogueEntry(
        "correlation_remover", "Remove the sensitive attribute's linear trace from numeric features",
        PARITY,
        "fairlearn's CorrelationRemover projects numeric features onto the space uncorrelated with the "
        "sensitive attribute before retraining, so the model cannot read the attribute through them.",
        REFIT + " At least one numeric feature; the sensitive attribute at training and scoring time.",
        "Only linear correlation is removed; categorical proxies stay. The attribute is needed to transform "
        "new data.",
        "correlation_remover",
    ),
    CatalogueEntry(
        "per_group_recalibration", "Recalibrate scores per group",
        ("FA108",),
        "Fits an isotonic calibration map per group so that a score means the same probability in every "
        "group; thresholds then act on comparable numbers.",
        "Scores; true labels; the sensitive attribute at scoring time.",
        SENSITIVE_AT_DECISION + " Calibration within groups can conflict with equal error rates.",
        "recalibration",
    ),
    CatalogueEntry(
        "drop_or_replace_proxy", "Drop or replace a feature that stands in for a sensitive attribute",
        ("FA301", "FA302"),
        "A feature that predicts the sensitive attribute lets the model discriminate without seeing the "
        "attribute; dropping it (or replacing it with a coarser, justified version) removes that path and "
        "serves data minimisation.",
        "The explanation step's proxy table naming the feature.",
        "The feature may also carry legitimate signal: re-audit accuracy and the disparities after removal.",
        None,
    ),
    CatalogueEntry(
        "exposure_constrained_reranking", "Re-rank the lists under an exposure constraint",
        ("FA140", "FA141", "FA142", "FA143", "FA144"),
        "A post-processing step re-orders each list so that the favourable items reach every group's customers "
        "at comparable positions (FA*IR, Zehlike et al. 2017; exposure constraints, Singh & Joachims 2018), "
        "keeping the model's scores as the order within each constraint.",
        "The model's scores per customer and item; the sensitive attribute at ranking time.",
        SENSITIVE_AT_DECISION + " Check first whether the gap follows a legitimate difference in relevance "
        "(compare ndcg_at_k and the item-side exposure per merit), and re-audit the lists after re-ranking.",
        None,
    ),
    CatalogueEntry(
        "collect_more_data", "Collect more data for under-represented groups",
        ("FA201", "FA203"),
        "Groups too small to audit can neither be shown fair nor unfair, and models learn them worst; more "
        "examples make both the model and the audit reliable for them.",
        "Access to more (consented) data for those groups.",
        "Collecting sensitive data has privacy costs of its own: collect only what the purpose needs.",
        None,
    ),
)
