"""Per-read conductance noise proportional to G: std ``sigma_rel * G``.

Variance of a pair ``sigma_rel^2 (g+^2 + g-^2)`` (normalised), applied at the output as
``x^2 @ var`` (one matmul per read).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.noise import NoiseModel


@dataclasses.dataclass(**KW)
class Params:
    """Read noise proportional to the conductance."""

    sigma: float = spec(0.0, lo=0, hi=1, doc="std per read as a fraction of G")


class Proportional(NoiseModel):
    """Gaussian read noise with std proportional to G."""

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.b = params.sigma ** 2


    def pair(self, gp: Any, gn: Any) -> Any:
        return self.b * (gp * gp + gn * gn) if self.b else None

    def cell(self, g: Any) -> Any:
        return self.b * g ** 2 if self.b else None
