"""Identifiers are data: hostile column names (quotes, semicolons, spaces, unicode, SQL keywords, names
equal to the engine's internal aliases) and hostile group labels (quotes, unicode, NULL, very long) give
every engine the in-memory statistics, to 1e-9 (AUC histograms on the same edges)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairaudit.backends import group_stats
from fairaudit.stats import MISSING_GROUP
from tests.test_backends_engines import convert

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed: pip install 'fairaudit[duckdb]'")

ALIASES = ["fa_k0", "fa_k1", "fa_y", "fa_p", "fa_s", "fa_w", "fa_yb", "fa_pb", "fa_c", "fa_b", "fa_n", "fa_lo",
           "fa_sum_weight", "_fa_k0", "k0", "y", "p", "s", "w", "b", "c", "g", "n", "lo", "hi"]
"""The engine's internal column names (and the old SQL builders' aliases), as user columns."""
HOSTILE = ['"', "'", '";DROP TABLE t;--', "a'b\"c", "select", "from", "group", "order by", "a b", " lead",
           "trail ", "é ü 中文", "😀", "tab\there", "semi;colon", "back`tick", "[bracket]", "dot.ted", "NULL",
           "count(*)", "$1", "?"]
names = st.one_of(st.sampled_from(HOSTILE + ALIASES),
                  st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12))
labels = st.one_of(st.sampled_from(["'", '"', "O'Brien", "a\"b", "中文", "é", "x" * 300, "NULL", "", " ", ";--"]),
                   st.text(st.characters(blacklist_categories=("Cs",)), max_size=8))
labels = labels.filter(lambda v: v != MISSING_GROUP)
INPUTS = ["relation", "parquet", "polars", "pyarrow", "ibis"]


def usable(name: str) -> bool:
    """Names every engine can hold as a column (DuckDB compares names case-insensitively; Parquet keeps
    pandas' index names)."""
    return "\x00" not in name and not name.startswith("__index_level_")


@st.composite
def frames(draw):
    """A frame of five hostile column names (distinct, case-insensitively), unrelated alias-named
    columns, and hostile group labels with missing values."""
    columns = draw(st.lists(names.filter(usable), min_size=5, max_size=5, unique_by=str.lower))
    extra = draw(st.lists(st.sampled_from(ALIASES), max_size=4, unique=True))
    extra = [c for c in extra if c.lower() not in {n.lower() for n in columns}]
    group_values = draw(st.lists(labels, min_size=1, max_size=4, unique=True))
    n = 300
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    sensitive = rng.choice(np.array(group_values + [None], dtype=object), n)
    data = pd.DataFrame({
        columns[0]: sensitive,
        columns[1]: rng.choice(["x", "y'", None], n),
        columns[2]: rng.integers(0, 2, n),
        columns[3]: rng.choice([0.05, 0.25, 0.5, 0.75, 0.95, 0.333], n),
        columns[4]: rng.uniform(0.5, 2.0, n),
    })
    for name in extra:
        data[name] = rng.integers(0, 3, n)
    return data, columns


def assert_equal_stats(expected, got) -> None:
    assert got.stats.groups == expected.stats.groups
    assert expected.stats.equals(got.stats, rtol=1e-9)
    np.testing.assert_array_equal(got.stats.score_edges, expected.stats.score_edges)
    np.testing.assert_allclose(got.stats.score_hist, expected.stats.score_hist, rtol=1e-9)
    assert got.columns == expected.columns and got.missing_sensitive == expected.missing_sensitive


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=frames())
def test_hostile_names_and_labels_give_the_in_memory_statistics(case, con, tmp_path):
    data, columns = case
    kwargs = dict(sensitive=[columns[0], columns[1]], target=columns[2], y_score=columns[3],
                  sample_weight=columns[4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = group_stats(data, **kwargs)
        for kind in INPUTS:
            assert_equal_stats(expected, group_stats(convert(kind, data, con, tmp_path), **kwargs))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(case=frames())
def test_hostile_names_in_every_task(case, con, tmp_path):
    """Segments with hostile labels, a score task and top_k on hostile column names."""
    data, columns = case
    data = data.assign(**{columns[2]: data[columns[1]].fillna("z")})
    tasks = [dict(task="segmentation", y_pred=columns[2], favorable=["y'"]),
             dict(task="score", y_score=columns[3], target=columns[4]),
             dict(y_score=columns[3], top_k=0.3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kwargs in tasks:
            expected = group_stats(data, sensitive=[columns[0]], **kwargs)
            for kind in ("relation", "polars", "ibis"):
                got = group_stats(convert(kind, data, con, tmp_path), sensitive=[columns[0]], **kwargs)
                assert got.stats.groups == expected.stats.groups and expected.stats.equals(got.stats, rtol=1e-9)
                assert got.segments == expected.segments and got.targeted == expected.targeted
                if expected.segment_stats is not None:
                    np.testing.assert_allclose(got.segment_stats.weight, expected.segment_stats.weight, rtol=1e-9)
                if expected.score_stats is not None:
                    np.testing.assert_allclose(got.score_stats.sums, expected.score_stats.sums, rtol=1e-9)
                    np.testing.assert_allclose(got.score_stats.hist, expected.score_stats.hist, rtol=1e-9)
