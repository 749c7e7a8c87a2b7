"""ReSNA thermal + shot + RTN noise (snnx.hw.rtn): moments checked against independent formulas."""

import math

import pytest
import torch
from scipy import stats

from snnx.errors import ConfigError, ShapeError
from snnx.hw.rtn import (RTNParams, cell_moments, noisy_read, quantize_to_cells,
                         read_moments, resna_noisy_weight, rtn_amplitude, sample_conductance,
                         thermal_shot_sigma)

K, Q = 1.380649e-23, 1.602176634e-19


def sigma_ref(G, f=1e8, T=300.0, V=0.2):
    return math.sqrt(G * f * (4 * K * T + 2 * Q * V)) / V


def rtn_ref(G, a=1.662e-7, b=0.0015):
    tau = b * G + a
    return G * tau / (G - tau)


def test_amplitudes_match_the_formulas():
    p = RTNParams()
    G = torch.tensor([333e-6, 166.5e-6, 10e-6, 0.0, 2e-7], dtype=torch.float64)
    for i, g in enumerate(G.tolist()[:3]):
        assert float(thermal_shot_sigma(G, p)[i]) == pytest.approx(sigma_ref(g), rel=1e-12, abs=0)
        assert float(rtn_amplitude(G, p)[i]) == pytest.approx(rtn_ref(g), rel=1e-12, abs=0)
    assert float(rtn_ref(333e-6)) == pytest.approx(6.670e-7, rel=1e-3, abs=0)  # ~0.2 % of G_max
    assert float(rtn_amplitude(G, p)[3]) == 0.0 and float(thermal_shot_sigma(G, p)[3]) == 0.0
    assert float(rtn_amplitude(G, p)[4]) == 0.0          # near the pole G = tau: switched off
    assert RTNParams(bandwidth=1e9).bandwidth == 1e9


def test_quantisation_to_two_bit_cells():
    p = RTNParams()
    w = torch.tensor([0.8, -0.45, 0.15, 0.25, 0.0, -0.8], dtype=torch.float64)
    G, sign, s = quantize_to_cells(w, p)
    assert float(s) == pytest.approx(0.4)
    assert torch.allclose(G / p.g_step, torch.tensor([2.0, 1.0, 0.0, 1.0, 0.0, 2.0],
                                                     dtype=torch.float64))
    assert p.g_step == pytest.approx(166.5e-6) and float(G.max()) == pytest.approx(333e-6)
    assert torch.equal(sign, torch.sign(w))


def test_rtn_is_two_valued_with_probability_half():
    p = RTNParams(bandwidth=0.0)  # no thermal/shot: only the telegraph term
    G = torch.full((40000,), 333e-6, dtype=torch.float64)
    d = sample_conductance(G, p, torch.Generator().manual_seed(0)) - G
    amp = rtn_ref(333e-6)
    up = d > 0.5 * amp
    assert torch.allclose(d[up], torch.full_like(d[up], amp), rtol=1e-9, atol=0)
    assert bool((d[~up] == 0).all())
    frac = float(up.double().mean())
    assert abs(frac - 0.5) < 4 * math.sqrt(0.25 / 40000)


@pytest.mark.parametrize("level", [1, 2])
def test_sample_moments_match_the_formulas(level):
    p = RTNParams()
    g = level * p.g_step
    n = 40000
    G = torch.full((n,), g, dtype=torch.float64)
    d = sample_conductance(G, p, torch.Generator().manual_seed(level)) - G
    mean = 0.5 * rtn_ref(g)
    var = sigma_ref(g) ** 2 + rtn_ref(g) ** 2 / 4
    sh, v = cell_moments(G[:1], p)
    assert float(sh) == pytest.approx(mean, rel=1e-12, abs=0)
    assert float(v) == pytest.approx(var, rel=1e-12, abs=0)
    assert abs(float(d.mean()) - mean) < 4 * math.sqrt(var / n)
    # variance: SE from the sample fourth moment (the RTN part is not Gaussian)
    m4 = float(((d - d.mean()) ** 4).mean())
    assert abs(float(d.var()) - var) < 4 * math.sqrt((m4 - var ** 2) / n)
    # the Gaussian part alone: chi-square with the RTN switched off
    p0 = RTNParams(a_rtn=0.0, b_rtn=0.0)
    d0 = sample_conductance(G, p0, torch.Generator().manual_seed(9)) - G
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], n)
    assert lo <= float((d0 ** 2).sum()) / sigma_ref(g) ** 2 <= hi


def test_read_output_moments_match_many_sampled_reads():
    p = RTNParams(bandwidth=1e9)
    gen = torch.Generator().manual_seed(4)
    M, N, S = 48, 6, 3000
    w = torch.randn(M, N, generator=gen, dtype=torch.float64)
    G, _, _ = quantize_to_cells(w, p)
    x = torch.rand(2, M, generator=gen, dtype=torch.float64) * 0.2
    shift, var = read_moments(x, G, p)
    # independent: per-read, per-cell samples (S reads of each input row)
    Gs = sample_conductance(G.expand(S, M, N).contiguous(), p, gen)       # (S, M, N)
    y = torch.einsum("bm,smn->sbn", x, Gs) - (x @ G)
    assert torch.all((y.mean(0) - shift).abs() < 4 * torch.sqrt(var / S))
    assert torch.allclose(y.var(0), var, rtol=4 * math.sqrt(2 / S), atol=0)
    # the engine's Gaussian draw has the same moments
    yg = noisy_read(x.repeat(S, 1), G, p, gen).view(S, 2, N) - x @ G
    assert torch.all((yg.mean(0) - shift).abs() < 4 * torch.sqrt(var / S))
    assert torch.allclose(yg.var(0), var, rtol=4 * math.sqrt(2 / S), atol=0)
    # the shift is x @ (dG_rtn / 2), the variance x^2 @ (sigma^2 + dG_rtn^2 / 4), explicitly
    sig = torch.tensor([[sigma_ref(float(g), f=1e9) for g in row] for row in G.tolist()],
                       dtype=torch.float64)
    rt = torch.tensor([[rtn_ref(float(g)) if g > 0 else 0.0 for g in row] for row in G.tolist()],
                      dtype=torch.float64)
    assert torch.allclose(shift, x @ (rt / 2), rtol=1e-9, atol=0)
    assert torch.allclose(var, (x * x) @ (sig ** 2 + rt ** 2 / 4), rtol=1e-9, atol=0)


def test_resna_noisy_weight_forward_and_straight_through_gradient():
    p = RTNParams()
    w = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    c = torch.randn(8, 5, dtype=torch.float64)
    out = resna_noisy_weight(w, p, torch.Generator().manual_seed(3))
    (out * c).sum().backward()
    assert torch.equal(w.grad, c)
    # forward equals the explicit quantise -> noisy read -> map back
    G, sign, s = quantize_to_cells(w, p)
    ref = sign * sample_conductance(G, p, torch.Generator().manual_seed(3)) / p.g_step * s
    assert torch.allclose(out.detach(), ref)
    assert not torch.allclose(out.detach(), G / p.g_step * s * sign)  # noise is there
    wq = sign * G / p.g_step * s
    assert float((out.detach() - wq).abs().max()) < 0.01 * float(w.detach().abs().max())


def test_errors():
    with pytest.raises(ConfigError, match=r"^rtn\.bits:"):
        RTNParams(bits=0)
    with pytest.raises(ConfigError, match=r"^rtn\.g_max:"):
        RTNParams(g_max=0.0)
    with pytest.raises(ShapeError, match=r"^x:"):
        read_moments(torch.ones(2, 3), torch.ones(4, 2), RTNParams())
