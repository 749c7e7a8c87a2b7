r"""Transform ``reprogram``: the weights a network computes with when its weight tiles are
streamed through a few reused crossbars with weight sorting and bit stucking, and the cell
writes that costs (METHODS.md section 2; the kernel is :func:`snnx.transforms.reprogram.reprogram`).

Every layer on a tile (an MLP's matrices, a convolution's (out, in * kh * kw) matrix, an
SNN's synapses) is quantised to signed ``bits``-bit integers, bit-sliced one bit per cell
(sign by a differential pair of arrays, or a sign column) and cut into tiles of ``rows``
inputs by ``cols / bits`` outputs. One inference streams all tiles of all layers through
``arrays`` physical arrays, round-robin; a cell write (flip) happens wherever the bit a
load needs differs from the bit the array holds. Sorting (``sort``: rows by their largest
or mean magnitude, tiles in key order; ``greedy``: each next tile the one closest in Hamming
distance to the array it goes into) makes consecutive loads alike; bit stucking rewrites a
cell of the ``low_bits`` lowest columns that should change only with probability ``p``, so
the array computes with stale low bits.

The transform:

* runs the schedule ``inferences`` times from erased arrays (the first inference is the
  warm-up; the figures are the mean over the later, steady-state ones), for the configured
  method and for its parts: natural order without stucking (naive), sorting only, stucking
  only, both (the configured method);
* replaces every layer's weights by the weights its tiles held at compute time in the last
  inference of the configured method (master copy ``weight`` and the tile, re-programmed
  with the hardware's write scheme), so the deployed accuracy is the accuracy on the stale
  weights;
* books the writes of the configured schedule in the chip's ledger (ops ``pulse`` and
  ``cells_written``: one pulse of ``e_pulse`` per flip, every load rewritten row by row,
  ``rows * t_pulse`` per load), and
* adds the ``reprogram`` block to report.json: ``writes_naive``, ``writes_sorted``,
  ``writes_stuck``, ``writes_sorted_stuck`` (flips per inference), the reduction factors
  against naive, the largest count of one physical cell (``max_writes_per_cell_*``, over
  all ``inferences``: endurance is per cell), and the test accuracy of the 8-bit intended
  weights, of the held ones and their difference ``accuracy_drop``.

Parameters are checked one by one (``p`` in [0, 1], ``low_bits <= bits``, ``cols`` holds one
weight); an error names the key.

Example:
    >>> import torch, snnx.hw as hw
    >>> from snnx.nn import MLP
    >>> chip = MLP([20, 30, 5]).to_analog(hw.load("ideal"))
    >>> out = reprogram_model(chip, {"rows": 8, "cols": 16, "low_bits": 0}, seed=0)
    >>> x = torch.rand(3, 20)
    >>> bool((out(x) - chip(x)).abs().max() < 0.05)   # 8-bit weights, no stucking
    True
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch

from snnx.config.schema import KW, build, spec
from snnx.config.seeds import derive
from snnx.errors import ConfigError
from snnx.transforms import attach_report, copy_model, tile_layers
from snnx.transforms.encrypt_tiles import master_weight
from snnx.transforms.reprogram import SIGNS, SORTS, ReprogramResult, reprogram

__all__ = ["Params", "reprogram_model"]


@dataclasses.dataclass(**KW)
class Params:
    """Parameters of ``reprogram`` (a recipe: ``transforms: [{name: reprogram, ...}]``)."""

    arrays: int = spec(2, lo=1, hi=1 << 20, doc="P, physical arrays the tiles stream through "
                                                "(round-robin)")
    rows: int = spec(64, lo=1, hi=1 << 16, doc="rows (inputs) of one physical array")
    cols: int = spec(64, lo=1, hi=1 << 16, doc="columns of one physical array (per side of "
                                               "the pair): cols // bits outputs per tile")
    bits: int = spec(8, lo=1, hi=16, doc="magnitude bits per weight, one bit per cell")
    sign: str = spec("pair", choices=SIGNS, doc="pair: differential pair of arrays | column: "
                                                "a sign column per output")
    sort: str = spec("max", choices=SORTS, doc="row key of weight sorting: none (natural "
                                               "order) | max | mean of |q| over the tile's "
                                               "outputs")
    greedy: bool = spec(True, doc="order each layer's tiles by Hamming distance to the array "
                                  "they are loaded into")
    low_bits: int = spec(2, lo=0, hi=16, doc="L, low-order bit columns subject to stucking "
                                             "(0: none), <= bits")
    p: float = spec(0.25, lo=0, hi=1, doc="probability that a low-order cell that must change "
                                          "is rewritten, in [0, 1]")
    inferences: int = spec(3, lo=2, hi=1000, doc="schedule repetitions; the first (from erased "
                                                 "arrays) is the warm-up")
    report: bool = spec(True, doc="add the reprogram block to report.json (writes of the "
                                  "parts of the method, accuracy drop)")

    def __post_init__(self) -> None:
        if self.low_bits > self.bits:
            raise ConfigError(f"low_bits: must be <= bits = {self.bits}, got {self.low_bits}")
        need = self.bits + (self.sign == "column")
        if self.cols < need:
            raise ConfigError(f"cols: {self.cols} columns cannot hold one {self.bits}-bit "
                              f"weight (sign {self.sign}: {need} columns)")


def _run(weights: list, opts: Params, seed: int, *, sort: str, greedy: bool,
         low_bits: int) -> ReprogramResult:
    gen = torch.Generator().manual_seed(derive(seed, "reprogram.stucking"))
    return reprogram(weights, rows=opts.rows, cols=opts.cols, arrays=opts.arrays,
                     bits=opts.bits, sign=opts.sign, sort=sort, greedy=greedy,
                     low_bits=low_bits, p=opts.p if low_bits else 1.0, generator=gen,
                     inferences=opts.inferences)


def _steady(res: ReprogramResult) -> float:
    """Mean flips of the inferences after the first."""
    return float(statistics.fmean(res.flips_per_inference[1:]))


def _with_weights(model: Any, weights: list) -> Any:
    """A copy of ``model`` whose layers hold ``weights`` (master copy and tile)."""
    out = copy_model(model)
    for lyr, W in zip(tile_layers(out), weights):
        tile = lyr.tile
        W = W.to(tile.dtype).reshape(tile.shape)
        w = getattr(lyr, "weight", None)
        if isinstance(w, torch.Tensor) and w.numel() == W.numel():
            with torch.no_grad():
                w.copy_(W.reshape(w.shape).to(w.dtype))
        tile.program(W)
        if hasattr(lyr, "_programmed_version"):
            lyr._programmed_version = lyr.weight._version
    return out


def reprogram_model(model: Any, params: Params | Mapping | None = None, *, calib: Any = None,
                    seed: int = 0) -> Any:
    """Deploy the stale weights of a reused-crossbar schedule (registry name ``reprogram``).

    Args:
        model: a network on tiles (not modified).
        params: :class:`Params` or a mapping of its fields.
        calib: unused (the schedule depends on the weights only).
        seed: seeds the stucking draws (``derive(seed, "reprogram.stucking")``).

    Returns:
        A copy whose layers hold the weights held at compute time (see module docstring).

    Raises:
        ConfigError: a bad parameter (one line naming it), or a model without tiles.
    """
    opts = params if isinstance(params, Params) else build(Params, params or {}, "reprogram")
    layers = tile_layers(model)
    if not layers:
        raise ConfigError("reprogram: the model has no layers on tiles; put it on tiles "
                          "first (model.to_analog(hw))")
    weights = [master_weight(lyr).detach().double().cpu() for lyr in layers]
    schedules = [("sorted_stuck", opts.sort, opts.greedy, opts.low_bits)]
    if opts.report:  # the other schedules only feed the report's comparison
        schedules += [("naive", "none", False, 0), ("sorted", opts.sort, opts.greedy, 0),
                      ("stuck", "none", False, opts.low_bits)]
    runs = {name: _run(weights, opts, seed, sort=sort, greedy=greedy, low_bits=low)
            for name, sort, greedy, low in schedules}
    res = runs["sorted_stuck"]
    out = _with_weights(model, res.held[-1])
    cost, loads = layers[0].tile.hw.cost, len(res.order) * opts.inferences
    led = tile_layers(out)[0].tile.ledger
    led.add("pulse", res.flips_total, res.flips_total * cost.e_pulse,
            loads * opts.rows * cost.t_pulse)
    led.add("cells_written", res.flips_total)
    if opts.report:
        attach_report(out, "reprogram", partial(_report, model, out, runs, opts, cost.e_pulse))
    return out


def _report(model: Any, out: Any, runs: dict, opts: Params, e_pulse: float,
            measure: Any) -> dict:
    """The ``reprogram`` block of report.json (see the module docstring)."""
    res = runs["sorted_stuck"]
    rep = {k: getattr(opts, k) for k in ("arrays", "rows", "cols", "bits", "sign", "sort",
                                         "greedy", "low_bits", "p", "inferences")}
    rep["tiles"] = len(res.order)
    naive = _steady(runs["naive"])
    for name, r in runs.items():
        rep[f"writes_{name}"] = _steady(r)
        rep[f"max_writes_per_cell_{name}"] = r.flips_max
        if name != "naive":
            w = rep[f"writes_{name}"]
            rep[f"reduction_{name}"] = naive / w if w else None  # None: no write at all
    rep["write_energy_j_per_inference"] = rep["writes_sorted_stuck"] * e_pulse
    rep["accuracy_deployed_before"] = measure(model)
    rep["accuracy_intended"] = measure(_with_weights(model, res.intended))
    rep["accuracy_held"] = measure(out)
    rep["accuracy_drop"] = rep["accuracy_intended"] - rep["accuracy_held"]
    return rep
