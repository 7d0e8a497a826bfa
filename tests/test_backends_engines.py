"""The narwhals engine on every input but Spark (DuckDB relations, Parquet/CSV files, polars eager and lazy,
pyarrow, Ibis DuckDB tables): the same GroupStats and tables as the in-memory path, and the same errors.
(Spark: tests/test_backends_spark.py; every task: tests/test_backends_matrix.py.)"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairaudit.backends import MissingExtraError, group_stats
from fairaudit.inputs import AuditInputError, AuditTypeError
from tests.test_backends_common import CASES, assert_same_stats, assert_same_tables, quiet_group_stats, synthetic

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed: pip install 'fairaudit[duckdb]'")


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def parquet_parts(tmp_path_factory):
    """The synthetic table split over three Parquet files, read back with a glob."""
    folder = tmp_path_factory.mktemp("parts")
    data = synthetic()
    for i, part in enumerate(np.array_split(np.arange(len(data)), 3)):
        data.iloc[part].to_parquet(folder / f"part-{i}.parquet", index=False)
    return str(folder / "part-*.parquet")


INPUTS = ["relation", "parquet", "polars", "lazy", "pyarrow", "ibis"]


def convert(kind: str, frame: pd.DataFrame, con, folder):
    """A pandas frame as the engine's input of ``kind``."""
    import uuid

    if kind == "relation":
        return con.from_df(frame)
    if kind == "parquet":
        path = folder / f"data-{uuid.uuid4().hex[:8]}.parquet"
        frame.to_parquet(path, index=False)
        return str(path)
    if kind == "pyarrow":
        import pyarrow as pa

        return pa.Table.from_pandas(frame, preserve_index=False)
    if kind in ("polars", "lazy"):
        polars = pytest.importorskip("polars")
        eager = polars.from_pandas(frame)
        return eager.lazy() if kind == "lazy" else eager
    ibis = pytest.importorskip("ibis")
    name = f"t_{uuid.uuid4().hex[:8]}"
    con.register(name + "_df", frame)
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_df")
    return ibis.duckdb.from_connection(con).table(name)


@pytest.fixture(params=INPUTS)
def make_input(request, con, tmp_path):
    """Turns a pandas frame into one engine input (each kind in turn)."""
    return lambda frame: convert(request.param, frame, con, tmp_path)


# ---------------------------------------------------------------------------- parity
@pytest.mark.parametrize(("kind", "case"), [(kind, case) for case in CASES for kind in INPUTS
                                             if case != "adult" or kind in ("relation", "polars")])
def test_every_input_gives_the_in_memory_statistics(kind, case, con, tmp_path):
    """adult (32,561 rows, grid histogram) on two inputs only, to keep CI short."""
    frame, kwargs = CASES[case]
    data = frame()
    assert_same_stats(quiet_group_stats(data, **kwargs), quiet_group_stats(convert(kind, data, con, tmp_path),
                                                                            **kwargs))


def test_parquet_glob_gives_the_in_memory_statistics(parquet_parts):
    kwargs = CASES["synthetic"][1]
    got = quiet_group_stats(parquet_parts, **kwargs)
    assert got.engine == "files"
    assert_same_stats(quiet_group_stats(synthetic(), **kwargs), got)


def test_csv_file_gives_the_statistics_of_pandas_reading_it(tmp_path):
    frame, kwargs = CASES["german_credit"]
    path = tmp_path / "german.csv"
    frame().to_csv(path, index=False)
    assert_same_stats(quiet_group_stats(pd.read_csv(path), **kwargs), quiet_group_stats(str(path), **kwargs))


def test_tables_are_the_audit_tables(con):
    frame, kwargs = CASES["adult"]
    data = frame()
    assert_same_tables(data, quiet_group_stats(con.from_df(data), **kwargs), **kwargs)


def test_categorical_order_is_kept_through_an_enum(con):
    data = pd.DataFrame({"g": pd.Categorical(["low", "high", "mid", "low"], categories=["low", "mid", "high"]),
                         "p": [1, 0, 1, 1]})
    got = quiet_group_stats(con.from_df(data), sensitive="g", y_pred="p")
    assert got.stats.groups == (("low",), ("mid",), ("high",)) == quiet_group_stats(data, sensitive="g",
                                                                                     y_pred="p").stats.groups


def test_many_distinct_scores_give_the_default_quantile_bins(con):
    """60,000 continuous scores: the engine groups by grid cell and still finds numpy's quantile edges."""
    data = synthetic(60_000, seed=5)
    kwargs = dict(sensitive=["tier"], target="outcome", y_score="score", pos_label="approved")
    assert_same_stats(quiet_group_stats(data, **kwargs), quiet_group_stats(con.from_df(data), **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(sensitive=["tier"], y_score="score", threshold=0.3),
    dict(sensitive=["region", "tier"], target="outcome", y_pred="decision", pos_label="approved"),
])
def test_without_target_or_score(make_input, kwargs):
    data = synthetic()
    assert_same_stats(quiet_group_stats(data, **kwargs), quiet_group_stats(make_input(data), **kwargs))


# ---------------------------------------------------------------------------- a model
def _model(data: pd.DataFrame):
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(data[["x1", "x2"]], data["outcome"])


def test_model_scores_are_computed_in_the_engine(make_input):
    data = synthetic()
    kwargs = dict(sensitive=["region", "tier"], target="outcome", pos_label="approved", model=_model(data),
                  sample_weight="weight")
    got = quiet_group_stats(make_input(data), **kwargs)
    assert got.stats.has_score
    assert_same_stats(quiet_group_stats(data, **kwargs), got)


def test_label_model(con):
    class Rule:
        def predict(self, X):
            return np.where(X["x1"] > 0, "approved", "rejected")

    data = synthetic()
    kwargs = dict(sensitive=["region"], target="outcome", pos_label="approved", model=Rule(), features=["x1"])
    got = quiet_group_stats(con.from_df(data), **kwargs)
    assert not got.stats.has_score
    assert_same_stats(quiet_group_stats(data, **kwargs), got)


def test_top_k_with_a_label_model_is_refused_on_every_input(con):
    class Rule:
        def predict(self, X):
            return np.where(X["x1"] > 0, "approved", "rejected")

    data = synthetic()
    kwargs = dict(sensitive=["region"], target="outcome", pos_label="approved", model=Rule(), features=["x1"],
                  top_k=100)
    for given in (data, con.from_df(data)):
        with pytest.raises(AuditInputError, match="'top_k' argument needs scores to rank"):
            quiet_group_stats(given, **kwargs)


def test_model_error_is_the_in_memory_error(con):
    class Margin:
        def predict_proba(self, X):
            return np.column_stack([-X["x1"].to_numpy(), X["x1"].to_numpy()])

    with pytest.raises(AuditInputError, match=r"'model.predict_proba' argument has \d+ score\(s\) outside \[0, 1\]"):
        quiet_group_stats(con.from_df(synthetic()), sensitive=["region"], target="outcome", pos_label="approved",
                          model=Margin(), features=["x1"])


# ---------------------------------------------------------------------------- errors, per input kind
def test_wrong_column_name_is_named_with_suggestions(make_input):
    data = make_input(synthetic())
    with pytest.raises(AuditInputError, match=r"'sensitive' argument names column 'regoin', which is not in "
                                              r"data\. Did you mean 'region'\?"):
        group_stats(data, sensitive=["regoin"], y_score="score")
    with pytest.raises(AuditInputError, match=r"'target' argument names column 'outcomes'.*Did you mean 'outcome'"):
        group_stats(data, sensitive=["region"], target="outcomes", y_score="score")


def test_struct_column_is_refused(con, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    relation = con.sql("SELECT {'city': 'Lyon', 'zip': 69000} AS address, 0.5 AS score")
    with pytest.raises(AuditTypeError, match=r"'sensitive' argument names column 'address' of type Struct"):
        group_stats(relation, sensitive="address", y_score="score")
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"tags": [["a"], ["b"]], "score": [0.2, 0.7]}), path)
    with pytest.raises(AuditTypeError, match=r"column 'tags' of type List\(String\), which cannot be audited"):
        group_stats(str(path), sensitive="tags", y_score="score")


def test_text_scores_are_refused(make_input):
    data = make_input(pd.DataFrame({"g": ["a", "b"], "s": ["0.1", "0.9"]}))
    with pytest.raises(AuditTypeError, match="'y_score' argument names column 's'.*must hold numeric scores"):
        group_stats(data, sensitive="g", y_score="s")


def test_missing_extra_names_it(monkeypatch):
    data = "data/*.parquet"
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'fairaudit\[duckdb\]'") as error:
        group_stats(data, sensitive="g", y_score="s")
    assert isinstance(error.value, ImportError)


def test_missing_target_values_are_counted(make_input):
    data = synthetic().copy()
    data.loc[[3, 5, 8], "outcome"] = None
    with pytest.raises(AuditInputError, match=r"target column 'outcome' has 3 missing value\(s\) \(NaN\) out of 20000"):
        group_stats(make_input(data), sensitive="region", target="outcome", y_score="score", pos_label="approved")


def test_missing_and_outside_scores(make_input):
    data = synthetic().copy()
    data.loc[[1, 2], "score"] = np.nan
    with pytest.raises(AuditInputError, match=r"y_score column 'score' has 2 missing value\(s\) \(NaN\) out of 20000"):
        group_stats(make_input(data), sensitive="region", y_score="score")
    data.loc[[1, 2], "score"] = [1.5, -0.25]
    with pytest.raises(AuditInputError, match=r"2 score\(s\) outside \[0, 1\] \(min -0.25, max 1.5\)"):
        group_stats(make_input(data), sensitive="region", y_score="score")


def test_too_many_groups(make_input):
    data = pd.DataFrame({"customer": np.arange(60), "s": np.linspace(0, 1, 60)})
    with pytest.raises(AuditInputError, match="'customer' has 60 distinct values, more than the limit of 50"):
        group_stats(make_input(data), sensitive="customer", y_score="s")


def test_missing_sensitive_values_are_a_counted_group(make_input):
    data = synthetic()
    got = group_stats(make_input(data), sensitive=["region", "band"], y_score="score")
    assert got.missing_sensitive == {"region": int(data["region"].isna().sum()), "band": int(data["band"].isna().sum())}
    region = got.stats.collapse(("region",))
    assert region.groups[-1] == ("(missing)",)
    assert region.group_count[-1] == data["region"].isna().sum()


def test_pos_label_not_among_the_labels(make_input):
    data = make_input(synthetic())
    with pytest.raises(AuditInputError, match=r"target column 'outcome' has values 'approved', 'rejected', and "
                                              r"pos_label=1 is not one of them"):
        group_stats(data, sensitive="region", target="outcome", y_score="score")


def test_weights_are_checked(make_input):
    data = synthetic().copy()
    data.loc[[0, 1], "weight"] = -1.0
    with pytest.raises(AuditInputError, match=r"sample_weight column 'weight' has 2 negative value\(s\) \(min -1\)"):
        group_stats(make_input(data), sensitive="region", y_score="score", sample_weight="weight")


def test_no_rows_and_no_files(con, tmp_path):
    with pytest.raises(AuditInputError, match="'data' argument has no rows"):
        group_stats(con.sql("SELECT 'a' AS g, 0.5 AS s WHERE false"), sensitive="g", y_score="s")
    with pytest.raises(AuditInputError, match="matches no file"):
        group_stats(str(tmp_path / "none-*.parquet"), sensitive="g", y_score="s")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(AuditInputError, match=r"reads Parquet \(.parquet\) and CSV \(.csv\) files"):
        group_stats(str(tmp_path / "data.json"), sensitive="g", y_score="s")


def test_dates_times_and_decimals_as_groups(con):
    """Values matched back in SQL keep their type: dates, timestamps, decimals, floats, enums."""
    from decimal import Decimal

    rng = np.random.default_rng(2)
    n = 3000
    days = pd.to_datetime(["2024-01-01 00:00:00", "2024-02-29 12:30:00.25"], format="ISO8601").to_numpy()
    data = pd.DataFrame({
        "day": rng.choice(days, n),
        "rate": rng.choice(np.array([Decimal("1.50"), Decimal("2.25")], dtype=object), n),
        "y": rng.integers(0, 2, n), "s": rng.uniform(size=n),
    })
    con.register("dates_data", data)
    relation = con.sql("SELECT day, CAST(rate AS DECIMAL(4, 2)) AS rate, CAST(day AS DATE) AS date, y, s "
                       "FROM dates_data")
    kwargs = dict(sensitive=["day", "rate"], target="y", y_score="s")
    expected = quiet_group_stats(data, **kwargs)
    got = quiet_group_stats(relation, **kwargs)
    assert got.stats.groups == expected.stats.groups
    assert expected.stats.equals(got.stats)
    dates = quiet_group_stats(relation, sensitive="date", target="y", y_score="s")
    assert [g[0] for g in dates.stats.groups] == ["2024-01-01", "2024-02-29"]


def test_many_crossings_beyond_the_profile_cap(make_input, monkeypatch):
    """More (groups x labels) rows than the profile brings back: counted column by column, same stats."""
    import fairaudit.backends._narwhals as engine

    monkeypatch.setattr(engine, "PROFILE_CAP", 10)
    frame, kwargs = CASES["synthetic"]
    data = frame().iloc[:3000]
    assert_same_stats(quiet_group_stats(data, **kwargs), quiet_group_stats(make_input(data), **kwargs))
    with pytest.raises(AuditInputError, match="'customer' has 60 distinct values, more than the limit of 50"):
        group_stats(make_input(pd.DataFrame({"customer": np.arange(60), "s": np.linspace(0, 1, 60)})),
                    sensitive="customer", y_score="s")


def test_csv_header_spaces_are_kept(tmp_path):
    """A CSV column ' lead' keeps its leading space, as pandas.read_csv reads it."""
    path = tmp_path / "spaces.csv"
    path.write_text(' lead,score ,y\na,0.2,1\nb,0.7,0\na,0.9,1\n')
    got = group_stats(str(path), sensitive=" lead", y_score="score ", target="y")
    assert got.columns == [" lead", "score ", "y"]
    assert_same_stats(group_stats(pd.read_csv(path), sensitive=" lead", y_score="score ", target="y"), got)
