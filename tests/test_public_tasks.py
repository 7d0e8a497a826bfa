"""Transparency reports of score audits (noised score histograms on a public range), and the public rebuild
of a decision audit: groups left out, the reference group, noise-aware p-values and pairwise comparisons; on
pandas and DuckDB inputs alike."""

from __future__ import annotations

import json
import math
import warnings

import jsonschema
import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

import fairaudit as fa
from fairaudit.public import PrivacyError, publication, release
from fairaudit.public.statistics import SCORE_BINS, exact_tables, public_statistics, score_edges
from fairaudit.schema import audit_schema
from fairaudit.tables import build_tables, left_out_groups
from tests.helpers import quiet_audit
from tests.test_public_small_groups import SHOWN, three_groups

pytest.importorskip("opendp")
RANGE = (0.0, 100.0)


@pytest.fixture(autouse=True)
def few_noise_replicates(monkeypatch):
    monkeypatch.setattr(publication, "NOISE_REPLICATES", 10)


def duckdb_input(data: pd.DataFrame):
    duckdb = pytest.importorskip("duckdb")
    return duckdb.connect().from_df(data)


def source(kind: str, data: pd.DataFrame):
    return data if kind == "pandas" else duckdb_input(data)


def scores(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Scores on [0, 100] (a few outside), group 'b' shifted down by 8 points."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n, p=[0.7, 0.3])
    score = rng.normal(55, 15, n) - 8 * (group == "b")
    return pd.DataFrame({"g": group, "s": np.round(score, 3), "id": rng.integers(0, n // 2, n)})


def binned(data: pd.DataFrame) -> dict[str, tuple[np.ndarray, float]]:
    """Per group, the counts on the public bins and the mean of the bin middles (numpy, not fairaudit)."""
    width = (RANGE[1] - RANGE[0]) / SCORE_BINS
    bins = np.clip(np.floor((data["s"].to_numpy() - RANGE[0]) / width), 0, SCORE_BINS - 1).astype(int)
    middle = RANGE[0] + width * (np.arange(SCORE_BINS) + 0.5)
    out = {}
    for group in ("a", "b"):
        counts = np.bincount(bins[data["g"].to_numpy() == group], minlength=SCORE_BINS)
        out[group] = (counts, float(counts @ middle / counts.sum()))
    return out


@pytest.fixture(scope="module")
def scored() -> fa.AuditResult:
    return quiet_audit(None, scores(), sensitive="g", y_score="s", task="score", n_boot=50)


# ---------------------------------------------------------------------------- score audits
def test_score_histogram_is_the_public_binning(scored):
    exact = exact_tables(scored.statistics, RANGE)
    assert set(exact) == {"score_hist"}
    hist, integer = exact["score_hist"]
    assert integer and hist.shape == (2, SCORE_BINS)
    reference = binned(scores())
    for row, group in enumerate(scored.statistics.stats.groups):
        assert np.array_equal(hist[row], reference[group[0]][0])


def test_public_means_unbiased_and_spread_as_stated(scored):
    """Over 300 releases: the noise on the histogram has the stated spread (within 20%); each group's public
    mean is unbiased for its binned mean, with the spread the noise implies (sigma * |middles - mean| / n,
    within 20%); a smaller epsilon spreads it more."""
    reference = binned(scores())
    middle = score_edges(RANGE)[:-1] + (RANGE[1] - RANGE[0]) / SCORE_BINS / 2
    spreads = {}
    for epsilon in (0.5, 2.0):
        means, noise = [], []
        for _ in range(300):
            released = {name: release(name, values, integer=True, sensitivity=1, epsilon=epsilon, delta=0.0)
                        for name, (values, _) in exact_tables(scored.statistics, RANGE).items()}
            noise.append(released["score_hist"].values - exact_tables(scored.statistics, RANGE)["score_hist"][0])
            public = public_statistics(scored.statistics, released, RANGE).scores
            assert (public.hist >= 0).all()
            means.append(public.column("score") / public.column("weight"))
        noise, means = np.array(noise), np.array(means)
        stated = released["score_hist"].noise_std
        assert abs(noise.std() / stated - 1) < 0.2
        for row, group in enumerate(scored.statistics.stats.groups):
            counts, mean = reference[group[0]]
            predicted = stated * math.sqrt(((middle - mean) ** 2).sum()) / counts.sum()
            assert abs(means[:, row].mean() - mean) < 4 * predicted / math.sqrt(len(means))
            assert abs(means[:, row].std() / predicted - 1) < 0.2
        spreads[epsilon] = means[:, 1].std()
    assert spreads[0.5] > 2 * spreads[2.0]


@pytest.mark.parametrize("kind", ["pandas", "duckdb"])
def test_score_audit_publishes_means_smd_ks_and_wasserstein(kind):
    data = scores()
    result = quiet_audit(None, source(kind, data), sensitive="g", y_score="s", task="score", n_boot=50)
    public = result.to_public(epsilon=1000.0, score_range=RANGE, random_state=0)  # nearly no noise
    reference = binned(data)
    for group in ("a", "b"):
        assert public.by_group.loc[("g", group), "mean_score"] == pytest.approx(reference[group][1], abs=0.05)
    a, b = (data.loc[data.g == g, "s"].clip(*RANGE) for g in ("a", "b"))
    measures = public.measures.loc["g", "value"]
    width = (RANGE[1] - RANGE[0]) / SCORE_BINS
    assert measures["ks_statistic"] == pytest.approx(scipy_stats.ks_2samp(a, b).statistic, abs=0.03)
    assert measures["wasserstein_distance"] == pytest.approx(scipy_stats.wasserstein_distance(a, b), abs=width)
    pooled = math.sqrt((a.var() + b.var()) / 2)
    assert measures["standardized_mean_difference"] == pytest.approx((a.mean() - b.mean()) / pooled, abs=0.02)
    privacy = public.metadata["privacy"]
    assert set(privacy["tables"]) == {"score_hist"} and "score_hist" in json.dumps(privacy)
    assert "[0, 100]" in privacy["scores"] and public.metadata["score_pairs"]["g"]["ks_statistic"] == ["a", "b"]
    payload = json.loads(public.to_json())
    jsonschema.Draft202012Validator(audit_schema()).validate(payload)
    assert "fingerprint_sha256" not in payload["metadata"]
    noisy = result.to_public(epsilon=0.5, score_range=RANGE, random_state=0)
    for frame, value, low, high in ((noisy.by_group, "mean_score", "mean_score_ci_low", "mean_score_ci_high"),
                                    (noisy.measures, "value", "ci_low", "ci_high")):
        shown = frame[[value, low, high]].dropna()
        assert ((shown[low] <= shown[value] + 1e-9) & (shown[value] <= shown[high] + 1e-9)).all()
    assert noisy.by_group.loc["g", "count"].sum() == noisy.metadata["rows"]


def test_score_histograms_agree_between_pandas_and_duckdb_and_bound_each_person():
    data = scores()
    edges = score_edges(RANGE)
    in_memory = quiet_audit(None, data, sensitive="g", y_score="s", task="score", n_boot=0).statistics
    engine = quiet_audit(None, duckdb_input(data), sensitive="g", y_score="s", task="score", n_boot=0).statistics
    assert np.array_equal(in_memory.score_counts(edges).hist, engine.score_counts(edges).hist)
    people = int(data["id"].nunique())
    for statistics in (in_memory, engine):
        assert statistics.bounded("id", 1, 0).score_counts(edges).hist.sum() == people


def test_score_range_is_required_and_checked(scored):
    with pytest.raises(PrivacyError, match="'score_range'.*required"):
        scored.to_public(epsilon=1.0)
    for bad in ((5, 5), (0, float("inf")), "0-100", (1,)):
        with pytest.raises(PrivacyError, match="'score_range'"):
            scored.to_public(epsilon=1.0, score_range=bad)
    decisions = quiet_audit(None, scores().assign(d=lambda d: (d.s > 50).astype(int)), sensitive="g", y_pred="d",
                            n_boot=0)
    with pytest.raises(PrivacyError, match="score audits only"):
        decisions.to_public(epsilon=1.0, score_range=RANGE)


# ---------------------------------------------------------------------------- the public rebuild of decisions
@pytest.mark.parametrize("kind", ["pandas", "duckdb"])
def test_public_report_leaves_the_group_of_seven_out_and_compares_the_others(kind):
    data = three_groups()
    result = quiet_audit(None, source(kind, data), sensitive="region", target="y", y_pred="p", y_score="s", n_boot=50)
    public = result.to_public(epsilon=50.0, random_state=0)  # noise far below one person: the counts stay
    assert public.metadata["left_out"] == [{"attribute": "region", "group": "Zeta",
                                            "reason": "fewer than 10 people (policy suppress_below)"}]
    payload = public.to_dict()
    records = [r for r in payload["disparities"]["records"] if r["attribute"] == "region"]
    assert len(records) == 13
    for row in records:
        assert not row["suppressed"] and {row["min_group"], row["max_group"]} == set(SHOWN), row["metric"]
        assert row["difference"] is not None and row["ratio"] is not None
    assert payload["metadata"]["left_out"][0]["group"] == "Zeta"
    pairs = public.pairwise.loc["region"]
    assert set(pairs.index.get_level_values("group_a")) | set(pairs.index.get_level_values("group_b")) == set(SHOWN)


def test_public_reference_group_is_the_audits():
    data = three_groups()
    result = quiet_audit(None, data, sensitive="region", target="y", y_pred="p", n_boot=50,
                         reference={"region": "Beta"})
    public = result.to_public(epsilon=50.0, random_state=0)
    assert public.metadata["reference"] == {"region": "Beta"}
    assert public.by_group.loc[("region", "Beta"), "disparate_impact_ratio"] == 1.0
    alpha = public.by_group.loc[("region", "Alpha")]
    assert alpha["disparate_impact_ratio"] == pytest.approx(
        alpha["selection_rate"] / public.by_group.loc[("region", "Beta"), "selection_rate"])


def test_a_reference_left_out_after_the_noise_falls_back_with_a_warning(monkeypatch):
    data = three_groups()
    result = quiet_audit(None, data, sensitive="region", target="y", y_pred="p", n_boot=0,
                         reference={"region": "Beta"}, policy={"suppress_below": 73})

    def minus_one(name, values, *, integer, sensitivity, epsilon, delta):  # Beta's 73 become 72 or fewer
        return publication.Release(name, np.asarray(values, float) - 1, "test", 1.0, epsilon, delta, sensitivity,
                                   integer)

    monkeypatch.setattr(publication, "release", minus_one)
    with pytest.warns(fa.FairAuditWarning, match="'Beta' of 'region'"):
        public = result.to_public(epsilon=1.0, random_state=0)
    assert public.metadata["reference"] == {}
    assert {(r["attribute"], r["group"]) for r in public.metadata["left_out"]} == {("region", "Beta"),
                                                                                   ("region", "Zeta")}


def _parity_data() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    group = rng.choice(["u", "v"], 600)
    return pd.DataFrame({"g": group, "d": (rng.random(600) < np.where(group == "u", 0.3, 0.45)).astype(int)})


def test_public_findings_weigh_the_noise_in_their_evidence(monkeypatch):
    """The public findings get the audit's p-values (simultaneous, then Holm) with the noise added: nearly
    equal to the exact audit's without noise, weaker with much of it."""
    result = quiet_audit(None, _parity_data(), sensitive="g", y_pred="d", n_boot=0)
    policy = result.policy
    stats = result.statistics.stats
    left_out = left_out_groups(stats, intersections=True, suppress_below=policy.suppress_below,
                               compare_missing=policy.compare_missing)
    tables = build_tables(stats, intersections=True, confidence=0.95, n_boot=0, rng=np.random.default_rng(0),
                          left_out=left_out)
    threshold = policy.thresholds["demographic_parity_difference"]
    exact = tables.p_value("g", "demographic_parity_difference", threshold.bound, threshold.value)
    seen = []
    evaluate = publication.evaluate

    def recording(*args, p_values=None, **kwargs):
        seen.append(p_values("g", "demographic_parity_difference", threshold.bound, threshold.value))
        return evaluate(*args, p_values=p_values, **kwargs)

    monkeypatch.setattr(publication, "evaluate", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fa.FairAuditWarning)
        result.to_public(epsilon=1e4, random_state=0)
        for _ in range(21):  # OpenDP's noise is never seeded: judge the typical release, not one draw
            result.to_public(epsilon=0.05, random_state=0)
    assert 0 < exact < 0.05
    assert seen[0] == pytest.approx(exact, rel=0.05)
    assert np.median(seen[1:]) > 2 * exact


def test_public_pairwise_intervals_carry_the_noise():
    result = quiet_audit(None, _parity_data(), sensitive="g", y_pred="d", n_boot=0)
    public = result.to_public(epsilon=0.2, random_state=0)
    assert public.pairwise is not None and len(public.pairwise)
    key = ("g", "selection_rate", "u", "v")
    row, exact = public.pairwise.loc[key], result.pairwise.loc[key]
    assert row["difference_ci_low"] <= row["difference"] <= row["difference_ci_high"]
    assert row["difference_ci_high"] - row["difference_ci_low"] > exact["difference_ci_high"] - exact[
        "difference_ci_low"]
    payload = json.loads(public.to_json())
    assert payload["pairwise"]["records"]


def test_run_config_publishes_a_score_audit(tmp_path):
    from fairaudit.config import validate
    from fairaudit.runner import run_config

    scores().to_csv(tmp_path / "data.csv", index=False)
    spec = {"name": "clv", "data": "data.csv", "sensitive": ["g"], "y_score": "s", "task": "score", "n_boot": 20,
            "publish": {"epsilon": 1.0, "score_range": [0, 100]}}
    outcome = run_config(validate(spec, base=tmp_path), out=tmp_path / "reports", formats=("json",), baseline=None,
                         trust_model=False)
    public = json.loads((outcome.folder / "public.json").read_text())
    assert set(public["metadata"]["privacy"]["tables"]) == {"score_hist"}
    assert {r["measure"] for r in public["measures"]["records"]} >= {"standardized_mean_difference", "ks_statistic",
                                                                     "wasserstein_distance"}


# ---------------------------------------------------------------------------- ranking audits
def _lists():
    from tests.test_ranking import make_lists

    return make_lists(0, customers=1500)


RANKING = dict(sensitive="sex", query="customer_id", item="offer", target="clicked", favorable=["premium"], top_k=2,
               y_rank="rank", n_boot=50)


@pytest.fixture(scope="module")
def ranked() -> fa.AuditResult:
    return quiet_audit(None, _lists(), **RANKING)


def test_ranking_counts_unbiased_and_spread_as_stated(ranked):
    """Over 300 releases: the noise of both tables has the stated spread (within 20%); each group's public
    share of customers with the favourable offer in the top k is unbiased, with the spread the noise implies
    (sigma * sqrt(1 + rate**2) / customers, within 20%); a smaller epsilon spreads it more."""
    statistics = ranked.statistics
    data = _lists()
    top = data[data["rank"] <= 2].groupby("customer_id")["offer"].apply(lambda o: "premium" in set(o))
    sex = data.groupby("customer_id")["sex"].first()
    spreads = {}
    for epsilon in (0.5, 2.0):
        rates, noise = [], {"lists": [], "list_sums": []}
        exact = exact_tables(statistics)
        for _ in range(300):
            released = {name: release(name, values, integer=integer, sensitivity=publication.per_unit(statistics, name),
                                      epsilon=epsilon / 2, delta=0.0) for name, (values, integer) in exact.items()}
            for name in noise:
                noise[name].append(released[name].values - exact[name][0])
            public = public_statistics(statistics, released).ranking
            rates.append(public.column("favorable_top") / public.column("queries"))
        for name, draws in noise.items():
            assert abs(np.std(draws) / released[name].noise_std - 1) < 0.2, name
        rates = np.array(rates)
        sigma = released["lists"].noise_std
        for row, group in enumerate(statistics.ranking.groups):
            members = top[sex == group[0]]
            rate, customers = members.mean(), len(members)
            predicted = sigma * math.sqrt(1 + rate**2) / customers
            assert abs(rates[:, row].mean() - rate) < 4 * predicted / math.sqrt(len(rates))
            assert abs(rates[:, row].std() / predicted - 1) < 0.2
        spreads[epsilon] = rates[:, 0].std()
    assert spreads[0.5] > 2 * spreads[2.0]


@pytest.mark.parametrize("kind", ["pandas", "duckdb"])
def test_ranking_audit_publishes_top_k_counts_not_exposure(kind, ranked):
    result = quiet_audit(None, source(kind, _lists()), **RANKING)
    for name, (values, _) in exact_tables(result.statistics).items():
        assert np.allclose(values, exact_tables(ranked.statistics)[name][0], rtol=0, atol=1e-9), name
    public = result.to_public(epsilon=1.0, random_state=0)
    privacy = public.metadata["privacy"]
    assert set(privacy["tables"]) == {"lists", "list_sums"}
    assert all(t["sensitivity"] == 4 for t in privacy["tables"].values()) and "one customer" in privacy["unit"]
    assert not any("favorable_exposure" in c for c in public.by_group.columns)
    assert "favorable_in_top_k_ratio" in public.measures.loc["sex"].index
    assert not any(f.measure and f.measure.startswith("favorable_exposure") for f in public.findings)
    assert public.by_group.loc["sex", "count"].sum() == public.metadata["customers"] == public.metadata["rows"]
    shown = public.by_group
    for metric in ("ndcg_at_k", "hit_rate_at_k", "favorable_in_top_k"):
        assert ((shown[f"{metric}_ci_low"] <= shown[metric]) & (shown[metric] <= shown[f"{metric}_ci_high"])).all()
        assert ((shown[metric] >= 0) & (shown[metric] <= 1)).all()
    payload = json.loads(public.to_json())
    jsonschema.Draft202012Validator(audit_schema()).validate(payload)
    assert payload["item_exposure"] is None and "fingerprint_sha256" not in payload["metadata"]
    with pytest.raises(PrivacyError, match="ranking audit"):
        result.to_public(epsilon=1.0, privacy_unit="customer_id")


def test_run_config_publishes_from_duckdb_with_a_privacy_unit(tmp_path):
    from fairaudit.config import validate
    from fairaudit.runner import run_config

    pytest.importorskip("duckdb")
    three_groups().assign(id=lambda d: d.index // 2).to_parquet(tmp_path / "data.parquet")
    spec = {"name": "regions", "data": "data.parquet", "engine": "duckdb", "sensitive": ["region"], "target": "y",
            "y_pred": "p", "y_score": "s", "n_boot": 20,
            "publish": {"epsilon": 50.0, "privacy_unit": "id", "max_rows_per_unit": 2}}
    outcome = run_config(validate(spec, base=tmp_path), out=tmp_path / "reports", formats=("json",), baseline=None,
                         trust_model=False)
    public = json.loads((outcome.folder / "public.json").read_text())
    assert json.loads((outcome.folder / "audit.json").read_text())["metadata"]["engine"] == "files"  # DuckDB
    assert public["metadata"]["privacy"]["rows_per_unit"] == 2 and abs(public["metadata"]["rows"] - 200) <= 2
    assert [r["group"] for r in public["metadata"]["left_out"]] == ["Zeta"]
    shown = [r for r in public["disparities"]["records"] if r["attribute"] == "region"]
    assert len(shown) == 13 and all(r["difference"] is not None for r in shown)
