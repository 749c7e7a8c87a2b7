"""Program-and-verify on the active set against the full-array loop it replaced."""

import pytest
import torch

import snnx.hw as hw
from snnx.hw import device as dev
from snnx.hw.noise import read_noise
from snnx.hw.programming import ProgramStats
from snnx.hw.programming.one_shot import program_one_shot
from snnx.hw.programming.verify import program_verify

torch.set_num_threads(1)


def reference_verify(target, hw_cfg, gen, gain, faults):
    """The previous implementation (every round touches every cell), kept as the reference."""
    G, stats = program_one_shot(target, hw_cfg, gen)
    dev.apply_faults(G, faults, hw_cfg)
    s = dev.step_fraction(hw_cfg)
    r = dev.g_range(hw_cfg)
    gmin = hw_cfg.device.g_min
    tol = hw_cfg.programming_params.tolerance * s
    t_norm = (target - gmin) / r
    active = torch.ones_like(G, dtype=torch.bool)
    for it in range(hw_cfg.programming_params.max_iters):
        g = (G - gmin) / r
        var = read_noise(hw_cfg).cell(G, r)
        noise = torch.randn(G.shape, generator=gen, dtype=G.dtype)
        g_read = g + torch.sqrt(var) * noise if var is not None else g
        stats.verify_reads += float(active.sum())
        err = t_norm - g_read
        active = active & (err.abs() > tol)
        if not bool(active.any()):
            break
        n = torch.round(err.abs() / s).clamp_(1, hw_cfg.device.update.max_pulses) * active
        z = torch.randn(G.shape, generator=gen, dtype=G.dtype)
        g_new = dev.apply_pulses(g, n, hw_cfg, depress=err < 0, gain=gain, noise=z)
        G = g_new * r + gmin
        dev.apply_faults(G, faults, hw_cfg)
        stats.pulses += float(n.sum())
        stats.cells_written += int((n > 0).sum())
        stats.row_steps = stats.row_steps + n.amax(-1)
        stats.iterations = it + 1
    return G, stats


def level_targets(c, shape, gen):
    """Targets on the device's levels, half of them at g_min (as a differential pair)."""
    lv = torch.randint(0, c.device.levels, shape, generator=gen).double()
    lv = torch.where(torch.rand(shape, generator=gen, dtype=torch.float64) < 0.5, 0.0, lv)
    return c.device.g_min + dev.g_range(c) * lv / (c.device.levels - 1)


@pytest.mark.parametrize("over", [{}, {"noise.read.proportional.sigma": 0.03, "device.soft_bounded.beta_pot": 2.0,
                                      "noise.prog_sigma": 0.03}], ids=["rram_generic", "nonlinear"])
def test_statistics_match_full_array_loop(over):
    c = hw.load("rram_generic", **{"device.stuck_at": 0.0, **over})
    shape = (4, 256, 256)
    gen = torch.Generator().manual_seed(1)
    target = level_targets(c, shape, gen)
    gain = dev.sample_variation(shape, c, gen, torch.device("cpu"), torch.float64)
    r, cells = dev.g_range(c), target.numel()
    res = {}
    for name, fn in (("old", reference_verify), ("new", program_verify)):
        G, st = fn(target, c, torch.Generator().manual_seed(2), gain, None)
        err = ((G - target) / r).abs()
        # extras beyond the one-shot write and the first read of every cell
        res[name] = (float(err.mean()), float((err > 0.5 / 15).double().mean()),
                     (st.pulses - cells) / cells, (st.verify_reads - cells) / cells,
                     float(st.row_steps.mean()) - 1, (st.cells_written - cells) / cells)
        assert st.row_steps.shape == shape[:-1]
    old, new = res["old"], res["new"]
    assert new[0] == pytest.approx(old[0], rel=0.02)          # mean |error|
    assert new[1] == pytest.approx(old[1], rel=0.1)           # share off target at the end
    for k in (2, 3, 4, 5):                                     # pulses, reads, row steps, writes
        assert new[k] == pytest.approx(old[k], rel=0.06)


def test_stuck_cells_are_read_once_and_never_pulsed():
    """No programming or read noise, targets on levels: every healthy cell is on target at
    the first read, so only the stuck cells are off. They must leave at once."""
    c = hw.load("rram_generic", **{"noise.prog_sigma": 0.0, "noise.read.constant.sigma": 0.0,
                                   "device.soft_bounded.c2c_sigma": 0.0})
    shape = (2, 40, 30)
    gen = torch.Generator().manual_seed(3)
    target = level_targets(c, shape, gen)
    sa1 = torch.zeros(shape, dtype=torch.bool)
    sa1[0, ::3, ::2] = True                      # stuck high, mostly far from their targets
    sa0 = torch.zeros(shape, dtype=torch.bool)
    sa0[1, 1::3, ::5] = True
    faults = (sa0, sa1)
    n = target.numel()
    G, st = program_verify(target, c, torch.Generator().manual_seed(4), None, faults)
    assert (st.iterations, st.pulses, st.verify_reads, st.cells_written) == (0, n, n, n)
    assert torch.equal(G[sa1], torch.full_like(G[sa1], c.device.g_max))
    healthy = ~(sa0 | sa1)
    assert torch.equal(G[healthy], target[healthy])
    # the old loop kept pulsing the stuck cells for every round
    _, old = reference_verify(target, c, torch.Generator().manual_seed(4), None, faults)
    assert old.iterations == c.programming_params.max_iters and old.pulses > n


def test_pulse_counts_and_row_steps_against_direct_computation():
    """Without read and pulse noise one round fixes every cell: pulses = round(|e|/step)."""
    c = hw.load("rram_generic", **{"noise.read.constant.sigma": 0.0, "device.soft_bounded.c2c_sigma": 0.0,
                                   "noise.prog_sigma": 0.08})
    shape = (3, 50, 70)
    target = level_targets(c, shape, torch.Generator().manual_seed(5))
    G, st = program_verify(target, c, torch.Generator().manual_seed(6), None, None)
    G0, _ = program_one_shot(target, c, torch.Generator().manual_seed(6))  # same first draw
    s, r = 1.0 / (c.device.levels - 1), dev.g_range(c)
    e = (target - G0) / r
    n = torch.round(e.abs() / s).clamp(1, 31) * (e.abs() > 0.5 * s)
    assert st.iterations == 1
    assert st.pulses == pytest.approx(target.numel() + float(n.sum()))
    assert st.cells_written == target.numel() + int((n > 0).sum())
    assert torch.allclose(st.row_steps, 1.0 + n.amax(-1))
    expect = (G0 + torch.sign(e) * n * s * r).clamp(c.device.g_min, c.device.g_max)
    assert torch.allclose(G, expect, rtol=0, atol=1e-12 * r)


def test_flat_target_and_no_verify_cases():
    c = hw.load("rram_generic")
    t = level_targets(c, (500,), torch.Generator().manual_seed(7))
    G, st = program_verify(t, c, torch.Generator().manual_seed(8), None, None)
    assert G.shape == t.shape and st.row_steps.shape == ()
    assert float(((G - t).abs() / dev.g_range(c)).max()) < 0.2
    analog = hw.load("rram_generic", **{"device.levels": None})   # continuous: no verify
    _, st2 = program_verify(t, analog, torch.Generator().manual_seed(8), None, None)
    assert isinstance(st2, ProgramStats) and st2.iterations == 0 and st2.verify_reads == 0
