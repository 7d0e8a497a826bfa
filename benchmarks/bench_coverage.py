"""Coverage of fairaudit's intervals: how often the 95% interval holds the true value, by simulation.

Each cell draws ``--reps`` data sets with known truth and runs the code path the audit runs (the view's
Wilson intervals, its simultaneous contrasts and measures; the ROC AUC interval from score histograms):

* ``rate``: one group's selection rate (Wilson), true rate ``p``;
* ``difference`` / ``ratio``: two groups of ``n`` with rates ``p`` and ``0.8 p`` (Newcombe; Katz log);
* ``unequal``: the same difference and ratio with groups of ``n`` and 2,000;
* ``range``: max - min and min / max over ``k`` groups of ``n`` with the same rate ``p`` (truth 0 and 1:
  the winner's-curse case), intervals simultaneous over the groups;
* ``auc``: a group's ROC AUC (true 0.76), ``p`` the share of positives; cells where groups have fewer than
  10 positives or negatives get no interval, and ``given`` says how often one was given.

    python benchmarks/bench_coverage.py               # every cell, 1,000 replications each
    python benchmarks/bench_coverage.py --reps 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats as scipy_stats

from fairaudit.metrics import METRICS
from fairaudit.stats import GroupStats
from fairaudit.tables import build_tables
from fairaudit.uncertainty import estimate, wilson_interval

CONFIDENCE = 0.95
SIZES, RATES, GROUPS = (30, 200, 2000), (0.05, 0.5), (2, 4, 8)
AUC_SHIFT = 1.0  # positives' scores shifted by one standard deviation: true AUC = Phi(1 / sqrt 2) = 0.760


def decisions(selected: np.ndarray, sizes: np.ndarray) -> GroupStats:
    """Group statistics of groups with ``selected`` of ``sizes`` people selected (no target, no score)."""
    cells = np.zeros((len(sizes), 1, 2, 1))
    cells[:, 0, 1, 0], cells[:, 0, 0, 0] = selected, sizes - selected
    groups = tuple((str(i),) for i in range(len(sizes)))
    return GroupStats(("g",), groups, cells, cells, cells, np.zeros_like(cells), np.zeros_like(cells), False, False)


def contrast_coverage(rates: np.ndarray, sizes: np.ndarray, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    """Coverage of the view's max - min and min / max intervals, as the audit computes them."""
    truth_d, truth_r = rates.max() - rates.min(), rates.min() / rates.max()
    hits_d = hits_r = 0
    for _ in range(reps):
        checks = build_tables(decisions(rng.binomial(sizes, rates), sizes), intersections=False,
                              confidence=CONFIDENCE, n_boot=0, rng=rng).checks
        low, high = checks[("g", "selection_rate_difference")].interval(CONFIDENCE)
        hits_d += low <= truth_d + 1e-12 and truth_d - 1e-12 <= high
        low, high = checks[("g", "selection_rate_ratio")].interval(CONFIDENCE)
        hits_r += low <= truth_r + 1e-12 and truth_r - 1e-12 <= high
    return hits_d / reps, hits_r / reps


def rate_coverage(n: int, p: float, reps: int, rng: np.random.Generator) -> float:
    low, high = wilson_interval(rng.binomial(n, p, reps) / n, np.full(reps, float(n)), CONFIDENCE)
    return float(np.mean((low <= p) & (p <= high)))


def auc_coverage(n: int, p: float, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    """Coverage among the groups given an interval, and the share given one."""
    truth = scipy_stats.norm.cdf(AUC_SHIFT / np.sqrt(2))
    y = (rng.random((reps, n)) < p).astype(np.int8)
    score = np.round(scipy_stats.norm.cdf((rng.normal(size=(reps, n)) + AUC_SHIFT * y - 0.5) / 1.5), 4).ravel()
    replications = tuple((str(r),) for r in range(reps))
    stats = GroupStats.from_codes(("replication",), replications, np.repeat(np.arange(reps), n), y.ravel(),
                                  (score >= 0.5).astype(np.int8), score, None)
    found = estimate(METRICS["roc_auc"], stats, None, CONFIDENCE)
    low, high = found.low, found.high
    given = np.isfinite(low)
    if not given.any():
        return np.nan, 0.0
    return float(np.mean((low[given] <= truth) & (truth <= high[given]))), float(given.mean())


def cells(reps: int, seed: int = 0, sizes=SIZES, rates=RATES, groups=GROUPS) -> list[dict]:
    """Every cell of the suite: kind, k, n, p, coverage (and ``given`` for the AUC)."""
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        for p in rates:
            out.append({"kind": "rate", "k": 1, "n": n, "p": p, "coverage": rate_coverage(n, p, reps, rng)})
            for kind, second in (("", n), ("unequal ", 2000)):
                d, r = contrast_coverage(np.array([p, 0.8 * p]), np.array([n, second]), reps, rng)
                out.append({"kind": f"{kind}difference", "k": 2, "n": n, "p": p, "coverage": d})
                out.append({"kind": f"{kind}ratio", "k": 2, "n": n, "p": p, "coverage": r})
            for k in groups:
                d, r = contrast_coverage(np.full(k, p), np.full(k, n), reps, rng)
                out.append({"kind": "range max-min", "k": k, "n": n, "p": p, "coverage": d})
                out.append({"kind": "range min/max", "k": k, "n": n, "p": p, "coverage": r})
            coverage, given = auc_coverage(n, p, reps, rng)
            out.append({"kind": "auc", "k": 1, "n": n, "p": p, "coverage": coverage, "given": given})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = cells(args.reps, args.seed)
    print(f"Coverage of 95% intervals, {args.reps:,} replications per cell\n")
    print(f"{'interval':<20} {'k':>2} {'n':>5} {'p':>5} {'nominal':>8} {'coverage':>9} {'given':>6}")
    for row in rows:
        given = f"{row['given']:.2f}" if "given" in row else ""
        print(f"{row['kind']:<20} {row['k']:>2} {row['n']:>5} {row['p']:>5} {CONFIDENCE:>8.2f} "
              f"{row['coverage']:>9.3f} {given:>6}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
