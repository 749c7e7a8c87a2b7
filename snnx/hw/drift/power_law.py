"""Conductance after programming: frozen relaxation plus power-law drift (METHODS.md 13;
``drift: {power_law: {...}}`` in a hardware model).

When it applies and whether it persists: both effects are drawn ONCE per programming event
(:func:`draw_drift`) and then evaluated at any time since programming
(:func:`conductance_at`); they are not fresh read noise. Reading at the same ``t`` twice gives
the same conductances.

Model, per cell, for ``t >= t0`` (s), ``d(t) = log10(t / t0)``::

    G(t) = clip( (G0 + rho * d(t)) * (t / t0)^(-nu), g_min, g_max )

* Relaxation [R]: ``rho = relax_sigma * (g_max - g_min) * xi``, ``xi ~ N(0, 1)`` frozen per
  cell, so the spread of ``G(t) - G0`` grows linearly in ``log t`` (std
  ``relax_sigma * range * d(t)`` while drift and clipping are off), and every cell keeps its
  direction. NeuRRAM (Wan et al., Nature 2022) reports post-programming relaxation as the
  dominant error of its RRAM; the ``log t`` growth of its spread follows METHODS.md 13. The
  default 0.5 % of the range per decade is our assumption.
* Drift: the power law ``G(t) = G(t0) (t/t0)^(-nu)`` of PCM-like devices, with a per-cell
  exponent ``nu ~ N(mu_nu(G0), nu_std)`` clipped to ``[nu_min, nu_max]`` and a mean that grows
  for low conductance, ``mu_nu(G0) = nu_mean + nu_slope * log10(g_ref / G0)``. The form
  follows aihwkit's ``PCMLikeNoiseModel`` (public reference: drift exponent with a
  G-dependent mean and a spread, t0 = 20 s there); our constants (mean 0.05, spread 0.02,
  +0.02 per decade below ``g_ref``; METHODS.md 13) are tagged [R], not aihwkit's fit.

At ``t = t0`` the result is exactly ``G0`` (for ``G0`` inside [g_min, g_max]); with
``relax_sigma = 0`` and ``nu > 0`` it is non-increasing in ``t``.

Example:
    >>> import torch
    >>> G0 = torch.full((3,), 50e-6)
    >>> st = draw_drift(G0, Params(), torch.Generator().manual_seed(0),
    ...                 g_min=2e-6, g_max=100e-6)
    >>> bool(torch.equal(conductance_at(G0, st, 1.0), G0))
    True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from snnx.config.schema import check_value as _check_meta, spec
from snnx.errors import ConfigError, ShapeError


@dataclasses.dataclass(frozen=True, kw_only=True)
class Params:
    """Relaxation and drift constants (see module docstring); ``drift.power_law`` in a
    hardware model."""

    t0: float = spec(1.0, lo=0, lo_open=True, doc="s, reference time after programming "
                                                   "(the programmed G0 holds at t0) [R]")
    nu_mean: float = spec(0.05, lo=0, hi=1, doc="mean drift exponent at g_ref [R, METHODS 13]")
    nu_std: float = spec(0.02, lo=0, hi=1, doc="per-cell spread of the exponent [R, METHODS 13]")
    nu_slope: float = spec(0.02, lo=0, hi=1,
                           doc="increase of the mean exponent per decade of G below g_ref [R]")
    g_ref: float = spec(100e-6, lo=0, lo_open=True,
                        doc="S, conductance where the mean exponent is nu_mean [R]")
    nu_min: float = spec(0.0, lo=-1, hi=1, doc="lower clip of the exponent [R]")
    nu_max: float = spec(0.5, lo=-1, hi=2, doc="upper clip of the exponent [R]")
    relax_sigma: float = spec(0.005, lo=0, hi=1,
                              doc="relaxation std per decade of t/t0, fraction of the range [R]")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not math.isfinite(v):
                raise ConfigError(f"{f.name}: expected a finite number, got {v!r}")
            _check_meta(v, f.metadata, f.name)
        if self.nu_min > self.nu_max:
            raise ConfigError(f"nu_min: must be <= nu_max (got {self.nu_min:g} > "
                              f"{self.nu_max:g})")


@dataclasses.dataclass
class DriftState:
    """Per-cell draw of one programming event (frozen until the next programming).

    Attributes:
        nu: drift exponents, shape of G0.
        rho: relaxation in S per decade of ``t/t0``, shape of G0.
        t0: s. g_min, g_max: S, clip range.
    """

    nu: Any
    rho: Any
    t0: float
    g_min: float
    g_max: float


def mean_exponent(G0: Any, params: Params) -> Any:
    """``mu_nu(G0) = nu_mean + nu_slope * log10(g_ref / G0)`` (G0 floored at 1e-12 S)."""
    import torch

    return params.nu_mean + params.nu_slope * torch.log10(params.g_ref / G0.clamp(min=1e-12))


def draw_drift(G0: Any, params: Params, gen: Any, *, g_min: float,
               g_max: float) -> DriftState:
    """Draw every cell's drift exponent and relaxation once, right after programming.

    Args:
        G0: programmed conductances in S (any shape).
        params: :class:`Params`.
        gen: generator (two standard normals per cell).
        g_min, g_max: S, the device range (relaxation scale and clip range).

    Returns:
        A :class:`DriftState`.
    """
    import torch

    if not g_min < g_max:
        raise ConfigError(f"g_min: must be < g_max (got {g_min:g} >= {g_max:g})")
    z = torch.randn((2,) + tuple(G0.shape), generator=gen, device=G0.device, dtype=G0.dtype)
    nu = (mean_exponent(G0, params) + params.nu_std * z[0]).clamp(params.nu_min, params.nu_max)
    rho = params.relax_sigma * (g_max - g_min) * z[1]
    return DriftState(nu, rho, params.t0, float(g_min), float(g_max))


def conductance_at(G0: Any, state: DriftState, t: Any) -> Any:
    """Conductances ``t`` seconds after programming (see module docstring).

    Args:
        G0: programmed conductances in S, the shape of the draw.
        state: the draw of this programming event (:func:`draw_drift`).
        t: s since programming, ``>= t0``; a float or a tensor that broadcasts against G0
            (e.g. shape ``(T, 1, 1)`` for T times of an (M, N) array).

    Returns:
        G(t) in S, the broadcast shape.

    Raises:
        ConfigError: ``t < t0``.
        ShapeError: G0 does not match the draw.
    """
    import torch

    if G0.shape != state.nu.shape:
        raise ShapeError(f"G0: expected shape {tuple(state.nu.shape)} (the drawn cells), got "
                         f"{tuple(G0.shape)}")
    t = torch.as_tensor(t, dtype=G0.dtype, device=G0.device)
    if not bool(torch.isfinite(t).all()) or bool((t < state.t0).any()):
        raise ConfigError(f"t: must be finite and >= t0 = {state.t0:g} s (got min "
                          f"{float(t.min()):g})")
    ratio = t / state.t0
    G = (G0 + state.rho * torch.log10(ratio)) * torch.pow(ratio, -state.nu)
    return G.clamp(state.g_min, state.g_max)


class PowerLaw:
    """Frozen relaxation + power-law drift as a tile's drift model (``drift.power_law``).

    A tile calls :meth:`draw` for the cells of every write (G0 = the conductances just
    written, S) and :meth:`at` for reads ``age`` seconds after each cell's write; ages
    below ``t0`` read as ``t0`` (the programmed G0).
    """

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.params = params
        self.g_min, self.g_max = hw.device.g_min, hw.device.g_max

    def draw(self, G0: Any, gen: Any) -> dict:
        """Per-cell exponent ``nu`` and relaxation ``rho`` (S per decade) of one write."""
        st = draw_drift(G0, self.params, gen, g_min=self.g_min, g_max=self.g_max)
        return {"nu": st.nu, "rho": st.rho}

    def at(self, G0: Any, draw: dict, age: Any) -> Any:
        """G in S ``age`` seconds (>= 0, broadcastable) after the write of G0."""
        import torch

        t0 = self.params.t0
        st = DriftState(draw["nu"], draw["rho"], t0, self.g_min, self.g_max)
        age = torch.as_tensor(age, dtype=G0.dtype, device=G0.device)
        return conductance_at(G0, st, age.clamp(min=t0))
