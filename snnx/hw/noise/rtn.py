r"""ReSNA read noise: thermal + shot + random telegraph noise (METHODS.md section 4;
``noise.read: {rtn: {...}}``).

Every read of a cell of conductance G returns ``G + sigma_G xi + dG_rtn B`` with
``xi ~ N(0, 1)``, ``B ~ Bernoulli(p_rtn)`` (formulas and sources: :mod:`snnx.hw.rtn`):

.. math:: \sigma_G = \sqrt{G f (4kT + 2qV)}/V, \quad \tau = b G + a, \quad
          \Delta G_{rtn} = G\tau/(G - \tau)

with V the hardware model's read voltage. The engine applies it through its exact per-cell
moments (DESIGN.md contract 1): variance ``sigma_G^2 + p (1 - p) dG_rtn^2`` (as
``thermal_shot`` does, plus the telegraph term) and -- what Gaussian models lack -- a mean
shift ``p dG_rtn`` per read, which the read path adds to the conductances (``shift``).
:meth:`Rtn.sample` draws one exact per-cell read (Gaussian + two-valued telegraph), used by
noise-aware training (``pretrain.noise_aware``). This model includes thermal + shot noise:
do not list ``thermal_shot`` beside it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.noise import NoiseModel


@dataclasses.dataclass(**KW)
class Params:
    """ReSNA noise constants (METHODS.md 4; [brief] a, b; defaults T = 300 K, f = 1e8 Hz)."""

    bandwidth: float = spec(1e8, lo=0, doc="Hz, read bandwidth f (the public code writes "
                                           "100*10e6 = 1e9)")
    temperature: float = spec(300.0, lo=0, lo_open=True, doc="K, device temperature")
    a_rtn: float = spec(1.662e-7, lo=0, doc="S, RTN offset a [brief]")
    b_rtn: float = spec(0.0015, lo=0, hi=0.5, doc="RTN slope b, dimensionless [brief]")
    p_rtn: float = spec(0.5, lo=0, hi=1, doc="probability that the telegraph state is up on "
                                             "a read [public code: 0.5]")


class Rtn(NoiseModel):
    """Thermal + shot + RTN read noise with its mean shift (see module docstring).

    Args:
        params: :class:`Params`.
        hw: hardware model (read voltage, conductance range).
    """

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        from snnx.hw.rtn import RTNParams

        self.params = params
        self.range = hw.device.g_max - hw.device.g_min
        self.kernel = RTNParams(g_max=hw.device.g_max, v_read=hw.periphery.v_read,
                                bandwidth=params.bandwidth, temperature=params.temperature,
                                a_rtn=params.a_rtn, b_rtn=params.b_rtn, p_rtn=params.p_rtn)

    def _moments(self, g: Any) -> tuple[Any, Any]:
        from snnx.hw.rtn import cell_moments

        mean, var = cell_moments(g * self.range, self.kernel)
        return mean / self.range, var / (self.range * self.range)

    def cell(self, g: Any) -> Any:
        """Per-cell variance (normalised): ``(sigma_G^2 + p(1-p) dG_rtn^2) / range^2``."""
        return self._moments(g)[1]

    def pair(self, gp: Any, gn: Any) -> Any:
        return self.cell(gp) + self.cell(gn)

    def shift(self, g: Any) -> Any:
        """Mean read offset per cell (normalised): ``p dG_rtn / range``."""
        return self._moments(g)[0]

    def sample(self, g: Any, gen: Any) -> Any:
        """One exact read error per cell (normalised): thermal/shot Gaussian + telegraph."""
        from snnx.hw.rtn import sample_conductance

        G = g * self.range
        return (sample_conductance(G, self.kernel, gen) - G) / self.range
