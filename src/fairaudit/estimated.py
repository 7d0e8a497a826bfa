"""Estimated sensitive attributes: auditing a group that is not recorded, from membership probabilities.

When a sensitive attribute (race, ethnicity) is not collected, proxies such as BISG give each person a
probability of belonging to each group. ``audit(..., sensitive_proba={"race": P})`` audits it with two
estimators of every rate of every group ``g`` (Chen et al. 2019, "Fairness under unawareness"; Elzayn et
al. 2023, "Estimating and implementing conventional fairness metrics with probabilistic protected
features"):

* **weighted**: each row adds ``p_ig * w_i`` to group ``g``'s cells. When the probabilities are calibrated
  and the outcome is independent of the proxies within a group, the weighted rate is a *mixture* of the
  true rates, ``r~_g = sum_h A[g, h] r_h`` with ``A[g, h] = sum_i p_ig p_ih / sum_i p_ig`` over the rows
  the rate conditions on (its denominator): it is pulled toward the other groups' rates, so disparities
  shrink toward zero.
* **corrected**: the true rates solve ``A r = r~`` (least squares within [0, 1]); these are reported as
  the group's metrics, with the weighted ones beside them.

Intervals come from a bootstrap over rows (Poisson multipliers: each person drawn a Poisson(1) number of
times), which re-estimates both the weighted rates and the mixing matrix in every replicate, so they
carry the sampling and the correction uncertainty. An engine input keeps its rows: it returns the sums and
their second moments (:class:`MixingMoments`), and the replicate sums are drawn from a normal law with the
row bootstrap's mean and covariance (:func:`moment_mixing`). A group is *weakly identified* when its effective
size ``(sum p)^2 / sum p^2`` is below the policy's ``min_group_size`` or its mixing matrix is
ill-conditioned (condition number above ``MAX_CONDITION``); its checks are then inconclusive.

The correction is only as good as its two assumptions. Over-confident probabilities (a proxy that claims more
than it knows) or probabilities calibrated on another population (a wrong prior) bias the corrected rates and
their intervals no longer cover: in simulations on adult, coverage of a selection-rate gap fell from 94% to 0-8%
(``benchmarks/bench_estimated.py``). A proxy that also predicts the outcome within a group (e.g. a neighbourhood
that drives both the surname-geography estimate and the credit score) breaks the independence the mixing relies
on. Check the probabilities' calibration on a sample where the attribute is known, and give ``proba_prior`` when
the population's shares are known.

Rows whose probabilities are all missing are people whose group is unknown: they form the group
``"(missing)"`` with probability 1. ``proba_prior`` re-weights the probabilities to known population
shares (``p_ig F_g``, renormalised, with factors ``F`` fitted by Newton's method until the mean probabilities match).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse

from fairaudit.inputs import AuditInputError, AuditTypeError, SensitiveGroups, group_name
from fairaudit.metrics import METRICS, Metric, confusion, safe_divide
from fairaudit.stats import JOIN, MISSING_GROUP, GroupStats, default_score_edges, natural_order

SUM_TOLERANCE = 1e-6
CHUNK_ROWS = 20_000
MAX_CONDITION = 50.0
"""A mixing matrix with a larger condition number amplifies sampling noise too much to be corrected."""
CORRECTED_METRICS = ("selection_rate", "base_rate", "true_positive_rate", "false_positive_rate",
                     "false_negative_rate", "true_negative_rate", "precision", "negative_predictive_value",
                     "accuracy", "balanced_accuracy", "mean_score")


@dataclass(frozen=True)
class EstimatedAttribute:
    """One estimated attribute: per row, the probability of each group (rows sum to 1); ``proba`` is
    ``None`` when the rows stay in an engine."""

    name: str
    groups: tuple[str, ...]
    proba: np.ndarray | None
    columns: tuple[str, ...]
    unknown: int


# ---------------------------------------------------------------------------- the door
def resolve_sensitive_proba(data: pd.DataFrame, sensitive_proba: Any, observed: Sequence[str],
                            proba_prior: Mapping[str, Mapping[str, float]] | None = None,
                            ) -> tuple[EstimatedAttribute, ...]:
    """Validate ``sensitive_proba`` (``{attribute: DataFrame aligned with data | [column names]}``)."""
    if sensitive_proba is None:
        return ()
    check_proba_arguments(sensitive_proba, proba_prior, observed)
    prior = dict(proba_prior or {})
    out = []
    for name, spec in sensitive_proba.items():
        name = str(name)
        frame = _probability_frame(data, name, spec)
        attribute = _checked(name, frame)
        if name in prior:
            attribute = _with_prior(attribute, prior[name])
        out.append(attribute)
    return tuple(out)


def check_proba_arguments(sensitive_proba: Any, proba_prior: Any, observed: Sequence[str]) -> None:
    """The checks of ``sensitive_proba`` and ``proba_prior`` that need no data."""
    if not isinstance(sensitive_proba, Mapping) or not sensitive_proba:
        raise AuditTypeError(
            "The 'sensitive_proba' argument must map each estimated attribute to a DataFrame of group "
            "probabilities aligned with data, or to a list of columns of data holding them; got "
            f"{type(sensitive_proba).__name__}."
        )
    unknown_prior = [a for a in (proba_prior or {}) if a not in sensitive_proba]
    if unknown_prior:
        raise AuditInputError(f"The 'proba_prior' argument names attribute {unknown_prior[0]!r}, which is not a "
                              f"key of sensitive_proba ({', '.join(map(repr, sensitive_proba))}).")
    for name in sensitive_proba:
        if str(name) in observed:
            raise AuditInputError(f"Attribute {str(name)!r} is both in 'sensitive' and in 'sensitive_proba': audit "
                                  "it as observed or as estimated, not both.")


def unknown_probability_column(name: str, column: str) -> AuditInputError:
    return AuditInputError(f"The 'sensitive_proba' entry of {name!r} names column {column!r}, which is not in data.")


def _probability_frame(data: pd.DataFrame, name: str, spec: Any) -> pd.DataFrame:
    if isinstance(spec, pd.DataFrame):
        if len(spec) != len(data):
            raise AuditInputError(f"The 'sensitive_proba' frame of {name!r} has {len(spec)} rows but data has "
                                  f"{len(data)}; pass one row of probabilities per row of data.")
        if not spec.index.equals(data.index):
            if set(spec.index) != set(data.index) or spec.index.has_duplicates:
                raise AuditInputError(f"The 'sensitive_proba' frame of {name!r} has an index that does not match "
                                      "data's: align it (e.g. P.index = data.index) before the audit.")
            spec = spec.loc[data.index]
        return spec
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise AuditTypeError(f"The 'sensitive_proba' entry of {name!r} must be a DataFrame or a list of column "
                             f"names of data; got {type(spec).__name__}.")
    missing = [c for c in spec if c not in data.columns]
    if missing:
        raise unknown_probability_column(name, missing[0])
    return data[list(spec)]


def check_probability_columns(name: str, columns: Sequence[str], non_numeric: Sequence[str] = ()) -> None:
    """The checks on an estimated attribute's columns that need no row: at least two, each once, numeric."""
    where = f"'sensitive_proba' of {name!r}"
    if len(columns) < 2:
        raise AuditInputError(f"The {where} has {len(columns)} group column(s) ({', '.join(columns)}): an "
                              "estimated attribute needs one probability column per group, at least two.")
    if len(set(columns)) != len(columns) or MISSING_GROUP in columns:
        raise AuditInputError(f"The {where} has duplicated group columns or a column named {MISSING_GROUP!r}: "
                              "name each group once (rows of all-missing probabilities are the unknown group).")
    for column in columns:
        if column in non_numeric:
            raise AuditInputError(f"The {where}: column {column!r} is not numeric; probabilities are numbers in "
                                  "[0, 1].")


@dataclass(frozen=True)
class ProbabilityProfile:
    """What the checks of an attribute's probabilities need, from aggregates (so that every engine raises
    the same errors): rows with some but not all probabilities missing, per column the values outside
    [0, 1] and the smallest and largest value, rows whose sum is off 1, the smallest and largest sum (all
    over the rows whose probabilities are given), and the rows with none given (the unknown group)."""

    partial: int
    outside: tuple[int, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    off: int
    sum_low: float
    sum_high: float
    unknown: int


def check_probability_profile(name: str, columns: Sequence[str], profile: ProbabilityProfile) -> None:
    """Raise the first error the profile shows, naming the attribute and the column."""
    where = f"'sensitive_proba' of {name!r}"
    named = ", ".join(map(repr, columns))
    if profile.partial:
        raise AuditInputError(f"The {where}: {profile.partial} row(s) have some probabilities missing and "
                              f"others present in columns {named}; give all of a row's probabilities, or none "
                              "(unknown group).")
    for j, column in enumerate(columns):
        if profile.outside[j]:
            raise AuditInputError(f"The {where}: column {column!r} has {profile.outside[j]} value(s) outside "
                                  f"[0, 1] (min {profile.low[j]:g}, max {profile.high[j]:g}); probabilities lie "
                                  "in [0, 1].")
    if profile.off:
        raise AuditInputError(f"The {where}: {profile.off} row(s) do not sum to 1 over columns {named} (sums from "
                              f"{profile.sum_low:.6g} to {profile.sum_high:.6g}, tolerance {SUM_TOLERANCE:g}); "
                              "normalise each row (P.div(P.sum(axis=1), axis=0)).")


def _checked(name: str, frame: pd.DataFrame) -> EstimatedAttribute:
    columns = tuple(str(c) for c in frame.columns)
    check_probability_columns(name, columns, [c for c, k in zip(columns, frame.columns, strict=True)
                                              if not pd.api.types.is_numeric_dtype(frame[k])
                                              or pd.api.types.is_bool_dtype(frame[k])])
    values = frame.to_numpy(dtype=float)
    blank = np.isnan(values)
    known = ~blank.all(axis=1)
    sums = values[known].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        present = np.where(blank, np.nan, values)
        low, high = np.nanmin(present, axis=0, initial=np.inf), np.nanmax(present, axis=0, initial=-np.inf)
    outside = known[:, None] & ((values < 0) | (values > 1))
    off = np.abs(sums - 1) > SUM_TOLERANCE
    check_probability_profile(name, columns, ProbabilityProfile(
        partial=int((blank.any(axis=1) & known).sum()), outside=tuple(int(n) for n in outside.sum(axis=0)),
        low=tuple(low.tolist()), high=tuple(high.tolist()), off=int(off.sum()),
        sum_low=float(sums.min(initial=np.inf)), sum_high=float(sums.max(initial=-np.inf)),
        unknown=int((~known).sum())))
    unknown = int((~known).sum())
    proba = np.where(blank, 0.0, values)
    groups = tuple(group_name(c) for c in frame.columns)
    if unknown:
        proba = np.column_stack([proba, (~known).astype(float)])
        groups = groups + (MISSING_GROUP,)
    return EstimatedAttribute(name, groups, proba, columns, unknown)


def prior_target(attribute: str, groups: Sequence[str], prior: Mapping[str, float]) -> np.ndarray:
    """The checked shares of ``proba_prior`` for an attribute's named groups, in their order."""
    named = [g for g in groups if g != MISSING_GROUP]
    if set(map(str, prior)) != set(named):
        raise AuditInputError(f"The 'proba_prior' of {attribute!r} must give a share for each group "
                              f"({', '.join(named)}); got {', '.join(map(str, prior))}.")
    target = np.array([float({str(k): v for k, v in prior.items()}[g]) for g in named])
    if np.any(target <= 0) or abs(target.sum() - 1) > SUM_TOLERANCE:
        raise AuditInputError(f"The 'proba_prior' of {attribute!r} must be positive shares summing to 1.")
    return target


def prior_factors(target: np.ndarray, moments_of: Any) -> np.ndarray:
    """Factors ``F`` such that the probabilities re-weighted as ``q_g = p_g F_g / sum_h p_h F_h`` have the mean
    ``target``. ``moments_of(F)`` gives the mean of ``q`` and of ``q q'`` over the known rows (from rows in
    memory, or one aggregate pass of an engine); Newton's method on ``log F`` (the Jacobian of the mean is
    ``diag(mean q) - mean q q'``), each step at most 1 in log scale, converges in a handful of passes."""
    factors = np.ones(target.size)
    for _ in range(100):
        mean, cross = (np.asarray(m, dtype=float) for m in moments_of(factors))
        if np.abs(mean - target).max() < 1e-10:
            break
        step = np.linalg.lstsq(np.diag(mean) - cross, target - mean, rcond=None)[0]
        factors = factors * np.exp(np.clip(step - step.mean(), -1.0, 1.0))
    return factors


def _row_moments(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return proba.mean(axis=0), proba.T @ proba / len(proba)


def reweighted(proba: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Probabilities re-weighted by prior factors: ``p_g F_g / sum_h p_h F_h``."""
    scaled = proba * factors
    return scaled / scaled.sum(axis=1, keepdims=True)


def _with_prior(attribute: EstimatedAttribute, prior: Mapping[str, float]) -> EstimatedAttribute:
    """Re-weight the probabilities so that their mean matches known population shares."""
    target = prior_target(attribute.name, attribute.groups, prior)
    k = target.size
    known = attribute.proba[:, :k].sum(axis=1) > 0
    original = attribute.proba[known, :k]
    factors = prior_factors(target, lambda f: _row_moments(reweighted(original, f)))
    proba = attribute.proba.copy()
    proba[known, :k] = reweighted(original, factors)
    return dataclasses.replace(attribute, proba=proba)


# ---------------------------------------------------------------------------- weighted cells
@dataclass(frozen=True)
class Expansion:
    """Rows repeated once per group they may belong to: ``rows`` indexes the original row, ``codes`` the
    finest group (observed and estimated attributes), ``share`` the membership probability."""

    attributes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    rows: np.ndarray
    codes: np.ndarray
    share: np.ndarray


def expand(observed: SensitiveGroups | None, estimated: Sequence[EstimatedAttribute], n_rows: int) -> Expansion:
    """Each row once per group of each estimated attribute with a positive probability (probabilities of
    several estimated attributes multiply: they are taken as independent given the proxies)."""
    rows = np.arange(n_rows)
    share = np.ones(n_rows)
    layers = [observed.codes if observed is not None else np.zeros(n_rows, dtype=np.int64)]
    labels = [observed.groups if observed is not None else ((),)]
    for attribute in estimated:
        p = attribute.proba[rows]
        index, group = np.nonzero(p > 0)
        share = share[index] * p[index, group]
        layers = [layer[index] for layer in layers] + [group]
        rows = rows[index]
        labels.append(tuple((g,) for g in attribute.groups))
    sizes = [len(values) for values in labels]
    combined = np.zeros(len(rows), dtype=np.int64)
    for layer, size in zip(layers, sizes, strict=True):
        combined = combined * size + layer
    present, codes = np.unique(combined, return_inverse=True)
    groups = []
    for value in present.tolist():
        digits = []
        for size in reversed(sizes):
            value, digit = divmod(value, size)
            digits.append(digit)
        parts = [labels[layer][d] for layer, d in enumerate(reversed(digits))]
        groups.append(tuple(v for part in parts for v in part))
    attributes = (observed.attributes if observed is not None else ()) + tuple(a.name for a in estimated)
    ordered = natural_order(groups)
    rank = np.array([ordered.index(g) for g in groups], dtype=np.int64)
    return Expansion(attributes, tuple(ordered), rows, rank[codes], share)


def weighted_stats(expansion: Expansion, y_true: np.ndarray | None, y_pred: np.ndarray, y_score: np.ndarray | None,
                   sample_weight: np.ndarray | None) -> GroupStats:
    """The probability-weighted group statistics; ``count`` is the expected number of people,
    ``sum p``, and the Kish effective size of a group is ``(sum p w)^2 / sum (p w)^2``."""
    rows = expansion.rows

    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[rows]

    weight = expansion.share if sample_weight is None else expansion.share * sample_weight[rows]
    edges = None if y_score is None or y_true is None else default_score_edges(y_score)  # of the people, not copies
    stats = GroupStats.from_codes(expansion.attributes, expansion.groups, expansion.codes, take(y_true),
                                  y_pred[rows], take(y_score), weight, score_edges=edges)
    if sample_weight is None:
        return replace(stats, count=stats.weight.copy())
    shares = GroupStats.from_codes(expansion.attributes, expansion.groups, expansion.codes, take(y_true),
                                   y_pred[rows], take(y_score), expansion.share, score_edges=stats.score_edges)
    return replace(stats, count=shares.weight)


# ---------------------------------------------------------------------------- correction
@dataclass(frozen=True)
class MixingStats:
    """Per observed group ``o`` and cell ``(y, p)``, for one estimated attribute with ``G`` groups:
    ``first[..., o, y, p, g] = sum w p_g``, ``second[..., o, y, p, g, h] = sum w p_g p_h`` and
    ``score[..., o, g] = sum w p_g s`` (leading dimensions: bootstrap replicates)."""

    first: np.ndarray
    second: np.ndarray
    score: np.ndarray | None


def mixing_stats(observed_codes: np.ndarray, n_observed: int, proba: np.ndarray, y_true: np.ndarray | None,
                 y_pred: np.ndarray, y_score: np.ndarray | None, sample_weight: np.ndarray | None,
                 n_boot: int = 0, rng: np.random.Generator | None = None) -> MixingStats:
    """The sums behind the weighted rates and their mixing matrices; with ``n_boot``, one set per replicate
    of a row bootstrap (each row drawn a Poisson(1) number of times), computed in chunks of rows."""
    n, k = proba.shape
    n_y = 1 if y_true is None else 2
    cell = (observed_codes.astype(np.int64) * n_y + (0 if y_true is None else y_true)) * 2 + y_pred
    n_cells = n_observed * n_y * 2
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    width = k + k * k + (k if y_score is not None else 0)
    lead = max(n_boot, 1)
    sums = np.zeros((lead, n_cells * width))
    for start in range(0, n, CHUNK_ROWS):
        rows = slice(start, min(start + CHUNK_ROWS, n))
        p, wr = proba[rows], w[rows]
        features = [wr[:, None] * p, (wr[:, None, None] * p[:, :, None] * p[:, None, :]).reshape(len(p), k * k)]
        if y_score is not None:
            features.append(wr[:, None] * p * y_score[rows, None])
        values = np.concatenate(features, axis=1)
        columns = cell[rows, None] * width + np.arange(width)
        matrix = sparse.csr_matrix((values.ravel(), (np.repeat(np.arange(len(p)), width), columns.ravel())),
                                   shape=(len(p), n_cells * width))
        if n_boot:
            draws = rng.poisson(1.0, size=(n_boot, len(p))).astype(float)
            sums += np.asarray((matrix.T @ draws.T).T)
        else:
            sums += np.asarray(matrix.sum(axis=0))
    shaped = sums.reshape(lead, n_observed, n_y, 2, width)
    first = shaped[..., :k]
    second = shaped[..., k:k + k * k].reshape(lead, n_observed, n_y, 2, k, k)
    score = shaped[..., k + k * k:].sum(axis=(2, 3)) if y_score is not None else None
    if not n_boot:
        first, second = first[0], second[0]
        score = None if score is None else score[0]
    return MixingStats(first, second, score)


Feature = tuple[tuple[int, ...], int]
"""A product of one row's probabilities and score: the groups whose probabilities multiply, the score's power."""


def mixing_features(n_groups: int, scored: bool) -> tuple[Feature, ...]:
    """The per-row terms whose sums are :class:`MixingStats`: ``p_g``, ``p_g p_h`` (``g <= h``), ``p_g s``."""
    first = [((g,), 0) for g in range(n_groups)]
    second = [((g, h), 0) for g in range(n_groups) for h in range(g, n_groups)]
    return tuple(first + second + ([((g,), 1) for g in range(n_groups)] if scored else []))


def feature_products(features: Sequence[Feature]) -> tuple[tuple[Feature, ...], np.ndarray]:
    """The distinct products of two features (monomials), and the monomial of each pair ``(j, l)``."""
    found: dict[Feature, int] = {}
    index = np.empty((len(features), len(features)), dtype=np.int64)
    for j, (groups_j, power_j) in enumerate(features):
        for m, (groups_m, power_m) in enumerate(features):
            key = (tuple(sorted(groups_j + groups_m)), power_j + power_m)
            index[j, m] = found.setdefault(key, len(found))
    return tuple(found), index


@dataclass(frozen=True)
class MixingMoments:
    """Per observed group and cell ``(o, y, p)`` of one estimated attribute: ``sums[..., j] = sum w f_j`` of
    the :func:`mixing_features` ``f`` and ``squares[..., m] = sum w^2 f_j f_l`` of their distinct products
    (:func:`feature_products`). An engine computes them as aggregates; they give the sums and their
    covariance under the row bootstrap (``sum w^2 f f'``: a row drawn a Poisson(1) number of times)."""

    n_groups: int
    scored: bool
    sums: np.ndarray
    squares: np.ndarray

    def stats(self, values: np.ndarray) -> MixingStats:
        """:class:`MixingStats` from feature sums ``(..., O, n_y, 2, d)``."""
        k = self.n_groups
        features = mixing_features(k, self.scored)
        first = values[..., :k]
        second = np.empty(values.shape[:-1] + (k, k))
        for j, ((g, h), _) in enumerate(features[k:k + k * (k + 1) // 2], start=k):
            second[..., g, h] = second[..., h, g] = values[..., j]
        score = values[..., -k:].sum(axis=(-3, -2)) if self.scored else None
        return MixingStats(first, second, score)

    def replicates(self, n_boot: int, rng: np.random.Generator) -> MixingStats:
        """``n_boot`` draws of the sums from a normal law with their row-bootstrap mean and covariance, cell
        by cell (cells hold different rows: independent). The noise is standard normal times the covariance's
        symmetric square root, which is unique: the same sums give the same draws whichever engine added them."""
        _, index = feature_products(mixing_features(self.n_groups, self.scored))
        cells = self.sums.reshape(-1, self.sums.shape[-1])
        squares = self.squares.reshape(cells.shape[0], -1)
        draws = np.empty((n_boot,) + cells.shape)
        for c in range(cells.shape[0]):
            values, vectors = np.linalg.eigh(squares[c][index])
            scale = np.sqrt(np.where(values > 1e-12 * max(values.max(), 0.0), values, 0.0))
            draws[:, c] = cells[c] + rng.standard_normal((n_boot, values.size)) @ ((vectors * scale) @ vectors.T)
        return self.stats(draws.reshape((n_boot,) + self.sums.shape))


def _metric_parts(metric: Metric, first: np.ndarray, second: np.ndarray,
                  has_target: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rate's weighted numerator and denominator per group ``(..., G)`` and the numerator of its mixing
    matrix ``(..., G, G)``."""
    cells = np.moveaxis(first, -1, -3)[..., None]           # (..., G, y, p, 1)
    pairs = np.moveaxis(second, (-2, -1), (-4, -3))[..., None]  # (..., G, G, y, p, 1)
    counts = confusion(cells, has_target)
    return metric.numerator(counts), metric.denominator(counts), metric.denominator(confusion(pairs, has_target))


def corrected_rates(numerator: np.ndarray, denominator: np.ndarray, mixing: np.ndarray,
                    bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted rates ``(..., G)``, the corrected rates solving ``A r = r~`` within ``bounds``, and the
    condition number of ``A`` (``mixing`` is ``A``'s numerator, row ``g`` divided by ``denominator[g]``)."""
    weighted = safe_divide(numerator, denominator)
    a = safe_divide(mixing, denominator[..., :, None])
    shape = weighted.shape
    flat_a, flat_r = a.reshape(-1, shape[-1], shape[-1]), weighted.reshape(-1, shape[-1])
    out = np.full(flat_r.shape, np.nan)
    condition = np.full(flat_r.shape[0], np.inf)
    usable = np.isfinite(flat_a).all(axis=(1, 2)) & np.isfinite(flat_r).all(axis=1)
    if usable.any():
        condition[usable] = np.linalg.cond(flat_a[usable])
        solvable = usable & (condition < 1e12)
        solved = np.linalg.solve(flat_a[solvable], flat_r[solvable][..., None])[..., 0]
        out[solvable] = solved
        outside = np.flatnonzero(solvable)[((solved < bounds[0] - 1e-12) | (solved > bounds[1] + 1e-12)).any(axis=1)]
        for i in outside:
            out[i] = optimize.lsq_linear(flat_a[i], flat_r[i], bounds=bounds, method="bvls").x
    return weighted, out.reshape(shape), condition.reshape(shape[:-1])


@dataclass(frozen=True)
class Corrected:
    """Corrected metrics of one view's estimated groups: ``values[metric]`` ``(O, G)`` (observed groups
    of the view × estimated groups), their row-bootstrap ``replicates`` ``(B, O, G)``, the weighted
    values, the mixing matrices' condition numbers and the effective sizes."""

    values: dict[str, np.ndarray]
    weighted: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]
    condition: dict[str, np.ndarray]
    effective_size: np.ndarray


def correct(point: MixingStats, boot: MixingStats | None, member: np.ndarray, n_view: int, metrics: Sequence[str],
            has_target: bool, effective_size: np.ndarray) -> Corrected:
    """The corrected metrics of a view whose observed groups gather the finest observed groups
    (``member[o]`` = the view group of finest observed group ``o``)."""
    def gathered(stats: MixingStats) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        axis = stats.first.ndim - 4
        first = _sum_into(stats.first, member, n_view, axis)
        second = _sum_into(stats.second, member, n_view, axis)
        score = None if stats.score is None else _sum_into(stats.score, member, n_view, axis)
        return first, second, score

    values, weighted, replicates, condition = {}, {}, {}, {}
    for which, stats in (("point", point), ("boot", boot)):
        if stats is None:
            continue
        first, second, score = gathered(stats)
        results = _metric_values(first, second, score, metrics, has_target)
        for name, (w, c, cond) in results.items():
            if which == "point":
                values[name], weighted[name], condition[name] = c, w, cond
            else:
                replicates[name] = c
    return Corrected(values, weighted, replicates, condition, effective_size)


def _metric_values(first: np.ndarray, second: np.ndarray, score: np.ndarray | None, metrics: Sequence[str],
                   has_target: bool) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = {}
    for name in metrics:
        if name == "balanced_accuracy" or name == "mean_score":
            continue
        out[name] = corrected_rates(*_metric_parts(METRICS[name], first, second, has_target))
    if "balanced_accuracy" in metrics and {"true_positive_rate", "true_negative_rate"} <= out.keys():
        tpr, tnr = out["true_positive_rate"], out["true_negative_rate"]
        out["balanced_accuracy"] = ((tpr[0] + tnr[0]) / 2, (tpr[1] + tnr[1]) / 2, np.fmax(tpr[2], tnr[2]))
    if "mean_score" in metrics and score is not None:
        total = first.sum(axis=(-3, -2))
        pairs = second.sum(axis=(-4, -3))
        out["mean_score"] = corrected_rates(score, total, pairs)
    return out


def _sum_into(array: np.ndarray, member: np.ndarray, n_groups: int, axis: int) -> np.ndarray:
    shape = list(array.shape)
    shape[axis] = n_groups
    out = np.zeros(shape)
    np.add.at(out, (slice(None),) * axis + (member,), array)
    return out


# ---------------------------------------------------------------------------- per view
@dataclass(frozen=True)
class Override:
    """A metric of one view replaced by its corrected estimate: values, interval and replicates per group,
    in the order of ``keys``."""

    keys: tuple[tuple[str, ...], ...]
    values: np.ndarray
    low: np.ndarray
    high: np.ndarray
    replicates: np.ndarray


Mixing = Mapping[str, tuple[MixingStats, "MixingStats | None"]]
"""Per estimated attribute, the point sums and their bootstrap replicates (or ``None``)."""


def row_mixing(observed: SensitiveGroups | None, estimated: Sequence[EstimatedAttribute], *,
               y_true: np.ndarray | None, y_pred: np.ndarray, y_score: np.ndarray | None,
               sample_weight: np.ndarray | None, n_boot: int, rng: np.random.Generator) -> dict[str, Any]:
    """The mixing sums of rows in memory, with a row bootstrap (Poisson multipliers) drawn by ``rng``."""
    codes = observed.codes if observed is not None else np.zeros(len(y_pred), dtype=np.int64)
    n_fine = len(observed.groups) if observed is not None else 1
    out = {}
    for attribute in estimated:
        args = (codes, n_fine, attribute.proba, y_true, y_pred, y_score, sample_weight)
        out[attribute.name] = (mixing_stats(*args), mixing_stats(*args, n_boot, rng) if n_boot else None)
    return out


def moment_mixing(moments: Mapping[str, MixingMoments], *, n_boot: int, rng: np.random.Generator) -> dict[str, Any]:
    """The mixing sums an engine computed, with replicates drawn from their row-bootstrap mean and covariance
    (:meth:`MixingMoments.replicates`): the rows are not at hand to be redrawn."""
    return {name: (m.stats(m.sums), m.replicates(n_boot, rng) if n_boot else None) for name, m in moments.items()}


def corrected_views(stats: GroupStats, observed_names: tuple[str, ...], fine: tuple[tuple[str, ...], ...],
                    estimated: Sequence[EstimatedAttribute], mixing: Mixing, views: Sequence[tuple[str, ...]],
                    metrics: Sequence[str], *, has_target: bool, confidence: float, min_group_size: int,
                    ) -> tuple[dict[tuple[str, ...], dict[str, Override]], pd.DataFrame]:
    """The corrected metrics of every view with exactly one estimated attribute (overrides for the
    tables), and the ``estimates`` table: per (attribute, group, metric) the weighted and corrected
    values, the corrected interval, the effective size, the mixing matrix's condition number and whether
    the group is identified well enough to be judged. ``fine`` are the finest observed groups (of
    ``observed_names``) that index the mixing sums (``((),)`` without observed attributes)."""
    names = [a.name for a in estimated]
    wanted = [m for m in CORRECTED_METRICS if m in metrics]
    overrides: dict[tuple[str, ...], dict[str, Override]] = {}
    rows = []
    alpha = 1 - confidence
    for attribute in estimated:
        point, boot = mixing[attribute.name]
        for view in views:
            if attribute.name not in view or sum(v in names for v in view) != 1:
                continue
            positions = [observed_names.index(v) for v in view if v != attribute.name]
            parts = sorted({tuple(g[i] for i in positions) for g in fine})
            member = np.array([parts.index(tuple(g[i] for i in positions)) for g in fine])
            result = correct(point, boot, member, len(parts), wanted, has_target, None)
            collapsed = stats.collapse(view)
            size = dict(zip(collapsed.groups, _effective_size(collapsed), strict=True))
            keys = tuple(part + (g,) for part in parts for g in attribute.groups)
            view_overrides = {}
            for metric in wanted:
                if metric not in result.values:
                    continue
                values = result.values[metric].reshape(-1)
                if boot is not None:
                    reps = result.replicates[metric].reshape(result.replicates[metric].shape[0], -1)
                    low, high = _percentiles(reps, alpha)
                else:
                    reps = np.empty((0, values.size))
                    low = high = np.full(values.size, np.nan)
                view_overrides[metric] = Override(keys, values, low, high, reps)
                condition = np.repeat(result.condition[metric].reshape(-1), len(attribute.groups))
                weighted = result.weighted[metric].reshape(-1)
                for i, key in enumerate(keys):
                    effective = size.get(key, 0.0)
                    rows.append({
                        "attribute": JOIN.join(view), "group": JOIN.join(key), "metric": metric,
                        "weighted": weighted[i], "corrected": values[i], "ci_low": low[i], "ci_high": high[i],
                        "effective_size": effective, "condition": condition[i],
                        "identified": bool(effective >= min_group_size and condition[i] <= MAX_CONDITION),
                    })
            overrides[view] = view_overrides
    columns = ["attribute", "group", "metric", "weighted", "corrected", "ci_low", "ci_high", "effective_size",
               "condition", "identified"]
    table = pd.DataFrame(rows, columns=columns).set_index(["attribute", "group", "metric"])
    return overrides, table


def _effective_size(stats: GroupStats) -> np.ndarray:
    weight = stats.weight.sum(axis=(1, 2, 3))
    return safe_divide(weight**2, stats.weight_sq.sum(axis=(1, 2, 3)))


def _percentiles(replicates: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high


# ---------------------------------------------------------------------------- into the result
def estimated_views(estimated: Sequence[EstimatedAttribute],
                    all_views: Sequence[tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The views that involve an estimated attribute, by name."""
    names = {a.name for a in estimated}
    return {JOIN.join(view): view for view in all_views if names & set(view)}


def mark_estimated(by_group: pd.DataFrame, views: Mapping[str, tuple[str, ...]], stats: GroupStats,
                   all_views: Sequence[tuple[str, ...]]) -> pd.DataFrame:
    """``by_group`` with a boolean ``estimated`` column (the ``views`` that involve an estimated attribute);
    every ``count`` is the rounded sum of the weighted cells: for an estimated group its expected number of
    people ``sum p`` (an observed group's count is a sum of shares too, which adds up to its size up to
    rounding)."""
    out = by_group.copy()
    flag = out.index.get_level_values("attribute").isin(list(views))
    out.insert(out.columns.get_loc("count") + 1, "estimated", flag)
    expected = {}
    for attrs in all_views:
        collapsed = stats.collapse(attrs)
        expected.update({(JOIN.join(attrs), JOIN.join(g)): n for g, n in zip(collapsed.groups, collapsed.group_count,
                                                                            strict=True)})
    out["count"] = np.array([int(np.rint(expected.get(key, n))) for key, n in out["count"].items()], dtype=np.int64)
    return out


def estimated_findings(findings: list, estimates: pd.DataFrame, estimated: Sequence[EstimatedAttribute],
                       views: Mapping[str, tuple[str, ...]]) -> list:
    """Findings on estimated attributes say so and name the proxy; a check decided by a weakly identified
    group is inconclusive."""
    weak = set()
    if len(estimates):
        flags = estimates["identified"].groupby(level=["attribute", "group"]).all()
        weak = {key for key, ok in flags.items() if not ok}
    sources = "; ".join(f"{a.name} from columns {', '.join(a.columns)}" for a in estimated)
    out = []
    for finding in findings:
        if finding.attribute not in views:
            out.append(finding)
            continue
        note = (f" (Estimated, not recorded: {sources}; group metrics corrected for the probabilities' mixing, "
                "see the method.)")
        undecided = [g for g in finding.groups if (finding.attribute, g) in weak]
        if undecided and finding.severity in ("fail", "warn", "pass"):
            finding = dataclasses.replace(
                finding, severity="inconclusive",
                message=(f"In {finding.attribute}, the {str(finding.measure or 'check').replace('_', ' ')} is "
                         f"decided by group {' and '.join(map(repr, undecided))}, which the membership "
                         "probabilities identify too weakly (small effective size or an ill-conditioned mixing "
                         "matrix): no conclusion."))
        out.append(dataclasses.replace(finding, message=finding.message + note))
    return out


def labelled(by_group: pd.DataFrame, findings: list, estimates: pd.DataFrame, estimated: Sequence[EstimatedAttribute],
             all_views: Sequence[tuple[str, ...]], stats: GroupStats) -> tuple[pd.DataFrame, list]:
    """``by_group`` with its ``estimated`` column and the findings labelled as estimates
    (:func:`mark_estimated`, :func:`estimated_findings`)."""
    marked = estimated_views(estimated, all_views)
    return (mark_estimated(by_group, marked, stats, all_views),
            estimated_findings(findings, estimates, estimated, marked))


def estimated_metadata(estimated: Sequence[EstimatedAttribute],
                       prior: Mapping[str, Mapping[str, float]] | None) -> dict[str, Any]:
    """What the result records about each estimated attribute."""
    return {a.name: {"columns": list(a.columns), "groups": list(a.groups), "unknown": a.unknown,
                     "prior": None if not prior or a.name not in prior else {str(k): float(v)
                                                                            for k, v in prior[a.name].items()},
                     "estimator": "corrected for the mixing of membership probabilities; row bootstrap"}
            for a in estimated}
