"""VIPI write-verify (snnx.hw.programming.vipi): the controller against a scalar per-cell
reference, and the scheme wired into tiles and their ledger."""

import dataclasses
import math

import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError, ShapeError
from snnx.hw import device as dev
from snnx.hw.programming import ProgramStats
from snnx.hw.programming.vipi import Params as VIPIParams
from snnx.hw.programming.vipi import program_vipi

QUIET = {"noise.prog_sigma": 0.0, "noise.read.constant.sigma": 0.0, "device.stuck_at": 0.0,
         "device.soft_bounded.d2d_sigma": 0.0, "device.soft_bounded.c2c_sigma": 0.0}


def reference(t, g0, gain, p: VIPIParams, s: float):
    """Scalar VIPI of one cell, noise-free, linear device (beta = 0, dep_ratio = 1)."""
    g, E, pulses, widths, conv = g0, 0.0, 0, [], False
    ppu = p.loop_gain / ((p.kp + p.ki) * p.error_gain * s)
    for it in range(p.n_iter):
        if abs(t - g) < p.tolerance:
            conv = True
            break
        e = p.error_gain * (t - g)
        E = min(max(E + e, -p.integral_max), p.integral_max)
        u = p.kp * e + p.ki * E
        dv = min(p.v_start + p.v_step * (it // p.v_every), p.v_max)
        w = min(abs(u) * ppu, p.max_width)
        amp = math.exp((dv - p.v_start) / p.v_scale)
        if g < p.off_threshold:
            w = p.off_width
            amp = math.exp((p.v_off + 0.5 * (dv - p.v_start) - p.v_start) / p.v_scale)
        g = min(max(g + math.copysign(1.0, u) * w * amp * s * gain, 0.0), 1.0)
        pulses += 1
        widths.append(w)
    return g, pulses, conv, widths


@pytest.mark.parametrize("kw", [{}, {"ki": 0.0, "loop_gain": 0.6},
                                {"off_threshold": 0.05, "n_iter": 40, "v_every": 3}],
                         ids=["board", "p_only", "off_kick_fast_ramp"])
def test_noise_free_loop_matches_scalar_reference(kw):
    cfg = hw.load("rram_generic", **QUIET)
    s = dev.step_fraction(cfg)
    gen = torch.Generator().manual_seed(3)
    M, N = 4, 6
    t = torch.rand(M, N, generator=gen, dtype=torch.float64)
    g0 = torch.rand(M, N, generator=gen, dtype=torch.float64) * 0.2
    gain = 0.05 + torch.rand(M, N, generator=gen, dtype=torch.float64)  # some very slow cells
    p = VIPIParams(**kw)
    r, gmin = dev.g_range(cfg), cfg.device.g_min
    G, st = program_vipi(gmin + r * t, cfg, gen, gain, None, p, G0=gmin + r * g0)
    rows = torch.zeros(M, dtype=torch.float64)
    n_conv = 0
    for i in range(M):
        for j in range(N):
            g_ref, n_ref, c_ref, w = reference(float(t[i, j]), float(g0[i, j]),
                                               float(gain[i, j]), p, s)
            assert float((G[i, j] - gmin) / r) == pytest.approx(g_ref, abs=1e-9)
            assert float(st.cell_pulses[i, j]) == n_ref
            assert bool(st.converged[i, j]) == c_ref
            n_conv += c_ref
    # row steps: per iteration the longest width in each row, summed (independent recount)
    per_cell = [[reference(float(t[i, j]), float(g0[i, j]), float(gain[i, j]), p, s)[3]
                 for j in range(N)] for i in range(M)]
    for i in range(M):
        n_it = max(len(w) for w in per_cell[i])
        rows[i] = sum(max(w[k] for w in per_cell[i] if len(w) > k) for k in range(n_it))
    assert torch.allclose(st.row_steps, rows, atol=1e-9)
    assert st.pulses == float(st.cell_pulses.sum())
    assert st.verify_reads == float(st.cell_pulses.sum()) + n_conv
    assert st.cells_written == int((st.cell_pulses > 0).sum())
    assert float(st.cell_pulses.max()) > 20  # slow cells reach the voltage increments


def test_noisy_array_converges_and_stuck_cells_burn_the_budget():
    cfg = hw.load("rram_generic", **{"device.stuck_at": 0.02})
    gen = torch.Generator().manual_seed(0)
    shape = (48, 48)
    r, gmin = dev.g_range(cfg), cfg.device.g_min
    t = 0.3 + 0.4 * torch.rand(shape, generator=gen, dtype=torch.float64)  # far from stuck
    faults = dev.sample_faults(shape, cfg, gen, torch.device("cpu"))
    gain = dev.sample_variation(shape, cfg, gen, torch.device("cpu"), torch.float64)
    stuck = faults[0] | faults[1]
    assert int(stuck.sum()) > 10
    p = VIPIParams()
    G, st = program_vipi(gmin + r * t, cfg, gen, gain, faults, p,
                         G0=torch.full(shape, gmin, dtype=torch.float64))
    assert isinstance(st, ProgramStats)
    ok = ~stuck
    assert float(st.converged[ok].double().mean()) >= 0.99
    assert not bool(st.converged[stuck].any())
    assert bool((st.cell_pulses[stuck] == p.n_iter).all())
    assert st.iterations == p.n_iter
    assert bool((G[faults[0]] == cfg.device.g_min).all())
    assert bool((G[faults[1]] == cfg.device.g_max).all())
    # a released cell read inside the dead zone: its true error is within dead zone + noise
    err = ((G - gmin) / r - t).abs()
    assert float(err[st.converged].max()) < p.tolerance + 5 * cfg.noise.read["constant"].sigma
    assert float((err[ok] <= 1 / 30).double().mean()) >= 0.99
    h = st.history
    assert len(h["pulses"]) == st.iterations + 1
    fc = torch.tensor(h["frac_converged"])
    assert bool((fc[1:] >= fc[:-1]).all()) and h["frac_converged"][0] == 0.0
    assert h["mean_abs_error"][-1] == pytest.approx(float(err[ok].mean()))
    assert h["pulses"][-1] == st.pulses


def test_one_shot_start_counts_the_first_write_and_stops_when_all_converge():
    cfg = hw.load("rram_generic", **{"device.stuck_at": 0.0})
    gen = torch.Generator().manual_seed(1)
    target = cfg.device.g_min + dev.g_range(cfg) * torch.rand(16, 16, generator=gen)
    G, st = program_vipi(target, cfg, gen)
    assert st.cells_written == target.numel()
    assert st.pulses == target.numel() + float(st.cell_pulses.sum())
    assert bool(st.converged.all()) and st.iterations < 100
    assert st.row_steps.shape == (16,)


@pytest.mark.parametrize("field,value", [("tolerance", 0.0), ("tolerance", -0.1),
                                         ("n_iter", 0), ("kp", -1.0), ("ki", -0.5),
                                         ("loop_gain", 3.0), ("v_max", 0.05),
                                         ("v_scale", float("nan"))])
def test_bad_parameters_name_the_field(field, value):
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        VIPIParams(**{field: value})


def test_zero_gains_and_continuous_cells_are_rejected():
    with pytest.raises(ConfigError, match=r"^kp: kp \+ ki must be > 0"):
        VIPIParams(kp=0.0, ki=0.0)
    cfg = hw.load("rram_generic", **{"device.levels": None})
    with pytest.raises(ConfigError, match=r"^device\.update\.step:"):
        program_vipi(torch.full((2, 2), 5e-5), cfg, torch.Generator())
    cfg = hw.load("rram_generic")
    with pytest.raises(ShapeError, match=r"^target:"):
        program_vipi(torch.tensor([[float("nan")]]), cfg, torch.Generator())
    with pytest.raises(ShapeError, match=r"^G0:"):
        program_vipi(torch.full((2, 2), 5e-5), cfg, torch.Generator(), G0=torch.zeros(3))


def test_params_are_frozen():
    p = VIPIParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.kp = 1.0  # type: ignore[misc]


# ------------------------------------------------------------------ the scheme on a tile
def _healthy(tile):
    return ~(tile.faults[0] | tile.faults[1]) if tile.faults is not None else None


def test_tile_books_every_vipi_pulse_and_verify_read_and_converges():
    cfg = hw.load("rram_generic", **{"programming.scheme": "vipi"})
    W = torch.randn(40, 70, generator=torch.Generator().manual_seed(0))
    t = hw.Tile(W, cfg, seed=2)
    st = t.last_program
    c = t.ledger.counts
    assert c["pulse"] == st.pulses and c["verify_read"] == st.verify_reads
    assert c["cells_written"] == st.cells_written == t.conductances.numel()
    assert st.pulse_equivalents != st.pulses  # widths differ from one nominal pulse
    assert t.ledger.energy["pulse"] == pytest.approx(st.pulse_equivalents * cfg.cost.e_pulse)
    ok = _healthy(t)
    assert float(st.converged[ok].double().mean()) >= 0.99  # within its budget (100 iters)
    r = dev.g_range(cfg)
    target = t.layout.to_phys(t.layout.targets(W))
    err = ((t.conductances - target) / r).abs()
    # released cells were read inside the dead zone: true error <= dead zone + read noise
    assert float(err[st.converged].max()) < VIPIParams().tolerance + 5 * 0.01


def test_reset_start_counts_one_reset_pulse_per_cell():
    W = torch.randn(8, 12, generator=torch.Generator().manual_seed(1))
    base = {"programming.scheme": "vipi", "device.stuck_at": 0.0}
    t = hw.Tile(W, hw.load("rram_generic", **base, **{"programming.vipi.start": "reset"}))
    st = t.last_program
    n = t.conductances.numel()
    assert st.pulses == n + float(st.cell_pulses.sum())
    assert st.pulse_equivalents > n and st.cells_written == n
    assert float(st.converged.double().mean()) >= 0.99


@pytest.mark.parametrize("key,value,msg", [
    ("tolerance", 0.0, "0.0 is out of range"), ("tolerance", -0.01, "-0.01 is out of range"),
    ("n_iter", 0, "0 is out of range"), ("start", "zero", "'zero' is not one of")])
def test_bad_vipi_settings_in_a_hardware_model_name_the_key(key, value, msg):
    with pytest.raises(ConfigError) as e:
        hw.load("rram_generic", **{"programming.scheme": "vipi",
                                   f"programming.vipi.{key}": value})
    assert str(e.value).startswith(f"programming.vipi.{key}: {msg}")
    assert "\n" not in str(e.value)


def test_zero_gains_in_a_hardware_model_name_the_key():
    with pytest.raises(ConfigError, match=r"^programming\.vipi\.kp: kp \+ ki must be > 0"):
        hw.load("rram_generic", **{"programming.scheme": "vipi", "programming.vipi.kp": 0,
                                   "programming.vipi.ki": 0})


def test_selective_reprogramming_rewrites_only_cells_off_target():
    cfg = hw.load("rram_generic", **{"device.stuck_at": 0.0, "noise.read": None,
                                     "programming.scheme": "vipi"})
    W = torch.randn(10, 20, generator=torch.Generator().manual_seed(3))
    t = hw.Tile(W, cfg, seed=0)
    before = t.ledger.counts["verify_read"]
    assert t.reprogram(W, threshold=0.05) == 0  # everything within 5 % already
    assert t.ledger.counts["verify_read"] == before + t.conductances.numel()
    W2 = W.clone()
    W2[0] = -W2[0]  # one output row changes sign: only its cells are off target
    G_old = t.conductances.clone()
    n = t.reprogram(W2, threshold=0.05)
    changed = (t.conductances - G_old).abs() > 0
    assert 0 < n <= 2 * 20 and int(changed.sum()) <= n
    assert torch.allclose(t.read_weight()[0], W2[0], atol=0.05 * t.w_max)
    assert torch.equal(t.read_weight()[1:], (t.layout.weights(G_old))[1:])
