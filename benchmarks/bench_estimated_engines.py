"""Estimated attributes on engines: time of an audit with ``sensitive_proba`` on pandas, a DuckDB relation, a
Parquet file and a polars LazyFrame, and how far the engines' corrected intervals (drawn from the sums' moments)
are from the pandas row bootstrap.

adult (48,842 rows), sex observed, race estimated from blurred probabilities (the README's stand-in for BISG:
0.7 x one-hot + 0.3 x the shares, five groups), decisions ``education_num >= 13``, target income.

    python benchmarks/bench_estimated_engines.py [--boot 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl

import fairaudit as fa


def data() -> tuple[pd.DataFrame, list[str]]:
    adult = fa.load_dataset("adult")
    frame = pd.DataFrame({"sex": adult["sex"].astype(str), "y": adult["income_over_50k"].astype(int),
                          "decision": (adult["education_num"] >= 13).astype(int)})
    known = pd.get_dummies(adult["race"].astype(str)).astype(float)
    probabilities = (0.7 * known + 0.3 * known.mean()).add_prefix("p_")
    return frame.join(probabilities), list(probabilities.columns)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args()
    frame, columns = data()
    options = dict(sensitive=["sex"], sensitive_proba={"race": columns}, target="y", y_pred="decision",
                   n_boot=args.boot, random_state=0)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "adult.parquet")
        frame.to_parquet(path, index=False)
        inputs = {"pandas": lambda: frame, "duckdb relation": lambda: duckdb.connect().from_df(frame),
                  "parquet (duckdb)": lambda: path, "polars lazy": lambda: pl.from_pandas(frame).lazy()}
        results = {}
        for name, make in inputs.items():
            source = make()
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[name] = fa.audit(None, source, **options)
            print(f"{name:>18}: {time.perf_counter() - started:6.1f} s")
    expected, got = results["pandas"].estimates, results["duckdb relation"].estimates
    numbers = ["weighted", "corrected", "effective_size"]
    print("largest difference of weighted/corrected/effective size:",
          f"{(expected[numbers] - got[numbers]).abs().to_numpy().max():.1e}")
    width = expected["ci_high"] - expected["ci_low"]
    for floor in (300, 1000):
        big = expected["effective_size"] >= floor
        gap = pd.concat([(expected[e] - got[e]).abs() for e in ("ci_low", "ci_high")], axis=1).max(axis=1) / width
        print(f"groups of {floor}+ effective people ({int(big.sum())} rows of estimates): interval ends differ by "
              f"{gap[big].median():.1%} of the width (median), {gap[big].max():.1%} (max)")


if __name__ == "__main__":
    main()
