r"""Scheme ``stochastic`` of the outer-product update: parallel coincidences of stochastic
pulse trains (Gokmen & Vlasov, "Acceleration of deep neural network training with resistive
cross-point devices", Front. Neurosci. 10:333, 2016; aihwkit's ``STOCHASTIC_COMPRESSED``
pulses with update and bit-length management). Pure functions; see :mod:`snnx.hw.update`
for the policies and for :func:`~snnx.hw.update.apply_counts`, which sends the counts
through the device model.

Every row of the update batch (T*B rows for a spiking network) is one cycle of pulse
slots; in each slot row i fires with probability p_i and column j with q_j, and a cell moves
one device step per coincidence. No digital outer product: the periphery only finds each
vector's max and scales every line to a probability. :func:`stochastic_counts` states the
probabilities and the exact distribution sampled.
"""

from __future__ import annotations

import dataclasses

import torch

from snnx.hw import device as dev
from snnx.hw.layout import Layout
from snnx.hw.update import Counts, physical_order


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


#: enumerate coincidences pair by pair when fewer than this share of the (slots x cells)
#: products are hits; else count them with a matmul
SPARSE_SHARE = 1.0 / 16


def _draw(rng, p: torch.Tensor, q: torch.Tensor, bl: torch.Tensor, up: torch.Tensor,
          sets: torch.Tensor, n_sets: int, stats: StochasticStats, keep: tuple | None
          ) -> tuple[list | None, torch.Tensor | None]:
    """Fire patterns of every slot of every phase set, coincidences split by direction.

    Args:
        p: (P, in) row probabilities per pseudo-cycle. q: (P, n_cols) column probabilities.
        bl: (P,) slots per pseudo-cycle. up: (P, n_cols) 1 where a coincidence in that
            column raises W. sets: (P,) phase set of each pseudo-cycle (0: potentiation,
            a rise of W reaches G+; 1: depression, a rise of W reaches G-), set 0 first.
        n_sets: 1 or 2. keep: (batch row, sign) of each pseudo-cycle, to store the
            patterns in ``stats.draws``, or None.

    Returns:
        (dense, None): per phase set, (2, in, n_cols) coincidence counts from a matmul over
        its slots; or (None, listed): one flat index ``set * 2 * cells + side * cells +
        row * n_cols + col`` per coincidence (repeated for a cell hit several times) when
        they are sparse. Both give exactly ``n_ij = sum_t R_ti C_tj``.
    """
    n1, hi = torch.stack([bl.min(), bl.max()]).tolist()
    if n1 == hi:  # common case (bl management, small changes): no gathers
        slot = None if n1 == 1 else torch.arange(p.shape[0], device=p.device).repeat_interleave(n1)
    else:
        slot = torch.repeat_interleave(torch.arange(p.shape[0], device=p.device), bl)

    def per_slot(t: torch.Tensor) -> torch.Tensor:
        return t if slot is None else t.index_select(0, slot)

    L = p.shape[0] if slot is None else int(slot.numel())
    k, m = p.shape[1], q.shape[1]
    u = rng.uniform(L, k + m)  # one request: rows and columns never share numbers
    R = (u[:, :k] < per_slot(p)).to(p.dtype)
    C = (u[:, k:] < per_slot(q)).to(p.dtype)
    r_t, c_t = R.sum(1), C.sum(1)  # fires per slot: coincidences = sum_t r_t c_t
    hits, rows, cols = torch.stack([r_t @ c_t, r_t.sum(), c_t.sum()]).tolist()
    stats.slots += L
    stats.phases += p.shape[0]
    stats.row_pulses += rows
    stats.col_pulses += cols
    stats.coincidences += hits
    S = per_slot(sets)
    if keep is not None:
        stats.draws = [(R, C, per_slot(keep[0]), per_slot(keep[1]), S)]
    cells = k * m
    U = per_slot(up)
    if hits >= SPARSE_SHARE * L * cells:  # dense: two matmuls over the slots of each set
        half = L // n_sets  # the sets have the same slots
        out = []
        for st in range(n_sets):
            rs = slice(st * half, (st + 1) * half)
            Cs, Cu = C[rs], C[rs] * U[rs]
            buf = torch.empty(2, k, m, dtype=p.dtype, device=p.device)
            torch.mm(R[rs].t(), Cu, out=buf[st])
            torch.mm(R[rs].t(), Cs - Cu, out=buf[1 - st])
            out.append(buf)
        return out, None
    # sparse: list every (slot, row) fire against every (slot, column) fire of its slot
    t_r, i = torch.nonzero(R, as_tuple=True)
    t_c, j = torch.nonzero(C, as_tuple=True)  # column fires, grouped by slot
    # each column fire's offset: its phase set, the side its direction reaches, its column
    st = S.index_select(0, t_c)
    side = torch.where(U[t_c, j] > 0, st, 1 - st)
    code = (2 * st + side) * cells + j
    c_cnt = c_t.long()
    reps = c_cnt.index_select(0, t_r)  # a row fire pairs with every column fire of its slot
    total = int(reps.sum())
    first = torch.cumsum(reps, 0) - reps  # where each row fire's pairs start in the list
    col0 = (torch.cumsum(c_cnt, 0) - c_cnt).index_select(0, t_r)  # its slot's columns
    off = torch.repeat_interleave(col0 - first, reps) + torch.arange(total, device=p.device)
    return None, torch.repeat_interleave(i * m, reps) + code.index_select(0, off)


def _aggregate(dense: list | None, listed: torch.Tensor | None, n_sets: int, size: int,
               dtype: torch.dtype) -> Counts:
    """Counts (distinct cells) from :func:`_draw`'s result; size = 2 * in * n_cols."""
    if dense is not None:
        return Counts.from_dense(dense[0], dense[1] if n_sets > 1 else None)
    lin = listed.remainder(size) if n_sets > 1 else listed
    # one entry per distinct cell, the first occurrence (deterministic, O(entries))
    pos = torch.arange(lin.numel(), dtype=torch.int32, device=lin.device)
    seen = torch.full((size,), lin.numel(), dtype=torch.int32, device=lin.device)
    seen.scatter_reduce_(0, lin, pos, reduce="amin")
    uniq = lin[seen.index_select(0, lin) == pos]
    buf = torch.zeros(n_sets, size, dtype=dtype, device=lin.device)
    buf.view(-1).index_add_(0, listed, torch.ones(listed.numel(), dtype=dtype,
                                                  device=lin.device))
    out = buf.index_select(1, uniq)
    return Counts(uniq, out[0], out[1] if n_sets > 1 else None)


def stochastic_counts(layout: Layout, rng, x: torch.Tensor, d: torch.Tensor, lr: float, *,
                      keep_patterns: bool = False) -> tuple[Counts, StochasticStats]:
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
        (counts, stats): the :class:`Counts` (no depression for the split policy;
        bidirectional: an independent phase set of each) and the :class:`StochasticStats`.
    """
    hw = layout.hw
    u = hw.device.update
    x, d = physical_order(layout, x, d)
    stats = StochasticStats()
    bidir = u.policy == "bidirectional"
    dw = layout.w_max * dev.step_fraction(hw)
    mx, md = x.abs().amax(1), d.abs().amax(1)
    nu = (lr * (0.5 if bidir else 1.0) / dw) * mx * md
    bl = nu.ceil().clamp_(1, u.bl) if u.bl_management else torch.full_like(nu, u.bl)
    amp = (nu / bl).sqrt_()
    neg = x < 0
    n_live, n_clip, any_neg = torch.stack([(nu > 0).sum(), (amp > 1).sum(),
                                           neg.any()]).tolist()  # one sync
    live = torch.arange(nu.numel(), device=x.device)
    if n_live == 0:
        e = torch.zeros(0, dtype=torch.long, device=x.device)
        return Counts(e, torch.zeros(0, dtype=x.dtype, device=x.device)), stats
    if n_live < nu.numel():  # cycles with nothing to write take no slots
        live = torch.nonzero(nu > 0).squeeze(1)
        x, d, mx, md, bl, amp, neg = (t[live] for t in (x, d, mx, md, bl, amp, neg))
    stats.cycles, stats.clipped = int(n_live), int(n_clip)
    p = (x.abs() * (amp / mx).unsqueeze(1)).clamp_(max=1.0)
    q = (d.abs() * (amp / md).unsqueeze(1)).clamp_(max=1.0)
    # one pseudo-cycle per sign of x present: rows of that sign fire with that polarity
    if any_neg:
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
    sets = torch.zeros(P.shape[0], dtype=torch.long, device=x.device)
    n_sets = 1
    if bidir:  # an independent phase set of depression pulses: raise W by depressing G-
        n_sets = 2
        P, Q, BL, up = torch.cat([P, P]), torch.cat([Q, Q]), torch.cat([BL, BL]), \
            torch.cat([up, up])
        sets = torch.cat([sets, torch.ones_like(sets)])
        kp = None if kp is None else (torch.cat([kp[0], kp[0]]), torch.cat([kp[1], kp[1]]))
    dense, listed = _draw(rng, P, Q, BL, up, sets, n_sets, stats, kp)
    return _aggregate(dense, listed, n_sets, 2 * x.shape[1] * d.shape[1], x.dtype), stats
