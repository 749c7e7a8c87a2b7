"""Contract checks run over every registered rule (a new rule joins automatically)."""

from __future__ import annotations

import math

import pytest
import torch

import snnx.hw as hw
from snnx.learn import RULES, Rule
from snnx.nn import CNN, MLP, SNN

NAMES = sorted(RULES)


def models():
    return {
        "mlp": (MLP([6, 8, 3], seed=1).to_analog(hw.load("rram_generic"), seed=1),
                torch.randn(4, 6, generator=torch.Generator().manual_seed(0))),
        "snn": (SNN(channels=2, window=8, hidden=(8,), classes=3, steps=4, gain=3.0, seed=1)
                .to_analog(hw.load("rram_generic"), seed=1),
                torch.randn(4, 8, 2, generator=torch.Generator().manual_seed(0))),
        "cnn": (CNN(channels=2, window=8, classes=3, conv=(3,), hidden=(8,), seed=1)
                .to_analog(hw.load("rram_generic"), seed=1),
                torch.randn(4, 8, 2, generator=torch.Generator().manual_seed(0))),
    }


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_follows_the_protocol(name):
    rule = RULES[name]()
    assert isinstance(rule, Rule) and rule.name == name and rule.lr > 0
    assert RULES[name].__doc__ and repr(rule).startswith(type(rule).__name__)
    with pytest.raises(ValueError, match="lr: must be > 0"):
        RULES[name](lr=-1.0)
    with pytest.raises(ValueError, match="loss: 'hinge' is not one of ce, mse"):
        RULES[name](loss="hinge")


@pytest.mark.parametrize("kind", ["mlp", "snn", "cnn"])
@pytest.mark.parametrize("name", NAMES)
def test_step_changes_only_the_tiles_and_reports_loss(name, kind):
    net, x = models()[kind]
    y = torch.tensor([0, 1, 2, 0])
    before = [l.tile.read_weight().clone() for l in net.layers]  # what the weight memory holds
    soft = [l.weight.detach().clone() for l in net.layers]
    # lr large enough that a step asks several device steps (a pulse scheme may otherwise
    # leave every cell untouched by chance: no coincidence, or a rounding down)
    out = RULES[name](lr=0.5).step(net, x, y)
    assert math.isfinite(out["loss"]) and 0.0 <= out["accuracy"] <= 1.0
    assert any(not torch.equal(l.tile.read_weight(), b) for l, b in zip(net.layers, before))
    assert all(torch.equal(l.weight, s) for l, s in zip(net.layers, soft))  # digital copy untouched


@pytest.mark.parametrize("name", NAMES)
def test_seeded_runs_repeat_and_state_round_trips(name):
    y = torch.tensor([0, 1, 2, 0])

    def fresh():
        net, x = models()["snn"]
        return net, x, RULES[name](lr=0.05, seed=3) if name != "bp" else RULES[name](lr=0.05)

    n1, x, r1 = fresh()
    n2, _, r2 = fresh()
    for _ in range(2):
        r1.step(n1, x, y)
        r2.step(n2, x, y)
    for a, b in zip(n1.layers, n2.layers):
        assert torch.equal(a.tile.read_weight(), b.tile.read_weight())
    # snapshot (model tiles + rule), continue; restore into fresh objects, continue the same
    tiles = [l.tile.state_dict() for l in n1.layers]
    bias = [None if l.bias is None else l.bias.detach().clone() for l in n1.layers]
    rs = r1.state_dict()
    gen = n1.gen.get_state()
    r1.step(n1, x, y)
    n3, _, r3 = fresh()
    for l, sd, b in zip(n3.layers, tiles, bias):
        l.tile.load_state_dict(sd)
        if b is not None:
            l.bias.data.copy_(b)
    n3.gen.set_state(gen)
    r3.load_state_dict(rs)
    r3.step(n3, x, y)
    for a, b in zip(n1.layers, n3.layers):
        assert torch.equal(a.tile.read_weight(), b.tile.read_weight())
