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
  digital outer product. See :func:`stochastic_counts` for the exact distribution sampled.

Either way the result is a pair of count tensors, potentiation and depression pulses per
cell of both sides of the pair, which :func:`apply_counts` sends through the device model
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
class StochasticStats:
    """What a stochastic update did, for the cost model and for tests.

    Attributes:
        cycles: update cycles that fired (batch rows with a non-zero x and d).
        phases: phases run, summed over cycles (one per sign of x present, twice that for
            the bidirectional policy).
        slots: pulse slots in sequence, sum over phases of their bit length (latency is
            ``slots * t_pulse``).
        row_pulses: pulses fired by row drivers (sum over slots of the rows that fire).
        col_pulses: pulses fired by column drivers.
        coincidences: cell pulses (a row and a column firing in the same slot).
        clipped: cycles whose probabilities were capped at 1 (the change asked exceeded
            ``bl`` steps: the update is truncated there).
        draws: per phase set, ``(R, C, row, sign)``: the row (L, in) and column
            (L, n_cols) fire patterns of its L slots, the batch row (cycle) and the polarity
            (sign of x) of each slot; kept only when asked (``keep_patterns``), for
            independent checks.
    """

    cycles: int = 0
    phases: int = 0
    slots: int = 0
    row_pulses: float = 0.0
    col_pulses: float = 0.0
    coincidences: float = 0.0
    clipped: int = 0
    draws: list | None = None


def _physical(layout: Layout, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
    if layout.row_perm is not None:
        x = x.index_select(1, layout.row_perm)
    if layout.col_perm is not None:
        d = d.index_select(1, layout.col_perm)
    return x, d


def _by_side(n: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """(2, in, n_cols): counts n where the change is up on side 0 (G+), else on side 1."""
    z = torch.zeros((), dtype=n.dtype, device=n.device)
    return torch.stack([torch.where(up, n, z), torch.where(up, z, n)])


def counted_counts(layout: Layout, rng, x: torch.Tensor, d: torch.Tensor,
                   lr: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scheme ``counted``: pulse counts from the digital outer product.

    Args:
        layout: the tile's layout (permutations, ``w_max``, hardware model).
        rng: the tile's :class:`~snnx.hw.rng.RandomSource` (stochastic rounding).
        x: (N, in) logical inputs. d: (N, out * slices) logical errors. lr: learning rate.

    Returns:
        (pot, dep): potentiation and depression pulses (2, in, n_cols), physical order;
        dep is None for the split policy. Split: ``n = sround(|a|)`` on G+ (a > 0) or G-
        (a < 0). Bidirectional: ``sround(|a|/2)`` potentiation pulses on the side that
        rises and an independent ``sround(|a|/2)`` depression pulses on the other side.
    """
    hw = layout.hw
    u = hw.device.update
    x, d = _physical(layout, x, d)
    a = x.t() @ d
    a.mul_(-lr / (layout.w_max * dev.step_fraction(hw)))  # signed pulses asked (float)
    up = a > 0
    mag = a.abs_()
    if u.policy == "split":
        n = mag.add(rng.uniform(*a.shape)).floor_().clamp_(max=u.max_pulses)
        return _by_side(n, up), None
    mag.mul_(0.5)
    n_p = mag.add(rng.uniform(*a.shape)).floor_().clamp_(max=u.max_pulses)
    n_d = mag.add_(rng.uniform(*a.shape)).floor_().clamp_(max=u.max_pulses)
    return _by_side(n_p, up), _by_side(n_d, ~up)


def _draw(rng, p: torch.Tensor, q: torch.Tensor, bl: torch.Tensor, up: torch.Tensor,
          stats: StochasticStats, keep: tuple | None, out: torch.Tensor, order: tuple) -> None:
    """One phase set: fire patterns of every slot, coincidences split by direction.

    Args:
        p: (P, in) row probabilities per pseudo-cycle. q: (P, n_cols) column probabilities.
        bl: (P,) slots per pseudo-cycle. up: (P, n_cols) True where a coincidence in that
            column raises W. keep: (batch row, sign) of each pseudo-cycle, to store the
            patterns in ``stats.draws``, or None.
        out: (2, in, n_cols) receives the coincidences that raise W at ``out[order[0]]``
            and those that lower it at ``out[order[1]]``.
    """
    n1 = int(bl[0])
    if bool((bl == n1).all()):  # common case (bl management, small changes): no gathers
        slot = None if n1 == 1 else torch.arange(p.shape[0], device=p.device).repeat_interleave(n1)
    else:
        slot = torch.repeat_interleave(torch.arange(p.shape[0], device=p.device), bl)

    def per_slot(t: torch.Tensor) -> torch.Tensor:
        return t if slot is None else t.index_select(0, slot)

    L = p.shape[0] if slot is None else int(slot.numel())
    k = p.shape[1]
    u = rng.uniform(L, k + q.shape[1])  # one request: rows and columns never share numbers
    R = (u[:, :k] < per_slot(p)).to(p.dtype)
    C = (u[:, k:] < per_slot(q)).to(p.dtype)
    Cu = C * per_slot(up)
    Rt = R.t()
    torch.mm(Rt, Cu, out=out[order[0]])
    torch.mm(Rt, C.sub_(Cu), out=out[order[1]])
    C.add_(Cu)
    r_t, c_t = R.sum(1), C.sum(1)  # fires per slot: coincidences = sum_t r_t c_t
    stats.slots += L
    stats.phases += p.shape[0]
    stats.row_pulses += float(r_t.sum())
    stats.col_pulses += float(c_t.sum())
    stats.coincidences += float(r_t @ c_t)
    if keep is not None:
        stats.draws = (stats.draws or []) + [(R, C, per_slot(keep[0]), per_slot(keep[1]))]


def stochastic_counts(layout: Layout, rng, x: torch.Tensor, d: torch.Tensor, lr: float, *,
                      keep_patterns: bool = False) -> tuple[torch.Tensor, torch.Tensor | None,
                                                            StochasticStats]:
    r"""Scheme ``stochastic``: coincidence counts of stochastic pulse trains, sampled exactly.

    Cycle b (row b of x and d) uses the update management of aihwkit: with
    :math:`m_x = \max_i |x_{bi}|`, :math:`m_d = \max_j |d_{bj}|` and the change asked of the
    most-driven cell in device steps, :math:`\nu_b = h\,\eta\,m_x m_d / \Delta w`
    (h = 1 split, 1/2 per phase set bidirectional), the cycle gets
    :math:`BL_b = \min(bl, \lceil \nu_b \rceil)` slots (``bl`` without bl management) and

    .. math:: p_{bi} = \min(1, A_b |x_{bi}|/m_x), \quad q_{bj} = \min(1, A_b |d_{bj}|/m_d),
              \quad A_b = \sqrt{\nu_b / BL_b},

    so :math:`E[\text{coincidences}_{ij}] = BL_b p_{bi} q_{bj} = h\,\eta |x_{bi} d_{bj}|/\Delta w`
    exactly whenever :math:`\nu_b \le bl` (else the cycle is truncated at ``bl`` steps and
    counted in ``stats.clipped``). Rows of either sign of x fire in their own phase (a row's
    pulse polarity is its sign), each phase with its own slots; columns fire in every phase.

    The distribution sampled is the physical one, not an approximation: for every slot t of
    every phase, row fires :math:`R_{ti} \sim \mathrm{Bernoulli}(p)` and column fires
    :math:`C_{tj} \sim \mathrm{Bernoulli}(q)`, all independent, and the counts are
    :math:`n_{ij} = \sum_t R_{ti} C_{tj}` (one matmul with inner dimension = total slots),
    split by the direction :math:`-\mathrm{sign}(x_{bi} d_{bj})` of each coincidence. So each
    cell's count per cycle is Binomial(BL_b, p q) and the correlations between cells that
    share a row or a column pulse train are kept. Cost: O(slots (in + in * n_cols)); with bl
    management and small changes BL_b is 1-2.

    Returns:
        (pot, dep, stats): potentiation and depression pulses (2, in, n_cols) (dep None for
        the split policy; bidirectional: an independent phase set for each) and the
        :class:`StochasticStats`.
    """
    hw = layout.hw
    u = hw.device.update
    x, d = _physical(layout, x, d)
    stats = StochasticStats()
    bidir = u.policy == "bidirectional"
    dw = layout.w_max * dev.step_fraction(hw)
    mx, md = x.abs().amax(1), d.abs().amax(1)
    nu = (lr * (0.5 if bidir else 1.0) / dw) * mx * md
    live = torch.nonzero(nu > 0).squeeze(1)
    if live.numel() == 0:
        return torch.zeros(2, x.shape[1], d.shape[1], dtype=x.dtype, device=x.device), None, stats
    if live.numel() < nu.numel():
        x, d, mx, md, nu = x[live], d[live], mx[live], md[live], nu[live]
    bl = nu.ceil().clamp_(max=u.bl) if u.bl_management else torch.full_like(nu, u.bl)
    amp = (nu / bl).sqrt_()
    stats.cycles = int(live.numel())
    stats.clipped = int((amp > 1).sum())
    p = (x.abs() * (amp / mx).unsqueeze(1)).clamp_(max=1.0)
    q = (d.abs() * (amp / md).unsqueeze(1)).clamp_(max=1.0)
    # one pseudo-cycle per sign of x present: rows of that sign fire with that polarity
    neg = x < 0
    if bool(neg.any()):
        pos = x > 0
        P = torch.cat([p * pos, p * neg])
        sig = torch.cat([torch.ones_like(mx), -torch.ones_like(mx)])
        keep = torch.nonzero(torch.cat([pos.any(1), neg.any(1)])).squeeze(1)
        P, sig = P[keep], sig[keep]
        b = keep % x.shape[0]
        Q, BL = q[b], bl[b].long()
        up = ((d[b] * sig.unsqueeze(1)) < 0).to(x.dtype)  # -sign(x) sign(d) > 0: W rises
    else:  # x >= 0 (spikes, ReLU outputs): one phase per cycle, no reordering
        P, Q, BL = p, q, bl.long()
        sig = torch.ones_like(mx)
        b = torch.arange(x.shape[0], device=x.device)
        up = (d < 0).to(x.dtype)
    kp = (live[b], sig) if keep_patterns else None
    shape = (2, x.shape[1], d.shape[1])
    pot = torch.empty(shape, dtype=x.dtype, device=x.device)
    _draw(rng, P, Q, BL, up, stats, kp, pot, (0, 1))  # raise W: potentiate G+
    dep = None
    if bidir:  # an independent phase set of depression pulses: raise W by depressing G-
        dep = torch.empty(shape, dtype=x.dtype, device=x.device)
        _draw(rng, P, Q, BL, up, stats, kp, dep, (1, 0))
    return pot, dep, stats


def apply_counts(layout: Layout, G: torch.Tensor, gain: torch.Tensor | None, faults, rng,
                 pot: torch.Tensor, dep: torch.Tensor | None) -> SparseWrite:
    """Send pulse counts through the device model, touching only the pulsed cells.

    Args:
        layout: the tile's layout. G: (2, in, n_cols) conductances, physical order (not
            modified). gain: per-cell pulse-step multipliers or None. faults: stuck-at masks
            or None. rng: the tile's random source (cycle-to-cycle noise).
        pot, dep: potentiation / depression pulses (2, in, n_cols) (dep may be None). A
            cell with both takes its potentiation first (exact for linear steps; with soft
            bounds the order of interleaved pulses is approximated to second order).

    Returns:
        the :class:`SparseWrite` of the pulsed cells (empty when none).
    """
    hw = layout.hw
    tot = pot if dep is None else pot + dep
    sel = torch.nonzero(tot.view(-1)).squeeze(1)
    k = sel.numel()
    if k == 0:
        return SparseWrite()
    take = torch.index_select
    r, gmin = dev.g_range(hw), hw.device.g_min
    g_old = take(G.view(-1), 0, sel)
    gk = None if gain is None else take(gain.view(-1), 0, sel)
    noisy = dev.needs_pulse_noise(hw)
    nk = take(pot.view(-1), 0, sel)
    g = dev.apply_pulses((g_old - gmin) / r, nk, hw, depress=None, gain=gk,
                         noise=rng.normal(k) if noisy else None)
    dk = None
    if dep is not None:
        dk = take(dep.view(-1), 0, sel)
        g = dev.apply_pulses(g, dk, hw, depress=torch.ones(k, dtype=torch.bool,
                                                           device=g.device),
                             gain=gk, noise=rng.normal(k) if noisy else None)
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
                       d_diff=delta * sign, d_sum=delta, pulses=take(tot.view(-1), 0, sel),
                       dep=dk)


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
