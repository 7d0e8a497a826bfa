"""The linear-recovery attack on published audits: nothing suppressed can be solved for from the JSON.

The attacker here reads ``result.to_dict()`` only and rebuilds, independently of fairaudit.privacy, the
linear system the report publishes: per group its confusion cells (true/false positives and negatives,
from count x rate), the totals, the sums of each view to the total and of each crossing to the views of
one attribute fewer (parts read from ``metadata["views"]``), and the rates of hidden groups that a
published disparity reveals (its difference or ratio against a shown group). A hidden group's count,
selected count or positive count is recovered when its vector lies in the row space of that system.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import orth

from tests.helpers import quiet_audit

CELLS = ("tp", "fp", "fn", "tn")
# what the attacker wants, as combinations of the four confusion cells
TARGETS = {"count": (1, 1, 1, 1), "selected": (1, 1, 0, 0), "positives": (1, 0, 1, 0)}
# rate -> (numerator, denominator) over the confusion cells
RATES = {
    "selection_rate": ((1, 1, 0, 0), (1, 1, 1, 1)),
    "base_rate": ((1, 0, 1, 0), (1, 1, 1, 1)),
    "true_positive_rate": ((1, 0, 0, 0), (1, 0, 1, 0)),
    "false_negative_rate": ((0, 0, 1, 0), (1, 0, 1, 0)),
    "false_positive_rate": ((0, 1, 0, 0), (0, 1, 0, 1)),
    "true_negative_rate": ((0, 0, 0, 1), (0, 1, 0, 1)),
    "precision": ((1, 0, 0, 0), (1, 1, 0, 0)),
    "negative_predictive_value": ((0, 0, 0, 1), (0, 0, 1, 1)),
    "accuracy": ((1, 0, 0, 1), (1, 1, 1, 1)),
}


def attack(payload: dict) -> dict[tuple[str, str], dict[str, float]]:
    """Per hidden group, the quantities (count, selected, positives) the published numbers determine, with
    the value the attacker solves for."""
    records = {(r["attribute"], r["group"]): r for r in payload["by_group"]["records"]}
    views = payload["metadata"]["views"]
    hidden = sorted(key for key, r in records.items() if r.get("suppressed"))
    if not hidden:
        return {}
    column = {key: i for i, key in enumerate(hidden)}
    width = len(hidden) * len(CELLS)
    rows = payload["metadata"]["rows"]
    overall = {r["metric"]: r["value"] for r in payload["overall"]["records"]}

    def cells(record: dict) -> np.ndarray:
        n, sel, pos = record["count"], record["selection_rate"], record["base_rate"]
        tp = record["true_positive_rate"] * n * pos if n * pos else 0.0
        return np.array([tp, n * sel - tp, n * pos - tp, n - n * sel - n * pos + tp])

    total = cells({"count": rows, "selection_rate": overall["selection_rate"], "base_rate": overall["base_rate"],
                   "true_positive_rate": overall["true_positive_rate"]})
    equations, rhs = [], []

    def add_sum(whole, parts):
        """sum(parts) - whole = 0, with shown terms moved to the right; one equation per confusion cell."""
        for c in range(len(CELLS)):
            row, value = np.zeros(width), 0.0
            for key, sign in [(p, 1.0) for p in parts] + ([(whole, -1.0)] if isinstance(whole, tuple) else []):
                if key in column:
                    row[column[key] * len(CELLS) + c] += sign
                else:
                    value -= sign * cells(records[key])[c]
            if whole is None:
                value += total[c]
            if row.any():
                equations.append(row)
                rhs.append(value)

    by_view: dict[str, list] = {}
    for key in records:
        by_view.setdefault(key[0], []).append(key)
    named = {tuple(spec["attributes"]): view for view, spec in views.items()}
    for view, keys in by_view.items():
        add_sum(None, keys)
        attributes = views[view]["attributes"]
        for drop in range(len(attributes) if len(attributes) > 1 else 0):
            parent = named.get(tuple(attributes[:drop] + attributes[drop + 1:]))
            if parent is None:
                continue
            lookup = {tuple(values): (parent, g) for g, values in views[parent]["groups"].items()}
            children: dict = {}
            for key in keys:
                values = views[view]["groups"][key[1]]
                children.setdefault(lookup[tuple(values[:drop] + values[drop + 1:])], []).append(key)
            for whole, parts in children.items():
                add_sum(whole, parts)
    for key, rate, metric in revealed_rates(payload, records):
        numerator, denominator = (np.array(v, dtype=float) for v in RATES[metric])
        row = np.zeros(width)
        row[column[key] * len(CELLS): (column[key] + 1) * len(CELLS)] = numerator - rate * denominator
        equations.append(row)
        rhs.append(0.0)
    if not equations:
        return {}
    system = np.array(equations)
    basis = orth(system.T)  # orthonormal basis of the row space
    solution = np.linalg.lstsq(system, np.array(rhs), rcond=None)[0]
    found: dict = {}
    for key in hidden:
        for name, combination in TARGETS.items():
            vector = np.zeros(width)
            vector[column[key] * len(CELLS): (column[key] + 1) * len(CELLS)] = combination
            if np.linalg.norm(vector - basis @ (basis.T @ vector)) < 1e-7:
                found.setdefault(key, {})[name] = float(vector @ solution)
    return found


def revealed_rates(payload: dict, records: dict) -> list[tuple[tuple[str, str], float, str]]:
    """Rates of hidden groups that a published disparity gives away (difference and ratio with the other end);
    a revealed balanced accuracy, (TPR + TNR) / 2, gives either rate from the other."""
    out = []
    for row in payload["disparities"]["records"]:
        if row.get("suppressed") or row["metric"] not in (*RATES, "balanced_accuracy") or row["difference"] is None:
            continue
        low, high = (row["attribute"], row["min_group"]), (row["attribute"], row["max_group"])
        rate = {k: records[k][row["metric"]] for k in (low, high) if not records[k].get("suppressed")}
        if high not in rate and low in rate:
            rate[high] = rate[low] + row["difference"]
        elif low not in rate and high in rate:
            rate[low] = rate[high] - row["difference"]
        elif low not in rate and row["ratio"] is not None and row["ratio"] < 1:
            rate[high] = row["difference"] / (1 - row["ratio"])
            rate[low] = rate[high] - row["difference"]
        out += [(k, rate[k], row["metric"]) for k in (low, high) if records[k].get("suppressed") and k in rate]
    known = {(key, metric): rate for key, rate, metric in out}
    for (key, metric), balanced in list(known.items()):
        for one, other in (("true_positive_rate", "true_negative_rate"), ("true_negative_rate", "true_positive_rate")):
            if metric == "balanced_accuracy" and (key, one) in known and (key, other) not in known:
                out.append((key, 2 * balanced - known[(key, one)], other))
    return [entry for entry in out if entry[2] in RATES]


def random_data(seed: int) -> tuple[pd.DataFrame, list[str]]:
    """2-4 attributes of 2-4 values (at most 27 crossed cells), small cells (some empty), random labels."""
    rng = np.random.default_rng(seed)
    n_attributes = int(rng.integers(2, 5))
    names = [f"s{i}" for i in range(n_attributes)]
    levels = [[f"v{j}" for j in range(int(rng.integers(2, {2: 5, 3: 4, 4: 3}[n_attributes])))] for _ in names]
    rows = []
    for combination in itertools.product(*levels):
        rows += [combination] * int(rng.poisson(rng.choice([2.0, 6.0, 15.0, 30.0])))
    data = pd.DataFrame(rows, columns=names)
    data["y"] = rng.integers(0, 2, len(data))
    data["p"] = np.where(rng.random(len(data)) < 0.7, data["y"], 1 - data["y"])
    return data, names


def audit_payload(seed: int) -> tuple[dict, pd.DataFrame, list[str]]:
    data, names = random_data(seed)
    result = quiet_audit(None, data, sensitive=names, target="y", y_pred="p", n_boot=2)
    return result.to_dict(), data, names


def true_value(data: pd.DataFrame, names: list[str], payload: dict, key: tuple[str, str], name: str) -> float:
    attributes = payload["metadata"]["views"][key[0]]["attributes"]
    values = payload["metadata"]["views"][key[0]]["groups"][key[1]]
    rows = data[np.logical_and.reduce([data[a] == v for a, v in zip(attributes, values, strict=True)])]
    return float({"count": len(rows), "selected": rows["p"].sum(), "positives": rows["y"].sum()}[name])


def test_the_attack_recovers_what_naive_suppression_leaves():
    """The attacker is real: with each view's smallest group alone hidden, it solves for that group."""
    data, names = random_data(3)
    result = quiet_audit(None, data, sensitive=names, target="y", y_pred="p", n_boot=2,
                         policy={"suppress_below": 0})
    payload = result.to_dict()
    records = payload["by_group"]["records"]
    smallest = min(records, key=lambda r: r["count"])
    smallest["suppressed"] = True
    found = attack(payload)
    key = (smallest["attribute"], smallest["group"])
    assert set(found[key]) == set(TARGETS)
    for name, value in found[key].items():
        assert value == pytest.approx(true_value(data, names, payload, key, name), abs=1e-6)


def attack_many(seeds: range) -> tuple[dict, int]:
    recovered, suppressed_any = {}, 0
    for seed in seeds:
        payload, data, names = audit_payload(seed)
        suppressed_any += any(r["suppressed"] for r in payload["by_group"]["records"])
        found = attack(payload)
        if found:
            recovered[seed] = found
    return recovered, suppressed_any


def test_no_suppressed_count_is_recoverable_in_40_random_audits():
    recovered, suppressed_any = attack_many(range(200, 240))
    assert suppressed_any >= 30  # the tables do have small groups
    assert recovered == {}


@pytest.mark.slow
def test_no_suppressed_count_is_recoverable_in_200_random_audits():
    recovered, suppressed_any = attack_many(range(200))
    assert suppressed_any >= 150
    assert recovered == {}


def test_a_sensitive_column_named_with_the_join_still_gets_crossing_sums():
    """A column named 'x & y' used to skip the crossing sums: 'p & u' (5 people) was 35 - 30."""
    cells = {("p", "u"): 5, ("p", "w"): 30, ("q", "u"): 30, ("q", "w"): 30}
    rows = [pair for pair, n in cells.items() for _ in range(n)]
    data = pd.DataFrame(rows, columns=["x & y", "c"])
    data["y"] = np.arange(len(data)) % 2
    data["p"] = (np.arange(len(data)) % 3 == 0).astype(int)
    payload = quiet_audit(None, data, sensitive=["x & y", "c"], target="y", y_pred="p", n_boot=2).to_dict()
    assert payload["metadata"]["views"]["x & y & c"]["attributes"] == ["x & y", "c"]
    records = {(r["attribute"], r["group"]): r for r in payload["by_group"]["records"]}
    assert records[("x & y & c", "p & u")]["suppressed"]
    assert attack(payload) == {}
