"""Recommendation: a mitigation for some findings, why, what it needs, and its measured effect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

EFFECT_COLUMNS = ("before", "before_ci_low", "before_ci_high", "after", "after_ci_low", "after_ci_high")


@dataclass(frozen=True)
class Recommendation:
    """One mitigation. ``effect`` (when it was simulated) is indexed by measure (the policy's measures
    plus ``accuracy`` and ``roc_auc``) with columns ``before``, ``after`` and their intervals, measured on
    held-out rows; ``clears_policy`` says whether the mitigated model passes the policy there, and
    ``score`` ranks recommendations (disparity removed per point of accuracy lost). ``warnings`` say what
    the reviewer must weigh (selection collapse, new failures, accuracy loss, a simulation that could not
    run); ``held_out_rows`` is how many rows both ``before`` and ``after`` were measured on."""

    mitigation: str
    title: str
    addresses: tuple[str, ...]
    rationale: str
    prerequisites: str
    caveats: str
    effect: pd.DataFrame | None = None
    clears_policy: bool | None = None
    score: float | None = None
    warnings: tuple[str, ...] = ()
    held_out_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("mitigation", "title", "rationale", "prerequisites", "caveats",
                                               "clears_policy", "score", "held_out_rows")}
        out["addresses"] = list(self.addresses)
        out["warnings"] = list(self.warnings)
        out["effect"] = None if self.effect is None else {
            "index": self.effect.index.name or "measure",
            "records": self.effect.reset_index().to_dict(orient="records"),
        }
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Recommendation:
        effect = spec.get("effect")
        frame = None
        if effect is not None:
            frame = pd.DataFrame.from_records(effect["records"]).set_index(effect["index"]).astype(float)
        return cls(**{**spec, "addresses": tuple(spec["addresses"]), "effect": frame,
                      "warnings": tuple(spec.get("warnings", ()))})
