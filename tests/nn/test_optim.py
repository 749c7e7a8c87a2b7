"""snnx's Adam equals torch.optim.Adam bit for bit, and imports no compiler stack."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from snnx.nn.optim import Adam


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_matches_torch_bit_for_bit(weight_decay, dtype):
    torch.manual_seed(0)
    net_a = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    net_a = net_a.to(dtype)
    net_b = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    net_b = net_b.to(dtype)
    net_b.load_state_dict(net_a.state_dict())
    mine = Adam(net_a.parameters(), lr=3e-3, weight_decay=weight_decay)
    ref = torch.optim.Adam(net_b.parameters(), lr=3e-3, weight_decay=weight_decay)
    x, y = torch.randn(16, 7, dtype=dtype), torch.randint(0, 3, (16,))
    for _ in range(25):
        for net, opt in ((net_a, mine), (net_b, ref)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(a, b)


def test_state_round_trip_continues_identically():
    w1 = torch.nn.Parameter(torch.linspace(-1, 1, 5))
    opt = Adam([w1], lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        (w1 ** 3).sum().backward()
        opt.step()
    w2 = torch.nn.Parameter(w1.detach().clone())
    twin = Adam([w2], lr=0.05)
    twin.load_state_dict(opt.state_dict())
    for o, w in ((opt, w1), (twin, w2)):
        o.zero_grad()
        (w ** 3).sum().backward()
        o.step()
    assert torch.equal(w1, w2)


def test_does_not_import_dynamo():
    code = ("import sys, torch; from snnx.nn.optim import Adam; "
            "p = torch.nn.Parameter(torch.ones(2)); o = Adam([p]); (p*p).sum().backward(); "
            "o.step(); assert 'torch._dynamo' not in sys.modules, 'dynamo imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
