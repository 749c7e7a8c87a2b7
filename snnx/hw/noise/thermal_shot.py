r"""Thermal (Johnson) and shot noise of the read current (METHODS.md sections 4 and 5).

A cell of conductance G read at voltage V over a bandwidth f carries current noise
:math:`\sigma_I^2 = 4kT G f + 2 q I f` with I = G V, i.e. conductance noise

.. math:: \sigma_G = \sqrt{G f (4 k T + 2 q V)} / V,

so the normalised variance is ``c g`` with ``c = f (4kT + 2qV) / (V^2 (g_max - g_min))``.
The electron charge is the real one (METHODS.md 5 warns that a public reference code uses
Euler's number instead, which inflates the shot term ~1e19 times).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.noise import NoiseModel

K_BOLTZMANN = 1.380649e-23  # J/K (SI exact)
Q_ELECTRON = 1.602176634e-19  # C (SI exact)


@dataclasses.dataclass(**KW)
class Params:
    """Thermal and shot noise of the read current."""

    bandwidth: float = spec(1e8, lo=0, lo_open=True, doc="Hz, read bandwidth f")
    temperature: float = spec(300.0, lo=0, lo_open=True, doc="K, device temperature")


class ThermalShot(NoiseModel):
    """Thermal + shot read noise (variance linear in G)."""

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        v = hw.periphery.v_read
        g_range = hw.device.g_max - hw.device.g_min
        self.c = params.bandwidth * (4 * K_BOLTZMANN * params.temperature
                                     + 2 * Q_ELECTRON * v) / (v * v * g_range)


    def pair(self, gp: Any, gn: Any) -> Any:
        return self.c * (gp + gn)

    def cell(self, g: Any) -> Any:
        return self.c * g
