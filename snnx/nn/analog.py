"""AnalogLinear: a fully-connected layer whose weights live on a crossbar :class:`Tile`.

What is analog and what is digital (DESIGN.md contract 3):

* **analog (on the tile)** — the forward product ``y = x W^T`` (:meth:`Tile.mvm`: DAC, array
  read with the preset's noise, ADC) and, in training mode, the input gradient
  ``dL/dx = (dL/dy) W`` (:meth:`Tile.mvm_t`: a transposed read through the same noisy
  conductances; it registers the row-side ADC / column-side driver area on first use).
* **digital (periphery / host)** — the bias add ``+ b``, the weight gradient
  ``dL/dW = (dL/dy)^T x`` (an outer product computed off-chip, exactly as a host would for
  hardware-aware pre-training) and the optimiser step on the ``weight`` parameter.

``weight`` is the *digital master copy* used by off-chip training: when an optimiser changes
it in place, the tile is re-programmed (write-verify as configured) before the next forward.
On-line learning rules (:mod:`snnx.learn`) instead change the conductances directly with
:meth:`Tile.outer_update`; the tile is then the truth and ``weight`` is stale until
:meth:`AnalogLinear.sync_weight` reads the array back.

Example:
    >>> import torch, snnx.hw as hw
    >>> lin = torch.nn.Linear(8, 4)
    >>> a = AnalogLinear.from_linear(lin, hw.load("ideal"), name="fc")
    >>> x = torch.randn(3, 8)
    >>> bool(torch.allclose(a(x), lin(x), atol=1e-5))
    True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snnx.hw.config import HWConfig
from snnx.hw.ledger import CostLedger
from snnx.hw.tile import Tile


class _TileMatmul(torch.autograd.Function):
    """y = tile.mvm(x); backward: dx = tile.mvm_t(dy) (analog), dW = dy^T x (digital)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, tile: Tile) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.tile = tile
        return tile.mvm(x.detach()).to(x.dtype)

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        (x,) = ctx.saved_tensors
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = ctx.tile.mvm_t(gy.contiguous()).to(x.dtype)
        if ctx.needs_input_grad[1]:
            gw = gy.t() @ x
        return gx, gw, None


class AnalogLinear(nn.Module):
    """``y = x W^T + b`` with W on a simulated crossbar tile (bias digital).

    Args:
        in_features: inputs per sample.
        out_features: outputs per sample.
        hw: hardware model (:class:`HWConfig`, preset name or path).
        bias: add a digital bias.
        seed: seed of the tile (faults, variation, noise) and of the default initialisation.
        ledger: shared :class:`CostLedger` (one per network); default a new one.
        name: name of the tile in the ledger's area table.
        weight: initial weights (out, in); default ``U(-1/sqrt(in), 1/sqrt(in))`` like
            :class:`torch.nn.Linear`.
        dtype: float dtype of the tile and parameters (default float32, or ``weight``'s).

    Attributes:
        tile: the :class:`Tile` holding W.
        weight: digital master copy (out, in) for off-chip training (see module docstring).
        bias: digital bias (out,) or None.
    """

    def __init__(self, in_features: int, out_features: int,
                 hw: HWConfig | str = "rram_generic", bias: bool = True, *, seed: int = 0,
                 ledger: CostLedger | None = None, name: str = "linear",
                 weight: torch.Tensor | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        if weight is None:
            dtype = dtype or torch.float32
            g = torch.Generator().manual_seed(int(seed))
            k = 1.0 / math.sqrt(self.in_features)
            weight = (torch.rand(out_features, in_features, generator=g, dtype=dtype) * 2 - 1) * k
        else:
            weight = torch.as_tensor(weight).detach().clone()
            dtype = dtype or (weight.dtype if weight.is_floating_point() else torch.float32)
            weight = weight.to(dtype)
            if tuple(weight.shape) != (self.out_features, self.in_features):
                raise ValueError(f"weight: expected shape ({out_features}, {in_features}), got "
                                 f"{tuple(weight.shape)}")
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=dtype)) if bias else None
        self.tile = Tile(weight, hw, seed=seed, ledger=ledger, name=name)
        self.name = name
        self._programmed_version = self.weight._version

    # ------------------------------------------------------------------ conversion
    @classmethod
    def from_linear(cls, lin: nn.Linear, hw: HWConfig | str = "rram_generic", *, seed: int = 0,
                    ledger: CostLedger | None = None, name: str = "linear") -> "AnalogLinear":
        """Program a trained :class:`torch.nn.Linear` onto a tile (bias stays digital)."""
        out = cls(lin.in_features, lin.out_features, hw, bias=lin.bias is not None, seed=seed,
                  ledger=ledger, name=name, weight=lin.weight.detach())
        if lin.bias is not None:
            with torch.no_grad():
                out.bias.copy_(lin.bias.detach().to(out.bias.dtype))
        return out

    def to_linear(self) -> nn.Linear:
        """A :class:`torch.nn.Linear` holding the weights the tile holds now (read back)."""
        W = self.tile.read_weight().detach()
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        dtype=W.dtype)
        with torch.no_grad():
            lin.weight.copy_(W)
            if self.bias is not None:
                lin.bias.copy_(self.bias.detach())
        return lin

    # ------------------------------------------------------------------ hardware verbs
    @property
    def hw(self) -> HWConfig:
        """The tile's hardware model."""
        return self.tile.hw

    @property
    def ledger(self) -> CostLedger:
        """The (shared) cost ledger of the tile."""
        return self.tile.ledger

    def program_weights(self) -> None:
        """(Re)program the tile from the digital master copy ``weight``."""
        self.tile.program(self.weight.detach())
        self._programmed_version = self.weight._version

    def sync_weight(self) -> None:
        """Copy the weights the tile holds now into ``weight`` (no re-programming follows)."""
        with torch.no_grad():
            self.weight.copy_(self.tile.read_weight().to(self.weight.dtype))
        self._programmed_version = self.weight._version

    def _maybe_program(self) -> None:
        if self.weight._version != self._programmed_version:
            self.program_weights()

    # ------------------------------------------------------------------ forward
    def analog_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference read without autograd: ``tile.mvm(x) + b`` for x (N, in) -> (N, out)."""
        self._maybe_program()
        y = self.tile.mvm(x)
        if self.bias is not None:
            y = y + self.bias.detach()
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) -> (..., out). Autograd: dx by ``tile.mvm_t``, dW digital (d^T x)."""
        self._maybe_program()
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        if torch.is_grad_enabled() and (x2.requires_grad or self.weight.requires_grad):
            y = _TileMatmul.apply(x2, self.weight, self.tile)
        else:
            y = self.tile.mvm(x2.detach()).to(x2.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, hw={self.hw.name!r}, tile={self.name!r}")
