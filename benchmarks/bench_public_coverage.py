"""Coverage of the transparency report's intervals (AuditResult.to_public): how often the public interval of
each group's selection rate and of the demographic parity difference holds the exact-data value, against
the sampling interval alone around the noised value.

Four groups of 50 rows (selection rates 0.2, 0.4, 0.5, 0.6), one attribute, 95% intervals, 200 bootstrap
replicates, the default 30 noise redraws. Run: ``python benchmarks/bench_public_coverage.py [trials]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import fairaudit as fa
from fairaudit.public import publication


def coverage(epsilon: float, trials: int) -> tuple[float, float]:
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"group": np.repeat(list("abcd"), 50)})
    rates = np.repeat([0.2, 0.4, 0.5, 0.6], 50)
    data["d"] = (rng.random(len(data)) < rates).astype(int)
    exact = fa.audit(None, data, sensitive="group", y_pred="d", n_boot=200)
    seen = {}
    widen = publication.widen

    def recording(point, replicates, confidence, **options):
        seen["point"] = point
        return widen(point, replicates, confidence, **options)

    publication.widen = recording
    covered, narrow = [], []
    try:
        for seed in range(trials):
            public = exact.to_public(epsilon=epsilon, random_state=seed)
            for group in "abcd":
                truth = exact.by_group.loc[("group", group), "selection_rate"]
                for table, out in ((public.by_group, covered), (seen["point"]["by_group"], narrow)):
                    row = table.loc[("group", group)]
                    out.append(row["selection_rate_ci_low"] <= truth <= row["selection_rate_ci_high"])
            truth = exact.measures.loc[("group", "demographic_parity_difference"), "value"]
            for table, out in ((public.measures, covered), (seen["point"]["measures"], narrow)):
                row = table.loc[("group", "demographic_parity_difference")]
                out.append(row["ci_low"] <= truth <= row["ci_high"])
    finally:
        publication.widen = widen
    return float(np.mean(covered)), float(np.mean(narrow))


if __name__ == "__main__":
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    for epsilon in (0.1, 1.0):
        started = time.perf_counter()
        widened, sampling = coverage(epsilon, trials)
        print(f"epsilon {epsilon:g}: public intervals cover {widened:.1%}, sampling intervals alone {sampling:.1%} "
              f"({trials} releases x 5 numbers, {time.perf_counter() - started:.0f} s)")
