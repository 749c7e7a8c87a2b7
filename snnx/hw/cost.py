"""Cost model of one tile: turns what the engine did into ledger entries (no Tile import).

Model (METHODS.md 0.6 and 13, numbers from the preset's ``cost`` block, each cited there):

* Area: cells ``2 R C rows cols * cell_area_f2 * F^2`` (differential pair of arrays per grid
  position); one ADC per ``adc_share`` columns, ``adc_area_8b * 2^(bits-8)`` each (ONE
  converter); one wordline driver (DAC) per row. Transposed reads with
  ``periphery.transposed_adc: separate`` add row-side ADCs and column-side drivers,
  registered on the first transposed read; ``shared`` (default) reuses the forward
  converters and drivers through multiplexers (NeuRRAM's transposable neuron array): no
  extra area, the converters then take ``ceil(rows / ADCs per array)`` conversions each.
* Read: DAC conversions ``B * cycles * in * C`` at ``e_dac_bit`` per bit (1 bit when
  bit-serial); cell energy ``sum V_i^2 G_ij t_read`` computed exactly from the drive
  vectors and the row sums of G; ADC conversions ``B * cycles * R * out_cols`` (forward) or
  ``B * cycles * C * in`` (transposed) at ``adc_fom * 2^bits``; digital shift-add per partial
  sum. Arrays run in parallel, vectors and cycles in sequence:
  ``latency = B * cycles * (t_dac + t_read + conversions per ADC * t_adc) + B * t_digital``.
  Input normalisation (``input_scaling: abs_max``) is digital work booked as ``norm``: per
  vector n compares for max|x|, n multiplies to scale the input and one per output to scale
  the result back.
* Digital throughput: ``n`` operations take ``ceil(n / macs_per_cycle) * t_digital``; a
  multiply-accumulate costs ``e_mult + e_digital`` (Horowitz, ISSCC 2014, 8 bit at 45 nm).
* Update, scheme ``counted``: ``B * in * out`` MACs for x^T d (``mac``), ``e_pulse`` per
  pulse; row-by-row writing, so the latency of an array is the sum over its rows of the
  largest potentiation count plus the largest depression count in the row (the two need
  opposite polarities); arrays in parallel: the max.
* Update, scheme ``stochastic``: no MACs. Per cycle the periphery finds max|x| and max|d|
  and scales every line to a probability (``digital``: (in + out) compares and multiplies
  per cycle); every pulse a driver fires costs ``e_line_pulse`` (``line_pulse``: row pulses
  once per array along the columns, column pulses once per array along the rows); every
  coincidence is a cell pulse at ``e_pulse``; latency ``slots * t_pulse`` (all arrays in
  parallel). Half-selected cells (one line firing) are taken to dissipate nothing.
* Programming: pulses as above (a pulse of w nominal widths costs w ``e_pulse``: VIPI);
  verify reads cost one cell read and one ADC conversion each.
* Keyed periphery (encryption): ``e_gate`` per XOR / MUX operation (:meth:`TileCost.keyed`).
Ideal converters (bits null) are costed as 8-bit ones.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from snnx.hw.layout import Layout
from snnx.hw.ledger import CostLedger
from snnx.hw.programming import ProgramStats, row_max


def digital_time(hw, n_ops: float) -> float:
    """Seconds for ``n_ops`` digital operations at ``macs_per_cycle`` per clock cycle."""
    c = hw.cost
    return math.ceil(n_ops / c.macs_per_cycle) * c.t_digital if n_ops > 0 else 0.0


def book_macs(ledger: CostLedger, hw, n_macs: float) -> None:
    """Book ``n_macs`` digital multiply-accumulates (op ``mac``) with their throughput
    latency; used by the tiles and by rules that compute something digitally."""
    c = hw.cost
    ledger.add("mac", n_macs, n_macs * (c.e_mult + c.e_digital), digital_time(hw, n_macs))


class TileCost:
    """Per-tile cost model writing into a (possibly shared) ledger.

    Args:
        layout: the tile's :class:`~snnx.hw.layout.Layout` (geometry and hardware model).
        ledger: where the costs go (one ledger may serve a whole network).
        name: the tile's name in the ledger's area table (made unique).
    """

    def __init__(self, layout: Layout, ledger: CostLedger, name: str) -> None:
        self.layout = layout
        self.ledger = ledger
        self.name = ledger.unique_key(name)
        self._t_area = False
        hw = layout.hw
        c, a = hw.cost, hw.array
        grid = layout.n_row_blocks * layout.n_col_blocks
        self.ledger.register_area(f"{self.name}/cells", 2 * grid * a.rows * a.cols
                                  * c.cell_area_f2 * c.feature_size ** 2)
        self.ledger.register_area(f"{self.name}/adc", grid * self._n_adc() * self._adc_area())
        self.ledger.register_area(f"{self.name}/dac", grid * a.rows * c.dac_area)

    # ------------------------------------------------------------------ helpers
    def _n_adc(self) -> int:
        """Forward ADCs per array."""
        hw = self.layout.hw
        return math.ceil(hw.array.cols / hw.periphery.adc_share)

    def _adc_bits(self) -> int:
        b = self.layout.hw.periphery.adc_bits
        return 8 if b is None else b

    def _adc_area(self) -> float:
        return self.layout.hw.cost.adc_area_8b * 2.0 ** (self._adc_bits() - 8)

    def _e_adc(self) -> float:
        return self.layout.hw.cost.adc_fom * 2.0 ** self._adc_bits()

    def _e_dac(self) -> float:
        p = self.layout.hw.periphery
        bits = 1 if p.input_bit_serial else (8 if p.dac_bits is None else p.dac_bits)
        return self.layout.hw.cost.e_dac_bit * bits

    def _register_transposed(self) -> None:
        if self._t_area or self.layout.hw.periphery.transposed_adc == "shared":
            return
        t, hw = self.layout, self.layout.hw
        a = hw.array
        grid = t.n_row_blocks * t.n_col_blocks
        self.ledger.register_area(f"{self.name}/adc_t", grid * math.ceil(a.rows / hw.periphery.adc_share)
                                  * self._adc_area())
        self.ledger.register_area(f"{self.name}/dac_t", grid * a.cols * hw.cost.dac_area)
        self._t_area = True

    def _conversions_per_adc(self, transposed: bool) -> int:
        """Lines each converter senses in turn during one read cycle."""
        p, a = self.layout.hw.periphery, self.layout.hw.array
        if transposed and p.transposed_adc == "shared":
            return math.ceil(a.rows / self._n_adc())
        return p.adc_share

    def _blocked_max_rowsum(self, rows_n: torch.Tensor) -> float:
        """rows_n (2, in): per-row pulse steps -> latency steps (max over arrays of row sums)."""
        rows = self.layout.hw.array.rows
        R = self.layout.n_row_blocks
        pad = R * rows - rows_n.shape[-1]
        blk = torch.nn.functional.pad(rows_n, (0, pad)).view(rows_n.shape[0], R, rows)
        return float(blk.sum(-1).max())

    def _row_max(self, w, n: torch.Tensor) -> torch.Tensor:
        """(2 * in,) largest count ``n`` (one per pulsed cell of ``w``) in each row of each
        side (``side * in + row``)."""
        n_in = self.layout.in_features
        return row_max(w.row + w.side * n_in, n, 2 * n_in)

    # ------------------------------------------------------------------ events
    def read(self, B: int, cycles: int, e_cell: float, transposed: bool) -> None:
        """Book one (transposed) read of B vectors over ``cycles`` drive cycles.

        Args:
            e_cell: energy dissipated in the cells (J), computed exactly by the read cache.
        """
        t, hw = self.layout, self.layout.hw
        c, p = hw.cost, hw.periphery
        if transposed:
            self._register_transposed()
            drive, other_blocks, sensed, sense_blocks = (t.n_cols, t.n_row_blocks,
                                                         t.in_features, t.n_col_blocks)
            out_len, suffix, n_in = t.in_features, "_t", t.out_features
        else:
            drive, other_blocks, sensed, sense_blocks = (t.in_features, t.n_col_blocks,
                                                         t.n_cols, t.n_row_blocks)
            out_len, suffix, n_in = t.out_features, "", t.in_features
        if p.input_scaling == "abs_max":  # max|x|, scale the input, scale the output back
            cmp, mul = B * n_in, B * (n_in + out_len)
            self.ledger.add("norm", cmp + mul, cmp * c.e_digital + mul * c.e_mult,
                            digital_time(hw, cmp + mul))
        bc = B * cycles
        n_dac = bc * drive * other_blocks
        n_adc = bc * sense_blocks * sensed
        n_dig = bc * sense_blocks * out_len
        self.ledger.add("dac" + suffix, n_dac, n_dac * self._e_dac(), bc * c.t_dac)
        self.ledger.add("cell_read" + suffix, bc * 2 * t.in_features * t.n_cols, e_cell,
                        bc * c.t_read)
        self.ledger.add("adc" + suffix, n_adc, n_adc * self._e_adc(),
                        bc * self._conversions_per_adc(transposed) * c.t_adc)
        self.ledger.add("digital", n_dig, n_dig * c.e_digital, B * c.t_digital)
        self.keyed(B)

    def macs(self, n: float) -> None:
        """Book ``n`` digital multiply-accumulates (:func:`book_macs`)."""
        book_macs(self.ledger, self.layout.hw, n)

    def update_counted(self, w, batch: int) -> None:
        """Book a counted update: the digital outer product and the row-wise writes.

        Args:
            w: the :class:`~snnx.hw.update.SparseWrite` of the update (may be empty).
            batch: rows of x and d.
        """
        t, c = self.layout, self.layout.hw.cost
        self.macs(batch * t.in_features * t.n_cols)
        steps, pulses = 0.0, 0.0
        if w.lin is not None:
            pulses = float(w.pulses.sum())
            pot = w.pulses if w.dep is None else w.pulses - w.dep
            rows = self._row_max(w, pot)
            if w.dep is not None:
                rows = rows + self._row_max(w, w.dep)
            steps = self._blocked_max_rowsum(rows.view(2, t.in_features))
        self.ledger.add("pulse", pulses, pulses * c.e_pulse, steps * c.t_pulse)
        self.ledger.add("cells_updated", w.cells)

    def update_stochastic(self, stats, cells: int, batch: int) -> None:
        """Book a stochastic-pulse update (:class:`~snnx.hw.pulse_trains.StochasticStats`).

        Args:
            stats: what the update did. cells: cells that received pulses.
            batch: rows of x and d (update cycles offered).
        """
        t, hw = self.layout, self.layout.hw
        c = hw.cost
        ops = batch * (t.in_features + t.n_cols)  # max per vector, then one scale per line
        self.ledger.add("digital", 2 * ops, ops * (c.e_digital + c.e_mult),
                        digital_time(hw, 2 * ops))
        lines = stats.row_pulses * t.n_col_blocks + stats.col_pulses * t.n_row_blocks
        self.ledger.add("line_pulse", lines, lines * c.e_line_pulse)
        n = stats.coincidences
        self.ledger.add("pulse", n, n * c.e_pulse, stats.slots * c.t_pulse)
        self.ledger.add("update_slots", stats.slots)
        self.ledger.add("cells_updated", cells)

    def update_exact(self, touched: torch.Tensor, batch: int) -> None:
        """Book an exact analog update (continuous cells: ideal reference hardware).

        Args:
            touched: (in, n_cols) bool, pairs whose weight changed (one write each, rows in
                sequence).
            batch: rows of x and d.
        """
        t, c = self.layout, self.layout.hw.cost
        self.macs(batch * t.in_features * t.n_cols)
        rows = touched.any(1).to(t.dtype).repeat(2)
        n = float(touched.sum())
        steps = self._blocked_max_rowsum(rows.view(2, t.in_features)) if n else 0.0
        self.ledger.add("pulse", n, n * c.e_pulse, steps * c.t_pulse)
        self.ledger.add("cells_updated", n)

    def program(self, stats: ProgramStats) -> None:
        """Book a programming event."""
        hw = self.layout.hw
        c = hw.cost
        rs = stats.row_steps
        if rs is None:
            steps = 0.0
        elif rs.dim() == 2:  # whole-array write: rows in sequence, arrays in parallel
            steps = self._blocked_max_rowsum(rs)
        else:  # scattered cells (refresh, digital update): pessimistically sequential
            steps = float(rs.sum())
        units = stats.pulses if stats.pulse_equivalents is None else stats.pulse_equivalents
        self.ledger.add("pulse", stats.pulses, units * c.e_pulse, steps * c.t_pulse)
        self.ledger.add("cells_written", stats.cells_written)
        if stats.verify_reads:
            g_mid = 0.5 * (hw.device.g_min + hw.device.g_max)
            e = stats.verify_reads * (hw.periphery.v_read ** 2 * g_mid * c.t_read + self._e_adc())
            lat = stats.iterations * hw.array.rows * (c.t_read + hw.periphery.adc_share * c.t_adc)
            self.ledger.add("verify_read", stats.verify_reads, e, lat)

    def keyed(self, B: int, out: Any = None) -> Any:
        """Book a periphery key (``layout.key``, :mod:`snnx.hw.periphery_key`) passing B
        vectors, if there is one: ``B * key.gates`` XOR/MUX operations at ``cost.e_gate`` each
        (op ``xor_mux``; no latency: a gate delay, tens of ps, hides under the DAC/ADC
        times). Returns ``out``."""
        key = self.layout.key
        if key is not None:
            n = B * key.gates
            self.ledger.add("xor_mux", n, n * self.layout.hw.cost.e_gate)
        return out
