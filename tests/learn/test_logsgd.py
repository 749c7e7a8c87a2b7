"""Log-domain SGD: trajectory vs the ideal continuous-time SGD with L2, and its precision."""

from __future__ import annotations

import math

import pytest
import torch

import snnx.hw as hw
from snnx.learn import LogSGD, sgdr_reference
from snnx.nn import MLP

LR, LAM, STEPS = 0.05, 0.05, 1500


def _task(seed: int):
    g = torch.Generator().manual_seed(seed)
    W_true = torch.rand(2, 4, generator=g, dtype=torch.float64) * 2 - 1
    xs = 0.5 * torch.randn(STEPS, 4, generator=g, dtype=torch.float64)
    ys = xs @ W_true.T + 0.05 * torch.randn(STEPS, 2, generator=g, dtype=torch.float64)
    return xs, ys


def _run(bits: int, seed: int = 0):
    """Linear regressor y = W x (4 -> 2) on ideal tiles, one sample per step.

    ``array.w_headroom`` 100: every step writes the integrators' change (incl. quantisation
    steps both ways) as pulses on the pair; the ideal preset never refreshes a pair, so with
    its 4x headroom the cumulative potentiation would saturate the cells.
    """
    xs, ys = _task(seed)
    net = MLP([4, 2], activation="identity", bias=False, seed=seed, dtype=torch.float64)
    ana = net.to_analog(hw.load("ideal", **{"array.w_headroom": 100.0}))
    W0 = ana.layers[0].tile.read_weight().clone()
    rule = LogSGD(lr=LR, weight_decay=LAM, state_bits=bits, loss="mse", w_range=2.0, seed=seed)
    rule.bind(ana)
    traj = [ana.layers[0].tile.read_weight().clone()]
    for x, y in zip(xs, ys):
        rule.step(ana, x[None], y[None])
        traj.append(ana.layers[0].tile.read_weight().clone())
    return torch.stack(traj), sgdr_reference(W0, xs, ys, LR, LAM), rule, ana


def nmse(traj: torch.Tensor, ref: torch.Tensor) -> float:
    """mean_t ‖W_hw(t) - W_ideal(t)‖²_F / mean_t ‖W_ideal(t)‖²_F over the whole trajectory."""
    return float(((traj - ref) ** 2).sum((1, 2)).mean() / (ref ** 2).sum((1, 2)).mean())


def test_logsgd_tracks_ideal_continuous_sgdr_at_8_bits():
    """Normalised MSE of the trajectory (see :func:`nmse`) against the exact solution of
    ``τ dW/dt = (y - Wx)x^T - λW`` (x, y held for Δt = ητ), η = 0.05, λ = 0.05, 1500 steps
    of a noisy 4 -> 2 linear regression, 8-bit capacitor state (default 100 pA - 100 nA):
    below 0.87 %, and clearly worse at 4 bits."""
    traj8, ref, rule, ana = _run(8)
    err8 = nmse(traj8, ref)
    assert err8 < 0.0087, err8
    # on ideal tiles the crossbar mirrors the integrators exactly
    torch.testing.assert_close(ana.layers[0].tile.read_weight(), rule._weights(0),
                               rtol=0, atol=1e-12)
    traj4, ref4, _, _ = _run(4)
    err4 = nmse(traj4, ref4)
    assert err4 > 5 * err8, (err4, err8)
    # the learnt weights approach the ridge solution
    assert float((traj8[-1] - ref[-1]).norm() / ref[-1].norm()) < 0.1


def test_reference_exact_flow_vs_euler():
    xs, ys = _task(1)
    W0 = torch.zeros(2, 4, dtype=torch.float64)
    ex = sgdr_reference(W0, xs[:300], ys[:300], 0.01, 0.1, method="exact")
    eu = sgdr_reference(W0, xs[:300], ys[:300], 0.01, 0.1, method="euler")
    assert ex.shape == (301, 2, 4)
    assert nmse(eu, ex) < 1e-4  # Euler is O(η) close for small η
    with pytest.raises(ValueError, match="method: 'rk4' is not one of exact, euler"):
        sgdr_reference(W0, xs[:2], ys[:2], 0.01, 0.1, method="rk4")


def test_circuit_numbers_and_errors():
    r = LogSGD(state_bits=8)
    assert r.u_t == pytest.approx(0.025852, rel=1e-3)
    assert r.rho == pytest.approx(1000 ** (1 / 255))
    assert r.voltage_step == pytest.approx(1.3 * r.u_t * math.log(r.rho))
    with pytest.raises(ValueError, match="state_bits: must be in 1..24, got 0"):
        LogSGD(state_bits=0)
    with pytest.raises(ValueError, match="rounding: 'floor' is not one of stochastic, nearest"):
        LogSGD(rounding="floor")
    with pytest.raises(ValueError, match="i_min, i_max: need 0 < i_min < i_max"):
        LogSGD(i_min=1e-7, i_max=1e-9)


def test_leak_decays_weights_and_caps_area_is_registered():
    net = MLP([3, 2], activation="identity", bias=False, dtype=torch.float64).to_analog(
        hw.load("ideal", **{"array.w_headroom": 100.0}))
    rule = LogSGD(lr=0.1, weight_decay=1.0, loss="mse", w_range=2.0, rounding="nearest")
    rule.bind(net)
    W0 = net.layers[0].tile.read_weight().clone()
    x = torch.zeros(1, 3, dtype=torch.float64)
    for _ in range(20):  # no input: pure L2 leak, |W| decays like (1 - ηλ)^t
        rule.step(net, x, net.record(x).logits)
    W = net.layers[0].tile.read_weight()
    ratio = float(W.norm() / W0.norm())
    assert 0.9 ** 20 * 0.8 < ratio < 0.9 ** 20 * 1.25
    assert any(k.endswith("/caps") for k in net.ledger.area)
