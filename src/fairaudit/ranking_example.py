"""A ranked-offer example on real customers: the bundled UCI Bank Marketing table (Moro et al. 2014).

No public recommendation log ships in a package of the registries we can use offline, so the example is
built from real customer records and their real product holdings. Each customer is shown three offers,
``term_deposit``, ``housing_loan`` and ``personal_loan``; a logistic regression per offer (on job,
education, balance, default, contact, campaign and previous contacts; never age or marital status) predicts
the customer's interest, and the offers are ranked by the predicted probability over the offer's base rate
(the lift). Relevance (``accepted``) is what the customer actually has: subscribed to the term deposit,
holds a housing loan, holds a personal loan. The models are fitted and applied on the same customers: an
illustration of an audit, not a model evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OFFERS = {"term_deposit": "subscribed", "housing_loan": "housing", "personal_loan": "loan"}
FEATURES = ("job", "education", "balance", "default", "contact", "campaign", "previous", "poutcome")


def offer_rankings(customers: int | None = 5000, *, random_state: int = 0) -> pd.DataFrame:
    """Long table, one row per customer x offer: ``customer_id``, ``age_group``, ``marital``, ``offer``,
    ``score`` (lift), ``rank`` (1 = top) and ``accepted`` (0/1); ``customers`` sampled (``None``: all 45,203)."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from fairaudit.datasets import load_dataset

    data = load_dataset("bank_marketing")
    if customers is not None:
        data = data.sample(n=min(customers, len(data)), random_state=random_state)
    data = data.reset_index(drop=True)
    X = data[list(FEATURES)]
    categorical = [c for c in FEATURES if isinstance(X[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in FEATURES if c not in categorical]
    frames = []
    for offer, column in OFFERS.items():
        outcome = (data[column].astype(str) == "yes") if column != "subscribed" else data[column] == 1
        model = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), categorical),
                                                      (StandardScaler(), numeric)),
                              LogisticRegression(max_iter=1000))
        model.fit(X, outcome.astype(int))
        lift = model.predict_proba(X)[:, 1] / outcome.mean()
        frames.append(pd.DataFrame({"customer_id": np.arange(len(data)), "age_group": data["age_group"].astype(str),
                                    "marital": data["marital"].astype(str), "offer": offer, "score": lift,
                                    "accepted": outcome.astype(np.int8).to_numpy()}))
    long = pd.concat(frames, ignore_index=True)
    long["rank"] = long.groupby("customer_id")["score"].rank(method="first", ascending=False).astype(int)
    return long.sort_values(["customer_id", "rank"], ignore_index=True)
