"""fairaudit.backends without an engine: detection, lazy imports, the request, default histogram edges,
warnings; and the cases and comparisons the DuckDB and Spark parity tests share."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fairaudit as fa
from fairaudit.backends import EngineStats, engine_of, group_stats
from fairaudit.inputs import AuditInputError, AuditTypeError, MissingSensitiveValueWarning, SingleGroupWarning
from fairaudit.stats import SCORE_GRID, GroupStats, default_score_edges, edges_from_distinct, edges_from_grid
from fairaudit.tables import build_tables
from tests.conftest import fit_scores

N_BOOT = 200


# ---------------------------------------------------------------------------- shared cases
@functools.cache
def german_credit() -> pd.DataFrame:
    """german_credit with a logistic regression's score and random weights (1,000 rows: exact bins)."""
    data = fa.load_dataset("german_credit")
    data["score"] = fit_scores(data, "good_credit", ["sex", "age_group", "foreign_worker"])
    data["weight"] = np.random.default_rng(11).uniform(0.2, 3.0, len(data))
    return data[["sex", "age_group", "foreign_worker", "good_credit", "score", "weight"]]


@functools.cache
def adult() -> pd.DataFrame:
    """adult's train split with a logistic regression's score (32,561 rows, ~32k distinct scores: quantile
    bins)."""
    data = fa.load_dataset("adult")
    data = data[data["split"] == "train"].reset_index(drop=True)
    data["score"] = fit_scores(data, "income_over_50k", ["sex", "race"])
    return data[["sex", "race", "age_group", "income_over_50k", "score"]]


@functools.cache
def synthetic(n: int = 20_000, seed: int = 3) -> pd.DataFrame:
    """Missing values in a text and a float attribute, an integer attribute, text labels, weights."""
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array(["north", "south", "east", "west", None], dtype=object), n,
                        p=[0.3, 0.3, 0.2, 0.15, 0.05])
    band = rng.choice([20.0, 32.5, 50.0, np.nan], n, p=[0.4, 0.3, 0.25, 0.05])
    tier = rng.integers(1, 4, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    score = 1 / (1 + np.exp(-(0.8 * x1 - 0.5 * x2 + 0.3 * (tier - 2))))
    outcome = np.where(rng.uniform(size=n) < score, "approved", "rejected")
    decision = np.where(rng.uniform(size=n) < 0.4, "approved", "rejected")
    return pd.DataFrame({"region": region, "band": band, "tier": tier, "outcome": outcome, "decision": decision,
                         "score": score, "weight": rng.uniform(0.2, 3.0, n), "x1": x1, "x2": x2})


CASES = {
    "german_credit": (german_credit, dict(sensitive=["sex", "age_group", "foreign_worker"], target="good_credit",
                                          y_score="score", sample_weight="weight")),
    "adult": (adult, dict(sensitive=["sex", "race"], target="income_over_50k", y_score="score")),
    "synthetic": (synthetic, dict(sensitive=["region", "band", "tier"], target="outcome", y_pred="decision",
                                  y_score="score", sample_weight="weight", pos_label="approved")),
}


def quiet_group_stats(data, **kwargs) -> EngineStats:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return group_stats(data, **kwargs)


def assert_same_stats(expected: EngineStats, got: EngineStats) -> None:
    """Same groups in the same order, same sums (1e-12), same histogram bins, same bookkeeping."""
    assert got.stats.groups == expected.stats.groups
    assert got.stats.attributes == expected.stats.attributes
    assert expected.stats.equals(got.stats)
    if expected.stats.score_edges is None:
        assert got.stats.score_edges is None
    else:
        np.testing.assert_array_equal(got.stats.score_edges, expected.stats.score_edges)
    assert got.rows == expected.rows
    assert got.missing_sensitive == expected.missing_sensitive
    assert got.columns == expected.columns
    assert got.fingerprint == expected.fingerprint


def assert_same_tables(frame: pd.DataFrame, got: EngineStats, **kwargs) -> None:
    """``fairaudit.audit`` on the pandas frame and the tables built from the engine's statistics agree
    to 1e-9 (same random_state: same bootstrap)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fa.audit(None, frame, n_boot=N_BOOT, random_state=0, **kwargs)
        tables = build_tables(got.stats, intersections=True, confidence=0.95, n_boot=N_BOOT,
                              rng=np.random.default_rng(0))
    for name in ("by_group", "disparities", "measures", "overall"):
        pd.testing.assert_frame_equal(getattr(tables, name), getattr(result, name), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- detection and imports
def test_importing_fairaudit_imports_no_engine():
    code = ("import sys, fairaudit, fairaudit.backends, fairaudit.backends._native, fairaudit.backends._narwhals; "
            "print(sorted(m for m in ('duckdb', 'pyspark', 'polars', 'ibis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _fake(module: str, name: str) -> object:
    return type(name, (), {"__module__": module})()


@pytest.mark.parametrize(("data", "engine"), [
    (pd.DataFrame({"a": [1]}), "pandas"),
    ("data/*.parquet", "files"),
    (Path("data.csv"), "files"),
    (["a.parquet", Path("b.parquet")], "files"),
    (_fake("duckdb.duckdb", "DuckDBPyRelation"), "duckdb"),
    (_fake("_duckdb", "DuckDBPyRelation"), "duckdb"),
    (_fake("pyarrow.lib", "Table"), "pyarrow"),
    (_fake("ibis.expr.types.relations", "Table"), "ibis"),
    (_fake("polars.dataframe.frame", "DataFrame"), "polars"),
    (_fake("polars.lazyframe.frame", "LazyFrame"), "polars"),
    (_fake("pyspark.sql.dataframe", "DataFrame"), "spark"),
    (_fake("pyspark.sql.classic.dataframe", "DataFrame"), "spark"),
    (_fake("pyspark.sql.connect.dataframe", "DataFrame"), "spark"),
])
def test_engine_of(data, engine):
    assert engine_of(data) == engine


@pytest.mark.parametrize("data", [np.zeros((3, 2)), {"a": [1]}, 3, []])
def test_engine_of_refuses_other_inputs(data):
    with pytest.raises(AuditTypeError, match="'data' argument must be a pandas, polars or Spark DataFrame"):
        engine_of(data)


# ---------------------------------------------------------------------------- the request
@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(sensitive=np.array(["a", "b"]), y_pred="p"), AuditTypeError, "'sensitive' argument must be a column name"),
    (dict(sensitive=[], y_pred="p"), AuditInputError, "'sensitive' argument is empty"),
    (dict(sensitive=["g", "g"], y_pred="p"), AuditInputError, "names column 'g' twice"),
    (dict(sensitive="g", target=np.zeros(3), y_pred="p"), AuditTypeError, "'target' argument must be a column name"),
    (dict(sensitive="g", y_pred="p", threshold=float("nan")), AuditInputError, "'threshold' argument must be a finite"),
    (dict(sensitive="g"), AuditInputError, "No predictions to audit"),
])
def test_request_is_checked_before_any_engine(kwargs, error, message):
    with pytest.raises(error, match=message):
        group_stats(_fake("pyspark.sql.dataframe", "DataFrame"), **kwargs)


# ---------------------------------------------------------------------------- in-memory engine
def test_pandas_engine_is_the_audit_path():
    frame, kwargs = CASES["synthetic"]
    data = frame()
    got = quiet_group_stats(data, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fa.audit(None, data, n_boot=0, **kwargs)
    assert got.engine == "pandas" and got.rows == len(data) == result.metadata["rows"]
    assert got.missing_sensitive == {"region": int(data.region.isna().sum()), "band": int(data.band.isna().sum()),
                                     "tier": 0}
    assert len(got.fingerprint) == 64
    by_group = result.by_group.loc["region"]
    counts = got.stats.collapse(("region",))
    assert dict(zip([g[0] for g in counts.groups], counts.group_count, strict=True)) == by_group["count"].to_dict()


def test_warn_repeats_the_in_memory_warnings():
    data = pd.DataFrame({"g": ["a", None, "a"], "h": ["x", "x", "x"], "p": [1, 0, 1]})
    got = group_stats(data, sensitive=["g", "h"], y_pred="p")
    with pytest.warns(MissingSensitiveValueWarning, match="'g' has 1 missing value"):
        with pytest.warns(SingleGroupWarning, match="'h' has one group only"):
            got.warn()


# ---------------------------------------------------------------------------- histogram edges
@pytest.mark.parametrize("n_distinct", [7, 16_384, 20_000])
def test_edges_from_distinct_values_are_default_score_edges(n_distinct):
    rng = np.random.default_rng(n_distinct)
    values = np.unique(rng.uniform(size=n_distinct).round(6))
    scores = rng.choice(values, 60_000)
    distinct, counts = np.unique(scores, return_counts=True)
    np.testing.assert_array_equal(edges_from_distinct(distinct, counts.astype(float)), default_score_edges(scores))


@pytest.mark.parametrize("n", [40_000, 150_000])
def test_edges_from_grid_cells_are_default_score_edges(n):
    scores = np.random.default_rng(n).beta(2, 5, n)
    cells = np.floor(scores * SCORE_GRID).astype(np.int64)
    unique, inverse = np.unique(cells, return_inverse=True)
    low, high = np.full(unique.size, np.inf), np.full(unique.size, -np.inf)
    np.minimum.at(low, inverse, scores)
    np.maximum.at(high, inverse, scores)
    edges = edges_from_grid(unique, np.bincount(inverse).astype(float), low, high)
    np.testing.assert_array_equal(edges, default_score_edges(scores))


def test_assert_same_stats_sees_a_changed_cell():
    data = synthetic()
    kwargs = CASES["synthetic"][1]
    a = quiet_group_stats(data, **kwargs)
    changed = data.copy()
    changed.loc[0, "decision"] = "approved" if changed.loc[0, "decision"] == "rejected" else "rejected"
    b = quiet_group_stats(changed, **kwargs)
    assert isinstance(b.stats, GroupStats)
    with pytest.raises(AssertionError):
        assert_same_stats(a, b)
