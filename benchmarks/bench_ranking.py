"""Ranking audits: time from pandas, polars and DuckDB on the bank-marketing offer lists, repeated to
``--customers`` customers x 3 offers (the README's numbers: 200,000 customers, 600,000 rows).

    python benchmarks/bench_ranking.py [--customers 200000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import duckdb
import pandas as pd
import polars as pl

import fairaudit as fa
from fairaudit.ranking_example import offer_rankings

OPTIONS = dict(sensitive=["age_group", "marital"], query="customer_id", y_rank="rank", item="offer",
               target="accepted", favorable=["term_deposit"], top_k=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000)
    args = parser.parse_args()
    lists = offer_rankings(5000)
    copies = max(1, args.customers // 5000)
    big = pd.concat([lists.assign(customer_id=lists["customer_id"] + 5000 * i) for i in range(copies)],
                    ignore_index=True)
    print(f"{big['customer_id'].nunique():,} customers, {len(big):,} rows")
    warnings.simplefilter("ignore")
    for name, native in (("pandas", big), ("polars", pl.from_pandas(big)), ("duckdb", duckdb.from_df(big))):
        start = time.perf_counter()
        result = fa.audit(None, native, **OPTIONS)
        print(f"{name:7s} {time.perf_counter() - start:6.2f} s  verdict {result.verdict}")


if __name__ == "__main__":
    main()
