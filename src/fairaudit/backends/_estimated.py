"""Estimated sensitive attributes (``sensitive_proba`` as columns) where the rows live: only aggregates leave.

Each estimated attribute is a list of probability columns, read through the aliases ``e{a}_{j}`` of
:class:`~fairaudit.backends._narwhals.Rows` (narwhals quotes them; any column name works). The engine computes:

1. a *profile* of the probabilities (one row of aggregates: partial rows, values outside [0, 1] with the
   smallest and largest, sums off 1, unknown rows), checked by
   :func:`fairaudit.estimated.check_probability_profile`, as the in-memory path checks its rows;
2. with ``proba_prior``, the means of the re-weighted probabilities and their products, one aggregate per
   Newton step of :func:`fairaudit.estimated.prior_factors`;
3. in the cells pass, per group of the estimated attributes (a crossing of several multiplies their
   probabilities), the sums of each row's membership share: the weighted cells of
   :func:`fairaudit.estimated.weighted_stats`, spread into groups here by :meth:`Estimation.expand`;
4. one pass grouped by group x label x decision with each attribute's
   :class:`~fairaudit.estimated.MixingMoments`: the sums behind the mixing matrices and their second moments,
   from which :func:`fairaudit.estimated.moment_mixing` draws the interval's replicates.
"""

from __future__ import annotations

import functools
import itertools
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from fairaudit.backends._common import GroupCoder, Request, finest_of_mixed
from fairaudit.estimated import (
    SUM_TOLERANCE,
    EstimatedAttribute,
    MixingMoments,
    ProbabilityProfile,
    check_probability_profile,
    feature_products,
    mixing_features,
    prior_factors,
    prior_target,
)
from fairaudit.inputs import AuditInputError, group_name
from fairaudit.stats import MISSING_GROUP, natural_order

SUMS = ("count", "weight", "weight_sq", "score_sum", "score_sq_sum")


@dataclass(frozen=True)
class EngineEstimates:
    """What an engine hands back about its estimated attributes: the attributes (no rows), the observed
    attributes and finest observed groups that index the mixing sums, and each attribute's moments."""

    attributes: tuple[EstimatedAttribute, ...]
    observed: tuple[str, ...]
    fine: tuple[tuple[str, ...], ...]
    moments: dict[str, MixingMoments]


def _product(terms: list[Any]) -> Any:
    return functools.reduce(operator.mul, terms)


class Estimation:
    """The estimated attributes of one engine audit: checked, re-weighted to their prior, and the
    expressions of each row's membership share of every group."""

    def __init__(self, rows: Any, request: Request):
        self.rows, self.nw = rows, rows.nw
        if rows.task.name != "binary":
            raise AuditInputError("The 'sensitive_proba' argument audits binary decisions (with or without scores).")
        self.weighted, self.scored = rows.has("sample_weight"), rows.has("y_score")
        values = [[self.nw.col(rows.name(f"e{a}_{j}")) for j in range(len(columns))]
                  for a, (_, columns) in enumerate(request.estimated)]
        known = [~functools.reduce(operator.and_, [v.is_null() for v in vs]) for vs in values]
        profiles = self._profiles(values, known)
        prior = dict(request.prior)
        attributes, shares = [], []
        for (name, columns), vs, given, profile in zip(request.estimated, values, known, profiles, strict=True):
            check_probability_profile(name, columns, profile)
            groups = tuple(group_name(c) for c in columns) + ((MISSING_GROUP,) if profile.unknown else ())
            if name in prior:
                target = prior_target(name, groups, dict(prior[name]))
                factors = prior_factors(target, lambda f, vs=vs, given=given: self._moments(self._reweighted(vs, f),
                                                                                             given))
                vs = self._reweighted(vs, factors)
            zero, one = self.nw.lit(0.0), self.nw.lit(1.0)
            share = [self.nw.when(given).then(v).otherwise(zero) for v in vs]
            if profile.unknown:
                share.append(self.nw.when(given).then(zero).otherwise(one))
            attributes.append(EstimatedAttribute(name, groups, None, tuple(columns), profile.unknown))
            shares.append(share)
        self.attributes = tuple(attributes)
        aliases = {rows.name(f"share{a}_{g}"): share for a, group in enumerate(shares) for g, share in enumerate(group)}
        rows.frame = rows.frame.with_columns(**aliases)  # each share once, as a column: small expressions after
        self.shares = [[self.nw.col(rows.name(f"share{a}_{g}")) for g in range(len(group))]
                       for a, group in enumerate(shares)]
        self.combos = list(itertools.product(*[range(len(a.groups)) for a in self.attributes]))

    # ------------------------------------------------------------------ checks and prior
    def _profiles(self, values: list[list[Any]], known: list[Any]) -> list[ProbabilityProfile]:
        nw, name = self.nw, self.rows.name
        aggs = []
        for a, (vs, given) in enumerate(zip(values, known, strict=True)):
            missing = functools.reduce(operator.or_, [v.is_null() for v in vs])
            total = functools.reduce(operator.add, vs)
            count = {"partial": missing & given, "unknown": ~given,
                     "off": given & ((total - 1.0).abs() > SUM_TOLERANCE)}
            count.update({f"out{j}": given & ((v < 0) | (v > 1)) for j, v in enumerate(vs)})
            aggs += [flag.cast(nw.Int64).sum().alias(name(f"q{a}_{key}")) for key, flag in count.items()]
            aggs += [total.min().alias(name(f"q{a}_sumlo")), total.max().alias(name(f"q{a}_sumhi"))]
            aggs += [v.min().alias(name(f"q{a}_lo{j}")) for j, v in enumerate(vs)]
            aggs += [v.max().alias(name(f"q{a}_hi{j}")) for j, v in enumerate(vs)]
        row = self._one_row(aggs)

        def get(a: int, key: str, empty: float = 0.0) -> Any:
            value = row[name(f"q{a}_{key}")]
            return empty if value is None else value

        return [ProbabilityProfile(
            partial=int(get(a, "partial")), outside=tuple(int(get(a, f"out{j}")) for j in range(len(vs))),
            low=tuple(float(get(a, f"lo{j}", np.inf)) for j in range(len(vs))),
            high=tuple(float(get(a, f"hi{j}", -np.inf)) for j in range(len(vs))), off=int(get(a, "off")),
            sum_low=float(get(a, "sumlo", np.inf)), sum_high=float(get(a, "sumhi", -np.inf)),
            unknown=int(get(a, "unknown"))) for a, vs in enumerate(values)]

    def _one_row(self, aggs: list[Any]) -> dict[str, Any]:
        table = self.rows.frame.select(*aggs).collect(backend="pyarrow").to_native()
        return {column: table.column(column)[0].as_py() for column in table.column_names}

    def _reweighted(self, values: list[Any], factors: np.ndarray) -> list[Any]:
        """``p_g F_g / sum_h p_h F_h`` (:func:`fairaudit.estimated.reweighted`)."""
        scaled = [v * float(f) for v, f in zip(values, factors, strict=True)]
        total = functools.reduce(operator.add, scaled)
        return [v / total for v in scaled]

    def _moments(self, values: list[Any], known: Any) -> tuple[np.ndarray, np.ndarray]:
        """The mean of the re-weighted probabilities ``q`` and of ``q q'`` over the known rows (one pass)."""
        name, k = self.rows.name, len(values)
        pairs = [(g, h) for g in range(k) for h in range(g, k)]
        row = self._one_row([self.nw.when(known).then(v).mean().alias(name(f"mean{g}")) for g, v in enumerate(values)]
                            + [self.nw.when(known).then(values[g] * values[h]).mean().alias(name(f"cross{g}_{h}"))
                               for g, h in pairs])
        cross = np.empty((k, k))
        for g, h in pairs:
            cross[g, h] = cross[h, g] = row[name(f"cross{g}_{h}")]
        return np.array([row[name(f"mean{g}")] for g in range(k)], dtype=float), cross

    # ------------------------------------------------------------------ weighted cells
    def cell_sums(self) -> dict[str, Any]:
        """Per group of the estimated attributes (``x{c}``), the sums of the weighted cells."""
        rows = self.rows
        out = self.histogram_sums()
        for c in range(len(self.combos)):
            weight = out[f"x{c}_weight"]
            out[f"x{c}_weight_sq"] = weight * weight
            if self.scored:
                s = rows.col("s")
                out.update({f"x{c}_score_sum": weight * s, f"x{c}_score_sq_sum": weight * s * s})
        return out

    def histogram_sums(self) -> dict[str, Any]:
        """Per group of the estimated attributes (``x{c}``), the sums of the score histogram: each row's
        share of the group, and its weight times that share."""
        out = {}
        for c, combo in enumerate(self.combos):
            share = _product([self.shares[a][g] for a, g in enumerate(combo)])
            out.update({f"x{c}_count": share, f"x{c}_weight": share * self.rows.col("w") if self.weighted else share})
        return out

    def expand(self, table: dict[str, np.ndarray], coder: GroupCoder, tail: int) -> tuple[dict[str, np.ndarray],
                                                                                        GroupCoder]:
        """The cells table with each row once per estimated group it holds a share of (a group's key digits
        after the observed ones), and the coder of the crossed groups in the in-memory path's order. The row
        count of a cell row goes with its largest share (``sum_rows``: for the score histogram's edges)."""
        share = np.column_stack([table[f"sum_x{c}_count"] for c in range(len(self.combos))])
        observed, rest = np.divmod(table["key"], tail)
        fine = finest_of_mixed(coder, observed)
        r, c = np.nonzero(share > 0)
        code_of = {position: code for code, position in coder.index.items()}
        labels = [a.groups for a in self.attributes]
        pairs = sorted(set(zip(fine[r].tolist(), c.tolist(), strict=True)))
        named = {pair: coder.groups[pair[0]] + tuple(labels[a][g] for a, g in enumerate(self.combos[pair[1]]))
                 for pair in pairs}
        ordered = natural_order(named.values())
        position = {name: i for i, name in enumerate(ordered)}
        index = {code_of[g] + self.combos[k]: position[named[(g, k)]] for g, k in pairs}
        sizes = [len(groups) for groups in labels]
        places = np.array([int(np.prod(sizes[a + 1:])) for a in range(len(sizes))], dtype=np.int64)
        combo_code = np.array([int(np.dot(combo, places)) for combo in self.combos], dtype=np.int64)
        out = {"key": (observed[r] * int(np.prod(sizes)) + combo_code[c]) * tail + rest[r]}
        for name in SUMS:
            if f"sum_x0_{name}" in table:
                out["sum_" + name] = np.column_stack([table[f"sum_x{k}_{name}"] for k in range(len(self.combos))])[r, c]
        out["sum_rows"] = np.where(share.argmax(axis=1)[r] == c, table["sum_count"][r], 0.0)
        out.update({name: np.asarray(table[name])[r] for name in ("b", "lo", "hi") if name in table})
        crossed = GroupCoder(coder.attributes + tuple(a.name for a in self.attributes),
                             coder.values + tuple(tuple(range(size)) for size in sizes),
                             coder.names + tuple(labels), tuple(ordered), index)
        return out, crossed

    # ------------------------------------------------------------------ mixing moments
    def moment_sums(self) -> dict[str, Any]:
        """Per row, the sums of each attribute's :class:`~fairaudit.estimated.MixingMoments` (``m{a}f{j}``:
        features, ``m{a}q{j}``: their products), summed with the cells (:meth:`moments`)."""
        rows = self.rows
        w = rows.col("w") if self.weighted else None
        out: dict[str, Any] = {}
        for a, attribute in enumerate(self.attributes):
            features = mixing_features(len(attribute.groups), self.scored)
            monomials, _ = feature_products(features)
            for kind, terms, factor in (("f", features, w), ("q", monomials, None if w is None else w * w)):
                for j, (groups, power) in enumerate(terms):
                    parts = ([] if factor is None else [factor]) + [self.shares[a][g] for g in groups]
                    out[f"m{a}{kind}{j}"] = _product(parts + [rows.col("s")] * power)
        return out

    def moments(self, cells: dict[str, np.ndarray], coder: GroupCoder, binary_target: bool,
                calibration_bins: int) -> EngineEstimates:
        """Each attribute's :class:`~fairaudit.estimated.MixingMoments` per group x label x decision, from the
        cells (their ``key``: group, label, decision, then ``calibration_bins`` bins) with :meth:`moment_sums`."""
        keys = cells["key"] // calibration_bins
        rest, p = np.divmod(keys, 2)
        y = np.zeros_like(p)
        if binary_target:
            rest, y = np.divmod(rest, 2)
        g = finest_of_mixed(coder, rest)
        shape = (len(coder.groups), 2 if binary_target else 1, 2)
        moments = {}
        for a, attribute in enumerate(self.attributes):
            features = mixing_features(len(attribute.groups), self.scored)
            arrays = []
            for kind, width in (("f", len(features)), ("q", len(feature_products(features)[0]))):
                values = np.column_stack([cells[f"sum_m{a}{kind}{j}"] for j in range(width)])
                out = np.zeros(shape + (width,))
                np.add.at(out, (g, y, p), values)
                arrays.append(out)
            moments[attribute.name] = MixingMoments(len(attribute.groups), self.scored, *arrays)
        return EngineEstimates(self.attributes, coder.attributes, coder.groups, moments)
