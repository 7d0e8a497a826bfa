"""Models from files, safely: skops with its trusted-type check, pickles only when trusted, entry points."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class UntrustedModelError(ValueError):
    """A model file would run code or hold types nobody vouched for."""


def load_model(reference: str, *, base: Path, trusted: bool = False) -> Any:
    """A model from a ``.skops``/``.joblib``/``.pkl`` file (relative to ``base``) or ``package.module:name``."""
    path = (base / reference).resolve()
    if not path.exists() and ENTRY_POINT.match(reference):
        return _entry_point(reference, base)
    if not path.exists():
        raise FileNotFoundError(f"Model file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return _skops(path, trusted)
    if suffix in PICKLE_SUFFIXES:
        if not trusted:
            raise UntrustedModelError(
                f"Model file {path.name!r} is a pickle: loading it runs any code it contains. Load it only if "
                "you trust its origin, by setting 'trusted: true' in the audit config or passing "
                "--trust-model; or save the model with skops (skops.io.dump) to load it safely."
            )
        import joblib

        return joblib.load(path)
    raise UntrustedModelError(
        f"Model file {path.name!r}: unknown format {suffix!r}; use .skops, .joblib/.pkl (trusted only) or an "
        "entry point package.module:attribute."
    )


def _skops(path: Path, trusted: bool) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    if untrusted and not trusted:
        raise UntrustedModelError(
            f"Model file {path.name!r} holds types skops does not trust by default: {', '.join(untrusted)}. "
            "Check them, then set 'trusted: true' in the audit config or pass --trust-model."
        )
    return sio.load(path, trusted=untrusted)


def _entry_point(reference: str, base: Path) -> Any:
    """The object named ``package.module:attribute``, importable from ``base`` or the environment."""
    module_name, attribute = reference.split(":")
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise FileNotFoundError(f"Model entry point {reference!r}: cannot import {module_name!r} ({error}).") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise FileNotFoundError(f"Model entry point {reference!r}: {module_name!r} has no {attribute!r}.")
        target = getattr(target, part)
    return target
