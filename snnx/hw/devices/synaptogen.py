r"""Synaptogen-like binary RRAM as a device model (METHODS.md section 5; ``device.model:
synaptogen``).

A cell is binary (SET -> LRS, RESET -> HRS), but its resistances are not: each cell has its
own mixture-drawn means (device-to-device) and every switching cycle draws new LRS/HRS
values from a vector-autoregressive process (cycle-to-cycle variation *with memory*). The
sampler is :class:`snnx.hw.synaptogen.SynaptogenDevice` (equations and sources there);
this module holds its :class:`Params` and wires it into tiles.

How a tile uses it (the optional *stateful* part of the device-model interface,
:mod:`snnx.hw.devices`):

* ``init_state``: drawn once per tile (mixture component and means of every cell, a
  stationary VAR history), from the tile's generator; part of ``Tile.state_dict``.
* ``on_write``: every write is "RESET, then SET the ones" (the ASR paper's programming): a
  written cell that was on (nominal state g > 1/2) is RESET first, which draws its next VAR
  cycle; a written cell whose new nominal state is on is then SET to its cycle's LRS. Cells
  that are not written keep their cycle.
* ``conductance``: what a read sees. With the nominal state g in [0, 1] (what the write
  scheme put, 0 = HRS, 1 = LRS), ``G = G_HRS + g (G_LRS - G_HRS)`` with the cell's
  ``G_LRS = 10^-log10 R_LRS`` and ``G_HRS = 10^-log10 R_HRS`` of its current cycle, i.e.
  exactly its LRS or HRS for binary cells. The preset's ``g_min``/``g_max`` are the nominal
  HRS/LRS the mapping is calibrated to; HRS spread does not cancel in a differential pair.
* ``pulse``: a pulse train switches a cell completely (one +-2 V pulse always passes its
  thresholds); the resistances come from the state, not from the pulse.

Example:
    >>> import snnx.hw as hw
    >>> cfg = hw.load("synaptogen")
    >>> cfg.device.model, len(cfg.device_params.var_a)
    ('synaptogen', 2)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import check_value as _check_meta, spec
from snnx.errors import ConfigError

F = 4  # features per cycle
FEATURES = ("log10_r_lrs", "log10_r_hrs", "v_set", "v_reset")
_A1 = ((0.4, 0.1, 0.0, 0.0), (0.0, 0.4, 0.0, 0.0), (0.0, 0.0, 0.3, 0.0), (0.0, 0.0, 0.0, 0.3))
_A2 = ((0.2, 0.0, 0.0, 0.0), (0.0, 0.2, 0.0, 0.0), (0.0, 0.0, 0.1, 0.0), (0.0, 0.0, 0.0, 0.1))
_C = ((1.0, 0.3, 0.0, 0.0), (0.3, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, -0.2), (0.0, 0.0, -0.2, 1.0))

Vec = tuple[float, ...]
Mat = tuple[tuple[float, ...], ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Params:
    """Synaptogen-like cell statistics (defaults and sources: :mod:`snnx.hw.synaptogen`).

    ``device.synaptogen`` in a hardware model. Impossible values (an unstable VAR, a
    correlation that is not positive definite, shapes that do not fit) name their key.
    """

    c2c_sigma: Vec = spec((0.08, 0.18, 0.05, 0.05),
                          doc="cycle-to-cycle std of (log10 R_LRS, log10 R_HRS, V_set, "
                              "V_reset) in decades / V; HRS 0.18 [V], rest [R]")
    var_a: tuple[Mat, ...] = spec((_A1, _A2), doc="VAR matrices A_1..A_p, each 4x4 [R]")
    noise_corr: Mat = spec(_C, doc="4x4 correlation of the VAR innovations [R]")
    gmm_weights: Vec = spec((0.48, 0.47, 0.04), doc="mixture weights (normalised) [V]")
    gmm_means: Mat = spec(((3.62, 4.95, -0.85, 0.95), (3.69, 4.82, -0.80, 1.00),
                           (3.75, 4.45, -0.70, 1.10)),
                          doc="per-component means of (log10 R_LRS / ohm, log10 R_HRS / ohm, "
                              "V_set / V, V_reset / V) [R]")
    gmm_stds: Mat = spec(((0.03, 0.04, 0.04, 0.04),) * 3,
                         doc="per-component device-to-device std of the feature means [R]")
    v_read: float = spec(0.2, lo=0, lo_open=True, hi=5,
                         doc="V, read voltage V0 of the standalone sampler's read_current "
                             "[V]; tiles read at periphery.v_read")
    iv_lrs: Vec = spec((0.0, 0.3), doc="LRS I-V shape a_1, a_2 ... (1/V^k) of the standalone "
                                       "sampler's non-linear read [R]")
    iv_hrs: Vec = spec((0.1, 1.5), doc="HRS I-V shape a_1, a_2 ... (1/V^k) of the standalone "
                                       "sampler's non-linear read [R]")
    temperature: float = spec(300.0, lo=0, lo_open=True,
                              doc="K, thermal noise of the standalone sampler's read_current "
                                  "(tiles: noise.read.thermal_shot)")
    bandwidth: float = spec(1e8, lo=0, doc="Hz, read bandwidth of the standalone sampler's "
                                           "read_current [R]")

    def __post_init__(self) -> None:
        import numpy as np

        for f in dataclasses.fields(self):
            _check_meta(getattr(self, f.name), f.metadata, f.name)
        _matrix(self.c2c_sigma, (F,), "c2c_sigma", positive=True)
        a = _matrix(self.var_a, (None, F, F), "var_a")
        if a.shape[0] < 1:
            raise ConfigError("var_a: needs at least one matrix (p >= 1)")
        c = _matrix(self.noise_corr, (F, F), "noise_corr")
        if not np.allclose(c, c.T) or np.linalg.eigvalsh(c).min() <= 0:
            raise ConfigError("noise_corr: must be symmetric positive definite")
        rho = np.abs(np.linalg.eigvals(_companion(a))).max()
        if rho >= 1:
            raise ConfigError(f"var_a: VAR is not stable (spectral radius {rho:.3f} >= 1)")
        w = _matrix(self.gmm_weights, (None,), "gmm_weights", positive=True)
        _matrix(self.gmm_means, (w.size, F), "gmm_means")
        _matrix(self.gmm_stds, (w.size, F), "gmm_stds", positive=True)

    @property
    def order(self) -> int:
        """VAR order p."""
        return len(self.var_a)

    def weights(self) -> Any:
        """Normalised mixture weights (K,), numpy."""
        import numpy as np

        w = np.asarray(self.gmm_weights, dtype=np.float64)
        return w / w.sum()

    def stationary(self) -> tuple[Any, Any, Any]:
        """Stationary moments of the raw VAR state (numpy).

        Returns:
            (Gamma, Gamma_0, lag1): covariance of the stacked history
            ``(x_t, ..., x_{t-p+1})`` (4p, 4p), ``Cov(x_t)`` (4, 4) and the lag-1
            autocorrelation ``Cov(x_{t+1}, x_t)_ii / Cov(x_t)_ii`` of each feature (4,).
        """
        import numpy as np
        import scipy.linalg

        comp = _companion(np.asarray(self.var_a, dtype=np.float64))
        q = np.zeros_like(comp)
        q[:F, :F] = np.asarray(self.noise_corr, dtype=np.float64)
        gam = scipy.linalg.solve_discrete_lyapunov(comp, q)
        gam = 0.5 * (gam + gam.T)
        g0 = gam[:F, :F]
        g1 = (comp @ gam)[:F, :F]
        return gam, g0, np.diag(g1) / np.diag(g0)


def _matrix(v: Any, shape: tuple, name: str, positive: bool = False) -> Any:
    import numpy as np

    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a numeric array") from None
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "x".join("p" if s is None else str(s) for s in shape)
        raise ConfigError(f"{name}: expected shape {want}, got {a.shape}")
    if not np.isfinite(a).all() or (positive and (a <= 0).any()):
        raise ConfigError(f"{name}: values must be finite" + (" and > 0" if positive else ""))
    return a


def _companion(a: Any) -> Any:
    import numpy as np

    p = a.shape[0]
    comp = np.zeros((F * p, F * p))
    comp[:F, :] = np.concatenate(list(a), axis=1)
    comp[F:, :-F] = np.eye(F * (p - 1))
    return comp


STATE_KEYS = ("hist", "mu", "comp", "y", "in_hrs", "cycles")


class Synaptogen:
    """Binary cells with Synaptogen-like LRS/HRS statistics (see module docstring).

    Args:
        params: :class:`Params`.
        cell: the hardware model's device block (range g_min/g_max, levels).
    """

    Params = Params
    noisy = False  #: pulses take no standard-normal samples (variation lives in the state)

    def __init__(self, params: Params, cell: Any) -> None:
        self.params, self.cell = params, cell
        self._sampler = None

    @staticmethod
    def is_ideal(params: Params) -> bool:
        """Never: every cell has its own, cycling resistances."""
        return False

    @property
    def sampler(self) -> Any:
        """The :class:`~snnx.hw.synaptogen.SynaptogenDevice` (built on first use)."""
        if self._sampler is None:
            from snnx.hw.synaptogen import SynaptogenDevice

            self._sampler = SynaptogenDevice(self.params)
        return self._sampler

    def variation(self, shape: tuple[int, ...], gen: Any, device: Any, dtype: Any) -> Any:
        """No pulse-step multiplier: device-to-device variation lives in the state."""
        return None

    def pulse(self, g: Any, n: Any, step: float, *, depress: Any, gain: Any,
              noise: Any) -> Any:
        """Binary switching: a cell given at least one pulse ends fully SET (1) or RESET (0)."""
        import torch

        on = torch.ones_like(g) if depress is None else torch.where(
            depress, torch.zeros_like(g), torch.ones_like(g))
        return torch.where(n >= 0.5, on, g).clamp_(0.0, 1.0)

    # ------------------------------------------------------------------ stateful part
    def init_state(self, shape: tuple[int, ...], gen: Any, device: Any,
                   dtype: Any) -> dict:
        """Fresh devices (all in HRS, cycle 0): the per-cell state as a dict of tensors."""
        import math

        st = self.sampler.init((math.prod(shape),), gen)
        return {k: getattr(st, k) for k in STATE_KEYS}

    def _state(self, state: dict) -> Any:
        from snnx.hw.synaptogen import SynaptogenState

        return SynaptogenState(shape=(state["in_hrs"].numel(),), **state)

    def on_write(self, state: dict, g_old: Any, g_new: Any, written: Any, gen: Any) -> dict:
        """RESET the written cells that were on (next VAR cycle), then SET those that should
        be on. ``g_old``/``g_new``: nominal states (any shape), ``written``: bool mask."""
        w = written.reshape(-1)
        on_old, on_new = g_old.reshape(-1) > 0.5, g_new.reshape(-1) > 0.5
        st = self._state(state)
        st = self.sampler.switch(st, None, w & on_old, gen)
        st = self.sampler.switch(st, w & on_new, None, gen)
        return {k: getattr(st, k) for k in STATE_KEYS}

    def conductance(self, state: dict, g: Any) -> Any:
        """Physical conductance (S) of every cell at nominal state ``g`` (any shape, n cells):
        ``G_HRS + g (G_LRS - G_HRS)`` of its current cycle."""
        y = state["y"]
        g_lrs = (10.0 ** -y[0]).reshape(g.shape).to(g.dtype)
        g_hrs = (10.0 ** -y[1]).reshape(g.shape).to(g.dtype)
        return g_hrs + g * (g_lrs - g_hrs)

    def __repr__(self) -> str:
        return f"Synaptogen(order={self.params.order})"
