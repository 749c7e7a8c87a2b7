"""Log-domain analog SGD with L2 leak (METHODS.md section 8).

Continuous-time SGD with weight decay is the leaky integrator
``τ dW/dt = -δ^T x - λ W`` (for a linear regressor ``δ = W x - y``, i.e. ``e x^T - λW`` with
``e = y - Wx``). Discretised with step ``Δt`` and ``η = Δt/τ``::

    W <- W + η (-δ^T x - λ W)

Circuit model [R] — each weight is a differential pair of log-domain (Bernoulli-cell)
integrators; weight ``w = (I⁺ - I⁻)/I_w``, each current set by a capacitor voltage::

    I± = I_0 exp(V±/(n U_T)),      τ dI±/dt = I_in± - λ I±,   I_in± = I_w max(±(-δ^T x), 0)

(the translinear multiplier's product drives the side of its sign; both sides leak with the
bias-current ratio λ = I_λ/I_τ, so the common mode decays too). The capacitor voltage is the
state and is quantised to ``state_bits``: ``V = k ΔV``, ``k ∈ {0 .. 2^bits - 1}``, currents on
a log grid ``I(k) = I_min ρ^k``, ``ρ = (I_max/I_min)^(1/(2^bits-1))`` (subthreshold range
``I_min .. I_max``, default 100 pA .. 100 nA), so the voltage step is ``ΔV = n U_T ln ρ``.
Per step the currents are advanced by one Euler step, clipped to the subthreshold range and
mapped back to a code (stochastic rounding by default, seeded; ``nearest`` drops updates
smaller than half a step). Optional non-idealities: per-device multiplier gain mismatch
(``mismatch``, σ relative) and capacitor droop (``droop``, codes lost per step).

Crossbar: the integrators are this rule's weight memory; the layer's tile mirrors them for the
forward read. Each step the change of the represented weights ``ΔW`` (gradient term, L2 leak
and quantisation together) is written to the tile as ONE row-parallel outer-product write,
``tile.outer_update(I_in, -ΔW^T, 1)`` (x = the identity rows: row i's pulses carry column i of
ΔW), so the decay term also reaches the cells as pulses. At :meth:`LogSGD.bind` the
integrators are loaded once from the array (``tile.read_weight()``, a calibration read-out)
and the quantisation residue is written back, so tile and state agree at the start.

The per-layer errors δ_l come from BP (default) or DFA (``deltas="dfa"``).

Reference: the log-domain SGDr circuit of METHODS.md section 8 (subthreshold MOS, weights on
capacitors; our reconstruction, the exact circuit is not public); Bernoulli-cell log-domain
integrators: Frey, IEE Proc. G 140 (1993).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from snnx.config.schema import KW, spec
from snnx.errors import ConfigError
from snnx.learn.bp import BP
from snnx.learn.dfa import DFA
from snnx.learn.rule import LOSSES, RuleBase, analog_layers
from snnx.nn.record import Adaptable, Record

K_B, Q_E = 1.380649e-23, 1.602176634e-19


@dataclasses.dataclass(**KW)
class Params:
    """Log-domain SGD's parameters (recipe: ``adapt.logsgd``); see :class:`LogSGD`."""

    weight_decay: float = spec(1e-3, lo=0, hi=1, doc="L2 leak lambda = I_lambda/I_tau per step")
    state_bits: int = spec(8, lo=1, hi=24, doc="bits of the capacitor-voltage state")
    loss: str = spec("ce", choices=LOSSES, doc="ce | mse")
    deltas: str = spec("bp", choices=("bp", "dfa"), doc="where the layer errors come from")
    i_min: float = spec(1e-10, lo=0, lo_open=True, doc="A, lowest subthreshold current")
    i_max: float = spec(1e-7, lo=0, lo_open=True, doc="A, highest subthreshold current")
    w_range: float | None = spec(None, lo=0, lo_open=True,
                                 doc="weight magnitude mapped to i_max - i_min; null = the "
                                     "tile's w_max")
    n_slope: float = spec(1.3, lo=1, hi=3, doc="subthreshold slope factor n")
    temperature_k: float = spec(300.0, lo=0, lo_open=True, doc="K (U_T = kT/q)")
    rounding: str = spec("stochastic", choices=("stochastic", "nearest"),
                         doc="rounding of the state to its codes")
    mismatch: float = spec(0.0, lo=0, hi=1, doc="relative std of the multipliers' gain")
    droop: float = spec(0.0, lo=0, doc="capacitor droop, codes lost per step")
    capacitance_f: float = spec(1e-12, lo=0, lo_open=True, doc="F, integrating capacitor")
    cap_density: float = spec(2e-3, lo=0, lo_open=True, doc="F/m^2, capacitor density (area)")
    update_bias: bool = spec(True, doc="also update the digital biases (with the leak)")

    def __post_init__(self) -> None:
        if self.i_min >= self.i_max:
            raise ConfigError(f"i_min: must be < i_max (got {self.i_min:g} >= {self.i_max:g})")


def sgdr_reference(W0: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, lr: float,
                   weight_decay: float, *, method: str = "exact") -> torch.Tensor:
    """Ideal SGD with L2 on a linear model ``y = W x``: the trajectory, float64.

    ``method="exact"`` integrates the continuous-time flow ``τ dW/dt = (y - Wx)x^T - λW``
    exactly over each sample interval (x, y held for Δt = η τ)::

        A = x x^T + λ I,   W* = y x^T A^{-1},   W(t+Δt) = W* + (W(t) - W*) exp(-η A)

    ``method="euler"`` is the discrete step ``W <- W + η((y - Wx)x^T - λW)``.

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
            Wstar = torch.linalg.solve(A, torch.outer(x, y)).t()  # y x^T A^-1 (A symmetric)
            W = Wstar + (W - Wstar) @ torch.linalg.matrix_exp(-lr * A)
        else:
            raise ValueError(f"method: {method!r} is not one of exact, euler")
        traj.append(W.clone())
    return torch.stack(traj)


class LogSGD(RuleBase):
    """Leaky log-domain integrator SGD with quantised capacitor state (see module docstring).

    Args:
        lr: η = Δt/τ (dimensionless; keep η (λ + ‖x‖²) ≪ 1 for a stable Euler step).
        weight_decay: λ = I_λ/I_τ (L2 leak per unit time τ).
        state_bits: bits of the capacitor-voltage state.
        loss: ``ce`` or ``mse``.
        deltas: where δ_l comes from: ``bp`` or ``dfa``.
        i_min / i_max: subthreshold current range in A.
        w_range: weight magnitude that maps to ``i_max - i_min`` (default: the tile's range).
        n_slope / temperature_k: subthreshold slope factor n and T (U_T = kT/q).
        rounding: ``stochastic`` or ``nearest``.
        mismatch: relative σ of the per-device multiplier gain (fixed, seeded).
        droop: capacitor droop in codes per step (leak toward I_min).
        capacitance_f / cap_density: integrating capacitor C (F) and its density (F/m²), for
            the area the capacitors occupy (registered in the ledger as ``logsgd/caps``).
        seed: seed of rounding, mismatch and (for DFA) feedback matrices.
        update_bias: update digital biases with ``b <- b - η(sum δ + λ b)``.
    """

    name = "logsgd"
    Params = Params

    def __init__(self, lr: float = 0.01, *, weight_decay: float = 1e-3, state_bits: int = 8,
                 loss: str = "ce", deltas: str = "bp", i_min: float = 1e-10,
                 i_max: float = 1e-7, w_range: float | None = None, n_slope: float = 1.3,
                 temperature_k: float = 300.0, rounding: str = "stochastic",
                 mismatch: float = 0.0, droop: float = 0.0, capacitance_f: float = 1e-12,
                 cap_density: float = 2e-3, seed: int = 0, update_bias: bool = True) -> None:
        if not lr > 0:
            raise ValueError(f"lr: must be > 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay: must be >= 0, got {weight_decay}")
        if not 1 <= int(state_bits) <= 24:
            raise ValueError(f"state_bits: must be in 1..24, got {state_bits}")
        if not 0 < i_min < i_max:
            raise ValueError(f"i_min, i_max: need 0 < i_min < i_max, got {i_min}, {i_max}")
        if loss not in LOSSES:
            raise ValueError(f"loss: {loss!r} is not one of {', '.join(LOSSES)}")
        if rounding not in ("stochastic", "nearest"):
            raise ValueError(f"rounding: {rounding!r} is not one of stochastic, nearest")
        if deltas not in ("bp", "dfa"):
            raise ValueError(f"deltas: {deltas!r} is not one of bp, dfa")
        self.lr, self.weight_decay, self.state_bits = float(lr), float(weight_decay), int(state_bits)
        self.loss, self.deltas_from, self.rounding = loss, deltas, rounding
        self.i_min, self.i_max, self.w_range = float(i_min), float(i_max), w_range
        self.n_slope, self.temperature_k = float(n_slope), float(temperature_k)
        self.mismatch, self.droop = float(mismatch), float(droop)
        self.capacitance_f, self.cap_density = float(capacitance_f), float(cap_density)
        self.seed, self.update_bias = int(seed), bool(update_bias)
        self._inner = (BP(lr, loss=loss) if deltas == "bp" else DFA(lr, loss=loss, seed=seed))
        self.gen = torch.Generator().manual_seed(self.seed)
        self.codes: list[torch.Tensor] = []     # per layer (2, out, in) float codes (integers)
        self.gain: list[torch.Tensor | None] = []
        self.i_w: list[float] = []               # A per weight unit, per layer
        self._model_id: int | None = None
        self._restored = False

    # ------------------------------------------------------------------ circuit numbers
    @property
    def levels(self) -> int:
        return 1 << self.state_bits

    @property
    def rho(self) -> float:
        """Current ratio between adjacent state codes."""
        return (self.i_max / self.i_min) ** (1.0 / (self.levels - 1))

    @property
    def u_t(self) -> float:
        """Thermal voltage kT/q in V."""
        return K_B * self.temperature_k / Q_E

    @property
    def voltage_step(self) -> float:
        """Capacitor-voltage quantum ΔV = n U_T ln ρ in V."""
        return self.n_slope * self.u_t * math.log(self.rho)

    def _current(self, codes: torch.Tensor) -> torch.Tensor:
        return self.i_min * torch.exp(codes * math.log(self.rho))

    def _quantise(self, I: torch.Tensor) -> torch.Tensor:
        k = torch.log(I.clamp(self.i_min, self.i_max) / self.i_min) / math.log(self.rho)
        if self.rounding == "stochastic":
            k = torch.floor(k + torch.rand(k.shape, generator=self.gen, dtype=k.dtype))
        else:
            k = torch.round(k)
        return k.clamp_(0, self.levels - 1)

    def _weights(self, i: int) -> torch.Tensor:
        I = self._current(self.codes[i])
        return (I[0] - I[1]) / self.i_w[i]

    # ------------------------------------------------------------------ binding
    def bind(self, model: Adaptable) -> None:
        """Load the integrators from the tiles (once per model) and align the tiles to them.

        After :meth:`load_state_dict` the restored integrator state is kept instead.
        """
        if self._model_id == id(model) and self.codes:
            return
        layers = analog_layers(model)
        self._inner.bind(model)
        restored = bool(self.codes) and self._restored
        if restored and [tuple(c.shape[1:]) for c in self.codes] != \
                [(lyr.out_features, lyr.in_features) for lyr in layers]:
            raise ValueError("state: integrator shapes do not match the model's layers")
        if not restored:
            self.codes, self.gain, self.i_w = [], [], []
        for i, lyr in enumerate(layers):
            if not restored:
                W = lyr.tile.read_weight().to(torch.float64)
                rng = self.w_range if self.w_range is not None else lyr.tile.w_max
                i_w = (self.i_max - self.i_min) / rng
                I = torch.stack([self.i_min + i_w * W.clamp(min=0),
                                 self.i_min + i_w * (-W).clamp(min=0)])
                k = torch.log(I.clamp(self.i_min, self.i_max) / self.i_min) / math.log(self.rho)
                self.codes.append(torch.round(k).clamp_(0, self.levels - 1))
                self.i_w.append(i_w)
                g = None
                if self.mismatch > 0:
                    g = 1.0 + self.mismatch * torch.randn(I.shape, generator=self.gen,
                                                          dtype=I.dtype)
                self.gain.append(g)
                self._write(lyr, self._weights(i) - W)
            key = f"logsgd_{lyr.name}/caps"
            n_cells = 2 * lyr.in_features * lyr.out_features
            model.ledger.register_area(key, n_cells * self.capacitance_f / self.cap_density)
        self._model_id = id(model)
        self._restored = False

    @staticmethod
    def _write(lyr, dW: torch.Tensor) -> None:
        """W <- W + dW on the tile as one row-parallel outer-product write (x = identity)."""
        n = lyr.in_features
        eye = torch.eye(n, dtype=lyr.tile.dtype)
        lyr.tile.outer_update(eye, -dW.t().to(lyr.tile.dtype), 1.0)

    # ------------------------------------------------------------------ rule
    def deltas(self, model: Adaptable, rec: Record, e: torch.Tensor) -> list[torch.Tensor]:
        """δ_l from the inner BP or DFA (their reads are booked on the ledger)."""
        return self._inner.deltas(model, rec, e)

    def integrate(self, i: int, drive: torch.Tensor) -> torch.Tensor:
        """Advance layer i's integrators by one step with drive ``-δ^T x`` (out, in).

        Returns the change of the represented weights ΔW (out, in), float64.
        """
        W_old = self._weights(i)
        I = self._current(self.codes[i])
        inp = torch.stack([drive.clamp(min=0), (-drive).clamp(min=0)]) * self.i_w[i]
        if self.gain[i] is not None:
            inp = inp * self.gain[i]
        I_new = I + self.lr * (inp - self.weight_decay * I)
        k = self._quantise(I_new)
        if self.droop:
            k = (k - self.droop).clamp_(0, self.levels - 1)
        self.codes[i] = k
        return self._weights(i) - W_old

    def apply(self, model: Adaptable, rec: Record, deltas: list[torch.Tensor]) -> None:
        """Integrate every layer's drive ``-δ_l^T x_l`` and write the weight changes
        (one parallel write step; biases digital: ``b <- b - η(sum δ + λ b)``)."""
        self.bind(model)
        layers = analog_layers(model)
        with model.ledger.parallel():
            for i, (lyr, xi, d) in enumerate(zip(layers, rec.inputs, deltas)):
                dW = self.integrate(i, -(d.t().to(torch.float64) @ xi.to(torch.float64)))
                with model.ledger.branch():
                    self._write(lyr, dW)
        if self.update_bias:
            with torch.no_grad():
                for lyr, d in zip(layers, deltas):
                    if lyr.bias is not None:
                        lyr.bias.sub_(self.lr * (d.sum(0).to(lyr.bias.dtype)
                                                 + self.weight_decay * lyr.bias))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Hyper-parameters, integrator codes, mismatch, RNG and the inner rule's state."""
        return {"name": self.name, "lr": self.lr, "weight_decay": self.weight_decay,
                "state_bits": self.state_bits, "codes": [c.clone() for c in self.codes],
                "gain": [None if g is None else g.clone() for g in self.gain],
                "i_w": list(self.i_w), "gen": self.gen.get_state(),
                "inner": self._inner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the model must be bound or is bound later)."""
        self.lr, self.weight_decay = float(state["lr"]), float(state["weight_decay"])
        self.state_bits = int(state["state_bits"])
        self.codes = [c.clone() for c in state["codes"]]
        self.gain = [None if g is None else g.clone() for g in state["gain"]]
        self.i_w = list(state["i_w"])
        self.gen.set_state(state["gen"])
        self._inner.load_state_dict(state["inner"])
        self._model_id = None
        self._restored = True

    def __repr__(self) -> str:
        return (f"LogSGD(lr={self.lr}, weight_decay={self.weight_decay}, "
                f"state_bits={self.state_bits}, deltas={self.deltas_from!r})")
