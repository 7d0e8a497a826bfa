"""Estimated attributes (``sensitive_proba`` as columns) on every engine input: the weighted cells, the corrected
estimates and their intervals computed from aggregates the engine returns, checked against the in-memory audit."""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fairaudit as fa
from fairaudit.backends import group_stats
from fairaudit.estimated import (
    correct,
    expand,
    feature_products,
    mixing_features,
    mixing_stats,
    moment_mixing,
    resolve_sensitive_proba,
    weighted_stats,
)
from fairaudit.inputs import AuditInputError, AuditTypeError, encode_sensitive
from tests.test_backends_engines import INPUTS, convert
from tests.test_backends_matrix import assert_same_audit
from tests.test_estimated import calibrated, outcomes

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed: pip install 'fairaudit[duckdb]'")

COLUMNS = ["p a", "p'b", 'p"c']  # names that break hand-quoted SQL
ESTIMATED = {"race": COLUMNS}


@functools.cache
def people(n: int = 1200, seed: int = 11) -> pd.DataFrame:
    """An observed attribute, three estimated groups (calibrated probabilities, 2% unknown), a target, scores
    with ties, weights."""
    rng = np.random.default_rng(seed)
    truth, p = calibrated(n, 0.7, rng, prior=(0.5, 0.3, 0.2))
    y, pred = outcomes(truth, rng, fpr=(0.1, 0.2, 0.35), tpr=(0.6, 0.7, 0.8))
    frame = pd.DataFrame(p, columns=COLUMNS)
    frame.loc[rng.random(n) < 0.02, COLUMNS] = np.nan
    return frame.assign(sex=rng.choice(["f", "m"], n), y=y, score=np.round(np.clip(0.3 * pred + 0.7 * rng.random(n),
                                                                                    0, 1), 3),
                        weight=rng.uniform(0.5, 2.0, n))


def quiet(data, **kwargs) -> fa.AuditResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = dict(sensitive=["sex"], sensitive_proba=ESTIMATED, target="y", y_score="score", n_boot=50,
                       random_state=5)
        return fa.audit(None, data, **{**options, **kwargs})


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


PRIOR = {"race": {"p a": 0.4, "p'b": 0.35, 'p"c': 0.25}}
OPTIONS = {"plain": {}, "weighted": dict(sample_weight="weight"), "prior": dict(proba_prior=PRIOR)}


@functools.cache
def on_duckdb(case: str = "plain") -> fa.AuditResult:
    return quiet(duckdb.connect().from_df(people()), **OPTIONS[case])


def exact_columns(table: pd.DataFrame) -> list[str]:
    """The columns that do not depend on the corrected metrics' replicates: values, and the intervals of the
    metrics that are not corrected (AUC, calibration)."""
    kept = [c for c in table.columns if not c.endswith(("_ci_low", "_ci_high")) or c.startswith(
        ("roc_auc", "calibration_error"))]
    assert {"roc_auc_ci_low", "calibration_error_ci_high", "false_positive_rate"} <= set(kept)
    return kept


# ---------------------------------------------------------------------------- parity with pandas
@pytest.mark.parametrize("case", list(OPTIONS))
def test_duckdb_gives_the_pandas_estimates_and_tables(case):
    """Every value to 1e-9: weighted cells (counts are sums of probabilities), corrected and weighted estimates,
    effective sizes, condition numbers, every interval but the corrected metrics' (drawn differently)."""
    expected, got = quiet(people(), **OPTIONS[case]), on_duckdb(case)
    assert got.metadata["engine"] == "duckdb" and got.metadata["fingerprint_sha256"] == expected.metadata[
        "fingerprint_sha256"]
    exact = exact_columns(expected.by_group)
    pd.testing.assert_frame_equal(got.by_group[exact], expected.by_group[exact], rtol=1e-9, atol=1e-12)
    assert got.by_group["estimated"].loc["race"].all() and not got.by_group["estimated"].loc["sex"].any()
    numbers = ["weighted", "corrected", "effective_size", "condition", "identified"]
    pd.testing.assert_frame_equal(got.estimates[numbers], expected.estimates[numbers], rtol=1e-9, atol=1e-12)
    for column in ("difference", "ratio", "min_group", "max_group"):
        pd.testing.assert_series_equal(got.disparities[column], expected.disparities[column], rtol=1e-9)
    pd.testing.assert_series_equal(got.measures["value"], expected.measures["value"], rtol=1e-9)
    assert got.metadata["estimated"] == expected.metadata["estimated"]
    assert got.metadata["estimated"]["race"]["unknown"] > 0


@pytest.mark.parametrize("kind", INPUTS)
def test_every_engine_gives_the_same_audit_as_duckdb(kind, con, tmp_path):
    """The intervals are drawn from the sums' moments through a unique square root: every engine gives the same
    audit, intervals and findings included."""
    got = quiet(convert(kind, people(), con, tmp_path))
    expected = on_duckdb()
    assert_same_audit(expected, got)
    pd.testing.assert_frame_equal(got.estimates, expected.estimates, rtol=1e-9, atol=1e-12)
    assert [f.message for f in got.findings] == [f.message for f in expected.findings]


def test_csv_file_and_two_estimated_attributes_without_observed_ones(tmp_path):
    """A second estimated attribute (crossed with the first: probabilities multiply) and no observed one."""
    data = people().assign(young=np.linspace(0.1, 0.9, len(people())), old=lambda f: 1 - f["young"])
    path = tmp_path / "people.csv"
    data.to_csv(path, index=False)
    options = dict(sensitive=None, sensitive_proba={"race": COLUMNS, "age": ["young", "old"]}, n_boot=0)
    expected, got = quiet(pd.read_csv(path), **options), quiet(str(path), **options)
    assert got.metadata["engine"] == "files"
    assert set(got.by_group.index.get_level_values("attribute")) == {"race", "age", "race & age"}
    pd.testing.assert_frame_equal(got.by_group, expected.by_group, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(got.estimates, expected.estimates, rtol=1e-9, atol=1e-12)


def test_decisions_without_target_or_scores(con):
    data = people().assign(decision=lambda f: np.where(f["score"] >= 0.4, "yes", "no"))
    options = dict(target=None, y_score=None, y_pred="decision", pos_label="yes", n_boot=0)
    expected, got = quiet(data, **options), quiet(con.from_df(data), **options)
    assert list(got.estimates.index.unique("metric")) == ["selection_rate"]
    pd.testing.assert_frame_equal(got.by_group, expected.by_group, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(got.estimates, expected.estimates, rtol=1e-9, atol=1e-12)


def test_decisions_from_top_k_and_from_a_model_in_the_engine(con, tmp_path):
    from sklearn.linear_model import LogisticRegression

    data = people()
    model = LogisticRegression().fit(data[["score", "weight"]], data["y"])
    path = convert("parquet", data, con, tmp_path)
    for options in (dict(top_k=0.2, n_boot=0), dict(y_score=None, features=["score", "weight"], n_boot=0)):
        fitted = model if "features" in options else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kwargs = dict(sensitive=["sex"], sensitive_proba=ESTIMATED, target="y", y_score="score")
            expected = fa.audit(fitted, data, **{**kwargs, **options})
            got = fa.audit(fitted, path, **{**kwargs, **options})
        pd.testing.assert_frame_equal(got.by_group, expected.by_group, rtol=1e-9, atol=1e-12)
        pd.testing.assert_frame_equal(got.estimates, expected.estimates, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- the aggregates and the intervals
def test_the_engine_moments_are_the_sums_and_their_row_bootstrap_covariance():
    """Against numpy on the rows: sum w f and sum w^2 f f' per cell (the covariance of Poisson-bootstrap sums)."""
    data = people()
    pl = pytest.importorskip("polars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        computed = group_stats(pl.from_pandas(data), sensitive=[], sensitive_proba=ESTIMATED, target="y",
                               y_score="score", sample_weight="weight")
    moments = computed.estimates.moments["race"]
    known = data[COLUMNS].notna().all(axis=1).to_numpy()
    p = np.column_stack([data[COLUMNS].fillna(0).to_numpy(), ~known])
    features = mixing_features(4, True)
    f = np.column_stack([np.prod(p[:, list(groups)], axis=1) * data["score"].to_numpy() ** power
                         for groups, power in features])
    w = data["weight"].to_numpy()
    monomials, index = feature_products(features)
    decision = (data["score"].to_numpy() >= 0.5).astype(int)
    for y in (0, 1):
        for d in (0, 1):
            rows = (data["y"].to_numpy() == y) & (decision == d)
            x = w[rows, None] * f[rows]
            np.testing.assert_allclose(moments.sums[0, y, d], x.sum(axis=0), rtol=1e-10)
            np.testing.assert_allclose(moments.squares[0, y, d][index], x.T @ x, rtol=1e-10)


def test_corrected_intervals_agree_with_the_row_bootstrap():
    """The engine draws replicate sums from their row-bootstrap mean and covariance; pandas redraws the rows.
    With 2,000 replicates, each interval end of a group of 300+ effective people is within 10% of the
    interval's width (Monte-Carlo noise of either is about 3%)."""
    data = people(4000, seed=12)
    options = dict(sensitive=None, n_boot=2000, random_state=1)
    expected, got = quiet(data, **options), quiet(duckdb.connect().from_df(data), **options)
    big = expected.estimates["effective_size"] >= 300
    assert big.sum() >= 20
    width = (expected.estimates["ci_high"] - expected.estimates["ci_low"])[big]
    for end in ("ci_low", "ci_high"):
        gap = (got.estimates[end] - expected.estimates[end])[big].abs() / width
        assert gap.max() < 0.10, gap.sort_values().tail()


def coverage(reps: int, n: int, n_boot: int, seed: int) -> float:
    """How often the engine-path 95% interval of the false-positive-rate gap holds the true gap (0.21)."""
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        truth, p = calibrated(n, 0.5, rng)
        y, pred = outcomes(truth, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            computed = group_stats(pl.DataFrame({"a": p[:, 0], "b": p[:, 1], "y": y, "d": pred}), sensitive=[],
                                   sensitive_proba={"g": ["a", "b"]}, target="y", y_pred="d")
        point, boot = moment_mixing(computed.estimates.moments, n_boot=n_boot, rng=rng)["g"]
        c = correct(point, boot, np.array([0]), 1, ["false_positive_rate"], True, None)
        gap = np.diff(c.replicates["false_positive_rate"][:, 0], axis=-1)[:, 0]
        low, high = np.nanquantile(gap, [0.025, 0.975])
        hits += low <= 0.21 <= high
    return hits / reps


def test_engine_interval_covers_the_true_gap():
    assert coverage(reps=60, n=3000, n_boot=200, seed=4) >= 0.85


@pytest.mark.slow
def test_engine_interval_coverage_over_200_simulations():
    assert coverage(reps=200, n=5000, n_boot=400, seed=5) >= 0.90


# ---------------------------------------------------------------------------- bad input
BAD = {
    "negative": lambda f: f.assign(**{"p a": f["p a"] - 0.5, "p'b": f["p'b"] + 0.5}),
    "above one": lambda f: f.assign(**{"p a": f["p a"] + 1.0, "p'b": f["p'b"] - 1.0}),
    "not summing": lambda f: f.assign(**{"p a": f["p a"] * 0.9}),
    "partly missing": lambda f: f.assign(**{"p'b": f["p'b"].where(f.index != 7)}),
    "text": lambda f: f.assign(**{"p'b": "x"}),
}


@pytest.mark.parametrize("kind", ["relation", "lazy"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_probabilities_give_the_pandas_error(case, kind, con, tmp_path):
    data = BAD[case](people(200).copy())
    with pytest.raises(AuditInputError) as expected:
        quiet(data, n_boot=0)
    with pytest.raises(AuditInputError) as got:
        quiet(convert(kind, data, con, tmp_path), n_boot=0)
    assert str(got.value) == str(expected.value)
    assert "'sensitive_proba' of 'race'" in str(got.value)
    assert any(repr(c) in str(got.value) for c in COLUMNS)


@pytest.mark.parametrize("estimated, words", [
    ({"race": ["p a"]}, "1 group column(s) (p a)"),
    ({"race": ["p a", "nope"]}, "names column 'nope'"),
    ({"sex": COLUMNS}, "both in 'sensitive' and in 'sensitive_proba'"),
])
def test_bad_columns_give_the_pandas_error(estimated, words, con):
    with pytest.raises(AuditInputError, match="sensitive_proba") as expected:
        quiet(people(200), sensitive_proba=estimated, n_boot=0)
    with pytest.raises(AuditInputError) as got:
        quiet(con.from_df(people(200)), sensitive_proba=estimated, n_boot=0)
    assert str(got.value) == str(expected.value) and words in str(got.value)


def test_an_engine_needs_probability_columns_not_a_frame(con):
    with pytest.raises(AuditTypeError, match="must be a list of column names of data when data is a file"):
        quiet(con.from_df(people(200)), sensitive_proba={"race": people(200)[COLUMNS]})
    with pytest.raises(AuditInputError, match="binary decisions"):
        quiet(con.from_df(people(200)), task="score", target=None)


# ---------------------------------------------------------------------------- any column name
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=2, max_size=3, unique_by=str.lower).filter(
    lambda names: not {"sex", "y", "score", "(missing)"} & {n.lower() for n in names}),
       kind=st.sampled_from(["relation", "lazy"]))
def test_hostile_probability_column_names(names, kind, con, tmp_path):
    """Quotes, spaces, SQL, unicode: the names are data, never spliced into a query. The engine's weighted cells
    and mixing sums are those of the rows in memory."""
    rng = np.random.default_rng(len("".join(names)))
    p = rng.dirichlet(np.ones(len(names)), 300)
    data = pd.DataFrame(p, columns=names).assign(sex=rng.choice(["f", "m"], 300), y=rng.integers(0, 2, 300),
                                                 score=rng.random(300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = group_stats(convert(kind, data, con, tmp_path), sensitive=["sex"], sensitive_proba={"race": names},
                          target="y", y_score="score")
    sex = encode_sensitive(data, ["sex"])
    (race,) = resolve_sensitive_proba(data, {"race": names}, observed=("sex",))
    y, score = data["y"].to_numpy(), data["score"].to_numpy()
    decision = (score >= 0.5).astype(np.int8)
    expected = weighted_stats(expand(sex, [race], 300), y, decision, score, None)
    assert got.stats.groups == expected.groups and got.stats.equals(expected, rtol=1e-9)
    point = mixing_stats(sex.codes, len(sex.groups), race.proba, y, decision, score, None)
    moments = got.estimates.moments["race"]
    ours = moments.stats(moments.sums)
    for name in ("first", "second", "score"):
        np.testing.assert_allclose(getattr(ours, name), getattr(point, name), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- the CLI
def test_cli_config_audits_probability_columns_in_duckdb(tmp_path, monkeypatch, capsys):
    from fairaudit.cli import main

    data = people(1500)
    data.to_parquet(tmp_path / "people.parquet", index=False)
    (tmp_path / "audit.yaml").write_text(
        "name: estimated-duckdb\ndata: people.parquet\nengine: duckdb\ny_score: score\ntarget: y\nn_boot: 50\n"
        "sensitive: [sex]\nsensitive_proba:\n  race: ['p a', \"p'b\", 'p\"c']\n")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["run", "audit.yaml", "--format", "json", "--json"])
    assert code in (0, 1, 4)
    saved = json.loads((tmp_path / json.loads(capsys.readouterr().out)["reports"]["json"]).read_text())
    assert saved["metadata"]["engine"] == "files"
    assert saved["metadata"]["estimated"]["race"]["columns"] == COLUMNS
    expected = quiet(data, n_boot=50).estimates["corrected"]
    got = pd.DataFrame(saved["estimates"]["records"]).set_index(["attribute", "group", "metric"])["corrected"]
    pd.testing.assert_series_equal(got.loc[expected.index], expected, rtol=1e-9, check_names=False)


# ---------------------------------------------------------------------------- Spark (the one session of conftest)
def test_spark_gives_the_same_audit_as_duckdb(spark):
    pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'fairaudit[spark]'")
    from tests.test_backends_spark import to_spark

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        got = quiet(to_spark(spark, people()), **OPTIONS["weighted"])
    expected = on_duckdb("weighted")
    assert got.metadata["engine"] == "spark"
    assert_same_audit(expected, got)
    pd.testing.assert_frame_equal(got.estimates, expected.estimates, rtol=1e-9, atol=1e-12)
