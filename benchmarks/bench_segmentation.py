"""Segmentation and score audits at 1M rows, 3 sensitive attributes (40 crossings): time and peak memory.

    python benchmarks/bench_segmentation.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

import fairaudit as fa


def table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(0, 2, n), "b": rng.integers(0, 4, n), "c": rng.integers(0, 5, n)})
    frame["segment"] = (rng.integers(0, 8, n) + frame["b"]) % 8
    frame["clv"] = np.round(rng.gamma(2.0, 100.0, n) + 20 * frame["a"], 2)
    return frame


def measure(label: str, call) -> None:
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"{label:<58} {best:7.2f} s   peak {peak:6.0f} MB (traced, beyond the data)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    n = parser.parse_args().rows
    warnings.simplefilter("ignore", fa.FairAuditWarning)
    frame = table(n)
    sensitive = ["a", "b", "c"]
    measure(f"segmentation, {n:,} rows, 8 segments, n_boot=1000",
            lambda: fa.audit(None, frame, sensitive=sensitive, y_pred="segment", task="segmentation"))
    measure(f"segmentation + favorable segments, {n:,} rows",
            lambda: fa.audit(None, frame, sensitive=sensitive, y_pred="segment", task="segmentation",
                             favorable=[0, 1]))
    measure(f"score (CLV), {n:,} rows, n_boot=1000",
            lambda: fa.audit(None, frame, sensitive=sensitive, y_score="clv", task="score"))
    measure(f"top 10% by CLV as a decision, {n:,} rows",
            lambda: fa.audit(None, frame, sensitive=sensitive, y_score="clv", top_k=0.1))


if __name__ == "__main__":
    main()
