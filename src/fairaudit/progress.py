"""Whether long steps (SHAP explanations, mitigation simulations) show progress bars."""

from __future__ import annotations

import os


def progress_bars() -> bool:
    """Progress bars unless ``TQDM_DISABLE`` is set (tqdm's own switch; ``fairaudit run --quiet`` sets it)."""
    return os.environ.get("TQDM_DISABLE", "").lower() in ("", "0", "false")
