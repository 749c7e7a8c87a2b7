"""Synaptogen-like binary RRAM: log-normal LRS/HRS with cycle-to-cycle memory (VAR(p)) and
device-to-device variation from a Gaussian mixture (METHODS.md section 5). The sampler; its
parameters and its use as a tile's device model (``device.model: synaptogen``) are in
:mod:`snnx.hw.devices.synaptogen`.

Model (shapes: ``n`` cells, ``F = 4`` features per cell; all randomness from a generator):

* Features of one switching cycle ``y = (log10 R_LRS, log10 R_HRS, V_set, V_reset)``
  (ohm, ohm, V, V): ``y_t = mu_dev + sigma_c2c * z_t`` with
  ``z_t = x_t / sqrt(diag Gamma_0)`` the standardised state of a stable VAR(p) process
  ``x_t = sum_{k=1..p} A_k x_{t-k} + eps_t``, ``eps_t ~ N(0, C)``; ``Gamma_0`` is its
  stationary covariance (discrete Lyapunov equation of the companion form), so the
  cycle-to-cycle standard deviation of every feature is exactly ``sigma_c2c`` and the lag-1
  autocorrelation is ``Gamma_1[i,i] / Gamma_0[i,i]`` (:meth:`SynaptogenParams.stationary`).
  The history starts from the stationary distribution, so cycle 0 is already stationary.
* Device-to-device: ``mu_dev = m_k + s_k * xi`` with component ``k`` drawn with weights
  ``w`` (3-component Gaussian mixture, diagonal spreads ``s_k``), fixed for the device's life.
* Switching (one cycle = RESET then SET, as in Synaptogen): a RESET of a cell in LRS draws
  the next VAR step (a new cycle) and puts the cell at ``R_HRS`` of that cycle; a SET of a
  cell in HRS puts it at ``R_LRS`` of the current cycle. Only cells that actually switch
  change or draw; a pulse switches a cell only if it passes the cell's threshold of the
  cycle (``v <= V_set`` for SET, ``v >= V_reset`` for RESET; defaults -2 V / +2 V always do).
* Read (optional non-linear I-V [R], our own polynomial, not the fitted ones):
  ``I(V) = (V / R) * f(V) / f(V0)`` with ``f(V) = 1 + a_1 V + a_2 V^2 + ...`` per state, so
  that ``R = V0 / I(V0)`` at the read voltage ``V0`` (Synaptogen's definition); linear:
  ``I = V / R``. Read noise (thermal + shot):
  ``sigma_I = sqrt(4 k T BW |I/V| + 2 q |I| BW)`` with the electron charge
  ``q = 1.602e-19 C`` (METHODS.md 5: the public reference code's shot term must not use
  Euler's number), ``|I/V|`` -> small-signal conductance at ``V = 0``.

Default numbers. [V] (METHODS.md 5): HRS ~ 76 kOhm (log10 R ~ 4.87), LRS ~ 4.5 kOhm,
``sigma_c2c(log10 R_HRS) = 0.18``, mixture weights .48/.47/.04 (normalised to sum 1:
.4848/.4747/.0404), read at 0.2 V, SET -2 V, RESET +2 V. [R] everything else (the fitted
Synaptogen matrices are not used): VAR(2) with ``A_1 = [[.4,.1,0,0],[0,.4,0,0],
[0,0,.3,0],[0,0,0,.3]]`` (the LRS of a cycle remembers the previous HRS a little) and
``A_2 = diag(.2,.2,.1,.1)``; innovation correlation ``C`` with corr(LRS, HRS) = 0.3,
corr(V_set, V_reset) = -0.2; the HRS row is a pure AR(2), so its lag-1 autocorrelation is
``a_1 / (1 - a_2) = 0.5``. c2c spreads (0.08, 0.18, 0.05, 0.05). Mixture means
(log10 R_LRS, log10 R_HRS, V_set, V_reset): (3.62, 4.95, -0.85, 0.95),
(3.69, 4.82, -0.80, 1.00), (3.75, 4.45, -0.70, 1.10) (a small population of narrow-window
devices), spreads (0.03, 0.04, 0.04, 0.04) each; the mixture's mean log10 R_HRS is 4.87 and
mean log10 R_LRS 3.66 (4.5 kOhm).

Example:
    >>> import torch
    >>> dev = SynaptogenDevice()
    >>> gen = torch.Generator().manual_seed(0)
    >>> st = dev.init((4, 4), gen)
    >>> st = dev.switch(st, torch.ones(4, 4, dtype=torch.bool), None, gen)   # SET all
    >>> bool((dev.resistance(st) < 2e4).all())
    True
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from snnx.errors import ShapeError
from snnx.hw.devices.synaptogen import F, FEATURES, Params  # noqa: F401 (re-exported)
from snnx.hw.noise.thermal_shot import K_BOLTZMANN, Q_ELECTRON

SynaptogenParams = Params  #: the parameters (defined with the device model, one definition)


@dataclasses.dataclass
class SynaptogenState:
    """State of an array of cells (all tensors are flat over the ``shape`` cells).

    Attributes:
        shape: array shape.
        hist: (p, 4, n) raw VAR history, ``hist[0]`` = current cycle.
        mu: (4, n) per-device feature means (device-to-device draw).
        comp: (n,) mixture component of each device.
        y: (4, n) features of the current cycle.
        in_hrs: (n,) True for cells in HRS.
        cycles: (n,) completed RESET events.
    """

    shape: tuple
    hist: torch.Tensor
    mu: torch.Tensor
    comp: torch.Tensor
    y: torch.Tensor
    in_hrs: torch.Tensor
    cycles: torch.Tensor


class SynaptogenDevice:
    """Vectorised sampler of Synaptogen-like binary cells (see module docstring).

    Args:
        params: :class:`SynaptogenParams` (defaults: METHODS.md 5 numbers).
        dtype: floating dtype of the state (float64 default: log-domain resistances).
    """

    def __init__(self, params: SynaptogenParams | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        self.params = SynaptogenParams() if params is None else params
        self.dtype = dtype
        p = self.params
        gam, g0, _ = p.stationary()
        self._chol = torch.tensor(np.linalg.cholesky(gam), dtype=dtype)
        self._innov = torch.tensor(np.linalg.cholesky(np.asarray(p.noise_corr)), dtype=dtype)
        self._a = torch.tensor(np.asarray(p.var_a), dtype=dtype)       # (p, 4, 4)
        self._scale = torch.tensor(np.asarray(p.c2c_sigma) / np.sqrt(np.diag(g0)),
                                   dtype=dtype)
        self._w = torch.tensor(p.weights(), dtype=dtype)
        self._m = torch.tensor(np.asarray(p.gmm_means), dtype=dtype)    # (K, 4)
        self._s = torch.tensor(np.asarray(p.gmm_stds), dtype=dtype)

    # ------------------------------------------------------------------ sampling
    def init(self, shape: tuple[int, ...], gen: torch.Generator) -> SynaptogenState:
        """Fresh devices in HRS: d2d draw, stationary VAR history, cycle 0 features."""
        shape = tuple(int(s) for s in shape)
        n = math.prod(shape)
        dev = gen.device
        kw = dict(generator=gen, device=dev, dtype=self.dtype)
        comp = torch.multinomial(self._w.to(dev), n, replacement=True, generator=gen)
        mu = (self._m.to(dev)[comp] + self._s.to(dev)[comp] * torch.randn(n, F, **kw)).T
        p = self.params.order
        stack = self._chol.to(dev) @ torch.randn(F * p, n, **kw)   # (4p, n) ~ N(0, Gamma)
        hist = stack.reshape(p, F, n).contiguous()
        y = self._features(mu, hist[0])
        return SynaptogenState(shape, hist, mu.contiguous(), comp, y,
                               torch.ones(n, dtype=torch.bool, device=dev),
                               torch.zeros(n, dtype=torch.int64, device=dev))

    def _features(self, mu: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return mu + self._scale.to(x.device).unsqueeze(1) * x

    def switch(self, state: SynaptogenState, set_mask: torch.Tensor | None,
               reset_mask: torch.Tensor | None, gen: torch.Generator,
               v_set: float | torch.Tensor = -2.0,
               v_reset: float | torch.Tensor = 2.0) -> SynaptogenState:
        """Apply SET pulses (``v_set`` V) to ``set_mask`` and RESET pulses (``v_reset`` V) to
        ``reset_mask``; returns a new state (the input is not modified).

        Only cells that switch change: SET moves an HRS cell past its ``V_set`` to its
        cycle's LRS; RESET moves an LRS cell past its ``V_reset`` to HRS and draws the next
        VAR step (new cycle) for exactly those cells.

        Raises:
            ShapeError: a mask of the wrong shape, or a cell in both masks.
        """
        n = state.in_hrs.numel()
        s_m = self._mask(set_mask, state, "set_mask")
        r_m = self._mask(reset_mask, state, "reset_mask")
        if bool((s_m & r_m).any()):
            raise ShapeError("set_mask: a cell cannot be SET and RESET in one call")
        vs = torch.as_tensor(v_set, dtype=self.dtype, device=state.y.device).expand(
            state.shape).reshape(n)
        vr = torch.as_tensor(v_reset, dtype=self.dtype, device=state.y.device).expand(
            state.shape).reshape(n)
        hist, y, in_hrs, cycles = (state.hist.clone(), state.y.clone(), state.in_hrs.clone(),
                                   state.cycles.clone())
        do_set = s_m & in_hrs & (vs <= y[2])
        do_reset = r_m & ~in_hrs & (vr >= y[3])
        idx = do_reset.nonzero().squeeze(1)
        if idx.numel():
            h = hist[:, :, idx]                                              # (p, 4, m)
            eps = self._innov.to(h.device) @ torch.randn(F, idx.numel(), generator=gen,
                                                         device=h.device, dtype=self.dtype)
            x_new = torch.einsum("kij,kjm->im", self._a.to(h.device), h) + eps
            hist[:, :, idx] = torch.cat([x_new.unsqueeze(0), h[:-1]], 0)
            y[:, idx] = self._features(state.mu[:, idx], x_new)
            cycles[idx] += 1
        in_hrs = (in_hrs | do_reset) & ~do_set
        return SynaptogenState(state.shape, hist, state.mu, state.comp, y, in_hrs, cycles)

    @staticmethod
    def _mask(m, state: SynaptogenState, name: str) -> torch.Tensor:
        n = state.in_hrs.numel()
        if m is None:
            return torch.zeros(n, dtype=torch.bool, device=state.in_hrs.device)
        m = torch.as_tensor(m, device=state.in_hrs.device)
        if tuple(m.shape) != tuple(state.shape) or m.dtype != torch.bool:
            raise ShapeError(f"{name}: expected a bool tensor of shape {state.shape}, got "
                             f"{m.dtype} {tuple(m.shape)}")
        return m.reshape(n)

    # ------------------------------------------------------------------ reading
    def resistance(self, state: SynaptogenState) -> torch.Tensor:
        """Resistance at the read voltage in ohm, array shape."""
        lg = torch.where(state.in_hrs, state.y[1], state.y[0])
        return torch.pow(10.0, lg).reshape(state.shape)

    def conductance(self, state: SynaptogenState) -> torch.Tensor:
        """Conductance ``1/R`` in S (chord conductance at the read voltage), array shape."""
        return 1.0 / self.resistance(state)

    def read_current(self, state: SynaptogenState, v: float | torch.Tensor | None = None,
                     gen: torch.Generator | None = None, nonlinear: bool = False
                     ) -> torch.Tensor:
        """Read current in A of every cell at voltage ``v`` (default ``v_read``).

        Args:
            state: cell state.
            v: V, scalar or broadcastable to the array shape.
            gen: if given, add thermal + shot noise (:func:`read_noise_sigma`).
            nonlinear: use the polynomial I-V (module docstring) instead of ``I = V/R``.

        Returns:
            Currents in A, array shape.
        """
        p = self.params
        G = self.conductance(state)
        v = torch.as_tensor(p.v_read if v is None else v, dtype=G.dtype, device=G.device)
        g0 = G  # small-signal conductance at V = 0 (linear I-V)
        if nonlinear:
            hrs = state.in_hrs.reshape(state.shape)
            f = torch.where(hrs, _poly(p.iv_hrs, v), _poly(p.iv_lrs, v))
            f0 = torch.where(hrs, G.new_tensor(_poly(p.iv_hrs, p.v_read)),
                             G.new_tensor(_poly(p.iv_lrs, p.v_read)))
            g0 = G / f0
            current = v * g0 * f
        else:
            current = v * G
        if gen is None:
            return current
        chord = torch.where(v != 0, (current / torch.where(v != 0, v, 1.0)).abs(), g0)
        sd = read_noise_sigma(current, chord, p.temperature, p.bandwidth)
        return current + sd * torch.randn(current.shape, generator=gen, device=current.device,
                                          dtype=current.dtype)


def _poly(coef: tuple[float, ...], v):
    """f(V) = 1 + a_1 V + a_2 V^2 + ... (Horner)."""
    out = 0.0
    for a in reversed(coef):
        out = (out + a) * v
    return out + 1.0


def read_noise_sigma(current: torch.Tensor, g_chord: torch.Tensor, temperature: float = 300.0,
                     bandwidth: float = 1e8) -> torch.Tensor:
    """Thermal + shot read-noise std in A: ``sqrt(4 k T BW |I/V| + 2 q |I| BW)``.

    Args:
        current: read current I in A.
        g_chord: ``|I/V|`` in S (the small-signal conductance where V = 0).
        temperature: K. bandwidth: Hz.

    Uses the electron charge ``q = 1.602176634e-19 C`` (METHODS.md 5 pitfall).
    """
    return torch.sqrt(4 * K_BOLTZMANN * temperature * bandwidth * g_chord
                      + 2 * Q_ELECTRON * current.abs() * bandwidth)
