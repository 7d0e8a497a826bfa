"""Issue #17, acceptance: a 3-group attribute with a group of 7. The JSON shows the difference and ratio between
the two other groups for every metric (checked against scikit-learn and hand counts), says the group of 7 was
left out and why, and the published numbers still determine nothing about it (linear-recovery attack); on a
pandas DataFrame and on a DuckDB relation alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

import fairaudit as fa
from fairaudit.metrics import applicable_metrics
from tests.helpers import quiet_audit
from tests.test_privacy_attack import attack

SHOWN = ("Alpha", "Beta")


def three_groups() -> pd.DataFrame:
    """Alpha (120 people), Beta (73) and Zeta (7), labels, decisions and scores at random (distinct scores)."""
    rng = np.random.default_rng(0)
    rows = []
    for group, n in (("Alpha", 120), ("Beta", 73), ("Zeta", 7)):
        y = rng.integers(0, 2, n)
        rows.append(pd.DataFrame({"region": group, "y": y, "p": (rng.random(n) < 0.3 + 0.4 * y).astype(int),
                                  "s": np.round(rng.random(n), 6)}))
    return pd.concat(rows, ignore_index=True)


def reference(rows: pd.DataFrame) -> dict[str, float]:
    """Every metric of one group, computed by hand and with scikit-learn (never by fairaudit)."""
    y, p, s = rows["y"].to_numpy(), rows["p"].to_numpy(), rows["s"].to_numpy()
    tp, fp = np.sum((y == 1) & (p == 1)), np.sum((y == 0) & (p == 1))
    fn, tn = np.sum((y == 1) & (p == 0)), np.sum((y == 0) & (p == 0))
    bins = np.minimum((s * 10).astype(int), 9)
    ece = sum(abs(s[bins == b].mean() - y[bins == b].mean()) * np.mean(bins == b) for b in np.unique(bins))
    return {"selection_rate": p.mean(), "base_rate": y.mean(), "true_positive_rate": tp / (tp + fn),
            "false_positive_rate": fp / (fp + tn), "false_negative_rate": fn / (tp + fn),
            "true_negative_rate": tn / (fp + tn), "precision": tp / (tp + fp),
            "negative_predictive_value": tn / (tn + fn),
            "accuracy": (tp + tn) / len(y), "balanced_accuracy": balanced_accuracy_score(y, p),
            "roc_auc": roc_auc_score(y, s), "mean_score": s.mean(), "calibration_error": ece}


def _input(kind: str, data: pd.DataFrame):
    if kind == "pandas":
        return data
    duckdb = pytest.importorskip("duckdb")
    return duckdb.connect().from_df(data)


@pytest.mark.parametrize("kind", ["pandas", "duckdb"])
@pytest.mark.parametrize("scores", [False, True], ids=["decisions", "decisions+scores"])
def test_every_metric_compares_the_two_other_groups(kind, scores):
    data = three_groups()
    options = {"y_score": "s"} if scores else {}
    result = quiet_audit(None, _input(kind, data), sensitive="region", target="y", y_pred="p", n_boot=50, **options)
    payload = result.to_dict()
    metrics = [m.name for m in applicable_metrics(True, scores)]
    assert len(metrics) == (13 if scores else 10)
    expected = {g: reference(data[data.region == g]) for g in SHOWN}
    records = {r["metric"]: r for r in payload["disparities"]["records"] if r["attribute"] == "region"}
    assert set(records) == set(metrics)
    for metric in metrics:
        row = records[metric]
        a, b = expected["Alpha"][metric], expected["Beta"][metric]
        assert not row["suppressed"], metric
        assert {row["min_group"], row["max_group"]} == set(SHOWN), metric
        assert row["difference"] == pytest.approx(abs(a - b), abs=1e-9), metric
        assert row["ratio"] == pytest.approx(min(a, b) / max(a, b), abs=1e-9), metric
    measures = {r["measure"]: r for r in payload["measures"]["records"] if r["attribute"] == "region"}
    assert not any(r["suppressed"] for r in measures.values())
    assert measures["demographic_parity_difference"]["value"] == pytest.approx(
        abs(expected["Alpha"]["selection_rate"] - expected["Beta"]["selection_rate"]))
    left_out = [r for r in payload["metadata"]["left_out"] if r["attribute"] == "region"]
    assert [r["group"] for r in left_out] == ["Zeta"]
    assert "fewer than 10 people" in left_out[0]["reason"]
    groups = {r["group"]: r for r in payload["by_group"]["records"] if r["attribute"] == "region"}
    assert groups["Zeta"]["suppressed"] and groups["Zeta"]["count"] is None
    assert attack(payload) == {}  # what the JSON shows determines nothing about Zeta (nor Beta, its complement)


def complement_sizes(payload: dict, attribute: str, shown: str, hidden: str) -> list[int]:
    """The attacker of a disparity's interval: the sizes of ``hidden`` (a group suppressed to protect a smaller
    one) that reproduce the published selection-rate difference and its upper bound (Newcombe's interval,
    simultaneous over the two compared groups), given ``shown``'s published count and rate."""
    from fairaudit.uncertainty import Contrasts, range_critical

    groups = {r["group"]: r for r in payload["by_group"]["records"] if r["attribute"] == attribute}
    row = next(r for r in payload["disparities"]["records"]
               if r["attribute"] == attribute and r["metric"] == "selection_rate")
    if row["difference_ci_high"] is None:
        return []
    n_shown, rate = int(groups[shown]["count"]), groups[shown]["selection_rate"]
    above = row["max_group"] == hidden
    other = rate + row["difference"] if above else rate - row["difference"]
    sizes = []
    for n in range(1, int(payload["metadata"]["rows"]) - n_shown + 1):
        if abs(round(other * n) / n - other) > 1e-9:
            continue
        contrast = Contrasts(np.array([rate, round(other * n) / n]), np.zeros(2), np.array([n_shown, n], float))
        high, low = (np.array([1]), np.array([0])) if above else (np.array([0]), np.array([1]))
        if abs(contrast.difference(high, low, range_critical(2, 0.95))[1][0] - row["difference_ci_high"]) < 1e-9:
            sizes.append(n)
    return sizes


@pytest.mark.parametrize("kind", ["pandas", "duckdb"])
def test_intervals_never_give_the_complement_size_away(kind):
    """A disparity decided by Beta (hidden to protect Zeta) shows its difference and ratio, not its intervals or
    p-value: with them, Beta's size, hence Zeta's (total - Alpha - Beta), followed exactly."""
    import dataclasses

    result = quiet_audit(None, _input(kind, three_groups()), sensitive="region", target="y", y_pred="p", n_boot=50)
    exposed = dataclasses.replace(result, policy=fa.Policy(suppress_below=0)).to_dict()
    for record in exposed["by_group"]["records"]:  # the attack is real: rates and intervals as they were shown
        if record["group"] in ("Beta", "Zeta"):
            record.update(count=None)
    assert complement_sizes(exposed, "region", "Alpha", "Beta") == [73]
    payload = result.to_dict()
    assert complement_sizes(payload, "region", "Alpha", "Beta") == []
    interval = ("difference_ci_low", "difference_ci_high", "ratio_ci_low", "ratio_ci_high", "p_value",
                "p_value_adjusted")
    for row in payload["disparities"]["records"]:
        if row["attribute"] == "region":
            assert "Beta" in (row["min_group"], row["max_group"]) and row["difference"] is not None
            assert all(row[c] is None for c in interval), row["metric"]
    for row in payload["measures"]["records"]:
        if row["attribute"] == "region":
            assert row["value"] is not None and row["ci_low"] is None and row["ci_high"] is None, row["measure"]
    for finding in payload["findings"]:
        if finding["attribute"] == "region" and finding["measure"]:
            assert finding["ci_low"] is None and "interval is withheld" in finding["message"]
    alpha = next(r for r in payload["by_group"]["records"] if r["group"] == "Alpha")
    assert alpha["disparate_impact_ratio"] is not None and alpha["disparate_impact_ratio_ci_low"] is None
