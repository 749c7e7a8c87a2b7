"""Outer-product updates as device pulses (METHODS.md sections 0 and 13): pure functions.

``W <- W - lr d^T x`` (x: (N, in), d: (N, out); for SNNs N = T*B). In units of one device
step ``dw = w_max * step`` the change asked of a cell is ``a_ij = -lr (x^T d)_ij / dw``. Two
schemes turn it into pulses (``hw.device.update.scheme``):

* ``counted`` (snnx 0.1): ``a`` is computed digitally (``N in out`` multiply-accumulates,
  booked by the cost model) and rounded to pulse counts with unbiased stochastic rounding,
  ``n = floor(|a| + u)``, u ~ U[0, 1), capped at ``max_pulses``; the cells are written row
  by row. See :func:`counted_counts`.
* ``stochastic`` (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016; aihwkit's
  ``STOCHASTIC_COMPRESSED`` pulses with update and bit-length management): every row of the
  batch is one update cycle of ``bl_b`` pulse slots; in each slot row i fires with
  probability p_i, column j with q_j, and a cell moves one device step per coincidence. No
  digital outer product. See :func:`snnx.hw.pulse_trains.stochastic_counts` for the
  exact distribution sampled.

Either way the result is :class:`Counts`, the potentiation and depression pulses of every
cell that gets some (both sides of the pair), which :func:`apply_counts` sends through the
device model
(:func:`snnx.hw.device.apply_pulses`: soft bounds, asymmetry, device-to-device gain,
cycle-to-cycle noise); stuck cells do not move. The policy (``device.update.policy``) says
which cells a change reaches:

* ``split``: a > 0 potentiates G+, a < 0 potentiates G- (only potentiation; pairs climb and
  are refreshed, :func:`pairs_to_refresh`);
* ``bidirectional`` (push-pull): a > 0 potentiates G+ AND depresses G-, a < 0 the reverse,
  each side taking half of the change on average, so depression (``dep_ratio``,
  ``beta_dep``) acts during learning. A side at its bound does not move further (a pair
  programmed with one side at g_min first moves away from the bound at half speed).
  Potentiation and depression need opposite pulse polarities: two phases per cycle.

Only cells that receive pulses are touched (a flat index of them, then gathers), so the
cost scales with the number of pulsed cells; :func:`apply_counts` returns a
:class:`SparseWrite` that the tile scatters into its conductances and its read caches.

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
        pulses: pulses per pulsed cell (potentiation + depression).
        dep: depression pulses per pulsed cell (None: potentiation only).
    """

    lin: torch.Tensor | None = None
    G_new: torch.Tensor | None = None
    row: torch.Tensor | None = None
    col: torch.Tensor | None = None
    side: torch.Tensor | None = None
    d_diff: torch.Tensor | None = None
    d_sum: torch.Tensor | None = None
    pulses: torch.Tensor | None = None
    dep: torch.Tensor | None = None

    @property
    def cells(self) -> int:
        """Pulsed cells."""
        return 0 if self.lin is None else int(self.lin.numel())


@dataclasses.dataclass
class Counts:
    """Pulses of one update, sparse: only cells that get some.

    Attributes:
        lin: (K,) distinct flat indices into the (2, in, n_cols) conductances.
        pot: (K,) potentiation pulses of each. dep: (K,) depression pulses, or None (split).
    """

    lin: torch.Tensor
    pot: torch.Tensor
    dep: torch.Tensor | None = None

    @staticmethod
    def from_dense(pot: torch.Tensor, dep: torch.Tensor | None = None) -> "Counts":
        """From dense (2, in, n_cols) count tensors."""
        tot = pot if dep is None else pot + dep
        lin = torch.nonzero(tot.view(-1)).squeeze(1)
        return Counts(lin, pot.view(-1)[lin], None if dep is None else dep.view(-1)[lin])

    def to_dense(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Dense (pot, dep) tensors of ``shape`` (dep None for split)."""
        out = []
        for v in (self.pot, self.dep):
            if v is None:
                out.append(None)
                continue
            t = torch.zeros(shape, dtype=v.dtype, device=v.device)
            t.view(-1)[self.lin] = v
            out.append(t)
        return out[0], out[1]


def physical_order(layout: Layout, x: torch.Tensor,
                   d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, in) and d (N, n_cols) with their columns in physical row / column order."""
    if layout.row_perm is not None:
        x = x.index_select(1, layout.row_perm)
    if layout.col_perm is not None:
        d = d.index_select(1, layout.col_perm)
    return x, d


def _sparse_side(n: torch.Tensor, a: torch.Tensor, on_rising: bool) -> tuple[torch.Tensor,
                                                                              torch.Tensor]:
    """(flat indices into (2, in, n_cols), counts) of the non-zero counts n (in, n_cols) on
    the side that rises with the change a (G+ for a > 0) or on the other side."""
    sel = torch.nonzero(n.view(-1)).squeeze(1)
    fall = a.view(-1).index_select(0, sel) < 0
    side = (fall if on_rising else ~fall).long()
    return side * n.numel() + sel, n.view(-1).index_select(0, sel)


def counted_counts(layout: Layout, rng, x: torch.Tensor, d: torch.Tensor,
                   lr: float) -> Counts:
    """Scheme ``counted``: pulse counts from the digital outer product.

    Args:
        layout: the tile's layout (permutations, ``w_max``, hardware model).
        rng: the tile's :class:`~snnx.hw.rng.RandomSource` (stochastic rounding).
        x: (N, in) logical inputs. d: (N, out * slices) logical errors. lr: learning rate.

    Returns:
        the :class:`Counts` (physical order; no depression for the split policy). Split:
        ``n = sround(|a|)`` on G+ (a > 0) or G- (a < 0). Bidirectional: ``sround(|a|/2)``
        potentiation pulses on the side that rises and an independent ``sround(|a|/2)``
        depression pulses on the other side.
    """
    hw = layout.hw
    u = hw.device.update
    x, d = physical_order(layout, x, d)
    a = x.t() @ d
    a.mul_(-lr / (layout.w_max * dev.step_fraction(hw)))  # signed pulses asked (float)
    mag = a.abs()
    if u.policy == "split":
        n = mag.add_(rng.uniform(*a.shape)).floor_().clamp_(max=u.max_pulses)
        return Counts(*_sparse_side(n, a, True))
    mag.mul_(0.5)
    n_p = mag.add(rng.uniform(*a.shape)).floor_().clamp_(max=u.max_pulses)
    n_d = mag.add_(rng.uniform(*a.shape)).floor_().clamp_(max=u.max_pulses)
    # a pair's potentiation and depression land on different sides: no index repeats
    lp, cp = _sparse_side(n_p, a, True)
    ld, cd = _sparse_side(n_d, a, False)
    return Counts(torch.cat([lp, ld]), torch.cat([cp, torch.zeros_like(cd)]),
                  torch.cat([torch.zeros_like(cp), cd]))


def apply_counts(layout: Layout, G: torch.Tensor, gain: torch.Tensor | None, faults, rng,
                 counts: Counts) -> SparseWrite:
    """Send pulse counts through the device model, touching only the pulsed cells.

    Args:
        layout: the tile's layout. G: (2, in, n_cols) conductances, physical order (not
            modified). gain: per-cell pulse-step multipliers or None. faults: stuck-at masks
            or None. rng: the tile's random source (cycle-to-cycle noise).
        counts: the pulses (:class:`Counts`). A cell with both potentiation and depression
            pulses takes its potentiation first (exact for linear steps; with soft bounds
            the order of interleaved pulses is approximated to second order).

    Returns:
        the :class:`SparseWrite` of the pulsed cells (empty when none).
    """
    hw = layout.hw
    sel = counts.lin
    k = sel.numel()
    if k == 0:
        return SparseWrite()
    take = torch.index_select
    r, gmin = dev.g_range(hw), hw.device.g_min
    g_old = take(G.view(-1), 0, sel)
    gk = None if gain is None else take(gain.view(-1), 0, sel)
    model, step = dev.cell_model(hw), dev.step_fraction(hw)  # as dev.apply_pulses does
    nk, dk = counts.pot, counts.dep
    g = model.pulse((g_old - gmin) / r, nk, step, depress=None, gain=gk,
                    noise=rng.normal(k) if model.noisy else None)
    if dk is not None:
        g = model.pulse(g, dk, step, depress=torch.ones(k, dtype=torch.bool, device=g.device),
                        gain=gk, noise=rng.normal(k) if model.noisy else None)
    G_new = g.mul_(r).add_(gmin)
    if faults is not None:
        stuck = take(faults[0].view(-1), 0, sel) | take(faults[1].view(-1), 0, sel)
        G_new = torch.where(stuck, g_old, G_new)
    delta = G_new - g_old
    numel = layout.in_features * layout.n_cols
    side, rem = sel // numel, sel % numel
    ncols = layout.n_cols
    sign = 1.0 - 2.0 * side.to(delta.dtype)
    return SparseWrite(lin=sel, G_new=G_new, row=rem // ncols, col=rem % ncols, side=side,
                       d_diff=delta * sign, d_sum=delta, pulses=nk if dk is None else nk + dk,
                       dep=dk)


def exact_update(layout: Layout, G: torch.Tensor, faults, x: torch.Tensor, d: torch.Tensor,
                 lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous cells, no pulse quantisation: the exact analog change.

    Returns:
        (new G (2, in, n_cols), touched (in, n_cols) bool mask of changed pairs).
    """
    hw = layout.hw
    x, d = physical_order(layout, x, d)
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
