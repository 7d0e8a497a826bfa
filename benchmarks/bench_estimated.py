"""Auditing an attribute that is not collected: bias and interval coverage of the weighted and corrected
estimators, on the adult data with its race column hidden and replaced by synthetic membership probabilities.

The model is a logistic regression for income > 50k (no race among its inputs), trained on the train split;
its decisions on the test split are the population. Race is collapsed to White, Black and Other. Each
simulation draws 20,000 people from the population (with replacement) and gives each a probability of
each group from a noisy two-dimensional signal of their true group (posterior by Bayes' rule, so the
probabilities are calibrated and the outcome is independent of the proxy within a group). The signal's
noise sets the proxy's quality; "miscalibrated" scenarios compute the posterior with the wrong noise
(over-confident) or the wrong group shares. The target is the population's difference in each rate between
White and Black; the corrected interval is the 95% row-bootstrap percentile interval.

    python benchmarks/bench_estimated.py [--sims 200] [--boot 400] [--rows 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fairaudit as fa
from fairaudit.estimated import correct, mixing_stats

GROUPS = ("White", "Black", "Other")
CENTRES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.87]])
METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")
SCENARIOS = {  # name: (signal noise, noise assumed by the posterior, shares assumed by the posterior)
    "good proxy (noise 0.4)": (0.4, 0.4, None),
    "medium proxy (noise 0.7)": (0.7, 0.7, None),
    "weak proxy (noise 1.0)": (1.0, 1.0, None),
    "over-confident (noise 0.7, assumed 0.35)": (0.7, 0.35, None),
    "wrong prior (noise 0.7, uniform shares)": (0.7, 0.7, (1 / 3, 1 / 3, 1 / 3)),
}


def population() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    data = fa.load_dataset("adult")
    features = ["age", "education_num", "hours_per_week", "capital_gain", "capital_loss"]
    train, test = data[data.split == "train"], data[data.split == "test"]
    model = LogisticRegression(max_iter=2000).fit(train[features], train.income_over_50k)
    race = np.select([test.race == "White", test.race == "Black"], [0, 1], 2)
    decision = (model.predict_proba(test[features])[:, 1] >= 0.3).astype(np.int8)
    return race, test.income_over_50k.to_numpy().astype(np.int8), decision


def proxies(truth: np.ndarray, noise: float, assumed: float, shares, prior: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    signal = CENTRES[truth] + rng.normal(0, noise, (truth.size, 2))
    weights = prior if shares is None else np.asarray(shares)
    distance = ((signal[:, None, :] - CENTRES[None]) ** 2).sum(axis=-1)
    likelihood = np.exp(-0.5 * distance / assumed**2) * weights
    return likelihood / likelihood.sum(axis=1, keepdims=True)


def rate(metric: str, y: np.ndarray, decision: np.ndarray, mask: np.ndarray) -> float:
    keep = {"selection_rate": mask, "true_positive_rate": mask & (y == 1), "false_positive_rate": mask & (y == 0)}
    return decision[keep[metric]].mean()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--boot", type=int, default=400)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    race, y, decision = population()
    prior = np.bincount(race, minlength=3) / race.size
    truth = {m: rate(m, y, decision, race == 1) - rate(m, y, decision, race == 0) for m in METRICS}
    print(f"population: {race.size:,} people, shares {dict(zip(GROUPS, prior.round(3), strict=True))}")
    print("true Black - White gaps: " + ", ".join(f"{m} {v:+.3f}" for m, v in truth.items()))
    print(f"{args.sims} simulations of {args.rows:,} people, {args.boot} row-bootstrap replicates each\n")
    print(f"{'scenario':<42} {'metric':<20} {'weighted bias':>13} {'corrected bias':>14} {'coverage':>9}")
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for name, (noise, assumed, shares) in SCENARIOS.items():
        gaps = {m: [] for m in METRICS}
        for _ in range(args.sims):
            pick = rng.integers(0, race.size, args.rows)
            p = proxies(race[pick], noise, assumed, shares, prior, rng)
            codes = np.zeros(args.rows, dtype=np.int64)
            point = mixing_stats(codes, 1, p, y[pick], decision[pick], None, None)
            boot = mixing_stats(codes, 1, p, y[pick], decision[pick], None, None, args.boot, rng)
            estimate = correct(point, boot, np.array([0]), 1, METRICS, True, None)
            for m in METRICS:
                reps = estimate.replicates[m][:, 0, 1] - estimate.replicates[m][:, 0, 0]
                low, high = np.nanquantile(reps, [0.025, 0.975])
                gaps[m].append((np.diff(estimate.weighted[m][0][:2])[0], np.diff(estimate.values[m][0][:2])[0],
                                low <= truth[m] <= high))
        for m in METRICS:
            values = np.array(gaps[m], dtype=float)
            print(f"{name:<42} {m:<20} {values[:, 0].mean() - truth[m]:>+13.3f} "
                  f"{values[:, 1].mean() - truth[m]:>+14.3f} {values[:, 2].mean():>9.1%}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
