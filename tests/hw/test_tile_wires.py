"""hw.parasitics.incremental inside the Tile (snnx.hw.wires): kept per-array solves against
full re-solves after outer_updates, the linearised mode and its re-anchoring, state round
trips mid-run, the written-cell hint, the ledger and the memory guard."""

from __future__ import annotations

import pytest
import torch
from test_tile_parasitics import KINDS, cfg, geff, logical_w, read_w, weights

import snnx.hw as hw
from snnx import checkpoint
from snnx.errors import ConfigError
from snnx.hw import wires
from snnx.hw.parasitics_exact import ExactArraySolve

torch.set_num_threads(1)
IN = 20
#: 12 x 8 arrays: 20 inputs -> row blocks of 12 and 8, 14 columns -> 8 and 6: 2 x 2 arrays
#: per side, tall, square and partly used ones (both orientations of ExactArraySolve)
ARR = {"rows": 12, "cols": 8}


def tile(kind, incremental, refresh=1, seed=0):
    c = cfg(**ARR, **KINDS[kind], **{"parasitics.incremental": incremental,
                                     "parasitics.refresh_every": refresh})
    return hw.Tile(weights(out=5 if kind == "bit_sliced" else 14, inp=IN, seed=seed), c)


def step(t, i, lr=0.05):
    g = torch.Generator().manual_seed(100 + i)
    x = torch.rand(2, IN, generator=g, dtype=torch.float64)
    d = torch.randn(2, t.out_features, generator=g, dtype=torch.float64)
    G = t.conductances.clone()
    t.outer_update(x, d, lr)
    assert not torch.equal(G, t.conductances), "the update changed nothing"


def reads(t):
    """(forward weights, transposed weights) the tile applies now."""
    eye = torch.eye(t.out_features, dtype=torch.float64)
    return read_w(t), t.mvm_t(eye)


def resolved(t):
    """The weights a tile re-solved from scratch on its present conductances applies."""
    return logical_w(t, geff(t, t.conductances, "exact"))


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("kind", list(KINDS))
def test_exact_reads_what_a_full_resolve_reads_after_every_update(kind):
    t = tile(kind, "exact")
    assert t.ledger is not None and read_w(t) is not None      # the first (full) solves
    sol = t._pr_anchor["_solvers"]
    assert len(sol) == t.n_arrays and sol[0].shape == (12, 8)
    if kind != "bit_sliced":
        assert [s.shape for s in sol[:4]] == [(12, 8), (12, 6), (8, 8), (8, 6)]
    for i in range(4):
        step(t, i)
        ref = resolved(t)
        for w in reads(t):
            torch.testing.assert_close(w, ref, rtol=1e-9, atol=1e-9 * float(ref.abs().max()))
        assert t._pr_anchor["_solvers"] is sol                 # kept, not rebuilt
    if kind != "continuous":  # (analog updates change every cell: full re-solves)
        assert any(s.last_mode == "incremental" for s in sol)  # the Woodbury path ran


def test_pulsed_updates_hand_their_written_cells_to_the_solvers():
    """The pulsed path notes w.lin; the sync then compares only those cells, and finds what
    a dense comparison finds."""
    t = tile("pulsed", "exact")
    read_w(t)
    a = t._pr_anchor
    step(t, 0)
    step(t, 1)                                   # two updates between reads: hints add up
    assert a["_ref"] is t.conductances and len(a["_hint"]) == 2
    dense = torch.nonzero(t.conductances.reshape(-1) != a["G"].view(-1)).squeeze(1)
    got = wires._changed(a, t.conductances)
    assert dense.numel() > 0 and torch.equal(torch.sort(got).values, dense)
    a["_hint"] = a["_hint"][:1]                  # an incomplete hint is used as given
    assert wires._changed(a, t.conductances).numel() < dense.numel()


@pytest.mark.parametrize("kind", list(KINDS))
def test_linear_is_close_between_reanchors_and_exact_right_after(kind):
    """refresh_every = 3: full solves after programming and at updates 3 and 6; in between
    the Jacobian update, within 1e-2 of the full re-solve here (measured: at most 3e-4 for
    pulsed and analog steps, 2.5e-3 for bit-sliced 0/1 flips at lr 0.05)."""
    t = tile(kind, "linear", refresh=3)
    torch.testing.assert_close(read_w(t), resolved(t), rtol=1e-9, atol=1e-12)
    for i in range(1, 7):
        step(t, i)
        ref = resolved(t)
        w, wt = reads(t)
        torch.testing.assert_close(wt, w, rtol=1e-9, atol=1e-12)
        if i % 3:
            assert 0 < rel(w, ref) < 1e-2
        else:
            assert t._pr_anchor["at"] == i
            torch.testing.assert_close(w, ref, rtol=1e-9, atol=1e-9 * float(ref.abs().max()))


@pytest.mark.parametrize("mode,refresh", [("exact", 1), ("linear", 4)])
def test_state_round_trip_mid_run_reads_as_the_uninterrupted_run(mode, refresh, tmp_path):
    a = tile("pulsed", mode, refresh)
    read_w(a)
    step(a, 0)
    read_w(a)
    step(a, 1)                                   # saved with a change not yet synced
    state = a.state_dict()
    assert not any(k.startswith("_") for k in state["pr_anchor"])   # no solver objects
    checkpoint.save(tmp_path / "t.h5", {"tile": state})
    b = tile("pulsed", mode, refresh, seed=7)
    b.load_state_dict(checkpoint.load(tmp_path / "t.h5")["tile"])
    assert "_solvers" not in b._pr_anchor        # rebuilt lazily at the next read
    for i in range(2, 6):
        for wa, wb in zip(reads(a), reads(b)):
            torch.testing.assert_close(wb, wa, rtol=1e-9, atol=1e-9 * float(wa.abs().max()))
        step(a, i)
        step(b, i)


def test_the_option_books_nothing():
    """Same updates and reads with incremental none (full re-solves) / exact: the same
    operations booked (wires are physics of the read, not an operation), the same
    conductances; the read energies (sum V^2 G_eff t) agree to round-off of G_eff."""
    ts = [tile("pulsed", m) for m in ("none", "exact")]
    for i in range(3):
        for t in ts:
            reads(t)
            step(t, i)
    assert torch.equal(ts[0].conductances, ts[1].conductances)
    a, b = (t.ledger.state_dict() for t in ts)
    assert a["counts"] == b["counts"] and a["latency_s"] == b["latency_s"]
    assert a["energy"].keys() == b["energy"].keys()
    for k, v in a["energy"].items():
        assert b["energy"][k] == pytest.approx(v, rel=1e-9), k


def test_memory_estimate_bounds_the_kept_tensors_and_guards_the_tile(monkeypatch):
    c = cfg(rows=32, cols=20, **{"parasitics.incremental": "linear",
                                 "parasitics.refresh_every": 2})
    G = torch.rand(32, 20, dtype=torch.float64) * 1e-4
    s = ExactArraySolve(G, 2.5, 2.5, jacobian=True)
    kept = sum(v.nbytes for v in vars(s).values() if isinstance(v, torch.Tensor))
    kept += sum(v.nbytes for v in s._lu + s._piv)
    need = wires.bytes_needed(c, (1, 32, 20))
    assert kept < need < 3 * kept
    assert wires.bytes_needed(c, (2, 32, 20), "exact") < wires.bytes_needed(c, (2, 32, 20))
    assert wires.bytes_needed(c, (2, 32, 20), "none") == 0
    monkeypatch.setattr(wires, "MAX_BYTES", need)
    with pytest.raises(ConfigError, match=r"^parasitics\.incremental: 'linear' would keep"):
        hw.Tile(weights(out=20, inp=32), c)
    hw.Tile(weights(out=20, inp=32), c.replace(**{"parasitics.incremental": "none"}))


@pytest.mark.parametrize("over,msg", [
    ({"parasitics.model": "first_order"}, "needs model 'exact'"),
    ({"parasitics.incremental": "linear", "parasitics.refresh_every": 1}, "with 1 that is"),
    ({"parasitics.incremental": "woodbury"}, ""),
])
def test_bad_incremental_config_names_the_key(over, msg):
    base = {"parasitics.model": "exact", "parasitics.r_row": 1.0, "parasitics.r_col": 1.0,
            "parasitics.incremental": "exact"}
    with pytest.raises(ConfigError, match=r"^parasitics\.incremental.*" + msg):
        hw.load("ideal", **{**base, **over})
