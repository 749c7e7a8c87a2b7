"""Binary and ternary networks for off-chip training, and their integer form (METHODS.md 6).

Training keeps latent float weights ``W`` and uses quantised copies in the forward pass:

* binary: ``Wb = sign(W)`` with ``sign(0) = +1``;
* ternary: ``Wt = [W > D] - [W < -D]``, ``D = 0.7 mean|W|`` per layer (ternary weight
  networks, Li & Liu 2016).

Both pass gradients with the straight-through estimator of Hubara et al. (NeurIPS 2016),
``dL/dW = dL/dWb * [|W| <= 1]``; latent weights are clipped to [-1, 1] after every step.
Activations are ``sign`` (BNN) or ternary with dead zone ``delta`` (TNN), with the same STE.

A :class:`BNN` is ``x -> [BinaryLinear -> BatchNorm1d -> act] * (L-1) -> BinaryLinear ->
BatchNorm1d -> logits``. After training, a BatchNorm that follows a binary layer folds into
an integer threshold per output: ``Y = sign(f (W x) - B)`` (binary) with ``f = sign(gamma)``
(:func:`fold_bn_sign`), or two thresholds for the ternary activation
(:func:`fold_bn_ternary`). The last BatchNorm stays a digital affine map before argmax.
:meth:`BNN.integer_forward` runs that integer network with any matmul, e.g. a crossbar mode.

Inputs (sklearn's 8x8 digits, pixels p in [0, 1]): :func:`encode_inputs` gives
``x = +1 if p >= 0.5 else -1`` (BNN) or ``x = round(2 p) - 1`` in {-1, 0, 1} (TNN).

Example:
    >>> net = BNN((64, 32, 10), seed=0)
    >>> x = encode_inputs(torch.rand(5, 64), "binary")
    >>> net(x).shape
    torch.Size([5, 10])
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnx.errors import ConfigError, ShapeError

KINDS = ("binary", "ternary")


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


class _TernarySTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, delta):
        ctx.save_for_backward(x)
        return (x > delta).to(x.dtype) - (x < -delta).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype), None


def binarize(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)`` in {-1, +1} (``sign(0) = +1``); gradient ``g [|x| <= 1]`` (STE)."""
    return _SignSTE.apply(x)


def ternarize(x: torch.Tensor, delta: float | torch.Tensor) -> torch.Tensor:
    """``[x > delta] - [x < -delta]`` in {-1, 0, 1}; gradient ``g [|x| <= 1]`` (STE)."""
    return _TernarySTE.apply(x, torch.as_tensor(delta, dtype=x.dtype))


def _latent(n_out: int, n_in: int, gen: torch.Generator) -> nn.Parameter:
    bound = 1.0 / math.sqrt(n_in)
    return nn.Parameter((torch.rand(n_out, n_in, generator=gen) * 2 - 1) * bound)


class BinaryLinear(nn.Module):
    """``y = x sign(W)^T`` without bias (a following BatchNorm supplies the offset).

    Args:
        n_in, n_out: widths. ``weight`` (n_out, n_in) holds the latent float weights.
        gen: generator of the uniform init ``U(-1/sqrt(n_in), 1/sqrt(n_in))``.
    """

    def __init__(self, n_in: int, n_out: int, *, gen: torch.Generator | None = None) -> None:
        super().__init__()
        self.weight = _latent(n_out, n_in, gen or torch.Generator().manual_seed(0))

    def quantized(self) -> torch.Tensor:
        return binarize(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantized())

    def weight_int(self) -> torch.Tensor:
        """(n_out, n_in) int64 weights in {-1, 1}."""
        return self.quantized().detach().to(torch.int64)


class TernaryLinear(BinaryLinear):
    """``y = x T(W)^T`` with ``T(W) = [W > D] - [W < -D]``, ``D = ratio mean|W|``."""

    def __init__(self, n_in: int, n_out: int, *, gen: torch.Generator | None = None,
                 ratio: float = 0.7) -> None:
        super().__init__(n_in, n_out, gen=gen)
        self.ratio = ratio

    def quantized(self) -> torch.Tensor:
        return ternarize(self.weight, self.ratio * self.weight.detach().abs().mean())


def _bn_affine(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """``BN(y) = a y + c`` in eval mode, float64."""
    s = torch.sqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.detach().double() if bn.affine else torch.ones_like(s)
    beta = bn.bias.detach().double() if bn.affine else torch.zeros_like(s)
    a = gamma / s
    return a, beta - a * bn.running_mean.double()


def fold_bn_sign(bn: nn.BatchNorm1d, fan_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer threshold and sign flip with ``sign(BN(y)) = sign(f y - B)`` for integer y.

    With ``BN(y) = a y + c`` (eval mode), ``a = gamma / sqrt(var + eps)``: for ``a > 0``,
    ``BN(y) >= 0  <=>  y >= -c/a  <=>  y >= ceil(-c/a)``, so ``f = 1, B = ceil(-c/a)``;
    for ``a < 0`` the inequality turns, ``f = -1, B = ceil(c/a)``; for ``a = 0`` the output
    is constant (``B = -(fan_in + 1)`` if ``c >= 0`` else ``fan_in + 1``). The flip can be
    folded into the weights (``W' = f W``) to get the form ``Y = sign(W'^T X - B)`` of
    METHODS.md 3; ``sign(0) = +1`` throughout.

    Args:
        bn: the BatchNorm1d after a binary layer (its running statistics are used).
        fan_in: inputs of the layer (|y| <= fan_in).

    Returns:
        B (n,) int64 thresholds, f (n,) int64 in {-1, 1}.
    """
    a, c = _bn_affine(bn)
    f = torch.where(a < 0, -1, 1).to(torch.int64)
    safe = torch.where(a == 0, 1.0, a)
    B = torch.ceil(-f * c / safe)
    B = torch.where(a == 0, torch.where(c >= 0, -(fan_in + 1.0), fan_in + 1.0), B)
    return B.clamp(-(fan_in + 1), fan_in + 1).to(torch.int64), f


def fold_bn_ternary(bn: nn.BatchNorm1d, fan_in: int,
                    delta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thresholds with ``T(BN(y)) = [f y >= H] - [f y < L]`` for integer y.

    ``T(a) = [a > delta] - [a < -delta]``. With ``BN(y) = a y + c`` and ``f = sign(a)``:
    ``BN(y) > delta  <=>  f y > f (delta - c)/a  <=>  f y >= floor(f (delta - c)/a) + 1``
    and ``BN(y) < -delta  <=>  f y < ceil(f (-delta - c)/a)``. For ``a = 0`` the output is
    constant, encoded with thresholds outside ``[-fan_in, fan_in]``.

    Returns:
        H (n,) int64, L (n,) int64, f (n,) int64 in {-1, 1}.
    """
    a, c = _bn_affine(bn)
    f = torch.where(a < 0, -1, 1).to(torch.int64)
    safe = torch.where(a == 0, 1.0, a)
    H = torch.floor(f * (delta - c) / safe) + 1
    L = torch.ceil(f * (-delta - c) / safe)
    big = fan_in + 1.0
    H = torch.where(a == 0, torch.where(c > delta, -big, big), H)
    L = torch.where(a == 0, torch.where(c < -delta, big, -big), L)
    return (H.clamp(-big, big).to(torch.int64), L.clamp(-big, big).to(torch.int64), f)


def encode_inputs(pixels: torch.Tensor, kind: str) -> torch.Tensor:
    """Pixels in [0, 1] -> +-1 (``binary``: ``p >= 0.5``) or {-1, 0, 1} (``ternary``)."""
    if kind == "binary":
        return torch.where(pixels >= 0.5, 1.0, -1.0)
    if kind == "ternary":
        return torch.round(2.0 * pixels).clamp(0, 2) - 1.0
    raise ConfigError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")


class BNN(nn.Module):
    """Fully connected binary (or ternary) network.

    Args:
        sizes: widths ``(n_in, h_1, ..., n_classes)``, e.g. ``(64, 256, 256, 10)``.
        kind: ``binary`` (weights and activations +-1) or ``ternary`` ({-1, 0, 1}).
        delta: dead zone of the ternary activation (on the BatchNorm output).
        seed: seed of the latent weight init.
    """

    def __init__(self, sizes: Sequence[int] = (64, 256, 256, 10), *, kind: str = "binary",
                 delta: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ConfigError(f"sizes: need at least two positive widths, got {list(sizes)}")
        if kind not in KINDS:
            raise ConfigError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        self.sizes, self.kind, self.delta = tuple(int(s) for s in sizes), kind, float(delta)
        gen = torch.Generator().manual_seed(seed)
        cls = BinaryLinear if kind == "binary" else TernaryLinear
        self.layers = nn.ModuleList(cls(a, b, gen=gen) for a, b in zip(sizes[:-1], sizes[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in sizes[1:])

    def act(self, a: torch.Tensor) -> torch.Tensor:
        return binarize(a) if self.kind == "binary" else ternarize(a, self.delta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes) of encoded inputs x (B, n_in)."""
        h = x
        for i, (lin, bn) in enumerate(zip(self.layers, self.norms)):
            h = bn(lin(h))
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h

    def clip_(self) -> None:
        """Clip latent weights to [-1, 1] (call after every optimiser step)."""
        with torch.no_grad():
            for lin in self.layers:
                lin.weight.clamp_(-1.0, 1.0)

    def integer_forward(self, x_int: torch.Tensor,
                        matmul: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Logits of the folded integer network with a given layer product.

        Hidden layers output ``sign(f y - B)`` or the ternary thresholds (BatchNorm folded,
        :func:`fold_bn_sign` / :func:`fold_bn_ternary`); the last layer's BatchNorm stays
        a float64 affine map. Equal to ``self.eval()(x)`` when ``matmul`` is exact.

        Args:
            x_int: (B, n_in) encoded inputs (integers).
            matmul: ``matmul(l, h)`` -> (B, n_out_l) float ``h W_l^T`` for layer l, with h
                (B, n_in_l) int64; e.g. a crossbar simulation.
        """
        if x_int.dim() != 2 or x_int.shape[1] != self.sizes[0]:
            raise ShapeError(f"x_int: expected (B, {self.sizes[0]}), got {tuple(x_int.shape)}")
        h = x_int.to(torch.int64)
        last = len(self.layers) - 1
        for i, bn in enumerate(self.norms):
            y = matmul(i, h).to(torch.float64)
            if i == last:
                a, c = _bn_affine(bn)
                return a * y + c
            if self.kind == "binary":
                B, f = fold_bn_sign(bn, self.sizes[i])
                h = torch.where(f * y - B >= 0, 1, -1)
            else:
                H, L, f = fold_bn_ternary(bn, self.sizes[i], self.delta)
                h = (f * y >= H).to(torch.int64) - (f * y < L).to(torch.int64)
        raise AssertionError("unreachable")

    def weights_int(self) -> list[torch.Tensor]:
        """Integer weights (n_out, n_in) of every layer."""
        return [lin.weight_int() for lin in self.layers]


def train_bnn(net: BNN, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 30,
              lr: float = 1e-2, batch: int = 64, seed: int = 0) -> list[float]:
    """Adam on cross-entropy with latent-weight clipping; returns the mean loss per epoch.

    Args:
        net: the network (trained in place, left in eval mode).
        x: (N, n_in) encoded inputs; y: (N,) class indices.
        epochs, lr, batch: optimiser settings; ``seed`` seeds the shuffling.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    net.train()
    for _ in range(epochs):
        perm, total = torch.randperm(len(x), generator=gen), 0.0
        for idx in perm.split(batch):
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.clip_()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(x))
    net.eval()
    return losses
