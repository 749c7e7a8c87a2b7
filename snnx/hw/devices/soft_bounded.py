r"""Soft-bounded analog RRAM cell (METHODS.md section 0, reconstruction [R]).

One potentiation pulse moves the normalised state :math:`g \in [0, 1]` by
:math:`s\,e^{-\beta_p g}` (s = pulse step as a fraction of the range, times a fixed per-cell
device-to-device gain), a depression pulse by :math:`-r_d s\,e^{-\beta_d (1 - g)}`
(:math:`r_d` = ``dep_ratio``). n pulses are applied in closed form, the continuum limit of the
recursion, so a pulse count is one vectorised expression:

.. math:: \beta = 0:\ g_n = g_0 + n s, \qquad \beta > 0:\ g_n = \ln(e^{\beta g_0} + \beta n s)/\beta

Cycle-to-cycle noise multiplies each pulse's step by :math:`(1 + \sigma_{c2c}\xi)`; the sum of
n independent pulse errors is Gaussian with std :math:`\sigma_{c2c} s \sqrt{n}`.

Example:
    >>> import torch
    >>> m = SoftBounded(Params(), None)
    >>> m.pulse(torch.tensor([0.2]), torch.tensor([3.0]), 0.1, depress=None, gain=None,
    ...         noise=None)
    tensor([0.5000])
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec


@dataclasses.dataclass(**KW)
class Params:
    """Parameters of the soft-bounded pulse response."""

    d2d_sigma: float = spec(0.0, lo=0, hi=1,
                            doc="device-to-device variation: fixed per-cell relative spread "
                                "of the pulse step")
    beta_pot: float = spec(0.0, lo=0, hi=20,
                           doc="soft-bound non-linearity of potentiation (0 = linear)")
    beta_dep: float = spec(0.0, lo=0, hi=20,
                           doc="soft-bound non-linearity of depression (0 = linear)")
    dep_ratio: float = spec(1.0, lo=0, lo_open=True, hi=10,
                            doc="depression step / potentiation step (asymmetry)")
    c2c_sigma: float = spec(0.0, lo=0, hi=2,
                            doc="cycle-to-cycle noise of one pulse, relative to its step")


def _soft(g: Any, total_step: Any, beta: float) -> Any:
    """Closed-form soft-bounded potentiation by ``total_step`` (sum of linear steps)."""
    import torch

    if beta == 0:
        return g + total_step
    return torch.log(torch.exp(beta * g) + beta * total_step) / beta


class SoftBounded:
    """Soft-bounded, asymmetric pulse response with d2d gain and c2c noise.

    Args:
        params: :class:`Params`.
        cell: the hardware model's device block (unused here; part of the interface).
    """

    Params = Params

    def __init__(self, params: Params, cell: Any) -> None:
        self.params = params
        self.noisy = params.c2c_sigma > 0

    @staticmethod
    def is_ideal(params: Params) -> bool:
        """Linear, symmetric, noiseless steps without device-to-device variation."""
        return (params.d2d_sigma == 0 and params.c2c_sigma == 0 and params.beta_pot == 0
                and params.beta_dep == 0 and params.dep_ratio == 1)

    def variation(self, shape: tuple[int, ...], gen: Any, device: Any, dtype: Any) -> Any:
        """Fixed per-cell multiplier of the pulse step, ``max(1 + d2d_sigma z, 0.05)``."""
        import torch

        s = self.params.d2d_sigma
        if s <= 0:
            return None
        z = torch.randn(shape, generator=gen, device=device, dtype=dtype)
        return (1.0 + s * z).clamp_(min=0.05)

    def pulse(self, g: Any, n: Any, step: float, *, depress: Any, gain: Any,
              noise: Any) -> Any:
        """States after ``n`` pulses (closed form), clipped to [0, 1].

        Args:
            g: normalised states in [0, 1], any shape.
            n: pulse counts (>= 0, float), same shape.
            step: pulse step as a fraction of the range.
            depress: boolean mask of cells that get depression pulses (None: all potentiate).
            gain: fixed per-cell step multiplier (device-to-device), or None.
            noise: standard normal samples of the same shape for c2c noise, or None.
        """
        import torch

        p = self.params
        sn = n * step
        if gain is not None:
            sn = sn * gain
        if depress is None:
            new = _soft(g, sn, p.beta_pot)
        else:
            pot = _soft(g, sn, p.beta_pot)
            dep = 1.0 - _soft(1.0 - g, sn * p.dep_ratio, p.beta_dep)
            new = torch.where(depress, dep, pot)
        if noise is not None and p.c2c_sigma > 0:
            s = step if gain is None else step * gain
            new = new + (p.c2c_sigma * s) * torch.sqrt(n) * noise
        return new.clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return f"SoftBounded({self.params})"
