"""Bundled datasets reproduce their published counts, and load from a built wheel too."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import fairaudit as fa

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(fa.DATASETS))
def test_loader_contract(name):
    info = fa.DATASETS[name]
    data = fa.load_dataset(name)
    assert len(data) == info.rows
    assert set(data[info.target].unique()) == {0, 1}
    assert str(data[info.target].dtype) == "int8"
    for column in info.sensitive:
        assert column in data.columns
        assert data[column].nunique() <= 50


def test_published_counts():
    adult = fa.load_dataset("adult")
    train = adult[adult["split"] == "train"]
    assert len(train) == 32561
    rates = train.groupby("sex", observed=True)["income_over_50k"].mean()
    assert round(rates["Male"] * 100, 2) == 30.57 and round(rates["Female"] * 100, 2) == 10.95
    assert round(adult["income_over_50k"].mean() * 100, 2) == 23.93  # adult.names, 48,842 rows
    assert fa.load_dataset("german_credit")["good_credit"].value_counts().to_dict() == {1: 700, 0: 300}
    credit = fa.load_dataset("default_credit_taiwan")
    assert credit["default"].sum() == 6636
    assert credit["sex"].value_counts().to_dict() == {"female": 18112, "male": 11888}
    assert fa.load_dataset("bank_marketing_sample")["subscribed"].sum() == 521
    assert fa.load_dataset("bank_marketing")["subscribed"].sum() == 5287
    assert fa.load_dataset("telco_churn")["churn"].sum() == 1869


def test_telco_is_described_as_fictional():
    assert "FICTIONAL" in fa.DATASETS["telco_churn"].description
    assert "FICTIONAL" in fa.load_dataset.__doc__


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset 'bank'; choose one of adult, bank_marketing"):
        fa.load_dataset("bank")


def test_loads_from_an_installed_wheel(tmp_path):
    """Build the wheel, unpack it as an installation, and load a dataset from it outside the checkout."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("fairaudit-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "fairaudit/_data/german_credit/SOURCE.txt" in names
        archive.extractall(tmp_path / "site")
    code = ("import fairaudit, pathlib; d = fairaudit.load_dataset('german_credit'); "
            "print(len(d), pathlib.Path(fairaudit.__file__).parent)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == "1000" and out[1].startswith(str(tmp_path))
