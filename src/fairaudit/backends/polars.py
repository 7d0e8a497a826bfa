"""Polars engine: a polars DataFrame (or LazyFrame, collected by polars first) is audited by DuckDB
directly on its Arrow memory, without a copy to pandas. Needs the ``duckdb`` extra."""

from __future__ import annotations

from typing import Any

from fairaudit.backends import duckdb as duckdb_engine
from fairaudit.backends._common import Request, require


def compute(data: Any, request: Request, engine: str) -> Any:
    require("duckdb", duckdb_engine.EXTRA, "a polars DataFrame")
    if type(data).__name__ == "LazyFrame":
        data = data.collect()
    return duckdb_engine.compute(data, request, "polars")
