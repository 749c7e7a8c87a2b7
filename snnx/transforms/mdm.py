r"""Manhattan Distance Mapping (MDM): place the cells that conduct most where the wires are
shortest (METHODS.md section 1; transform ``mdm``).

Post-training, no retraining. In the contract-2 geometry (rows driven at column 0, columns
sensed after row M-1) cell (i, j) of an M x N array sees the wire length

.. math:: D_{ij} = r_{row}\,(j + 1) + r_{col}\,(M - i)

(in segments). MDM permutes the rows and the columns of every tile so that the on-cells,
weighted by how often their row is driven, sit at small D:

* **columns** (the "feed from the low-order side" step): score
  :math:`c_j = \sum_i p_i b_{ij}`, the activity-weighted count of on-cells of logical
  column j (output o, bit slice k); the densest columns -- the low-order bits of bell-shaped
  weights -- go nearest the drivers (small j). The tile keeps each column's shift-add
  significance, so a column permutation is all it takes.
* **rows**: score :math:`n_i = p_i \sum_j b_{ij} s_j` with :math:`s_j = 1`, or the
  column's significance :math:`2^{k}` (``weight_by_significance``); the busiest rows go
  nearest the sense amplifiers (i = M-1), i.e. increasing n_i from row 0 to row M-1.

Here :math:`b_{ij} \in [0, 1]` is the programmed state of the cell pair,
:math:`(G^+ + G^- - 2 g_{min}) / (g_{max} - g_{min})` (the bit itself on bit-sliced tiles;
multi-level tiles get the same treatment with fractional b), and :math:`p_i` the mean drive
of row i on calibration inputs (``calib``): the probability that input bit i is 1 for
bit-serial inputs, else the mean of |DAC code| / full scale; 1 without ``calib``.

Since :math:`\sum_{on} D` splits into a row part and a column part, each order is one sort.
Tiles larger than one array: inputs are gathered digitally and every column has its own ADC
and significance, so rows and columns may move freely across the arrays of a tile. Each
slot (array, position) has a distance to its driver / sense amplifier; the scores are
matched to the slots by the rearrangement inequality (largest score to the nearest slot),
which deals ranks round-robin over the arrays -- every array gets an equal share of busy
rows (dense columns) and :math:`\sum_{on} D` is minimal over all placements. A partly used
last array counts its distances from its used size (as :mod:`snnx.hw.readout` models it).

Each tile is re-programmed in the new placement from its layer's digital master copy
``weight`` (the deployment weights) with the configured write scheme; faults and variation
stay with the physical cells, and the ledger books the extra programming. On ideal hardware
the outputs are unchanged (permutations only).

Parameters: :class:`Params` (a recipe's ``transforms: [{name: mdm, rows: true, ...}]``).

Example:
    >>> import torch, snnx.hw as hw
    >>> from snnx.nn import MLP
    >>> cfg = hw.load("ideal", **{"periphery.weight_bits": 8})
    >>> net = MLP([16, 8, 3]).to_analog(cfg)
    >>> x = torch.rand(4, 16)
    >>> out = mdm(net, {}, calib=x)
    >>> bool(torch.allclose(out(x), net(x), atol=1e-5))
    True
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import torch

from snnx.config.schema import KW, build, spec
from snnx.errors import ConfigError, ShapeError
from snnx.transforms import copy_model

__all__ = ["mdm", "plan", "input_activity", "array_nf", "wire_cost", "layer_inputs",
           "Params"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(**KW)
class Params:
    """MDM's parameters."""

    rows: bool = spec(True, doc="reorder rows (busiest rows nearest the sense amplifiers)")
    columns: bool = spec(True, doc="reorder columns (densest columns nearest the drivers)")
    weight_by_significance: bool = spec(False, doc="s_j = 2^k in the row score")
    reverse: bool = spec(False, doc="the opposite placement (busiest farthest): a diagnostic "
                                    "that should raise NF")


# ----------------------------------------------------------------------------- tile level
def _drive(tile, x: torch.Tensor) -> torch.Tensor:
    """Row drive of every read cycle for inputs x (B, in): (cycles, in) in [-1, 1], logical
    row order (bit planes when bit-serial, DAC codes / full scale otherwise)."""
    p = tile.hw.periphery
    x = torch.as_tensor(x).to(tile.dtype).reshape(-1, tile.in_features)
    if not bool(torch.isfinite(x).all()):
        raise ShapeError("x: contains NaN or inf")
    X, _, _ = tile.encode(x, "x")
    if p.input_bit_serial or p.dac_bits is None:
        return X
    return X / float(max((1 << (p.dac_bits - 1)) - 1, 1))


def input_activity(tile, x: torch.Tensor) -> torch.Tensor:
    """p_i, the mean drive of each row of ``tile`` on inputs x.

    Args:
        tile: a :class:`snnx.hw.Tile`.
        x: (B, in) inputs of the tile (layer inputs, not network inputs).

    Returns:
        (in,) in [0, 1], logical row order: P(input bit = 1) averaged over the bit planes
        when bit-serial, else mean |DAC code| / full scale.
    """
    return _drive(tile, x).abs().mean(0)


def _cell_state(tile) -> torch.Tensor:
    """b (in, n_cols) in [0, 1], logical order: programmed state of each cell pair."""
    g_min, g_max = tile.hw.device.g_min, tile.hw.device.g_max
    G = tile.layout.to_logical(tile.conductances)
    return ((G - g_min) / (g_max - g_min)).clamp(0.0, 1.0).sum(0).clamp(max=1.0)


def _slots(n: int, blk: int, toward_end: bool) -> torch.Tensor:
    """Distance in segments of every physical position 0..n-1 to its array's periphery:
    ``size - pos`` (sense amplifiers after the last row) or ``pos + 1`` (drivers)."""
    p = torch.arange(n)
    start = (p // blk) * blk
    size = (n - start).clamp(max=blk)
    pos = p - start
    return size - pos if toward_end else pos + 1


def _assign(score: torch.Tensor, dist: torch.Tensor, reverse: bool) -> torch.Tensor:
    """perm[physical] = logical: largest score to the smallest distance (ties: lower index
    first, so equal distances in different arrays are filled round-robin)."""
    slots = torch.argsort(dist, stable=True)
    order = torch.argsort(score.cpu().double(), descending=True, stable=True)
    if reverse:
        order = order.flip(0)
    perm = torch.empty_like(order)
    perm[slots] = order
    return perm


def plan(tile, activity: torch.Tensor | None = None, *, rows: bool = True,
         columns: bool = True, weight_by_significance: bool = False,
         reverse: bool = False) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """MDM placement of one tile (see the module docstring).

    Args:
        tile: a :class:`snnx.hw.Tile` (its programmed conductances give b).
        activity: (in,) p_i, or None for 1.
        rows, columns, weight_by_significance, reverse: as the transform's parameters.

    Returns:
        (row_perm, col_perm) for :meth:`Tile.set_mapping` (physical -> logical); an order
        that is switched off keeps the tile's current one.
    """
    b = _cell_state(tile)
    p = torch.ones(tile.in_features, dtype=b.dtype, device=b.device) if activity is None \
        else torch.as_tensor(activity).to(b)
    if p.shape != (tile.in_features,):
        raise ConfigError(f"mdm: activity must have shape ({tile.in_features},), got "
                          f"{tuple(p.shape)}")
    a = tile.hw.array
    rp, cp = tile.row_perm, tile.col_perm
    if columns:
        cp = _assign(p @ b, _slots(tile.n_cols, a.cols, toward_end=False), reverse)
        cp = cp.to(tile.device)
    if rows:
        s = tile.layout.significance()
        s = s / s.min() if weight_by_significance else torch.ones_like(s)
        rp = _assign(p * (b @ s), _slots(tile.in_features, a.rows, toward_end=True), reverse)
        rp = rp.to(tile.device)
    return rp, cp


def wire_cost(tile, activity: torch.Tensor | None = None) -> float:
    r"""Mean Manhattan distance of the conducting cells in segments,
    :math:`\sum_{ij} p_i b_{ij} D_{ij} / \sum_{ij} p_i b_{ij}` with r_row = r_col = 1, for
    the tile's current placement (MDM minimises the numerator)."""
    b = _cell_state(tile)
    p = torch.ones(tile.in_features, dtype=b.dtype, device=b.device) if activity is None \
        else torch.as_tensor(activity).to(b)
    a = tile.hw.array
    d_row = _slots(tile.in_features, a.rows, True).to(b)       # physical rows
    d_col = _slots(tile.n_cols, a.cols, False).to(b)
    if tile.row_perm is not None:                               # logical row i sits at ...
        d_row = d_row[torch.argsort(tile.row_perm.cpu())]
    if tile.col_perm is not None:
        d_col = d_col[torch.argsort(tile.col_perm.cpu())]
    w = p[:, None] * b
    total = float(w.sum())
    return float((w * (d_row[:, None] + d_col[None, :])).sum()) / total if total else 0.0


def array_nf(tile, x: torch.Tensor, *, r_row: float | None = None, r_col: float | None = None,
             model: str = "exact") -> torch.Tensor:
    """Nonideality factor of every physical array of a tile for inputs x.

    V of each read cycle is ``v_read`` times the tile's row drive (bit planes when
    bit-serial), in physical row order; NF per array (G+ and G- separately, never their
    difference) by :func:`snnx.hw.parasitics.nonideality_factor`.

    Args:
        tile: a :class:`snnx.hw.Tile` (its hardware may have parasitics off).
        x: (B, in) layer inputs.
        r_row, r_col: ohm per segment; default the tile's ``hw.parasitics``.
        model: parasitics model giving the non-ideal currents.

    Returns:
        (2, row arrays, column arrays) NF as fractions.

    Raises:
        ConfigError: r not > 0 (from the solver).
    """
    from snnx.hw import parasitics as pr

    par = tile.hw.parasitics
    r_row = par.r_row if r_row is None else r_row
    r_col = par.r_col if r_col is None else r_col
    V = tile.hw.periphery.v_read * _drive(tile, x)
    if tile.row_perm is not None:
        V = V.index_select(1, tile.row_perm)
    G = tile.conductances
    R, C = tile.hw.array.rows, tile.hw.array.cols
    out = torch.zeros(2, tile.n_row_blocks, tile.n_col_blocks, dtype=torch.float64)
    for s in range(2):
        for rb in range(tile.n_row_blocks):
            rs = slice(rb * R, (rb + 1) * R)
            for cb in range(tile.n_col_blocks):
                out[s, rb, cb] = pr.nonideality_factor(G[s, rs, cb * C:(cb + 1) * C], V[:, rs],
                                                       r_row, r_col, model)
    return out


# ----------------------------------------------------------------------------- model level
def _analog_layers(model) -> list:
    from snnx.nn.analog import AnalogLinear

    return [(name, m) for name, m in model.named_modules() if isinstance(m, AnalogLinear)]


def layer_inputs(model, calib: Any) -> dict[str, torch.Tensor]:
    """Inputs (N, in) that each AnalogLinear of ``model`` receives on ``calib`` (one forward
    pass of a throw-away copy, so the model's noise state and ledger are untouched)."""
    probe = copy_model(model).eval()
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for name, lyr in _analog_layers(probe):
        def hook(mod, args, name=name):
            x = args[0].detach()  # conv layers (snnx.nn.conv) read their patch rows
            rows = (mod.patches(x)[0] if hasattr(mod, "patches")
                    else x.reshape(-1, mod.in_features))
            seen.setdefault(name, []).append(rows)
        hooks.append(lyr.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            probe(calib)
    except Exception as e:  # noqa: BLE001 - any failure is a bad calib for this model
        raise ConfigError(f"mdm: calib could not be run through the model "
                          f"({type(e).__name__}: {e})") from None
    finally:
        for h in hooks:
            h.remove()
    return {k: torch.cat(v) for k, v in seen.items()}


def mdm(model, params: Params | Mapping | None = None, *, calib: Any = None, seed: int = 0):
    """Manhattan Distance Mapping of every AnalogLinear tile (registry name ``mdm``).

    Args:
        model: a network on tiles (``to_analog`` done); it is not modified.
        params: :class:`Params`, or a mapping of its fields.
        calib: representative network inputs for the row activities p_i (None: p_i = 1).
        seed: unused (MDM is deterministic); kept for the transform calling convention.

    Returns:
        A deep copy of ``model`` whose tiles are re-programmed in the MDM placement (its own
        copy of the cost ledger, which books the re-programming).

    Raises:
        ConfigError: unknown or mistyped parameter, no AnalogLinear in the model, or calib
            that the model cannot run.
    """
    opts = params if isinstance(params, Params) else build(Params, params, "mdm")
    if not _analog_layers(model):
        raise ConfigError("mdm: the model has no AnalogLinear layers; put it on tiles first "
                          "(model.to_analog(hw))")
    acts = layer_inputs(model, calib) if calib is not None else {}
    out = copy_model(model)
    for name, lyr in _analog_layers(out):
        tile = lyr.tile
        x = acts.get(name)
        p = None if x is None else input_activity(tile, x)
        before = wire_cost(tile, p)
        rp, cp = plan(tile, p, rows=opts.rows, columns=opts.columns,
                      weight_by_significance=opts.weight_by_significance, reverse=opts.reverse)
        tile.set_mapping(rp, cp, W=lyr.weight.detach())
        lyr._programmed_version = lyr.weight._version  # the tile holds ``weight`` now
        log.debug("mdm: %s: mean wire distance of on-cells %.1f -> %.1f segments%s", name,
                 before, wire_cost(tile, p), "" if p is not None else " (no calib: p_i = 1)")
    return out
