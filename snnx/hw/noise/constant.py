"""Constant per-read conductance noise: every read sees ``G + sigma (g_max - g_min) xi``.

The simplest read-noise model (the review's "read noise 0.5-2 % of the range", METHODS.md
section 10); the output std of a read with inputs x is ``sqrt(2) sigma ||x||`` in full cells
(both cells of a pair), one vector norm per read.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.noise import NoiseModel


@dataclasses.dataclass(**KW)
class Params:
    """Constant read noise."""

    sigma: float = spec(0.0, lo=0, hi=1, doc="std per read, fraction of g_max - g_min")


class Constant(NoiseModel):
    """Gaussian read noise with a constant std."""

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.params = params

    def constant(self) -> float:
        return self.params.sigma ** 2
