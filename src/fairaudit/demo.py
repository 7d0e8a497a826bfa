"""The demo audit: a campaign model on the bundled bank-marketing data, audited by age and marital status."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairaudit._audit import audit
from fairaudit.datasets import DATASETS, load_dataset
from fairaudit.result import AuditResult

NUMERIC = ["balance", "day", "campaign", "pdays", "previous"]
CATEGORICAL = ["job", "education", "default", "housing", "loan", "contact", "month", "poutcome"]


MODEL_INFO = {"name": "Term-deposit campaign model (logistic regression)", "version": "demo",
              "owner": "fairaudit demo", "intended_use": "choose which customers the call centre phones",
              "positive_decision": "the customer is called (score of at least 0.2)"}
DATA_INFO = {"source": "UCI bank marketing (bundled), the 30% held out from training",
             "period": "May 2008 to November 2010"}


def train_demo_model() -> tuple[Pipeline, pd.DataFrame]:
    """The demo's subscription model (without the sensitive columns and without call ``duration``, which
    is only known after the call), fitted on 70% of bank_marketing; returns it and the other 30%."""
    info = DATASETS["bank_marketing"]
    data = load_dataset("bank_marketing")
    train, test = train_test_split(data, test_size=0.3, random_state=0, stratify=data[info.target])
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), NUMERIC),
            (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ),
        LogisticRegression(max_iter=1000),
    )
    model.fit(train[NUMERIC + CATEGORICAL], train[info.target])
    return model, test


def run_demo(out_dir: str | Path = "reports/demo", *, n_boot: int = 1000) -> tuple[AuditResult, Path]:
    """Audit the demo model on held-out customers by age group and marital status, with SHAP explanations
    of the gaps and the effect of each recommended mitigation measured on held-out rows; write ``audit.json``,
    ``audit.html`` and ``audit.pdf`` to ``out_dir``. Returns the result and the JSON's path."""
    info = DATASETS["bank_marketing"]
    model, test = train_demo_model()
    training = load_dataset("bank_marketing").index.difference(test.index)
    result = audit(model, test, sensitive=list(info.sensitive), target=info.target,
                   threshold=0.2, n_boot=n_boot, mitigate=True, explain=True, name="Who gets called: fairness of "
                   "the campaign model", model_info=MODEL_INFO, data_info=DATA_INFO, train_index=training)
    path = Path(out_dir) / "audit.json"
    result.to_json(path)
    result.to_html(path.with_suffix(".html"))
    result.to_pdf(path.with_suffix(".pdf"))
    return result, path
