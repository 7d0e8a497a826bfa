"""Models from files, safely: skops with its trusted-type check, pickles only when trusted, entry points."""

from __future__ import annotations

import importlib
import importlib.util
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
        return _entry_point(reference, base, trusted)
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

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as error:  # skops reads a zip archive: anything else is refused, never unpickled
        raise UntrustedModelError(
            f"Model file {path.name!r} is not a skops file ({type(error).__name__}: {error}). If it is a pickle, "
            "give it a .pkl/.joblib name and trust it explicitly ('trusted: true' or --trust-model)."
        ) from None
    if untrusted and not trusted:
        raise UntrustedModelError(
            f"Model file {path.name!r} holds types skops does not trust by default: {', '.join(untrusted)}. "
            "Check them, then set 'trusted: true' in the audit config or pass --trust-model."
        )
    return sio.load(path, trusted=untrusted)


def _entry_point(reference: str, base: Path, trusted: bool) -> Any:
    """The object named ``package.module:attribute``. Untrusted, only from an installed package: a module
    found in the config's folder or the working directory is refused (it would run unvetted code). Trusted,
    also from the config's folder, which is on the import path only while the module is imported."""
    module_name, attribute = reference.split(":")
    top = module_name.split(".")[0]
    local = [base.resolve(), Path.cwd().resolve()]
    if trusted:
        sys.path.insert(0, str(base))
    try:
        spec = importlib.util.find_spec(top)
        root = _root(spec) if spec is not None else next(
            (folder for folder in local if (folder / f"{top}.py").exists() or (folder / top).is_dir()), None)
        if not trusted and root in local:
            raise UntrustedModelError(
                f"Config key 'model': entry point {reference!r} names module {top!r} in {str(root)!r}, beside "
                "the config or in the working directory, not an installed package. Importing it runs its code: "
                "install it as a package, or set 'trusted: true' in the audit config or pass --trust-model."
            )
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise FileNotFoundError(f"Model entry point {reference!r}: cannot import {module_name!r} ({error}).") from None
    finally:
        if trusted and str(base) in sys.path:
            sys.path.remove(str(base))
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise FileNotFoundError(f"Model entry point {reference!r}: {module_name!r} has no {attribute!r}.")
        target = getattr(target, part)
    return target


def _root(spec: Any) -> Path | None:
    """The folder a top-level module was found in (the import path entry it came from)."""
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:  # a package: its folder's parent
        return Path(locations[0]).resolve().parent
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).resolve().parent
    return None
