r"""Exact wire-resistance solve of one array, kept up to date through cell changes.

:class:`ExactArraySolve` holds what one exact solve of :mod:`snnx.hw.parasitics` leaves
behind (the block LU factors of its row sweep) and updates G_eff after a few cells change:
exactly, by a low-rank (Woodbury) correction of the nodal solution on the changed cells, or
to first order with the exact Jacobian at the last full solve. Circuit and notation: the
module docstring of :mod:`snnx.hw.parasitics` (DESIGN.md contract 2).

Cost at 256 x 256 (see the class docstring and ``bench/parasitics.py --incremental``): an
exact update needs one port solve (~3 M N^2 flops) per cell new since the last full solve,
so it is cheaper than a full re-solve only below ~N such cells. The engine benchmark's
``outer_update`` of a rram_generic tile (batch 64, lr 1e-3) changes ~2.5 % of the cells
(~1600 per 256 x 256 array), beyond that point; at lr 1e-5 ~16 (``bench/engine.py --wires``,
docs/parasitics.md). The Tile uses this class through ``hw.parasitics.incremental``
(:mod:`snnx.hw.wires`).
"""

from __future__ import annotations

import torch

from snnx.errors import ConfigError, ShapeError
from snnx.hw.parasitics import _check_G, _check_r, _out_dtype, _sweep, _work

__all__ = ["ExactArraySolve"]


class ExactArraySolve:
    r"""Exact G_eff of one array, kept exact through changes of a few cells (low-rank update).

    What one solve leaves behind. The sweep of :func:`effective_conductance` is a block LU
    of the column-node system :math:`K w = F V` (block i: row i's column nodes; diagonal
    :math:`\Sigma_i = g_c (I + r_{col} S_i)`, off-diagonal :math:`-g_c I`). This object keeps
    the LU factors of every :math:`I + r_{col} S_i` and the row factors (p, q): M N^2 + 3 M N
    float64 numbers, 134 MB at 256 x 256 and 1.07 GB at 512 x 512 (min(M, N) is the block
    width). With them, the response of the whole circuit to a unit current injected into
    one cell's port (into its row node, out of its column node) costs one forward and one
    backward block substitution, ~3 M N^2 flops per port (the forward pass starts at the
    port's row), batched over ports.

    Update (Woodbury on the nodal matrix Y). Changing the cells of a set S by
    :math:`D = \mathrm{diag}(G - G_a)` (G_a: conductances of the last full solve, the
    anchor) changes Y by :math:`A D A^\top`, with A the cells' port vectors. With
    :math:`X_p = A^\top Y_a^{-1} B` (|S| x M: each cell's voltage per unit row-source voltage),
    :math:`Z_p = A^\top Y_a^{-1} C` (|S| x N: its voltage per unit current out of each
    column's sense node, by reciprocity the same port solves) and the port transfer matrix
    :math:`T = A^\top Y_a^{-1} A` (|S| x |S|),

    .. math:: G_\mathrm{eff} = G_\mathrm{eff}(G_a) - X_p^\top D (I + T D)^{-1} Z_p,

    exact in exact arithmetic (the circuit stays a linear nodal system). S accumulates
    since the anchor, so only cells new to S need port solves; cells already in S that
    change again cost only the |S| x |S| solve. No round-off accumulates from update to
    update (every result is computed from the anchor). T is what makes this costly: it needs
    a port solve per changed cell, so the update beats a full re-solve (~(8/3) M N^3 +
    M^2 N^2 flops) only while the number of new cells is well below N; beyond that, or when
    |S| exceeds ``max_rank``, :meth:`update` re-solves fully and starts a new anchor.

    Args:
        G: (M, N) conductances in S (finite, >= 0); copied.
        r_row: wordline segment resistance, ohm (> 0).
        r_col: bitline segment resistance, ohm (> 0).
        max_rank: most cells changed since the anchor before a full re-solve
            (default: min(M, N)).
        auto_full: also re-solve fully when the flop estimate of an update exceeds that
            of a full solve (False: always incremental up to ``max_rank``).
        jacobian: also keep every cell's port voltages for unit row sources and for unit
            output currents (the exact Jacobian of G_eff at the anchor), for
            ``update(..., exact=False)``: one more full solve's work per anchor and M N (M + N)
            float32 numbers (134 MB at 256 x 256).

    Linearised updates. ``update(..., exact=False)`` returns the exact first-order
    expansion around the anchor, :math:`G_\mathrm{eff}(G_a) - \sum_c (G_c - G_{a,c})
    x_c^\top z_c` (x_c, z_c: cell c's rows of the kept Jacobian fields), kept up to date in
    O(k M N) per update of k cells. Its error is second order in the change since the
    anchor (about :math:`\lVert T D \rVert` times the change); call :meth:`resolve` to
    re-anchor. Mixing both kinds of update is allowed: an exact update accounts for every
    cell changed since the anchor.

    Attributes:
        geff: (M, N) current G_eff in S, dtype of G.
        full_solves: full solves so far (1 after construction).
        last_mode: ``"full"`` or ``"incremental"``: how the last result was obtained.
    """

    def __init__(self, G: torch.Tensor, r_row: float, r_col: float, *,
                 max_rank: int | None = None, auto_full: bool = True,
                 jacobian: bool = False) -> None:
        r_row, r_col = _check_r(r_row, r_col, "exact")
        g = _work(_check_G(G))
        self.shape = tuple(G.shape)
        self.dtype, self.device = _out_dtype(G), G.device
        M, N = self.shape
        self._rot = N > M                  # work on the reciprocal circuit: blocks min(M, N)
        self._r = (r_col, r_row) if self._rot else (r_row, r_col)
        self.max_rank = min(M, N) if max_rank is None else int(max_rank)
        self.auto_full = auto_full
        self.jacobian = jacobian
        self.full_solves = 0
        self._G = self._orient(g).clone(memory_format=torch.contiguous_format)  # own copy
        self._full()

    # -- orientation (the reciprocal circuit of _exact is an involution)
    def _orient(self, g: torch.Tensor) -> torch.Tensor:
        return torch.flip(g.T, (0, 1)) if self._rot else g

    def _index(self, flat: torch.Tensor) -> torch.Tensor:
        if not self._rot:
            return flat
        M, N = self.shape
        return (N - 1 - flat % N) * M + (M - 1 - flat // N)

    def _publish(self, geff_work: torch.Tensor) -> torch.Tensor:
        self.geff = self._orient(geff_work).contiguous().to(self.device, self.dtype)
        return self.geff

    def _full(self) -> torch.Tensor:
        r_row, r_col = self._r
        e0, self._lu, self._piv, p, q, ys = _sweep(self._G, r_row, r_col, keep=True,
                                                  keep_y=self.jacobian)
        self._E0, self._Ga = e0, self._G.clone()
        self._q, self._t, self._a = q, p / q, self._G * q
        Mw, Nw = self._G.shape
        self._S = torch.zeros(0, dtype=torch.int64, device=self._G.device)
        self._in_S = torch.zeros(Mw * Nw, dtype=torch.bool, device=self._G.device)
        self._dirty = torch.zeros(Mw * Nw, dtype=torch.bool, device=self._G.device)
        self._Xp, self._Zp = self._G.new_zeros(0, Mw), self._G.new_zeros(0, Nw)
        self._T = self._G.new_zeros(0, 0)
        if self.jacobian:
            self._fields(ys)
            self._lin = e0.clone()
        self.full_solves += 1
        self.last_mode = "full"
        return self._publish(e0)

    def resolve(self) -> torch.Tensor:
        """Full exact solve of the present conductances (a new anchor); returns G_eff."""
        return self._full()

    def restore(self, G: torch.Tensor, geff: torch.Tensor) -> torch.Tensor:
        """Continue a linearised run from a saved point: this object was built on the run's
        anchor (its last full solve); ``G`` (M, N) are the conductances the run has now and
        ``geff`` (M, N) the linearised G_eff it had reached with them. Later
        ``update(..., exact=False)`` calls then give what the uninterrupted run gives (the
        linear state is taken over, not recomputed in another summation order). Needs
        ``jacobian=True``; returns G_eff."""
        if not self.jacobian:
            raise ConfigError("restore: needs ExactArraySolve(..., jacobian=True)")
        if tuple(G.shape) != self.shape or tuple(geff.shape) != self.shape:
            raise ShapeError(f"G, geff: expected shape {self.shape}, got {tuple(G.shape)} "
                             f"and {tuple(geff.shape)}")
        g = self._orient(_work(_check_G(G)).to(self._G.device))
        self._dirty = (g != self._Ga).view(-1)
        self._G.copy_(g)
        self._lin = self._orient(_work(geff).to(self._G.device)).clone()
        return self._publish(self._lin)

    def _fields(self, ys: list) -> None:
        """Every cell's port voltage for unit row-source voltages (Xc, (M N, M)) and for
        unit currents out of the column outputs (Zc, (M N, N)): block back-substitutions of
        the sources' forward sweep ``ys`` and of g_c I at the last row, then the row nodes."""
        r_row, r_col = self._r
        G, q, t = self._Ga, self._q, self._t
        M, N = G.shape
        Xc = torch.empty(M, N, M, dtype=torch.float32, device=G.device)
        Zc = torch.empty(M, N, N, dtype=torch.float32, device=G.device)
        wx = G.new_zeros(N, M)
        wz = torch.eye(N, dtype=G.dtype, device=G.device)   # r_col x (g_c I), then U^-1
        for i in range(M - 1, -1, -1):
            rhs = wx.clone()
            rhs[:, : i + 1] += r_col * ys[i]
            wx = torch.linalg.lu_solve(self._lu[i], self._piv[i], rhs)
            wz = torch.linalg.lu_solve(self._lu[i], self._piv[i], wz)
            linv = r_row * q[i][:, None] * q[i][None, :] * torch.minimum(t[i][:, None],
                                                                         t[i][None, :])
            ux = linv @ (G[i][:, None] * wx)
            ux[:, i] += q[i]                                # the row's own source: g_r L^-1 e_0
            Xc[i] = ux - wx
            Zc[i] = linv @ (G[i][:, None] * wz) - wz
        self._Xc, self._Zc = Xc.view(M * N, M), Zc.view(M * N, N)

    def update(self, flat_idx: torch.Tensor, new_G: torch.Tensor, *,
               exact: bool = True) -> torch.Tensor:
        """Set the cells ``flat_idx`` (row-major indices into (M, N), unique) to ``new_G``
        (S) and return G_eff (M, N) (also kept in :attr:`geff`): exact, or with
        ``exact=False`` (needs ``jacobian=True``) the first-order expansion around the
        anchor."""
        idx = torch.as_tensor(flat_idx, device=self._G.device).reshape(-1).long()
        val = _work(torch.as_tensor(new_G)).to(self._G.device).reshape(-1)
        if idx.numel() != val.numel():
            raise ShapeError(f"new_G: expected {idx.numel()} values (one per index), got "
                             f"{val.numel()}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self._G.numel()):
            raise ShapeError(f"flat_idx: indices must lie in [0, {self._G.numel()})")
        if not bool(torch.isfinite(val).all()) or bool((val < 0).any()):
            raise ShapeError("new_G: conductances must be finite and >= 0 S")
        if not exact and not self.jacobian:
            raise ConfigError("exact: False needs ExactArraySolve(..., jacobian=True)")
        idx = self._index(idx)
        Gf = self._G.view(-1)
        if self.jacobian:  # the linear expansion follows every change
            dG = (val - Gf[idx]).to(torch.float32)
            self._lin -= self._Xc[idx].T @ (dG[:, None] * self._Zc[idx])
        Gf[idx] = val
        self._dirty[idx] = True
        if not exact:
            self.last_mode = "linear"
            return self._publish(self._lin)
        new = torch.nonzero(self._dirty & ~self._in_S).squeeze(1)
        Mw, Nw = self._G.shape
        k, s = new.numel(), self._S.numel() + new.numel()
        port = 3 * Mw * Nw * Nw * k + s ** 3 / 3 + 2 * s * s * (Mw + Nw)   # flops, measured
        if s > self.max_rank or (self.auto_full and port > (8 / 3) * Mw * Nw ** 3
                                 + (Mw * Nw) ** 2):
            return self._full()
        if k:
            xp, zp, obs = self._port_solve(new, torch.cat([self._S, new]))
            s0 = self._S.numel()
            T = self._G.new_empty(s, s)
            T[:s0, :s0] = self._T
            T[:, s0:] = obs
            T[s0:, :s0] = obs[:s0].T               # reciprocity: T is symmetric
            self._T, self._S = T, torch.cat([self._S, new])
            self._Xp, self._Zp = torch.cat([self._Xp, xp]), torch.cat([self._Zp, zp])
            self._in_S[new] = True
        D = Gf[self._S] - self._Ga.view(-1)[self._S]
        eye = torch.eye(s, dtype=D.dtype, device=D.device)
        H = torch.linalg.solve(eye + self._T * D[None, :], self._Zp)        # (|S|, N)
        self.last_mode = "incremental"
        return self._publish(self._E0 - self._Xp.T @ (D[:, None] * H))

    def _port_solve(self, src: torch.Tensor, obs: torch.Tensor):
        """Unit port injections at the cells ``src`` against the anchor: (X_p (k, M),
        Z_p (k, N), port voltages at the cells ``obs`` (n_obs, k))."""
        r_row, r_col = self._r
        G, q, t, a = self._Ga, self._q, self._t, self._a
        M, N = G.shape
        perm = torch.argsort(src // N, stable=True)        # by row: the forward pass grows
        src, order = src[perm], torch.argsort(perm)        # order: back to the caller's order
        ri, ci = src // N, src % N
        k = src.numel()
        cols = torch.arange(k, device=G.device)
        # reduced right-hand sides: row i of the port's cell gets G_i (L_i^-1 e_j) - e_j
        tj = t[ri, ci][:, None]
        F = r_row * a[ri] * q[ri, ci][:, None] * torch.minimum(t[ri], tj)
        F[cols, ci] -= 1.0
        first = torch.searchsorted(ri, torch.arange(M + 1, device=G.device)).tolist()
        # right-hand sides are kept transposed, (k, N) row-major = (N, k) column-major, the
        # layout LAPACK solves in place of (a row-major one costs a copy of LU per call)
        ys = []
        yT = G.new_zeros(k, N)
        for i in range(M):                                  # forward: y_i = f_i + L y_{i-1}
            act = first[i]
            if act:
                yT[:act] = torch.linalg.lu_solve(self._lu[i - 1], self._piv[i - 1],
                                                 yT[:act].T).T
            yT[first[i]:first[i + 1]] += F[first[i]:first[i + 1]]
            ys.append(yT[:first[i + 1]].clone())
        operm = torch.argsort(obs // N, stable=True)       # observed ports grouped by row
        ocol = obs[operm] % N
        ofirst = torch.searchsorted(obs[operm] // N, torch.arange(M + 1, device=G.device))
        ofirst = ofirst.tolist()
        V = G.new_empty(obs.numel(), k)
        Xp = G.new_empty(k, M)
        wT = None
        for i in range(M - 1, -1, -1):                      # backward: w_i = U^-1 (...)
            rhs = G.new_zeros(k, N) if wT is None else wT.clone()
            rhs[:ys[i].shape[0]] += r_col * ys[i]
            wT = torch.linalg.lu_solve(self._lu[i], self._piv[i], rhs.T).T   # (k, N)
            w = wT.T
            if i == M - 1:
                Zp = wT / r_col
            Y = G[i][:, None] * w                           # G_i w_i + J_i (J: the port)
            sl = slice(first[i], first[i + 1])
            Y[ci[sl], cols[sl]] += 1.0
            Xp[:, i] = q[i] @ Y
            o0, o1 = ofirst[i], ofirst[i + 1]
            if o1 > o0:
                jo = ocol[o0:o1]
                Lsub = (r_row * q[i, jo][:, None] * q[i][None, :]
                        * torch.minimum(t[i, jo][:, None], t[i][None, :]))
                V[o0:o1] = Lsub @ Y - w[jo]
        return Xp[order], Zp[order], V[torch.argsort(operm)][:, order]
