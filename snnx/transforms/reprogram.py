r"""Weight sorting and bit stucking: fewer cell writes when a few physical arrays are reused
for many weight tiles (METHODS.md section 2; transform ``reprogram``).

**Layout** (bit-sliced, METHODS.md 0.5). Every layer W (out x in) is quantised to signed
``bits``-bit integers :math:`q = \mathrm{round}(W/s)`, :math:`s = \max|W|/(2^{bits}-1)`.
One cell holds one bit; bit k of a magnitude sits in a column of significance :math:`2^k`.
Sign ``"pair"`` (default): a differential pair of arrays, the magnitude of a positive weight
on the G+ array and of a negative one on the G- array, the other side all zeros
(:math:`q = \sum_k 2^k (b^+_k - b^-_k)`); a physical "array" is the pair, ``cols // bits``
outputs per tile. Sign ``"column"``: one array, a sign column per output next to its
magnitude columns, ``cols // (bits + 1)`` outputs per tile; the sign column always updates.
A tile is a block of up to ``rows`` inputs (physical rows, in the tile's row order) by up to
``outs`` outputs. Its cells are numbered ``(row_pos * outs + out_pos) * C + c`` with
``c`` = 0..bits-1 the G+ (or magnitude) bits LSB first, then bits..2 bits-1 the G- bits (or
``c = bits`` the sign). Cells outside a partly filled tile are not used and not written.

**Schedule.** The tiles of all layers pass through P physical arrays in order, load t into
array t mod P (round-robin); layers run in order, tiles of a layer in any order (partial
sums are added digitally). Arrays start erased (all bits 0). Over one schedule,
:math:`flips = \sum_{loads} \sum_{cells} [b_{new} \ne b_{old}]`, counted per physical cell.

**Weight sorting** [R]. Per layer and output block, each input row gets a key, the max (or
mean) of :math:`|q|` over the block's outputs; rows are sorted by key and cut into sections
of ``rows`` -> tiles; the layer's tiles run in the order of their mean key. Optionally
(``greedy``) each next tile is the one of the current layer at the smallest Hamming distance
(intended bits) to the array it will be loaded into, which links the layers too. Inputs are
gathered by the tile's row index map (:func:`tiled_matmul`), so outputs are unchanged.

**Bit stucking** [V idea, R details]. A cell of significance k < L (``low_bits``) that must
change is rewritten with probability p, else keeps its stale bit; higher columns and the
sign column always update. The draws: one ``torch.rand(rows * outs * C)`` from
``generator`` per load, in schedule order (cell i is written if draw_i < p). Computation
uses the stale state (:attr:`ReprogramResult.held`). Error per side <= 2^L - 1 LSB, so per
weight <= 2^L - 1 with a sign column and <= 2 (2^L - 1) with a pair (stale low bits may stay
on the inactive side).

Example:
    >>> W = [torch.randn(20, 70, generator=torch.Generator().manual_seed(0))]
    >>> base = reprogram(W, rows=16, cols=32, arrays=2)
    >>> res = reprogram(W, rows=16, cols=32, arrays=2, sort="max")
    >>> bool(torch.equal(res.held[0][0], base.held[0][0])), res.flips_total < base.flips_total
    (True, True)
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from snnx.errors import ConfigError, ShapeError

__all__ = ["reprogram", "ReprogramResult", "TileLoad", "quantize", "cell_bits", "decode",
           "significance", "tiled_matmul", "SIGNS", "SORTS"]

SIGNS = ("pair", "column")
SORTS = ("none", "max", "mean")


@dataclasses.dataclass(frozen=True, eq=False)
class TileLoad:
    """One tile: the layer, its input rows (physical row order) and output indices."""

    layer: int
    rows: torch.Tensor
    """(r,) long, input index held by physical row 0..r-1."""
    outs: torch.Tensor
    """(o,) long, output index of output slot 0..o-1."""
    key: float = 0.0
    """Sort key (mean row key; 0 without sorting)."""


@dataclasses.dataclass
class ReprogramResult:
    """What one run of the schedule did (see :func:`reprogram`)."""

    order: list[TileLoad]
    """The schedule of one inference (load t -> array t mod P)."""
    flips: torch.Tensor
    """(P, rows * outs * C) long: state changes of every physical cell, all inferences."""
    flips_per_inference: list[int]
    """Total state changes of each inference."""
    held_cells: list[torch.Tensor]
    """Per load of all inferences (schedule order): (r, o, C) uint8 bits held at compute."""
    held: list[list[torch.Tensor]]
    """[inference][layer] (out, in) weights held at compute time (stale bits), logical units."""
    intended: list[torch.Tensor]
    """[layer] (out, in) quantised weights (what p = 1 would hold)."""
    scales: list[float]
    """[layer] weight per LSB."""

    @property
    def flips_total(self) -> int:
        """Sum over cells and inferences."""
        return int(self.flips.sum())

    @property
    def flips_max(self) -> int:
        """Largest count of one physical cell (endurance is per cell)."""
        return int(self.flips.max()) if self.flips.numel() else 0


def quantize(W: torch.Tensor, bits: int) -> tuple[torch.Tensor, float]:
    """q = round(W / s) in [-(2^bits - 1), 2^bits - 1], s = max|W| / (2^bits - 1) (1 if W = 0)."""
    top = (1 << bits) - 1
    m = float(W.abs().max()) if W.numel() else 0.0
    s = m / top if m > 0 else 1.0
    return torch.round(W.double() / s).clamp(-top, top).long(), s


def significance(bits: int, sign: str = "pair") -> torch.Tensor:
    """(C,) bit index k of every cell of a weight (``bits`` for the sign column)."""
    k = torch.arange(bits)
    return torch.cat([k, k]) if sign == "pair" else torch.cat([k, torch.tensor([bits])])


def cell_bits(q: torch.Tensor, bits: int, sign: str = "pair") -> torch.Tensor:
    """(..., C) uint8 cell bits of integer weights q (layout in the module docstring)."""
    k = torch.arange(bits, device=q.device)
    mag = (q.abs()[..., None] >> k) & 1
    if sign == "pair":
        pos = (q > 0)[..., None]
        return torch.cat([mag * pos, mag * ~pos], -1).to(torch.uint8)
    return torch.cat([mag, (q < 0)[..., None].long()], -1).to(torch.uint8)


def decode(cells: torch.Tensor, bits: int, sign: str = "pair") -> torch.Tensor:
    """Integer weights (...) from cell bits (..., C): inverse of :func:`cell_bits`."""
    w = 1 << torch.arange(bits, device=cells.device)
    c = cells.long()
    if sign == "pair":
        return (c[..., :bits] * w).sum(-1) - (c[..., bits:] * w).sum(-1)
    return (1 - 2 * c[..., bits]) * (c[..., :bits] * w).sum(-1)


def tiled_matmul(x: torch.Tensor, loads: Sequence[TileLoad], tiles: Sequence[torch.Tensor],
                 out_features: int) -> torch.Tensor:
    """y = x W^T assembled tile by tile: ``y[:, outs] += x[:, rows] @ tile^T``.

    Args:
        x: (N, in) layer inputs.
        loads: the layer's tiles.
        tiles: (o, r) weights of each tile, rows in the tile's physical order.
        out_features: outputs of the layer.
    """
    y = x.new_zeros(x.shape[0], out_features)
    for ld, t in zip(loads, tiles):
        y[:, ld.outs] += x[:, ld.rows] @ t.to(x).T
    return y


def _check(weights, rows, cols, arrays, bits, low_bits, p, sign, sort, generator):
    for name, v, lo in (("rows", rows, 1), ("cols", cols, 1), ("arrays", arrays, 1),
                        ("bits", bits, 1)):
        if not isinstance(v, int) or v < lo:
            raise ConfigError(f"{name}: must be an integer >= {lo}, got {v!r}")
    if sign not in SIGNS:
        raise ConfigError(f"sign: must be one of {SIGNS}, got {sign!r}")
    if sort not in SORTS:
        raise ConfigError(f"sort: must be one of {SORTS}, got {sort!r}")
    if cols < bits + (sign == "column"):
        raise ConfigError(f"cols: {cols} columns cannot hold one {bits}-bit weight ({sign})")
    if not isinstance(low_bits, int) or not 0 <= low_bits <= bits:
        raise ConfigError(f"low_bits: must be an integer in [0, bits={bits}], got {low_bits!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"p: must be in [0, 1], got {p!r}")
    if generator is None and low_bits > 0 and 0.0 < p < 1.0:
        raise ConfigError("generator: required when 0 < p < 1 and low_bits > 0")
    for i, W in enumerate(weights):
        if W.dim() != 2 or not bool(torch.isfinite(W).all()):
            raise ShapeError(f"weights[{i}]: must be a finite (out, in) matrix, got "
                             f"{tuple(W.shape)}")


def _layer_tiles(q: torch.Tensor, layer: int, rows: int, outs: int, sort: str) -> list[TileLoad]:
    n_out, n_in = q.shape
    tiles = []
    for o0 in range(0, n_out, outs):
        oi = torch.arange(o0, min(o0 + outs, n_out))
        if sort == "none":
            order, key = torch.arange(n_in), torch.zeros(n_in)
        else:
            a = q[oi].abs().double()
            key = a.max(0).values if sort == "max" else a.mean(0)
            order = torch.argsort(key, stable=True)
        for r0 in range(0, n_in, rows):
            ri = order[r0:r0 + rows]
            tiles.append(TileLoad(layer, ri, oi, float(key[ri].mean())))
    if sort != "none":
        tiles = [tiles[i] for i in torch.argsort(torch.tensor([t.key for t in tiles]),
                                                 stable=True).tolist()]
    return tiles


def _slot(ld: TileLoad, bits_l: torch.Tensor, rows: int, outs: int, C: int):
    """Target bits and valid mask of a tile as flat slot vectors (rows * outs * C,)."""
    tgt = torch.zeros(rows, outs, C, dtype=torch.uint8)
    val = torch.zeros(rows, outs, C, dtype=torch.bool)
    r, o = len(ld.rows), len(ld.outs)
    tgt[:r, :o] = bits_l[ld.outs][:, ld.rows].transpose(0, 1)
    val[:r, :o] = True
    return tgt.flatten(), val.flatten()


def _greedy(layer_tiles, targets, arrays, n_cells):
    """Order each layer's tiles by nearest intended state of the array they go into."""
    state = torch.zeros(arrays, n_cells, dtype=torch.uint8)
    order, t = [], 0
    for tiles in layer_tiles:
        left = list(range(len(tiles)))
        tg = torch.stack([targets[id(tiles[i])][0] for i in left])
        va = torch.stack([targets[id(tiles[i])][1] for i in left])
        while left:
            a = t % arrays
            dist = ((tg != state[a]) & va).sum(1)
            j = int(torch.argmin(dist))                   # ties: earliest in key order
            i = left.pop(j)
            state[a] = torch.where(va[j], tg[j], state[a])
            tg, va = torch.cat([tg[:j], tg[j + 1:]]), torch.cat([va[:j], va[j + 1:]])
            order.append(tiles[i])
            t += 1
    return order


def reprogram(weights: Sequence[torch.Tensor], *, rows: int, cols: int, arrays: int,
              bits: int = 8, sign: str = "pair", sort: str = "none", greedy: bool = False,
              low_bits: int = 0, p: float = 1.0, generator: torch.Generator | None = None,
              inferences: int = 1) -> ReprogramResult:
    """Stream the tiles of ``weights`` through ``arrays`` physical arrays and count writes.

    Args:
        weights: per layer (out, in) weights (conv layers as (out, in * kh * kw)).
        rows, cols: cells of one physical array (per side with ``sign="pair"``).
        arrays: P, physical arrays used round-robin.
        bits: magnitude bits per weight (1 bit per cell).
        sign: "pair" or "column" (module docstring).
        sort: "none" (natural order: output blocks, then row blocks), "max" or "mean" row key.
        greedy: nearest-neighbour tile order on Hamming distance (any ``sort``).
        low_bits: L, the low-order columns subject to stucking (0: none).
        p: probability that a low-order cell that must change is rewritten.
        generator: the Bernoulli draws (needed when 0 < p < 1 and L > 0).
        inferences: schedule repetitions (the state carries over; later ones are steady state).

    Returns:
        :class:`ReprogramResult`.

    Raises:
        ConfigError: a parameter out of range (the message starts with its name).
        ShapeError: a weight matrix is not finite 2-D.
    """
    _check(weights, rows, cols, arrays, bits, low_bits, p, sign, sort, generator)
    if not isinstance(inferences, int) or inferences < 1:
        raise ConfigError(f"inferences: must be an integer >= 1, got {inferences!r}")
    C = 2 * bits if sign == "pair" else bits + 1
    outs = cols // bits if sign == "pair" else cols // (bits + 1)
    n_cells = rows * outs * C
    qs = [quantize(W.detach().cpu(), bits) for W in weights]
    layer_bits = [cell_bits(q, bits, sign) for q, _ in qs]
    layer_tiles = [_layer_tiles(q, li, rows, outs, sort) for li, (q, _) in enumerate(qs)]
    targets = {id(t): _slot(t, layer_bits[t.layer], rows, outs, C)
               for tiles in layer_tiles for t in tiles}
    order = _greedy(layer_tiles, targets, arrays, n_cells) if greedy else \
        [t for tiles in layer_tiles for t in tiles]
    low = (significance(bits, sign) < low_bits).repeat(rows * outs)
    stuck = low_bits > 0 and p < 1.0
    state = torch.zeros(arrays, n_cells, dtype=torch.uint8)
    flips = torch.zeros(arrays, n_cells, dtype=torch.long)
    per_inf, held_cells, held = [], [], []
    for _ in range(inferences):
        before = int(flips.sum())
        Wh = [torch.zeros(q.shape, dtype=torch.long) for q, _ in qs]
        for t, ld in enumerate(order):
            a = t % arrays
            tgt, val = targets[id(ld)]
            write = val & (tgt != state[a])
            if low_bits > 0 and generator is not None:
                draw = torch.rand(n_cells, generator=generator) < p
                if stuck:
                    write &= ~low | draw
            elif stuck:                                   # p == 0: no generator needed
                write &= ~low
            state[a] = torch.where(write, tgt, state[a])
            flips[a] += write
            r, o = len(ld.rows), len(ld.outs)
            cells = state[a].view(rows, outs, C)[:r, :o].clone()
            held_cells.append(cells)
            Wh[ld.layer][ld.outs[:, None], ld.rows[None, :]] = decode(cells, bits, sign).T
        per_inf.append(int(flips.sum()) - before)
        held.append([w.double() * s for w, (_, s) in zip(Wh, qs)])
    return ReprogramResult(order, flips, per_inf, held_cells, held,
                           [q.double() * s for q, s in qs], [s for _, s in qs])
