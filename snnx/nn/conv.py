"""AnalogConv1d / AnalogConv2d: convolutions on ONE crossbar :class:`Tile` per layer (im2col).

A convolution is a matrix product on patches. With the kernel ``W`` (out, in, *k) held on a
tile as the matrix ``W2 = W.reshape(out, in * prod(k))`` (one column of cells per input
pixel of a patch, in torch's ``unfold`` order: channel, then kernel row, then kernel
column), and ``P`` the patches of an input map ``x`` (B, in, *S)::

    P     = unfold(x)            (B*L, in*prod(k))   row b*L + p = patch at output position p
    y     = P W2^T + b           (B*L, out)          ->  (B, out, *S_out)   (tile.mvm)
    dL/dP = (dL/dy) W2           (B*L, in*prod(k))                          (tile.mvm_t)
    dL/dx = fold(dL/dP)          (B, in, *S)         col2im: the adjoint of unfold (digital)
    W2   <- W2 - lr δ^T P        δ = dL/dy rows      (tile.outer_update)

so the L = prod(S_out) output positions of every sample are folded into the batch, exactly
as spiking networks fold time steps (DESIGN.md contract 3): a forward pass is ONE
``tile.mvm`` of B*L rows, and the ledger counts B*L vector reads. The bias is digital (one
register per output channel); its update sums δ over all B*L rows.

Supported geometry: ``stride``, ``dilation`` and symmetric zero ``padding`` (an int per
spatial axis, ``"valid"`` = 0, or ``"same"`` = ``dilation*(k-1)/2`` on each side, which
needs ``dilation*(k-1)`` even, i.e. odd kernels; with stride 1 it keeps the size). Not
supported: ``groups > 1``, padding modes other than zeros (reflect, circular), asymmetric
padding, transposed convolutions. A 1-D convolution runs as a 2-D one on a (B, C, 1, L)
view.

Autograd (training mode) works as for :class:`AnalogLinear`: ``unfold`` is an ordinary
differentiable torch op, so the input gradient is ``fold(tile.mvm_t(dL/dy))`` and the
weight gradient is the digital ``δ^T P`` on the 2-D ``weight`` parameter; hardware-aware
pretraining of a network of these layers is plain torch.

Reference: im2col lowering of convolutions, Chellapilla, Puri, Simard, "High Performance
Convolutional Neural Networks for Document Processing" (IWFHR 2006); on crossbars, the
kernel unrolled onto the rows of one array is the mapping of ISAAC (Shafiee et al., ISCA
2016).

Example:
    >>> import torch, snnx.hw as hw
    >>> conv = torch.nn.Conv2d(2, 4, 3, padding=1)
    >>> a = AnalogConv2d.from_conv(conv, hw.load("ideal"))
    >>> x = torch.randn(3, 2, 8, 8)
    >>> bool(torch.allclose(a(x), conv(x), atol=1e-5))
    True
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from snnx.hw.config import HWConfig
from snnx.hw.ledger import CostLedger
from snnx.nn.analog import AnalogLinear


def _pair(v: int | Sequence[int], dims: int, name: str) -> tuple[int, ...]:
    t = (int(v),) * dims if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) != dims:
        raise ValueError(f"{name}: expected {dims} value(s), got {v!r}")
    return t


class _AnalogConv(AnalogLinear):
    """What AnalogConv1d and AnalogConv2d share (``dims`` spatial axes).

    It is an :class:`AnalogLinear` on patches: ``in_features = in_channels * prod(kernel)``,
    ``out_features = out_channels``, ``weight`` (out, in_features) is the matrix on the
    tile, so every learning rule and transform that works on AnalogLinear tiles works here.
    """

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 hw: HWConfig | str = "rram_generic", bias: bool = True, *,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, seed: int = 0,
                 ledger: CostLedger | None = None, name: str = "conv",
                 weight: torch.Tensor | None = None, dtype: torch.dtype | None = None) -> None:
        d = self.dims
        k = _pair(kernel_size, d, "kernel_size")
        s, dil = _pair(stride, d, "stride"), _pair(dilation, d, "dilation")
        if min(k + s + dil) < 1 or int(in_channels) < 1 or int(out_channels) < 1:
            raise ValueError(f"kernel_size, stride, dilation, channels: must be >= 1, got "
                             f"{k}, {s}, {dil}, ({in_channels}, {out_channels})")
        if isinstance(padding, str):
            if padding == "valid":
                p = (0,) * d
            elif padding == "same":
                span = [di * (ki - 1) for di, ki in zip(dil, k)]
                if any(v % 2 for v in span):
                    raise ValueError(f"padding: 'same' needs dilation*(kernel-1) even on every "
                                     f"axis (symmetric padding), got kernel {k}, dilation {dil}")
                p = tuple(v // 2 for v in span)
            else:
                raise ValueError(f"padding: {padding!r} is not 'same', 'valid' or an int")
        else:
            p = _pair(padding, d, "padding")
            if min(p) < 0:
                raise ValueError(f"padding: must be >= 0, got {padding!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding, self.dilation = k, s, p, dil
        if weight is not None:
            weight = torch.as_tensor(weight)
            want = (self.out_channels, self.in_channels, *k)
            if tuple(weight.shape) not in (want, (want[0], self.in_channels * math.prod(k))):
                raise ValueError(f"weight: expected shape {want}, got {tuple(weight.shape)}")
            weight = weight.reshape(self.out_channels, -1)
        super().__init__(self.in_channels * math.prod(k), self.out_channels, hw, bias,
                         seed=seed, ledger=ledger, name=name, weight=weight, dtype=dtype)

    # ------------------------------------------------------------------ geometry (2-D view)
    def _as2d(self, v: tuple[int, ...], fill: int) -> tuple[int, int]:
        return (fill, v[0]) if self.dims == 1 else (v[0], v[1])

    def _geometry(self) -> dict:
        return dict(kernel_size=self._as2d(self.kernel_size, 1),
                    dilation=self._as2d(self.dilation, 1),
                    padding=self._as2d(self.padding, 0), stride=self._as2d(self.stride, 1))

    def output_size(self, size: Sequence[int]) -> tuple[int, ...]:
        """Output spatial size for an input of spatial size ``size`` (torch's formula)."""
        size = _pair(tuple(size), self.dims, "size")
        out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
                    zip(size, self.padding, self.dilation, self.kernel_size, self.stride))
        if min(out) < 1:
            raise ValueError(f"size: an input of {size} is smaller than the kernel "
                             f"{self.kernel_size} (dilation {self.dilation}, padding "
                             f"{self.padding})")
        return out

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2 or x.shape[1] != self.in_channels:
            want = "(B, C, L)" if self.dims == 1 else "(B, C, H, W)"
            raise ValueError(f"x: expected {want} with C = {self.in_channels}, got "
                             f"{tuple(x.shape)}")
        return x if self.dims == 2 else x.unsqueeze(2)

    # ------------------------------------------------------------------ im2col / col2im
    def patches(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """im2col: x (B, in, *S) -> (rows (B*L, in*prod(k)), output spatial size S_out).

        Row ``b*L + p`` is the patch of sample b at output position p (row-major over
        S_out). Differentiable (torch ``unfold``)."""
        x4 = self._check(x)
        size = self.output_size(tuple(x.shape[2:]))
        cols = F.unfold(x4, **self._geometry())            # (B, K, L)
        return cols.transpose(1, 2).reshape(-1, self.in_features), size

    def fold(self, rows: torch.Tensor, batch: int, size: Sequence[int]) -> torch.Tensor:
        """col2im, the adjoint of :meth:`patches`: rows (B*L, in*prod(k)) -> (B, in, *size)
        (overlapping patches add up). ``fold(dL/dP)`` is the input gradient dL/dx."""
        size = _pair(tuple(size), self.dims, "size")
        L = math.prod(self.output_size(size))
        cols = rows.reshape(batch, L, self.in_features).transpose(1, 2)
        out = F.fold(cols, output_size=self._as2d(size, 1), **self._geometry())
        return out if self.dims == 2 else out.squeeze(2)

    @staticmethod
    def to_map(rows: torch.Tensor, batch: int, size: Sequence[int]) -> torch.Tensor:
        """Output rows (B*L, n) -> maps (B, n, *size) (``size`` = output spatial size)."""
        n = rows.shape[1]
        return rows.reshape(batch, -1, n).transpose(1, 2).reshape(batch, n, *size)

    @staticmethod
    def to_rows(maps: torch.Tensor) -> torch.Tensor:
        """Maps (B, n, *S) -> rows (B*L, n), row ``b*L + p`` (inverse of :meth:`to_map`)."""
        return maps.flatten(2).transpose(1, 2).reshape(-1, maps.shape[1])

    # ------------------------------------------------------------------ forward
    def forward_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Inference read on patch rows without autograd: ``tile.mvm(P) + b`` (B*L, out)."""
        return AnalogLinear.analog_forward(self, rows)

    def analog_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference read without autograd: x (B, in, *S) -> (B, out, *S_out)."""
        rows, size = self.patches(x)
        return self.to_map(self.forward_rows(rows), x.shape[0], size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in, *S) -> (B, out, *S_out). Autograd: dx = fold(tile.mvm_t(dy)) (analog),
        dW = δ^T P (digital): :meth:`AnalogLinear.forward` on the patch rows."""
        rows, size = self.patches(x)
        return self.to_map(AnalogLinear.forward(self, rows), x.shape[0], size)

    # ------------------------------------------------------------------ conversion
    @property
    def kernel(self) -> torch.Tensor:
        """The digital master copy as a torch kernel (out, in, *k) (a view of ``weight``)."""
        return self.weight.view(self.out_channels, self.in_channels, *self.kernel_size)

    @classmethod
    def from_conv(cls, conv: nn.Module, hw: HWConfig | str = "rram_generic", *, seed: int = 0,
                  ledger: CostLedger | None = None, name: str = "conv") -> "_AnalogConv":
        """Program a trained ``torch.nn.Conv1d`` / ``Conv2d`` onto a tile (bias digital).

        Raises:
            ValueError: groups != 1, a padding mode other than zeros, or string padding
                torch resolved asymmetrically.
        """
        if conv.groups != 1 or conv.padding_mode != "zeros":
            raise ValueError(f"conv: only groups=1 and zero padding are supported, got "
                             f"groups={conv.groups}, padding_mode={conv.padding_mode!r}")
        out = cls(conv.in_channels, conv.out_channels, conv.kernel_size, hw,
                  bias=conv.bias is not None, stride=conv.stride, padding=conv.padding,
                  dilation=conv.dilation, seed=seed, ledger=ledger, name=name,
                  weight=conv.weight.detach())
        if conv.bias is not None:
            with torch.no_grad():
                out.bias.copy_(conv.bias.detach().to(out.bias.dtype))
        return out

    def to_conv(self) -> nn.Module:
        """A torch convolution holding the weights the tile holds now (read back)."""
        W = self.tile.read_weight().detach()
        cls = nn.Conv1d if self.dims == 1 else nn.Conv2d
        conv = cls(self.in_channels, self.out_channels, self.kernel_size, stride=self.stride,
                   padding=self.padding, dilation=self.dilation, bias=self.bias is not None,
                   dtype=W.dtype)
        with torch.no_grad():
            conv.weight.copy_(W.view_as(conv.weight))
            if self.bias is not None:
                conv.bias.copy_(self.bias.detach())
        return conv

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None}, hw={self.hw.name!r}, tile={self.name!r}")


class AnalogConv1d(_AnalogConv):
    """1-D convolution (B, in, L) -> (B, out, L_out) on one tile (see module docstring).

    Args:
        in_channels / out_channels: channels of the input and output maps.
        kernel_size, stride, padding, dilation: as :class:`torch.nn.Conv1d` (padding an int,
            ``"same"`` or ``"valid"``).
        hw: hardware model (:class:`HWConfig`, preset name or path).
        bias: add a digital bias per output channel.
        seed / ledger / name: of the tile (as :class:`AnalogLinear`).
        weight: initial kernel (out, in, k) or matrix (out, in*k); default
            ``U(-1/sqrt(in*k), 1/sqrt(in*k))``.
        dtype: float dtype of the tile and parameters.
    """

    dims = 1


class AnalogConv2d(_AnalogConv):
    """2-D convolution (B, in, H, W) -> (B, out, H_out, W_out) on one tile (see module
    docstring); arguments as :class:`AnalogConv1d` with 2-D kernels (int or pair)."""

    dims = 2


CONVS = {1: AnalogConv1d, 2: AnalogConv2d}
"""Spatial dimensions -> analog convolution class."""
