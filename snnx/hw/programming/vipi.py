"""VIPI write-verify: the voltage-incremental proportional-integral controller of OpenMENA.

Every cell runs its own PI loop on the read-back error (METHODS.md section 9). The loop is
vectorised over cells: each iteration gathers the *active* cells (those not yet inside the
dead zone), reads them, and gives each one write pulse whose polarity, width and amplitude
come from its controller; cells that read inside the dead zone leave for good.

Controller, per active cell and iteration ``it`` (units: normalised state
``g = (G - g_min)/(g_max - g_min)``, so errors are fractions of the conductance range)::

    r  = g + shift(G) + sigma_read(G) xi          # one verify read, fresh read noise
                                                  # (shift: a noise model's mean, RTN)
    stop if |t - r| < tolerance                   # dead zone
    e  = error_gain (t - r)                       # board: e = 2 (target - read)
    E  = clip(E + e, -integral_max, +integral_max)
    u  = kp e + ki E
    polarity: SET (potentiate) if u > 0, RESET (depress) if u < 0
    dV = min(v_start + v_step floor(it / v_every), v_max)       # "voltage incremental"
    width = min(|u| * pulses_per_u, max_width)    # in nominal device pulses
    n_eff = width * exp((dV - v_start) / v_scale) # effective pulse count at this amplitude

``n_eff`` (fractional) goes through :func:`snnx.hw.device.apply_pulses`, so soft bounds,
SET/RESET asymmetry, the device-to-device gain and cycle-to-cycle noise
(``c2c_sigma * step * sqrt(n_eff) * xi``) are the engine's. Stuck-at cells are read as
stuck, never converge unless their target happens to lie in the dead zone, and leave when
the budget ``n_iter`` is spent.

Board -> snnx conversion ([V] board numbers from the released OpenMENA script; [R] the
conversion). The board works in ADC counts: dead zone 15 counts, integral clip 3000 counts,
``Kp = 7``, ``Ki = 3``, ``e = 2 (target - read)``, ``N_iter = 100``, the programming voltage
offset starts at 0.08 V and grows 0.01 V every 20 iterations (lower terminal >= 0.57 V, i.e.
offset <= 0.18 V), width 60 units per count of ``u``. [R] We map the conductance range to
1000 counts (``BOARD_COUNTS_PER_RANGE``), so the dead zone is 0.015 of the range and the
integral clip 3.0; the gains are dimensionless (u has the units of e) and keep the board
values. Tuning note [R]: with 450 counts per range the dead zone would equal snnx's
program-and-verify tolerance (half a level of a 16-level cell, 1/30), but one verify read
with 1 % read noise then accepts cells near the edge: from a RESET start only ~87-91 % of the
cells of ``rram_generic`` end truly within half a level, against >= 99.5 % with 0.015
(``bench/programming.py``). The board's width unit has no snnx meaning; [R] we calibrate it
through ``loop_gain``: the first pulse of a fresh loop (E = e) moves the cell by
``loop_gain`` times its error at the starting amplitude and nominal device gain, i.e.
``pulses_per_u = loop_gain / ((kp + ki) * error_gain * step)``; default 1 (dead-beat first
pulse). With board gains the loop (error x, integral S) follows
``x' = (1 - 10 k) x - 3 k S`` with ``k = loop_gain / 10``; it is stable for
``loop_gain < 2.35`` (Jury), which leaves room for the d2d gain and the amplitude increments
(x1.22 per 0.01 V at ``v_scale`` = 0.05 V [R]: pulse efficacy grows exponentially with
voltage, a common switching-kinetics form). The integral winds up on the first (large)
error and overshoots; a proportional-only loop (``ki = 0``) converges in fewer iterations
from a RESET start (see the bench), but the defaults keep the board's PI gains.
The board's "stuck near off" rule (read < 1 count: offset 0.11 V + half the increment and a
short fixed pulse) is available through ``off_threshold`` (board: 1 count = 0.001), off by
default because snnx's pulse model has no stiff off state.

Returned counts (compatible with :class:`snnx.hw.programming.ProgramStats`): ``pulses`` are
pulse *events* (one per active cell per iteration), ``pulse_equivalents`` the summed widths
in nominal pulses (for width-proportional energy), ``verify_reads`` one per active cell per
iteration, ``row_steps`` per row the sum over iterations of the longest width in that row
(nominal pulse durations).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from snnx.config.schema import check_value as _check_meta, spec
from snnx.errors import ConfigError, ShapeError
from snnx.hw.programming import ProgramStats, row_max

#: board ADC counts that span the conductance range (the [R] conversion of this module)
BOARD_COUNTS_PER_RANGE = 1000.0


def _validate(obj) -> None:
    """Range checks of every field (also when built directly, not from a recipe); errors
    name the field, and a recipe or hardware model prefixes its own path."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{f.name}: expected a finite number, got {v!r}")
        _check_meta(v, f.metadata, f.name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Params:
    """Settings of the VIPI controller (normalised-state units; see the module docstring).

    ``programming.vipi`` in a hardware model; a bad value names its key
    (``programming.vipi.tolerance: 0.0 is out of range (0, 1]``).
    """

    start: str = spec("one_shot", choices=("one_shot", "reset"),
                      doc="state before the loop: one_shot = one noisy write of the target "
                          "first (as program-and-verify); reset = a block RESET of every "
                          "cell to g_min (a fresh board array; one pulse per cell)")

    kp: float = spec(7.0, lo=0, hi=1e4, doc="proportional gain [V board]")
    ki: float = spec(3.0, lo=0, hi=1e4, doc="integral gain [V board]")
    error_gain: float = spec(2.0, lo=0, lo_open=True, hi=1e4,
                             doc="e = error_gain (target - read) [V board: 2]")
    tolerance: float = spec(0.015, lo=0, lo_open=True, hi=1,
                            doc="dead zone, fraction of g_max-g_min [R: board 15 counts / "
                                "1000 counts per range]")
    integral_max: float = spec(3.0, lo=0, lo_open=True, hi=1e6,
                               doc="clip of the integral E [R: board 3000 counts / 1000]")
    n_iter: int = spec(100, lo=1, hi=100000, doc="iteration budget per cell [V board: 100]")
    loop_gain: float = spec(1.0, lo=0, lo_open=True, hi=2.35,
                            doc="fraction of the error the first pulse corrects at nominal "
                                "amplitude and gain; fixes the width unit [R]; stable < 2.35")
    max_width: float = spec(16.0, lo=0, lo_open=True, hi=1e4,
                            doc="cap of one pulse's width in nominal device pulses [R]")
    v_start: float = spec(0.08, lo=0, hi=1, doc="V, initial programming-voltage offset "
                                                "[V board: 0.08]")
    v_step: float = spec(0.01, lo=0, hi=1, doc="V, offset increment [V board: 0.01]")
    v_every: int = spec(20, lo=1, hi=100000, doc="iterations between increments [V board: 20]")
    v_max: float = spec(0.18, lo=0, hi=1, doc="V, largest offset [V board: lower terminal "
                                              ">= 0.57 V at 0.75 V centre]")
    v_scale: float = spec(0.05, lo=0, lo_open=True, hi=10,
                          doc="V per e-fold of pulse efficacy (exp((dV - v_start)/v_scale)) [R]")
    off_threshold: float = spec(0.0, lo=0, hi=1,
                                doc="reads below this (fraction of range) get the fixed "
                                    "'stuck near off' pulse; 0 = off [R: board 0.001]")
    v_off: float = spec(0.11, lo=0, hi=1, doc="V, offset of the off pulse (+ half the "
                                              "increments so far) [V board: 0.11]")
    off_width: float = spec(1.0, lo=0, lo_open=True, hi=1e4,
                            doc="width of the off pulse in nominal device pulses [R]")

    def __post_init__(self) -> None:
        _validate(self)
        if self.kp + self.ki <= 0:
            raise ConfigError(f"kp: kp + ki must be > 0 (got kp={self.kp:g}, ki={self.ki:g})")
        if self.v_max < self.v_start:
            raise ConfigError(f"v_max: must be >= v_start (got {self.v_max:g} < "
                              f"{self.v_start:g})")


@dataclasses.dataclass
class VIPIStats(ProgramStats):
    """:class:`ProgramStats` plus what VIPI tracks per cell and per iteration."""

    pulse_equivalents: float = 0.0   #: summed pulse widths in nominal device pulses
    cell_pulses: Any = None  #: VIPI pulse events per cell (not the start write)
    #: per iteration (entry 0 = start state, entry k = after k iterations), over non-stuck
    #: cells: mean |g - target| (fraction of range), fraction left through the dead zone,
    #: fraction truly within tolerance, and pulse events so far
    history: dict = dataclasses.field(default_factory=lambda: {
        "mean_abs_error": [], "frac_converged": [], "frac_within_tol": [], "pulses": []})


def program_vipi(target: Any, hw: Any, gen: Any, gain: Any = None, faults: Any = None,
                 params: Params | None = None, G0: Any = None) -> tuple[Any, VIPIStats]:
    """Write ``target`` with per-cell VIPI loops (see module docstring).

    Args:
        target: target conductances in S, shape (..., M, N) (rows in dim -2 for row_steps;
            a 1-D tensor is one row).
        hw: hardware model: pulse physics (``device.update``), read noise (``noise``),
            one-shot programming error for the start write.
        gen: generator for the start write, read noise and c2c noise.
        gain: fixed per-cell pulse-step multipliers (device-to-device), same shape, or None.
        faults: stuck-at masks ``(sa0, sa1)`` from :func:`snnx.hw.device.sample_faults`.
        params: controller settings (default :class:`Params`).
        G0: start conductances in S (e.g. all ``g_min`` after a RESET); None: one noisy
            one-shot write first, as :func:`snnx.hw.programming.program_verify` does (its
            pulse is counted).

    Returns:
        (G, stats): programmed conductances in S and a :class:`VIPIStats`.

    Raises:
        ConfigError: the device has no pulse step (continuous cells).
        ShapeError: non-finite target, or G0/gain of another shape.
    """
    import torch

    from snnx.hw import device as dev
    from snnx.hw.noise import read_noise
    from snnx.hw.programming.one_shot import program_one_shot

    p = Params() if params is None else params
    s = dev.step_fraction(hw)
    if s is None:
        raise ConfigError("device.update.step: VIPI needs a pulse step (set device.levels "
                          "or device.update.step)")
    if target.dim() == 0 or not bool(torch.isfinite(target).all()):
        raise ShapeError("target: expected a finite tensor with at least one dimension")
    for name, t in (("G0", G0), ("gain", gain)):
        if t is not None and t.shape != target.shape:
            raise ShapeError(f"{name}: expected shape {tuple(target.shape)}, got "
                             f"{tuple(t.shape)}")
    gmin, r = hw.device.g_min, dev.g_range(hw)
    if G0 is None:
        G, first = program_one_shot(target, hw, gen)
        stats = VIPIStats(cells_written=first.cells_written, pulses=first.pulses,
                          pulse_equivalents=first.pulses, row_steps=first.row_steps)
    else:
        G = G0.clone()
        stats = VIPIStats(row_steps=torch.zeros(target.shape[:-1], dtype=target.dtype,
                                                device=target.device))
    dev.apply_faults(G, faults, hw)
    n_cols = target.shape[-1]
    g = ((G - gmin) / r).reshape(-1)
    t = ((target - gmin) / r).reshape(-1)
    gain_f = None if gain is None else gain.reshape(-1)
    sa0 = sa1 = None
    ok = torch.ones_like(t, dtype=torch.bool)
    if faults is not None:
        sa0, sa1 = faults[0].reshape(-1), faults[1].reshape(-1)
        ok = ~(sa0 | sa1)
    n_ok = max(int(ok.sum()), 1)
    noise_model = read_noise(hw)
    pulses_per_u = p.loop_gain / ((p.kp + p.ki) * p.error_gain * s)
    converged = torch.zeros_like(ok)
    cell_pulses = torch.zeros_like(t)
    rows = stats.row_steps.reshape(-1)
    idx = torch.arange(t.numel(), device=t.device)
    E = torch.zeros_like(t)
    _record(stats, g, t, ok, converged, n_ok, p.tolerance)
    for it in range(p.n_iter):
        gi, ti = g[idx], t[idx]
        var = noise_model.cell(gi * r + gmin, r)
        if var is not None:
            sd = torch.sqrt(var)
            z = torch.randn(gi.shape, generator=gen, device=gi.device, dtype=gi.dtype)
            read = gi + sd * z
        else:
            read = gi
        shift = noise_model.cell_shift(gi * r + gmin, r)  # mean read offset (RTN)
        if shift is not None:
            read = read + shift
        stats.verify_reads += float(idx.numel())
        err = ti - read
        stay = err.abs() >= p.tolerance
        converged[idx[~stay]] = True
        idx, gi, err, E = idx[stay], gi[stay], err[stay], E[stay]
        if idx.numel() == 0:
            stats.iterations = it + 1
            _record(stats, g, t, ok, converged, n_ok, p.tolerance)
            break
        e = p.error_gain * err
        E = (E + e).clamp_(-p.integral_max, p.integral_max)
        u = p.kp * e + p.ki * E
        dv = min(p.v_start + p.v_step * (it // p.v_every), p.v_max)
        width = (u.abs() * pulses_per_u).clamp_(max=p.max_width)
        amp = torch.full_like(width, math.exp((dv - p.v_start) / p.v_scale))
        if p.off_threshold > 0:
            off = read[stay] < p.off_threshold
            dv_off = p.v_off + 0.5 * (dv - p.v_start)
            width = torch.where(off, torch.full_like(width, p.off_width), width)
            amp = torch.where(off, torch.full_like(amp, math.exp((dv_off - p.v_start)
                                                                 / p.v_scale)), amp)
        z = torch.randn(gi.shape, generator=gen, device=gi.device, dtype=gi.dtype)
        gk = None if gain_f is None else gain_f[idx]
        g_new = dev.apply_pulses(gi, width * amp, hw, depress=u < 0, gain=gk, noise=z)
        if sa0 is not None:
            g_new = torch.where(sa0[idx], 0.0, torch.where(sa1[idx], 1.0, g_new))
        g[idx] = g_new
        cell_pulses[idx] += 1.0
        rows += row_max(idx // n_cols, width, rows.numel())
        stats.pulses += float(idx.numel())
        stats.pulse_equivalents += float(width.sum())
        stats.iterations = it + 1
        _record(stats, g, t, ok, converged, n_ok, p.tolerance)
    if G0 is not None:  # (after a one-shot start every cell was written already)
        stats.cells_written = int((cell_pulses > 0).sum())
    stats.converged = converged.reshape(target.shape)
    stats.cell_pulses = cell_pulses.reshape(target.shape)
    stats.row_steps = rows.reshape(target.shape[:-1])
    G = (g * r + gmin).reshape(target.shape)
    return G, stats


def _record(stats: VIPIStats, g, t, ok, converged, n_ok: int, tol: float) -> None:
    err = (g - t).abs()[ok]
    h = stats.history
    h["mean_abs_error"].append(float(err.mean()) if err.numel() else 0.0)
    h["frac_converged"].append(float((converged & ok).sum()) / n_ok)
    h["frac_within_tol"].append(float((err <= tol).sum()) / n_ok)
    h["pulses"].append(stats.pulses)


class VIPI:
    """The VIPI scheme (``programming.scheme: vipi``, parameters ``programming.vipi``).

    ``program`` writes targets with :func:`program_vipi` from the start state
    ``params.start``. The returned :class:`VIPIStats` go to the tile, which books every
    pulse (energy per nominal pulse width), every verify read and the row-parallel latency
    in its ledger (:meth:`snnx.hw.cost.TileCost.program`).
    """

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.params, self.hw = params, hw

    def program(self, target: Any, gen: Any, gain: Any = None, faults: Any = None) -> tuple:
        """Write ``target`` (S, any shape (..., N)); returns (G, :class:`VIPIStats`)."""
        import torch

        if self.params.start == "one_shot":
            return program_vipi(target, self.hw, gen, gain, faults, self.params)
        G0 = torch.full_like(target, self.hw.device.g_min)
        G, st = program_vipi(target, self.hw, gen, gain, faults, self.params, G0=G0)
        n = float(target.numel())  # the block RESET: one pulse per cell, rows in sequence
        st.pulses += n
        st.pulse_equivalents += n
        st.cells_written = target.numel()
        st.row_steps = st.row_steps + 1.0
        return G, st
