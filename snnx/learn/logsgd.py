"""Log-domain analog SGD with L2 leak (METHODS.md section 8), weights on capacitors.

Continuous-time SGD with weight decay is the leaky integrator
``τ dW/dt = -δᵀx - λ W`` (for a linear regressor ``δ = W x - y``, i.e. ``e xᵀ - λW`` with
``e = y - Wx``). Discretised with step ``Δt`` and ``η = Δt/τ``::

    W <- W + η (-δᵀx - λ W)

Circuit model [R] — each weight is a differential pair of log-domain (Bernoulli-cell)
integrators; weight ``w = (I⁺ - I⁻)/i_w``, each current set by a capacitor voltage::

    I± = I_min exp(V±/(n U_T)),      τ dI±/dt = I_in± - λ I±,   I_in± = i_w max(±(-δᵀx), 0)

(the translinear multiplier's product drives the side of its sign; both sides leak with the
bias-current ratio λ = I_λ/I_τ, so the common mode decays too). The capacitor voltage is the
state, quantised to ``state_bits`` on a log grid of currents from ``i_min`` to ``i_max``
(default 100 pA .. 100 nA), with kT/C noise at every hold, stochastic rounding (seeded) or
``nearest``, optional multiplier mismatch and capacitor droop.

Where the weights live (design, details in :mod:`snnx.learn.logsgd_circuit`): on the
capacitors only. :meth:`LogSGD.bind` loads every layer's integrators once from its
programmed RRAM tile (a calibration read-out) and puts a
:class:`~snnx.learn.logsgd_circuit.CapacitorArray` in place of ``layer.tile``: from then on
the layer's forward and transposed reads are served by the capacitor array through
translinear multipliers, booked into the same ledger, and nothing is written to the RRAM
(which keeps the deployed weights as a non-volatile copy). The integrators' range comes from
the layer (``range_headroom`` x the largest programmed weight by default), not from the tile's
``w_max``; updates that would leave the subthreshold range clip and are counted
(:attr:`LogSGD.clipped`, ledger count ``cap_clip``). Integrator, multiplier and converter
energy are booked per step (``cap_integrate``, ``cap_multiply``, ``dac``/``adc``).

The per-layer errors δ_l come from BP (default; its transposed reads hit the capacitor
arrays) or DFA (``deltas="dfa"``, its feedback tiles stay RRAM).

Reference: the log-domain SGDr circuit of METHODS.md section 8 (subthreshold MOS, weights on
capacitors; our reconstruction, the exact circuit is not public); Bernoulli-cell log-domain
integrators: Frey, IEE Proc. G 140 (1993).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from snnx.config.schema import KW, build, spec
from snnx.errors import ConfigError
from snnx.learn import logsgd_circuit as lc
from snnx.learn.bp import BP
from snnx.learn.dfa import DFA
from snnx.learn.logsgd_circuit import CapacitorArray
from snnx.learn.rule import LOSSES, RuleBase, analog_layers
from snnx.nn.record import Adaptable, Record


@dataclasses.dataclass(**KW)
class Params:
    """Log-domain SGD's parameters (recipe: ``adapt.logsgd``); see :class:`LogSGD` and
    :mod:`snnx.learn.logsgd_circuit` for the circuit they describe. [R] = our reconstruction
    inside the ranges of METHODS.md section 8."""

    weight_decay: float = spec(1e-3, lo=0, hi=1, doc="L2 leak lambda = I_lambda/I_tau per step")
    state_bits: int = spec(8, lo=1, hi=24, doc="bits of the capacitor-voltage state")
    loss: str = spec("ce", choices=LOSSES, doc="ce | mse")
    deltas: str = spec("bp", choices=("bp", "dfa"), doc="where the layer errors come from")
    i_min: float = spec(1e-10, lo=0, lo_open=True, doc="A, lowest subthreshold current [R]")
    i_max: float = spec(1e-7, lo=0, lo_open=True, doc="A, highest subthreshold current [R]")
    w_range: float | None = spec(None, lo=0, lo_open=True,
                                 doc="weight magnitude mapped to i_max - i_min; null = from "
                                     "the layer (range_headroom x range_quantile of |W|)")
    range_headroom: float = spec(4.0, lo=1, hi=1000,
                                 doc="range = headroom x the range_quantile of the programmed "
                                     "|W| (room for the weights to grow)")
    range_quantile: float = spec(1.0, lo=0, lo_open=True, hi=1,
                                 doc="quantile of the programmed |W| the range is based on "
                                     "(1 = the largest)")
    n_slope: float = spec(1.3, lo=1, hi=3, doc="subthreshold slope factor n [METHODS 8: ~1.3]")
    temperature_k: float = spec(300.0, lo=0, lo_open=True, doc="K (U_T = kT/q)")
    rounding: str = spec("stochastic", choices=("stochastic", "nearest"),
                         doc="rounding of the state to its codes")
    ktc_noise: bool = spec(True, doc="kT/C noise sqrt(kT/C) on every capacitor hold")
    common_mode: str = spec("reset", choices=("reset", "leak"),
                            doc="reset: remove a pair's common current above the floor after "
                                "every step [R] | leak: only lambda pulls it down (can clip)")
    mismatch: float = spec(0.0, lo=0, hi=1,
                           doc="relative std of every multiplier's gain (fixed per device; "
                               "METHODS 8: 5-10 %)")
    droop: float = spec(0.0, lo=0, doc="capacitor droop, codes lost per step")
    capacitance_f: float = spec(1e-12, lo=0, lo_open=True,
                                doc="F, integrating capacitor [METHODS 8: 1-10 pF]")
    cap_density: float = spec(2e-3, lo=0, lo_open=True,
                              doc="F/m^2, capacitor density (area) [R: MIM ~2 fF/um^2]")
    v_dd: float = spec(1.0, lo=0, lo_open=True, hi=5, doc="V, supply of the analog circuit [R]")
    i_tau: float = spec(1e-9, lo=0, lo_open=True,
                        doc="A, largest integrator bias I_tau [METHODS 8: 1-100 nA]; lowered "
                            "when a row needs longer than eta C n U_T / i_tau")
    i_mult: float = spec(1e-8, lo=0, lo_open=True,
                         doc="A, bias current of one translinear multiplier [R]")
    c_node: float = spec(1e-14, lo=0, lo_open=True,
                         doc="F, node a multiplier settles (gates of its matched devices, "
                             "~10 fF) -> t_mult = ln(2^bits) c_node n U_T / i_mult [R]")
    mult_area: float = spec(1e-11, lo=0, doc="m^2 per translinear multiplier [R]")
    integrator_area: float = spec(1e-11, lo=0,
                                  doc="m^2 per integrator without its capacitor [R]")
    readout_scale: float = spec(1.0, lo=0, lo_open=True, hi=100,
                                doc="ADC full scale of capacitor reads relative to the "
                                    "layer's RRAM read (same converters and reference)")
    update_bias: bool = spec(True, doc="also update the digital biases (with the leak)")

    def __post_init__(self) -> None:
        if self.i_min >= self.i_max:
            raise ConfigError(f"i_min: must be < i_max (got {self.i_min:g} >= {self.i_max:g})")


def sgdr_reference(W0: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, lr: float,
                   weight_decay: float, *, method: str = "exact") -> torch.Tensor:
    """Ideal SGD with L2 on a linear model ``y = W x``: the trajectory, float64.

    ``method="exact"`` integrates the continuous-time flow ``τ dW/dt = (y - Wx)xᵀ - λW``
    exactly over each sample interval (x, y held for Δt = η τ)::

        A = x xᵀ + λ I,   W* = y xᵀ A⁻¹,   W(t+Δt) = W* + (W(t) - W*) exp(-η A)

    ``method="euler"`` is the discrete step ``W <- W + η((y - Wx)xᵀ - λW)`` (the exact
    discrete SGDr the circuit discretises).

    Args:
        W0: (out, in) initial weights.
        xs: (S, in) inputs, one per step. ys: (S, out) targets.
        lr: η = Δt/τ. weight_decay: λ (> 0 for ``exact``).
    Returns:
        (S+1, out, in) weights after 0..S steps.
    """
    W = W0.to(torch.float64).clone()
    xs, ys = xs.to(torch.float64), ys.to(torch.float64)
    n = W.shape[1]
    eye = torch.eye(n, dtype=torch.float64)
    traj = [W.clone()]
    for x, y in zip(xs, ys):
        if method == "euler":
            W = W + lr * (torch.outer(y - W @ x, x) - weight_decay * W)
        elif method == "exact":
            A = torch.outer(x, x) + weight_decay * eye
            Wstar = torch.linalg.solve(A, torch.outer(x, y)).t()  # y xᵀ A⁻¹ (A symmetric)
            W = Wstar + (W - Wstar) @ torch.linalg.matrix_exp(-lr * A)
        else:
            raise ValueError(f"method: {method!r} is not one of exact, euler")
        traj.append(W.clone())
    return torch.stack(traj)


class LogSGD(RuleBase):
    """Leaky log-domain integrator SGD with the weights on capacitors (module docstring).

    Args:
        lr: η = Δt/τ (dimensionless; keep η (λ + ‖x‖²) ≪ 1 for a stable Euler step).
        weight_decay: λ = I_λ/I_τ (L2 leak per unit time τ).
        state_bits: bits of the capacitor-voltage state.
        loss: ``ce`` or ``mse``.
        deltas: where δ_l comes from: ``bp`` or ``dfa``.
        i_min / i_max: subthreshold current range in A.
        w_range: weight magnitude that maps to ``i_max - i_min`` (default: from the layer,
            ``range_headroom`` x the ``range_quantile`` of the programmed |W|).
        range_headroom / range_quantile: see ``w_range``.
        n_slope / temperature_k: subthreshold slope factor n and T (U_T = kT/q).
        rounding: ``stochastic`` or ``nearest``.
        ktc_noise: add kT/C noise ``sqrt(kT/C)`` to the capacitor voltage at every hold.
        common_mode: ``reset`` (remove a pair's shared current after every step) or ``leak``.
        mismatch: relative σ of every multiplier's gain (fixed, seeded).
        droop: capacitor droop in codes per step (leak toward I_min).
        capacitance_f / cap_density: integrating capacitor C (F) and its density (F/m²).
        v_dd: supply in V. i_tau: largest integrator bias in A. i_mult: multiplier bias in A.
        c_node: multiplier output node in F. mult_area / integrator_area: m² each.
        readout_scale: ADC full scale of capacitor reads relative to the layer's RRAM read.
        seed: seed of rounding, noise, mismatch and (for DFA) feedback matrices.
        update_bias: update digital biases with ``b <- b - η(sum δ + λ b)``.

    Attributes:
        params: the :class:`Params` of the circuit.
        arrays: one :class:`~snnx.learn.logsgd_circuit.CapacitorArray` per layer (bound).

    Example:
        >>> import torch, snnx.hw as hw
        >>> from snnx.nn import MLP
        >>> net = MLP([4, 3], activation="identity").to_analog(hw.load("ideal"))
        >>> rule = LogSGD(lr=0.05, loss="mse")
        >>> programmed = net.ledger.counts["pulse"]        # writing the RRAM at deployment
        >>> _ = rule.step(net, torch.randn(2, 4), torch.randn(2, 3))
        >>> type(net.layers[0].tile).__name__, net.ledger.counts["pulse"] == programmed
        ('CapacitorArray', True)
    """

    name = "logsgd"
    Params = Params

    def __init__(self, lr: float = 0.01, *, weight_decay: float = 1e-3, state_bits: int = 8,
                 loss: str = "ce", deltas: str = "bp", i_min: float = 1e-10,
                 i_max: float = 1e-7, w_range: float | None = None,
                 range_headroom: float = 4.0, range_quantile: float = 1.0,
                 n_slope: float = 1.3, temperature_k: float = 300.0,
                 rounding: str = "stochastic", ktc_noise: bool = True,
                 common_mode: str = "reset", mismatch: float = 0.0,
                 droop: float = 0.0, capacitance_f: float = 1e-12, cap_density: float = 2e-3,
                 v_dd: float = 1.0, i_tau: float = 1e-9, i_mult: float = 1e-8,
                 c_node: float = 1e-14, mult_area: float = 1e-11,
                 integrator_area: float = 1e-11, readout_scale: float = 1.0,
                 seed: int = 0, update_bias: bool = True) -> None:
        if not lr > 0:
            raise ValueError(f"lr: must be > 0, got {lr}")
        kw = dict(locals())
        self.params = build(Params, {f.name: kw[f.name] for f in dataclasses.fields(Params)})
        self.lr, self.seed = float(lr), int(seed)
        self._inner: BP | DFA | None = None
        self._setup()
        self.gen = torch.Generator().manual_seed(self.seed)
        self.arrays: list[CapacitorArray] = []
        self._pending: list[dict] | None = None

    def _setup(self) -> None:
        """Copy the rule-level Params to attributes; (re)build the δ source if it changed."""
        p = self.params
        self.weight_decay, self.state_bits = p.weight_decay, p.state_bits
        self.update_bias = p.update_bias
        inner = self._inner
        if inner is None or (self.loss, self.deltas_from) != (p.loss, p.deltas) or (
                isinstance(inner, DFA) and inner.seed != self.seed):
            self._inner = (BP(self.lr, loss=p.loss) if p.deltas == "bp"
                           else DFA(self.lr, loss=p.loss, seed=self.seed))
        self.loss, self.deltas_from = p.loss, p.deltas

    # ------------------------------------------------------------------ circuit numbers
    @property
    def levels(self) -> int:
        """Codes of the state: 2^state_bits."""
        return 1 << self.params.state_bits

    @property
    def rho(self) -> float:
        """Current ratio between adjacent state codes."""
        return math.exp(lc.log_rho(self.params))

    @property
    def u_t(self) -> float:
        """Thermal voltage kT/q in V."""
        return lc.thermal_voltage(self.params)

    @property
    def voltage_step(self) -> float:
        """Capacitor-voltage quantum ΔV = n U_T ln ρ in V."""
        return lc.voltage_step(self.params)

    @property
    def clipped(self) -> int:
        """Integrator updates clipped at ``i_max`` so far (all layers)."""
        return sum(a.clipped for a in self.arrays)

    # ------------------------------------------------------------------ binding
    def _bound(self, layers: list) -> bool:
        return bool(self.arrays) and len(self.arrays) == len(layers) and all(
            lyr.tile is a for lyr, a in zip(layers, self.arrays))

    def bind(self, model: Adaptable) -> None:
        """Load every layer's integrators from its RRAM tile (calibration read-out) and serve
        the layer's reads from them from now on (once per model; a restored state is applied
        instead of the read-out's values)."""
        layers = analog_layers(model)
        self._inner.bind(model)
        if self._bound(layers):
            return
        self.arrays = []
        gen = self.gen.get_state()  # a restored state keeps its generator
        for lyr in layers:
            old = lyr.tile if isinstance(lyr.tile, CapacitorArray) else None
            rram = old.rram if old is not None else lyr.tile
            arr = CapacitorArray(rram, self.params, gen=self.gen, name=lyr.name,
                                 owner=None if old is None else old.owner)
            lyr.tile = arr
            self.arrays.append(arr)
        if self._pending is not None:
            self._load_arrays(self._pending)
            self._pending = None
            self.gen.set_state(gen)

    def weights(self, i: int) -> torch.Tensor:
        """(out, in) float64 weights held by layer i's capacitors."""
        return self.arrays[i].held_weights()

    # ------------------------------------------------------------------ rule
    def deltas(self, model: Adaptable, rec: Record, e: torch.Tensor) -> list[torch.Tensor]:
        """δ_l from the inner BP or DFA (their reads are booked on the ledger)."""
        return self._inner.deltas(model, rec, e)

    def apply(self, model: Adaptable, rec: Record, deltas: list[torch.Tensor]) -> None:
        """Integrate every layer's drive ``-δ_lᵀ x_l`` on its capacitors (layers in parallel;
        biases digital: ``b <- b - η(sum δ + λ b)``)."""
        self.bind(model)
        layers = analog_layers(model)
        with model.ledger.parallel():
            for arr, xi, d in zip(self.arrays, rec.inputs, deltas):
                with model.ledger.branch():
                    drive = -(d.t().to(torch.float64) @ xi.to(torch.float64))
                    arr.integrate(drive, self.lr, self.weight_decay, xi.shape[0])
        if self.update_bias:
            with torch.no_grad():
                for lyr, d in zip(layers, deltas):
                    if lyr.bias is not None:
                        lyr.bias.sub_(self.lr * (d.sum(0).to(lyr.bias.dtype)
                                                 + self.weight_decay * lyr.bias))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Hyper-parameters, circuit Params, every layer's capacitor state, RNG and the
        inner rule's state."""
        arrays = ([a.capacitor_state() for a in self.arrays] if self.arrays
                  else list(self._pending or []))
        return {"name": self.name, "lr": self.lr, "seed": self.seed,
                "params": dataclasses.asdict(self.params), "arrays": arrays,
                "gen": self.gen.get_state(), "inner": self._inner.state_dict()}

    def _load_arrays(self, arrays: list[dict]) -> None:
        if len(arrays) != len(self.arrays):
            raise ValueError(f"state: {len(arrays)} capacitor arrays, the model has "
                             f"{len(self.arrays)} layers")
        for a, s in zip(self.arrays, arrays):
            a.load_capacitor_state(s)

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: now if bound, else at the next :meth:`bind`."""
        self.lr, self.seed = float(state["lr"]), int(state["seed"])
        self.params = build(Params, state["params"], "state.params")
        arrays = self.arrays
        self._setup()
        self._inner.load_state_dict(state["inner"])
        self.gen.set_state(state["gen"])
        for a in arrays:
            a.p = self.params
        if arrays:
            self._load_arrays(state["arrays"])
        else:
            self._pending = [dict(s) for s in state["arrays"]]

    def __repr__(self) -> str:
        return (f"LogSGD(lr={self.lr}, weight_decay={self.weight_decay}, "
                f"state_bits={self.state_bits}, deltas={self.deltas_from!r})")
