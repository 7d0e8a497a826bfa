"""Audit configurations for ``fairaudit run``: a YAML file validated by a JSON Schema.

The schema (``config.schema.json`` beside this module) documents every key. Paths in the file are
relative to the file itself. Errors name the key and say how to fix it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from fairaudit.datasets import load_dataset
from fairaudit.inputs import FairAuditWarning
from fairaudit.policy import PRESETS, Policy
from fairaudit.result import MODEL_CARD_KEYS

BUNDLED = "bundled:"


class ConfigError(ValueError):
    """An audit configuration is malformed: unknown key, wrong type, missing file."""


class ConfigDeprecationWarning(FairAuditWarning, FutureWarning):
    """A configuration uses a key that still works but will be removed; the message says what to write."""


def schema() -> dict[str, Any]:
    """The JSON Schema of audit configurations."""
    return json.loads((resources.files("fairaudit") / "config.schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class AuditConfig:
    """A validated configuration; ``base`` is the folder relative paths are read from."""

    spec: dict[str, Any]
    base: Path
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    def path(self, key: str) -> Path:
        return (self.base / self.spec[key]).resolve()

    def load_data(self) -> pd.DataFrame | str:
        """The audited table: a bundled dataset, a CSV or a Parquet file in memory; or, for a glob or
        ``engine: duckdb``, the path for DuckDB to read out of core."""
        source = self.spec["data"]
        if source.startswith(BUNDLED):
            return load_dataset(source[len(BUNDLED):])
        if self.spec.get("engine") == "duckdb" or any(c in source for c in "*?["):
            return str(self.path("data"))
        path = self.path("data")
        if not path.exists():
            raise ConfigError(f"Config key 'data': file {str(path)!r} does not exist.")
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if path.suffix.lower() in (".csv", ".gz", ".txt"):
            return pd.read_csv(path)
        raise ConfigError(f"Config key 'data': {path.name!r} is neither a CSV nor a Parquet file.")

    def policy(self) -> Policy:
        value = self.spec.get("policy")
        if isinstance(value, str) and value in PRESETS:
            return Policy.coerce(value)
        if isinstance(value, str):
            path = (self.base / value).resolve()
            if not path.exists():
                raise ConfigError(f"Config key 'policy': file {str(path)!r} does not exist.")
            return Policy.from_yaml(path)
        return Policy.coerce(value)

    def audit_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`fairaudit.audit` taken from the file."""
        keys = ("target", "features", "y_pred", "y_score", "task", "threshold", "pos_label", "intersections",
                "sample_weight", "confidence", "n_boot", "random_state", "explain", "mitigate", "top_k", "favorable",
                "compliance", "compliance_attributes", "query", "y_rank", "item", "reference",
                "sensitive_proba", "proba_prior")
        options = {k: self.spec[k] for k in keys if k in self.spec}
        options["sensitive"] = self.spec.get("sensitive")
        if "policy" in self.spec:  # otherwise audit() applies the task's default policy
            options["policy"] = self.policy()
        options["name"] = self.spec.get("title", self.spec["name"])
        options["model_info"] = {**self.spec.get("model_info", {}), **self._model_file_hash()}
        options["data_info"] = {"source": self.spec["data"], **self.spec.get("data_info", {})}
        if "train_index" in self.spec:
            options["train_index"] = self.spec["train_index"]
        return options

    def _model_file_hash(self) -> dict[str, str]:
        """``file_sha256`` of the model file (none for an entry point or precomputed columns)."""
        if "model" not in self.spec or not self.path("model").is_file():
            return {}
        return {"file_sha256": hashlib.sha256(self.path("model").read_bytes()).hexdigest()}


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate an audit configuration file."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"Config file {str(file)!r} does not exist.")
    text = file.read_bytes()
    try:
        spec = yaml.safe_load(text.decode("utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"Config file {str(file)!r} is not valid YAML: {error}") from None
    return dataclasses.replace(validate(spec, base=file.resolve().parent), sha256=hashlib.sha256(text).hexdigest())


def validate(spec: Any, base: Path) -> AuditConfig:
    """Check a configuration against the schema; the first problem is raised, naming its key."""
    if not isinstance(spec, dict):
        raise ConfigError("An audit config must be a mapping of keys to values (name, data, sensitive, ...).")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(spec), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        raise ConfigError(_describe(errors[0]))
    if "sensitive" not in spec and "sensitive_proba" not in spec:
        raise ConfigError("Config key 'sensitive' is required: the sensitive columns to audit (or 'sensitive_proba' "
                          "for attributes estimated from membership probabilities).")
    if "model" in spec and ("y_pred" in spec or "y_score" in spec):
        raise ConfigError("Config keys 'model' and 'y_pred'/'y_score' exclude each other: audit either a model "
                          "or precomputed columns.")
    if not any(k in spec for k in ("model", "y_pred", "y_score", "y_rank")):
        raise ConfigError("Config needs 'model' (a model file or entry point) or 'y_pred'/'y_score'/'y_rank' "
                          "(columns of precomputed predictions or ranks).")
    config = AuditConfig(_without_model_card(spec), base)
    config.policy()
    return config


def _without_model_card(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the deprecated ``model_card`` section moved into ``model_info`` / ``data_info`` (one
    place for what the report says about the model and data), with a warning saying what to write; a value
    given in both places differently is an error."""
    card = spec.get("model_card")
    if card is None:
        return spec
    moved = {k: v for k, v in spec.items() if k != "model_card"}
    for key, value in card.items():
        section, field = MODEL_CARD_KEYS[key]
        given = dict(moved.get(section) or {})
        if field in given and str(given[field]) != str(value):
            raise ConfigError(f"Config keys 'model_card.{key}' ({value!r}) and '{section}.{field}' "
                              f"({given[field]!r}) disagree: 'model_card' is deprecated, keep only "
                              f"'{section}.{field}'.")
        moved[section] = {**given, field: value}
    where = ", ".join(f"'{MODEL_CARD_KEYS[k][0]}: {{{MODEL_CARD_KEYS[k][1]}: ...}}'" for k in card)
    warnings.warn(f"Config key 'model_card' is deprecated and will be removed: write {where or 'nothing'} "
                  "instead (page 1 and the model card both read model_info and data_info).",
                  ConfigDeprecationWarning, stacklevel=4)
    return moved


def _describe(error: jsonschema.ValidationError) -> str:
    properties = schema()["properties"]
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(properties))
        return (f"Unknown config key {unknown[0]!r}; the keys are: {', '.join(properties)}.")
    if list(error.path) == ["name"] and error.validator == "pattern":
        return (f"Config key 'name' is {error.instance!r}: it names the output folder, so it must be a slug of "
                "letters, digits, '.', '_' and '-' starting with a letter or digit (at most 100 characters), e.g. "
                "'churn-model'.")
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"Config key {missing!r} is required: {properties[missing].get('description', '')}."
    key = ".".join(str(p) for p in error.path) or "(top level)"
    expected = error.schema.get("type") or error.schema.get("enum") or error.schema.get("pattern")
    return f"Config key {key!r} is invalid: {error.message} (expected {expected})."
