"""Binary/ternary layers and the CIM-Explorer crossbar modes (METHODS.md 6).

Every physics check compares with an independent computation: the integer product
``X W^T``, an explicit per-cell loop, a scalar ADC, or the closed-form clipped Gaussian.
"""

from __future__ import annotations

import math

import pytest
import torch

from snnx.errors import ConfigError, ShapeError
from snnx.nn.binary import (BNN, BinaryLinear, TernaryLinear, binarize, encode_inputs,
                            fold_bn_sign, fold_bn_ternary, ternarize, train_bnn)
from snnx.nn.binary_eval import (accuracy_table, evaluate_crossbar, modes_for, plot_accuracy,
                                 summarize, write_csv)
from snnx.nn.binary_map import (MODES, BinaryCell, _sense, adc, calibrate_alpha, cim_matmul,
                                map_layer, program_currents)

# METHODS.md 6 table: cells per weight, cycles, ADC reads per output (one array)
TABLE = {"bnn_i": (2, 1, 1), "bnn_ii": (2, 1, 1), "bnn_iii": (1, 2, 2), "bnn_iv": (1, 2, 2),
         "bnn_v": (2, 1, 1), "bnn_vi": (4, 1, 1), "tnn_i": (4, 1, 1), "tnn_ii": (2, 2, 2),
         "tnn_iii": (2, 2, 2), "tnn_iv": (2, 2, 4), "tnn_v": (2, 2, 4)}
SINGLE = ("bnn_iii", "bnn_iv", "bnn_v", "tnn_iv", "tnn_v")


def _draw(kind, shape, gen):
    vals = torch.tensor([-1, 1] if kind == "bnn" else [-1, 0, 1])
    return vals[torch.randint(len(vals), shape, generator=gen)]


def _raw_currents_loop(X, mapped, I_cell, mode):
    """Explicit reference: column currents per cycle from the mode's drive table."""
    spec = MODES[mode]
    B, N = X.shape
    out = torch.zeros(spec.cycles, B, I_cell.shape[1], dtype=torch.float64)
    for p, plane in enumerate(spec.planes):
        for b in range(B):
            for i in range(N):
                for s, drive in enumerate(plane):
                    if int(X[b, i]) in drive:
                        out[p, b] += I_cell[i * spec.slots + s]
    return out


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_is_the_exact_integer_product(mode):
    gen = torch.Generator().manual_seed(list(MODES).index(mode))
    kind = MODES[mode].kind
    for n_in, n_out, batch in [(1, 1, 3), (7, 5, 6), (256, 9, 4), (300, 3, 2)]:
        W, X = _draw(kind, (n_out, n_in), gen), _draw(kind, (batch, n_in), gen)
        if kind == "tnn":
            X[0] = 0  # an all-zero input drives nothing
        y, counts = cim_matmul(X, map_layer(W, mode))
        assert torch.equal(y, (X @ W.T).to(torch.float64))
        assert counts["mvms"] == batch


def test_binary_weights_also_run_on_ternary_modes():
    gen = torch.Generator().manual_seed(1)
    W, X = _draw("bnn", (4, 50), gen), _draw("tnn", (5, 50), gen)
    for mode in modes_for(BNN((2, 2), kind="ternary")):
        y, _ = cim_matmul(X, map_layer(W, mode))
        assert torch.equal(y, (X @ W.T).double())


@pytest.mark.parametrize("mode", SINGLE)
def test_single_ended_offset_removes_the_hrs_floor(mode):
    gen = torch.Generator().manual_seed(3)
    kind = MODES[mode].kind
    W, X = _draw(kind, (6, 40), gen), _draw(kind, (5, 40), gen)
    cell = BinaryCell(i_h=8e-6, i_l=50e-6)
    mapped = map_layer(W, mode, cell)
    I_cell = program_currents(mapped)
    S, _, n_drv = _sense(X, mapped, I_cell)
    raw = _raw_currents_loop(X, mapped, I_cell, mode)  # (cycles, B, cols)
    # ADC input = raw column current minus (driven rows) * I_H = i_mm * (driven LRS cells)
    lrs_driven = _raw_currents_loop(X, mapped, mapped.lrs.double(), mode)
    S_flat = S[:, :, 0].reshape(raw.shape)
    torch.testing.assert_close(S_flat, raw - n_drv[..., :1] * cell.i_h, rtol=0, atol=1e-15)
    torch.testing.assert_close(S_flat, cell.i_mm * lrs_driven, rtol=0, atol=1e-15)
    assert bool((raw > S_flat + 1e-12).all())  # the floor is really there (HRS is not 0)


@pytest.mark.parametrize("mode", SINGLE)
def test_single_ended_bias_from_clipped_hrs_matches_closed_form(mode):
    """Mean error over programmings = n_drv * (E[max(0, I_H + s xi)] - I_H) * coef / i_mm."""
    kind = MODES[mode].kind
    gen = torch.Generator().manual_seed(4)
    W, X = _draw(kind, (8, 64), gen), _draw(kind, (1, 64), gen)
    X[0, :48] = 1  # unbalanced input: the v+ and v- floors do not cancel
    cell, s = BinaryCell(), 6e-6
    mapped = map_layer(W, mode, cell)
    err = torch.stack([cim_matmul(X, mapped, sigma_h=s, gen=gen)[0] for _ in range(400)])
    err = (err - (X @ W.T).double()).mean(0)[0]
    mu = cell.i_h / s
    phi, Phi = math.exp(-mu * mu / 2) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(mu / 2 ** .5))
    shift = cell.i_h * Phi + s * phi - cell.i_h  # clipped-Gaussian mean minus I_H
    # expected: sum over reads of coef * (driven HRS cells) * shift / i_mm
    spec = MODES[mode]
    hrs = _raw_currents_loop(X, mapped, (~mapped.lrs).double(), mode)[:, 0]  # (cycles, cols)
    hrs = hrs.reshape(spec.cycles, len(spec.roles[0]), -1)
    coef = torch.tensor(spec.coef, dtype=torch.float64)[..., None]
    expect = (coef * hrs).sum((0, 1)) * shift / cell.i_mm
    assert expect.abs().max() > 0.5  # the effect is visible at this size
    torch.testing.assert_close(err, expect, rtol=0.15, atol=0.25)


def _adc_scalar(v, bits, lo, hi, signed):
    levels = 2 ** bits - (1 if signed else 0)
    step = (hi - lo) / (levels - 1)
    v = min(max(v, lo), hi)
    return lo + round((v - lo) / step) * step


@pytest.mark.parametrize("bits", [3, 4, 5, 6, 8])
@pytest.mark.parametrize("signed", [False, True])
def test_adc_matches_scalar_reference(bits, signed):
    gen = torch.Generator().manual_seed(bits)
    hi = 3e-4
    lo = -hi if signed else 0.0
    v = (torch.rand(400, generator=gen, dtype=torch.float64) * 3 - 1.5) * hi
    q = adc(v, bits=bits, lo=lo, hi=hi, signed=signed)
    ref = torch.tensor([_adc_scalar(float(a), bits, lo, hi, signed) for a in v],
                       dtype=torch.float64)
    torch.testing.assert_close(q, ref, rtol=0, atol=1e-18)
    assert len(set(q.tolist())) <= 2 ** bits - (1 if signed else 0)
    assert float(q.min()) == pytest.approx(lo) and float(q.max()) == pytest.approx(hi)
    if signed:
        assert float(adc(torch.zeros(1, dtype=torch.float64), bits=bits, lo=lo, hi=hi,
                         signed=True)) == 0.0
    assert adc(v, bits=None, lo=lo, hi=hi, signed=signed) is v


@pytest.mark.parametrize("mode", ["bnn_i", "bnn_iii", "tnn_iv", "bnn_vi"])
def test_cim_matmul_adc_against_explicit_pipeline(mode):
    gen = torch.Generator().manual_seed(5)
    spec, cell = MODES[mode], BinaryCell()
    W, X = _draw(spec.kind, (3, 20), gen), _draw(spec.kind, (4, 20), gen)
    mapped = map_layer(W, mode, cell)
    I_cell = program_currents(mapped, sigma_h=2e-6, sigma_l=3e-6, gen=gen)
    bits, alpha = 4, 0.4
    y, _ = cim_matmul(X, mapped, currents=I_cell, adc_bits=bits, alpha=alpha)
    raw = _raw_currents_loop(X, mapped, I_cell, mode)  # (cycles, B, roles * n_out)
    n_max = 20
    ref = torch.zeros(4, 3, dtype=torch.float64)
    for p in range(spec.cycles):
        for b in range(4):
            n_drv = sum(int(X[b, i]) in d for i in range(20) for d in spec.planes[p])
            for j in range(3):
                cols = raw[p, b, j::3]
                if spec.sense == "diff":
                    reads = [_adc_scalar(float(cols[0] - cols[1]), bits, -alpha * n_max *
                                         cell.i_mm, alpha * n_max * cell.i_mm, True)]
                else:
                    reads = [_adc_scalar(float(c - n_drv * cell.i_h), bits, 0.0,
                                         alpha * n_max * cell.i_l, False) for c in cols]
                ref[b, j] += sum(k * r for k, r in zip(spec.coef[p], reads)) / cell.i_mm
    a, bx, c = spec.corr
    ref += a * W.sum(1).double() + (bx * X.sum(1) + c * X.abs().sum(1)).double()[:, None]
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-8)  # digital LSB 2^-30


def test_calibrated_alpha_is_the_quantile_of_profiled_currents():
    gen = torch.Generator().manual_seed(6)
    W, X = _draw("bnn", (16, 64), gen), _draw("bnn", (200, 64), gen)
    mapped = map_layer(W, "bnn_i")
    alpha = calibrate_alpha(X, mapped, quantile=0.9)
    signal = ((X == 1).double() @ W.T.double()).abs() / 64  # |sum w v| / n_max
    assert alpha == pytest.approx(float(torch.quantile(signal.flatten(), 0.9)), rel=1e-12)
    assert 0.0 < alpha <= 1.0


def test_variation_draw_statistics_and_persistence():
    gen = torch.Generator().manual_seed(7)
    W = _draw("bnn", (256, 256), gen)
    mapped = map_layer(W, "bnn_i")
    cell, sh, sl = mapped.cell, 4e-6, 3e-6
    I_cell = program_currents(mapped, sigma_h=sh, sigma_l=sl,
                              gen=torch.Generator().manual_seed(1))
    again = program_currents(mapped, sigma_h=sh, sigma_l=sl,
                             gen=torch.Generator().manual_seed(1))
    assert torch.equal(I_cell, again)  # one programming = one fixed draw
    assert float(I_cell.min()) >= 0.0
    hrs, lrs = I_cell[~mapped.lrs], I_cell[mapped.lrs]
    mu = cell.i_h / sh
    Phi = 0.5 * (1 + math.erf(mu / math.sqrt(2)))
    phi = math.exp(-mu * mu / 2) / math.sqrt(2 * math.pi)
    assert float((hrs == 0).double().mean()) == pytest.approx(1 - Phi, abs=0.005)
    assert float(hrs.mean()) == pytest.approx(cell.i_h * Phi + sh * phi, rel=0.01)
    assert float(lrs.mean()) == pytest.approx(cell.i_l, rel=0.002)
    assert float(lrs.std()) == pytest.approx(sl, rel=0.02)
    nominal = program_currents(mapped)
    assert set(nominal.unique().tolist()) == {cell.i_h, cell.i_l}


@pytest.mark.parametrize("mode", list(MODES))
def test_counts_follow_the_table(mode):
    per_w, cycles, reads = TABLE[mode]
    spec = MODES[mode]
    assert (spec.cells_per_weight, spec.cycles, spec.cycles * spec.signals) == TABLE[mode]
    gen = torch.Generator().manual_seed(8)
    W = _draw(spec.kind, (5, 100), gen)
    m = map_layer(W, mode)
    _, c = cim_matmul(_draw(spec.kind, (3, 100), gen), m)
    assert m.lrs.numel() == c["cells"] == 100 * 5 * per_w
    assert c["cycles"] == cycles and c["adc_conversions"] == reads * 5
    m2 = map_layer(W, mode, rows_per_array=50 * spec.slots)  # two arrays per column
    assert m2.counts()["adc_conversions"] == 2 * reads * 5 and m2.counts()["arrays"] == 2


def _random_bn(n, gen, fan_in):
    bn = torch.nn.BatchNorm1d(n).double().eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n, generator=gen, dtype=torch.float64) * fan_in / 4)
        bn.running_var.copy_(torch.rand(n, generator=gen, dtype=torch.float64) * fan_in + 0.1)
        bn.weight.copy_(torch.randn(n, generator=gen, dtype=torch.float64))
        bn.weight[0] = 0.0
        bn.bias.copy_(torch.randn(n, generator=gen, dtype=torch.float64))
    return bn


def test_bn_folds_into_integer_sign_threshold():
    gen, fan_in = torch.Generator().manual_seed(9), 40
    bn = _random_bn(64, gen, fan_in)
    assert bool((bn.weight < 0).any())
    y = torch.arange(-fan_in, fan_in + 1, dtype=torch.float64)[:, None].expand(-1, 64)
    ref = torch.where(bn(y) >= 0, 1, -1)
    B, f = fold_bn_sign(bn, fan_in)
    got = torch.where(f * y.long() - B >= 0, 1, -1)
    assert torch.equal(got, ref)
    assert B.dtype == torch.int64 and set(f.tolist()) == {-1, 1}


def test_bn_folds_into_ternary_thresholds():
    gen, fan_in, delta = torch.Generator().manual_seed(10), 30, 0.4
    bn = _random_bn(64, gen, fan_in)
    y = torch.arange(-fan_in, fan_in + 1, dtype=torch.float64)[:, None].expand(-1, 64)
    a = bn(y)
    ref = (a > delta).long() - (a < -delta).long()
    H, L, f = fold_bn_ternary(bn, fan_in, delta)
    z = f * y.long()
    assert torch.equal((z >= H).long() - (z < L).long(), ref)
    assert bool((ref == 0).any()) and bool((ref != 0).any())


def test_ste_gradients():
    x = torch.tensor([-2.0, -1.0, -0.3, 0.0, 0.4, 1.5], requires_grad=True)
    g = torch.arange(1.0, 7.0)
    assert binarize(x).tolist() == [-1, -1, -1, 1, 1, 1]
    (binarize(x) * g).sum().backward()
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 0]
    x.grad = None
    assert ternarize(x, 0.35).tolist() == [-1, -1, 0, 0, 1, 1]
    (ternarize(x, 0.35) * g).sum().backward()
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 0]
    for cls in (BinaryLinear, TernaryLinear):
        lin = cls(5, 3, gen=torch.Generator().manual_seed(0))
        with torch.no_grad():
            lin.weight[0, 0] = 1.5  # outside [-1, 1]: no gradient
        inp, up = torch.randn(4, 5), torch.randn(4, 3)
        (lin(inp) * up).sum().backward()
        expect = (up.T @ inp) * (lin.weight.abs() <= 1)
        torch.testing.assert_close(lin.weight.grad, expect)
        assert lin.weight.grad[0, 0] == 0
    t = TernaryLinear(50, 4, gen=torch.Generator().manual_seed(1)).weight_int()
    assert set(t.unique().tolist()) == {-1, 0, 1}


@pytest.fixture
def digits():
    from snnx.data import load_digits_dataset
    tr, te = load_digits_dataset(seed=0).source_target()
    return (torch.tensor(tr.X[:, 0]), torch.tensor(tr.y), torch.tensor(te.X[:, 0]),
            torch.tensor(te.y))


@pytest.mark.parametrize("kind", ["binary", "ternary"])
def test_tiny_net_trains_and_its_crossbar_twin_is_exact(kind, digits):
    xtr, ytr, xte, yte = digits
    xtr, xte = encode_inputs(xtr, kind), encode_inputs(xte, kind)
    net = BNN((64, 32, 10), kind=kind, seed=0)
    losses = train_bnn(net, xtr, ytr, epochs=4, lr=1e-2)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        soft = net(xte)
    acc = float((soft.argmax(1) == yte).double().mean())
    assert acc > 0.75
    W = net.weights_int()
    ints = net.integer_forward(xte.long(), lambda i, h: h.double() @ W[i].T.double())
    torch.testing.assert_close(ints.float(), soft, rtol=1e-4, atol=1e-4)
    for mode in modes_for(net):
        res = evaluate_crossbar(net, xte.long(), yte, mode=mode)
        assert res["accuracy"] == acc, mode
    res = evaluate_crossbar(net, xte.long(), yte, mode=[None, modes_for(net)[0]])
    assert res["accuracy"] == acc and res["layers"][0] == {"mode": "digital"}


def test_accuracy_table_csv_and_figure(digits, tmp_path):
    xtr, ytr, xte, yte = digits
    xtr, xte = encode_inputs(xtr, "binary"), encode_inputs(xte, "binary").long()
    net = BNN((64, 16, 10), seed=1)
    train_bnn(net, xtr, ytr, epochs=2)
    rows = accuracy_table(net, xte[:120], yte[:120], x_cal=xtr[:64].long(),
                          modes=["bnn_i", "bnn_v"], adc_bits=(3, None),
                          sigma_h=(0.0, 8e-6), seeds=(0, 1))
    assert len(rows) == 2 * 2 * 2 * 2
    ideal = [r for r in rows if r["adc_bits"] is None and r["sigma_h"] == 0.0]
    with torch.no_grad():
        ref = float((net(xte[:120].float()).argmax(1) == yte[:120]).double().mean())
    assert len(ideal) == 4 and all(r["accuracy"] == ref for r in ideal)
    noisy = {r["seed"]: r["accuracy"] for r in rows
             if r["mode"] == "bnn_v" and r["adc_bits"] is None and r["sigma_h"] > 0}
    summ = summarize(rows)
    assert len(summ) == 8 and all(s["n"] == 2 for s in summ)
    s = next(s for s in summ if s["mode"] == "bnn_v" and s["adc_bits"] is None
             and s["sigma_h"] > 0)
    assert s["mean"] == pytest.approx(sum(noisy.values()) / 2)
    path = write_csv(rows, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert len(lines) == 17 and lines[0].startswith("net,mode,adc_bits")
    assert sum(",ideal," in line for line in lines) == 8
    png = plot_accuracy(summ, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_name_the_parameter():
    W = torch.tensor([[1, 0, -1]])
    with pytest.raises(ShapeError, match=r"^W_int: bnn values"):
        map_layer(W, "bnn_i")
    with pytest.raises(ConfigError, match=r"^mode: 'bnn_vii' is not one of"):
        map_layer(W, "bnn_vii")
    m = map_layer(W, "tnn_i")
    with pytest.raises(ShapeError, match=r"^X_int: expected \(B, 3\)"):
        cim_matmul(torch.ones(2, 4, dtype=torch.long), m)
    with pytest.raises(ConfigError, match=r"^alpha: must be in"):
        cim_matmul(torch.ones(2, 3, dtype=torch.long), m, alpha=0.0)
    with pytest.raises(ConfigError, match=r"^rows_per_array: must be a positive multiple"):
        map_layer(W, "tnn_i", rows_per_array=255)
    with pytest.raises(ConfigError, match=r"^sigma_h: must be"):
        program_currents(m, sigma_h=-1.0)
    with pytest.raises(ConfigError, match=r"^cell.i_h: need 0 < i_h < i_l"):
        BinaryCell(i_h=0.0)
    with pytest.raises(ConfigError, match=r"^kind: 'quaternary'"):
        BNN((4, 2), kind="quaternary")


def test_cell_from_the_binary_cim_preset():
    import snnx.hw as hw
    cell = BinaryCell.from_hw(hw.load("binary_cim"))
    assert cell.i_h == pytest.approx(5e-6) and cell.i_l == pytest.approx(30e-6)
    assert cell.i_mm == pytest.approx(25e-6)
