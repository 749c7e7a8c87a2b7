"""Weight sorting + bit stucking (snnx.transforms.reprogram): flips against an explicit
brute-force count, outputs unchanged by sorting, p = 1 / p = 0 limits, error bounds, seeds,
parameter errors."""

from __future__ import annotations

import doctest

import pytest
import torch

import snnx.transforms.reprogram as rp_mod
from snnx.errors import ConfigError, ShapeError
from snnx.transforms.reprogram import (cell_bits, decode, quantize, reprogram, significance,
                                       tiled_matmul)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def layers(seed=0, sizes=((12, 30), (5, 12))):
    g = gen(seed)
    return [torch.randn(o, i, generator=g, dtype=torch.float64) ** 3 for o, i in sizes]


def brute_force(weights, res, *, rows, outs, bits, sign, arrays, low_bits, p, seed,
                inferences):
    """Loops over loads and cells, bits taken with integer shifts of the codes."""
    C = 2 * bits if sign == "pair" else bits + 1
    n = rows * outs * C
    g = gen(seed) if seed is not None else None
    qs = [quantize(W, bits)[0] for W in weights]
    state = [[0] * n for _ in range(arrays)]
    flips = [[0] * n for _ in range(arrays)]
    for _ in range(inferences):
        for t, ld in enumerate(res.order):
            a = t % arrays
            draw = torch.rand(n, generator=g).tolist() if g is not None else None
            for rpos, i in enumerate(ld.rows.tolist()):
                for opos, o in enumerate(ld.outs.tolist()):
                    q = int(qs[ld.layer][o, i])
                    for c in range(C):
                        if sign == "pair":
                            k, side = c % bits, c // bits
                            want = (abs(q) >> k) & 1 if (q > 0) == (side == 0) and q != 0 else 0
                        else:
                            k = c if c < bits else bits
                            want = (abs(q) >> k) & 1 if c < bits else int(q < 0)
                        idx = (rpos * outs + opos) * C + c
                        if want != state[a][idx]:
                            if k < low_bits and (draw is None or not draw[idx] < p):
                                continue                  # stuck: keep the stale bit
                            state[a][idx] = want
                            flips[a][idx] += 1
    return torch.tensor(flips)


def test_doctest():
    assert doctest.testmod(rp_mod).failed == 0


@pytest.mark.parametrize("sign", ["pair", "column"])
@pytest.mark.parametrize("kw", [dict(), dict(sort="max"), dict(sort="mean", greedy=True),
                                dict(low_bits=2, p=0.0), dict(low_bits=3, p=0.5, seed=4),
                                dict(sort="max", greedy=True, low_bits=4, p=0.25, seed=5)])
def test_flips_equal_brute_force(sign, kw):
    W = layers(1)
    kw = dict(kw)
    seed = kw.pop("seed", None)
    low, p = kw.pop("low_bits", 0), kw.pop("p", 1.0)
    bits, rows, cols, arrays = 4, 8, 10, 2
    outs = cols // bits if sign == "pair" else cols // (bits + 1)
    res = reprogram(W, rows=rows, cols=cols, arrays=arrays, bits=bits, sign=sign,
                    low_bits=low, p=p, generator=None if seed is None else gen(seed),
                    inferences=2, **kw)
    ref = brute_force(W, res, rows=rows, outs=outs, bits=bits, sign=sign, arrays=arrays,
                      low_bits=low, p=p, seed=seed, inferences=2)
    assert torch.equal(res.flips, ref)
    assert res.flips_total == int(ref.sum()) == sum(res.flips_per_inference)
    assert res.flips_max == int(ref.max()) > 0


def test_cell_bits_roundtrip_and_layout():
    q = torch.arange(-15, 16)
    for sign in ("pair", "column"):
        b = cell_bits(q, 4, sign)
        assert torch.equal(decode(b, 4, sign), q)
    b = cell_bits(torch.tensor([5, -6]), 4, "pair")
    assert b.tolist() == [[1, 0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1, 0]]
    assert significance(4, "column").tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kw", [dict(sort="max"), dict(sort="mean"), dict(greedy=True),
                                dict(sort="max", greedy=True)])
def test_sorting_preserves_outputs(kw):
    W = layers(2, ((40, 100), (7, 40)))
    base = reprogram(W, rows=16, cols=24, arrays=3)
    res = reprogram(W, rows=16, cols=24, arrays=3, **kw)
    x = torch.randn(9, 100, generator=gen(3), dtype=torch.float64)
    for li, (Wl, q) in enumerate(zip(W, res.intended)):
        assert torch.equal(res.held[0][li], q) and torch.equal(base.held[0][li], q)
        loads = [ld for ld in res.order if ld.layer == li]
        tiles = [q[ld.outs][:, ld.rows] for ld in loads]
        y = tiled_matmul(x if li == 0 else x[:, :40], loads, tiles, Wl.shape[0])
        torch.testing.assert_close(y, (x if li == 0 else x[:, :40]) @ q.T)
        cover = torch.zeros_like(q, dtype=torch.long)
        for ld in loads:
            cover[ld.outs[:, None], ld.rows[None, :]] += 1
        assert bool((cover == 1).all())                  # every weight in exactly one tile
    assert [ld.layer for ld in res.order] == sorted(ld.layer for ld in res.order)
    if kw.get("sort"):
        assert any(not torch.equal(ld.rows, torch.sort(ld.rows).values) for ld in res.order)


def test_sorting_reduces_flips_when_rows_differ_in_scale():
    """Inputs of very different importance (row scales log-uniform over 3 decades): sorted
    sections group the near-zero rows, whose high-order cells then never change."""
    g = gen(4)
    W = [torch.randn(64, 256, generator=g, dtype=torch.float64)
         * 10 ** (-3 * torch.rand(256, generator=g, dtype=torch.float64)) for _ in range(2)]
    base = reprogram(W, rows=32, cols=64, arrays=2, inferences=2)
    srt = reprogram(W, rows=32, cols=64, arrays=2, sort="max", greedy=True, inferences=2)
    assert srt.flips_per_inference[1] < 0.9 * base.flips_per_inference[1]


def test_p1_equals_no_stucking():
    W = layers(5)
    a = reprogram(W, rows=8, cols=16, arrays=2, inferences=2)
    b = reprogram(W, rows=8, cols=16, arrays=2, low_bits=5, p=1.0, generator=gen(0),
                  inferences=2)
    assert torch.equal(a.flips, b.flips)
    assert all(torch.equal(x, y) for x, y in zip(a.held[1], b.held[1]))


@pytest.mark.parametrize("L", [1, 3])
def test_p0_keeps_low_bits_stale(L):
    """From erased arrays the low bits are never written: held = intended with the low L bits
    of each side cleared, and no low-order cell ever flips."""
    W = layers(6)
    bits = 6
    res = reprogram(W, rows=8, cols=12, arrays=2, bits=bits, low_bits=L, p=0.0, inferences=2)
    for q, h, s in zip(res.intended, res.held[1], res.scales):
        qi, hi = torch.round(q / s).long(), torch.round(h / s).long()
        assert torch.equal(hi, torch.sign(qi) * ((qi.abs() >> L) << L))
    low = (significance(bits) < L).repeat(res.flips.shape[1] // (2 * bits))
    assert int(res.flips[:, low].sum()) == 0 and int(res.flips[:, ~low].sum()) > 0


@pytest.mark.parametrize("sign,factor", [("column", 1), ("pair", 2)])
@pytest.mark.parametrize("L", [2, 4])
def test_held_error_bounded(sign, factor, L):
    W = layers(7, ((16, 40), (6, 16)))
    bits = 8
    res = reprogram(W, rows=8, cols=27, arrays=2, bits=bits, sign=sign, low_bits=L, p=0.3,
                    generator=gen(1), inferences=3)
    worst = 0
    for inf in range(3):
        for q, h, s in zip(res.intended, res.held[inf], res.scales):
            err = torch.round((h - q) / s).abs()
            worst = max(worst, int(err.max()))
    assert 0 < worst <= factor * ((1 << L) - 1)
    # high-order columns always hold the intended bits, every side
    tiles_per_inf = len(res.order)
    for t, ld in enumerate(res.order):
        cells = res.held_cells[tiles_per_inf + t]
        q, _ = quantize(W[ld.layer], bits)
        want = cell_bits(q[ld.outs][:, ld.rows].T, bits, sign)
        high = significance(bits, sign) >= L
        assert torch.equal(cells[..., high], want[..., high])


def test_seeded_reproducibility():
    W = layers(8)
    kw = dict(rows=8, cols=16, arrays=2, low_bits=3, p=0.4, inferences=2)
    a = reprogram(W, generator=gen(11), **kw)
    b = reprogram(W, generator=gen(11), **kw)
    c = reprogram(W, generator=gen(12), **kw)
    assert torch.equal(a.flips, b.flips) and torch.equal(a.held[1][0], b.held[1][0])
    assert not torch.equal(a.flips, c.flips)


@pytest.mark.parametrize("kw,name", [
    (dict(p=1.5), "p"), (dict(p=-0.1), "p"), (dict(low_bits=9), "low_bits"),
    (dict(low_bits=-1), "low_bits"), (dict(rows=0), "rows"), (dict(arrays=0), "arrays"),
    (dict(cols=0), "cols"), (dict(cols=7), "cols"), (dict(bits=0), "bits"),
    (dict(sign="offset"), "sign"), (dict(sort="min"), "sort"),
    (dict(low_bits=2, p=0.5), "generator"), (dict(inferences=0), "inferences")])
def test_parameter_errors(kw, name):
    args = dict(rows=8, cols=16, arrays=2)
    args.update(kw)
    with pytest.raises(ConfigError, match=f"^{name}:"):
        reprogram(layers(0), **args)
    with pytest.raises(ShapeError, match=r"^weights\[0\]"):
        reprogram([torch.ones(3)], rows=8, cols=16, arrays=2)
