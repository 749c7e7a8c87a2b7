"""Binary/ternary layers on RRAM crossbars: the CIM-Explorer mapping modes (METHODS.md 6).

One layer ``y = W x`` with ``W`` (out x in) in {-1, +1} (BNN) or {-1, 0, +1} (TNN) and
``x`` of the same kind is computed by a crossbar of binary cells. A cell draws a *current*
``I_L`` (LRS) or ``I_H`` (HRS) when its row is driven and nothing otherwise; a column sums the
currents of its driven cells. ``i_mm = I_L - I_H`` is one integer unit. ``[.]`` is the
indicator, ``v+ = [x = +1]``, ``v- = [x = -1]``. The eleven modes (cells per weight, input
planes = cycles, digital recombination after the ADC) are:

=======  =====  ==============================================  ======  ====================
mode     cells  cells / drive                                   cycles  digital result
=======  =====  ==============================================  ======  ====================
bnn_i    2      diff. columns [w=1], [w=-1]; v = [x=1]          1       2 S - sum w
bnn_ii   2      same columns; v = [x=-1]                        1       sum w - 2 S
bnn_iii  1      one column [w=1]; cycles v+, v-                 2       2 (S+ - S-) - sum x
bnn_iv   1      one column [w=-1]; cycles v+, v-                2       sum x + 2 (S- - S+)
bnn_v    2      rows (v+: [w=1], v-: [w=-1]), one column        1       2 matches - N
bnn_vi   4      rows (v+, v-) x diff. columns (XNOR pair)       1       matches - mismatches
tnn_i    4      as bnn_vi (x = 0 drives nothing)                1       S
tnn_ii   2      diff.; planes [x!=0] (x1), [x=-1] (x-2)         2       S0 - 2 S1
tnn_iii  2      diff.; planes of x+1: [x=0] (x1), [x=1] (x2)    2       S0 + 2 S1 - sum w
tnn_iv   2      columns = two's-complement bits of w (x1, x-2)  2 (4)   sum of signed reads
tnn_v    2      columns = bits of w+1 (x1, x2); cycles v+, v-   2 (4)   sum - sum x
=======  =====  ==============================================  ======  ====================

Differential modes sense ``I+ - I-`` on a signed ADC (the HRS floor cancels). Single-ended
modes (bnn_iii, bnn_iv, bnn_v, tnn_iv, tnn_v) subtract the floor ``n_drv I_H`` of the
``n_drv`` rows driven in that array and cycle before an unsigned ADC (an analog offset as in
the reference simulator); ``sum w`` per column is stored digitally at programming time and
``sum x``, ``n_drv`` are counted digitally from the input (bnn_v subtracts ``sum |x|``, which
is N for +-1 inputs). Every array, cycle and sensed column has its own conversion, uniform
over ``alpha [-n_max i_mm, n_max i_mm]`` (signed) or ``alpha [0, n_max I_L]`` (unsigned),
``n_max`` = rows an array can drive at once. With ideal cells and an ideal ADC
every mode returns the exact integer ``W x``. The HRS floor is never 0: with D2D variation
the drawn HRS currents do not cancel, and clipping at 0 biases their mean upward, which the
nominal single-ended offset does not remove (the error grows with the number of driven rows).

Reference: R. Pelke et al., "Optimizing Binary and Ternary Neural Network Inference on RRAM
Crossbars using CIM-Explorer", arXiv:2505.14303 (2025), and the public analog-cim-sim code.

Example:
    >>> W = torch.tensor([[1, -1, 1], [-1, -1, 1]])
    >>> x = torch.tensor([[1, 1, -1]])
    >>> y, counts = cim_matmul(x, map_layer(W, "bnn_iii"))
    >>> y.round().tolist(), counts["cycles"]
    ([[-1.0, -3.0]], 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from snnx.errors import ConfigError, ShapeError

BNN_VALUES = (-1, 1)
TNN_VALUES = (-1, 0, 1)
_FIXED = 2.0 ** 30  # digital reads are fixed-point with LSB 2^-30 unit (drops float dust)


@dataclass(frozen=True, kw_only=True)
class BinaryCell:
    """Current states of a binary RRAM cell at the read voltage.

    Defaults: CIM-Explorer, I_H = 5 uA, I_L = 30 uA (50 uA in its ADC study).
    """

    i_h: float = 5e-6
    """HRS current in A (> 0: the HRS floor is never zero)."""
    i_l: float = 30e-6
    """LRS current in A (> i_h)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.i_h < self.i_l:
            raise ConfigError(f"cell.i_h: need 0 < i_h < i_l (got {self.i_h!r}, {self.i_l!r})")

    @property
    def i_mm(self) -> float:
        """One integer unit of column current, ``I_L - I_H`` in A."""
        return self.i_l - self.i_h

    @classmethod
    def from_hw(cls, cfg) -> "BinaryCell":
        """Cell currents ``G V_read`` of a hardware preset (e.g. ``hw.load("binary_cim")``)."""
        v = cfg.periphery.v_read
        return cls(i_h=cfg.device.g_min * v, i_l=cfg.device.g_max * v)


@dataclass(frozen=True)
class ModeSpec:
    """Layout and recombination of one mapping mode (value sets are tuples of ints)."""

    kind: str  # "bnn" (x, w in {-1, 1}) or "tnn" (x, w in {-1, 0, 1})
    roles: tuple  # roles[slot][k]: weight values that program cell (slot, column role k) LRS
    planes: tuple  # planes[cycle][slot]: input values that drive the row of that slot
    sense: str  # "diff" (role 0 minus role 1, signed ADC) or "single" (one read per role)
    coef: tuple  # coef[cycle][signal]: digital weight of each read
    corr: tuple = (0, 0, 0)  # y += a sum(w) + b sum(x) + c n_driven_rows

    @property
    def slots(self) -> int:
        """Physical rows per input (2 for the row-pair modes)."""
        return len(self.roles)

    @property
    def cells_per_weight(self) -> int:
        return self.slots * len(self.roles[0])

    @property
    def cycles(self) -> int:
        return len(self.planes)

    @property
    def signals(self) -> int:
        """ADC reads per output, per cycle and array."""
        return 1 if self.sense == "diff" else len(self.roles[0])


_P, _M, _Z = (1,), (-1,), (0,)
_PM = ((_P,), (_M,))  # two cycles: v+, then v-
MODES: dict[str, ModeSpec] = {
    "bnn_i": ModeSpec("bnn", ((_P, _M),), ((_P,),), "diff", ((2,),), (-1, 0, 0)),
    "bnn_ii": ModeSpec("bnn", ((_P, _M),), ((_M,),), "diff", ((-2,),), (1, 0, 0)),
    "bnn_iii": ModeSpec("bnn", ((_P,),), _PM, "single", ((2,), (-2,)), (0, -1, 0)),
    "bnn_iv": ModeSpec("bnn", ((_M,),), _PM, "single", ((-2,), (2,)), (0, 1, 0)),
    "bnn_v": ModeSpec("bnn", ((_P,), (_M,)), ((_P, _M),), "single", ((2,),), (0, 0, -1)),
    "bnn_vi": ModeSpec("bnn", ((_P, _M), (_M, _P)), ((_P, _M),), "diff", ((1,),)),
    "tnn_i": ModeSpec("tnn", ((_P, _M), (_M, _P)), ((_P, _M),), "diff", ((1,),)),
    "tnn_ii": ModeSpec("tnn", ((_P, _M),), (((1, -1),), (_M,)), "diff", ((1,), (-2,))),
    "tnn_iii": ModeSpec("tnn", ((_P, _M),), ((_Z,), (_P,)), "diff", ((1,), (2,)), (-1, 0, 0)),
    "tnn_iv": ModeSpec("tnn", (((1, -1), _M),), _PM, "single", ((1, -2), (-1, 2))),
    "tnn_v": ModeSpec("tnn", ((_Z, _P),), _PM, "single", ((1, 2), (-1, -2)), (0, -1, 0)),
}
"""Mode name -> layout (METHODS.md 6 table); ``bnn_*`` need +-1 inputs and weights."""


def _spec(mode: str) -> ModeSpec:
    if mode not in MODES:
        raise ConfigError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    return MODES[mode]


def _check_values(name: str, t: torch.Tensor, kind: str, ndim: int) -> None:
    if t.dim() != ndim:
        raise ShapeError(f"{name}: expected {ndim} dims, got shape {tuple(t.shape)}")
    allowed = BNN_VALUES if kind == "bnn" else TNN_VALUES
    if not torch.isin(t, torch.tensor(allowed, dtype=t.dtype)).all():
        raise ShapeError(f"{name}: {kind} values must be in {allowed}")


@dataclass(frozen=True, eq=False)
class MappedLayer:
    """Cell layout of one layer (output of :func:`map_layer`).

    Physical row ``i * slots + s`` holds input ``i`` (slot ``s``); column ``k * n_out + j``
    holds role ``k`` of output ``j``. Rows are cut into arrays of ``rows_per_array``.
    """

    mode: str
    lrs: torch.Tensor  # (n_in * slots, roles * n_out) bool: which cells are LRS
    sum_w: torch.Tensor  # (n_out,) int64: sum_i W[j, i], stored at programming time
    n_in: int
    n_out: int
    cell: BinaryCell
    rows_per_array: int
    cols_per_array: int

    @property
    def spec(self) -> ModeSpec:
        return MODES[self.mode]

    @property
    def n_arrays_rows(self) -> int:
        return math.ceil(self.lrs.shape[0] / self.rows_per_array)

    def counts(self) -> dict[str, int]:
        """Static cost per MVM (one input vector): cells, arrays, cycles, ADC conversions."""
        s, (rows, cols) = self.spec, self.lrs.shape
        return {"cells": rows * cols, "cells_per_weight": s.cells_per_weight,
                "arrays": self.n_arrays_rows * math.ceil(cols / self.cols_per_array),
                "cycles": s.cycles,
                "adc_conversions": s.cycles * s.signals * self.n_out * self.n_arrays_rows}


def map_layer(W_int: torch.Tensor, mode: str, cell: BinaryCell | None = None, *,
              rows_per_array: int = 256, cols_per_array: int = 256) -> MappedLayer:
    """Lay a binary/ternary weight matrix out on crossbar cells for one mode.

    Args:
        W_int: (n_out, n_in) integer weights, in {-1, 1} for ``bnn_*`` modes and in
            {-1, 0, 1} for ``tnn_*`` modes (row j = output j, as ``nn.Linear.weight``).
        mode: key of :data:`MODES`.
        cell: HRS/LRS currents (default :class:`BinaryCell`).
        rows_per_array: physical rows per crossbar (256 [CE]); a multiple of the mode's rows
            per input. Each array has its own ADCs; partial results add digitally.
        cols_per_array: physical columns per crossbar (only counts arrays).

    Returns:
        MappedLayer with the boolean LRS layout (n_in * slots, roles * n_out).
    """
    spec = _spec(mode)
    _check_values("W_int", W_int, spec.kind, 2)
    if rows_per_array < 1 or rows_per_array % spec.slots:
        raise ConfigError(f"rows_per_array: must be a positive multiple of {spec.slots} for "
                          f"{mode} (got {rows_per_array})")
    if cols_per_array < 1:
        raise ConfigError(f"cols_per_array: must be >= 1 (got {cols_per_array})")
    W = W_int.to(torch.int64)
    n_out, n_in = W.shape
    vals = lambda s: torch.tensor(s, dtype=torch.int64)  # noqa: E731
    # (slots, roles, n_out, n_in) -> (n_in, slots, roles, n_out) -> rows x columns
    lrs = torch.stack([torch.stack([torch.isin(W, vals(r)) for r in slot])
                       for slot in spec.roles]).permute(3, 0, 1, 2)
    lrs = lrs.reshape(n_in * spec.slots, -1)
    return MappedLayer(mode, lrs, W.sum(1), n_in, n_out, cell or BinaryCell(),
                       rows_per_array, cols_per_array)


def program_currents(mapped: MappedLayer, *, sigma_h: float = 0.0, sigma_l: float = 0.0,
                     gen: torch.Generator | None = None) -> torch.Tensor:
    """Per-cell read currents after one programming (device-to-device variation).

    ``I = max(0, I_state + sigma_state * xi)``, ``xi ~ N(0, 1)`` drawn once per cell from
    ``gen``; the draw persists for every MVM on this programming (D2D, not read noise).

    Args:
        mapped: layout from :func:`map_layer`.
        sigma_h, sigma_l: standard deviation of the HRS / LRS current in A (>= 0).
        gen: random generator (needed when a sigma is > 0).

    Returns:
        (rows, cols) float64 currents in A.
    """
    for name, s in (("sigma_h", sigma_h), ("sigma_l", sigma_l)):
        if not (s >= 0.0 and math.isfinite(s)):
            raise ConfigError(f"{name}: must be a finite value >= 0 A (got {s!r})")
    c = mapped.cell
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731  (exact in float64)
    nominal = torch.where(mapped.lrs, f64(c.i_l), f64(c.i_h))
    if sigma_h == 0.0 and sigma_l == 0.0:
        return nominal
    sigma = torch.where(mapped.lrs, f64(sigma_l), f64(sigma_h))
    xi = torch.randn(nominal.shape, generator=gen, dtype=torch.float64)
    return (nominal + sigma * xi).clamp(min=0.0)


def adc(i: torch.Tensor, *, bits: int | None, lo, hi, signed: bool) -> torch.Tensor:
    """Uniform ADC: clip to ``[lo, hi]`` and round to the nearest of its levels.

    Unsigned: ``2^b`` levels, step ``(hi - lo) / (2^b - 1)``. Signed (``lo = -hi``):
    ``2^b - 1`` levels so that 0 is a level, step ``(hi - lo) / (2^b - 2)``. The output is
    ``lo + round((clip(i) - lo) / step) * step`` (round half to even). ``bits=None`` is the
    ideal, infinite-resolution ADC (no clipping either).

    Args:
        i: currents in A, any shape.
        bits: resolution b >= 2 (signed) / >= 1 (unsigned), or None.
        lo, hi: range in A, tensors broadcastable to ``i`` or floats (hi > lo).
        signed: symmetric range with a level at 0.
    """
    if bits is None:
        return i
    if bits < (2 if signed else 1):
        raise ConfigError(f"adc_bits: must be >= {2 if signed else 1} (got {bits})")
    lo, hi = torch.as_tensor(lo, dtype=i.dtype), torch.as_tensor(hi, dtype=i.dtype)
    step = (hi - lo) / (2 ** bits - (2 if signed else 1))
    return lo + torch.round((torch.minimum(torch.maximum(i, lo), hi) - lo) / step) * step


def _sense(X_int: torch.Tensor, mapped: MappedLayer, currents: torch.Tensor | None):
    """ADC inputs of every read: (cycles, B, arrays, signals, n_out), full scale, n_drv."""
    spec, c = mapped.spec, mapped.cell
    _check_values("X_int", X_int, spec.kind, 2)
    if X_int.shape[1] != mapped.n_in:
        raise ShapeError(f"X_int: expected (B, {mapped.n_in}), got {tuple(X_int.shape)}")
    I_cell = program_currents(mapped) if currents is None else currents
    if I_cell.shape != mapped.lrs.shape:
        raise ShapeError(f"currents: expected {tuple(mapped.lrs.shape)}, "
                         f"got {tuple(I_cell.shape)}")
    X = X_int.to(torch.int64)
    B, rows, r = X.shape[0], mapped.lrs.shape[0], mapped.rows_per_array
    T = mapped.n_arrays_rows
    # drive voltages (cycles, B, rows) in {0, 1}: row i*slots+s driven iff x_i in planes[p][s]
    V = torch.stack([torch.stack([torch.isin(X, torch.tensor(d)) for d in plane], dim=-1)
                     for plane in spec.planes]).reshape(spec.cycles, B, rows)
    pad = T * r - rows
    V = torch.nn.functional.pad(V.to(torch.float64), (0, pad)).reshape(-1, T, r)
    G = torch.nn.functional.pad(I_cell.to(torch.float64), (0, 0, 0, pad)).reshape(T, r, -1)
    I = torch.bmm(V.transpose(0, 1), G)  # (T, cycles*B, cols)
    I = I.reshape(T, spec.cycles, B, -1, mapped.n_out).permute(1, 2, 0, 3, 4)
    n_drv = V.sum(-1).reshape(spec.cycles, B, T)
    rows_t = torch.clamp(rows - r * torch.arange(T), max=r).to(torch.float64)
    n_max = rows_t / spec.slots  # rows that can be driven at once in each array
    if spec.sense == "diff":
        S = I[:, :, :, :1] - I[:, :, :, 1:2]
        full = n_max * c.i_mm
    else:
        S = I - (n_drv * c.i_h)[..., None, None]
        full = n_max * c.i_l
    return S, full, n_drv


def calibrate_alpha(X_cal: torch.Tensor, mapped: MappedLayer,
                    currents: torch.Tensor | None = None, *, quantile: float = 0.999) -> float:
    """ADC clipping factor alpha in (0, 1] of one layer from profiled currents.

    ``alpha = q-quantile of |I_adc| / I_full`` over every read, sample and array of the
    calibration inputs, where ``I_full = n_max I_L`` (unsigned) or ``n_max i_mm`` (signed)
    and ``n_max`` = rows an array can drive at once. Clamped to ``[1e-3, 1]``.
    """
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"quantile: must be in (0, 1] (got {quantile!r})")
    S, full, _ = _sense(X_cal, mapped, currents)
    ratio = (S.abs() / full[None, None, :, None, None]).flatten()
    if ratio.numel() == 0:
        return 1.0
    q = torch.quantile(ratio, quantile) if ratio.numel() < 2 ** 24 else ratio.max()
    return float(q.clamp(1e-3, 1.0))


def cim_matmul(X_int: torch.Tensor, mapped: MappedLayer, *,
               currents: torch.Tensor | None = None, sigma_h: float = 0.0,
               sigma_l: float = 0.0, adc_bits: int | None = None, alpha: float = 1.0,
               gen: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, int]]:
    """``y = W x`` of a binary/ternary layer on the crossbar, for a batch of inputs.

    Per array ``t``, cycle ``p`` and output ``j`` the ADC converts
    ``S = I+ - I-`` (differential, range ``+-alpha n_max i_mm``) or
    ``S = I_k - n_drv I_H`` (single-ended, range ``alpha [0, n_max I_L]``) with
    ``I = sum_rows V_p I_cell``. Digitally ``y = sum_{p,t,k} coef[p][k] ADC(S)/i_mm +
    a sum(w) + b sum(x) + c n_drv`` (see :data:`MODES`).

    Args:
        X_int: (B, n_in) integer inputs ({-1, 1} for bnn modes, {-1, 0, 1} for tnn modes).
        mapped: layout from :func:`map_layer` (holds the mode and the cell).
        currents: (rows, cols) cell currents in A from :func:`program_currents` (fixed for
            one programming). If None, one programming is drawn here with ``sigma_h``,
            ``sigma_l`` (A) and ``gen``.
        adc_bits: ADC resolution, or None for the ideal ADC.
        alpha: ADC range factor in (0, 1] (:func:`calibrate_alpha`).
        gen: generator of the variation draw when ``currents`` is None.

    Returns:
        y: (B, n_out) float64 in integer units. Each read enters the digital side as a
        fixed-point number with LSB 2^-30 (so float rounding of the current sums, ~1e-13,
        cannot flip a comparison with an integer threshold); with ideal cells and ADC, y is
        exactly the integer ``X_int W_int^T``.
        counts: the static ``mapped.counts()`` per MVM plus ``mvms`` (= B) and
        ``cell_reads`` (driven cells summed over cycles, arrays and batch).
    """
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(f"alpha: must be in (0, 1] (got {alpha!r})")
    if currents is None:
        currents = program_currents(mapped, sigma_h=sigma_h, sigma_l=sigma_l, gen=gen)
    spec, c = mapped.spec, mapped.cell
    S, full, n_drv = _sense(X_int, mapped, currents)
    hi = (alpha * full)[None, None, :, None, None]
    signed = spec.sense == "diff"
    vals = adc(S, bits=adc_bits, lo=-hi if signed else 0.0, hi=hi, signed=signed) / c.i_mm
    vals = torch.round(vals * _FIXED) / _FIXED  # fixed-point digital side, LSB 2^-30
    coef = torch.tensor(spec.coef, dtype=torch.float64)  # (cycles, signals)
    y = torch.einsum("pbtko,pk->bo", vals, coef)
    X = X_int.to(torch.float64)
    a, b, cc = spec.corr
    y = y + a * mapped.sum_w.to(torch.float64) + (b * X.sum(1) + cc * X.abs().sum(1))[:, None]
    counts = dict(mapped.counts(), mvms=X.shape[0],
                  cell_reads=int(n_drv.sum().item()) * mapped.lrs.shape[1])
    return y, counts
