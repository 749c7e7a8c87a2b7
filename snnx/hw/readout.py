"""Read path of a Tile: what programming fixes is precomputed once, each read is one matmul
plus a handful of elementwise operations.

For one read direction (forward: drive rows, sense columns; transposed: drive columns, sense
rows) :class:`ReadCache` holds the conductance-difference matrix already divided by the
range, the DAC step and the ADC step, so that ``X @ W`` lands directly in ADC codes:

    p = X @ W,  W = (G+_eff - G-_eff) / ((g_max - g_min) * q * lsb)

with X the DAC codes (integers in [-q, q]; or 0/1 bit planes) and ``lsb`` the ADC step.
Read noise is added in the same units: for constant per-cell noise the output std is
``sqrt(2 a) * ||x|| / lsb`` (one vector norm per row, no matmul); state-dependent noise adds
``(x^2) @ S``; output-referred noise adds ``s0 * fs + s1 |p|``. The ADC rounds and clips the
codes, partial sums of the arrays along the driven dimension are added digitally, and
``out_scale`` turns codes back into weight x input units.

Wire resistance. With ``hw.parasitics.model`` other than ``none`` the caches are built from
G_eff (:func:`effective`), computed per physical array (G+ and G- separately, each array with
its own wires; a partly used last array is modelled as an array of the used size), so a
read -- forward or transposed, both caches use the same G_eff -- is still one matmul.
Because G_eff depends on every cell, sparse cache patching is off (``incremental_ok``) and
an update rebuilds the caches at the next read. With the exact model, G_eff is re-solved
after a programming and once ``refresh_every`` updates have passed; in between it is the
last exact solve plus the first-order change since then (0.07-2 % column-current error for
1-5 % of the cells flipped at NF 13-35 %; :func:`effective` gives the measurements and why
plain first_order was not used). ``hw.parasitics.incremental`` keeps every array's exact
solve and corrects it for the changed cells instead (:mod:`snnx.hw.wires`).
"""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F

from snnx.errors import ShapeError
from snnx.hw import device as dev
from snnx.hw import periphery as per
from snnx.hw.config import HWConfig
from snnx.hw.layout import Layout
from snnx.hw.noise import read_noise


class ReadCache:
    """Precomputed read model for one direction of one tile.

    Args:
        hw: the hardware model.
        Wn: (K, M) normalised conductance difference (G+_eff - G-_eff)/range, physical order,
            K = driven lines, M = sensed lines.
        S: (K, M) state-dependent noise variance (normalised) or None.
        gsum: (K,) sum of both arrays' conductances per driven line (S), for read energy.
        blk: physical array size along the driven dimension (rows forward, cols transposed);
            a sensed line of array block b collects the current of its
            ``n_b = min(blk, K - b blk)`` used cells; the ADC full scale follows
            ``periphery.adc_range`` (:func:`full_scale`).
    """

    def __init__(self, hw: HWConfig, Wn: torch.Tensor, S: torch.Tensor | None,
                 gsum: torch.Tensor, blk: int) -> None:
        p, noise = hw.periphery, read_noise(hw)
        self.K, self.M = Wn.shape
        self.blk = blk
        self.nblk = -(-self.K // blk)
        self.q = 1.0 if (p.dac_bits is None or p.input_bit_serial) else float(
            max((1 << (p.dac_bits - 1)) - 1, 1))
        fs = [full_scale(p, min(blk, self.K - b * blk), blk) for b in range(self.nblk)]
        self.half = None if p.adc_bits is None else float(1 << (p.adc_bits - 1))
        lsbs = [1.0 if p.adc_bits is None else per.adc_lsb(f, p.adc_bits) for f in fs]
        self.lsb = lsbs[0]  #: ADC step of the first (full) block; out_scale uses it
        k = 1.0 / (self.q * self.lsb)
        pad = self.nblk * blk - self.K if self.nblk > 1 else 0
        #: per driven line code scale when the blocks' full scales differ (else None)
        self.k_line: torch.Tensor | None = None
        #: (nblk, 1, 1) lsb_b / lsb_0, applied to each block's codes before the sum
        self.ratio: torch.Tensor | None = None
        o0 = [noise.o0 * f / s for f, s in zip(fs, lsbs)]
        if len(set(lsbs)) > 1:
            kb = torch.tensor([1.0 / (self.q * s) for s in lsbs], dtype=Wn.dtype,
                              device=Wn.device)
            self.k_line = kb.repeat_interleave(blk)[: self.K]
            self.ratio = (kb[0] / kb).view(-1, 1, 1)
            k = self.k_line.unsqueeze(1)
            kn = kb.view(-1, 1, 1)
            self.noise_k = math.sqrt(2.0 * noise.a) * kn if noise.a else 0.0
            self.o0 = torch.tensor(o0, dtype=Wn.dtype, device=Wn.device).view(-1, 1, 1) \
                if noise.o0 else 0.0
        else:
            self.noise_k = math.sqrt(2.0 * noise.a) * k
            self.o0 = o0[0]
        Wk = (Wn * k).contiguous()
        Wp = F.pad(Wk, (0, 0, 0, pad)) if pad else Wk
        self.W = Wp  # (nblk*blk, M); blocks are views
        self.Wb = Wp.view(self.nblk, blk, self.M) if self.nblk > 1 else None
        if S is not None:
            Sk = (S * (k * k)).contiguous()
            Sp = F.pad(Sk, (0, 0, 0, pad)) if pad else Sk
            self.S = Sp
            self.Sb = Sp.view(self.nblk, blk, self.M) if self.nblk > 1 else None
        else:
            self.S = self.Sb = None
        self.o1 = noise.o1
        # read energy per unit of (DAC code)^2 on a line: V^2 G t_read
        self.e_factor = p.v_read ** 2 * hw.cost.t_read / (self.q * self.q)
        self.e_line = gsum * self.e_factor
        self.sqrt_e = self.e_line.sqrt()
        self.incremental_ok = S is None and hw.parasitics.model == "none"
        self.k_over_range = (1.0 / (self.q * self.lsb)) / dev.g_range(hw)
        self.out_scale: torch.Tensor | None = None  #: codes -> weight units per sensed line
        self.scale_uniform: float | None = None  #: out_scale when all lines share it
        self.inv_perm: torch.Tensor | None = None  #: physical -> logical sensed order

    def energy(self, X: torch.Tensor) -> float:
        """Energy dissipated in the cells when driving X (N, K): sum V^2 G t_read, in J.

        NaN or inf anywhere in X makes the result non-finite (callers use that as their
        input check before any state changes)."""
        return float(torch.linalg.vector_norm(X * self.sqrt_e)) ** 2

    def drive(self, X: torch.Tensor, rng, name: str) -> tuple[torch.Tensor, float]:
        """Check, then read: (ADC codes (N, M), cell energy in J) for drive codes X (N, K).

        Raises:
            ShapeError: NaN or inf in the input ``name`` (seen through the energy), before
                the random state moves.
        """
        e = self.energy(X)
        if not math.isfinite(e):
            raise ShapeError(f"{name}: contains NaN or inf")
        return self.read(X, rng), e

    def read(self, X: torch.Tensor, rng) -> torch.Tensor:
        """Drive X (N, K) -> ADC codes summed over the arrays, (N, M)."""
        N = X.shape[0]
        if self.nblk == 1:
            Xb = X
            p = X @ self.W
        else:
            pad = self.nblk * self.blk - self.K
            Xp = F.pad(X, (0, pad)) if pad else X
            Xb = Xp.view(N, self.nblk, self.blk).transpose(0, 1)
            p = torch.bmm(Xb, self.Wb)
        nk = self.noise_k
        if self.S is None and not (self._on(self.o0) or self.o1):
            if self._on(nk):
                norms = torch.linalg.vector_norm(Xb, dim=-1, keepdim=True)
                if isinstance(nk, torch.Tensor):
                    p.addcmul_(norms.mul_(nk), rng.normal(*p.shape))
                else:
                    p.addcmul_(norms, rng.normal(*p.shape), value=nk)
        else:
            var = torch.zeros_like(p)
            if self._on(nk):
                var += Xb.square().sum(-1, keepdim=True) * nk ** 2
            if self.S is not None:
                sq = Xb.square()
                var += sq @ self.S if self.nblk == 1 else torch.bmm(sq, self.Sb)
            if self._on(self.o0) or self.o1:
                var += (p.abs() * self.o1 + self.o0).square_()
            p.addcmul_(var.sqrt_(), rng.normal(*p.shape))
        if self.half is not None:
            p.round_().clamp_(-self.half, self.half - 1.0)
        if self.nblk > 1:
            if self.ratio is not None:  # codes of a shorter block have a finer step
                p = p.mul_(self.ratio)
            p = p.sum(0)
        return p

    @staticmethod
    def _on(v) -> bool:
        return isinstance(v, torch.Tensor) or bool(v)

    def apply_delta(self, flat_idx: torch.Tensor, dW: torch.Tensor, line: torch.Tensor,
                    de: torch.Tensor) -> None:
        """Incremental update after sparse cell writes.

        Args:
            flat_idx: positions ``line * M + sensed`` of the changed differences.
            dW: change of (G+ - G-) in S at those positions.
            line: driven-line index of each change (for the energy sums).
            de: change of (G+ + G-) in S at those positions.
        """
        k = self.k_over_range
        if self.k_line is not None:
            k = self.k_line.index_select(0, line) * (k / self.k_line[0])
        self.W.view(-1).index_add_(0, flat_idx, dW * k)
        self.e_line.index_add_(0, line, de * self.e_factor)
        torch.sqrt(self.e_line, out=self.sqrt_e)  # one value per line: cheaper than a gather


def full_scale(p, n: int, line: int) -> float:
    r"""ADC full scale, in full cells, of a sensed line with ``n`` used cells.

    ``periphery.adc_range``:

    * ``line`` (default): :math:`fs = c\sqrt{n\,n_\mathrm{ref}}`, at most n, with
      c = ``adc_clip`` and :math:`n_\mathrm{ref}` = ``adc_ref_cells`` (null: the physical
      line, ``line``). A full line keeps :math:`c\,n_\mathrm{ref}`; a shorter one gets a
      range that follows the typical size of a sum of n terms of random sign, so every
      read -- forward, transposed (backprop) and the feedback reads of DFA on small arrays
      -- is calibrated by the same rule (e.g. 256-cell lines at c = 1/16: 16 full cells; 64
      used cells: 8; 6 cells: 2.4).
    * ``array`` (snnx 0.1): ``adc_clip * line``, whatever part of the line is used.

    Args:
        p: the periphery config. n: used cells on the line. line: physical line length.
    """
    if p.adc_range == "array":
        return p.adc_clip * line
    ref = line if p.adc_ref_cells is None else p.adc_ref_cells
    return min(float(n), p.adc_clip * math.sqrt(n * ref))


def _per_array(hw: HWConfig, G: torch.Tensor, model: str) -> torch.Tensor:
    """G_eff (2, in, n_cols) of every physical array for conductances G (same shape,
    physical order) under ``model``."""
    from snnx.hw import parasitics as pr
    from snnx.hw import wires

    par = hw.parasitics
    out = torch.empty_like(G)
    for sl in wires.array_blocks(hw, tuple(G.shape)):
        out[sl] = pr.effective_conductance(G[sl], par.r_row, par.r_col, model=model)
    return out


def effective(hw: HWConfig, G: torch.Tensor, anchor: dict | None,
              n_updates: int) -> tuple[torch.Tensor, dict | None]:
    r"""G_eff (2, in, n_cols) in S, physical order, that reads of conductances G see now.

    Args:
        hw: the hardware model (``parasitics`` block, array size).
        G: (2, in, n_cols) programmed conductances, physical order.
        anchor: the last exact solve ``{"at", "exact", "fo"}`` or None (after programming).
        n_updates: updates the tile has applied so far.

    Returns:
        (G_eff, anchor): the new anchor when this call solved exactly, else the given one.

    Policy (``hw.parasitics``; k = ``refresh_every``):

    * ``first_order``: :math:`G_\mathrm{eff} = FO(G)` after every programming and update
      (O(MN) per array; accurate only below NF ~ 10 %, see :mod:`snnx.hw.parasitics`).
    * ``exact``: after a programming, and once k updates have passed since the last solve,
      the nodal solve :math:`E(G)` per array (~0.24 s at 256 x 256). In between, the
      first-order *increment* on top of the last solve (anchor :math:`G_a`):

      .. math:: G_\mathrm{eff} = E(G_a) + FO(G) - FO(G_a),

      which is exact at :math:`G = G_a` and O(MN). Plain :math:`FO(G)` between solves was
      rejected: its error is that of the first-order model itself (2.4 % of the column
      currents at NF 13 %, 14 % at NF 26 %, 35 % at NF 35 %) and reads would jump by that
      much at every refresh. Measured against an exact re-solve (``bench/parasitics.py``
      section 3: random 50 %-dense binary arrays, 100/2 uS, V ~ 0.2 V U[0, 1]), mean
      relative column-current error after flipping 1 % / 5 % of the cells: 0.07 % / 0.22 %
      at NF 13 % (64^2, 1 ohm), 0.4 % / 1.2 % at NF 26 % (64^2, 2.5 ohm), 0.7 % / 2.1 % at
      NF 35 % (128^2, 1 ohm), where keeping the stale G_eff gives 1.0-5.1 %; after an analog
      step of 1 % of the range on every cell: 0.006-0.07 %. The increment degrades at
      extreme NF (> 100 %, where the first-order slope is far off); choose k = 1 there.

    With ``incremental`` other than ``none`` the exact model keeps every array's solve and
    updates it for the changed cells instead (:func:`snnx.hw.wires.effective`).

    The tile caches the result until its conductances change; the anchor is part of the
    tile's state_dict, so a resumed run reads exactly as an uninterrupted one.
    """
    par = hw.parasitics
    if par.model == "first_order":
        return _per_array(hw, G, "first_order"), anchor
    if par.incremental != "none":  # kept solves updated for the changed cells
        from snnx.hw import wires
        return wires.effective(hw, G, anchor, n_updates)
    if anchor is None or "fo" not in anchor or n_updates - anchor["at"] >= par.refresh_every:
        exact = _per_array(hw, G, "exact")
        fo = None if par.refresh_every == 1 else _per_array(hw, G, "first_order")
        return exact, {"at": n_updates, "exact": exact, "fo": fo}
    return anchor["exact"] + (_per_array(hw, G, "first_order") - anchor["fo"]), anchor


def build(layout: Layout, Ge: torch.Tensor, transposed: bool) -> ReadCache:
    """The read cache of one direction for effective conductances Ge (2, in, n_cols),
    physical order, of a tile with ``layout``."""
    hw = layout.hw
    r = dev.g_range(hw)
    Wn = (Ge[0] - Ge[1]) / r
    S = read_noise(hw).pair(Ge[0] / r, Ge[1] / r)
    shift = read_noise(hw).pair_shift(Ge[0] / r, Ge[1] / r)  # mean read offset (e.g. RTN)
    if shift is not None:
        Wn = Wn + shift
    if transposed:
        c = ReadCache(hw, Wn.t(), None if S is None else S.t(), Ge.sum(dim=(0, 1)),
                      hw.array.cols)
        c.out_scale = layout.significance()[: layout.n_slices] * c.lsb
        c.inv_perm = None if layout.row_perm is None else torch.argsort(layout.row_perm)
        if layout.n_slices == 1:
            c.scale_uniform = float(c.out_scale[0])
        return c
    c = ReadCache(hw, Wn, S, Ge.sum(dim=(0, 2)), hw.array.rows)
    sig = layout.significance()
    c.out_scale = (sig if layout.col_perm is None else sig[layout.col_perm]) * c.lsb
    c.inv_perm = None if layout.col_perm is None else torch.argsort(layout.col_perm)
    if layout.n_slices == 1:  # multi-level cells: every column has the same significance
        c.scale_uniform = float(sig[0]) * c.lsb
    return c


def forward(c: ReadCache, layout: Layout, encoded: tuple, rng) -> tuple[torch.Tensor, float, int]:
    """A forward read: drive the rows with encoded inputs, shift-add, scale to weight units.

    Args:
        c: the forward :class:`ReadCache`.
        layout: the tile's layout.
        encoded: ``(codes (V*B, in), scale, plane weights or None)`` from
            :func:`snnx.hw.periphery.encode`.
        rng: the tile's random source (read noise).

    Returns:
        (y (B, out), cell energy in J, drive cycles V per vector).
    """
    X, s, pw = encoded
    V = 1 if pw is None else pw.shape[0]
    B = X.shape[0] // V
    if layout.row_perm is not None:
        X = X.index_select(1, layout.row_perm)
    y, e_cell = c.drive(X, rng, "x")
    if pw is not None:
        y = (y.view(V, B, -1) * pw.view(V, 1, 1)).sum(0)
    if c.scale_uniform is not None:  # one multiply by (input scale x code scale)
        y = y.mul_(s.mul_(c.scale_uniform) if isinstance(s, torch.Tensor)
                   else s * c.scale_uniform)
        if c.inv_perm is not None:
            y = y.index_select(1, c.inv_perm)
    else:
        y = y.mul_(c.out_scale)  # y is a fresh tensor owned here
        if c.inv_perm is not None:
            y = y.index_select(1, c.inv_perm)
        if layout.n_slices > 1:
            y = y.view(B, layout.out_features, layout.n_slices).sum(-1)
        y = y.mul_(s)
    return layout.swap(y), e_cell, V  # a periphery key's MUX pairs (snnx.hw.periphery_key)


def transposed(c: ReadCache, layout: Layout, encoded: tuple,
               rng) -> tuple[torch.Tensor, float, int]:
    """A transposed read: drive the columns with encoded errors, sense the rows.

    Bit-sliced tiles drive one slice position per cycle and shift-add.

    Returns:
        (g (B, in), cell energy in J, drive cycles V per vector before slicing).
    """
    D, s, pw = encoded
    V = 1 if pw is None else pw.shape[0]
    B = D.shape[0] // V
    S = layout.n_slices
    if S > 1:  # pass j drives the slice-position-j column of every output
        Dc = D.repeat_interleave(S, dim=1).view(-1, layout.out_features, S)
        eye = torch.eye(S, dtype=layout.dtype, device=layout.device)
        D = (Dc.unsqueeze(0) * eye.view(S, 1, 1, S)).reshape(-1, layout.n_cols)
    if layout.col_perm is not None:
        D = D.index_select(1, layout.col_perm)
    g, e_cell = c.drive(D, rng, "d")
    if c.inv_perm is not None:
        g = g.index_select(1, c.inv_perm)
    if c.scale_uniform is not None and pw is None:  # one multiply: input x code scale
        k = c.scale_uniform
        g = g.mul_(s.mul_(k) if isinstance(s, torch.Tensor) else s * k)
    else:
        g = g.view(S, V, B, layout.in_features) * c.out_scale.view(S, 1, 1, 1)
        if pw is not None:
            g = g * pw.view(1, V, 1, 1)
        g = g.sum((0, 1)).mul_(s)
    return layout.drive(g), e_cell, V  # a periphery key's XOR on the sensed rows
