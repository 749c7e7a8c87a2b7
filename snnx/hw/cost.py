"""Cost model of one tile: turns what the engine did into ledger entries (no Tile import).

Model (METHODS.md 0.6, numbers from the preset's ``cost`` block):

* Area: cells ``2 R C rows cols * cell_area_f2 * F^2`` (differential pair of arrays per grid
  position); one ADC per ``adc_share`` columns, ``adc_area_8b * 2^(bits-8)`` each; one
  wordline driver (DAC) per row. Transposed reads add row-side ADCs and column-side drivers,
  registered on the first transposed read.
* Read: DAC conversions ``B * cycles * in * C`` at ``e_dac_bit`` per bit (1 bit when
  bit-serial); cell energy ``sum V_i^2 G_ij t_read`` computed exactly from the drive
  vectors and the row sums of G; ADC conversions ``B * cycles * R * out_cols`` (forward) or
  ``B * cycles * C * in`` (transposed) at ``adc_fom * 2^bits``; digital shift-add per partial
  sum. Arrays run in parallel, vectors and cycles in sequence:
  ``latency = B * cycles * (t_dac + t_read + adc_share * t_adc) + B * t_digital``.
* Update: ``e_pulse`` per pulse; row-parallel writing, so the latency of an array is the sum
  over its rows of the largest pulse count in the row (arrays in parallel: the max);
  computing the pulse counts costs ``B * in * out`` digital multiply-adds.
* Programming: pulses as above (a pulse of w nominal widths costs w ``e_pulse``: VIPI);
  verify reads cost one cell read and one ADC conversion each.
* Keyed periphery (encryption): ``e_gate`` per XOR / MUX operation (:meth:`TileCost.keyed`).
Ideal converters (bits null) are costed as 8-bit ones.
"""

from __future__ import annotations

import math
import torch

from snnx.hw.layout import Layout
from snnx.hw.ledger import CostLedger
from snnx.hw.programming import ProgramStats


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
        self.ledger.register_area(f"{self.name}/adc", grid * math.ceil(a.cols / hw.periphery.adc_share)
                                  * self._adc_area())
        self.ledger.register_area(f"{self.name}/dac", grid * a.rows * c.dac_area)

    # ------------------------------------------------------------------ helpers
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
        if self._t_area:
            return
        t, hw = self.layout, self.layout.hw
        a = hw.array
        grid = t.n_row_blocks * t.n_col_blocks
        self.ledger.register_area(f"{self.name}/adc_t", grid * math.ceil(a.rows / hw.periphery.adc_share)
                                  * self._adc_area())
        self.ledger.register_area(f"{self.name}/dac_t", grid * a.cols * hw.cost.dac_area)
        self._t_area = True

    def _blocked_max_rowsum(self, rows_n: torch.Tensor) -> float:
        """rows_n (2, in): per-row pulse steps -> latency steps (max over arrays of row sums)."""
        rows = self.layout.hw.array.rows
        R = self.layout.n_row_blocks
        pad = R * rows - rows_n.shape[-1]
        blk = torch.nn.functional.pad(rows_n, (0, pad)).view(rows_n.shape[0], R, rows)
        return float(blk.sum(-1).max())

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
            out_len, suffix = t.in_features, "_t"
        else:
            drive, other_blocks, sensed, sense_blocks = (t.in_features, t.n_col_blocks,
                                                         t.n_cols, t.n_row_blocks)
            out_len, suffix = t.out_features, ""
        bc = B * cycles
        n_dac = bc * drive * other_blocks
        n_adc = bc * sense_blocks * sensed
        n_dig = bc * sense_blocks * out_len
        self.ledger.add("dac" + suffix, n_dac, n_dac * self._e_dac(), bc * c.t_dac)
        self.ledger.add("cell_read" + suffix, bc * 2 * t.in_features * t.n_cols, e_cell,
                        bc * c.t_read)
        self.ledger.add("adc" + suffix, n_adc, n_adc * self._e_adc(), bc * p.adc_share * c.t_adc)
        self.ledger.add("digital", n_dig, n_dig * c.e_digital, B * c.t_digital)

    def update_sparse(self, row_idx: torch.Tensor | None, n: torch.Tensor | None, pulses: float,
                      cells: int, batch: int) -> None:
        """Book an outer-product update.

        Args:
            row_idx: for each pulsed cell, its row index in the stacked (G+ rows, G- rows)
                numbering ``side * in + row``; None when no cell was pulsed.
            n: pulses of each pulsed cell.
            pulses: total pulses. cells: pulsed cells. batch: rows of x and d.
        """
        t, c = self.layout, self.layout.hw.cost
        steps = 0.0
        if row_idx is not None and cells:
            rowmax = torch.zeros(2 * t.in_features, dtype=n.dtype, device=n.device)
            rowmax.scatter_reduce_(0, row_idx, n, reduce="amax")
            steps = self._blocked_max_rowsum(rowmax.view(2, t.in_features))
        macs = batch * t.in_features * t.n_cols
        self.ledger.add("digital", macs, macs * c.e_digital, c.t_digital)
        self.ledger.add("pulse", pulses, pulses * c.e_pulse, steps * c.t_pulse)
        self.ledger.add("cells_updated", cells)

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

    def keyed(self, B: int, key, out: torch.Tensor) -> torch.Tensor:
        """Book a keyed periphery (:mod:`snnx.hw.periphery_key`) passing B vectors:
        ``B * key.gates`` XOR/MUX operations at ``cost.e_gate`` each (op ``xor_mux``; no
        latency: a gate delay, tens of ps, hides under the DAC/ADC times). Returns ``out``."""
        n = B * key.gates
        self.ledger.add("xor_mux", n, n * self.layout.hw.cost.e_gate)
        return out

    def digital(self, n_ops: int) -> None:
        """Book ``n_ops`` digital multiply-adds."""
        c = self.layout.hw.cost
        self.ledger.add("digital", n_ops, n_ops * c.e_digital, c.t_digital)
