"""HDF5 checkpoints: exact round trip, atomic writes, clear errors."""

import os

import numpy as np
import pytest
import torch

import snnx.hw as hw
from snnx import checkpoint as ck


def test_round_trip_of_nested_state(tmp_path):
    state = {"step": 12, "big": 2 ** 64 - 5, "lr": 1e-3, "flag": True, "name": "fc1",
             "none": None, "shape": (3, 4), "list": [1, "a", None],
             "t64": torch.randn(3, 3, dtype=torch.float64), "mask": torch.rand(5) > 0.5,
             "i8": torch.arange(4, dtype=torch.uint8), "arr": np.arange(6).reshape(2, 3),
             "nested": {"a": {"b": torch.ones(2)}}}
    p = tmp_path / "c.h5"
    ck.save(p, state)
    out = ck.load(p)
    assert out["step"] == 12 and out["big"] == 2 ** 64 - 5 and out["flag"] is True
    assert out["none"] is None and out["shape"] == (3, 4) and out["list"] == [1, "a", None]
    assert torch.equal(out["t64"], state["t64"]) and out["t64"].dtype == torch.float64
    assert torch.equal(out["mask"], state["mask"]) and out["mask"].dtype == torch.bool
    assert torch.equal(out["i8"], state["i8"])
    assert np.array_equal(out["arr"], state["arr"])
    assert torch.equal(out["nested"]["a"]["b"], torch.ones(2))


def test_tile_state_survives_a_checkpoint(tmp_path):
    c = hw.load("rram_generic")
    t = hw.Tile(torch.randn(10, 40) * 0.2, c, seed=4)
    x = torch.rand(3, 40)
    t.mvm(x)
    ck.save(tmp_path / "t.h5", {"tile": t.state_dict()})
    y = t.mvm(x)
    t2 = hw.Tile(torch.zeros(10, 40), c, seed=0)
    t2.load_state_dict(ck.load(tmp_path / "t.h5")["tile"])
    assert torch.equal(t2.mvm(x), y)
    assert torch.equal(t2.faults[0], t.faults[0]) and torch.equal(t2.gain, t.gain)


def test_write_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "c.h5"
    ck.save(p, {"v": 1})

    def boom(*a, **k):
        raise RuntimeError("disk died")

    monkeypatch.setattr(ck.os, "replace", boom)
    with pytest.raises(RuntimeError):
        ck.save(p, {"v": 2})
    assert ck.load(p)["v"] == 1  # the old checkpoint is intact
    assert not (tmp_path / "c.h5.tmp").exists()


def test_secrets_are_refused(tmp_path):
    with pytest.raises(ck.CheckpointError, match="secret"):
        ck.save(tmp_path / "s.h5", {"encrypt": {"key": torch.ones(3)}})
    assert not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize("content, msg", [
    (None, "file not found"),
    (b"not hdf5 at all", "corrupt or unreadable"),
])
def test_bad_files(tmp_path, content, msg):
    p = tmp_path / "x.h5"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ck.CheckpointError, match=msg):
        ck.load(p)


def test_truncated_checkpoint(tmp_path):
    p = tmp_path / "c.h5"
    ck.save(p, {"G": torch.randn(200, 200)})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ck.CheckpointError, match="corrupt"):
        ck.load(p)


def test_foreign_hdf5_is_rejected(tmp_path):
    import h5py

    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["X"] = np.zeros(3)
    with pytest.raises(ck.CheckpointError, match="not an snnx checkpoint"):
        ck.load(p)


def test_latest_ignores_tmp(tmp_path):
    for n in ("step_000010.h5", "step_000020.h5", "step_000030.h5.tmp"):
        (tmp_path / n).write_bytes(b"")
    assert ck.latest(tmp_path).name == "step_000020.h5"
    assert os.path.basename(str(ck.latest(tmp_path))) == "step_000020.h5"


def test_har_dfa_chip_checkpoint_is_lean(tmp_path):
    """The shipped har_dfa chip (17.8 k weights, DFA feedback tiles) checkpoints in well
    under 1 MB: random generators are stored as states and counters, not as pools."""
    import snnx.hw as hw
    from snnx.learn import make_rule
    from snnx.nn import SNN
    from snnx.pipeline.model import chip_state, load_chip_state

    chip = SNN(channels=9, window=128, hidden=(128, 64), classes=6, steps=16).to_analog(
        hw.load("rram_generic"))
    rule = make_rule("dfa", lr=3e-3)
    rule.bind(chip)
    x = torch.randn(8, 128, 9)
    rule.step(chip, x, torch.arange(8) % 6)  # reads and updates: the pools exist now
    path = tmp_path / "chip.h5"
    ck.save(path, chip_state(chip, rule))
    assert sum(lyr.tile.rng._pools["normal"].numel() for lyr in chip.layers) >= 3 << 20
    assert path.stat().st_size < 1_000_000
    # and it restores the exact random stream: the next noisy read is the same
    twin = SNN(channels=9, window=128, hidden=(128, 64), classes=6, steps=16).to_analog(
        hw.load("rram_generic"), seed=5)
    twin_rule = make_rule("dfa", lr=3e-3)
    twin_rule.bind(twin)
    load_chip_state(twin, twin_rule, ck.load(path))
    assert torch.equal(chip.record(x).logits, twin.record(x).logits)


def test_order_exact_numbers_and_few_objects(tmp_path):
    """Mappings keep their key order (a ledger summed after a reload gives the same bits),
    any int, NaN and inf survive, and scalars cost no HDF5 object of their own."""
    import h5py
    import math

    state = {"z": 1, "a": {"energy": {"pulse": 0.1, "adc": 0.2, "dac": 1e-300},
                           "rng": 2 ** 70 + 3, "nan": float("nan"), "inf": -math.inf,
                           "t": (1, "x", None, [True, 2.5])},
             "m": torch.arange(3), "hist": [float(i) / 7 for i in range(600)]}
    ck.save(tmp_path / "c.h5", state)
    back = ck.load(tmp_path / "c.h5")
    assert list(back) == ["z", "a", "m", "hist"]
    assert list(back["a"]["energy"]) == ["pulse", "adc", "dac"]
    assert back["a"]["rng"] == 2 ** 70 + 3 and math.isnan(back["a"]["nan"])
    assert back["a"]["inf"] == -math.inf and back["a"]["t"] == (1, "x", None, [True, 2.5])
    assert back["hist"] == state["hist"] and back["a"]["energy"]["dac"] == 1e-300
    with h5py.File(tmp_path / "c.h5", "r") as f:
        objects = []
        f.visit(objects.append)
    assert objects == ["m"], objects  # one dataset; the rest is one JSON attribute


def test_secrets_refused_inside_plain_values(tmp_path):
    with pytest.raises(ck.CheckpointError, match=r"refusing to store a secret"):
        ck.save(tmp_path / "s.h5", {"encrypt": {"layer_key": [1, 0, 1]}})
    assert not (tmp_path / "s.h5").exists()
