"""explain(): sample, choose the explainer, explain in batches under the budget, keep aggregates only."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fairaudit.explain.explainers import LINK_TOLERANCE, FastExplainer, choose_explainer
from fairaudit.explain.explanations import Explanations
from fairaudit.explain.outputs import model_output
from fairaudit.explain.proxies import ASSOCIATION_ROWS, MIN_ASSOCIATION, MIN_IMPORTANCE, proxy_table
from fairaudit.explain.sampling import background_rows, stratified_sample
from fairaudit.explain.summaries import Attribute, gap_table, group_counts, importance_table
from fairaudit.inputs import AuditInputError, AuditTypeError, encode_sensitive

BACKGROUND_ROWS = 1000
"""Background rows of the linear paths (only their mean matters) and candidate values of the mapping."""
PERMUTATION_BACKGROUND_ROWS = 64
"""Background rows of the permutation path: each explained row costs that many model evaluations per step.
The intervals cover the sampling of rows, not the choice of this background (its error is typically
smaller than the interval: a standard deviation of about 0.001 in probability on the bundled data)."""
PILOT_ROWS = 64
"""Rows explained first, to measure the explainer's speed against the time budget."""
CHECK_ROWS = 192
"""Background rows added to the pilot rows to check that a fast path reproduces the model's output."""
SUMMARY_SHARE = 0.05
"""Share of the time budget kept for the summaries, intervals and proxies after the SHAP step."""
BATCH_ROWS = {"permutation": 256}
DEFAULT_BATCH_ROWS = 2048

REFERENCE = ("each group against the rest of the rows: gap = mean output of the group minus mean output of "
             "everyone else (all other groups of the attribute, missing values included)")
ASSOCIATION = ("one-feature AUC: how well the feature alone tells the group it predicts best from everyone "
               "else (0.5 chance, 1 certain), cross-fitted on up to "
               f"{ASSOCIATION_ROWS:,} random rows")


def explain(model: Any, data: pd.DataFrame, *, sensitive: list[str], features: list[str], pos_label: Any = 1,
            max_rows: int = 4000, time_budget: float | None = None, n_boot: int = 200,
            confidence: float = 0.95, random_state: int | np.random.Generator | None = 0,
            progress: bool = True) -> Explanations:
    """Explain why sensitive groups get different model outputs, with SHAP values on a stratified sample.

    Parameters
    ----------
    model : the audited model (see :func:`fairaudit.audit`): a fitted estimator or Pipeline, an object
        with ``predict_proba`` / ``decision_function`` / ``predict``, or a callable of the feature
        DataFrame. The explainer is chosen for it (:mod:`fairaudit.explain.explainers`).
    data : DataFrame with the features and the sensitive columns.
    sensitive : sensitive column names; each is summarised on its own.
    features : the model's input columns, in the order the model takes them.
    pos_label : the favourable class, whose probability is explained.
    max_rows : row budget: rows explained, shared between the finest sensitive groups, small groups
        kept whole (:mod:`fairaudit.explain.sampling`).
    time_budget : seconds for the whole step; the sample is cut (in proportion in every group) when
        the explainer's measured speed cannot finish it in time, and the cut is noted. At least the
        first batch (64 rows) is explained. ``None``: no time limit, only ``max_rows``.
    n_boot : bootstrap replicates of the gap intervals (0: no intervals).
    confidence : level of the intervals.
    random_state : seed of the sample, background, permutations and bootstrap.
    progress : show a progress bar (tqdm) while explaining.

    Returns
    -------
    Explanations : aggregates only; no per-row contribution is kept.
    """
    started = time.perf_counter()
    sensitive, features = _check(data, sensitive, features, max_rows, time_budget, n_boot, confidence)
    rng = np.random.default_rng(random_state)
    attributes, codes, strata, n_strata = _encode(data, sensitive)
    population = np.bincount(strata, minlength=n_strata)
    sample = stratified_sample(strata, n_strata, max_rows, rng)
    columns = [data.columns.get_loc(f) for f in features]

    def rows(positions: np.ndarray) -> pd.DataFrame:
        return data.iloc[positions, columns].reset_index(drop=True)

    background = rows(background_rows(len(data), BACKGROUND_ROWS, rng))
    small_background = background.iloc[rng.permutation(len(background))[:PERMUTATION_BACKGROUND_ROWS]]
    pilot = rows(sample.rows[:PILOT_ROWS])
    output = model_output(model, pos_label, pd.concat([pilot, background], ignore_index=True))
    check_rows = pd.concat([pilot, background.iloc[:CHECK_ROWS]], ignore_index=True)
    explainer, notes = choose_explainer(model, features, output, pos_label=pos_label, pilot=check_rows,
                                        background=background, permutation_background=small_background,
                                        candidates=background, rng=rng)

    candidates = [f for f in features if f not in sensitive]
    association_rows = np.sort(rng.permutation(len(data))[:ASSOCIATION_ROWS])
    association_data = data.iloc[association_rows][candidates].reset_index(drop=True)
    association_codes = {a.name: codes[a.name][association_rows] for a in attributes}

    deadline = None if time_budget is None else started + (1 - SUMMARY_SHARE) * float(time_budget)
    sample, batches, shap_seconds, cut = _run(explainer, sample, rows, population, deadline, progress)
    if cut:
        notes.append(f"The time budget of {time_budget:g} s allowed {len(sample):,} of the {cut:,} sampled rows; "
                     "every group was cut in the same proportion.")
    if isinstance(explainer, FastExplainer) and explainer.worst_error > LINK_TOLERANCE:
        notes.append(f"On some rows the {explainer.kind} path differed from the model's output by up to "
                     f"{explainer.worst_error:.3g}; their contributions were rescaled to add up to the model's output.")
    values = np.vstack([b.values for b in batches])
    unmapped = np.concatenate([b.unmapped for b in batches])
    outputs = np.concatenate([b.output for b in batches])
    taken = np.bincount(sample.strata, minlength=n_strata)

    importance = importance_table(values, sample.weights, sample.strata, n_strata, attributes, features)
    gap = gap_table(values, unmapped, outputs, sample.weights, sample.strata, n_strata, attributes, features,
                    n_boot=n_boot, confidence=confidence, rng=rng)
    populations = {a.name: np.bincount(codes[a.name], minlength=len(a.labels)) for a in attributes}
    proxies = proxy_table(association_data, association_codes, attributes, populations,
                          importance.loc[("overall", "all")], rng)
    return Explanations(
        importance=importance,
        gap=gap,
        proxies=proxies,
        groups=group_counts(population, taken, attributes),
        sensitive_inputs=tuple(a for a in sensitive if a in features),
        units=output.units,
        explainer=explainer.kind,
        sample_rows=len(sample),
        background_rows=_background_size(explainer, background, small_background),
        rows_per_second=float(len(sample) / shap_seconds) if shap_seconds > 0 else float("nan"),
        seconds=time.perf_counter() - started,
        expected_value=float(explainer.base),
        reference=REFERENCE,
        association=ASSOCIATION,
        min_association=MIN_ASSOCIATION,
        min_importance=MIN_IMPORTANCE,
        confidence=float(confidence),
        n_boot=int(n_boot),
        notes=tuple(notes),
    )


def _background_size(explainer: Any, background: pd.DataFrame, small: pd.DataFrame) -> int:
    if explainer.kind == "permutation":
        return len(small)
    if isinstance(explainer, FastExplainer) and explainer.kind.endswith("linear"):
        return len(background)
    return 0  # path-dependent TreeSHAP: the trees' own training cover is the background


def _run(explainer: Any, sample: Any, rows: Any, population: np.ndarray, deadline: float | None,
         progress: bool) -> tuple[Any, list, float, int]:
    """Explain the sample in batches; cut it when the deadline cannot be met. Returns the (possibly
    cut) sample, the batches, the seconds spent explaining and the original size when cut (else 0)."""
    target = len(sample)
    step = BATCH_ROWS.get(explainer.kind, DEFAULT_BATCH_ROWS)
    batches, done = [], 0
    began = time.perf_counter()
    with tqdm(total=target, desc=f"SHAP ({explainer.kind})", unit="row", disable=not progress,
              leave=False) as bar:
        while done < target:
            size = min(PILOT_ROWS if done == 0 else step, target - done)
            batches.append(explainer.explain(rows(sample.rows[done:done + size]), on_rows=bar.update))
            done += size
            if deadline is not None:  # re-estimated after every batch, from the speed so far
                now = time.perf_counter()
                affordable = done + int(done / (now - began) * max(0.0, deadline - now))
                if min(len(sample), affordable) != target:
                    target = min(len(sample), affordable)
                    bar.total = max(target, done)
                    bar.refresh()
    seconds = time.perf_counter() - began
    if done < len(sample):
        return sample.head(done, population), batches, seconds, len(sample)
    return sample, batches, seconds, 0


def _encode(data: pd.DataFrame, sensitive: Sequence[str]) -> tuple[list[Attribute], dict[str, np.ndarray],
                                                                  np.ndarray, int]:
    """Each attribute's group codes and names, and the finest crossing (the strata of the sample)."""
    codes, labels = {}, {}
    for name in sensitive:
        groups = encode_sensitive(data, [name])
        codes[name], labels[name] = groups.codes, [g[0] for g in groups.groups]
    combined = np.zeros(len(data), dtype=np.int64)
    for name in sensitive:
        combined = combined * len(labels[name]) + codes[name]
    present, strata = np.unique(combined, return_inverse=True)
    attributes = []
    for name in reversed(sensitive):
        present, digit = np.divmod(present, len(labels[name]))
        attributes.append(Attribute(name, labels[name], digit))
    return attributes[::-1], codes, strata.astype(np.int64), len(attributes[0].of_stratum)


def _check(data: Any, sensitive: Any, features: Any, max_rows: Any, time_budget: Any, n_boot: Any,
           confidence: Any) -> tuple[list[str], list[str]]:
    if not isinstance(data, pd.DataFrame):
        raise AuditTypeError(f"The 'data' argument of explain must be a pandas DataFrame; got {type(data).__name__}.")
    if len(data) == 0:
        raise AuditInputError("The 'data' argument of explain has no rows: there is nothing to explain.")
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    features = [features] if isinstance(features, str) else list(features)
    if not sensitive:
        raise AuditInputError("The 'sensitive' argument of explain is empty: name at least one sensitive column.")
    if not features:
        raise AuditInputError("The 'features' argument of explain is empty: name the model's input columns.")
    missing = [f for f in [*sensitive, *features] if f not in data.columns]
    if missing:
        raise AuditInputError(
            f"The 'sensitive'/'features' arguments of explain name column(s) {missing} that are not in data."
        )
    if len(set(features)) != len(features):
        raise AuditInputError("The 'features' argument of explain names a column twice.")
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
        raise AuditInputError(f"The 'max_rows' argument of explain must be an integer >= 1; got {max_rows!r}.")
    if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                    or not np.isfinite(time_budget) or time_budget <= 0):
        raise AuditInputError(
            f"The 'time_budget' argument of explain must be a positive number of seconds or None; got {time_budget!r}."
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise AuditInputError(f"The 'n_boot' argument of explain must be an integer >= 0; got {n_boot!r}.")
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise AuditInputError(f"The 'confidence' argument of explain must be a float in (0, 1); got {confidence!r}.")
    return sensitive, features
