"""How numbers read in every report: one place for digits, intervals and the words for missing values."""

from __future__ import annotations

import math
from typing import Any

SUPPRESSED = "suppressed"
WITHHELD = "withheld"
UNDEFINED = "undefined"


def is_number(value: Any) -> bool:
    """A finite number (not None, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any, digits: int = 3) -> str:
    """``0.098``; ``undefined`` for NaN or None."""
    if not is_number(value):
        return UNDEFINED
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.1e}"
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
