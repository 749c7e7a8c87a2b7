"""CNN: convolutional network kind (``model.kind: cnn``) for images and sensor windows.

Network, for conv blocks ``i = 1..n`` then fully connected layers::

    a_i = conv_i(h_{i-1}) + b_i        (analog: one tile per conv layer, see snnx.nn.conv)
    h_i = pool(f(a_i))                 (digital: activation, then max/avg pooling)
    a_l = W_l h_{l-1} + b_l,  h_l = f(a_l)      fully connected, h_n flattened (channel-major)
    logits = a_L                       (linear output layer)

Input (the model takes windows (B, W, C) as they are, ``flat_input = False``):

* ``dims: 1`` — a 1-D CNN over time: the C sensor channels are the input channels and the W
  samples the positions, ``x.transpose(1, 2)`` (B, C, W); e.g. HAR windows 128 x 9.
* ``dims: 2`` — a 2-D CNN on one grey image per window: a window of one sample (W = 1, e.g.
  the 8 x 8 digits stored as (N, 1, 64)) is reshaped row-major into a square image of side
  sqrt(C) (C must be a square); a longer window is itself the W x C image. One input
  channel either way.

On tiles (``to_analog``), every conv layer is an :class:`AnalogConv1d` /
:class:`AnalogConv2d` and every fully connected layer an :class:`AnalogLinear`, in
``self.layers`` (conv layers first), all sharing one ledger. Activations and pooling stay
digital. For the rules of :mod:`snnx.learn` (:class:`snnx.nn.Adaptable`), a conv layer's
record holds its patch rows (B*L_i, in*prod(k)) and its pre-activation rows (B*L_i, out):
the L_i output positions fold into the batch like time steps of an SNN, so
``tile.outer_update`` of the patches with δ rows is the exact convolution weight gradient.

* BP: ``hidden_delta(i, rec, g)`` takes ``g = tile_{i+1}.mvm_t(δ_{i+1})`` — the gradient
  at the *input rows* of layer i+1 — and folds it back to a map (col2im for a conv layer
  above, un-flatten for the first fully connected layer), then through the pooling (exact
  digital backward: max-pool routes to the arg-max, avg-pool spreads 1/k) and ``f'(a_i)``.
* DFA, feedback to the conv output maps (METHODS.md section 7, issue 13): by default
  (``DFA(conv_feedback="maps")``) the feedback tile of a conv layer has C_i x L_i outputs,
  one per output-map element, so every position gets its own projected error
  ``δ_i[b, p, c] = (B_i e_b)[p, c] f'(a_i[b, p, c])`` (Nøkland 2016 applied to conv maps;
  the tile is classes x C_i L_i cells). ``conv_feedback="channels"`` uses a C_i-output
  tile and broadcasts each channel's error over all positions (L_i times fewer cells, a
  spatially uniform signal gated only by ``f'``).

Example:
    >>> import torch, snnx.hw as hw
    >>> net = CNN(channels=9, window=32, classes=6, conv=(4,), hidden=(8,))
    >>> x = torch.randn(2, 32, 9)
    >>> bool(torch.allclose(net.to_analog(hw.load("ideal"))(x), net(x), atol=1e-5))
    True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnx.config.schema import KW, spec
from snnx.config.seeds import derive
from snnx.errors import ConfigError
from snnx.hw.config import HWConfig
from snnx.hw.ledger import CostLedger
from snnx.nn.analog import AnalogLinear
from snnx.nn.ann import ACTIVATIONS, TileNet, _analog, noisy_linear, noisy_weight
from snnx.nn.conv import CONVS, _AnalogConv
from snnx.nn.record import Record

POOLS = ("max", "avg")
FEEDBACK = ("maps", "channels")


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of ``model.kind: cnn`` (``model.cnn``); ``model.hidden`` are the
    fully connected widths after the convolutions."""

    dims: int = spec(1, choices=(1, 2), doc="1: conv over time, sensor channels as input "
                                          "channels | 2: conv over an image (see snnx.nn.cnn)")
    conv: tuple[int, ...] = spec((8, 16), doc="output channels of each conv layer, in "
                                              "[1, 4096]; at least one")
    kernel: int = spec(3, lo=1, hi=63, doc="kernel size along every spatial axis (odd for "
                                           "padding same), in [1, 63]")
    padding: str = spec("same", choices=("same", "valid"),
                        doc="same: zero padding (k-1)/2 keeps the size | valid: none")
    pool: int = spec(2, lo=1, hi=16, doc="pooling window and stride after each conv layer "
                                         "(1 = no pooling), in [1, 16]")
    pool_kind: str = spec("max", choices=POOLS, doc="max | avg pooling")
    activation: str = spec("relu", choices=("relu", "tanh", "sigmoid"),
                           doc="activation of conv and hidden layers")

    def __post_init__(self) -> None:
        if not self.conv:
            raise ConfigError("conv: must list at least one conv layer, got []")
        for i, c in enumerate(self.conv):
            if not 1 <= c <= 4096:
                raise ConfigError(f"conv[{i}]: {c!r} is out of range [1, 4096]")
        if self.padding == "same" and self.kernel % 2 == 0:
            raise ConfigError(f"kernel: padding 'same' needs an odd kernel, got {self.kernel}")


class CNN(TileNet):
    """Convolutional network on windows (see module docstring).

    Args:
        channels: C, sensor channels (or pixels of a one-sample window, ``dims=2``).
        window: W, samples per window.
        classes: output classes.
        conv: output channels of each conv layer.
        hidden: fully connected widths after the convolutions.
        dims: 1 (over time) or 2 (over an image).
        kernel / padding: conv kernel size per axis and ``"same"`` / ``"valid"``.
        pool / pool_kind: pooling window (= stride, 1 = none) and ``"max"`` / ``"avg"``.
        activation: a key of :data:`snnx.nn.ACTIVATIONS` (conv and hidden layers).
        bias: digital biases.
        weight_noise: relative Gaussian weight noise injected in training mode (0 = off).
        seed: seed of the initialisation and of the injected noise.
        dtype: parameter dtype (default float32).

    Raises:
        ConfigError: a 2-D image that is not square, or pooling that shrinks a map to 0.
    """

    TILE_PREFIX = "cnn"
    Params = Params
    flat_input = False
    """The network takes windows (B, W, C) as they are."""
    stochastic = False
    """A software forward pass (eval mode) is deterministic."""

    @classmethod
    def from_params(cls, params: Params, *, channels: int, window: int, classes: int,
                    hidden: Sequence[int], weight_noise: float = 0.0, seed: int = 0) -> "CNN":
        """The network of a recipe's ``model`` block (``model.kind: cnn``)."""
        try:
            return cls(channels=channels, window=window, classes=classes, conv=params.conv,
                       hidden=hidden, dims=params.dims, kernel=params.kernel,
                       padding=params.padding, pool=params.pool, pool_kind=params.pool_kind,
                       activation=params.activation, weight_noise=weight_noise, seed=seed)
        except ConfigError as e:
            raise ConfigError(f"model.cnn.{e}") from None

    @staticmethod
    def window_multiple(params: Params) -> int:
        """Any window length works (pooling floors; too short a window is an error)."""
        return 1

    def __init__(self, channels: int = 9, window: int = 128, classes: int = 6,
                 conv: Sequence[int] = (8, 16), hidden: Sequence[int] = (32,), *,
                 dims: int = 1, kernel: int = 3, padding: str = "same", pool: int = 2,
                 pool_kind: str = "max", activation: str = "relu", bias: bool = True,
                 weight_noise: float = 0.0, seed: int = 0,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self._kwargs = dict(channels=channels, window=window, classes=classes,
                            conv=tuple(conv), hidden=tuple(hidden), dims=dims, kernel=kernel,
                            padding=padding, pool=pool, pool_kind=pool_kind,
                            activation=activation, bias=bias, weight_noise=weight_noise,
                            seed=seed, dtype=dtype)
        for key, val, allowed in (("dims", dims, (1, 2)), ("pool_kind", pool_kind, POOLS),
                                  ("activation", activation, tuple(ACTIVATIONS))):
            if val not in allowed:
                raise ConfigError(f"{key}: {val!r} is not one of "
                                  f"{', '.join(map(str, allowed))}")
        self.channels, self.window, self.classes = int(channels), int(window), int(classes)
        self.dims, self.pool, self.pool_kind = int(dims), int(pool), pool_kind
        self.activation, self.weight_noise, self.seed = activation, float(weight_noise), int(seed)
        self.conv_channels, self.hidden = tuple(int(c) for c in conv), tuple(int(h) for h in hidden)
        if not self.conv_channels:
            raise ConfigError("conv: must list at least one conv layer, got []")
        in_ch, size = self._input_shape()
        self.in_shape = (in_ch, *size)
        g = torch.Generator().manual_seed(self.seed)
        Conv = nn.Conv1d if self.dims == 1 else nn.Conv2d
        layers: list[nn.Module] = []
        self.sizes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []  # (conv out, pooled)
        for i, c in enumerate(self.conv_channels):
            lyr = Conv(in_ch, c, kernel, padding=padding, bias=bias, dtype=dtype)
            out = tuple(n if padding == "same" else n - kernel + 1 for n in size)
            pooled = tuple(n // self.pool for n in out)
            if min(out + pooled) < 1:
                raise ConfigError(f"pool: conv layer {i} turns a {size} map into {out}, "
                                  f"pooled by {self.pool} to {pooled}: the window is too "
                                  f"small for {len(self.conv_channels)} conv layers")
            self.sizes.append((out, pooled))
            layers.append(lyr)
            in_ch, size = c, pooled
        widths = [in_ch * math.prod(size), *self.hidden, self.classes]
        for a, b in zip(widths[:-1], widths[1:]):
            layers.append(nn.Linear(a, b, bias=bias, dtype=dtype))
        with torch.no_grad():  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from the seed
            for lyr in layers:
                fan = lyr.weight[0].numel()
                lyr.weight.copy_((torch.rand(lyr.weight.shape, generator=g) * 2 - 1) / fan ** .5)
                if bias:
                    lyr.bias.copy_((torch.rand(lyr.bias.shape, generator=g) * 2 - 1) / fan ** .5)
        self.layers = nn.ModuleList(layers)
        self.n_conv = len(self.conv_channels)
        self.gen = torch.Generator().manual_seed(derive(self.seed, "model.noise"))

    # ------------------------------------------------------------------ shapes
    def _input_shape(self) -> tuple[int, tuple[int, ...]]:
        if self.dims == 1:
            return self.channels, (self.window,)
        if self.window > 1:
            return 1, (self.window, self.channels)
        side = math.isqrt(self.channels)
        if side * side != self.channels:
            raise ConfigError(f"dims: a 2-D CNN on one-sample windows needs a square number "
                              f"of channels (pixels), got {self.channels}")
        return 1, (side, side)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (B, W, C) -> the first layer's input maps (B, in, *S) (module docstring)."""
        x = torch.as_tensor(x)
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.window, self.channels):
            raise ValueError(f"x: expected shape (batch, {self.window}, {self.channels}), got "
                             f"{tuple(x.shape)}")
        if self.dims == 1:
            return x.transpose(1, 2)
        return x.reshape(x.shape[0], *self.in_shape)

    def _pool(self, z: torch.Tensor) -> torch.Tensor:
        if self.pool == 1:
            return z
        fn = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("avg", 1): F.avg_pool1d,
              ("avg", 2): F.avg_pool2d}[(self.pool_kind, self.dims)]
        return fn(z, self.pool)

    # ------------------------------------------------------------------ torch forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, C) windows -> logits (B, classes), differentiable (on tiles too)."""
        f = ACTIVATIONS[self.activation][0]
        noisy = self.training and self.weight_noise > 0
        h = self.image(x)
        for i, lyr in enumerate(self.layers):
            if i == self.n_conv:
                h = h.flatten(1)
            h = h.to(lyr.weight.dtype)
            if noisy and isinstance(lyr, (nn.Conv1d, nn.Conv2d)):
                h = _noisy_conv(lyr, h, self.weight_noise, self.gen)
            elif noisy and isinstance(lyr, nn.Linear):
                h = noisy_linear(lyr, h, self.weight_noise, self.gen)
            else:
                h = lyr(h)
            if i < self.n_conv:
                h = self._pool(f(h))
            elif i < len(self.layers) - 1:
                h = f(h)
        return h

    # ------------------------------------------------------------------ tiles
    def to_analog(self, hw: HWConfig | str = "rram_generic", *, seed: int = 0,
                  ledger: CostLedger | None = None) -> "CNN":
        """The same network on tiles: conv layers -> AnalogConv, linear -> AnalogLinear
        (tile seed ``derive(seed, "layer.tile", i)``, names ``conv<i>`` / ``fc<i>``)."""
        ledger = ledger if ledger is not None else CostLedger()
        out = self._fresh()
        layers = []
        for i, lyr in enumerate(self.layers):
            s = derive(seed, "layer.tile", i)
            if isinstance(lyr, AnalogLinear):
                layers.append(lyr)
            elif isinstance(lyr, nn.Linear):
                layers.append(AnalogLinear.from_linear(lyr, hw, seed=s, ledger=ledger,
                                                       name=f"fc{i}"))
            else:
                layers.append(CONVS[self.dims].from_conv(lyr, hw, seed=s, ledger=ledger,
                                                         name=f"conv{i}"))
        out.layers = nn.ModuleList(layers)
        return out.eval()

    def to_digital(self) -> "CNN":
        """A software copy holding the weights the tiles hold now (read back)."""
        return self._fresh().eval()

    def _fresh(self) -> "CNN":
        """A software CNN with this one's weights (read back from the tiles) and RNG."""
        out = type(self)(**self._kwargs)
        out.load_state_dict(_software_state(self))
        out.gen.set_state(self.gen.get_state())
        return out

    # ------------------------------------------------------------------ rule interface
    @torch.no_grad()
    def record(self, x: torch.Tensor) -> Record:
        """Forward on the tiles, keeping per layer the tile's input rows and pre-activation
        rows (conv: B*L_i patch rows, row b*L_i + p; fully connected: B rows)."""
        f = ACTIVATIONS[self.activation][0]
        h = self.image(x)
        B = int(h.shape[0])
        inputs, pre = [], []
        for i in range(len(self.layers)):
            lyr = _analog(self, i)
            h = h.to(lyr.tile.dtype)
            if i < self.n_conv:
                rows, size = lyr.patches(h)
                a = lyr.forward_rows(rows)
                h = self._pool(f(lyr.to_map(a, B, size)))
            else:
                if i == self.n_conv:
                    h = h.flatten(1)
                rows = h
                a = lyr.analog_forward(h)
                h = f(a) if i < len(self.layers) - 1 else a
            inputs.append(rows)
            pre.append(a)
        return Record(inputs=inputs, pre=pre, logits=h, batch=B)

    def output_delta(self, rec: Record, e: torch.Tensor) -> torch.Tensor:
        """δ_L = e (linear output layer); e = dL/dlogits (B, C)."""
        return e

    def local_deriv(self, layer: int, rec: Record) -> torch.Tensor:
        """f'(a_l), rows like ``rec.pre[layer]``."""
        return ACTIVATIONS[self.activation][1](rec.pre[layer])

    def hidden_delta(self, layer: int, rec: Record, g: torch.Tensor) -> torch.Tensor:
        """δ_l from ``g = tile_{l+1}.mvm_t(δ_{l+1})`` (the gradient at layer l+1's input
        rows): fully connected ``g ⊙ f'(a_l)``; conv: fold / un-flatten g to the pooled map,
        back through the pooling, ``⊙ f'(a_l)``, as rows (B*L_l, out_l)."""
        if layer >= self.n_conv:
            return g * self.local_deriv(layer, rec)
        B = rec.batch
        out, pooled = self.sizes[layer]
        C = self.conv_channels[layer]
        if layer + 1 < self.n_conv:
            gmap = _analog(self, layer + 1).fold(g, B, pooled)
        else:
            gmap = g.reshape(B, C, *pooled)
        a = _AnalogConv.to_map(rec.pre[layer], B, out)
        z = ACTIVATIONS[self.activation][0](a)
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            (dz,) = torch.autograd.grad(self._pool(zz), zz, grad_outputs=gmap.to(z.dtype))
        return _AnalogConv.to_rows(dz) * self.local_deriv(layer, rec)

    def expand_error(self, rec: Record, v: torch.Tensor) -> torch.Tensor:
        """Per-sample signal (B, n) -> per-row (B, n): the identity (fully connected rows);
        conv layers use :meth:`expand_feedback`."""
        return v

    def feedback_features(self, layer: int, kind: str = "maps") -> int:
        """Outputs of layer ``layer``'s DFA feedback tile: C_l L_l (``maps``) or C_l
        (``channels``) for a conv layer, out_l for a fully connected one."""
        if layer >= self.n_conv:
            return self.layers[layer].out_features
        C = self.conv_channels[layer]
        return C * math.prod(self.sizes[layer][0]) if kind == "maps" else C

    def expand_feedback(self, layer: int, rec: Record, v: torch.Tensor,
                        kind: str = "maps") -> torch.Tensor:
        """A feedback read (B, feedback_features) -> rows like ``rec.pre[layer]``: maps are
        ordered (position, channel), so row b*L + p is sample b at position p; ``channels``
        repeats each sample's C_l values over its L_l rows."""
        if kind not in FEEDBACK:
            raise ValueError(f"conv_feedback: {kind!r} is not one of {', '.join(FEEDBACK)}")
        if layer >= self.n_conv:
            return v
        L = math.prod(self.sizes[layer][0])
        if kind == "maps":
            return v.reshape(-1, self.conv_channels[layer])
        return v.repeat_interleave(L, dim=0)


def _noisy_conv(conv: nn.Module, x: torch.Tensor, sigma: float,
                gen: torch.Generator | None) -> torch.Tensor:
    """The convolution with ``W + sigma max|W| xi`` (fresh ``xi ~ N(0, 1)`` per call), as
    :func:`snnx.nn.ann.noisy_linear` (hardware-aware training aid)."""
    return conv._conv_forward(x, noisy_weight(conv.weight, sigma, gen), conv.bias)


def _software_state(model: CNN) -> dict:
    """``model``'s state as the software CNN holds it (conv kernels 4-D / 3-D again)."""
    state = {}
    for i, lyr in enumerate(model.layers):
        w = lyr.kernel if isinstance(lyr, _AnalogConv) else lyr.weight
        if isinstance(lyr, AnalogLinear):
            w = lyr.tile.read_weight().view_as(w)
        state[f"layers.{i}.weight"] = w.detach()
        if lyr.bias is not None:
            state[f"layers.{i}.bias"] = lyr.bias.detach()
    return state
