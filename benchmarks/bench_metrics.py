"""fairaudit's metric table and intervals against fairlearn's MetricFrame, on the same data in one run.

Data: synthetic, 3 sensitive attributes (2 x 4 x 5 = 40 crossings), a label, a probability score and
the thresholded decision. fairaudit computes every metric of its registry (13, incl. ROC AUC and
calibration error) for every single attribute, every crossing (7 views, 57 groups), the disparities
and the named measures; fairlearn computes the same 13 metrics for the 40 crossings only.

    python benchmarks/bench_metrics.py                 # 100k and 1M rows, bootstrap, 10M rows
    python benchmarks/bench_metrics.py --sizes 100000 --skip-10m
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

import fairaudit as fa

METRIC_COUNT = 13


def synthetic(n: int, seed: int = 0, as_category: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n).astype(np.int8)
    b = rng.integers(0, 4, n).astype(np.int8)
    c = rng.integers(0, 5, n).astype(np.int8)
    logit = -1.0 + 0.4 * a - 0.2 * b + 0.1 * c + rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    score = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.7, n))))
    frame = pd.DataFrame({"a": a, "b": b, "c": c, "y": y, "score": score})
    if as_category:
        frame[["a", "b", "c"]] = frame[["a", "b", "c"]].astype("category")
    return frame


def fairlearn_metrics():
    import fairlearn.metrics as flm
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score, roc_auc_score

    def npv(y, p):
        return precision_score(y, p, pos_label=0, zero_division=np.nan)

    def ece(y, s):
        bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s)
        n = np.bincount(bins, minlength=10)
        return np.abs(np.bincount(bins, y, 10) - np.bincount(bins, s, 10)).sum() / max(n.sum(), 1)

    labels = {
        "selection_rate": flm.selection_rate, "base_rate": lambda y, p: np.mean(y),
        "true_positive_rate": flm.true_positive_rate, "false_positive_rate": flm.false_positive_rate,
        "false_negative_rate": flm.false_negative_rate, "true_negative_rate": flm.true_negative_rate,
        "precision": lambda y, p: precision_score(y, p, zero_division=np.nan), "npv": npv,
        "accuracy": accuracy_score, "balanced_accuracy": balanced_accuracy_score,
    }
    scores = {"roc_auc": roc_auc_score, "mean_score": lambda y, s: np.mean(s), "calibration_error": ece}
    return labels, scores


def time_fairlearn(frame: pd.DataFrame, n_boot: int | None = None) -> float:
    from fairlearn.metrics import MetricFrame

    labels, scores = fairlearn_metrics()
    y, s = frame["y"].to_numpy(), frame["score"].to_numpy()
    p = (s >= 0.5).astype(int)
    extra = {} if n_boot is None else {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MetricFrame(metrics=labels, y_true=y, y_pred=p, sensitive_features=frame[["a", "b", "c"]], **extra)
        MetricFrame(metrics=scores, y_true=y, y_pred=s, sensitive_features=frame[["a", "b", "c"]], **extra)
    return time.perf_counter() - start


def time_fairaudit(frame: pd.DataFrame, n_boot: int, repeat: int = 5) -> tuple[float, float]:
    """Best time of ``repeat`` runs and the peak traced memory of one run (MB)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fa.audit(None, frame, sensitive=["a", "b", "c"], target="y", y_score="score", n_boot=n_boot)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    fa.audit(None, frame, sensitive=["a", "b", "c"], target="y", y_score="score", n_boot=n_boot)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak


def ten_million() -> dict:
    """Run in a fresh process: audit 10M rows with integer-coded groups; time and peak RSS."""
    frame = synthetic(10_000_000, as_category=False)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    fa.audit(None, frame, sensitive=["a", "b", "c"], target="y", y_score="score", n_boot=1000)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": peak, "rss_before_audit_mb": base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--boot-size", type=int, default=100_000, help="rows for the bootstrap comparison")
    parser.add_argument("--fairlearn-boot", type=int, default=10, help="fairlearn's n_boot (it is slow)")
    parser.add_argument("--skip-10m", action="store_true")
    parser.add_argument("--child-10m", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_10m:
        print(json.dumps(ten_million()))
        return
    warnings.simplefilter("ignore", fa.FairAuditWarning)

    print(f"Metric table: {METRIC_COUNT} metrics, 3 sensitive attributes, 40 crossings")
    print(f"{'rows':>10} {'fairlearn s':>12} {'fairaudit s':>12} {'ratio':>8} {'fairaudit peak MB':>18}")
    for n in args.sizes:
        frame = synthetic(n)
        ours, peak = time_fairaudit(frame, n_boot=0)
        theirs = time_fairlearn(frame)
        print(f"{n:>10,} {theirs:>12.2f} {ours:>12.4f} {theirs / ours:>7.0f}x {peak:>18.1f}")

    print(f"\nIntervals at {args.boot_size:,} rows and at 1,000,000 rows")
    frame = synthetic(args.boot_size)
    base, _ = time_fairaudit(frame, n_boot=0)
    boot, _ = time_fairaudit(frame, n_boot=1000)
    theirs = time_fairlearn(frame, n_boot=args.fairlearn_boot) - time_fairlearn(frame)
    per_resample = theirs / args.fairlearn_boot
    print(f"  fairlearn n_boot={args.fairlearn_boot}: +{theirs:.1f} s ({per_resample:.2f} s per resample; "
          f"1000 resamples ~ {per_resample * 1000 / 60:.0f} min)")
    print(f"  fairaudit n_boot=1000: +{boot - base:.3f} s  "
          f"(ratio per resample ~ {per_resample * 1000 / max(boot - base, 1e-9):,.0f}x)")
    big = synthetic(1_000_000)
    base, _ = time_fairaudit(big, n_boot=0)
    boot, _ = time_fairaudit(big, n_boot=1000)
    print(f"  fairaudit at 1,000,000 rows: table {base:.3f} s, with n_boot=1000 {boot:.3f} s "
          f"(intervals add {boot - base:.3f} s)")

    if not args.skip_10m:
        out = subprocess.run([sys.executable, __file__, "--child-10m"], capture_output=True, text=True,
                             check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n10,000,000 rows, integer-coded groups, n_boot=1000: {result['seconds']:.2f} s, "
              f"peak RSS {result['peak_rss_mb']:.0f} MB (data alone {result['rss_before_audit_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
