"""Tests of snnx.hw.parasitics against an independent nodal solve of the contract-2 circuit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnx.errors import ConfigError, ShapeError
from snnx.hw import parasitics as pr

G_ON, G_OFF = 100e-6, 2e-6


def dense_nodal(G: np.ndarray, V: np.ndarray, r_row: float, r_col: float):
    """Stamp and solve the full (2MN x 2MN) conductance matrix of DESIGN.md contract 2.

    Node (i, j) of the wordlines is i*N + j, of the bitlines M*N + i*N + j. Returns the column
    currents (B, N) into virtual ground and the source currents (B, M) through each row's
    first segment.
    """
    M, N = G.shape
    n = 2 * M * N
    Y = np.zeros((n, n))
    rhs = np.zeros((n, V.shape[0]))
    g_r, g_c = 1.0 / r_row, 1.0 / r_col

    def row(i, j):
        return i * N + j

    def col(i, j):
        return M * N + i * N + j

    def between(a, b, g):
        Y[a, a] += g
        Y[b, b] += g
        Y[a, b] -= g
        Y[b, a] -= g

    for i in range(M):
        Y[row(i, 0), row(i, 0)] += g_r            # segment to the ideal source V_i
        rhs[row(i, 0)] += g_r * V[:, i]
        for j in range(N - 1):
            between(row(i, j), row(i, j + 1), g_r)
        for j in range(N):
            between(row(i, j), col(i, j), G[i, j])
    for j in range(N):
        for i in range(M - 1):
            between(col(i, j), col(i + 1, j), g_c)
        Y[col(M - 1, j), col(M - 1, j)] += g_c    # segment to the virtual ground
    x = np.linalg.solve(Y, rhs)
    i_col = g_c * x[[col(M - 1, j) for j in range(N)]].T
    i_src = g_r * (V - x[[row(i, 0) for i in range(M)]].T)
    return i_col, i_src


def random_array(M, N, seed, dense_frac=0.5):
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(M, N, generator=g) < dense_frac
    G = torch.where(on, G_ON, G_OFF).double()
    V = torch.rand(64, M, generator=g).double()
    return G, V


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


# ------------------------------------------------------------------------------- exact

@pytest.mark.parametrize("M,N", [(3, 4), (4, 3), (8, 5), (5, 8), (16, 16), (1, 1), (1, 6),
                                 (6, 1), (7, 13)])
def test_exact_matches_dense_nodal_solve(M, N):
    rng = np.random.default_rng(M * 100 + N)
    G = rng.uniform(0, 5e-3, (M, N)) * (rng.random((M, N)) < 0.7)   # strong cells, some 0
    V = rng.normal(size=(5, M))
    V[0] = 0.0
    V[1, 0] = 0.0
    r_row, r_col = rng.uniform(0.5, 20), rng.uniform(0.5, 20)
    want, _ = dense_nodal(G, V, r_row, r_col)
    got = pr.column_currents(torch.tensor(G), torch.tensor(V), r_row, r_col, "exact")
    assert got.shape == (5, N) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-9 * np.abs(want).max())
    geff = pr.effective_conductance(torch.tensor(G), r_row, r_col)
    np.testing.assert_allclose((torch.tensor(V) @ geff).numpy(), want, rtol=0,
                               atol=1e-9 * np.abs(want).max())


def test_current_conservation():
    rng = np.random.default_rng(7)
    G = rng.uniform(0, 2e-3, (9, 6))
    V = rng.normal(size=(4, 9))
    i_col, i_src = dense_nodal(G, V, 3.0, 1.5)
    np.testing.assert_allclose(i_src.sum(1), i_col.sum(1), rtol=1e-10)
    got = pr.column_currents(torch.tensor(G), torch.tensor(V), 3.0, 1.5).numpy()
    np.testing.assert_allclose(got.sum(1), i_src.sum(1), rtol=1e-10)


def test_isolated_cell_is_the_manhattan_path():
    M, N, g0, r_row, r_col = 6, 5, 1e-3, 2.0, 3.0
    for i, j in [(0, 0), (5, 4), (2, 3), (5, 0)]:
        G = torch.zeros(M, N, dtype=torch.float64)
        G[i, j] = g0
        D = r_row * (j + 1) + r_col * (M - i)
        want = g0 / (1 + g0 * D)
        exact = pr.effective_conductance(G, r_row, r_col)
        assert abs(exact[i, j].item() - want) < 1e-12 * want     # series path, exactly
        assert exact.abs().sum().item() == pytest.approx(want, rel=1e-12)
        fo = pr.effective_conductance(G, r_row, r_col, "first_order")[i, j].item()
        assert fo == pytest.approx(g0 * (1 - g0 * D), rel=1e-12)
        assert abs(fo - want) < 2 * (g0 * D) ** 2 * want             # second-order small


def test_tends_to_ideal_as_r_vanishes():
    G, V = random_array(12, 10, seed=1)
    ideal = V @ G
    errs = [rel_err(pr.column_currents(G, V, r, r), ideal) for r in (1.0, 0.1, 0.01, 0.001)]
    for big, small in zip(errs, errs[1:]):
        assert big / small == pytest.approx(10.0, rel=0.05)          # error proportional to r


def test_nf_grows_with_r_and_size():
    G, V = random_array(32, 32, seed=2)
    nf_r = [pr.nonideality_factor(G, V, r, r) for r in (0.5, 1.0, 2.0)]
    assert 0 < nf_r[0] < nf_r[1] < nf_r[2]
    nf_n = [pr.nonideality_factor(*random_array(n, n, seed=3), 1.0, 1.0) for n in (8, 16, 32)]
    assert 0 < nf_n[0] < nf_n[1] < nf_n[2]


def test_mismatched_shapes_choose_either_orientation_consistently():
    G, _ = random_array(6, 11, seed=4)
    wide = pr.effective_conductance(G, 1.5, 2.5)
    tall = pr.effective_conductance(torch.flip(G.T, (0, 1)), 2.5, 1.5)  # reciprocal circuit
    torch.testing.assert_close(wide, torch.flip(tall.T, (0, 1)), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------- first order

def test_first_order_matches_its_definition():
    rng = np.random.default_rng(5)
    M, N, r_row, r_col = 5, 7, 1.5, 2.5
    G = rng.uniform(0, 1e-4, (M, N))
    want = np.empty_like(G)
    for i in range(M):
        for j in range(N):
            a = sum(G[i, k] * (min(j, k) + 1) for k in range(N))
            c = sum(G[k, j] * (M - max(i, k)) for k in range(M))
            want[i, j] = G[i, j] * (1 - r_row * a - r_col * c)
    got = pr.effective_conductance(torch.tensor(G), r_row, r_col, "first_order")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


# METHODS.md section 1 quotes (size, r, NF, first-order error); measured here with 64 inputs
@pytest.mark.parametrize("n,r,nf_quoted,err_quoted", [(32, 2.5, 0.08, 0.010),
                                                      (64, 1.0, 0.12, 0.024),
                                                      (64, 2.5, 0.26, 0.15)])
def test_first_order_error_at_methods_operating_points(n, r, nf_quoted, err_quoted):
    G, V = random_array(n, n, seed=6)
    exact = pr.column_currents(G, V, r, r)
    fo = pr.column_currents(G, V, r, r, "first_order")
    fo_err = float(((fo - exact).abs() / exact.abs()).mean())
    none_err = float(((V @ G - exact).abs() / exact.abs()).mean())
    nf = pr.nonideality_factor(G, V, r, r)
    assert 0.5 * nf_quoted < nf < 1.5 * nf_quoted
    assert 0.25 * err_quoted < fo_err < 2 * err_quoted
    assert fo_err < none_err


# -------------------------------------------------------------------------- api details

def test_models_none_and_shapes():
    G, V = random_array(4, 3, seed=8)
    torch.testing.assert_close(pr.effective_conductance(G, 0.0, 0.0, "none"), G)
    torch.testing.assert_close(pr.column_currents(G, V, 0, 0, "none"), V @ G)
    one = pr.column_currents(G, V[0], 1.0, 1.0)
    assert one.shape == (3,)
    torch.testing.assert_close(one, pr.column_currents(G, V[:1], 1.0, 1.0)[0])
    g32 = pr.column_currents(G.float(), V.float(), 1.0, 1.0)
    assert g32.dtype == torch.float32
    assert pr.nonideality_factor(G, torch.zeros_like(V), 1.0, 1.0) == 0.0
    assert pr.nonideality_factor(G, V, 1.0, 1.0, model="none") == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    G, V = random_array(24, 17, seed=9)
    cpu = pr.column_currents(G, V, 2.0, 1.0)
    gpu = pr.column_currents(G.cuda(), V.cuda(), 2.0, 1.0)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=0)


@pytest.mark.parametrize("kwargs,err,text", [
    (dict(r_row=0.0), ConfigError, "r_row: must be > 0"),
    (dict(r_col=-1.0), ConfigError, "r_col: must be finite and >= 0"),
    (dict(r_row=float("nan")), ConfigError, "r_row"),
    (dict(r_col=0.0, model="first_order"), ConfigError, "r_col: must be > 0"),
    (dict(model="spice"), ConfigError, "model: 'spice' is not one of none, first_order, exact"),
    (dict(G=torch.full((3, 4), float("nan"))), ShapeError, "G: contains NaN"),
    (dict(G=-torch.ones(3, 4)), ShapeError, "G: conductances must be >= 0"),
    (dict(G=torch.ones(3)), ShapeError, r"G: must be a non-empty \(M, N\) matrix"),
    (dict(G=[[1e-5] * 4] * 3), ShapeError, "G: must be a torch.Tensor, got list"),
    (dict(V=torch.ones(2, 4)), ShapeError, r"V: must be real with shape \(B, 3\)"),
    (dict(V=torch.tensor([[0.1, float("inf"), 0.2]])), ShapeError, "V: contains NaN or inf"),
    (dict(eps=0.0), ConfigError, r"eps: must be a number in \(0, 1\)"),
])
def test_bad_input_names_the_argument(kwargs, err, text):
    args = dict(G=torch.ones(3, 4) * 1e-5, V=torch.ones(2, 3) * 0.1, r_row=1.0, r_col=1.0,
                model="exact", eps=1e-3)
    args.update(kwargs)
    with pytest.raises(err, match=text) as info:
        pr.nonideality_factor(**args)
    assert isinstance(info.value, ValueError)
    if "eps" not in kwargs and "V" not in kwargs:
        with pytest.raises(err, match=text):
            pr.effective_conductance(args["G"], args["r_row"], args["r_col"], args["model"])


def test_r_zero_is_allowed_only_for_none():
    G = torch.ones(2, 2) * 1e-5
    pr.effective_conductance(G, 0, 0, "none")
    with pytest.raises(ConfigError, match="r_row: must be > 0 ohm with model 'exact'"):
        pr.effective_conductance(G, 0, 1.0)
