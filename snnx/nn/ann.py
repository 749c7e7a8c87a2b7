"""MLP: a plain-torch multilayer perceptron for off-chip training, and its analog twin.

``MLP(sizes)`` computes, for layers ``l = 1..L``::

    a_l = W_l h_{l-1} + b_l,      h_l = f(a_l) (l < L),      logits = a_L

with ``h_0 = x`` and ``f`` the activation (relu, tanh, sigmoid or identity). ``to_analog(hw)``
returns the same network with every ``nn.Linear`` replaced by an :class:`AnalogLinear`
holding the same weights, all tiles sharing one :class:`CostLedger`.

Example:
    >>> import torch, snnx.hw as hw
    >>> net = MLP([4, 8, 3])
    >>> ana = net.to_analog(hw.load("ideal"))
    >>> x = torch.randn(2, 4)
    >>> bool(torch.allclose(net(x), ana(x), atol=1e-5))
    True
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnx.config.schema import KW, spec
from snnx.config.seeds import derive
from snnx.hw.config import HWConfig
from snnx.hw.ledger import CostLedger
from snnx.nn.analog import AnalogLinear
from snnx.nn.record import Record

# name -> (f, f' as a function of the pre-activation a)
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "relu": (torch.relu, lambda a: (a > 0).to(a.dtype)),
    "tanh": (torch.tanh, lambda a: 1.0 - torch.tanh(a) ** 2),
    "sigmoid": (torch.sigmoid, lambda a: torch.sigmoid(a) * (1.0 - torch.sigmoid(a))),
    "identity": (lambda a: a, lambda a: torch.ones_like(a)),
}


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of ``model.kind: mlp`` (``model.mlp``)."""

    activation: str = spec("relu", choices=("relu", "tanh", "sigmoid"),
                           doc="hidden activation")


def noisy_linear(layer: nn.Linear, x: torch.Tensor, sigma: float,
                 gen: torch.Generator | None) -> torch.Tensor:
    """``x (W + sigma max|W| xi)^T + b`` with a fresh ``xi ~ N(0, 1)`` per call (training aid).

    Gaussian weight-noise injection for hardware-aware off-chip training: ``sigma`` is
    relative to the layer's largest |weight| (the tile's full scale).
    """
    return F.linear(x, noisy_weight(layer.weight, sigma, gen), layer.bias)


def noisy_weight(w: torch.Tensor, sigma: float, gen: torch.Generator | None) -> torch.Tensor:
    """``W + sigma max|W| xi`` with a fresh ``xi ~ N(0, 1)`` (W itself when sigma is 0)."""
    if sigma <= 0:
        return w
    scale = sigma * w.detach().abs().max()
    return w + scale * torch.randn(w.shape, generator=gen, dtype=w.dtype, device=w.device)


def analog_copy(model: nn.Module, hw: HWConfig | str, seed: int, ledger: CostLedger | None,
                prefix: str, make: Callable | None = None) -> nn.Module:
    """Deep copy of ``model`` with each layer in ``model.layers`` put on a tile.

    Layer ``i`` gets tile seed ``derive(seed, "layer.tile", i)`` and name ``f"{prefix}{i}"``;
    all share ``ledger`` (a new one if None). ``make(layer, hw, seed=, ledger=, name=)``
    builds the :class:`AnalogLinear` of a layer (default
    :meth:`AnalogLinear.from_linear`, for ``nn.Linear`` layers).
    """
    ledger = ledger if ledger is not None else CostLedger()
    make = AnalogLinear.from_linear if make is None else make
    out = type(model)(**model._kwargs)  # fresh module, then the weights
    out.load_state_dict(model.state_dict())
    out.gen.set_state(model.gen.get_state())
    out.layers = nn.ModuleList(
        lyr if isinstance(lyr, AnalogLinear) else
        make(lyr, hw, seed=derive(seed, "layer.tile", i), ledger=ledger, name=f"{prefix}{i}")
        for i, lyr in enumerate(model.layers))
    out.eval()
    return out


def digital_copy(model: nn.Module) -> nn.Module:
    """A software copy of ``model`` holding the weights its tiles hold now (read back)."""
    out = type(model)(**model._kwargs)
    layers = [lyr.to_linear() if isinstance(lyr, AnalogLinear) else copy.deepcopy(lyr)
              for lyr in model.layers]
    with torch.no_grad():
        for dst, src in zip(out.layers, layers):
            dst.weight.copy_(src.weight)
            if dst.bias is not None:
                dst.bias.copy_(src.bias)
    out.gen.set_state(model.gen.get_state())
    return out


class OnTiles:
    """The ledger and hardware model of a network whose layers sit on tiles (mixin)."""

    @property
    def ledger(self) -> CostLedger:
        """The ledger shared by the analog layers."""
        return _analog(self, 0).ledger

    @property
    def hw(self) -> HWConfig:
        """The hardware model of the first analog layer."""
        return _analog(self, 0).hw


class TileNet(OnTiles, nn.Module):
    """What the networks share around their tiles (:class:`MLP`, :class:`snnx.nn.SNN`).

    A subclass keeps its linear layers in ``self.layers`` and its constructor arguments in
    ``self._kwargs``; ``TILE_PREFIX`` names its tiles in the ledger.
    """

    TILE_PREFIX = "fc"

    def to_analog(self, hw: HWConfig | str = "rram_generic", *, seed: int = 0,
                  ledger: CostLedger | None = None) -> "TileNet":
        """The same network with every weight matrix programmed on a tile (one shared ledger)."""
        return analog_copy(self, hw, seed, ledger, self.TILE_PREFIX)

    def to_digital(self) -> "TileNet":
        """A software copy with the weights the tiles hold now."""
        return digital_copy(self)


class MLP(TileNet):
    """Fully-connected network ``sizes[0] -> ... -> sizes[-1]`` (logits, no output activation).

    Args:
        sizes: layer widths including input and output, e.g. ``[64, 128, 10]``.
        activation: hidden activation, a key of :data:`ACTIVATIONS`.
        bias: use biases.
        weight_noise: relative Gaussian weight noise injected in training mode (0 = off).
        seed: seed of the initialisation and of the injected noise.
        dtype: parameter dtype (default float32).
    """

    Params = Params

    @classmethod
    def from_params(cls, params: Params, *, channels: int, window: int, classes: int,
                    hidden: Sequence[int], weight_noise: float = 0.0, seed: int = 0) -> "MLP":
        """The network of a recipe's ``model`` block (``model.kind: mlp``): the window is
        flattened to ``window * channels`` inputs."""
        return cls([window * channels, *hidden, classes], params.activation,
                   weight_noise=weight_noise, seed=seed)

    @staticmethod
    def window_multiple(params: Params) -> int:
        """Any window length works."""
        return 1

    flat_input = True
    """The network takes flattened windows (B, W * C)."""

    stochastic = False
    """A software forward pass (eval mode) is deterministic."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu", *, bias: bool = True,
                 weight_noise: float = 0.0, seed: int = 0,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self._kwargs = dict(sizes=list(sizes), activation=activation, bias=bias,
                            weight_noise=weight_noise, seed=seed, dtype=dtype)
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes: need at least two positive widths, got {list(sizes)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: {activation!r} is not one of "
                             f"{', '.join(ACTIVATIONS)}")
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.weight_noise = float(weight_noise)
        self.seed = int(seed)
        g = torch.Generator().manual_seed(self.seed)
        layers = []
        for i, o in zip(self.sizes[:-1], self.sizes[1:]):
            lin = nn.Linear(i, o, bias=bias, dtype=dtype)
            k = 1.0 / i ** 0.5
            with torch.no_grad():
                lin.weight.copy_((torch.rand(o, i, generator=g) * 2 - 1) * k)
                if bias:
                    lin.bias.copy_((torch.rand(o, generator=g) * 2 - 1) * k)
            layers.append(lin)
        self.layers = nn.ModuleList(layers)
        self.gen = torch.Generator().manual_seed(derive(self.seed, "model.noise"))

    # ------------------------------------------------------------------ torch forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, sizes[0]) -> logits (B, sizes[-1])."""
        f = ACTIVATIONS[self.activation][0]
        for i, lyr in enumerate(self.layers):
            if isinstance(lyr, nn.Linear) and self.training and self.weight_noise > 0:
                x = noisy_linear(lyr, x, self.weight_noise, self.gen)
            else:
                x = lyr(x)
            if i < len(self.layers) - 1:
                x = f(x)
        return x

    # ------------------------------------------------------------------ rule interface
    @torch.no_grad()
    def record(self, x: torch.Tensor) -> Record:
        """Forward on the tiles, keeping ``x_l`` and ``a_l`` (see :class:`Record`)."""
        f = ACTIVATIONS[self.activation][0]
        h = torch.as_tensor(x)
        inputs, pre = [], []
        for i in range(len(self.layers)):
            lyr = _analog(self, i)
            h = h.to(lyr.tile.dtype)
            inputs.append(h)
            a = lyr.analog_forward(h)
            pre.append(a)
            h = f(a) if i < len(self.layers) - 1 else a
        return Record(inputs=inputs, pre=pre, logits=h, batch=int(h.shape[0]))

    def output_delta(self, rec: Record, e: torch.Tensor) -> torch.Tensor:
        """δ_L = e (linear output layer); e = dL/dlogits (B, C)."""
        return e

    def hidden_delta(self, layer: int, rec: Record, g: torch.Tensor) -> torch.Tensor:
        """δ_l = g ⊙ f'(a_l), g = dL/dh_l (B, out_l)."""
        return g * self.local_deriv(layer, rec)

    def local_deriv(self, layer: int, rec: Record) -> torch.Tensor:
        """f'(a_l) (B, out_l)."""
        return ACTIVATIONS[self.activation][1](rec.pre[layer])

    def expand_error(self, rec: Record, v: torch.Tensor) -> torch.Tensor:
        """Per-sample signal (B, n) -> per-row signal (N, n): the identity for an ANN."""
        return v


def _analog(model: nn.Module, i: int) -> AnalogLinear:
    lyr = model.layers[i]
    if not isinstance(lyr, AnalogLinear):
        raise TypeError(f"layer {i} is a {type(lyr).__name__}, not an AnalogLinear: call "
                        "to_analog(hw) first (rules adapt analog models only)")
    return lyr
