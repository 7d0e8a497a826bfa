"""Render the demo report and an adult audit (three attributes and their crossings) to PDF and PNG pages, to
look at every page as a reviewer would, and time the PDF.

    python benchmarks/render_reports.py --out renders             # both audits (minutes: mitigation, SHAP)
    python benchmarks/render_reports.py --out renders --reuse     # re-render results saved by a first run
    python benchmarks/render_reports.py --out renders --only adult --phone

Writes ``<audit>/audit.pdf`` and ``<audit>/page-NN.png`` (A4 at 60 dpi), with ``--phone`` also
``<audit>/phone-NN.png`` (the HTML laid out on 390 px wide screens, see ``tests/phone.py``), and
prints one JSON line per audit: pages, PDF seconds, the machine's load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import time
import warnings
from pathlib import Path

import pypdfium2 as pdfium
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import fairaudit as fa
from fairaudit.demo import run_demo

ADULT_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
ADULT_CATEGORICAL = ["workclass", "occupation", "marital_status", "relationship"]


def demo(out: Path) -> fa.AuditResult:
    """The result of ``fairaudit demo`` (its own files written to ``out``)."""
    return run_demo(out)[0]


def adult(out: Path) -> fa.AuditResult:
    """A logistic regression trained on adult's train split, audited on its test split by sex, race and
    age group with their crossings, with explanations and measured mitigations."""
    data = fa.load_dataset("adult")
    train, test = data[data.split == "train"], data[data.split == "test"].drop(columns="split")
    features = ADULT_NUMERIC + ADULT_CATEGORICAL
    model = make_pipeline(make_column_transformer((StandardScaler(), ADULT_NUMERIC),
                                                  (OneHotEncoder(handle_unknown="ignore"), ADULT_CATEGORICAL)),
                          LogisticRegression(max_iter=1000))
    model.fit(train[features], train["income_over_50k"])
    return fa.audit(model, test, sensitive=["sex", "race", "age_group"], target="income_over_50k",
                    features=features, explain=True, mitigate=True, name="Adult income model: fairness by sex, "
                    "race and age", model_info={"version": "bench", "owner": "fairaudit benchmarks",
                                                "intended_use": "a test of the report on crossings",
                                                "positive_decision": "income predicted above 50K"},
                    data_info={"source": "UCI adult, test split", "period": "1994 census"}, train_index=[])


AUDITS = {"demo": demo, "adult": adult}


def pngs(pdf: bytes, folder: Path, stem: str, scale: float) -> int:
    """Each page of ``pdf`` as ``stem-NN.png``; the number of pages."""
    document = pdfium.PdfDocument(pdf)
    for i, page in enumerate(document, start=1):
        page.render(scale=scale).to_pil().save(folder / f"{stem}-{i:02d}.png")
    return len(document)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", choices=sorted(AUDITS), action="append")
    parser.add_argument("--reuse", action="store_true", help="render the results saved by an earlier run")
    parser.add_argument("--phone", action="store_true", help="also render the 390 px wide layout")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in args.only or sorted(AUDITS):
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        saved = folder / "result.pickle"  # our own file, written by this script a moment earlier
        started = time.perf_counter()
        if args.reuse and saved.exists():
            result = pickle.loads(saved.read_bytes())
        else:
            result = AUDITS[name](folder)
            saved.write_bytes(pickle.dumps(dataclasses.replace(result, statistics=None)))  # no closures
        audited = time.perf_counter() - started
        for old in folder.glob("*.png"):
            old.unlink()
        load = os.getloadavg()[0]
        started = time.perf_counter()
        pdf = result.to_pdf()
        seconds = time.perf_counter() - started
        (folder / "audit.pdf").write_bytes(pdf)
        (folder / "audit.html").write_text(result.to_html(), encoding="utf-8")
        pages = pngs(pdf, folder, "page", 60 / 72)
        line = {"audit": name, "pages": pages, "pdf_seconds": round(seconds, 1), "load_1min": round(load, 2),
                "audit_seconds": round(audited, 1)}
        if args.phone:
            from tests.phone import phone_layout  # the phone check of the tests, only when asked

            started = time.perf_counter()
            phone = phone_layout(result.to_html())
            line["phone_seconds"] = round(time.perf_counter() - started, 1)
            line["phone_pages"] = len(phone.pages)
            line["phone_too_wide"] = len(phone.too_wide)
            for i, png in enumerate(phone.pngs(), start=1):
                (folder / f"phone-{i:02d}.png").write_bytes(png)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
