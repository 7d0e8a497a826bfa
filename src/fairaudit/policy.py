"""Policy: the thresholds that turn an audit's numbers into findings, and the privacy rules.

A policy comes from a :class:`Policy`, a dict, or a YAML file::

    thresholds:
      disparate_impact_ratio: 0.8          # a *_ratio is a minimum, a *_difference a maximum
      equalized_odds_difference: {max: 0.1}
      false_positive_rate_difference: 0.05 # any registry metric's difference or ratio between groups
    min_group_size: 30                     # smaller groups give "inconclusive", never pass or fail
    suppress_below: 10                     # smaller groups are never shown in a report
    attributes: [sex, race]                # attributes (or crossings) in scope; default all
    ignore: [FA202]                        # finding codes to mute
    max_regression: 0.05                   # drift: how much a measure may worsen since the baseline
    require_crossings: false               # crossings' checks must be decided for a PASSED verdict
    multiplicity: holm                     # how `fail` is controlled over all checks: holm, bonferroni, none
    fwer: 0.05                             # the family-wise false-alarm rate a `fail` must hold at
    compare_missing: false                 # whether the "(missing)" group enters the comparisons

or by a preset's name (:data:`PRESETS`): ``policy: nyc_ll144`` or ``policy: eeoc_four_fifths``.

``multiplicity`` and ``fwer``: a check fails only when its evidence of a breach (the simultaneous level
at which its interval lies wholly beyond the threshold) survives Holm's step-down correction over every
decided threshold check of the audit (every measure of every attribute and crossing), so that a model with
no disparity fails with probability at most ``fwer``. ``bonferroni`` is more conservative; ``none``
controls each check alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairaudit.metrics import METRICS
from fairaudit.ranking import RANKING_METRICS
from fairaudit.tables import MEASURES

SEGMENT_THRESHOLDABLE = ("cramers_v", "normalized_mutual_info", "min_representation_ratio", "balance",
                         "standardized_mean_difference", "ks_statistic")
SCORE_METRICS = ("mean_score", "std_score", "mean_absolute_error", "root_mean_squared_error", "mean_error")


class PolicyError(ValueError):
    """A policy has an unknown key, a wrong type or an impossible threshold."""


@dataclass(frozen=True)
class Threshold:
    """``bound`` is ``"max"`` (the value must not exceed it) or ``"min"`` (must not fall below it)."""

    bound: str
    value: float

    def breached_by(self, value: float) -> bool:
        return value > self.value if self.bound == "max" else value < self.value

    def __str__(self) -> str:
        return f"{'<=' if self.bound == 'max' else '>='} {self.value:g}"


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "demographic_parity_difference": Threshold("max", 0.1),
    "disparate_impact_ratio": Threshold("min", 0.8),
    "equalized_odds_difference": Threshold("max", 0.1),
}

SEGMENTATION_THRESHOLDS: dict[str, Threshold] = {
    "cramers_v": Threshold("max", 0.1),
    "min_representation_ratio": Threshold("min", 0.8),
}
"""Defaults for a segmentation audit: a weak association of segment and group (Cramér's V <= 0.1) and
every group holding at least four fifths of its population share in every segment."""

SCORE_THRESHOLDS: dict[str, Threshold] = {
    "standardized_mean_difference": Threshold("max", 0.2),
    "ks_statistic": Threshold("max", 0.1),
}
"""Defaults for a score audit: group means within a small effect (Cohen's d <= 0.2) and score
distributions that differ by at most 0.1 in their largest CDF gap (Kolmogorov-Smirnov)."""

RANKING_THRESHOLDS: dict[str, Threshold] = {
    "favorable_exposure_ratio": Threshold("min", 0.8),
    "favorable_in_top_k_difference": Threshold("max", 0.1),
    "ndcg_at_k_difference": Threshold("max", 0.1),
}
"""Defaults for a ranking audit: every group's mean exposure to the favourable items at least four fifths of
the most exposed group's, shares of customers with a favourable item in the top k within 0.1, and list
quality (NDCG@k) within 0.1. The first two apply with ``favorable=``, the last with a target."""

ITEM_MEASURES = ("exposure_per_merit_ratio",)
"""Item-side measures of a ranking audit; not in the defaults (items are offers, not people)."""

MIN_BOUND = ("balance", "exposure_per_merit_ratio")

POLICY_KEYS = ("thresholds", "min_group_size", "suppress_below", "attributes", "ignore", "max_regression",
               "require_crossings", "multiplicity", "fwer", "compare_missing")
MULTIPLICITY = ("holm", "bonferroni", "none")


def known_measure(name: str) -> bool:
    """A named measure, or ``<metric>_difference`` / ``<metric>_ratio`` of a registry metric."""
    if name in MEASURES or name in SEGMENT_THRESHOLDABLE or name in ITEM_MEASURES:
        return True
    for suffix in ("_difference", "_ratio"):
        if name.endswith(suffix) and any(name[: -len(suffix)] in known for known in (METRICS, SCORE_METRICS,
                                                                                       RANKING_METRICS)):
            return True
    return False


@dataclass(frozen=True)
class Policy:
    """Thresholds per measure, the group sizes for conclusions and for privacy, scope and muted codes."""

    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    min_group_size: int = 30
    suppress_below: int = 10
    attributes: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    max_regression: float = 0.05
    require_crossings: bool = False
    multiplicity: str = "holm"
    fwer: float = 0.05
    compare_missing: bool = False

    def __post_init__(self) -> None:
        for key in ("require_crossings", "compare_missing"):
            if not isinstance(getattr(self, key), bool):
                raise PolicyError(f"Policy key '{key}' must be true or false; got {getattr(self, key)!r}.")
        if self.multiplicity not in MULTIPLICITY:
            raise PolicyError(f"Policy key 'multiplicity' must be one of {', '.join(MULTIPLICITY)}; "
                              f"got {self.multiplicity!r}.")
        if isinstance(self.fwer, bool) or not isinstance(self.fwer, (int, float)) or not 0 < self.fwer < 1:
            raise PolicyError(f"Policy key 'fwer' must be a number between 0 and 1 (e.g. 0.05); got {self.fwer!r}.")
        if isinstance(self.max_regression, bool) or not isinstance(self.max_regression, (int, float)) \
                or not 0 <= self.max_regression <= 1:
            raise PolicyError(f"Policy key 'max_regression' must be a number in [0, 1]; got {self.max_regression!r}.")
        for name, threshold in self.thresholds.items():
            _check_threshold(name, threshold)
        for key in ("min_group_size", "suppress_below"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PolicyError(f"Policy key '{key}' must be a whole number >= 0; got {value!r}.")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Policy:
        """A policy from a dict; unknown keys and wrong types are errors that name the key."""
        if not isinstance(spec, Mapping):
            raise PolicyError(f"A policy must be a mapping of keys to values; got {type(spec).__name__}.")
        unknown = [k for k in spec if k not in POLICY_KEYS]
        if unknown:
            raise PolicyError(
                f"Unknown policy key {unknown[0]!r}; the keys are {', '.join(POLICY_KEYS)}."
            )
        options: dict[str, Any] = {}
        if "thresholds" in spec:
            options["thresholds"] = _parse_thresholds(spec["thresholds"])
        for key in ("min_group_size", "suppress_below", "max_regression", "require_crossings", "multiplicity", "fwer",
                    "compare_missing"):
            if key in spec:
                options[key] = spec[key]
        for key in ("attributes", "ignore"):
            if key in spec and spec[key] is not None:
                value = spec[key]
                if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                    raise PolicyError(f"Policy key '{key}' must be a list of names; got {value!r}.")
                options[key] = tuple(value)
        return cls(**options)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Policy:
        import yaml

        text = Path(path).read_text(encoding="utf-8")
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise PolicyError(f"Policy file {str(path)!r} is not valid YAML: {error}") from None
        return cls.from_dict(spec or {})

    @classmethod
    def coerce(cls, policy: Policy | Mapping[str, Any] | str | Path | None) -> Policy:
        """The default policy for ``None``; a preset's name, a dict, a YAML path or a Policy otherwise."""
        if policy is None:
            return cls()
        if isinstance(policy, Policy):
            return policy
        if isinstance(policy, str) and policy in PRESETS:
            return preset(policy)
        if isinstance(policy, (str, Path)):
            return cls.from_yaml(policy)
        if isinstance(policy, Mapping):
            return cls.from_dict(policy)
        raise PolicyError(
            f"The 'policy' argument must be a Policy, a dict or a YAML file path; got {type(policy).__name__}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {k: {t.bound: t.value} for k, t in self.thresholds.items()},
            "min_group_size": self.min_group_size,
            "suppress_below": self.suppress_below,
            "attributes": None if self.attributes is None else list(self.attributes),
            "ignore": list(self.ignore),
            "max_regression": self.max_regression,
            "require_crossings": self.require_crossings,
            "multiplicity": self.multiplicity,
            "fwer": self.fwer,
            "compare_missing": self.compare_missing,
        }


def _parse_thresholds(spec: Any) -> dict[str, Threshold]:
    if not isinstance(spec, Mapping):
        raise PolicyError(f"Policy key 'thresholds' must map measure names to limits; got {spec!r}.")
    out = {}
    for name, value in spec.items():
        if isinstance(value, Mapping):
            if len(value) != 1 or next(iter(value)) not in ("min", "max"):
                raise PolicyError(
                    f"Policy key 'thresholds.{name}' must be a number or one of {{min: x}}, {{max: x}}; "
                    f"got {dict(value)!r}."
                )
            bound, limit = next(iter(value.items()))
        else:
            bound, limit = ("min" if str(name).endswith("_ratio") or name in MIN_BOUND else "max"), value
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            raise PolicyError(f"Policy key 'thresholds.{name}' must be a number; got {limit!r}.")
        out[str(name)] = Threshold(bound, float(limit))
    return out


def _check_threshold(name: str, threshold: Threshold) -> None:
    if not known_measure(name):
        raise PolicyError(
            f"Policy key 'thresholds.{name}' is not a measure fairaudit computes; use one of "
            f"{', '.join(MEASURES)}, or <metric>_difference / <metric>_ratio of a metric."
        )
    if threshold.bound not in ("min", "max"):
        raise PolicyError(f"Policy key 'thresholds.{name}' has bound {threshold.bound!r}; use 'min' or 'max'.")
    if not 0 <= threshold.value <= 1:
        kind = "a ratio" if name.endswith("_ratio") else "a difference"
        raise PolicyError(
            f"Policy key 'thresholds.{name}' is {threshold.value:g}, impossible for {kind} of rates, which "
            "lies in [0, 1]."
        )


PRESETS: dict[str, dict[str, Any]] = {
    "nyc_ll144": {"thresholds": {"disparate_impact_ratio": 0.8}, "require_crossings": True},
    "eeoc_four_fifths": {"thresholds": {"disparate_impact_ratio": 0.8}},
}
"""Policies named after a standard. ``eeoc_four_fifths``: the four-fifths rule (29 CFR 1607.4(D)) on every
attribute. ``nyc_ll144``: the law sets no pass mark, so the preset applies the same customary four-fifths
check, and requires the sex x race/ethnicity crossings to be decided too, since the law reports them."""


def preset(name: str) -> Policy:
    """The policy a preset names (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise PolicyError(f"Unknown policy preset {name!r}; the presets are {', '.join(PRESETS)}.")
    return Policy.from_dict(PRESETS[name])
