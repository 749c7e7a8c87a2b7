r"""Hardware-aware training views of a network's weights: quantisation-aware (QAT) and
noise-aware (ReSNA) training as torch parametrizations.

A view replaces what a layer's forward pass sees of its ``weight`` and passes the gradient
straight through to the float weights (``w + (v - w).detach()``):

* :class:`QuantView` (``pretrain.qat_bits``): per-tensor symmetric b-bit levels
  ``s q``, ``q in {-(2^(b-1)-1) .. 2^(b-1)-1}`` (:func:`snnx.nn.qat.fake_quant_weight`;
  b = 3: +-3, the ASR paper's 3-bit weights, METHODS.md 5). Active in training and in
  evaluation: the trained model *is* the quantised one.
* :class:`NoiseView` (``pretrain.noise_aware``): in training mode only, the weights one read
  of the hardware would see -- the tile's mapping (``w_max = w_headroom max|w|``,
  differential pair with the other side at ``g_min``, ``device.levels`` levels) and one
  fresh per-cell draw of every configured read-noise model
  (:meth:`snnx.hw.noise.ReadNoise.sample_cells`: exact thermal + shot + telegraph for
  ``rtn``, Gaussian for the others):

  .. math:: w_{noisy} = (\tilde G^+ - \tilde G^-) / (g_{max} - g_{min}) \cdot w_{max}

  the ReSNA recipe (METHODS.md 4: quantise to cell levels, sample a noisy read, map back,
  train through it with the noise as a constant).

:func:`attach` puts views on every ``nn.Linear`` of ``net.layers``; :func:`bake` removes them
again, leaving what the evaluation-mode view shows (quantised weights for QAT, the float
weights for noise-aware training), so the network saves, loads and goes ``to_analog`` as a
plain one.

Example:
    >>> import torch
    >>> from snnx.nn import MLP
    >>> net = MLP([4, 6, 3])
    >>> attach(net, qat_bits=3)
    >>> bake(net)
    >>> len(torch.unique(net.layers[0].weight.abs())) <= 4   # 0, s, 2s, 3s
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from snnx.nn.qat import fake_quant_weight


class QuantView(nn.Module):
    """b-bit fake quantisation of a weight (straight-through), in every mode."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        fake_quant_weight(torch.zeros(1), bits)  # validates bits
        self.bits = int(bits)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return fake_quant_weight(w, self.bits)


def noisy_read(w: torch.Tensor, hw: Any, gen: torch.Generator) -> torch.Tensor:
    """The weights one read of a multi-level differential-pair tile sees (no gradient).

    Args:
        w: (out, in) weights.
        hw: hardware model (range, levels, headroom, read-noise models).
        gen: generator of the noise draw.

    Returns:
        (out, in) noisy weights in weight units.
    """
    from snnx.hw import device as dev
    from snnx.hw.noise import read_noise

    w = w.detach()
    d = hw.device
    r = d.g_max - d.g_min
    m = float(w.abs().max())
    w_max = hw.array.w_headroom * m if m > 0 else 1.0
    G = torch.stack([d.g_min + r * dev.quantize_levels(w.clamp(min=0) / w_max, d.levels),
                     d.g_min + r * dev.quantize_levels((-w).clamp(min=0) / w_max, d.levels)])
    G = read_noise(hw).sample_cells(G, r, gen)
    return (G[0] - G[1]) / r * w_max


class NoiseView(nn.Module):
    """One noisy hardware read of the weight in training mode (straight-through);
    the identity in evaluation mode."""

    def __init__(self, hw: Any, gen: torch.Generator) -> None:
        super().__init__()
        self.hw, self.gen = hw, gen

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return w
        return w + (noisy_read(w, self.hw, self.gen).to(w.dtype) - w).detach()


def attach(net: nn.Module, *, qat_bits: int | None = None, noise_hw: Any = None,
           gen: torch.Generator | None = None) -> None:
    """Put the views on every ``nn.Linear`` in ``net.layers`` (quantisation first).

    Args:
        net: a network with ``layers`` (MLP, SNN) in software form.
        qat_bits: b for :class:`QuantView`, or None.
        noise_hw: hardware model for :class:`NoiseView`, or None.
        gen: generator of the noise draws (required with ``noise_hw``).
    """
    for lyr in net.layers:
        if not isinstance(lyr, nn.Linear):
            continue
        if qat_bits is not None:
            parametrize.register_parametrization(lyr, "weight", QuantView(qat_bits))
        if noise_hw is not None:
            parametrize.register_parametrization(lyr, "weight", NoiseView(noise_hw, gen))


def bake(net: nn.Module) -> None:
    """Remove every view, keeping what evaluation mode shows (puts ``net`` in eval mode)."""
    net.eval()
    for lyr in net.layers:
        if parametrize.is_parametrized(lyr, "weight"):
            parametrize.remove_parametrizations(lyr, "weight", leave_parametrized=True)
