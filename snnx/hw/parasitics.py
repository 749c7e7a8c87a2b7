r"""Wire resistance (IR drop) of a crossbar read: models ``none``, ``first_order``, ``exact``.

Circuit (DESIGN.md contract 2). An M x N array has a row node :math:`u_{ij}` and a column node
:math:`w_{ij}` at every cell. Row (wordline) i is driven at its left end by an ideal source
:math:`V_i` through one segment of conductance :math:`g_r = 1/r_{row}`; neighbouring row nodes are
one segment apart and the right end is open. Column (bitline) j runs from row 0 (open end) to
row M-1 and, after one more segment :math:`g_c = 1/r_{col}`, ends in the virtual ground (0 V) of
its sense amplifier. Cell (i, j) joins :math:`u_{ij}` to :math:`w_{ij}` with conductance
:math:`G_{ij}`. Kirchhoff's current law, with :math:`u_{i,-1} = V_i`, :math:`u_{i,N} = u_{i,N-1}`,
:math:`w_{-1,j} = w_{0,j}` and :math:`w_{M,j} = 0`:

.. math::

    g_r(u_{i,j-1} - 2u_{ij} + u_{i,j+1}) + G_{ij}(w_{ij} - u_{ij}) = 0, \qquad
    g_c(w_{i-1,j} - 2w_{ij} + w_{i+1,j}) + G_{ij}(u_{ij} - w_{ij}) = 0,

and the output is :math:`I_j = g_c\,w_{M-1,j}`. With linear cells the read is a linear map,
:math:`I = V G_\mathrm{eff}`, so :func:`effective_conductance` is solved once per programming
and every read is one matmul. Rows with :math:`V_i = 0` are driven to 0 V (they still load
the bitlines).

Models:
    ``none``: :math:`G_\mathrm{eff} = G`.

    ``first_order`` (METHODS.md section 1): one correction step from the ideal cell currents,
    :math:`G_\mathrm{eff} = G \odot (1 - r_{row} A - r_{col} C)` with
    :math:`A_{ij} = \sum_{j'} G_{ij'}(\min(j, j') + 1)` and
    :math:`C_{ij} = \sum_{i'} G_{i'j}(M - \max(i, i'))`, by cumulative sums in O(MN). One
    isolated cell gives :math:`G(1 - G D_{ij}) \approx G / (1 + G D_{ij})` with
    :math:`D_{ij} = r_{row}(j + 1) + r_{col}(M - i)`.
    Measured error against ``exact`` (``bench/parasitics.py``: random 50 %-dense binary G,
    100/2 uS, 256 inputs V ~ 0.2 V * U[0, 1], r_row = r_col): mean relative column-current
    error 0.99 % at NF 8.6 % (32 x 32, 2.5 ohm), 2.3 % at NF 12.6 % (64 x 64, 1 ohm),
    14.3 % at NF 26.1 % (64 x 64, 2.5 ohm) -- METHODS.md's figures -- and 8.8 % at NF 21.7 %
    (128 x 128, 0.5 ohm). Every G_eff entry measured was below the exact one (it
    overestimates the drop), and the error grows faster than NF squared: at 128 x 128 and
    2 ohm (NF 51 %) it is worse than ignoring the wires. Use ``exact`` beyond NF ~ 10 %.

    ``exact``: the full nodal solution, to float64 round-off (max error
    2e-13 of max |G_eff| against scipy's sparse LU at 128 x 128).

Exact method. Each row's wire is a tridiagonal chain :math:`L_i = g_r T + \mathrm{diag}(G_i)`,
whose inverse is semi-separable, :math:`(L_i^{-1})_{jk} = r_{row}\,p_{\min(j,k)}\,q_{\max(j,k)}`,
with p, q from two positive, cancellation-free recurrences over the N cells (vectorised over
all rows). Eliminating the row nodes turns row i into a dense N x N admittance block seen
from its column nodes, :math:`R_i = \mathrm{diag}(G_i) - \mathrm{diag}(G_i) L_i^{-1}
\mathrm{diag}(G_i)`, plus a Norton source :math:`a_i V_i` with :math:`a_{ij} = G_{ij} q_j`.
A sweep down the rows keeps the Norton equivalent :math:`(S, A)` of everything above: the
current leaving it downwards is :math:`A V - S w`. Adding row i and then one column segment
is

.. math::

    S \leftarrow S + R_i, \quad A \leftarrow [A \mid a_i], \qquad
    [S \mid A] \leftarrow (I + r_{col} S)^{-1}\,[S \mid A],

one dense LU solve per row (no subtraction of nearly equal terms). After the last row the
segment ends in virtual ground, so :math:`G_\mathrm{eff}^\top = A`. Cost
:math:`O(M N^3 + M^2 N^2)`. When N > M the same sweep runs on the reciprocal circuit
(sources and sense amplifiers swap roles: G transposed and rotated by 180 degrees, r_row and
r_col swapped), so the dense blocks are min(M, N) wide. On two cores (Xeon, AVX-512, MKL)
256 x 256 takes 0.24 s and 512 x 512 about 3 s, both LAPACK-bound.

Incremental exact. ``ExactArraySolve`` (:mod:`snnx.hw.parasitics_exact`, also reachable
here) keeps what one exact solve leaves behind (the block LU factors of the sweep) and
updates G_eff exactly after a few cells change, by a low-rank (Woodbury) correction on the
changed cells; it re-solves fully when that is cheaper, which at 256 x 256 is the case
from ~N new cells on. Optionally it also keeps the exact Jacobian for cheap first-order
updates.

Limitations: linear (ohmic) cells only; wire segments are uniform; the row recurrences
overflow float64 only for absurd wires, sqrt(r_row * max G) * N > ~700.

Example:
    >>> import torch
    >>> from snnx.hw import parasitics as pr
    >>> G = torch.full((4, 3), 50e-6)
    >>> V = torch.tensor([[0.2, 0.0, 0.2, 0.1]])
    >>> I = pr.column_currents(G, V, r_row=2.5, r_col=2.5)        # (1, 3) in A
    >>> bool((I < V @ G).all())
    True
"""

from __future__ import annotations

import math

import torch

from snnx.errors import ConfigError, ShapeError

__all__ = ["MODELS", "column_currents", "effective_conductance", "nonideality_factor"]


def __getattr__(name: str):
    # ExactArraySolve lives in its own module (it builds on the sweep below); import lazily
    if name == "ExactArraySolve":
        from snnx.hw.parasitics_exact import ExactArraySolve
        return ExactArraySolve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

MODELS = ("none", "first_order", "exact")
"""Names accepted by the ``model`` argument."""


# ------------------------------------------------------------------------------ validation

def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ConfigError(f"model: {model!r} is not one of {', '.join(MODELS)}")


def _check_r(r_row: float, r_col: float, model: str) -> tuple[float, float]:
    out = []
    for name, r in (("r_row", r_row), ("r_col", r_col)):
        try:
            r = float(r)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: must be a number in ohm (got {r!r})") from None
        if not math.isfinite(r) or r < 0:
            raise ConfigError(f"{name}: must be finite and >= 0 ohm (got {r:g})")
        if r == 0 and model != "none":
            raise ConfigError(f"{name}: must be > 0 ohm with model {model!r} "
                              f"(got 0; r = 0 means model 'none')")
        out.append(r)
    return out[0], out[1]


def _check_G(G: torch.Tensor) -> torch.Tensor:
    if not isinstance(G, torch.Tensor):
        raise ShapeError(f"G: must be a torch.Tensor, got {type(G).__name__}")
    if G.dim() != 2 or G.shape[0] == 0 or G.shape[1] == 0:
        raise ShapeError(f"G: must be a non-empty (M, N) matrix, got shape {tuple(G.shape)}")
    if G.is_complex():
        raise ShapeError(f"G: must be real, got dtype {G.dtype}")
    if not bool(torch.isfinite(G).all()):
        raise ShapeError("G: contains NaN or inf")
    if bool((G < 0).any()):
        raise ShapeError(f"G: conductances must be >= 0 S (min {float(G.min()):g})")
    return G


def _check_V(V: torch.Tensor, M: int) -> torch.Tensor:
    if not isinstance(V, torch.Tensor):
        raise ShapeError(f"V: must be a torch.Tensor, got {type(V).__name__}")
    if V.dim() not in (1, 2) or V.shape[-1] != M or V.is_complex():
        raise ShapeError(f"V: must be real with shape (B, {M}) or ({M},) to match G with "
                         f"{M} rows, got shape {tuple(V.shape)}")
    if not bool(torch.isfinite(V).all()):
        raise ShapeError("V: contains NaN or inf")
    return V


def _work(t: torch.Tensor) -> torch.Tensor:
    """``t`` as float64 on a device that has float64 (MPS has none: use the CPU)."""
    dev = t.device if t.device.type != "mps" else torch.device("cpu")
    return t.to(device=dev, dtype=torch.float64)


def _out_dtype(*ts: torch.Tensor) -> torch.dtype:
    dt = ts[0].dtype
    for t in ts[1:]:
        dt = torch.promote_types(dt, t.dtype)
    return dt if dt.is_floating_point else torch.get_default_dtype()


# ------------------------------------------------------------------------------ first order

def _first_order(G: torch.Tensor, r_row: float, r_col: float) -> torch.Tensor:
    """METHODS.md section 1 closed form; G float64 (M, N) -> G_eff (M, N)."""
    M, N = G.shape
    jp1 = torch.arange(1, N + 1, dtype=G.dtype, device=G.device)        # j + 1
    mmi = torch.arange(M, 0, -1, dtype=G.dtype, device=G.device)[:, None]  # M - i
    # A_ij = sum_{j'<=j} G_ij' (j'+1) + (j+1) sum_{j'>j} G_ij'
    right = torch.flip(torch.cumsum(torch.flip(G, (1,)), 1), (1,)) - G   # sum over j' > j
    A = torch.cumsum(G * jp1, 1) + jp1 * right
    # C_ij = sum_{i'>=i} G_i'j (M-i') + (M-i) sum_{i'<i} G_i'j
    below = torch.flip(torch.cumsum(torch.flip(G * mmi, (0,)), 0), (0,))
    above = torch.cumsum(G, 0) - G                                        # sum over i' < i
    C = below + mmi * above
    return G * (1.0 - r_row * A - r_col * C)


# ------------------------------------------------------------------------------------ exact

def _row_green(G: torch.Tensor, r_row: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Semi-separable factors of every row wire's inverse.

    For row i, :math:`L = g_r T + \mathrm{diag}(G_i)` (T: 2 on the diagonal, 1 in the last
    entry, -1 beside it) has :math:`(L^{-1})_{jk} = r_{row}\,p_{\min(j,k)}\,q_{\max(j,k)}`,
    where p solves the homogeneous chain from the driven end (:math:`p_0 = 1`) and q from the
    open end (:math:`q_{N-1} = 1`, then scaled so that :math:`q_{-1} = 1`). With
    :math:`\rho = r_{row} G` both recurrences only add positive terms:
    :math:`p_{j+1} = p_j + d_j,\; d_j = d_{j-1} + \rho_j p_j,\; d_{-1} = 1` and
    :math:`q_{j-1} = q_j + e_j,\; e_j = e_{j+1} + \rho_j q_j,\; e_N = 0`.

    Returns:
        p, q: (M, N) float64.
    """
    rho = (r_row * G).T.contiguous()                   # (N, M): loop over cells, rows vectorised
    N = rho.shape[0]
    p = torch.empty_like(rho)
    q = torch.empty_like(rho)
    p[0] = 1.0
    d = 1.0 + rho[0]
    for j in range(1, N):
        p[j] = p[j - 1] + d
        d = d + rho[j] * p[j]
    q[N - 1] = 1.0
    e = rho[N - 1].clone()
    for j in range(N - 2, -1, -1):
        q[j] = q[j + 1] + e
        e = e + rho[j] * q[j]
    q_m1 = q[0] + e                                    # q_{-1}; divides the Wronskian out
    return p.T, (q / q_m1).T


def _sweep(G: torch.Tensor, r_row: float, r_col: float, keep: bool = False,
           keep_y: bool = False):
    """Exact G_eff (M, N) by the Norton sweep over rows; dense blocks are N x N.

    With ``keep`` also returns lists of the LU factors (column-major, as LAPACK wants them)
    and pivots of every row's :math:`I + r_{col} S_i` and the row factors p, q (for
    :class:`ExactArraySolve`), and with ``keep_y`` a list of every row's A before its solve
    (N, i + 1): the block forward substitution of the row sources."""
    M, N = G.shape
    p, q = _row_green(G, r_row)
    # R_i = diag(G_i) - r_row (G_i q_i)_j (G_i q_i)_k min(t_j, t_k), t = p / q increasing,
    # because p_min(j,k) q_max(j,k) = q_j q_k min(t_j, t_k).
    t = p / q
    a = G * q                                          # Norton source vectors a_i, (M, N)
    x = r_row * a
    eye = torch.eye(N, dtype=G.dtype, device=G.device)
    SA = torch.zeros(N, N + M, dtype=G.dtype, device=G.device)   # [S | A]; A grows by a column
    S = SA[:, :N]
    lus, pivs, ys = [], [], []
    for i in range(M):
        S.addcmul_(torch.outer(x[i], a[i]), torch.minimum(t[i][:, None], t[i][None, :]),
                   value=-1.0)
        S.diagonal().add_(G[i])                        # S += R_i
        SA[:, N + i] = a[i]                            # A <- [A | a_i]
        lo = 0 if i < M - 1 else N                     # the last segment ends in ground: A only
        if keep_y:
            ys.append(SA[:, N : N + i + 1].clone())
        if keep:
            lu, piv = torch.linalg.lu_factor(torch.add(eye, S, alpha=r_col))
            lus.append(lu)
            pivs.append(piv)
            SA[:, lo : N + i + 1] = torch.linalg.lu_solve(lu, piv, SA[:, lo : N + i + 1])
        else:
            SA[:, lo : N + i + 1] = torch.linalg.solve(torch.add(eye, S, alpha=r_col),
                                                       SA[:, lo : N + i + 1])
    geff = SA[:, N:].T.contiguous()
    return (geff, lus, pivs, p, q, ys) if keep else geff


def _exact(G: torch.Tensor, r_row: float, r_col: float) -> torch.Tensor:
    M, N = G.shape
    if N <= M:
        return _sweep(G, r_row, r_col)
    # Reciprocity: I_j per unit V_k equals the row-k source current per unit voltage behind
    # column j's sense segment. That circuit is the contract geometry again with rows and
    # columns swapped and both orders reversed (G^T rotated by 180 degrees).
    rot = torch.flip(G.T, (0, 1)).contiguous()
    return torch.flip(_sweep(rot, r_col, r_row).T, (0, 1)).contiguous()


# ------------------------------------------------------------------------------- public API

def effective_conductance(G: torch.Tensor, r_row: float, r_col: float,
                          model: str = "exact") -> torch.Tensor:
    r"""Conductance matrix that the array presents to a read, wires included.

    :math:`I = V G_\mathrm{eff}` for every input V (see the module docstring for the circuit).

    Args:
        G: (M, N) cell conductances in S, finite and >= 0; any device.
        r_row: wordline resistance per segment, ohm (> 0 unless model is ``none``).
        r_col: bitline resistance per segment, ohm (> 0 unless model is ``none``).
        model: ``none`` | ``first_order`` | ``exact``.

    Returns:
        (M, N) G_eff in S, on G's device, dtype of G (float64 internally).

    Raises:
        ShapeError: G not a finite, non-negative (M, N) matrix.
        ConfigError: unknown model, or r_row / r_col not finite, negative, or 0 with a
            model other than ``none``.
    """
    _check_model(model)
    r_row, r_col = _check_r(r_row, r_col, model)
    _check_G(G)
    if model == "none":
        return G.clone() if G.is_floating_point() else G.to(torch.get_default_dtype())
    g = _work(G)
    out = _first_order(g, r_row, r_col) if model == "first_order" else _exact(g, r_row, r_col)
    return out.to(device=G.device, dtype=_out_dtype(G))


def column_currents(G: torch.Tensor, V: torch.Tensor, r_row: float, r_col: float,
                    model: str = "exact") -> torch.Tensor:
    r"""Currents into the columns' virtual grounds for a batch of row voltages.

    :math:`I_{bj} = \sum_i V_{bi} (G_\mathrm{eff})_{ij}`. For repeated reads of one
    programmed array, compute :func:`effective_conductance` once and use ``V @ G_eff``.

    Args:
        G: (M, N) cell conductances in S.
        V: (B, M) or (M,) row source voltages in V (any sign; 0 V rows are driven to 0 V).
        r_row: wordline resistance per segment, ohm.
        r_col: bitline resistance per segment, ohm.
        model: ``none`` | ``first_order`` | ``exact``.

    Returns:
        (B, N) or (N,) currents in A, on G's device, in the promoted dtype of G and V.

    Raises:
        ShapeError: bad G, V not (B, M) / (M,), or V not finite.
        ConfigError: as :func:`effective_conductance`.
    """
    _check_model(model)
    r_row, r_col = _check_r(r_row, r_col, model)
    _check_V(V, _check_G(G).shape[0])
    g_eff = effective_conductance(_work(G), r_row, r_col, model)
    return (_work(V).to(g_eff.device) @ g_eff).to(device=G.device, dtype=_out_dtype(G, V))


def nonideality_factor(G: torch.Tensor, V: torch.Tensor, r_row: float, r_col: float,
                       model: str = "exact", eps: float = 1e-3) -> float:
    r"""Nonideality factor of a read (METHODS.md section 1).

    .. math::

        \mathrm{NF} = \operatorname{mean}_{(b, j):\,|I^\mathrm{ideal}_{bj}| >
        \epsilon \max|I^\mathrm{ideal}|}
        \frac{|I^\mathrm{ideal}_{bj} - I^\mathrm{pr}_{bj}|}{|I^\mathrm{ideal}_{bj}|},
        \qquad I^\mathrm{ideal} = V G,

    with :math:`I^\mathrm{pr}` from :func:`column_currents` with ``model``; the max runs over
    the whole batch. Compute it per physical array (G+ and G- separately), never on G+ - G-.

    Args:
        G: (M, N) cell conductances in S.
        V: (B, M) or (M,) row voltages in V.
        r_row: wordline resistance per segment, ohm.
        r_col: bitline resistance per segment, ohm.
        model: model giving :math:`I^\mathrm{pr}`.
        eps: relative threshold below which a column current is too small to count, in (0, 1).

    Returns:
        NF as a fraction (0.08 = 8 %); 0.0 when every ideal current is 0.

    Raises:
        ShapeError, ConfigError: as :func:`column_currents`; ConfigError for eps.
    """
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps < 1):
        raise ConfigError(f"eps: must be a number in (0, 1) (got {eps!r})")
    i_pr = _work(column_currents(G, V, r_row, r_col, model))     # validates G, V, r, model
    i_id = _work(V).to(i_pr.device) @ _work(G).to(i_pr.device)
    mag = i_id.abs()
    keep = mag > eps * mag.max()
    if not bool(keep.any()):
        return 0.0
    return float(((i_id - i_pr).abs()[keep] / mag[keep]).mean())
