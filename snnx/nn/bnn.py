r"""``model.kind: bnn``: a binary (or ternary) network that runs through the whole pipeline.

:class:`BinaryNet` is the :class:`~snnx.nn.binary.BNN` of METHODS.md section 6 (latent float
weights, ``sign`` / ternary weights and activations with straight-through estimators,
BatchNorm after every layer) with what a network kind needs: ``from_params``, a digital
input encoder (flattened windows in [0, 1] -> +-1, or {-1, 0, 1} for ternary:
:func:`~snnx.nn.binary.encode_inputs`; use ``data.standardize: false`` for digits),
``to_analog`` (the quantised weights on tiles, BatchNorm digital) and the rule interface
(``record``, deltas). Layer ``l`` on the chip::

    a_l = tile_l.mvm(h_{l-1}),   z_l = BN_l(a_l) = g_l a_l + c_l,   h_l = sign(z_l)  (l < L)
    logits = z_L

Rules see the straight-through derivative ``dh_l/da_l = g_l [|z_l| <= 1]`` (DFA, BP). The
BatchNorms never change on the chip (digital, eval statistics). :meth:`BinaryNet.integer_layers`
folds a binary net into the integer form of METHODS.md section 3, ``Y = sign(W^T X - B)``
per hidden layer (:func:`~snnx.nn.binary.fold_bn_sign`, the sign of ``g`` folded into the
columns) and integer scores ``W^T X`` of the last layer before its affine BatchNorm ``head``:
the exact integer path the encryption kernels run on.

Pretraining is the pipeline's plain torch loop; latent weights are clipped to [-1, 1] at
every training forward (equivalent to clipping after each step for the next use; the sign,
which is all that reaches the tiles, is unchanged by clipping). ``pretrain.noise_injection``
is not used by this kind.

Example:
    >>> import torch, snnx.hw as hw
    >>> net = BinaryNet([64, 32, 10], seed=0).eval()
    >>> x = torch.rand(4, 64)
    >>> chip = net.to_analog(hw.load("ideal"))
    >>> bool(torch.allclose(chip(x), net(x), atol=1e-5))
    True
    >>> layers, head = net.integer_layers()
    >>> [tuple(W.shape) for W, B in layers]
    [(64, 32), (32, 10)]
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import torch

from snnx.config.schema import KW, spec
from snnx.config.seeds import derive
from snnx.hw.config import HWConfig
from snnx.hw.ledger import CostLedger
from snnx.nn.analog import AnalogLinear
from snnx.nn.ann import OnTiles, _analog, analog_copy
from snnx.nn.binary import BNN, KINDS, _bn_affine, encode_inputs, fold_bn_sign
from snnx.nn.record import Record

__all__ = ["BinaryNet", "Params"]


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of ``model.kind: bnn`` (``model.bnn``)."""

    weights: str = spec("binary", choices=KINDS,
                        doc="binary: weights and activations +-1 | ternary: {-1, 0, 1}")
    delta: float = spec(0.5, lo=0, hi=10, doc="dead zone of the ternary activation, in "
                                              "BatchNorm output units")


class BinaryNet(OnTiles, BNN):
    """A :class:`~snnx.nn.binary.BNN` as a pipeline network kind (see module docstring).

    Args:
        sizes: widths ``(n_in, h_1, ..., n_classes)``.
        kind: ``binary`` or ``ternary``.
        delta: ternary dead zone.
        seed: seed of the latent weight init.
    """

    Params = Params
    flat_input = True
    """Takes flattened windows (B, W * C)."""
    stochastic = False
    """A software forward pass (eval mode) is deterministic."""

    def __init__(self, sizes: Sequence[int], kind: str = "binary", delta: float = 0.5,
                 seed: int = 0) -> None:
        super().__init__(sizes, kind=kind, delta=delta, seed=seed)
        self._kwargs = dict(sizes=list(sizes), kind=kind, delta=delta, seed=seed)
        self.gen = torch.Generator().manual_seed(derive(seed, "model.noise"))

    @classmethod
    def from_params(cls, params: Params, *, channels: int, window: int, classes: int,
                    hidden: Sequence[int], weight_noise: float = 0.0,
                    seed: int = 0) -> "BinaryNet":
        """The network of a recipe's ``model`` block (``model.kind: bnn``), in eval mode."""
        return cls([window * channels, *hidden, classes], params.weights, params.delta,
                   seed).eval()

    @staticmethod
    def window_multiple(params: Params) -> int:
        """Any window length works."""
        return 1

    # ------------------------------------------------------------------ forward
    def encode_input(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs (B, n_in) in [0, 1] -> the digital +-1 (ternary: {-1, 0, 1}) drive."""
        return encode_inputs(torch.as_tensor(x).reshape(-1, self.sizes[0]), self.kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes) of raw inputs x (B, n_in)."""
        h = self.encode_input(x)
        if not self.training:
            return super().forward(h)
        if not isinstance(self.layers[0], AnalogLinear):
            self.clip_()
        if h.shape[0] > 1:
            return super().forward(h)
        self.norms.eval()  # one sample: BatchNorm uses its running statistics
        try:
            return super().forward(h)
        finally:
            self.norms.train()

    # ------------------------------------------------------------------ tiles
    def to_analog(self, hw: HWConfig | str = "rram_generic", *, seed: int = 0,
                  ledger: CostLedger | None = None) -> "BinaryNet":
        """The same network with every quantised weight matrix on a tile (no bias; the
        BatchNorms stay digital); all tiles share one ledger."""
        def make(lyr, hw, **kw):
            return AnalogLinear(lyr.weight.shape[1], lyr.weight.shape[0], hw, bias=False,
                                weight=lyr.quantized().detach(), **kw)

        return analog_copy(self, hw, seed, ledger, "bnn", make)

    def to_digital(self) -> "BinaryNet":
        """A software copy (eval mode) whose latent weights are the weights the tiles hold."""
        out = type(self)(**self._kwargs)
        out.load_state_dict(self.state_dict())
        with torch.no_grad():
            for dst, src in zip(out.layers, self.layers):
                if isinstance(src, AnalogLinear):
                    dst.weight.copy_(src.tile.read_weight().to(dst.weight.dtype))
        out.gen.set_state(self.gen.get_state())
        return out.eval()

    def _weights(self) -> list[torch.Tensor]:
        """Quantised weights (out, in) of every layer (a chip's master copies)."""
        return [lyr.weight.detach() if isinstance(lyr, AnalogLinear) else
                lyr.quantized().detach() for lyr in self.layers]

    def integer_layers(self) -> tuple[list, Callable] | None:
        """The folded integer network of a binary net, or None (ternary, or weights no
        longer +-1).

        Returns:
            ``([(W (in_l, out_l) +-1, B (out_l,) integer)], head)``: hidden layers compute
            ``sign(x W - B)`` (the sign of the BatchNorm scale folded into W), the last
            ``x W`` (B = 0), and ``head(scores)`` is its BatchNorm, float64 logits.
        """
        Ws = self._weights()
        if self.kind != "binary" or any(not bool((W.abs() == 1).all()) for W in Ws):
            return None
        layers = []
        for i, W in enumerate(Ws[:-1]):
            B, f = fold_bn_sign(self.norms[i], self.sizes[i])
            layers.append(((f[:, None] * W.to(torch.int64)).T.float(), B.float()))
        layers.append((Ws[-1].T.float(), torch.zeros(Ws[-1].shape[0])))
        g, c = _bn_affine(self.norms[-1])
        return layers, lambda s: g * s.double() + c

    # ------------------------------------------------------------------ rule interface
    def _bn(self, i: int, a: torch.Tensor) -> torch.Tensor:
        g, c = _bn_affine(self.norms[i])
        return (g * a.double() + c).to(a.dtype)

    @torch.no_grad()
    def record(self, x: torch.Tensor) -> Record:
        """Forward on the tiles, keeping ``x_l`` and ``a_l`` (see :class:`Record`)."""
        h = self.encode_input(x)
        inputs, pre = [], []
        last = len(self.layers) - 1
        for i in range(len(self.layers)):
            lyr = _analog(self, i)
            h = h.to(lyr.tile.dtype)
            inputs.append(h)
            a = lyr.analog_forward(h)
            pre.append(a)
            z = self._bn(i, a)
            h = z if i == last else self.act(z)
        return Record(inputs=inputs, pre=pre, logits=h, batch=int(h.shape[0]))

    def output_delta(self, rec: Record, e: torch.Tensor) -> torch.Tensor:
        """δ_L = e ⊙ g_L (the last BatchNorm's scale)."""
        g, _ = _bn_affine(self.norms[-1])
        return e * g.to(e.dtype)

    def local_deriv(self, layer: int, rec: Record) -> torch.Tensor:
        """Straight-through derivative ``g_l [|z_l| <= 1]`` (B, out_l)."""
        a = rec.pre[layer]
        g, _ = _bn_affine(self.norms[layer])
        return g.to(a.dtype) * (self._bn(layer, a).abs() <= 1).to(a.dtype)

    def hidden_delta(self, layer: int, rec: Record, g: torch.Tensor) -> torch.Tensor:
        """δ_l = g ⊙ f'(a_l)."""
        return g * self.local_deriv(layer, rec)

    def expand_error(self, rec: Record, v: torch.Tensor) -> torch.Tensor:
        """The identity (no time axis)."""
        return v
