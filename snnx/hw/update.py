"""Outer-product updates as device pulses (METHODS.md section 0): pure functions.

``W <- W - lr d^T x``: the target change of every cell pair, in units of one pulse step, is
``a = -lr (x^T d) / (w_max * step)``. Pulse counts use unbiased stochastic rounding,
``n = floor(|a| + u)``, u ~ U[0, 1) (deterministic rounding would silently drop every update
smaller than half a step), capped at ``max_pulses``. Policy "split": a > 0 potentiates G+,
a < 0 potentiates G- (one side per cell per update). The pulses go through the device model
(:func:`snnx.hw.device.apply_pulses`: soft bounds, device-to-device gain, cycle-to-cycle
noise); stuck cells do not move.

Only cells that receive pulses are touched (a flat index of them, then gathers), so the
cost scales with the number of pulsed cells; :func:`pulse_update` returns a
:class:`SparseWrite` that the tile scatters into its conductances and its read caches.
:func:`pairs_to_refresh` finds pairs whose two sides both pass ``refresh_at`` of the range.

Continuous-level devices without a pulse step (hw ``ideal``) take the exact analog update
(:func:`exact_update`). Bit-sliced tiles update by digital read-modify-write of the cells
whose digits change (:func:`digital_targets`).

Nothing here imports the Tile: every function takes the layout and the state it needs.
"""

from __future__ import annotations

import dataclasses

import torch

from snnx.hw import device as dev
from snnx.hw.layout import Layout

#: how often (in updates) pairs are checked for a refresh
REFRESH_CHECK_EVERY = 8
#: rebuild read caches from scratch after this many incremental patches (float drift)
REBUILD_EVERY = 512


@dataclasses.dataclass
class SparseWrite:
    """The pulsed cells of one update, physical order.

    Attributes:
        lin: flat indices into the (2, in, n_cols) conductances (``side * in * n_cols +
            row * n_cols + col``); None when no cell was pulsed.
        G_new: new conductances at ``lin`` (S).
        row, col, side: the physical position and pair side of each pulsed cell.
        d_diff, d_sum: change of G+ - G- and of G+ + G- at each pulsed cell (S).
        pulses: pulses per pulsed cell.
    """

    lin: torch.Tensor | None = None
    G_new: torch.Tensor | None = None
    row: torch.Tensor | None = None
    col: torch.Tensor | None = None
    side: torch.Tensor | None = None
    d_diff: torch.Tensor | None = None
    d_sum: torch.Tensor | None = None
    pulses: torch.Tensor | None = None

    @property
    def cells(self) -> int:
        """Pulsed cells."""
        return 0 if self.lin is None else int(self.lin.numel())


def pulse_update(layout: Layout, G: torch.Tensor, gain: torch.Tensor | None, faults,
                 rng, x: torch.Tensor, d: torch.Tensor, lr: float) -> SparseWrite:
    """Pulses of ``W <- W - lr d^T x`` on a multi-level tile with a pulse step.

    Args:
        layout: the tile's layout (permutations, ``w_max``, hardware model).
        G: (2, in, n_cols) conductances, physical order (not modified).
        gain: per-cell pulse-step multipliers or None. faults: stuck-at masks or None.
        rng: the tile's :class:`~snnx.hw.rng.RandomSource` (rounding and c2c noise).
        x: (B, in) logical inputs. d: (B, out) logical errors. lr: learning rate (> 0).
    """
    hw = layout.hw
    if layout.row_perm is not None:
        x = x.index_select(1, layout.row_perm)
    if layout.col_perm is not None:
        d = d.index_select(1, layout.col_perm)
    s = dev.step_fraction(hw)
    r, gmin = dev.g_range(hw), hw.device.g_min
    a = x.t() @ d  # (in, n_cols)
    a.mul_(-lr / (layout.w_max * s))  # signed pulse counts (float)
    numel = a.numel()
    n = a.abs().add_(rng.uniform(*a.shape)).floor_()
    sel = torch.nonzero(n.view(-1)).squeeze(1)
    k = sel.numel()
    if k == 0:
        return SparseWrite()
    take = torch.index_select
    nk = take(n.view(-1), 0, sel).clamp_(max=hw.device.update.max_pulses)
    side = (take(a.view(-1), 0, sel) < 0).long()
    lin = side * numel + sel
    g_old = take(G.view(-1), 0, lin)
    gk = None if gain is None else take(gain.view(-1), 0, lin)
    z = rng.normal(k) if dev.needs_pulse_noise(hw) else None
    g_new = dev.apply_pulses((g_old - gmin) / r, nk, hw, depress=None, gain=gk, noise=z)
    G_new = g_new.mul_(r).add_(gmin)
    if faults is not None:
        stuck = take(faults[0].view(-1), 0, lin) | take(faults[1].view(-1), 0, lin)
        G_new = torch.where(stuck, g_old, G_new)
    delta = G_new - g_old
    ncols = layout.n_cols
    sign = 1.0 - 2.0 * side.to(delta.dtype)
    return SparseWrite(lin=lin, G_new=G_new, row=sel // ncols, col=sel % ncols, side=side,
                       d_diff=delta * sign, d_sum=delta, pulses=nk)


def exact_update(layout: Layout, G: torch.Tensor, faults, x: torch.Tensor, d: torch.Tensor,
                 lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous cells, no pulse quantisation: the exact analog change.

    Returns:
        (new G (2, in, n_cols), touched (in, n_cols) bool mask of changed pairs).
    """
    hw = layout.hw
    if layout.row_perm is not None:
        x = x.index_select(1, layout.row_perm)
    if layout.col_perm is not None:
        d = d.index_select(1, layout.col_perm)
    dC = (x.t() @ d).mul_(-lr / layout.w_max)  # full-cell units
    r, gmin = dev.g_range(hw), hw.device.g_min
    g = (G - gmin) / r
    up, down = dC.clamp(min=0), dC.clamp(max=0)
    g[0].add_(up)
    g[1].sub_(down)
    g.clamp_(0.0, 1.0)
    G_new = g.mul_(r).add_(gmin)
    dev.apply_faults(G_new, faults, hw)
    return G_new, dC != 0


def pairs_to_refresh(layout: Layout, G: torch.Tensor, faults) -> tuple[torch.Tensor,
                                                                       torch.Tensor] | None:
    """(targets, mask) re-programming pairs whose two sides both exceed ``refresh_at`` of
    the range (difference kept, the low side back at g_min), or None."""
    hw = layout.hw
    thr = hw.device.update.refresh_at
    if thr >= 1.0:
        return None
    r, gmin = dev.g_range(hw), hw.device.g_min
    need = torch.minimum(G[0], G[1]) > gmin + thr * r
    if faults is not None:  # a pair with a stuck cell cannot be refreshed
        need &= ~(faults[0] | faults[1]).any(0)
    if not bool(need.any()):
        return None
    diff = G[0] - G[1]
    tgt = torch.stack([gmin + diff.clamp(min=0), gmin + (-diff).clamp(min=0)])
    return tgt, need.unsqueeze(0).expand_as(tgt)


def digital_targets(layout: Layout, G: torch.Tensor, rng, x: torch.Tensor, d: torch.Tensor,
                    lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bit-sliced tiles: (physical targets, mask of cells whose digit changes) of the
    stochastically rounded ``W - lr d^T x`` (read-modify-write)."""
    p = layout.hw.periphery
    W_old = layout.weights(G)
    W = W_old - lr * (d.t() @ x)
    lsb = layout.w_max / ((1 << p.weight_bits) - 1)
    q = torch.floor(W / lsb + rng.uniform(*W.shape)) * lsb  # stochastic rounding
    q = q.clamp_(-layout.w_max, layout.w_max)
    tgt = layout.to_phys(layout.targets(q))
    old = layout.to_phys(layout.targets(W_old))
    return tgt, (tgt - old).abs() > 1e-3 * dev.g_range(layout.hw)
