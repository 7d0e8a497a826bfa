"""How numbers read in every report: one place for digits, intervals and the words for missing values."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

SUPPRESSED = "suppressed"
WITHHELD = "withheld"
UNDEFINED = "undefined"


def is_number(value: Any) -> bool:
    """A finite number (not None, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


TINY = 1e-6
"""Below this a number is printed as zero (``5.6e-17`` is rounding noise, not a rate)."""


def number(value: Any, digits: int = 3) -> str:
    """``0.098``; a small non-zero value with two significant digits (``0.00047``), never in scientific
    notation; ``undefined`` for NaN or None."""
    if not is_number(value):
        return UNDEFINED
    if abs(value) < TINY:
        return f"{0.0:.{digits}f}"
    if abs(value) < 0.5 * 10 ** -digits:
        return np.format_float_positional(value, precision=2, unique=False, fractional=False, trim="-")
    return f"{value:.{digits}f}"


def count(value: Any) -> str:
    """``13,255``."""
    return f"{int(value):,}" if is_number(value) else UNDEFINED


def percent(value: Any) -> str:
    """``97.7%``."""
    return f"{100 * value:.1f}%" if is_number(value) else UNDEFINED


def p_value(value: Any) -> str:
    """``0.012``, or ``< 0.001``."""
    if not is_number(value):
        return UNDEFINED
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def interval(low: Any, high: Any, digits: int = 3) -> str:
    """``0.093 to 0.103``; empty when either end is missing."""
    if not (is_number(low) and is_number(high)):
        return ""
    return f"{number(low, digits)} to {number(high, digits)}"


def evidence(value: Any, low: Any, high: Any, digits: int = 3) -> str:
    """``0.605 (0.551 to 0.658)``: a value with its interval."""
    if not is_number(value):
        return ""
    span = interval(low, high, digits)
    return f"{number(value, digits)} ({span})" if span else number(value, digits)


def words(name: str) -> str:
    """``true_positive_rate`` as ``true positive rate``."""
    return name.replace("_", " ")


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
MISSING = "(missing)"


def _order_key(label: str) -> tuple[float, float, str]:
    """``<25`` before ``25-44`` before ``65+``: the first number, nudged down by a leading ``<``."""
    found = _NUMBER.search(label)
    value = float(found.group()) if found else math.inf
    return (value - 0.5 if label.lstrip().startswith(("<", "≤", "under", "Under")) else value, 0.0, label)


def ordered(labels: Iterable[str]) -> list[str]:
    """Group labels in their natural order: numeric-aware when every label (but ``(missing)``) holds a
    number, else as given; ``(missing)`` last."""
    labels = list(labels)
    present = [label for label in labels if label != MISSING]
    if present and all(_NUMBER.search(str(label)) for label in present):
        present = sorted(present, key=lambda label: _order_key(str(label)))
    return present + [label for label in labels if label == MISSING]
