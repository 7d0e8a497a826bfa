"""Shared fixtures: real datasets with a simple model's scores, computed once per session."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import fairaudit as fa

# dataset -> sensitive columns audited in the reference tests (kept small enough for fairlearn)
REFERENCE_CASES = {
    "adult": ["sex", "race"],
    "default_credit_taiwan": ["sex", "age_group", "marital"],
    "german_credit": ["sex", "age_group"],
    "bank_marketing": ["age_group", "marital"],
    "bank_marketing_sample": ["age_group", "marital"],
    "telco_churn": ["gender", "senior_citizen"],
}


def fit_scores(data: pd.DataFrame, target: str, drop: list[str]) -> np.ndarray:
    """Scores of a logistic regression fitted on all columns but the target and ``drop``."""
    features = data.drop(columns=[target, *drop])
    categorical = [c for c in features.columns if isinstance(features[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in features.columns if c not in categorical]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical),
            (make_pipeline(StandardScaler()), numeric),
        ),
        LogisticRegression(max_iter=500),
    )
    filled = features.copy()
    for c in categorical:
        filled[c] = filled[c].cat.add_categories("(missing)").fillna("(missing)")
    model.fit(filled, data[target])
    return model.predict_proba(filled)[:, 1]


class Scored(dict):
    """Reference datasets by name, each with columns ``score`` (model probability) and ``weight`` (random),
    made on first use: a run without ``-m slow`` never fits the models of the slow cases' datasets."""

    def __missing__(self, name: str) -> pd.DataFrame:
        data = fa.load_dataset(name)
        if name == "adult":
            data = data[data["split"] == "train"].reset_index(drop=True)
        data = data.copy()
        data["score"] = fit_scores(data, fa.DATASETS[name].target, REFERENCE_CASES[name])
        data["weight"] = np.random.default_rng(7).uniform(0.2, 3.0, len(data))
        self[name] = data
        return data


@pytest.fixture(scope="session")
def scored() -> Scored:
    """Each reference dataset with columns ``score`` (model probability) and ``weight`` (random)."""
    return Scored()


GROUPS = {"spark": "spark", "spark_connect": "spark_connect", "demo_run": "demo"}
"""Fixtures too expensive (or, for the Spark Connect server and its fixed port, impossible) to build twice -> the
xdist group of the tests that use them (one worker each)."""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses Spark runs on one xdist worker, so the suite starts one Spark session; likewise
    every test that reads the demo's outputs, so the demo runs once.

    pytest-xdist's ``--dist loadgroup`` sends the tests whose node id ends with ``@<group>`` to one worker;
    it renames them through ``item._nodeid``, which pytest 9 no longer reads (its ids live in ``item._id``), so
    the groups were ignored and each worker started its own Spark. The ids are renamed here, after xdist's hook.
    """
    for item in items:
        for fixture, group in GROUPS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):  # pytest < 9 reads xdist's _nodeid: nothing to do
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(item.nodeid + suffix)


class DemoRun(NamedTuple):
    """What ``fairaudit demo`` returned, printed and wrote, and the audit result it wrote."""

    result: fa.AuditResult
    folder: Path
    exit_code: int
    stdout: str


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """``fairaudit demo --out <folder>`` run once, in this process (the installed command is run by
    ``test_cli.test_version``), keeping the result that ``run_demo`` returned to the command."""
    import fairaudit.demo
    from fairaudit.cli import main

    folder = tmp_path_factory.mktemp("demo") / "demo"
    returned = []
    run_demo = fairaudit.demo.run_demo

    def recorded(*args, **kwargs):
        returned.append(run_demo(*args, **kwargs))
        return returned[-1]

    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out:
        patch.setattr(fairaudit.demo, "run_demo", recorded)
        code = main(["demo", "--out", str(folder)])
    assert returned, f"fairaudit demo exited with {code} before auditing (its traceback is in the captured stderr)"
    (result, path), = returned
    assert path == folder / "audit.json"
    return DemoRun(result, folder, code, out.getvalue())


@pytest.fixture(scope="session")
def demo(demo_run) -> fa.AuditResult:
    return demo_run.result


@pytest.fixture(scope="session")
def spark():
    """A local Spark session (2 cores, 2 shuffle partitions, no UI) whose workers run this Python. Its JVM
    compiles with the quick JIT only and collects garbage on one thread: the tests' jobs are many and small, and
    the optimising compiler's threads took half of the JVM's CPU time (106 s of CPU down to 54 s on the parity
    and matrix checks), time the other test worker needs."""
    from pyspark.sql import SparkSession

    saved = {name: os.environ.get(name) for name in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("fairaudit-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.driver.memory", "1g")
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
