"""Convolutions on tiles: equality with torch on ideal hardware, and speed vs torch's conv.

Run:  python bench/conv.py            (2 threads, float32)

Prints, for AnalogConv1d / AnalogConv2d on the ``ideal`` preset, the max abs error against
``F.conv1d/2d`` of the forward, of the input gradient ``fold(tile.mvm_t(δ))`` and of the
update ``tile.outer_update(P, δ, lr)`` against ``-lr`` times torch autograd's weight
gradient; then median-time ratios (same process) of a noisy ``rram_generic`` forward
(im2col + one ``tile.mvm`` of B*L rows) against ``nn.Conv*`` forward, and of an autograd
training step against torch's.
"""

from __future__ import annotations

import torch
from _timing import median_time
from torch import nn

import snnx.hw as hw
from snnx.nn import AnalogConv1d, AnalogConv2d

CASES = {  # name: (torch conv, analog class, input shape)
    "conv1d 9->16 k5 (HAR, 128 samples)": (lambda: nn.Conv1d(9, 16, 5, padding=2),
                                           AnalogConv1d, (64, 9, 128)),
    "conv2d 16->32 k3 (digits, 8x8)": (lambda: nn.Conv2d(16, 32, 3, padding=1),
                                       AnalogConv2d, (64, 16, 8, 8)),
    "conv2d 3->8 k3 s2 d2 (17x13)": (lambda: nn.Conv2d(3, 8, 3, stride=2, dilation=2, padding=1),
                                     AnalogConv2d, (16, 3, 17, 13)),
}


def errors(make, cls, shape, lr: float = 1e-3) -> dict:
    """Max abs errors of forward, input gradient and update against torch (ideal preset)."""
    torch.manual_seed(0)
    conv = make()
    a = cls.from_conv(conv, hw.load("ideal"))
    x = torch.randn(*shape)
    xr = x.clone().requires_grad_(True)
    y = conv(xr)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    fwd = float((a.analog_forward(x) - y.detach()).abs().max())
    rows, _ = a.patches(x)
    delta = a.to_rows(g)
    gx = a.fold(a.tile.mvm_t(delta), shape[0], shape[2:])
    w0 = a.tile.read_weight().clone()
    a.tile.outer_update(rows, delta, lr)
    upd = a.tile.read_weight() - w0
    return {"forward": fwd, "input_grad": float((gx - xr.grad).abs().max()),
            "update": float((upd + lr * conv.weight.grad.reshape(upd.shape)).abs().max())}


def speed(make, cls, shape, repeats: int = 20) -> dict:
    torch.manual_seed(0)
    conv = make()
    a = cls.from_conv(conv, hw.load("rram_generic"), seed=1)
    x = torch.randn(*shape)

    def fwd_t():
        with torch.no_grad():
            conv(x)

    def fwd_a():
        with torch.no_grad():
            a(x)

    def step(m):
        def run():
            m.zero_grad(set_to_none=True)
            m(x).pow(2).mean().backward()
        return run

    t_c, t_a = median_time(fwd_t, repeats), median_time(fwd_a, repeats)
    s_c, s_a = median_time(step(conv), repeats), median_time(step(a), repeats)
    return {"fwd_ratio": t_a / t_c, "step_ratio": s_a / s_c}


def main() -> None:
    torch.set_num_threads(2)
    print("ideal preset, float32: max abs error vs torch")
    print(f"{'case':40s} {'forward':>10s} {'input grad':>11s} {'update':>10s}")
    for name, (make, cls, shape) in CASES.items():
        e = errors(make, cls, shape)
        print(f"{name:40s} {e['forward']:10.2e} {e['input_grad']:11.2e} "
              f"{e['update']:10.2e}")
    print("\nrram_generic (read noise, 8-bit DAC/ADC) vs torch conv, median-time ratios")
    print(f"{'case':40s} {'forward':>10s} {'train step':>11s}")
    for name, (make, cls, shape) in CASES.items():
        s = speed(make, cls, shape)
        print(f"{name:40s} {s['fwd_ratio']:9.1f}x {s['step_ratio']:10.1f}x")


if __name__ == "__main__":
    main()
