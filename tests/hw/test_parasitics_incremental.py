"""ExactArraySolve: low-rank updates of the exact G_eff against full re-solves."""

import numpy as np
import pytest
import torch
from test_parasitics import dense_nodal

from snnx.errors import ConfigError, ShapeError
from snnx.hw import parasitics as pr

torch.set_num_threads(1)
G_ON, G_OFF = 100e-6, 2e-6


def close(a, b, rtol=1e-9):
    """Elementwise relative agreement, with a floor at rtol * max |b| for tiny entries."""
    return bool(torch.allclose(a, b, rtol=rtol, atol=rtol * float(b.abs().max())))


def binary(M, N, gen):
    return torch.where(torch.rand(M, N, generator=gen) < 0.5, G_ON, G_OFF).double()


@pytest.mark.parametrize("M,N", [(40, 24), (24, 40), (31, 31)])
def test_updates_in_a_row_match_full_resolves(M, N):
    gen = torch.Generator().manual_seed(M * 100 + N)
    G = binary(M, N, gen)
    r_row, r_col = 2.5, 1.5
    sol = pr.ExactArraySolve(G, r_row, r_col, max_rank=10_000)
    assert close(sol.geff, pr.effective_conductance(G, r_row, r_col))
    changed = torch.zeros(0, dtype=torch.int64)
    for step, k in enumerate((1, 7, 3, 0, 12, 5)):
        if k:
            idx = torch.randperm(M * N, generator=gen)[:k]
        else:  # change again only cells changed before (no new port solves)
            idx = changed[torch.randperm(changed.numel(), generator=gen)[:6]]
        new = torch.rand(idx.numel(), generator=gen, dtype=torch.float64) * 1.2 * G_ON
        new[:1] = 0.0 if step == 2 else new[:1]       # a cell switched off completely
        G.view(-1)[idx] = new
        changed = torch.unique(torch.cat([changed, idx]))
        got = sol.update(idx, new)
        assert sol.last_mode == "incremental" and sol.full_solves == 1
        assert got.shape == (M, N) and got is sol.geff
        assert close(got, pr.effective_conductance(G, r_row, r_col)), f"update {step}"


def test_against_the_dense_nodal_solve_after_updates():
    gen = torch.Generator().manual_seed(3)
    G = torch.rand(7, 5, generator=gen, dtype=torch.float64) * 5e-3   # strong cells
    sol = pr.ExactArraySolve(G, 3.0, 7.0)
    idx = torch.tensor([0, 9, 34, 17])
    new = torch.tensor([4e-3, 0.0, 1e-3, 2e-5], dtype=torch.float64)
    G.view(-1)[idx] = new
    sol.update(idx, new)
    assert sol.last_mode == "incremental"
    V = np.random.default_rng(0).normal(size=(3, 7))
    want, _ = dense_nodal(G.numpy(), V, 3.0, 7.0)
    got = (torch.from_numpy(V) @ sol.geff).numpy()
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


def test_large_changes_fall_back_to_a_full_solve():
    gen = torch.Generator().manual_seed(4)
    G = binary(20, 16, gen)
    sol = pr.ExactArraySolve(G, 2.0, 2.0, max_rank=12)
    idx = torch.randperm(320, generator=gen)[:10]
    G.view(-1)[idx] = G_ON + G_OFF - G.view(-1)[idx]
    sol.update(idx, G.view(-1)[idx])
    assert sol.last_mode == "incremental"
    idx2 = torch.randperm(320, generator=gen)[:5]          # |S| would pass max_rank
    G.view(-1)[idx2] = G_ON + G_OFF - G.view(-1)[idx2]
    got = sol.update(idx2, G.view(-1)[idx2])
    assert sol.last_mode == "full" and sol.full_solves == 2
    assert close(got, pr.effective_conductance(G, 2.0, 2.0))
    idx3 = torch.arange(0, 320, 2)                         # half the array: cost model
    G.view(-1)[idx3] *= 0.5
    sol.max_rank = 10_000
    got = sol.update(idx3, G.view(-1)[idx3])
    assert sol.last_mode == "full" and close(got, pr.effective_conductance(G, 2.0, 2.0))


def test_float32_input_and_bad_arguments():
    G = binary(6, 9, torch.Generator().manual_seed(5)).float()
    sol = pr.ExactArraySolve(G, 1.0, 1.0)
    assert sol.geff.dtype == torch.float32
    with pytest.raises(ShapeError, match="^new_G"):
        sol.update(torch.tensor([1, 2]), torch.tensor([1e-5]))
    with pytest.raises(ShapeError, match="^flat_idx"):
        sol.update(torch.tensor([54]), torch.tensor([1e-5]))
    with pytest.raises(ShapeError, match="^new_G"):
        sol.update(torch.tensor([3]), torch.tensor([-1e-5]))


@pytest.mark.parametrize("M,N", [(30, 20), (20, 30)])
def test_linearised_update_is_the_exact_first_order_expansion(M, N):
    """Error of the Jacobian update against the exact solution is second order in the
    change: halving every change quarters it, and it is far below the change itself."""
    gen = torch.Generator().manual_seed(6)
    G0 = binary(M, N, gen)
    idx = torch.randperm(M * N, generator=gen)[:40]
    direction = torch.randn(40, generator=gen, dtype=torch.float64)
    errs, steps = [], []
    for eps in (20e-6, 10e-6):
        sol = pr.ExactArraySolve(G0, 2.5, 2.5, jacobian=True)
        E0 = sol.geff.clone()
        new = (G0.view(-1)[idx] + eps * direction).clamp(min=0.0)
        lin = sol.update(idx, new, exact=False).clone()
        assert sol.last_mode == "linear" and sol.full_solves == 1
        G = G0.clone()
        G.view(-1)[idx] = new
        ref = pr.effective_conductance(G, 2.5, 2.5)
        errs.append(float((lin - ref).abs().max()))
        steps.append(float((ref - E0).abs().max()))
        # an exact update afterwards accounts for the cells the linear one changed
        more = torch.tensor([0, M * N - 1])
        G.view(-1)[more] = 50e-6
        assert close(sol.update(more, torch.full((2,), 50e-6, dtype=torch.float64)),
                     pr.effective_conductance(G, 2.5, 2.5))
    assert errs[0] < 0.05 * steps[0]
    assert 3.2 < errs[0] / errs[1] < 4.8


def test_linear_update_needs_the_jacobian():
    sol = pr.ExactArraySolve(binary(5, 5, torch.Generator().manual_seed(7)), 1.0, 1.0)
    with pytest.raises(ConfigError, match="^exact"):
        sol.update(torch.tensor([0]), torch.tensor([1e-5]), exact=False)
