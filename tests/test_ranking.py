"""Ranking audits: metrics against scikit-learn and hand computations, planted demotion, bad inputs,
engine parity, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

import fairaudit as fa
from fairaudit.inputs import AuditInputError
from fairaudit.ranking import ranking_stats, ranking_tables
from tests.helpers import quiet_audit

ITEMS = ["premium", "discount", "retention", "basic", "travel"]


def make_lists(seed: int, customers: int = 400, demote: float = 0.0, ties: bool = False) -> pd.DataFrame:
    """Customers in groups a/b/c with 3-5 offers each; ``demote``: share of group b whose premium offer
    (when shown) is moved to the bottom of the list."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(customers):
        group = "abc"[customer % 3]
        length = int(rng.integers(3, 6))
        offers = list(rng.permutation(ITEMS)[:length])
        if group == "b" and "premium" in offers and rng.random() < demote:
            offers.remove("premium")
            offers.append("premium")
        scores = rng.integers(0, 3, length) / 2 if ties else np.sort(rng.random(length))[::-1]
        for rank, offer in enumerate(offers, start=1):
            rows.append({"customer_id": f"c{customer}", "sex": group, "region": "nsew"[customer % 4],
                         "offer": offer, "rank": rank, "score": float(scores[rank - 1]),
                         "clicked": int(rng.integers(0, 3) if rng.random() < 0.4 else 0)})
    return pd.DataFrame(rows)


def audit_lists(data, **kwargs):
    options = dict(sensitive="sex", query="customer_id", item="offer", target="clicked", favorable=["premium"],
                   top_k=2, y_rank="rank", n_boot=200)
    options.update(kwargs)
    return quiet_audit(None, data, **options)


def test_ndcg_equals_scikit_learn_per_list_averaged_per_group():
    data = make_lists(0)
    result = audit_lists(data, top_k=3)
    for group, part in data.groupby("sex"):
        values = []
        for _, lst in part.groupby("customer_id"):
            if lst["clicked"].sum() > 0:
                values.append(ndcg_score([lst["clicked"]], [-lst["rank"]], k=3))
        assert result.by_group.loc[("sex", group), "ndcg_at_k"] == pytest.approx(np.mean(values), abs=1e-9)
        assert result.by_group.loc[("sex", group), "ndcg_lists"] == len(values)
    without = int((data.groupby("customer_id")["clicked"].sum() == 0).sum())
    noted = [f for f in result.findings if f.code == "FA145"]
    assert without > 0 and noted[0].value == without and noted[0].severity == "pass" and not noted[0].required


def test_ties_in_scores_are_averaged_as_scikit_learn_does():
    data = make_lists(1, ties=True)
    result = audit_lists(data, y_rank=None, y_score="score", top_k=2)
    for group, part in data.groupby("sex"):
        values = [ndcg_score([lst["clicked"]], [lst["score"]], k=2) for _, lst in part.groupby("customer_id")
                  if lst["clicked"].sum() > 0]
        assert result.by_group.loc[("sex", group), "ndcg_at_k"] == pytest.approx(np.mean(values), abs=1e-9)


def _hand(lst: pd.DataFrame, k: int) -> dict[str, float]:
    rank = lst["rank"].to_numpy()
    relevant = lst["clicked"].to_numpy() > 0
    favourable = lst["offer"].to_numpy() == "premium"
    top = rank <= k
    return {"precision_at_k": (relevant & top).sum() / min(k, len(lst)),
            "hit_rate_at_k": float((relevant & top).any()),
            "favorable_exposure": float((1 / np.log2(1 + rank[favourable])).sum()),
            "favorable_in_top_k": float((favourable & top).any())}


def test_exposure_precision_and_hit_rate_equal_a_hand_computation():
    data = make_lists(2)
    result = audit_lists(data)
    for group, part in data.groupby("sex"):
        per_list = pd.DataFrame([_hand(lst, 2) for _, lst in part.groupby("customer_id")])
        for metric, value in per_list.mean().items():
            assert result.by_group.loc[("sex", group), metric] == pytest.approx(value, abs=1e-9), metric
        assert result.by_group.loc[("sex", group), "count"] == part["customer_id"].nunique()


def test_item_exposure_equals_a_hand_computation():
    data = make_lists(3)
    result = audit_lists(data)
    weight = 1 / np.log2(1 + data["rank"])
    exposure = weight.groupby(data["offer"]).sum()
    relevance = data.groupby("offer")["clicked"].sum()
    per_merit = (exposure / exposure.sum()) / (relevance / relevance.sum())
    table = result.item_exposure
    np.testing.assert_allclose(table.loc[exposure.index, "exposure"], exposure, atol=1e-9)
    np.testing.assert_allclose(table.loc[per_merit.index, "exposure_per_merit"], per_merit, atol=1e-9)
    assert result.metadata["exposure_per_merit_ratio"] == pytest.approx(per_merit.min() / per_merit.max(), abs=1e-12)


def test_planted_demotion_fails_and_equal_treatment_passes_in_19_of_20_seeds():
    demoted = audit_lists(make_lists(11, customers=900, demote=1.0))
    assert demoted.verdict == "failed"
    failing = {f.measure for f in demoted.findings if f.severity == "fail"}
    assert "favorable_exposure_ratio" in failing
    assert any(f.code == "FA140" and f.groups[0] == "b" for f in demoted.findings if f.severity == "fail")
    passed = sum(audit_lists(make_lists(seed, customers=1500)).verdict == "passed" for seed in range(20))
    assert passed >= 19


def test_intervals_of_group_means_cover_in_simulation():
    """Customers as the unit: the normal interval of favourable exposure and the Wilson interval of
    favourable-in-top-k cover the population mean in about 95% of 200 samples of 150 customers (each
    sample one group of a single audit)."""
    population = make_lists(5, customers=3000)
    lists = population["customer_id"].unique()
    premium = population["offer"] == "premium"
    weight = np.where(premium, 1 / np.log2(1 + population["rank"]), 0.0)
    per_list = pd.DataFrame({"favorable_exposure": weight,
                             "favorable_in_top_k": premium & (population["rank"] <= 2)}).groupby(
        population["customer_id"].to_numpy()).agg({"favorable_exposure": "sum", "favorable_in_top_k": "max"})
    truth = per_list.astype(float).mean()
    rng = np.random.default_rng(0)
    covered = {"favorable_exposure": 0, "favorable_in_top_k": 0}
    for _ in range(4):
        samples = []
        for rep in range(50):
            chosen = rng.choice(lists, 150, replace=False)
            part = population.set_index("customer_id").loc[chosen].reset_index()
            samples.append(part.assign(sample=f"s{rep}", customer_id=f"{rep}-" + part["customer_id"]))
        stats, _ = ranking_stats(pd.concat(samples), sensitive=["sample"], query="customer_id", item="offer", k=2,
                                 y_rank="rank", favorable=["premium"])
        table = ranking_tables(stats, [("sample",)], confidence=0.95, n_boot=0, rng=rng).by_group
        for metric in covered:
            inside = (table[f"{metric}_ci_low"] <= truth[metric]) & (truth[metric] <= table[f"{metric}_ci_high"])
            covered[metric] += int(inside.sum())
    for metric, hits in covered.items():
        assert 0.91 <= hits / 200 <= 0.985, (metric, hits)


def test_statistics_of_two_halves_add_to_the_whole():
    data = make_lists(6)
    half = data["customer_id"].isin(data["customer_id"].unique()[::2])
    options = dict(sensitive=["sex", "region"], query="customer_id", item="offer", k=2, y_rank="rank",
                   target="clicked", favorable=["premium"])
    whole, _ = ranking_stats(data, **options)
    merged = ranking_stats(data[half], **options)[0] + ranking_stats(data[~half], **options)[0]
    order = [merged.groups.index(g) for g in whole.groups]
    np.testing.assert_allclose(merged.sums[order], whole.sums, atol=1e-9)
    np.testing.assert_allclose(merged.shown[order], whole.shown, atol=1e-9)


@pytest.mark.parametrize("change, column, message", [
    (lambda d: d.assign(rank=d["rank"].where(d.index != 1, 1)), "rank", "duplicate ranks"),
    (lambda d: d.assign(rank=d["rank"] + 1), "rank", "do not start at 1"),
    (lambda d: d.assign(rank=np.where(d["rank"] >= 2, d["rank"] + 1, d["rank"])), "rank", "gap"),
    (lambda d: d.assign(sex=d["sex"].where(d.index != 0, "z")), "sex", "not constant"),
    (lambda d: d.assign(offer=d["offer"].where(d.index != 1, d["offer"][0])), "offer", "repeats an item"),
    (lambda d: d.assign(rank=d["rank"].astype(float).where(d.index != 0, np.nan)), "rank", "missing"),
    (lambda d: d.assign(clicked=d["clicked"] - 5), "clicked", "negative"),
])
def test_bad_rankings_are_refused_naming_the_column(change, column, message):
    with pytest.raises(AuditInputError, match=message) as error:
        audit_lists(change(make_lists(7, customers=30)))
    assert repr(column) in str(error.value)


@pytest.mark.parametrize("options, message", [
    ({"top_k": None}, "top_k"),
    ({"y_score": "score"}, "exactly one of y_rank"),
    ({"favorable": ["gold"]}, "'gold'"),
    ({"query": "cust"}, "'cust'"),
    ({"target": None, "favorable": None}, "target="),
    ({"sample_weight": "rank"}, "sample_weight"),
    ({"item": None}, "item="),
    ({"threshold": 0.3}, "'threshold'"),
    ({"features": ["rank"]}, "'features'"),
    ({"compliance": ["nyc_ll144"]}, "'compliance'"),
])
def test_bad_ranking_arguments(options, message):
    with pytest.raises(AuditInputError, match=message):
        audit_lists(make_lists(8, customers=30), **options)


def test_ranking_arguments_outside_a_ranking_are_refused():
    with pytest.raises(AuditInputError, match="task='ranking'"):
        fa.audit(None, make_lists(8, customers=30), sensitive="sex", y_pred="clicked", y_rank="rank")
    with pytest.raises(AuditInputError, match="query="):
        fa.audit(None, make_lists(8, customers=30), sensitive="sex", task="ranking", y_rank="rank")
    with pytest.raises(AuditInputError, match="task='binary'"):
        fa.audit(None, make_lists(8, customers=30), sensitive="sex", task="binary", y_pred="clicked",
                 query="customer_id")


def test_json_round_trip_validates_against_the_schema_and_report_shows_the_section():
    import jsonschema

    from fairaudit.schema import audit_schema

    result = audit_lists(make_lists(9, customers=300), sensitive=["sex", "region"])
    payload = json.loads(result.to_json())
    jsonschema.validate(payload, audit_schema())
    loaded = fa.AuditResult.from_dict(payload)
    pd.testing.assert_frame_equal(loaded.item_exposure, result.item_exposure, check_dtype=False)
    assert loaded.ranking_positions.shape == result.ranking_positions.shape
    html = result.to_html()
    assert 'id="ranking"' in html and "Favourable items by position" in html


# ---------------------------------------------------------------------------- engines
ENGINE_OPTIONS = dict(sensitive=["sex", "region"], query="customer_id", item="offer", target="clicked",
                      favorable=["premium"], top_k=2, y_score="score", n_boot=0)


def _engine_inputs(data: pd.DataFrame, tmp_path) -> dict[str, object]:
    import duckdb
    import ibis
    import polars as pl
    import pyarrow as pa

    path = tmp_path / "lists.parquet"
    data.to_parquet(path)
    connection = duckdb.connect()
    return {"polars": pl.from_pandas(data), "duckdb": connection.from_df(data), "files": str(path),
            "ibis": ibis.memtable(data), "pyarrow": pa.Table.from_pandas(data)}


def test_engines_give_the_pandas_numbers(tmp_path):
    data = make_lists(10, customers=300, ties=True)
    reference = quiet_audit(None, data, **ENGINE_OPTIONS)
    for engine, native in _engine_inputs(data, tmp_path).items():
        result = quiet_audit(None, native, **ENGINE_OPTIONS)
        assert result.metadata["engine"] == ("duckdb" if engine == "pyarrow" else engine)
        _assert_same(result, reference)


def _assert_same(result: fa.AuditResult, reference: fa.AuditResult) -> None:
    pd.testing.assert_frame_equal(result.by_group, reference.by_group, atol=1e-9, rtol=0)
    pd.testing.assert_frame_equal(result.ranking_positions, reference.ranking_positions, atol=1e-9, rtol=0)
    pd.testing.assert_frame_equal(result.item_exposure, reference.item_exposure, atol=1e-9, rtol=0,
                                  check_dtype=False)
    assert result.metadata["fingerprint_sha256"] == reference.metadata["fingerprint_sha256"]


def test_engines_refuse_bad_rankings(tmp_path):
    data = make_lists(12, customers=30).assign(rank=lambda d: d["rank"].where(d.index != 1, 1))
    for native in _engine_inputs(data, tmp_path).values():
        with pytest.raises(AuditInputError, match="duplicate ranks"):
            audit_lists(native)


@pytest.mark.slow
def test_spark_gives_the_pandas_numbers(spark):
    data = make_lists(10, customers=300, ties=True)
    reference = quiet_audit(None, data, **ENGINE_OPTIONS)
    _assert_same(quiet_audit(None, spark.createDataFrame(data), **ENGINE_OPTIONS), reference)


def test_bank_marketing_offer_example_and_config(tmp_path):
    from fairaudit.config import validate
    from fairaudit.ranking_example import offer_rankings

    lists = offer_rankings(1500)
    assert len(lists) == 3 * 1500 and set(lists["offer"]) == {"term_deposit", "housing_loan", "personal_loan"}
    lists.to_csv(tmp_path / "offers.csv", index=False)
    config = validate({"name": "offers", "data": "offers.csv", "sensitive": ["age_group"], "query": "customer_id",
                       "y_rank": "rank", "item": "offer", "target": "accepted", "favorable": ["term_deposit"],
                       "top_k": 1, "n_boot": 100}, base=tmp_path)
    result = quiet_audit(None, config.load_data(), **config.audit_options())
    assert result.metadata["task"] == "ranking" and result.metadata["customers"] == 1500
    assert {f.code for f in result.findings} >= {"FA140", "FA142", "FA143"}


def test_an_identifier_as_sensitive_column_is_refused():
    data = make_lists(13, customers=120).assign(sex=lambda d: d["customer_id"])
    with pytest.raises(AuditInputError, match="'sex' has 120 distinct"):
        audit_lists(data)


def test_small_groups_are_suppressed_in_positions_and_the_report():
    data = make_lists(14, customers=300)
    data.loc[data["customer_id"].isin(["c0", "c3", "c6"]), "sex"] = "tiny"
    result = audit_lists(data)
    payload = json.loads(result.to_json())
    rows = {r["group"]: r for r in payload["ranking_positions"]["records"]}
    assert all(v is None for k, v in rows["tiny"].items() if k not in ("attribute", "group"))
    assert sum(rows[g]["1"] is not None for g in "abc") >= 2
    html = result.to_html()
    assert "Singh &amp; Joachims" in html and "Rankings and exposure" in html


def test_a_failing_ranking_is_advised_to_rerank():
    result = audit_lists(make_lists(11, customers=900, demote=1.0))
    assert "exposure_constrained_reranking" in [r.mitigation for r in result.recommendations]


def test_csv_headers_are_read_exactly_as_pandas_reads_them(tmp_path):
    """A ranking audit of a CSV file opens it with the engines' opener: column names keep their spaces,
    quotes and semicolons (DuckDB's own CSV reader would trim them), and the numbers are pandas'."""
    hostile = {"sex": " sex", "region": 'reg"ion; DROP', "customer_id": "customer id ", "offer": "select",
               "clicked": "clicked ✓", "score": "  score"}
    data = make_lists(10, customers=200, ties=True).rename(columns=hostile)
    data.to_csv(tmp_path / "lists.csv", index=False)
    options = dict(sensitive=[hostile["sex"], hostile["region"]], query=hostile["customer_id"],
                   item=hostile["offer"], target=hostile["clicked"], favorable=["premium"], top_k=2,
                   y_score=hostile["score"], n_boot=0)
    reference = quiet_audit(None, pd.read_csv(tmp_path / "lists.csv"), **options)
    result = quiet_audit(None, str(tmp_path / "lists.csv"), **options)
    assert result.metadata["engine"] == "files"
    _assert_same(result, reference)
