r"""Wire resistance kept up to date through on-line updates (``hw.parasitics.incremental``).

With ``model: exact`` a Tile reads through G_eff of every physical array (G+ and G- of every
block separately; a partly used last array at its used size, as :mod:`snnx.hw.readout` does).
``incremental`` says how G_eff follows the conductances after ``outer_update``:

* ``none``: the ``refresh_every`` policy of :func:`snnx.hw.readout.effective` (full re-solves,
  first-order increment in between).
* ``exact``: one :class:`~snnx.hw.parasitics_exact.ExactArraySolve` per physical array,
  kept between reads. At every re-read after a change, the cells that changed (the flat
  indices the pulsed update wrote, :func:`note`; otherwise a dense comparison with the
  conductances of the last sync) are grouped by array and passed to
  ``update(cells, new G, exact=True)``: the Woodbury correction on every cell changed since
  that array's last full solve, exact to round-off (no accumulation: each result is computed
  from the anchor). The solver re-solves fully by itself when its flop estimate says that is
  cheaper (about N new cells at N x N: ~3 M N^2 flops per new cell against
  (8/3) M N^3 + M^2 N^2 for the full solve) or when more than min(M, N) cells have changed
  since its anchor. ``refresh_every`` is not used.
* ``linear``: the same objects built with the exact Jacobian (``jacobian=True``);
  ``update(..., exact=False)`` (O(k M N) for k changed cells, float32 fields) and a full
  re-solve of every array once ``refresh_every`` updates have passed since the last one.
  Its error is second order in the change since that re-solve.

Memory (float64 block-LU factors: M N^2 for an M x N array with N <= M, otherwise N M^2;
the Jacobian fields: M N (M + N) float32): :func:`bytes_needed`; at 256 x 256 about 140 MB
per array for ``exact`` and 275 MB for ``linear``, at 512 x 512 about 1.1 GB and 2.2 GB.
A tile whose estimate exceeds :data:`MAX_BYTES` (4 GiB) is refused at construction
(:func:`check`) rather than left to swap the machine.

State. The anchor dict the Tile keeps (``_pr_anchor``) holds ``{"at", "mode", "geff", "G",
"Ga"}``: the n_updates of the last full solve, the mode, the G_eff last returned, the
conductances it belongs to and (``linear``) the conductances of the last full solve; keys
starting with ``_`` (the solver objects, the hint of written cells) are transient and not
saved (:func:`saved`). After a load the solvers are rebuilt at the next read: ``exact``
from ``G`` (a full solve; later results agree with the uninterrupted run to round-off),
``linear`` from ``Ga`` with the saved linear state taken over
(:meth:`~snnx.hw.parasitics_exact.ExactArraySolve.restore`), so a resumed run reads as the
uninterrupted one.

Nothing here books a cost: wire resistance is physics of the read, not an operation.
"""

from __future__ import annotations

import torch

from snnx.errors import ConfigError
from snnx.hw.config import HWConfig

#: largest estimated memory (bytes) of one tile's kept solves before a ConfigError
MAX_BYTES = 4 * 2 ** 30


def array_blocks(hw: HWConfig, shape: tuple[int, ...]) -> list[tuple[int, slice, slice]]:
    """(side, row slice, col slice) of every physical array of cell shape (2, in, n_cols),
    in the order side, row block, column block (a partly used last array at its used
    size)."""
    rows, cols = hw.array.rows, hw.array.cols
    return [(s, slice(r0, min(r0 + rows, shape[1])), slice(c0, min(c0 + cols, shape[2])))
            for s in range(shape[0]) for r0 in range(0, shape[1], rows)
            for c0 in range(0, shape[2], cols)]


def bytes_needed(hw: HWConfig, shape: tuple[int, ...], mode: str | None = None) -> int:
    """Estimated memory in bytes of the kept solves of a tile with cell shape
    (2, in, n_cols) under ``mode`` (default ``hw.parasitics.incremental``; 0 for none).

    Per array of M x N cells (h = max, w = min): LU factors 8 h w^2, Woodbury state up to
    rank w 8 w (h + 2 w), 8 further float64 fields 64 h w; ``linear`` adds the Jacobian
    4 h w (h + w) and the linear state 8 h w. Plus the largest transient of one array
    (port solves of ``exact``: up to 8 h w^2; the kept sweep of ``linear``: 4 w h^2)."""
    mode = hw.parasitics.incremental if mode is None else mode
    if mode == "none":
        return 0
    total, peak = 0, 0
    for _, rs, cs in array_blocks(hw, shape):
        M, N = rs.stop - rs.start, cs.stop - cs.start
        h, w = max(M, N), min(M, N)
        total += 8 * h * w * w + 8 * w * (h + 2 * w) + 64 * h * w
        if mode == "linear":
            total += 4 * h * w * (h + w) + 8 * h * w
        peak = max(peak, 4 * w * h * h if mode == "linear" else 8 * h * w * w)
    return total + peak


def check(hw: HWConfig, shape: tuple[int, ...]) -> None:
    """Raise a one-line ConfigError when the tile's kept solves would exceed
    :data:`MAX_BYTES` (no-op unless ``hw.parasitics.incremental`` is set)."""
    need = bytes_needed(hw, shape)
    if need > MAX_BYTES:
        raise ConfigError(
            f"parasitics.incremental: {hw.parasitics.incremental!r} would keep ~"
            f"{need / 2 ** 30:.1f} GiB of solver state for this tile ({shape[1]} x "
            f"{shape[2]} cells per side on {hw.array.rows}x{hw.array.cols} arrays; bound "
            f"{MAX_BYTES / 2 ** 30:.0f} GiB): use 'none' or smaller arrays")


def note(anchor: dict | None, G: torch.Tensor, lin: torch.Tensor) -> None:
    """Record that the cells at flat indices ``lin`` of the tile's conductances ``G``
    (2, in, n_cols) were written in place since the last sync, so that the next sync need
    not compare every cell. Ignored unless G is the tensor of the last sync (any other
    write replaces the tile's tensor, and then the next sync compares densely)."""
    if anchor is not None and anchor.get("_ref") is G and anchor.get("_hint") is not None:
        anchor["_hint"].append(lin)


def _solvers(hw: HWConfig, G: torch.Tensor, linear: bool) -> list:
    from snnx.hw.parasitics_exact import ExactArraySolve

    p = hw.parasitics
    return [ExactArraySolve(G[b], p.r_row, p.r_col, jacobian=linear)
            for b in array_blocks(hw, tuple(G.shape))]


def _fresh(hw: HWConfig, G: torch.Tensor, n_updates: int,
           old: dict | None) -> tuple[torch.Tensor, dict]:
    """A full solve of every array: a new anchor."""
    if old is not None:
        old.pop("_solvers", None)  # free the old factors before building the new ones
    mode = hw.parasitics.incremental
    sol = _solvers(hw, G, mode == "linear")
    geff = torch.empty_like(G)
    for b, s in zip(array_blocks(hw, tuple(G.shape)), sol):
        geff[b] = s.geff
    anchor = {"at": n_updates, "mode": mode, "geff": geff, "G": G.clone(),
              "Ga": G.clone() if mode == "linear" else None, "_solvers": sol, "_ref": G,
              "_hint": []}
    return geff, anchor


def _rebuild(hw: HWConfig, anchor: dict) -> None:
    """The solver objects of a loaded anchor (see the module docstring)."""
    if anchor["mode"] == "exact":
        anchor["_solvers"] = _solvers(hw, anchor["G"], False)
        return
    sol = _solvers(hw, anchor["Ga"], True)
    for b, s in zip(array_blocks(hw, tuple(anchor["G"].shape)), sol):
        s.restore(anchor["G"][b], anchor["geff"][b])
    anchor["_solvers"] = sol


def _changed(anchor: dict, G: torch.Tensor) -> torch.Tensor:
    """Flat indices into (2, in, n_cols) of the cells whose conductance differs from the
    last sync: among the noted cells when the hint is complete, else all cells."""
    held = anchor["G"].view(-1)
    flat = G.reshape(-1)
    hint = anchor.get("_hint")
    if anchor.get("_ref") is G and hint:
        cand = hint[0] if len(hint) == 1 else torch.unique(torch.cat(hint))
        return cand[flat.index_select(0, cand) != held.index_select(0, cand)]
    return torch.nonzero(flat != held).squeeze(1)


def _sync(hw: HWConfig, G: torch.Tensor, anchor: dict) -> torch.Tensor:
    """Pass the cells changed since the last sync to their arrays' solvers; new G_eff."""
    idx = _changed(anchor, G)
    anchor["_ref"], anchor["_hint"] = G, []
    if idx.numel() == 0:
        return anchor["geff"]
    rows, cols = hw.array.rows, hw.array.cols
    _, n_in, n_cols = G.shape
    nrb, ncb = -(-n_in // rows), -(-n_cols // cols)
    side, rem = idx // (n_in * n_cols), idx % (n_in * n_cols)
    row, col = rem // n_cols, rem % n_cols
    rb, cb = row // rows, col // cols
    width = (n_cols - cb * cols).clamp_(max=cols)      # a partly used last array is narrower
    local = (row - rb * rows) * width + (col - cb * cols)
    block = (side * nrb + rb) * ncb + cb
    order = torch.argsort(block, stable=True)
    counts = torch.bincount(block, minlength=2 * nrb * ncb).tolist()
    vals = G.reshape(-1).index_select(0, idx)
    anchor["G"].view(-1).index_copy_(0, idx, vals)
    geff = anchor["geff"].clone()
    exact = anchor["mode"] == "exact"
    start = 0
    for sl, s, k in zip(array_blocks(hw, tuple(G.shape)), anchor["_solvers"], counts):
        if k:
            sel = order[start:start + k]
            geff[sl] = s.update(local.index_select(0, sel), vals.index_select(0, sel),
                                exact=exact)
            start += k
    anchor["geff"] = geff
    return geff


def effective(hw: HWConfig, G: torch.Tensor, anchor: dict | None,
              n_updates: int) -> tuple[torch.Tensor, dict]:
    """G_eff (2, in, n_cols) of conductances G (same shape, physical order) under
    ``hw.parasitics.incremental`` (``exact`` or ``linear``), and the anchor to keep.

    A full solve of every array after a programming (``anchor`` None, or one left by
    another policy) and, for ``linear``, once ``refresh_every`` updates have passed since
    the last; otherwise the kept solvers are updated for the changed cells."""
    mode = hw.parasitics.incremental
    if anchor is None or anchor.get("mode") != mode or (
            mode == "linear" and n_updates - anchor["at"] >= hw.parasitics.refresh_every):
        return _fresh(hw, G, n_updates, anchor)
    if anchor.get("_solvers") is None:
        _rebuild(hw, anchor)
    return _sync(hw, G, anchor), anchor


def saved(anchor: dict | None) -> dict | None:
    """The anchor as it goes into a state_dict: tensors cloned, transient keys dropped."""
    if anchor is None:
        return None
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in anchor.items()
            if not k.startswith("_")}


def loaded(a: dict | None, device, dtype) -> dict | None:
    """An anchor from a state_dict (:func:`saved`, or the older ``{"at", "exact", "fo"}``
    of :func:`snnx.hw.readout.effective`) on the tile's device and dtype."""
    if a is None:
        return None
    out = {k: v.to(device, dtype).clone() if isinstance(v, torch.Tensor) else v
           for k, v in a.items()}
    out["at"] = int(out["at"])
    return out
