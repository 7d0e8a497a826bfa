"""A random sample of rows drawn inside the engine, for the steps that need rows (SHAP explanations).

The sample is uniform (DuckDB's reservoir sample, Spark's ``sample``), so that group proportions stay
those of the data: the explanation step then stratifies by group within it and compares each group with
the rest as the full data would. Only the requested columns and at most ``rows`` rows come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from fairaudit.backends._common import require

SAMPLE_ROWS = 50_000


def sample_rows(data: Any, engine: str, columns: Sequence[str], *, total: int, rows: int = SAMPLE_ROWS,
                seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows of ``columns``, uniformly at random, computed by the engine."""
    if engine == "spark":
        fraction = min(1.0, 1.2 * rows / max(total, 1))
        selected = data.select(*[f"`{c}`" for c in columns])
        return selected.sample(withReplacement=False, fraction=fraction, seed=seed).limit(rows).toPandas()
    from fairaudit.backends.duckdb import EXTRA, open_source, quote

    duckdb = require("duckdb", EXTRA, "a sample of the data")
    source = open_source(data, engine, duckdb)
    try:
        listed = ", ".join(quote(c) for c in columns)
        relation = source.relation.select(listed)
        sampled = relation.query("rows_to_sample", f"SELECT * FROM rows_to_sample USING SAMPLE reservoir({int(rows)} "
                                                   f"ROWS) REPEATABLE ({int(seed)})")
        return sampled.df()
    finally:
        source.close()
