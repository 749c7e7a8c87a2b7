"""The log-domain SGD circuit: a layer's weights on capacitors, read through translinear
multipliers (METHODS.md section 8). Used by :class:`snnx.learn.logsgd.LogSGD`.

Why the layer's tile is replaced (design). The circuit keeps every weight as a differential
pair of capacitor voltages of log-domain integrators; the weights are adapted there and are
never copied to RRAM (a mirror costs an ``in x in x out`` outer product per step and writes
volatile state into non-volatile cells for nothing). So, once a rule binds, a layer's reads
must come from the capacitors: :class:`CapacitorArray` takes the place of ``layer.tile``. It
offers the Tile's read verbs (``mvm``, ``mvm_t``, ``read_weight``) served by the capacitor
array through translinear multipliers, and books into the SAME ledger as every tile (one
cost ledger per network). Everything that is not a read belongs to the layer's programmed
RRAM tile, which it keeps as ``rram`` and forwards to explicitly (``hw``, ``ledger``,
``dtype``, ``gen``/``rng``, ``conductances``, ``state_dict``/``load_state_dict`` ...): the
RRAM still holds the deployed weights (non-volatile, unchanged by learning) and is the source
the capacitors are loaded from once, by a calibration read-out (program-verify sensing of
every cell, booked as ``verify_read``). So ``snnx.pipeline``, ``OnlineAdapter``, BP's
transposed reads (``layer.tile.mvm_t``) and checkpoints work unchanged: a checkpoint holds
the RRAM tiles as before and the capacitor state in the rule's state. ``outer_update`` and
``set_mapping`` raise (nothing may write the RRAM behind the capacitors' back);
``program(W)`` programs the RRAM and reloads the capacitors from it.

State [R]. A weight is ``w = (I+ - I-)/i_w`` with ``I± = I_min exp(V±/(n U_T))``: the
capacitor voltage above the floor is quantised to ``2^bits`` codes, ``I(k) = I_min ρ^k``,
``ρ = (I_max/I_min)^(1/(2^bits - 1))``, voltage step ``ΔV = n U_T ln ρ``. The scale ``i_w``
comes from the layer: ``w_range = range_headroom x quantile(|W|, range_quantile)`` of the
weights read out at calibration (or ``w_range`` when set) maps to ``I_max - I_min``.
Both sides of a pair integrate the magnitude of their drive and only the leak λ pulls them
down, so with gradient noise their common mode would grow to ``E|drive| i_w / λ`` and clip
(``common_mode="leak"`` shows it); by default a common-mode reset per pair [R] (like the
refresh of an RRAM pair) removes, after every step, the part of the two currents above the
floor they share, ``I± <- I± - (min(I+, I-) - I_min)``, which leaves ``w`` unchanged and
keeps one side at the floor. Every sample/hold of a capacitor adds kT/C noise,
``σ_V = sqrt(k T / C)`` (64 µV at 1 pF), to its voltage before the state is quantised
(``ktc_noise``); with stochastic rounding a sub-code noise becomes occasional one-code
steps (a random walk that the SGD pulls back). An Euler step of ``τ dI/dt = I_in - λ I``
that would leave the subthreshold range clips at ``I_max``; such clips are counted
(``clipped``, and the ledger count ``cap_clip`` in report.json).

Cost [R] (bias current x supply x time; METHODS 8: I_τ 1-100 nA, C 1-10 pF, n ~1.3):

* a translinear multiply (read MAC, or one row of the update's outer product) holds one
  multiplier at bias ``i_mult`` for ``t_mult = ln(2^bits) c_node n U_T / i_mult`` (settling
  of its output node to the state's precision): ``e_mac = i_mult V_dd t_mult``;
* a read of B vectors: ``B in out`` multiplies (``cap_multiply``), B x in DAC and B x out ADC
  conversions at the layer's converter costs, latency ``B (t_dac + t_mult + adc_share
  t_adc)``. The capacitor array's output currents are sensed by the layer's own converters
  at the full scale they have for the RRAM read (:meth:`CapacitorArray.full_scale`, times
  ``readout_scale``), so swapping the memory changes the weights, not the readout
  precision; transposed reads register their own row-side ADCs and column-side drivers on
  first use;
* an update of R rows streams the rows through the update multipliers, one per
  ``t_row = max(t_mult, η C n U_T / i_tau)``; the integrators' bias is set to
  ``I_τ = η C n U_T / t_row`` (so that each row integrates ``η e xᵀ``) and the leak bias to
  ``I_λ = λ I_τ / R`` (``η λ`` per step); the common-mode reset of a pair (below) is one more
  branch at ``I_τ``: energy ``in out (2 (I_τ + I_λ) + I_τ) V_dd R t_row`` (``cap_integrate``)
  + ``R in out i_mult V_dd t_row`` (``cap_multiply``) + ``R (in + out)`` DAC conversions,
  latency ``R t_row``;
* area: two capacitors (``C / cap_density``), two integrators and two multipliers (one for
  reads, one for the update) per weight (``caps``, ``integrators``, ``multipliers``).

Not modelled: noise of the multipliers on reads (reads are deterministic; fixed gain
mismatch ``mismatch`` is), capacitor leakage beyond ``droop``, temperature drift of U_T.

Reference: METHODS.md section 8 (our reconstruction; the paper's exact circuit is not
public); Bernoulli-cell log-domain integrators: Frey, IEE Proc. G 140 (1993); translinear
multipliers: Gilbert, Electron. Lett. 11 (1975); kT/C noise of a sampled capacitor: e.g.
Razavi, Design of Analog CMOS Integrated Circuits (2001), ch. 7.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from snnx.errors import SnnxError
from snnx.hw import periphery as per
from snnx.hw.checks import as_matrix

K_B, Q_E = 1.380649e-23, 1.602176634e-19  # J/K, C (SI exact)


# ------------------------------------------------------------------ circuit numbers
def thermal_voltage(p: Any) -> float:
    """U_T = k T / q in V."""
    return K_B * p.temperature_k / Q_E


def log_rho(p: Any) -> float:
    """ln ρ: log current ratio between adjacent state codes."""
    return math.log(p.i_max / p.i_min) / ((1 << p.state_bits) - 1)


def voltage_step(p: Any) -> float:
    """Capacitor-voltage quantum ΔV = n U_T ln ρ in V."""
    return p.n_slope * thermal_voltage(p) * log_rho(p)


def ktc_sigma(p: Any) -> float:
    """kT/C noise of one sample/hold, σ_V = sqrt(k T / C) in V."""
    return math.sqrt(K_B * p.temperature_k / p.capacitance_f)


def t_mult(p: Any) -> float:
    """Settling time of a translinear multiply in s: ln(2^bits) c_node n U_T / i_mult."""
    return math.log(2.0) * p.state_bits * p.c_node * p.n_slope * thermal_voltage(p) / p.i_mult


def e_mac(p: Any) -> float:
    """Energy of one multiply in J: i_mult V_dd t_mult."""
    return p.i_mult * p.v_dd * t_mult(p)


def update_timing(p: Any, lr: float) -> tuple[float, float]:
    """(t_row in s, integrator bias I_τ in A) of an update step with η = ``lr``."""
    q = lr * p.capacitance_f * p.n_slope * thermal_voltage(p)  # η C n U_T, in A s
    t_row = max(t_mult(p), q / p.i_tau)
    return t_row, q / t_row


def _converters(hw: Any) -> tuple[float, float]:
    """(J per DAC conversion, J per ADC conversion) of the layer's converters (as TileCost)."""
    p, c = hw.periphery, hw.cost
    adc_bits = 8 if p.adc_bits is None else p.adc_bits
    dac_bits = 8 if p.dac_bits is None else p.dac_bits
    return c.e_dac_bit * dac_bits, c.adc_fom * 2.0 ** adc_bits


class CapacitorArray:
    """One layer's weights on log-domain integrators, read through translinear multipliers.

    Built by :meth:`LogSGD.bind` in place of ``layer.tile`` (see the module docstring).

    Args:
        rram: the layer's programmed :class:`~snnx.hw.tile.Tile` (read out once here).
        params: the rule's :class:`~snnx.learn.logsgd.Params` (circuit numbers).
        gen: the rule's generator (mismatch, kT/C noise, stochastic rounding).
        name: the layer's name (area keys ``logsgd_<name>/...``).
        owner: the area owner key to reuse (a re-bind of the same layer), default new.

    Attributes:
        codes: (2, out, in) float64 integer codes of the capacitor voltages (I+, I-).
        w_range: weight magnitude mapped to ``i_max - i_min``; ``i_w`` A per weight unit.
        clipped: integrator updates clipped at ``i_max`` so far; ``updates``: all updates.
    """

    def __init__(self, rram: Any, params: Any, *, gen: torch.Generator, name: str,
                 owner: str | None = None) -> None:
        self.rram, self.p, self._gen = rram, params, gen
        self.owner = owner or rram.ledger.unique_key(f"logsgd_{name}")
        self.clipped = self.updates = 0
        self._t_area = False
        self._cache: torch.Tensor | None = None
        self.calibrate()

    # ------------------------------------------------------------------ the RRAM tile's
    dtype = property(lambda self: self.rram.dtype, doc="The layer's float dtype.")
    device = property(lambda self: self.rram.device, doc="The layer's device.")
    hw = property(lambda self: self.rram.hw, doc="The layer's hardware model.")
    ledger = property(lambda self: self.rram.ledger, doc="The network's cost ledger.")
    gen = property(lambda self: self.rram.gen, doc="The RRAM tile's generator.")
    rng = property(lambda self: self.rram.rng, doc="The RRAM tile's random source.")
    conductances = property(lambda self: self.rram.conductances,
                            doc="The RRAM's conductances (unchanged by learning).")
    shape = property(lambda self: self.rram.shape, doc="(out, in).")
    in_features = property(lambda self: self.rram.in_features, doc="Inputs.")
    out_features = property(lambda self: self.rram.out_features, doc="Outputs.")
    layout = property(lambda self: self.rram.layout, doc="The RRAM tile's layout.")
    w_max = property(lambda self: self.rram.w_max, doc="The RRAM tile's weight scale.")

    def state_dict(self) -> dict:
        """The RRAM tile's state (the capacitors' state is the rule's)."""
        return self.rram.state_dict()

    def load_state_dict(self, state: dict, *, load_ledger: bool = True) -> None:
        """Restore the RRAM tile's state (the capacitors are restored by the rule)."""
        self.rram.load_state_dict(state, load_ledger=load_ledger)

    def program(self, W: torch.Tensor) -> None:
        """Program W onto the RRAM and reload the capacitors from it (calibration)."""
        self.rram.program(W)
        self.calibrate()

    def outer_update(self, *args: Any, **kwargs: Any) -> None:
        raise SnnxError("outer_update: this layer's weights live on log-domain-SGD "
                        "capacitors; only the logsgd rule updates them")

    def set_mapping(self, *args: Any, **kwargs: Any) -> None:
        raise SnnxError("set_mapping: this layer's weights live on log-domain-SGD "
                        "capacitors; remap before binding the rule")

    # ------------------------------------------------------------------ state
    def calibrate(self) -> None:
        """Read the RRAM out cell by cell (program-verify sensing), set the range from the
        weights read, and load the capacitors (nearest code plus kT/C noise)."""
        p, hw, led = self.p, self.rram.hw, self.rram.ledger
        c, pe = hw.cost, hw.periphery
        G = self.rram.conductances
        _, e_adc = _converters(hw)
        n = G.numel()
        led.add("verify_read", n, pe.v_read ** 2 * c.t_read * float(G.sum()) + n * e_adc,
                min(self.in_features, hw.array.rows) * (c.t_read + pe.adc_share * c.t_adc))
        W = self.rram.read_weight().to(torch.float64)
        q = float(torch.quantile(W.abs().flatten(), p.range_quantile)
                  if p.range_quantile < 1 else W.abs().max())
        self.w_range = float(p.w_range or (p.range_headroom * q if q > 0 else 1.0))
        self.i_w = (p.i_max - p.i_min) / self.w_range
        I = torch.stack([p.i_min + self.i_w * W.clamp(min=0),
                         p.i_min + self.i_w * (-W).clamp(min=0)])
        self._count_clips(I)
        draw = (lambda: None if p.mismatch == 0 else
                1.0 + p.mismatch * torch.randn(I.shape, generator=self._gen, dtype=I.dtype))
        self.gain_update, self.gain_read = draw(), draw()
        self._set_codes(self._hold(I, "nearest"))
        volts = float(self.codes.sum()) * voltage_step(p)
        led.add("cap_load", self.codes.numel(), p.capacitance_f * p.v_dd * volts,
                self.in_features * t_mult(p))
        N = 2 * self.in_features * self.out_features
        led.register_area(f"{self.owner}/caps", N * p.capacitance_f / p.cap_density)
        led.register_area(f"{self.owner}/integrators", N * p.integrator_area)
        led.register_area(f"{self.owner}/multipliers", N * p.mult_area)

    def currents(self) -> torch.Tensor:
        """(2, out, in) float64 currents I+, I- in A."""
        return self.p.i_min * torch.exp(self.codes * log_rho(self.p))

    def _hold(self, I: torch.Tensor, rounding: str) -> torch.Tensor:
        """Sample/hold currents I onto the capacitors: kT/C noise, then codes."""
        p = self.p
        k = torch.log(I.clamp(p.i_min, p.i_max) / p.i_min) / log_rho(p)
        if p.ktc_noise:
            k = k + (ktc_sigma(p) / voltage_step(p)) * torch.randn(
                k.shape, generator=self._gen, dtype=k.dtype)
        if rounding == "stochastic":
            k = torch.floor(k + torch.rand(k.shape, generator=self._gen, dtype=k.dtype))
        else:
            k = torch.round(k)
        return k.clamp_(0, (1 << p.state_bits) - 1)

    def _count_clips(self, I: torch.Tensor) -> None:
        n = int((I > self.p.i_max * (1 + 1e-12)).sum())
        self.clipped += n
        self.updates += I.numel()
        if n:
            self.rram.ledger.add("cap_clip", n)

    def _set_codes(self, codes: torch.Tensor) -> None:
        self.codes = codes
        self._cache = None

    def held_weights(self) -> torch.Tensor:
        """(out, in) float64 weights the capacitors hold: (I+ - I-) / i_w."""
        I = self.currents()
        return (I[0] - I[1]) / self.i_w

    def read_weight(self) -> torch.Tensor:
        """The weights the capacitors hold now (out, in), in the layer's dtype (no mismatch
        of the read multipliers)."""
        return self.held_weights().to(self.dtype)

    def capacitor_state(self) -> dict:
        """Codes, scale, mismatch and clip counters (for the rule's state_dict)."""
        opt = (lambda t: None if t is None else t.clone())
        return {"codes": self.codes.clone(), "w_range": self.w_range, "i_w": self.i_w,
                "gain_update": opt(self.gain_update), "gain_read": opt(self.gain_read),
                "clipped": self.clipped, "updates": self.updates, "t_area": self._t_area}

    def load_capacitor_state(self, s: dict) -> None:
        """Restore :meth:`capacitor_state` (shapes must match)."""
        if tuple(s["codes"].shape) != tuple(self.codes.shape):
            raise ValueError(f"state: capacitor codes {tuple(s['codes'].shape)} do not match "
                             f"the layer's {tuple(self.codes.shape)}")
        opt = (lambda t: None if t is None else t.to(torch.float64).clone())
        self._set_codes(s["codes"].to(torch.float64).clone())
        self.w_range, self.i_w = float(s["w_range"]), float(s["i_w"])
        self.gain_update, self.gain_read = opt(s["gain_update"]), opt(s["gain_read"])
        self.clipped, self.updates = int(s["clipped"]), int(s["updates"])
        if s["t_area"]:
            self._register_transposed()

    # ------------------------------------------------------------------ reads
    def _matrix(self) -> torch.Tensor:
        """(out, in) weights as the read multipliers see them (with their mismatch)."""
        if self._cache is None:
            I = self.currents()
            if self.gain_read is not None:
                I = I * self.gain_read
            self._cache = ((I[0] - I[1]) / self.i_w).to(self.dtype)
        return self._cache

    def _register_transposed(self) -> None:
        hw, led = self.rram.hw, self.rram.ledger
        share = hw.periphery.adc_share
        adc_bits = 8 if hw.periphery.adc_bits is None else hw.periphery.adc_bits
        led.register_area(f"{self.owner}/adc_t", math.ceil(self.in_features / share)
                          * hw.cost.adc_area_8b * 2.0 ** (adc_bits - 8))
        led.register_area(f"{self.owner}/dac_t", self.out_features * hw.cost.dac_area)
        self._t_area = True

    def full_scale(self, transposed: bool) -> float:
        """ADC full scale of a read in output units (weight x input full scale): the layer's
        RRAM read's, ``adc_clip x blk x ceil(n/blk) x w_max`` (blk = array rows forward,
        cols transposed), times ``readout_scale``."""
        hw = self.rram.hw
        blk = hw.array.cols if transposed else hw.array.rows
        n = self.out_features if transposed else self.in_features
        return (self.p.readout_scale * hw.periphery.adc_clip * blk * math.ceil(n / blk)
                * self.rram.w_max)

    def _read(self, x: torch.Tensor, transposed: bool) -> torch.Tensor:
        name, n_in, n_out = (("d", self.out_features, self.in_features) if transposed
                             else ("x", self.in_features, self.out_features))
        squeeze = isinstance(x, torch.Tensor) and x.dim() == 1
        x = as_matrix(x, name, n_in, self.dtype, self.device)
        hw = self.rram.hw
        pe, c = hw.periphery, hw.cost
        if pe.input_scaling == "abs_max":
            s = x.abs().amax(1, keepdim=True).clamp_(min=torch.finfo(x.dtype).tiny)
            xs = x / s
        else:
            s = pe.x_max
            xs = (x / s).clamp(-1.0, 1.0)
        xq = per.dac(xs, pe.dac_bits)
        W = self._matrix()
        y = xq @ W if transposed else xq @ W.T
        if pe.adc_bits is not None:
            y = per.adc_(y, pe.adc_bits, self.full_scale(transposed))
        y = y * s
        if transposed and not self._t_area:
            self._register_transposed()
        B = x.shape[0]
        e_dac, e_adc = _converters(hw)
        sfx = "_t" if transposed else ""
        led = self.rram.ledger
        macs = B * n_in * n_out
        led.add("cap_multiply", macs, macs * e_mac(self.p), B * t_mult(self.p))
        led.add("dac" + sfx, B * n_in, B * n_in * e_dac, B * c.t_dac)
        led.add("adc" + sfx, B * n_out, B * n_out * e_adc, B * pe.adc_share * c.t_adc)
        return y[0] if squeeze else y

    def mvm(self, x: torch.Tensor) -> torch.Tensor:
        """Forward read y = x Wᵀ (x (B, in) -> (B, out)) through DAC, multipliers, ADC."""
        return self._read(x, transposed=False)

    def mvm_t(self, d: torch.Tensor) -> torch.Tensor:
        """Transposed read g = d W (d (B, out) -> (B, in)): drive the output lines, sense
        the input lines."""
        return self._read(d, transposed=True)

    # ------------------------------------------------------------------ update
    def integrate(self, drive: torch.Tensor, lr: float, weight_decay: float,
                  rows: int) -> None:
        """One Euler step ``I± <- I± + η (I_in± - λ I±)`` of every integrator, then hold.

        Args:
            drive: (out, in) ``-δᵀx`` summed over the step's rows (weight units).
            lr: η. weight_decay: λ. rows: R rows streamed through the multipliers.
        """
        p = self.p
        I = self.currents()
        drive = drive.to(torch.float64)
        inp = torch.stack([drive.clamp(min=0), (-drive).clamp(min=0)]) * self.i_w
        if self.gain_update is not None:
            inp = inp * self.gain_update
        I_new = I + lr * (inp - weight_decay * I)
        if p.common_mode == "reset":  # remove the common part above the floor: w unchanged
            I_new = I_new - (torch.minimum(I_new[0], I_new[1]) - p.i_min).clamp(min=0)
        self._count_clips(I_new)
        k = self._hold(I_new, p.rounding)
        if p.droop:
            k = (k - p.droop).clamp_(0, (1 << p.state_bits) - 1)
        self._set_codes(k)
        self._book_update(lr, weight_decay, rows)

    def _book_update(self, lr: float, weight_decay: float, rows: int) -> None:
        p, hw, led = self.p, self.rram.hw, self.rram.ledger
        n_in, n_out = self.in_features, self.out_features
        N, R = n_in * n_out, max(int(rows), 1)
        t_row, i_tau = update_timing(p, lr)
        branches = 2 * (1.0 + weight_decay / R) + (1.0 if p.common_mode == "reset" else 0.0)
        e_int = N * branches * i_tau * p.v_dd * R * t_row
        led.add("cap_integrate", 2 * N, e_int, R * t_row)
        led.add("cap_multiply", R * N, R * N * p.i_mult * p.v_dd * t_row)
        e_dac, _ = _converters(hw)
        led.add("dac", R * (n_in + n_out), R * (n_in + n_out) * e_dac)

    def __repr__(self) -> str:
        return (f"CapacitorArray({self.out_features}x{self.in_features}, "
                f"bits={self.p.state_bits}, w_range={self.w_range:.4g}, rram={self.rram!r})")
