"""The Tile: THE crossbar engine (DESIGN.md contract 1).

A Tile holds one logical weight matrix W (out x in) as conductances on one or more physical
arrays of ``rows x cols`` cells. Every learning rule, layer and transform calls these verbs and
nothing else::

    tile = Tile(W, hw)                 # programs W (write-verify as configured)
    y = tile.mvm(x)                    # x (B, in)  -> y (B, out)
    g = tile.mvm_t(d)                  # d (B, out) -> g (B, in)   transposed read
    tile.outer_update(x, d, lr)        # W <- W - lr d^T x as device pulses
    tile.program(W); tile.read_weight(); tile.ledger; tile.state_dict()
    tile.set_time(t)                   # reads now see the cells t s after first programming

Physical model (METHODS.md section 0):

* The array stores W^T: physical row i = input i (wordline), column j = output j (bitline).
  Signed weights use a differential pair of arrays (G+ and G-, one side at g_min).
* Multi-level cells (``periphery.weight_bits`` null): ``G = g_min + (g_max-g_min) q(|W|/w_max)``
  with q rounding to ``device.levels`` levels. Bit slicing: |W| quantised to ``weight_bits``
  bits, split into ``ceil(weight_bits/bits_per_cell)`` cells on adjacent columns (MSB first),
  recombined digitally after the ADC with significances 2^(bits_per_cell k).
* A matrix larger than one array is cut into a grid; each array's column partial sums pass
  their own ADC and are added digitally.
* Inputs are scaled (per vector by max|x|, or by a fixed full scale), pass a DAC (or are
  fed bit-serially, one 1-bit plane per cycle, shift-added) and drive V = V_read x.
* Wire resistance (``hw.parasitics``, DESIGN.md contract 2): reads see G_eff of every
  physical array (G+ and G- separately), solved once per programming and kept in the read
  caches (every read stays one matmul); after updates it follows G by the policy of
  :func:`snnx.hw.readout.effective` or by kept, updated solves (:mod:`snnx.hw.wires`).
* Per-read noise (:mod:`snnx.hw.noise`) is applied as its exact equivalent at the output:
  independent cell noise sums to Gaussian output noise with variance sum_i x_i^2 var(G_ij).
* ``outer_update`` turns ``-lr d^T x`` into device pulses (:mod:`snnx.hw.update`): by
  coincidences of stochastic row and column pulse trains (``device.update.scheme:
  stochastic``, no digital outer product) or by digitally computed, stochastically rounded
  pulse counts (``counted``); push-pull on both sides of the pair (``policy:
  bidirectional``) or potentiation only (``split``), through the device model (soft bounds,
  asymmetry, device-to-device gain, cycle-to-cycle noise); a pair is refreshed when both
  sides run high. Bit-sliced tiles update by digital read-modify-write of the changed cells.

Everything is vectorised: no Python loop over cells, pulses or batch elements.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from snnx.errors import ShapeError
from snnx.hw import device as dev
from snnx.hw import periphery as per
from snnx.hw import pulse_trains, readout, tile_state, update, wires
from snnx.hw.cellstate import CellState
from snnx.hw.checks import as_matrix as _as_matrix
from snnx.hw.config import HWConfig
from snnx.hw.cost import TileCost
from snnx.hw.layout import Layout
from snnx.hw.ledger import CostLedger
from snnx.hw.presets import load
from snnx.hw.programming import ProgramStats, program, verify_readback
from snnx.hw.rng import RandomSource
from snnx.config.seeds import derive


def _from_layout(name: str, doc: str) -> property:
    """A read-only Tile property that shows its layout's attribute ``name``."""
    return property(lambda self: getattr(self.layout, name), doc=doc)


class Tile:
    """One logical weight matrix on simulated crossbar arrays.

    Args:
        W: initial weights, shape (out, in), any float dtype (float32 or float64).
        hw: hardware model: an :class:`HWConfig` or a preset name / path for
            :func:`snnx.hw.load` (default ``"rram_generic"``).
        seed: seed of all randomness of this tile (faults, variation, programming, noise).
        ledger: a shared :class:`CostLedger` (e.g. one per network); default a new one.
        name: name of the tile in the ledger's area table.
        pool_size: random-number pool length (see :mod:`snnx.hw.rng`); None = exact sampling.

    Attributes:
        layout: the public :class:`~snnx.hw.layout.Layout` (geometry, permutations, scale).
        ledger: the :class:`CostLedger` every verb books into.

    Example:
        >>> import torch, snnx.hw as hw
        >>> W = torch.randn(10, 300)
        >>> t = Tile(W, hw.load("ideal", **{"array.rows": 128}))  # 3 arrays along the inputs
        >>> x = torch.randn(4, 300)
        >>> bool(torch.allclose(t.mvm(x), x @ W.T, rtol=1e-4, atol=1e-4))
        True
    """

    def __init__(self, W: torch.Tensor, hw: HWConfig | str = "rram_generic", *, seed: int = 0,
                 ledger: CostLedger | None = None, name: str = "tile",
                 pool_size: int | None = 1 << 20) -> None:
        self.hw = hw if isinstance(hw, HWConfig) else load(hw)
        if not isinstance(W, torch.Tensor):
            W = torch.as_tensor(W, dtype=torch.float32)
        if W.dim() != 2 or W.shape[0] < 1 or W.shape[1] < 1:
            raise ShapeError(f"W: expected a 2-D (out, in) matrix, got shape {tuple(W.shape)}")
        self.dtype = W.dtype if W.is_floating_point() else torch.float32
        self.device = W.device
        W = _as_matrix(W, "W", None, self.dtype, self.device)
        self.layout = Layout(W.shape[0], W.shape[1], self.hw, device=self.device,
                             dtype=self.dtype)
        self.seed = int(seed)
        self.gen = torch.Generator(device=self.device).manual_seed(self.seed)
        self.rng = RandomSource(derive(self.seed, "tile.random"), self.device, self.dtype,
                                pool_size)
        shape = self.layout.cell_shape
        wires.check(self.hw, shape)  # kept parasitics solves (incremental) must fit
        self.faults = dev.sample_faults(shape, self.hw, self.gen, self.device)
        self.gain = dev.sample_variation(shape, self.hw, self.gen, self.device, self.dtype)
        #: device state and age of every cell (snnx.hw.cellstate); inactive for most models
        self.cells = CellState(self.hw, dev.cell_model(self.hw), shape, self.gen, self.device,
                               self.dtype)
        self.last_program: ProgramStats | None = None  #: stats of the last full programming
        self._view: torch.Tensor | None = None
        self._G = torch.full(shape, self.hw.device.g_min, dtype=self.dtype, device=self.device)
        self.n_updates = 0
        self._fwd: readout.ReadCache | None = None
        self._bwd: readout.ReadCache | None = None
        self._patches = 0
        self._geff: torch.Tensor | None = None  #: G_eff of the current G (parasitics on)
        self._pr_anchor: dict | None = None  #: last exact solve (see readout.effective)
        self.ledger = ledger if ledger is not None else CostLedger()
        self.cost = TileCost(self.layout, self.ledger, name)
        self.program(W)

    # ================================================================== geometry
    @property
    def shape(self) -> tuple[int, int]:
        """(out, in) of the logical matrix."""
        return self.layout.shape

    out_features = _from_layout("out_features", "Logical outputs (rows of W).")
    in_features = _from_layout("in_features", "Logical inputs (physical rows).")
    n_cols = _from_layout("n_cols", "Logical (and physical) columns: out * slices.")
    n_slices = _from_layout("n_slices", "Cells (columns) per weight.")
    n_row_blocks = _from_layout("n_row_blocks", "Arrays along the inputs.")
    n_col_blocks = _from_layout("n_col_blocks", "Arrays along the columns.")
    n_arrays = _from_layout("n_arrays", "Physical arrays (both sides of the pair).")
    w_max = _from_layout("w_max", "Weight units of one full cell (set at programming).")
    row_perm = _from_layout("row_perm", "Physical -> logical row permutation or None.")
    col_perm = _from_layout("col_perm", "Physical -> logical column permutation or None.")

    @property
    def conductances(self) -> torch.Tensor:
        """Programmed conductances (2, in, out*slices) in S, physical order (G+, G-)."""
        return self._G

    # ================================================================== programming
    def program(self, W: torch.Tensor) -> None:
        """(Re)program the tile to hold W (out, in) with the configured write scheme.

        Sets the weight scale ``w_max = w_headroom * max|W|`` (kept by later updates).
        Programming error persists until the next write; faults and device-to-device
        variation are properties of the physical cells and never change. The write happens
        at the tile's clock time (:meth:`set_time`): drift starts over for every cell.
        """
        W = _as_matrix(W, "W", self.in_features, self.dtype, self.device)
        if W.shape[0] != self.out_features:
            raise ShapeError(f"W: expected shape {self.shape}, got {tuple(W.shape)}")
        m = float(W.abs().max())
        self.layout.w_max = self.hw.array.w_headroom * m if m > 0 else 1.0
        targets = self.layout.to_phys(self.layout.targets(W, keyed=True))
        self._pr_anchor = None  # a (re)programming gets a fresh exact parasitics solve
        self._write(targets)

    def _write(self, targets: torch.Tensor, mask: torch.Tensor | None = None) -> ProgramStats:
        """Write physical-order targets (all cells, or those in ``mask``); book the cost."""
        gain, faults = self.gain, self.faults
        if mask is not None:  # program just the selected cells, as one flat vector
            targets = targets[mask]
            gain = None if gain is None else gain[mask]
            faults = None if faults is None else (faults[0][mask], faults[1][mask])
        G, stats = program(targets, self.hw, self.gen, gain, faults)
        dev.apply_faults(G, faults, self.hw)
        if mask is not None:
            full = self._G.clone()
            full[mask] = G
            G = full
        G_old, self._G = self._G, G
        self.cells.after_write(G_old, G, mask, self.gen)
        self._invalidate()
        self.cost.program(stats)
        if mask is None:
            self.last_program = stats
        return stats

    def reprogram(self, W: torch.Tensor, threshold: float) -> int:
        """Selective re-programming: verify-read every cell (one booked read each) and
        re-write, with the configured scheme, only cells whose read-back differs from their
        target for W by more than ``threshold`` (fraction of g_max - g_min). Keeps the
        weight scale (W is clipped to +-w_max). Returns the number of cells re-written."""
        W = _as_matrix(W, "W", self.in_features, self.dtype, self.device)
        if W.shape[0] != self.out_features:
            raise ShapeError(f"W: expected shape {self.shape}, got {tuple(W.shape)}")
        targets = self.layout.to_phys(self.layout.targets(W.clamp(-self.w_max, self.w_max),
                                                          keyed=True))
        mask, stats = verify_readback(self._read_G(), targets, self.hw, self.gen, threshold)
        self.cost.program(stats)
        if bool(mask.any()):
            self._write(targets, mask=mask)
        return int(mask.sum())

    set_time = tile_state.set_time
    time = property(tile_state.clock, doc="The tile's clock in s (:meth:`set_time`).")

    def set_mapping(self, row_perm: torch.Tensor | None = None,
                    col_perm: torch.Tensor | None = None, *,
                    W: torch.Tensor | None = None) -> None:
        """Place logical rows/columns at other physical positions and re-program.

        ``row_perm[i]`` is the logical input held by physical row i; ``col_perm[c]`` the
        logical column (output x slice) held by physical column c (None: identity). Outputs
        are unchanged on ideal hardware; faults and variation stay with the physical cells.

        Args:
            row_perm: (in,) permutation of ``range(in)`` or None.
            col_perm: (out * slices,) permutation of ``range(out * slices)`` or None.
            W: (out, in) weights to program in the new placement; default: read back the
                weights the cells hold now (which carries their programming error along).
        """
        W = self.read_weight() if W is None else W
        self.layout.set_permutations(row_perm, col_perm)
        self.program(W)

    def read_weight(self) -> torch.Tensor:
        """The weights the tile computes with now (out, in), logical units (device state, drift
        at the tile's clock; no read noise, no parasitics; a periphery ``layout.key`` undone)."""
        return self.layout.weights(self._read_G(), keyed=True)

    # ================================================================== cached read model
    def _invalidate(self) -> None:
        self._view = None
        self._fwd = None
        self._bwd = None
        self._patches = 0
        self._geff = None

    def _read_G(self) -> torch.Tensor:
        """The conductances the cells have now (device state, drift at the clock), S."""
        if not self.cells.active:
            return self._G
        if self._view is None:
            self._view = self.cells.view(self._G)
        return self._view

    def _effective(self) -> torch.Tensor:
        """Conductances seen by a read (2, in, n_cols), physical order: G itself without
        wire resistance, else G_eff per physical array (shared by mvm and mvm_t)."""
        if self.hw.parasitics.model == "none":
            return self._read_G()
        if self._geff is None:
            self._geff, self._pr_anchor = readout.effective(self.hw, self._read_G(),
                                                            self._pr_anchor, self.n_updates)
        return self._geff

    def _cache_for(self, transposed: bool) -> readout.ReadCache:
        if transposed:
            if self._bwd is None:
                self._bwd = readout.build(self.layout, self._effective(), transposed=True)
            return self._bwd
        if self._fwd is None:
            self._fwd = readout.build(self.layout, self._effective(), transposed=False)
        return self._fwd

    # ================================================================== reads
    def encode(self, x: torch.Tensor, name: str = "x") -> tuple[torch.Tensor, Any,
                                                                  torch.Tensor | None]:
        """Input scaling and DAC (:func:`snnx.hw.periphery.encode`) of (B, n) inputs."""
        return per.encode(x, self.hw.periphery, name)

    def mvm(self, x: torch.Tensor) -> torch.Tensor:
        """Forward read: y = x W^T through DAC, arrays (read noise), ADC and shift-add.

        Args:
            x: (B, in) inputs (1-D is treated as one row and returned 1-D).
        Returns:
            (B, out) outputs in weight x input units.
        Raises:
            ShapeError: wrong shape, or NaN/inf in x.
        """
        squeeze = isinstance(x, torch.Tensor) and x.dim() == 1
        x = _as_matrix(x, "x", self.in_features, self.dtype, self.device, finite=False)
        y, e_cell, V = readout.forward(self._cache_for(False), self.layout,
                                       self.encode(self.layout.drive(x), "x"), self.rng)
        B = x.shape[0]
        self.cost.read(B, V, e_cell, transposed=False)
        return y[0] if squeeze else y

    def mvm_t(self, d: torch.Tensor) -> torch.Tensor:
        """Transposed read: g = d W, driving the columns and sensing the rows.

        Uses the same conductances and noise model as :meth:`mvm`; the columns are driven
        and the rows sensed by the forward converters (``periphery.transposed_adc:
        shared``) or by a second bank registered on first use (``separate``). Bit-sliced
        tiles drive one slice position per cycle and shift-add.

        Args:
            d: (B, out) (1-D is treated as one row). Returns (B, in).
        """
        squeeze = isinstance(d, torch.Tensor) and d.dim() == 1
        d = _as_matrix(d, "d", self.out_features, self.dtype, self.device, finite=False)
        g, e_cell, V = readout.transposed(self._cache_for(True), self.layout,
                                          self.encode(self.layout.swap(d), "d"), self.rng)
        B, S = d.shape[0], self.n_slices
        self.cost.read(B, V * S, e_cell, transposed=True)
        return g[0] if squeeze else g

    # ================================================================== update
    def outer_update(self, x: torch.Tensor, d: torch.Tensor, lr: float) -> None:
        """W <- W - lr d^T x, applied as device pulses (see :mod:`snnx.hw.update`).

        Args:
            x: (B, in) layer inputs (for SNNs time folded into the batch: (T*B, in)).
            d: (B, out) errors.
            lr: learning rate (>= 0).
        Raises:
            ShapeError: wrong shapes, batch mismatch, NaN/inf, negative or non-finite lr.
        """
        x = _as_matrix(x, "x", self.in_features, self.dtype, self.device)
        d = _as_matrix(d, "d", self.out_features, self.dtype, self.device)
        if x.shape[0] != d.shape[0]:
            raise ShapeError(f"x, d: batch sizes differ ({x.shape[0]} vs {d.shape[0]})")
        lr = float(lr)
        if not math.isfinite(lr) or lr < 0:
            raise ShapeError(f"lr: expected a finite number >= 0, got {lr}")
        if lr == 0:
            return
        B, x, d = x.shape[0], self.layout.drive(x), self.cost.keyed(x.shape[0], self.layout.swap(d))
        if self.hw.periphery.weight_bits is not None:
            tgt, changed = update.digital_targets(self.layout, self._G, self.rng, x, d, lr)
            if bool(changed.any()):
                self._write(tgt, mask=changed)
            self.cost.macs(B * self.in_features * self.out_features)
            self.n_updates += 1
            return
        if dev.step_fraction(self.hw) is None:
            base = self._read_G()  # updates act on what the cells hold now (drift included)
            G_new, touched = update.exact_update(self.layout, base, self.faults, x, d, lr)
            self._G = self.cells.rewrite(self._G, base, G_new, self.gen)
            self._invalidate()
            self.cost.update_exact(touched, B)
            self.n_updates += 1
            self._refresh()  # every update: keeps continuous (ideal) tiles exact indefinitely
            return
        base = self._G if not self.cells.drifts else self._read_G()
        if self.hw.device.update.scheme == "counted":
            counts, stats = update.counted_counts(self.layout, self.rng, x, d, lr), None
        else:
            counts, stats = pulse_trains.stochastic_counts(self.layout, self.rng, x, d, lr)
        w = update.apply_counts(self.layout, base, self.gain, self.faults, self.rng, counts)
        if stats is None:
            self.cost.update_counted(w, B)
        else:
            self.cost.update_stochastic(stats, w.cells, B)
        if w.lin is None:
            return
        G_old = self._G.clone() if self.cells.stateful else None  # only a stateful device reads it
        self._G.view(-1).index_copy_(0, w.lin, w.G_new)
        wires.note(self._pr_anchor, self._G, w.lin)  # the written cells, for kept solves
        self.cells.after_sparse_write(G_old, self._G, w.lin, self.gen)
        self._patch_caches(w)
        self.n_updates += 1
        if self.n_updates % update.REFRESH_CHECK_EVERY == 0:
            self._refresh()

    def _patch_caches(self, w: update.SparseWrite) -> None:
        """Patch the read caches after sparse writes, or drop them when that is not exact."""
        self._patches += 1
        caches = (self._fwd, self._bwd)
        if (self._patches >= update.REBUILD_EVERY or self._geff is not None  # G_eff is stale
                or self.cells.active  # reads see a view of G, not G
                or any(c is not None and not c.incremental_ok for c in caches)):
            self._invalidate()
            return
        if self._fwd is not None:
            self._fwd.apply_delta(w.row * self.n_cols + w.col, w.d_diff, w.row, w.d_sum)
        if self._bwd is not None:
            self._bwd.apply_delta(w.col * self.in_features + w.row, w.d_diff, w.col, w.d_sum)

    def _refresh(self) -> None:
        """Re-program pairs whose two sides both run high (:func:`update.pairs_to_refresh`)."""
        found = update.pairs_to_refresh(self.layout, self._G, self.faults)
        if found is not None:
            self._write(*found)

    # ================================================================== state
    state_dict = tile_state.state_dict
    load_state_dict = tile_state.load_state_dict

    def __repr__(self) -> str:
        return (f"Tile({self.out_features}x{self.in_features}, hw={self.hw.name!r}, "
                f"arrays={self.n_arrays} of {self.hw.array.rows}x{self.hw.array.cols}, "
                f"slices={self.n_slices})")
