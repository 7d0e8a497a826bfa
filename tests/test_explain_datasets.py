"""End to end on the bundled bank-marketing and adult data, with models trained here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import fairaudit as fa
from fairaudit.explain import Explanations, explain, explanation_findings


def _check_tables(result: Explanations, data: pd.DataFrame, sensitive: list[str], features: list[str]) -> None:
    assert list(result.importance.index.names) == ["attribute", "group"]
    assert list(result.importance.columns) == features
    assert result.importance.index[0] == ("overall", "all")
    assert list(result.gap.index.names) == ["attribute", "group", "feature"]
    assert list(result.gap.columns) == ["contribution", "ci_low", "ci_high"]
    assert list(result.proxies.index.names) == ["attribute", "feature"]
    assert {"association", "importance", "flag"} <= set(result.proxies.columns)
    for attribute in sensitive:
        groups = set(data[attribute].dropna().astype(str).unique())
        assert set(result.importance.loc[attribute].index) == groups
        for group in groups:
            rows = result.gap.loc[(attribute, group)]
            assert list(rows.index) == [*features, "(total gap)", "(residual)"]
            assert abs(rows.loc["(residual)", "contribution"]) < 1e-6
    shares = result.proxies.xs(sensitive[0], level="attribute")["importance"]
    assert shares.between(0, 1).all()
    json.dumps(result.to_dict(), allow_nan=False)


def test_bank_marketing_with_lightgbm():
    lightgbm = pytest.importorskip("lightgbm")
    data = fa.load_dataset("bank_marketing")
    info = fa.DATASETS["bank_marketing"]
    sensitive = list(info.sensitive)
    features = [c for c in data.columns if c not in (info.target, *sensitive)]
    train = data.sample(8000, random_state=0)
    model = lightgbm.LGBMClassifier(n_estimators=60, num_leaves=15, verbose=-1).fit(train[features], train[info.target])
    result = explain(model, data, sensitive=sensitive, features=features, max_rows=1500, n_boot=100, progress=False)

    assert (result.explainer, result.units, result.sample_rows) == ("tree", "probability", 1500)
    assert result.rows_per_second > 200
    _check_tables(result, data, sensitive, features)
    # the oldest group is small (810 of 45,203) and is kept almost whole under the budget
    groups = result.groups
    assert groups.loc[("age_group", ">=65"), "sample_count"] > 0.5 * groups.loc[("age_group", ">=65"), "count"]
    probability = model.predict_proba(data[features])[:, 1]
    old = (data["age_group"] == ">=65").to_numpy()
    full_gap = probability[old].mean() - probability[~old].mean()
    total = result.gap.loc[("age_group", ">=65", "(total gap)")]
    assert total["ci_low"] <= full_gap <= total["ci_high"]
    codes = {f.code for f in explanation_findings(result, min_group_size=30)}
    assert codes == {"FA301", "FA302"}


def test_adult_with_a_pipeline_finds_the_sex_proxies():
    data = fa.load_dataset("adult")
    categorical = ["workclass", "education", "marital_status", "occupation", "relationship"]
    numeric = ["age", "hours_per_week", "capital_gain", "education_num"]
    features = categorical + numeric
    data = data.assign(**{c: data[c].cat.add_categories("unknown").fillna("unknown") for c in categorical})
    train, test = data[data["split"] == "train"], data[data["split"] == "test"]
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), categorical),
                                     (StandardScaler(), numeric))
    model = make_pipeline(encode, LogisticRegression(max_iter=300)).fit(train[features], train["income_over_50k"])
    result = explain(model, test, sensitive=["sex", "race"], features=features, max_rows=2000, n_boot=100,
                     progress=False)

    assert (result.explainer, result.units) == ("pipeline+linear", "probability")
    _check_tables(result, test, ["sex", "race"], features)
    women = result.gap.loc[("sex", "Female")]
    assert women.loc["(total gap)", "contribution"] < -0.1  # women get lower predicted incomes
    assert women.loc["(total gap)", "ci_high"] < 0
    # marital status and relationship carry the gap and track sex: the classic proxies in this data
    top = result.top_contributors("sex", "Female", 2).index
    assert "marital_status" in top
    sex = result.proxies.loc["sex"]
    assert bool(sex.loc["relationship", "flag"]) and sex.loc["relationship", "association"] > 0.8
    assert sex.loc["marital_status", "association"] > 0.7 and sex.loc["marital_status", "importance"] > 0.2
    messages = [f.message for f in explanation_findings(result, min_group_size=30) if f.code == "FA301"]
    assert any("'relationship' closely tracks sex" in m for m in messages)
    assert np.isfinite(result.rows_per_second)
