"""Loaders for the bundled real datasets (files and licences under ``datasets/`` in the source tree).

Every loader returns a clean pandas DataFrame: snake_case column names, categorical text as
``category``, the label as 0/1 ``int8`` (1 = the favourable or predicted event named below), and the
sensitive columns named as listed in :data:`DATASETS`. Nothing is fetched from the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    target: str
    sensitive: tuple[str, ...]
    rows: int
    description: str


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("bank_marketing", "subscribed", ("age_group", "marital"), 45203,
                    "UCI Bank Marketing (Portuguese bank telemarketing, Moro et al. 2014), full table as "
                    "preprocessed by fair-trees: age binned, marital collapsed. CC BY 4.0."),
        DatasetInfo("bank_marketing_sample", "subscribed", ("age_group", "marital"), 4521,
                    "UCI Bank Marketing 10% sample ('bank.csv') with raw age and three marital "
                    "statuses. CC BY 4.0."),
        DatasetInfo("telco_churn", "churn", ("gender", "senior_citizen", "partner", "dependents"), 7043,
                    "IBM 'Telco Customer Churn' sample data describing a FICTIONAL telco company "
                    "(synthetic customers, not real people)."),
        DatasetInfo("default_credit_taiwan", "default", ("sex", "age_group", "marital", "education"), 30000,
                    "Default of credit card clients, Taiwan 2005 (Yeh & Lien 2009). CC BY 4.0."),
        DatasetInfo("german_credit", "good_credit", ("sex", "age_group", "foreign_worker"), 1000,
                    "Statlog German Credit (Hofmann 1994). 'sex' is derived from a personal-status code "
                    "that does not reliably identify sex (Groemping 2019). CC BY 4.0."),
        DatasetInfo("adult", "income_over_50k", ("sex", "race", "age_group", "marital_status"), 48842,
                    "UCI Adult / Census Income (1994 CPS extract), train and test with a 'split' "
                    "column; '?' is missing. CC BY 4.0."),
    )
}


def data_dir() -> Path:
    """Where the bundled files are: inside the installed package, else the source checkout."""
    packaged = resources.files("fairaudit") / "_data"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "fairaudit's bundled datasets are missing from this installation; reinstall fairaudit."
    )


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled dataset by name; ``DATASETS[name]`` says its target and sensitive columns.

    ``bank_marketing``: 45,203 telemarketing contacts; target ``subscribed`` (term deposit);
    sensitive ``age_group`` (``<=21``, ``22-64``, ``>=65``) and ``marital`` (``married``,
    ``non-married``). ``duration`` (call length) is only known after the call: leave it out of models
    that decide whom to call.
    ``bank_marketing_sample``: the UCI 10% sample, 4,521 rows, raw ``age`` and the same ``age_group``
    bins, ``marital`` in ``married``, ``single``, ``divorced``.
    ``telco_churn``: 7,043 customers of a FICTIONAL telco company (IBM sample data: synthetic, not real
    customers); target ``churn``; sensitive ``gender``, ``senior_citizen``, ``partner``,
    ``dependents``; ``total_charges`` is 0 for the 11 customers with tenure 0 (blank in the source).
    ``default_credit_taiwan``: 30,000 card holders; target ``default`` (next month);
    sensitive ``sex``, ``age_group``, ``marital``, ``education`` (undocumented codes as ``other``).
    ``german_credit``: 1,000 applicants; target ``good_credit``; sensitive ``sex`` (see the caveat in
    ``DATASETS``), ``age_group`` (``<=25``, ``>25``), ``foreign_worker``.
    ``adult``: 48,842 census records (``split`` = train/test); target ``income_over_50k``; sensitive
    ``sex``, ``race``, ``age_group``, ``marital_status``; ``?`` becomes missing.
    """
    if name not in _LOADERS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(sorted(_LOADERS))}.")
    frame = _LOADERS[name](data_dir())
    return frame.reset_index(drop=True)


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: "category" for c in text})


def _bank_age_group(age: pd.Series) -> pd.Series:
    return pd.Series(np.select([age <= 21, age >= 65], ["<=21", ">=65"], "22-64"), index=age.index)


def _bank_marketing(root: Path) -> pd.DataFrame:
    raw = pd.read_csv(root / "bank_marketing" / "bank_full_fairtrees_45203.csv")
    frame = raw.drop(columns=["__split_groups_id__", "__Z_intersectional__", "__y__subscription",
                              "__Z__age", "__Z__marital"])
    frame["age_group"] = raw["__Z__age"]
    frame["marital"] = raw["__Z__marital"]
    frame["subscribed"] = (raw["__y__subscription"] == "yes").astype(np.int8)
    return _categorical(frame)


def _bank_marketing_sample(root: Path) -> pd.DataFrame:
    raw = pd.read_csv(root / "bank_marketing" / "bank_sample_4521.csv.gz")
    frame = raw.drop(columns=["id", "y"])
    frame["age_group"] = _bank_age_group(raw["age"])
    frame["subscribed"] = (raw["y"] == "yes").astype(np.int8)
    return _categorical(frame)


def _telco_churn(root: Path) -> pd.DataFrame:
    raw = pd.read_csv(root / "telco_churn" / "telco_customer_churn_ibm.csv")
    frame = raw.drop(columns=["churn", "female"])
    frame.insert(0, "gender", np.where(raw["female"] == 1, "female", "male"))
    frame["total_charges"] = raw["total_charges"].fillna(0.0)
    frame["churn"] = (raw["churn"] == "Yes").astype(np.int8)
    return _categorical(frame)


_TAIWAN_EDUCATION = {1: "graduate school", 2: "university", 3: "high school"}
_TAIWAN_MARITAL = {1: "married", 2: "single", 3: "other"}


def _age_group(age: pd.Series, edges: list[int], labels: list[str]) -> pd.Series:
    return pd.cut(age, bins=[-np.inf, *edges, np.inf], labels=labels, right=False).astype(str)


def _default_credit_taiwan(root: Path) -> pd.DataFrame:
    raw = pd.read_csv(root / "default_credit_taiwan" / "default_of_credit_card_clients.csv")
    frame = raw.drop(columns=["ID", "default.payment.next.month"])
    frame.columns = [c.lower() for c in frame.columns]
    frame["sex"] = np.where(raw["SEX"] == 1, "male", "female")
    frame["education"] = raw["EDUCATION"].map(_TAIWAN_EDUCATION).fillna("other")
    frame["marital"] = raw["MARRIAGE"].map(_TAIWAN_MARITAL).fillna("other")
    frame = frame.drop(columns=["marriage"])
    frame["age_group"] = _age_group(raw["AGE"], [25, 35, 45, 55], ["<25", "25-34", "35-44", "45-54", "55+"])
    frame["default"] = raw["default.payment.next.month"].astype(np.int8)
    return _categorical(frame)


_GERMAN_COLUMNS = [
    ("checking_status", "status"), ("duration_months", None), ("credit_history", "credit_history"),
    ("purpose", "purpose"), ("credit_amount", None), ("savings", "savings"),
    ("employment_since", "present_employment"), ("installment_rate", None),
    ("personal_status_sex", "status_sex"), ("other_debtors", "other_debtors"),
    ("residence_since", None), ("property", "property"), ("age", None),
    ("other_installment_plans", "installment_plans"), ("housing", "housing"),
    ("existing_credits", None), ("job", "job"), ("people_liable", None), ("telephone", "telephone"),
    ("foreign_worker", "foreign_worker"), ("credit", None),
]


def _german_credit(root: Path) -> pd.DataFrame:
    folder = root / "german_credit"
    raw = pd.read_csv(folder / "german.data", sep=" ", header=None,
                      names=[name for name, _ in _GERMAN_COLUMNS])
    maps = json.loads((folder / "values_maps.json").read_text(encoding="utf-8"))
    frame = raw.drop(columns=["credit"])
    for name, key in _GERMAN_COLUMNS:
        if key is not None:
            frame[name] = raw[name].map({code: str(v).strip() for code, v in maps[key].items()})
    frame["foreign_worker"] = np.where(raw["foreign_worker"] == "A201", "yes", "no")
    frame["telephone"] = np.where(raw["telephone"] == "A192", "yes", "no")
    frame["sex"] = np.where(raw["personal_status_sex"].isin(["A92", "A95"]), "female", "male")
    frame["age_group"] = np.where(raw["age"] > 25, ">25", "<=25")
    frame["good_credit"] = (raw["credit"] == 1).astype(np.int8)
    return _categorical(frame)


_ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
]


def _adult(root: Path) -> pd.DataFrame:
    folder = root / "adult"
    parts = []
    for split, file, skip in (("train", "adult.data", 0), ("test", "adult.test", 1)):
        part = pd.read_csv(folder / file, header=None, names=_ADULT_COLUMNS, skiprows=skip,
                           skipinitialspace=True, na_values="?")
        part["split"] = split
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    income = frame.pop("income").str.rstrip(".")
    frame["age_group"] = _age_group(frame["age"], [25, 45, 65], ["<25", "25-44", "45-64", "65+"])
    frame["income_over_50k"] = (income == ">50K").astype(np.int8)
    return _categorical(frame)


_LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "bank_marketing": _bank_marketing,
    "bank_marketing_sample": _bank_marketing_sample,
    "telco_churn": _telco_churn,
    "default_credit_taiwan": _default_credit_taiwan,
    "german_credit": _german_credit,
    "adult": _adult,
}
