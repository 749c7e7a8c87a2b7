"""ReSNA read noise: thermal + shot + random telegraph noise (RTN) on quantised cells, its
exact output moments, and a noise-aware training helper (METHODS.md section 4).

Cells hold ``b`` bits (default 2): a weight tensor is quantised per tensor to magnitudes
``m = clip(round(|w| / s), 0, 2^(b-1))`` with ``s = max|w| / 2^(b-1)``, and
``G = m * dG``, ``dG = G_max / 2^(b-1)`` (sign on a differential pair; METHODS.md 4 writes
``G = |w_q| dG``). Every read of a cell of conductance G returns

    G_noisy = G + sigma_G xi + dG_rtn B,   xi ~ N(0, 1),  B ~ Bernoulli(p_rtn = 0.5)
    sigma_G = sqrt(G f (4 k T + 2 q V)) / V                        (thermal + shot)
    tau = b_rtn G + a_rtn,   dG_rtn = G tau / (G - tau)             (RTN amplitude)

with G_max = 333 uS (1/3 kOhm), a_rtn = 1.662e-7 S, b_rtn = 0.0015, T = 300 K, V = 0.2 V
and the read bandwidth f a parameter (default 1e8 Hz; the public code writes
``100*10e6`` = 1e9). [Formula, a, b: our brief; RTN form and G_max: public code implementing
this noise model; defaults as METHODS.md 4.] ``dG_rtn`` has a pole at ``G = tau``
(``G = a_rtn / (1 - b_rtn)`` ~ 0.17 uS); the form is meant for ``G >> a_rtn``, so we set
``dG_rtn = 0`` where ``G <= 2 tau`` (never on the quantised levels, which are 0 or >= dG).

Crossbar read with inputs x (B, M) and conductances G (M, N), one fresh noise draw per cell
and per read (row of x): ``y = x @ G_noisy`` has exactly

    E[y]   = x @ G + x @ (p_rtn dG_rtn)                       (mean shift; p_rtn = 1/2)
    Var[y] = x^2 @ (sigma_G^2 + p_rtn (1 - p_rtn) dG_rtn^2)   (= sigma_G^2 + dG_rtn^2 / 4)

(independent cells). :func:`noisy_read` draws ``y`` as a Gaussian with these moments — the
engine's way, two matmuls instead of a (B, M, N) sample. That Gaussian is an approximation
(CLT over the rows): the thermal/shot part is Gaussian exactly, the RTN part is a weighted
sum of Bernoulli variables, close to Gaussian once many rows with comparable weights
contribute; for few active rows the RTN part stays visibly two-valued (use
:func:`sample_conductance` then).

Noise-aware training (ReSNA [R] training details): :func:`resna_noisy_weight` quantises,
samples a noisy read and maps back to weight units inside the forward pass; the difference
is added as a constant, so the gradient passes straight through to the float weights.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from snnx.config.schema import check_value as _check_meta, spec
from snnx.errors import ConfigError, ShapeError
from snnx.hw.noise.thermal_shot import K_BOLTZMANN, Q_ELECTRON


@dataclasses.dataclass(frozen=True, kw_only=True)
class RTNParams:
    """ReSNA noise model constants (METHODS.md 4)."""

    g_max: float = spec(333e-6, lo=0, lo_open=True, doc="S, largest cell conductance (1/3 kOhm)")
    a_rtn: float = spec(1.662e-7, lo=0, doc="S, RTN offset a")
    b_rtn: float = spec(0.0015, lo=0, hi=0.5, doc="RTN slope b (dimensionless)")
    temperature: float = spec(300.0, lo=0, lo_open=True, doc="K")
    v_read: float = spec(0.2, lo=0, lo_open=True, hi=5, doc="V, read voltage")
    bandwidth: float = spec(1e8, lo=0, doc="Hz, read bandwidth f")
    bits: int = spec(2, lo=1, hi=16, doc="bits per cell b; levels 0 .. 2^(b-1) per side")
    p_rtn: float = spec(0.5, lo=0, hi=1, doc="probability that the RTN state is up on a read")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"rtn.{f.name}: expected a finite number, got {v!r}")
            _check_meta(v, f.metadata, f"rtn.{f.name}")

    @property
    def levels(self) -> int:
        """Largest magnitude level ``2^(b-1)``."""
        return 1 << (self.bits - 1)

    @property
    def g_step(self) -> float:
        """dG = G_max / 2^(b-1), S per level."""
        return self.g_max / self.levels


def thermal_shot_sigma(G: torch.Tensor, params: RTNParams) -> torch.Tensor:
    """``sigma_G = sqrt(G f (4 k T + 2 q V)) / V`` in S (G clamped at 0)."""
    v = params.v_read
    c = params.bandwidth * (4 * K_BOLTZMANN * params.temperature + 2 * Q_ELECTRON * v)
    return torch.sqrt(G.clamp(min=0) * c) / v


def rtn_amplitude(G: torch.Tensor, params: RTNParams) -> torch.Tensor:
    """``dG_rtn = G tau / (G - tau)``, ``tau = b_rtn G + a_rtn`` in S; 0 where G <= 2 tau."""
    tau = params.b_rtn * G + params.a_rtn
    valid = G > 2 * tau
    return torch.where(valid, G * tau / torch.where(valid, G - tau, torch.ones_like(G)),
                       torch.zeros_like(G))


def quantize_to_cells(w: torch.Tensor, params: RTNParams) -> tuple[torch.Tensor, torch.Tensor,
                                                                    torch.Tensor]:
    """Per-tensor quantisation of weights onto b-bit cells (no gradient).

    Returns:
        (G, sign, scale): conductances ``m dG`` in S (w's shape), ``sign(w)``, and the weight
        value of one level ``s = max|w| / 2^(b-1)`` (0-dim; 1 for an all-zero tensor).
        The weight a cell represents is ``sign * G / dG * s``.
    """
    w = w.detach()
    n = params.levels
    m = w.abs().max() if w.numel() else w.new_zeros(())
    s = torch.where(m > 0, m / n, torch.ones_like(m))
    mag = torch.round(w.abs() / s).clamp_(0, n)
    return mag * params.g_step, torch.sign(w), s


def sample_conductance(G: torch.Tensor, params: RTNParams, gen: torch.Generator) -> torch.Tensor:
    """One noisy read of every cell: ``G + sigma_G xi + dG_rtn Bernoulli(p_rtn)`` in S."""
    xi = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
    up = torch.rand(G.shape, generator=gen, device=G.device, dtype=G.dtype) < params.p_rtn
    return G + thermal_shot_sigma(G, params) * xi + rtn_amplitude(G, params) * up


def cell_moments(G: torch.Tensor, params: RTNParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-cell mean shift ``p dG_rtn`` and variance ``sigma_G^2 + p (1-p) dG_rtn^2`` (S, S^2)."""
    d = rtn_amplitude(G, params)
    p = params.p_rtn
    return p * d, thermal_shot_sigma(G, params) ** 2 + p * (1 - p) * d * d


def read_moments(x: torch.Tensor, G: torch.Tensor, params: RTNParams) -> tuple[torch.Tensor,
                                                                               torch.Tensor]:
    """Exact output moments of ``x @ G_noisy`` relative to the clean read ``x @ G``.

    Args:
        x: inputs (B, M) (V for currents in A).
        G: conductances (M, N) in S.

    Returns:
        (shift, var), each (B, N): ``x @ (p dG_rtn)`` and ``x^2 @ (sigma_G^2 + p(1-p) dG_rtn^2)``.
    """
    if x.dim() != 2 or G.dim() != 2 or x.shape[1] != G.shape[0]:
        raise ShapeError(f"x: expected (B, {G.shape[0] if G.dim() == 2 else 'M'}) against G "
                         f"(M, N), got x {tuple(x.shape)} and G {tuple(G.shape)}")
    mean, var = cell_moments(G, params)
    return x @ mean, (x * x) @ var


def noisy_read(x: torch.Tensor, G: torch.Tensor, params: RTNParams,
               gen: torch.Generator) -> torch.Tensor:
    """``x @ G`` plus a Gaussian draw with the exact moments of :func:`read_moments`
    (CLT approximation over the rows, see module docstring). Shape (B, N)."""
    shift, var = read_moments(x, G, params)
    z = torch.randn(shift.shape, generator=gen, device=shift.device, dtype=shift.dtype)
    return x @ G + shift + torch.sqrt(var) * z


def resna_noisy_weight(w: torch.Tensor, params: RTNParams, gen: torch.Generator) -> torch.Tensor:
    """Weights as one noisy read of their quantised cells sees them, for training through noise.

    Forward: quantise ``w`` to b-bit cells, draw ``G_noisy`` (:func:`sample_conductance`) and
    map back, ``w_noisy = sign * G_noisy / dG * s``. Backward: straight through — the result is
    ``w + (w_noisy - w).detach()``, so ``d w_out / d w = 1`` (noise enters as a constant,
    quantisation by the straight-through estimator). Draw fresh noise on every forward pass.

    Args:
        w: float weights (any shape), may require grad.
        params: :class:`RTNParams`.
        gen: generator for the noise.

    Returns:
        Tensor of w's shape.
    """
    G, sign, s = quantize_to_cells(w, params)
    w_noisy = sign * sample_conductance(G, params, gen) / params.g_step * s
    return w + (w_noisy - w).detach()
