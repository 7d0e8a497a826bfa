"""The OpenDP mechanisms a transparency report is released with, and the law of the noise they add.

Every released number goes through one OpenDP measurement, never through a sampler of ours:

* ``delta == 0``: ``opendp.measurements.make_laplace`` on an integer vector with the L1 distance (the
  discrete Laplace, or geometric, mechanism) for counts; on a float vector for sums of scores. Its scale
  is ``sensitivity / epsilon`` and OpenDP checks the privacy map: ``epsilon``-DP.
* ``delta > 0``: ``opendp.measurements.make_gaussian`` (discrete Gaussian on integers) with the L2
  distance, turned into ``(epsilon, delta)``-DP by ``make_zCDP_to_approxDP`` and ``make_fix_delta``; the
  scale is the smallest OpenDP's ``binary_search_param`` finds for the target.

OpenDP draws its noise from the operating system's secure random source: it cannot be seeded, or an
attacker who knows the seed could subtract it. :func:`simulate` draws from the same law with numpy, for
the intervals of the report only (post-processing of released values; nothing it draws is released).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


class PrivacyError(ValueError):
    """A transparency report cannot be released as asked (budget, inputs, or OpenDP missing)."""


@dataclass(frozen=True)
class Release:
    """One released table: the noised values and how they were noised."""

    name: str
    values: np.ndarray
    mechanism: str
    scale: float
    epsilon: float
    delta: float
    sensitivity: int
    integer: bool

    @property
    def noise_std(self) -> float:
        """Standard deviation of the noise of one entry (the mechanism's stated spread)."""
        if self.delta > 0:
            return self.scale  # discrete Gaussian: variance scale**2 up to < 1e-6 relative for scale >= 1
        if not self.integer:
            return math.sqrt(2) * self.scale
        alpha = math.exp(-1 / self.scale)
        return math.sqrt(2 * alpha) / (1 - alpha)

    def describe(self) -> dict[str, Any]:
        """The table's entry of ``metadata["privacy"]["tables"]``."""
        return {"epsilon": self.epsilon, "delta": self.delta, "mechanism": self.mechanism, "scale": self.scale,
                "noise_std": self.noise_std, "sensitivity": self.sensitivity, "entries": int(self.values.size)}


def opendp() -> Any:
    """``opendp.prelude`` with the ``contrib`` features on; a clear error when the extra is missing."""
    try:
        import opendp.prelude as dp
    except ImportError:
        raise PrivacyError("A transparency report needs OpenDP: install the 'dp' extra, "
                           "pip install 'fairaudit[dp]'.") from None
    dp.enable_features("contrib")
    return dp


def release(name: str, values: np.ndarray, *, integer: bool, sensitivity: int, epsilon: float,
            delta: float) -> Release:
    """``values`` (any shape) noised by OpenDP so that the table is ``(epsilon, delta)``-DP when one privacy
    unit changes it by at most ``sensitivity`` in L1 and in L2 distance."""
    dp = opendp()
    atom = dp.atom_domain(T=int) if integer else dp.atom_domain(T=float, nan=False)
    domain = dp.vector_domain(atom)
    if delta == 0:
        scale = sensitivity / epsilon
        measurement = dp.m.make_laplace(domain, dp.l1_distance(T=int if integer else float), scale=scale)
        within = measurement.map(sensitivity if integer else float(sensitivity)) <= epsilon * (1 + 1e-9)
        mechanism = "discrete Laplace (OpenDP make_laplace)" if integer else "Laplace (OpenDP make_laplace)"
    else:
        def gaussian(scale: float) -> Any:
            noise = dp.m.make_gaussian(domain, dp.l2_distance(T=float), scale=scale)
            return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(noise), delta)

        scale = dp.binary_search_param(gaussian, d_in=float(sensitivity), d_out=(epsilon, delta))
        measurement = gaussian(scale)
        spent = measurement.map(float(sensitivity))
        within = spent[0] <= epsilon * (1 + 1e-9) and spent[1] <= delta
        mechanism = ("discrete Gaussian" if integer else "Gaussian") + " (OpenDP make_gaussian, zCDP to approx-DP)"
    if not within:  # OpenDP's own map disagrees with the budget: never release
        raise PrivacyError(f"OpenDP's privacy map of table {name!r} exceeds its budget; nothing was released.")
    flat = np.asarray(values).ravel()
    data = [int(v) for v in np.rint(flat)] if integer else [float(v) for v in flat]
    noised = np.asarray(measurement(data), dtype=float).reshape(np.shape(values)) if data else np.zeros(
        np.shape(values))
    return Release(name, noised, mechanism, float(scale), epsilon, delta, sensitivity, integer)


def simulate(table: Release, rng: np.random.Generator) -> np.ndarray:
    """A draw of ``table``'s noise from its law (numpy; for the report's intervals, never released)."""
    shape = table.values.shape
    if table.delta > 0:
        draw = rng.normal(0.0, table.scale, shape)
        return np.rint(draw) if table.integer else draw
    if not table.integer:
        return rng.laplace(0.0, table.scale, shape)
    p = 1 - math.exp(-1 / table.scale)  # the difference of two geometric variables is discrete Laplace
    return (rng.geometric(p, shape) - rng.geometric(p, shape)).astype(float)
