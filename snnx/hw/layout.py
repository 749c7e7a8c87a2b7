"""The public mapping of one tile: where each logical weight sits on which physical cells.

A :class:`Layout` says how a logical weight matrix W (out x in) is laid onto physical arrays
of ``rows x cols`` cells (METHODS.md section 0): the array stores W^T (row i = input i,
column = output o, or one of the ``n_slices`` bit-slice columns of output o when weights are
bit-sliced), signed weights use a differential pair of arrays (G+ and G-), and a large
matrix is cut into a grid of ``n_row_blocks x n_col_blocks`` arrays. Optional permutations
place logical rows/columns at other physical positions (``row_perm[i]`` = the logical row
held by physical row i, likewise ``col_perm``). ``w_max`` is the weight that maps to a full
cell (``g_max - g_min``).

Everything that turns weights into conductances and back, or logical order into physical
order, is here, so the read path (:mod:`snnx.hw.readout`), the update path
(:mod:`snnx.hw.update`), the cost model (:mod:`snnx.hw.cost`) and transforms such as MDM
work from a layout and never reach into a :class:`~snnx.hw.tile.Tile`.

Example:
    >>> import torch, snnx.hw as hw
    >>> lay = Layout(3, 300, hw.load("ideal", **{"array.rows": 128}))
    >>> lay.n_row_blocks, lay.n_col_blocks, lay.n_arrays
    (3, 1, 6)
    >>> W = torch.randn(3, 300)
    >>> lay.w_max = float(W.abs().max())
    >>> bool(torch.allclose(lay.weights(lay.targets(W)), W, atol=1e-5))
    True
"""

from __future__ import annotations

import torch

from snnx.hw import device as dev
from snnx.hw import periphery as per
from snnx.hw.config import HWConfig


class Layout:
    """Geometry, mapping and scale of one tile (see module docstring).

    Args:
        out_features: logical outputs (rows of W).
        in_features: logical inputs (columns of W; physical rows).
        hw: the hardware model (array size, slicing, conductance range, levels).
        device: torch device of the permutations and targets.
        dtype: float dtype of conductances.

    Attributes:
        n_slices: cells (columns) per weight: ``ceil(weight_bits / bits_per_cell)`` or 1.
        n_cols: logical columns, ``out_features * n_slices``.
        n_row_blocks, n_col_blocks: the grid of physical arrays (one side of the pair).
        row_perm, col_perm: physical -> logical permutations, or None (identity).
        w_max: weight units of one full cell.
        key: a periphery key (encrypted mapping) or None; see :attr:`key`.
    """

    def __init__(self, out_features: int, in_features: int, hw: HWConfig, *,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.out_features, self.in_features = int(out_features), int(in_features)
        self.hw = hw
        self.device, self.dtype = torch.device(device), dtype
        p, a = hw.periphery, hw.array
        self.n_slices = per.slice_count(p.weight_bits, p.bits_per_cell)
        self.n_cols = self.out_features * self.n_slices
        self.n_row_blocks = -(-self.in_features // a.rows)
        self.n_col_blocks = -(-self.n_cols // a.cols)
        self.row_perm: torch.Tensor | None = None
        self.col_perm: torch.Tensor | None = None
        self.w_max = 1.0
        self._key = None

    @property
    def key(self):
        """The :class:`~snnx.hw.periphery_key.PeripheryKey` of the tile's periphery, or None.

        With a key the cells hold ``W' = key.scramble(W)`` (:meth:`weights` returns W', what
        the array holds); the tile's verbs apply the key. Setting it checks the size
        (ShapeError) and changes no cell: re-program to put W under a new key. Never part of
        :meth:`state_dict`.
        """
        return self._key

    @key.setter
    def key(self, key) -> None:
        self._key = None if key is None else key.check(self.in_features, self.out_features)

    def drive(self, x: torch.Tensor) -> torch.Tensor:
        """Row-side values (B, in) through the key's XOR gates (``s * x``); x without a key."""
        return x if self._key is None else self._key.drive(x)

    def swap(self, y: torch.Tensor) -> torch.Tensor:
        """Column-side values (B, out) through the key's MUX pairs; y without a key."""
        return y if self._key is None else self._key.permute(y)

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int]:
        """(out, in) of the logical matrix."""
        return (self.out_features, self.in_features)

    @property
    def cell_shape(self) -> tuple[int, int, int]:
        """(2, in, n_cols): both sides of the pair, physical rows, physical columns."""
        return (2, self.in_features, self.n_cols)

    @property
    def n_arrays(self) -> int:
        """Physical arrays used (both sides of the differential pair)."""
        return 2 * self.n_row_blocks * self.n_col_blocks

    def significance(self) -> torch.Tensor:
        """Weight units per normalised cell difference of each logical column (o, slice)."""
        p = self.hw.periphery
        if self.n_slices == 1 and p.weight_bits is None:
            return torch.full((self.n_cols,), self.w_max, dtype=self.dtype, device=self.device)
        base = (1 << p.bits_per_cell) - 1
        pos = torch.arange(self.n_slices, device=self.device)
        k = self.n_slices - 1 - pos  # interleaved, MSB first
        sig = (2.0 ** (p.bits_per_cell * k)).to(self.dtype) * base
        sig = sig * self.w_max / ((1 << p.weight_bits) - 1)
        return sig.repeat(self.out_features)

    # ------------------------------------------------------------------ order
    def set_permutations(self, row_perm: torch.Tensor | None,
                         col_perm: torch.Tensor | None) -> None:
        """Check and set the physical -> logical permutations (None = identity).

        Raises:
            ShapeError: not a permutation of the right length.
        """
        from snnx.errors import ShapeError

        out = []
        for name, perm, n in (("row_perm", row_perm, self.in_features),
                              ("col_perm", col_perm, self.n_cols)):
            if perm is not None:
                perm = torch.as_tensor(perm, dtype=torch.int64, device=self.device)
                if perm.shape != (n,) or not torch.equal(torch.sort(perm).values,
                                                         torch.arange(n, device=self.device)):
                    raise ShapeError(f"{name}: expected a permutation of range({n})")
            out.append(perm)
        self.row_perm, self.col_perm = out

    def to_phys(self, T: torch.Tensor) -> torch.Tensor:
        """Logical (..., in, n_cols) -> physical order."""
        if self.row_perm is not None:
            T = T.index_select(-2, self.row_perm)
        if self.col_perm is not None:
            T = T.index_select(-1, self.col_perm)
        return T

    def to_logical(self, T: torch.Tensor) -> torch.Tensor:
        """Physical (..., in, n_cols) -> logical order."""
        if self.row_perm is not None:
            T = T.index_select(-2, torch.argsort(self.row_perm))
        if self.col_perm is not None:
            T = T.index_select(-1, torch.argsort(self.col_perm))
        return T

    # ------------------------------------------------------------------ weights <-> cells
    def targets(self, W: torch.Tensor, *, keyed: bool = False) -> torch.Tensor:
        """Target conductances (2, in, n_cols) in S, LOGICAL order, for weights W (out, in)
        (``keyed``: W is plain and a periphery :attr:`key` scrambles it first: W').

        Multi-level cells: ``G = g_min + (g_max - g_min) q(|W| / w_max)`` on the side of the
        sign (q rounds to ``device.levels``); bit slicing: the base-2^bits_per_cell digits of
        the quantised magnitude, MSB first.
        """
        if keyed and self._key is not None:
            W = self._key.scramble(W)
        hw = self.hw
        r, gmin = dev.g_range(hw), hw.device.g_min
        p = hw.periphery
        Wt = W.t()
        if p.weight_bits is None:
            mag = dev.quantize_levels(Wt.abs() / self.w_max, hw.device.levels)
        else:
            full = (1 << p.weight_bits) - 1
            q = torch.round(Wt.abs() / self.w_max * full).clamp_(0, full).to(torch.int64)
            digits = per.slice_weights(q, p.weight_bits, p.bits_per_cell).flip(-1)
            mag = (digits.to(self.dtype) / ((1 << p.bits_per_cell) - 1)).reshape(
                self.in_features, self.n_cols)
            Wt = Wt.repeat_interleave(self.n_slices, dim=1)
        pos = (Wt > 0).to(self.dtype)
        neg = (Wt < 0).to(self.dtype)
        return torch.stack([gmin + r * mag * pos, gmin + r * mag * neg])

    def weights(self, G: torch.Tensor, *, keyed: bool = False) -> torch.Tensor:
        """The weights (out, in) that conductances G (2, in, n_cols), physical order, hold:
        W' behind a periphery :attr:`key` (what the array holds), or with ``keyed`` the W the
        key turns them back into."""
        diff = self.to_logical(G[0] - G[1]) / dev.g_range(self.hw)
        w = diff * self.significance()
        w = w.view(self.in_features, self.out_features, self.n_slices).sum(-1).t().contiguous()
        return self._key.scramble(w) if keyed and self._key is not None else w

    def state_dict(self) -> dict:
        """Permutations and scale (the geometry follows from the hardware model)."""
        return {"row_perm": self.row_perm, "col_perm": self.col_perm, "w_max": self.w_max}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.row_perm, self.col_perm = state["row_perm"], state["col_perm"]
        self.w_max = float(state["w_max"])

    def __repr__(self) -> str:
        a = self.hw.array
        return (f"Layout({self.out_features}x{self.in_features}, slices={self.n_slices}, "
                f"arrays={self.n_arrays} of {a.rows}x{a.cols}, permuted="
                f"{self.row_perm is not None or self.col_perm is not None})")
