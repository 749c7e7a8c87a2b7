"""Output-referred read noise ``sigma(y) = s0 * full_scale + s1 |y|`` (METHODS.md section 7).

The on-line DFA/BP paper fits a Gaussian process to NeuRRAM measurements (ideal output ->
measured mean and std); its fit is not public, so this two-parameter form stands in for it:
added to each sensed line's ADC input, in ADC codes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.noise import NoiseModel


@dataclasses.dataclass(**KW)
class Params:
    """Output-referred noise."""

    sigma0: float = spec(0.0, lo=0, hi=1, doc="std as a fraction of the ADC full scale")
    sigma1: float = spec(0.0, lo=0, hi=1, doc="std proportional to |output|")


class Output(NoiseModel):
    """Output-referred noise s0 + s1 |y|."""

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.params = params


    def output(self) -> tuple[float, float]:
        return self.params.sigma0, self.params.sigma1
