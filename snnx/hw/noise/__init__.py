"""Read-noise models: random errors that hit every read anew (one file each).

``noise.read`` in a hardware model is a mapping ``model name -> parameters``; every listed
model adds its variance (``noise.read: {constant: {sigma: 0.01}, thermal_shot: {}}``;
``name: null`` switches a model off). Variances are normalised by the conductance range
squared, with ``g = G / (g_max - g_min)`` the absolute normalised conductance of a cell.
A model is a class with ``Params`` and ``__init__(self, params, hw)`` and four methods
(:class:`NoiseModel` gives the silent defaults, a model overrides what it adds):

* ``constant() -> float``: per-cell variance independent of G;
* ``pair(gp, gn) -> Tensor | None``: G-dependent variance of a differential pair (both cells
  are read) -- the engine applies it exactly at the output as ``x^2 @ pair`` (one matmul);
* ``cell(g) -> Tensor | None``: G-dependent variance of one cell (verify reads);
* ``output() -> (s0, s1)``: output-referred std ``s0`` (fraction of the ADC full scale) plus
  ``s1 |y|``, for fits to chip measurements.

Two optional methods (defaults: None) serve non-Gaussian models such as random telegraph
noise (``rtn``):

* ``shift(g) -> Tensor | None``: the mean read offset of a cell (normalised); reads see
  ``G + shift`` (the read path adds it to the conductances once per programming);
* ``sample(g, gen) -> Tensor | None``: one exact per-cell read error (normalised), for
  noise-aware training; models without it are sampled as Gaussians with ``cell``/
  ``constant`` variance.

Because independent per-cell noise sums to Gaussian output noise with the summed variance
(DESIGN.md contract 1), no B x out x in sample is ever drawn. Noise-model modules import torch
inside their functions (validating a hardware model stays torch-free).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from snnx.config.registry import Registry

NOISE = Registry("read-noise model", {
    "constant": ("snnx.hw.noise.constant:Constant",
                 "Gaussian conductance noise with a constant std (fraction of the range)"),
    "proportional": ("snnx.hw.noise.proportional:Proportional",
                     "Gaussian conductance noise with a std proportional to G"),
    "thermal_shot": ("snnx.hw.noise.thermal_shot:ThermalShot",
                     "thermal (Johnson) + shot noise of the read current, sqrt(G f (4kT+2qV))/V"),
    "output": ("snnx.hw.noise.output:Output",
               "output-referred noise s0 + s1|y| (fits to chip measurements)"),
    "rtn": ("snnx.hw.noise.rtn:Rtn",
            "ReSNA: thermal + shot + random telegraph noise, with the telegraph mean shift"),
})


class NoiseModel:
    """Defaults of the four methods: a model that adds nothing there."""

    def constant(self) -> float:
        return 0.0

    def pair(self, gp: Any, gn: Any) -> Any:
        return None

    def cell(self, g: Any) -> Any:
        return None

    def output(self) -> tuple[float, float]:
        return 0.0, 0.0

    def shift(self, g: Any) -> Any:
        return None

    def sample(self, g: Any, gen: Any) -> Any:
        return None


class ReadNoise:
    """The configured read-noise models of a hardware model, summed.

    Attributes:
        models: the model instances, in the order of ``noise.read``.
        a: summed constant per-cell variance (normalised).
        o0, o1: summed output-referred std terms.
    """

    def __init__(self, hw: Any) -> None:
        self.models = [NOISE.get(name)(params, hw) for name, params in hw.noise.read.items()]
        self.a = float(sum(m.constant() for m in self.models))
        self.o0 = float(sum(m.output()[0] for m in self.models))
        self.o1 = float(sum(m.output()[1] for m in self.models))
        self.silent = not self.a and all(m.cell.__func__ is NoiseModel.cell
                                         for m in self.models)
        """True when a single-cell read is noiseless (no constant, no G-dependent term)."""

    def pair(self, gp: Any, gn: Any) -> Any:
        """G-dependent variance of every pair (normalised), or None when there is none."""
        terms = [t for t in (m.pair(gp, gn) for m in self.models) if t is not None]
        if not terms:
            return None
        out = gp.new_zeros(gp.shape)
        for t in terms:
            out = out + t
        return out

    def cell_shift(self, G: Any, g_range: float) -> Any:
        """Mean read offset of every cell at conductances G (S), normalised, or None."""
        out = None
        for m in self.models:
            sh = m.shift(G / g_range)
            if sh is not None:
                out = sh if out is None else out + sh
        return out

    def pair_shift(self, gp: Any, gn: Any) -> Any:
        """Mean offset of every pair difference G+ - G- (normalised), or None."""
        out = None
        for m in self.models:
            sp = m.shift(gp)
            if sp is not None:
                d = sp - m.shift(gn)
                out = d if out is None else out + d
        return out

    def sample_cells(self, G: Any, g_range: float, gen: Any) -> Any:
        """One noisy read of every cell at conductances G (S): G plus every model's error
        (its exact ``sample`` or a Gaussian of its ``cell`` variance; the constant part as
        one Gaussian). Output-referred terms are not per cell and are left out."""
        import torch

        g = G / g_range
        out = G.clone()
        var = G.new_full(G.shape, self.a)
        for m in self.models:
            s = m.sample(g, gen)
            if s is not None:
                out = out + s * g_range
                continue
            v = m.cell(g)
            if v is not None:
                var = var + v
        if bool((var > 0).any()):
            z = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
            out = out + torch.sqrt(var) * g_range * z
        return out

    def cell_sd(self, G: Any, g_range: float) -> Any:
        """Std of one read of cells at G (S), normalised: a float when it does not depend
        on G, else a tensor shaped like G."""
        g = G / g_range
        terms = [t for t in (m.cell(g) for m in self.models) if t is not None]
        if not terms:
            return math.sqrt(self.a)
        var = terms[0] + self.a
        for t in terms[1:]:
            var = var + t
        return var.sqrt_()

    def cell(self, G: Any, g_range: float) -> Any:
        """Per-cell read variance (normalised) at conductances G (S), or None when silent."""
        g = G / g_range
        terms = [t for t in (m.cell(g) for m in self.models) if t is not None]
        if not terms and not self.a:
            return None
        var = G.new_full(G.shape, self.a)
        for t in terms:
            var = var + t
        return var


@functools.lru_cache(maxsize=64)
def read_noise(hw: Any) -> ReadNoise:
    """The :class:`ReadNoise` of hardware model ``hw`` (cached per model)."""
    return ReadNoise(hw)


__all__ = ["NOISE", "NoiseModel", "ReadNoise", "read_noise"]
