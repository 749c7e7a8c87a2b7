"""A keyed periphery on a tile (snnx.hw.periphery_key): the cells hold W' = key.scramble(W),
the verbs with the key equal the plain tile (bit for bit with exact sums), the ledger books
XOR/MUX operations, the key never enters a state, and bad keys are refused."""

from __future__ import annotations

import doctest
import pickle

import pytest
import torch

import snnx.hw as hw
import snnx.hw.periphery_key as pk_mod
from snnx.errors import ConfigError, ShapeError
from snnx.hw.periphery_key import PeripheryKey


def gen(seed):
    return torch.Generator().manual_seed(seed)


def pm1(shape, g):
    return torch.randint(0, 2, shape, generator=g).double() * 2 - 1


def random_key(n_in, n_out, g, **kw):
    return PeripheryKey(torch.rand(n_in, generator=g) < 0.5,
                        torch.rand(n_out // 2, generator=g) < 0.5, n_out=n_out, **kw)


def keyed_pair(W, cfg, key):
    plain = hw.Tile(W, cfg, seed=1)
    enc = hw.Tile(W, cfg, seed=1)
    enc.layout.key = key
    enc.program(W)
    return plain, enc


def test_doctest():
    assert doctest.testmod(pk_mod).failed == 0


def test_scramble_against_explicit_loops():
    g = gen(0)
    W = torch.randn(5, 4, generator=g, dtype=torch.float64)
    r = torch.tensor([1, 0, 0, 1], dtype=torch.bool)
    c = torch.tensor([1, 0], dtype=torch.bool)                 # odd out: output 4 never moves
    Wp = PeripheryKey(r, c, n_out=5).scramble(W)
    ref = W.clone()
    ref[[0, 1]] = ref[[1, 0]]                                    # pair (0, 1) swapped
    ref[:, r] = -ref[:, r]                                       # rows (inputs) 0, 3 inverted
    assert torch.equal(Wp, ref)
    assert torch.equal(PeripheryKey(r, c, n_out=5).scramble(Wp), W)   # an involution


@pytest.mark.parametrize("rows,n_out,n_in", [(256, 10, 300), (64, 33, 70), (16, 8, 40)])
def test_binary_tile_with_key_gives_the_exact_integers(rows, n_out, n_in):
    """+-1 weights, integer inputs and errors: the keyed tile gives the exact integer products
    (forward, transposed read, after an update), as the plain tile does. Bit identity of the
    floats is not promised: the tile's normalised conductances are not exact binary fractions
    and the keyed tile sums its outputs in the physical (swapped) order (~1e-15 apart)."""
    g = gen(rows + n_out)
    W = pm1((n_out, n_in), g)
    cfg = hw.load("ideal", **{"array.rows": rows, "array.cols": 16})
    plain, enc = keyed_pair(W, cfg, random_key(n_in, n_out, g))
    x, d = pm1((12, n_in), g), torch.randint(-3, 4, (12, n_out), generator=g).double()
    for t in (plain, enc):
        assert torch.equal(t.mvm(x).round(), x @ W.T)
        assert torch.equal(t.mvm_t(d).round(), d @ W)
        torch.testing.assert_close(t.mvm_t(d), d @ W, rtol=0, atol=1e-12)
    assert torch.equal(enc.read_weight(), plain.read_weight())
    for t in (plain, enc):
        t.outer_update(x, d, 1 / 64)
    W1 = W - d.T @ x / 64                                        # within the headroom of 4
    for t in (plain, enc):
        torch.testing.assert_close(t.read_weight(), W1, rtol=0, atol=1e-12)
        torch.testing.assert_close(t.mvm(x), x @ W1.T, rtol=0, atol=1e-9)


@pytest.mark.parametrize("preset,over", [("ideal", {}), ("ideal", {"periphery.weight_bits": 8})])
def test_float_tile_with_key_equals_plain(preset, over):
    """Float weights on ideal (also bit-sliced) tiles: equal to float rounding. (On noisy
    hardware the keyed cells are other physical cells, with their own errors.)"""
    g = gen(3)
    W = torch.randn(12, 40, generator=g, dtype=torch.float64) * 0.3
    cfg = hw.load(preset, **{"array.rows": 16, **over})
    plain, enc = keyed_pair(W, cfg, random_key(40, 12, g))
    x, d = torch.randn(6, 40, generator=g, dtype=torch.float64), torch.randn(
        6, 12, generator=g, dtype=torch.float64)
    torch.testing.assert_close(enc.read_weight(), plain.read_weight(), rtol=0, atol=1e-12)
    torch.testing.assert_close(enc.mvm(x), plain.mvm(x), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(enc.mvm_t(d), plain.mvm_t(d), rtol=1e-9, atol=1e-9)
    if cfg.is_ideal:
        for t in (plain, enc):
            t.outer_update(x, d, 0.05)
        torch.testing.assert_close(enc.read_weight(), plain.read_weight(), rtol=0, atol=1e-12)


def test_cells_hold_scrambled_weights_and_wrong_key_does_not_undo_them():
    g = gen(4)
    W = torch.randn(8, 20, generator=g, dtype=torch.float64)
    key = random_key(20, 8, g)
    plain, enc = keyed_pair(W, hw.load("ideal"), key)
    cells = enc.layout.weights(enc.conductances)                 # what a thief reads
    torch.testing.assert_close(cells, key.scramble(W))
    assert (cells != W).float().mean() > 0.3
    # the pair swap of a row inversion: the two cells of every pair in an inverted row trade
    G0, G1 = plain.conductances, enc.conductances
    inv = key._sign < 0
    torch.testing.assert_close(G1[0, inv][:, key._perm], G0[1, inv])
    x = torch.randn(5, 20, generator=g, dtype=torch.float64)
    enc.layout.key = None                                        # no key: computes with W'
    torch.testing.assert_close(enc.mvm(x), x @ key.scramble(W).T)
    enc.layout.key = random_key(20, 8, gen(99))                  # another chip's key
    assert not torch.allclose(enc.mvm(x), x @ W.T, atol=1e-3)


def test_selective_reprogramming_takes_plain_weights():
    """Tile.reprogram (fine-tuning's verify-and-rewrite) gets plain W and compares with the
    scrambled targets: an unchanged W rewrites nothing, a changed one keeps the key."""
    g = gen(8)
    W = torch.randn(6, 24, generator=g, dtype=torch.float64)
    _, enc = keyed_pair(W, hw.load("ideal"), random_key(24, 6, g))
    assert enc.reprogram(W, 1e-6) == 0
    W2 = W.clone()
    W2[2, 5] += 0.5
    assert 1 <= enc.reprogram(W2, 1e-6) <= 2                     # the cells of one pair
    torch.testing.assert_close(enc.read_weight(), W2.clamp(-enc.w_max, enc.w_max))


@pytest.mark.parametrize("xor,mux", [(True, True), (False, True), (True, False)])
def test_ledger_books_xor_mux(xor, mux):
    g = gen(5)
    W = torch.randn(7, 30, generator=g)
    r = (torch.rand(30, generator=g) < 0.5) & xor
    c = (torch.rand(3, generator=g) < 0.5) & mux
    key = PeripheryKey(r, c, n_out=7, xor=xor, mux=mux)
    assert key.gates == 30 * xor + 6 * mux
    _, enc = keyed_pair(W, hw.load("rram_generic"), key)
    led = enc.ledger
    before = led.counts["xor_mux"]
    enc.mvm(torch.rand(4, 30))
    enc.mvm_t(torch.rand(3, 7))
    enc.outer_update(torch.rand(2, 30), torch.rand(2, 7), 0.01)
    n = (4 + 3 + 2) * key.gates
    assert led.counts["xor_mux"] - before == n
    assert led.energy["xor_mux"] == pytest.approx(n * enc.hw.cost.e_gate, rel=1e-12)
    assert enc.hw.cost.e_gate == 2e-15


def test_state_keeps_a_hash_only_and_checks_the_chip():
    g = gen(6)
    W = torch.randn(6, 50, generator=g)
    key = random_key(50, 6, g)
    _, enc = keyed_pair(W, hw.load("ideal"), key)
    state = enc.state_dict()
    assert state["key_sha256"] == key.sha256 and len(key.sha256) == 64
    assert not any(isinstance(v, PeripheryKey) for v in state.values())
    assert "key" not in enc.layout.state_dict() and "_key" not in enc.layout.state_dict()
    twin = hw.Tile(W, hw.load("ideal"), seed=1)
    twin.layout.key = key
    twin.load_state_dict(state)                                  # the same chip: fine
    with pytest.raises(ConfigError, match="^key_sha256: "):
        hw.Tile(W, hw.load("ideal"), seed=1).load_state_dict(state)      # plain tile
    other = hw.Tile(W, hw.load("ideal"), seed=1)
    other.layout.key = random_key(50, 6, gen(7))
    with pytest.raises(ConfigError, match="^key_sha256: "):
        other.load_state_dict(state)
    plain_state = hw.Tile(W, hw.load("ideal")).state_dict()
    assert "key_sha256" not in plain_state
    with pytest.raises(ConfigError, match="^key_sha256: "):
        twin.load_state_dict(plain_state)                        # plain state, keyed tile
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
    assert "sha256=" in repr(key) and str(key.n_in) in repr(key)


def test_bad_keys_are_one_line_errors():
    tile = hw.Tile(torch.randn(6, 10), hw.load("ideal"))
    with pytest.raises(ShapeError, match=r"^key\.r: expected 10 row bits"):
        tile.layout.key = PeripheryKey(torch.zeros(9, dtype=torch.bool),
                                       torch.zeros(3, dtype=torch.bool), n_out=6)
    with pytest.raises(ShapeError, match=r"^key\.c: expected 3 pair bits"):
        PeripheryKey(torch.zeros(10, dtype=torch.bool), torch.zeros(4, dtype=torch.bool),
                     n_out=6)
    with pytest.raises(ShapeError, match=r"^key\.c: made for 8 outputs"):
        tile.layout.key = PeripheryKey(torch.zeros(10, dtype=torch.bool),
                                       torch.zeros(4, dtype=torch.bool), n_out=8)
    with pytest.raises(ShapeError, match=r"^key\.r: expected a 1-D bool"):
        PeripheryKey(torch.zeros(10), torch.zeros(3, dtype=torch.bool), n_out=6)
    with pytest.raises(ShapeError, match="^key: a variant without XOR"):
        PeripheryKey(torch.ones(10, dtype=torch.bool), torch.zeros(3, dtype=torch.bool),
                     n_out=6, xor=False)
    assert tile.layout.key is None
