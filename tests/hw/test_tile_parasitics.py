"""Wire resistance inside the Tile: reads against the solver, mvm/mvm_t consistency, the
refresh policy after updates, state round trip and errors (DESIGN.md contract 2)."""

from __future__ import annotations

import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError, ShapeError
from snnx.hw import parasitics as pr
from snnx.hw import readout

R = 2.5
RANGE = 100e-6 - 2e-6


def cfg(model="exact", r=R, rows=16, cols=12, **kw):
    over = {"array.rows": rows, "array.cols": cols, "parasitics.model": model,
            "parasitics.r_row": r, "parasitics.r_col": r, "array.w_headroom": 1.0}
    over.update(kw)
    return hw.load("ideal", **over)


def weights(out=10, inp=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out, inp, generator=g, dtype=torch.float64)


def blocks(tile):
    """(side, row slice, col slice) of every physical array."""
    rows, cols = tile.hw.array.rows, tile.hw.array.cols
    return [(s, slice(r0, r0 + rows), slice(c0, c0 + cols)) for s in range(2)
            for r0 in range(0, tile.in_features, rows) for c0 in range(0, tile.n_cols, cols)]


def geff(tile, G, model, r=R):
    out = torch.empty_like(G)
    for sl in blocks(tile):
        out[sl] = pr.effective_conductance(G[sl], r, r, model)
    return out


def logical_w(tile, Ge):
    """Weights (out, in) that a read through conductances Ge (physical order) applies."""
    diff = (Ge[0] - Ge[1]) / RANGE
    if tile.row_perm is not None:
        diff = diff[torch.argsort(tile.row_perm)]
    if tile.col_perm is not None:
        diff = diff[:, torch.argsort(tile.col_perm)]
    S = tile.n_slices
    if S == 1:
        sig = torch.full((tile.n_cols,), tile.w_max, dtype=diff.dtype)
    else:
        bits = tile.hw.periphery.weight_bits
        sig = (2.0 ** torch.arange(S - 1, -1, -1, dtype=diff.dtype)).repeat(tile.out_features)
        sig = sig * tile.w_max / (2 ** bits - 1)
    return (diff * sig).view(tile.in_features, tile.out_features, S).sum(-1).t()


def read_w(tile):
    """The weights a forward read applies, from reading the unit vectors."""
    return tile.mvm(torch.eye(tile.in_features, dtype=tile.dtype)).t()


# ------------------------------------------------------------------------- the read itself
@pytest.mark.parametrize("bits", [None, 4])
def test_exact_read_equals_solver_column_currents(bits):
    """Multi-array tile (2 x 2 arrays per side): y equals the shift-added, per-array
    ``column_currents`` of the programmed G+ and G- (ideal converters, no noise)."""
    c = cfg(**{"periphery.weight_bits": bits})
    W = weights(out=5 if bits else 20, inp=20)
    tile = hw.Tile(W, c)
    x = torch.rand(6, 20, dtype=torch.float64) * 2 - 1
    s = x.abs().amax(1, keepdim=True)
    V = 0.2 * x / s
    G = tile.conductances
    I = torch.zeros(2, 6, tile.n_cols, dtype=torch.float64)
    for side, rs, cs in blocks(tile):
        I[side, :, cs] += pr.column_currents(G[side, rs, cs], V[:, rs], R, R)
    w_col = (I[0] - I[1]) / (0.2 * RANGE)          # (B, n_cols) in "normalised cells"
    if bits:
        sig = (2.0 ** torch.arange(3, -1, -1, dtype=torch.float64)).repeat(5) / 15
        w_col = w_col * sig
        y_ref = w_col.view(6, 5, 4).sum(-1) * tile.w_max * s
    else:
        y_ref = w_col * tile.w_max * s
    y = tile.mvm(x)
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-12)
    assert (y - x @ W.T).abs().max() > 1e-3 * (x @ W.T).abs().max()   # the wires do matter


def test_small_wire_resistance_approaches_ideal_read():
    W, x = weights(), torch.rand(4, 20, dtype=torch.float64)
    ref = hw.Tile(W, cfg(model="none", r=0.0)).mvm(x)
    errs = [float((hw.Tile(W, cfg(r=r)).mvm(x) - ref).abs().max()) for r in (1.0, 1e-2, 1e-4)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-5 * float(ref.abs().max())


@pytest.mark.parametrize("model", ["exact", "first_order"])
def test_mvm_t_uses_the_same_geff_as_mvm(model):
    """With permuted rows and columns on a multi-array bit-sliced tile: mvm(x) == x W_eff^T
    and mvm_t(d) == d W_eff, W_eff from G_eff of every physical array."""
    tile = hw.Tile(weights(out=6, inp=20), cfg(model, **{"periphery.weight_bits": 4}))
    g = torch.Generator().manual_seed(1)
    tile.set_mapping(torch.randperm(20, generator=g), torch.randperm(24, generator=g))
    W_eff = logical_w(tile, geff(tile, tile.conductances, model))
    x = torch.rand(3, 20, dtype=torch.float64)
    d = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(tile.mvm(x), x @ W_eff.T, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(tile.mvm_t(d), d @ W_eff, rtol=1e-9, atol=1e-12)


def test_no_parasitics_reads_g_itself_without_calling_the_solver(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("parasitics computed with model none")

    monkeypatch.setattr(readout, "effective", boom)
    tile = hw.Tile(weights(), cfg(model="none", r=0.0))
    assert tile._effective() is tile.conductances
    tile.mvm(torch.rand(2, 20, dtype=torch.float64))
    tile.outer_update(torch.rand(2, 20, dtype=torch.float64),
                      torch.rand(2, 10, dtype=torch.float64), 0.01)
    tile.mvm_t(torch.rand(2, 10, dtype=torch.float64))


# ------------------------------------------------------------------------- refresh policy
KINDS = {
    "continuous": {},                                        # exact analog updates
    "pulsed": {"device.levels": 16},                         # pulse counts, cache patching path
    "bit_sliced": {"periphery.weight_bits": 4},              # digital read-modify-write
}


def _update(tile, i):
    g = torch.Generator().manual_seed(100 + i)
    x = torch.rand(4, tile.in_features, generator=g, dtype=torch.float64)
    d = torch.randn(4, tile.out_features, generator=g, dtype=torch.float64)
    G = tile.conductances.clone()
    tile.outer_update(x, d, 0.5)
    assert not torch.equal(G, tile.conductances), "the update changed nothing"


@pytest.mark.parametrize("kind", list(KINDS))
def test_refresh_every_k_exact_then_first_order_increment(kind):
    """refresh_every = 3: exact after programming and after every 3rd update; in between
    G_eff = E(G_a) + FO(G) - FO(G_a) (anchored first-order increment); mvm and mvm_t agree."""
    tile = hw.Tile(weights(out=5, inp=20), cfg(**KINDS[kind], **{"parasitics.refresh_every": 3}))
    G_a = tile.conductances.clone()
    torch.testing.assert_close(read_w(tile), logical_w(tile, geff(tile, G_a, "exact")))
    E_a, F_a = geff(tile, G_a, "exact"), geff(tile, G_a, "first_order")
    for i in (1, 2):
        _update(tile, i)
        G = tile.conductances
        incr = logical_w(tile, E_a + geff(tile, G, "first_order") - F_a)
        exact = logical_w(tile, geff(tile, G, "exact"))
        w = read_w(tile)
        torch.testing.assert_close(w, incr, rtol=1e-9, atol=1e-12)
        assert (w - exact).abs().max() > 0                     # not re-solved yet ...
        assert (w - exact).abs().max() < 0.05 * exact.abs().max()   # ... but close
        eye = torch.eye(tile.out_features, dtype=torch.float64)
        torch.testing.assert_close(tile.mvm_t(eye), w, rtol=1e-9, atol=1e-12)
    _update(tile, 3)
    torch.testing.assert_close(read_w(tile), logical_w(tile, geff(tile, tile.conductances,
                                                                   "exact")))


def test_refresh_every_1_is_exact_after_every_update_and_first_order_model_stays_fo():
    ex = hw.Tile(weights(), cfg())
    fo = hw.Tile(weights(), cfg("first_order"))
    for i in range(2):
        for t, model in ((ex, "exact"), (fo, "first_order")):
            _update(t, i)
            torch.testing.assert_close(read_w(t), logical_w(t, geff(t, t.conductances, model)))


def test_state_dict_keeps_the_anchor_so_reads_resume_identically():
    c = cfg(**{"parasitics.refresh_every": 4})
    a = hw.Tile(weights(), c)
    _update(a, 0)
    w = read_w(a)
    b = hw.Tile(weights(seed=5), c)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(read_w(b), w, rtol=0, atol=0)
    _update(a, 1)
    _update(b, 1)
    torch.testing.assert_close(read_w(b), read_w(a), rtol=0, atol=0)


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize("over,key", [
    ({"parasitics.r_row": 0.0}, "parasitics.r_row: must be > 0 ohm with model 'exact'"),
    ({"parasitics.r_col": 0.0}, "parasitics.r_col: must be > 0 ohm with model 'exact'"),
    ({"parasitics.r_row": -1.0}, "parasitics.r_row"),
    ({"parasitics.model": "spice"}, "parasitics.model"),
    ({"parasitics.refresh_every": 0}, "parasitics.refresh_every"),
])
def test_bad_parasitics_config_names_the_key(over, key):
    base = {"parasitics.model": "exact", "parasitics.r_row": 1.0, "parasitics.r_col": 1.0}
    with pytest.raises(ConfigError, match=key.replace("(", r"\(")):
        hw.load("ideal", **{**base, **over})


def test_negative_conductance_and_bad_shapes_raise_clear_errors():
    tile = hw.Tile(weights(), cfg())
    with pytest.raises(ShapeError, match=r"x: expected 20 features"):
        tile.mvm(torch.rand(2, 19, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"d: expected 10 features"):
        tile.mvm_t(torch.rand(2, 11, dtype=torch.float64))
    state = tile.state_dict()
    state["G"][0, 0, 0] = -1e-6
    tile.load_state_dict(state)
    with pytest.raises(ShapeError, match=r"G: conductances must be >= 0 S"):
        tile.mvm(torch.rand(2, 20, dtype=torch.float64))
