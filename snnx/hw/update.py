"""Outer-product updates of a Tile as device pulses (METHODS.md section 0).

``W <- W - lr d^T x``: the target change of every cell pair, in units of one pulse step, is
``a = -lr (x^T d) / (w_max * step)``. Pulse counts use unbiased stochastic rounding,
``n = floor(|a| + u)``, u ~ U[0, 1) (deterministic rounding would silently drop every update
smaller than half a step), capped at ``max_pulses``. Policy "split": a > 0 potentiates G+,
a < 0 potentiates G- (one side per cell per update). The pulses go through the device model
(:func:`snnx.hw.device.apply_pulses`: soft bounds, device-to-device gain, cycle-to-cycle
noise); stuck cells do not move.

Only cells that receive pulses are touched (a flat index of them, then gathers and scatters),
so the cost scales with the number of pulsed cells; the read caches are patched in place for
those cells instead of being rebuilt. Pairs whose two sides both pass ``refresh_at`` of the
range are re-programmed (checked every ``REFRESH_CHECK_EVERY`` updates).

Continuous-level devices without a pulse step (hw ``ideal``) take the exact analog update.
Bit-sliced tiles update by digital read-modify-write of the cells whose digits change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from snnx.hw import device as dev

if TYPE_CHECKING:  # pragma: no cover
    from snnx.hw.tile import Tile

#: how often (in updates) pairs are checked for a refresh
REFRESH_CHECK_EVERY = 8
#: rebuild read caches from scratch after this many incremental patches (float drift)
REBUILD_EVERY = 512


def analog_update(tile: "Tile", x: torch.Tensor, d: torch.Tensor, lr: float) -> None:
    """Pulse update of a multi-level (non-sliced) tile. x (B, in), d (B, out) logical."""
    hw = tile.hw
    if tile.row_perm is not None:
        x = x.index_select(1, tile.row_perm)
    if tile.col_perm is not None:
        d = d.index_select(1, tile.col_perm)
    s = dev.step_fraction(hw)
    r, gmin = dev.g_range(hw), hw.device.g_min
    a = x.t() @ d  # (in, n_cols)
    if s is None:
        _exact_update(tile, a.mul_(-lr / tile.w_max), x.shape[0])
        return
    a.mul_(-lr / (tile.w_max * s))  # signed pulse counts (float)
    numel = a.numel()
    n = a.abs().add_(tile.rng.uniform(*a.shape)).floor_()
    sel = torch.nonzero(n.view(-1)).squeeze(1)
    k = sel.numel()
    if k == 0:
        tile.cost.update_sparse(None, None, 0.0, 0, x.shape[0])
        return
    take = torch.index_select
    nk = take(n.view(-1), 0, sel).clamp_(max=hw.device.update.max_pulses)
    side = (take(a.view(-1), 0, sel) < 0).long()
    lin = side * numel + sel
    Gf = tile._G.view(-1)
    g_old = take(Gf, 0, lin)
    gain = None if tile.gain is None else take(tile.gain.view(-1), 0, lin)
    z = tile.rng.normal(k) if hw.device.update.c2c_sigma > 0 else None
    g_new = dev.apply_pulses((g_old - gmin) / r, nk, hw, depress=None, gain=gain, noise=z)
    G_new = g_new.mul_(r).add_(gmin)
    if tile.faults is not None:
        stuck = take(tile.faults[0].view(-1), 0, lin) | take(tile.faults[1].view(-1), 0, lin)
        G_new = torch.where(stuck, g_old, G_new)
    Gf.index_copy_(0, lin, G_new)
    delta = G_new - g_old
    ncols = tile.n_cols
    row = sel // ncols
    col = sel % ncols
    sign = 1.0 - 2.0 * side.to(delta.dtype)
    _patch_caches(tile, row, col, delta * sign, delta)
    tile.cost.update_sparse(row + side * tile.in_features, nk, float(nk.sum()), k, x.shape[0])
    tile.n_updates += 1
    if tile.n_updates % REFRESH_CHECK_EVERY == 0:
        refresh_pairs(tile)


def _exact_update(tile: "Tile", dC: torch.Tensor, batch: int) -> None:
    """Continuous cells, no pulse quantisation: the exact analog change (full-cell units)."""
    hw = tile.hw
    r, gmin = dev.g_range(hw), hw.device.g_min
    g = (tile._G - gmin) / r
    up, down = dC.clamp(min=0), dC.clamp(max=0)
    g[0].add_(up)
    g[1].sub_(down)
    g.clamp_(0.0, 1.0)
    G = g.mul_(r).add_(gmin)
    dev.apply_faults(G, tile.faults, hw)
    tile._G = G
    tile._invalidate()
    touched = (dC != 0)
    rows = touched.any(1).to(dC.dtype).repeat(2)
    tile.cost.update_sparse(torch.arange(rows.numel(), device=dC.device), rows,
                            float(touched.sum()), int(touched.sum()), batch)
    tile.n_updates += 1
    refresh_pairs(tile)  # every update: keeps continuous (ideal) tiles exact indefinitely


def _patch_caches(tile: "Tile", row: torch.Tensor, col: torch.Tensor, d_diff: torch.Tensor,
                  d_sum: torch.Tensor) -> None:
    """Patch the read caches after sparse writes, or drop them when that is not exact."""
    tile._patches += 1
    caches = (tile._fwd, tile._bwd)
    if (tile._patches >= REBUILD_EVERY or tile._geff is not None  # G_eff (wires) is stale
            or any(c is not None and not c.incremental_ok for c in caches)):
        tile._invalidate()
        return
    if tile._fwd is not None:
        tile._fwd.apply_delta(row * tile.n_cols + col, d_diff, row, d_sum)
    if tile._bwd is not None:
        tile._bwd.apply_delta(col * tile.in_features + row, d_diff, col, d_sum)


def refresh_pairs(tile: "Tile") -> None:
    """Re-program pairs whose two sides both exceed ``refresh_at`` of the range."""
    hw = tile.hw
    thr = hw.device.update.refresh_at
    if thr >= 1.0:
        return
    r, gmin = dev.g_range(hw), hw.device.g_min
    need = torch.minimum(tile._G[0], tile._G[1]) > gmin + thr * r
    if tile.faults is not None:  # a pair with a stuck cell cannot be refreshed
        need &= ~(tile.faults[0] | tile.faults[1]).any(0)
    if not bool(need.any()):
        return
    diff = tile._G[0] - tile._G[1]
    tgt = torch.stack([gmin + diff.clamp(min=0), gmin + (-diff).clamp(min=0)])
    tile._write(tgt, mask=need.unsqueeze(0).expand_as(tgt))


def digital_update(tile: "Tile", x: torch.Tensor, d: torch.Tensor, lr: float) -> None:
    """Bit-sliced tiles: read-modify-write of the cells whose digits change."""
    p = tile.hw.periphery
    W_old = tile.read_weight()
    W = W_old - lr * (d.t() @ x)
    lsb = tile.w_max / ((1 << p.weight_bits) - 1)
    q = torch.floor(W / lsb + tile.rng.uniform(*W.shape)) * lsb  # stochastic rounding
    q = q.clamp_(-tile.w_max, tile.w_max)
    tgt = tile._to_phys(tile._targets(q))
    old = tile._to_phys(tile._targets(W_old))
    changed = (tgt - old).abs() > 1e-3 * dev.g_range(tile.hw)
    if bool(changed.any()):
        tile._write(tgt, mask=changed)
    tile.cost.digital(x.shape[0] * tile.in_features * tile.out_features)
    tile.n_updates += 1
