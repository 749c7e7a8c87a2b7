"""Direct Feedback Alignment on the crossbar: one small feedback tile per hidden layer.

For L layers with C outputs and output error ``e = dL/dlogits`` (B, C)::

    δ_L = e ⊙ f'(a_L)                        (as BP: model.output_delta)
    δ_l = (B_l e) ⊙ f'(a_l)                   l = 1 .. L-1, all layers in parallel
    W_l <- W_l - lr δ_l^T x_l                 (tile.outer_update, all layers)

``B_l`` (n_l x C) is fixed and random — ``U(-1, 1)/sqrt(C)`` (``feedback="uniform"``) or
``±1`` (``"sign"``), seeded — and is programmed on its OWN small :class:`Tile` that shares
the model's ledger (its cells, ADCs and DACs appear in the area table). ``B_l e`` is that
tile's forward ``mvm``: no transposed read and no row-side ADCs on the big weight arrays.
All hidden layers' feedback reads are one parallel ledger step (latency = the slowest).

Feedback arrays (``feedback_array="fit"``, default): a feedback matrix has only C inputs, so
its tile uses an array sized to it — C rows x n_l columns (capped at the model's array
size). Its ADC range follows the same rule as every other read of the model
(:func:`snnx.hw.readout.full_scale`: full scale from the cells used on the sensed line,
``adc_clip * sqrt(C * n_ref)`` with the model's reference line), the rule backprop's
transposed reads get too; ``feedback_adc_clip`` sets instead a full scale of that fraction
of the worst-case current of C rows (snnx 0.1 used 0.5). ``feedback_array="macro"`` uses
the model's hardware model unchanged.

Feedback compute (``feedback_compute``): ``tile`` (default) reads B_l e on the feedback
tiles; ``digital`` computes it in the digital periphery instead, ``rows * n_l * C``
multiply-accumulates booked on the ledger (``mac``; B_l held in digital memory, whose area is
not modelled), no feedback arrays at all.

Spiking networks: ``f'`` is the surrogate derivative ``H'(u_l[t] - θ)`` at every step; no
temporal recursion is propagated in the hidden layers (DFA is local in time). The error
``e`` is

* ``error="window"`` (default): the window's output error, projected once per sample
  (feedback tile read with B rows) and broadcast to every time step, scaled by
  ``dlogits/d(step output)`` (1/T for the membrane readout);
* ``error="step"``: the output layer's per-step error ``δ_L[t]`` (T*B rows through the
  feedback tile: T times the feedback reads, a temporally resolved error).

Convolutional networks (:class:`snnx.nn.CNN`): a model may size each feedback tile itself
(``model.feedback_features(l, conv_feedback)``) and turn its read into rows
(``model.expand_feedback(l, rec, v, conv_feedback)``). For a conv layer with C_l channels
and L_l output positions, ``conv_feedback="maps"`` (default) projects the error to every
element of the output maps (a C_l L_l x C tile: each position gets its own random
projection); ``"channels"`` uses a C_l x C tile and broadcasts each channel's error over the
L_l positions (fewer cells, a spatially uniform error gated only by ``f'``). The patch rows
fold the positions into the batch, so the write is the usual ``outer_update``.

Reference: Nøkland, "Direct Feedback Alignment Provides Learning in Deep Neural Networks",
NeurIPS 2016; on-line SNN/RRAM setting: METHODS.md section 7.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from snnx.config.schema import KW, spec
from snnx.config.seeds import derive
from snnx.hw.config import HWConfig
from snnx.hw.cost import book_macs
from snnx.hw.presets import load
from snnx.hw.tile import Tile
from snnx.learn.rule import LOSSES, RuleBase, analog_layers
from snnx.nn.record import Adaptable, Record

FEEDBACK = ("uniform", "sign")
ARRAYS = ("fit", "macro")
COMPUTE = ("tile", "digital")
ERRORS = ("window", "step")
CONV_FEEDBACK = ("maps", "channels")


@dataclasses.dataclass(**KW)
class Params:
    """DFA's parameters (recipe: ``adapt.dfa``)."""

    loss: str = spec("ce", choices=LOSSES, doc="ce (labels) | mse (targets)")
    feedback: str = spec("uniform", choices=FEEDBACK,
                         doc="fixed feedback B: uniform U(-1,1)/sqrt(classes) | sign (+-1)")
    scale: float = spec(1.0, lo=0, lo_open=True, hi=1000, doc="multiplies B, in (0, 1000]")
    error: str = spec("window", choices=ERRORS,
                      doc="spiking nets: window (the window's error, every step) | step "
                          "(the output layer's per-step error)")
    feedback_hw: str | None = spec(None, doc="hardware preset or YAML path of the feedback "
                                             "tiles; null = the model's")
    feedback_array: str = spec("fit", choices=ARRAYS,
                               doc="fit: arrays sized to B_l with a calibrated ADC range | "
                                   "macro: the hardware model unchanged")
    feedback_adc_clip: float | None = spec(None, lo=0, lo_open=True, hi=1,
                                           doc="null: fitted feedback arrays get the model's "
                                               "ADC-range rule (as every read); a number: "
                                               "full scale = this fraction of the "
                                               "worst-case current of C rows")
    feedback_compute: str = spec("tile", choices=COMPUTE,
                                 doc="tile: B_l e read on feedback tiles | digital: computed "
                                     "in the digital periphery (rows*n_l*C MACs booked)")
    conv_feedback: str = spec("maps", choices=CONV_FEEDBACK,
                              doc="conv layers: maps (a feedback output per output-map "
                                  "element) | channels (one per channel, broadcast over "
                                  "positions)")
    update_bias: bool = spec(True, doc="also update the digital biases")


def feedback_matrix(n: int, classes: int, kind: str, gen: torch.Generator,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A fixed random feedback matrix B (n, classes): U(-1,1)/sqrt(C) or ±1."""
    u = torch.rand(n, classes, generator=gen, dtype=torch.float64) * 2 - 1
    if kind == "uniform":
        return (u / math.sqrt(classes)).to(dtype)
    if kind == "sign":
        return torch.where(u >= 0, 1.0, -1.0).to(dtype)
    raise ValueError(f"feedback: {kind!r} is not one of {', '.join(FEEDBACK)}")


class DFA(RuleBase):
    """Direct Feedback Alignment with feedback matrices on their own tiles.

    Args:
        lr: learning rate η (> 0).
        loss: ``ce`` (labels) or ``mse`` (targets).
        feedback: ``uniform`` (U(-1,1)/sqrt(C)) or ``sign`` (±1).
        scale: multiplies the feedback matrices.
        error: ``window`` or ``step`` (spiking networks, see module docstring).
        seed: seed of the feedback matrices and of their tiles.
        feedback_hw: hardware model of the feedback tiles (default: the model's).
        feedback_array: ``fit`` (array sized to B_l) or ``macro`` (feedback_hw unchanged).
        feedback_adc_clip: None (the model's ADC-range rule) or the ADC full scale of
            fitted feedback arrays as a fraction of the worst-case current of C rows.
        feedback_compute: ``tile`` or ``digital`` (see module docstring).
        conv_feedback: conv layers: ``maps`` or ``channels`` (see module docstring).
        update_bias: also update the digital biases.

    Attributes:
        B: the intended feedback matrices (n_l, C), one per hidden layer (after bind).
        tiles: the feedback tiles holding them.
    """

    name = "dfa"
    Params = Params

    def __init__(self, lr: float = 0.01, *, loss: str = "ce", feedback: str = "uniform",
                 scale: float = 1.0, error: str = "window", seed: int = 0,
                 feedback_hw: HWConfig | str | None = None, feedback_array: str = "fit",
                 feedback_adc_clip: float | None = None, feedback_compute: str = "tile",
                 conv_feedback: str = "maps",
                 update_bias: bool = True) -> None:
        if not lr > 0:
            raise ValueError(f"lr: must be > 0, got {lr}")
        for key, val, allowed in (("loss", loss, LOSSES), ("feedback", feedback, FEEDBACK),
                                  ("error", error, ERRORS), ("feedback_array", feedback_array,
                                                             ARRAYS),
                                  ("feedback_compute", feedback_compute, COMPUTE),
                                  ("conv_feedback", conv_feedback, CONV_FEEDBACK)):
            if val not in allowed:
                raise ValueError(f"{key}: {val!r} is not one of {', '.join(allowed)}")
        if not scale > 0:
            raise ValueError(f"scale: must be > 0, got {scale}")
        self.lr, self.loss, self.feedback, self.error = float(lr), loss, feedback, error
        self.scale = float(scale)
        self.seed, self.feedback_hw, self.update_bias = int(seed), feedback_hw, bool(update_bias)
        self.feedback_array, self.feedback_compute = feedback_array, feedback_compute
        self.feedback_adc_clip = None if feedback_adc_clip is None else float(feedback_adc_clip)
        self.conv_feedback = conv_feedback
        self.B: list[torch.Tensor] = []
        self.tiles: list[Tile] = []
        self._pending: dict | None = None
        self._ledger = None  #: the ledger digital feedback is booked to (after bind)
        self._hw: HWConfig | None = None

    # ------------------------------------------------------------------ hardware
    def bind(self, model: Adaptable) -> None:
        """Program one feedback tile B_l (n_l x C) per hidden layer (once per model shape)."""
        layers = analog_layers(model)
        C = layers[-1].out_features
        sized = getattr(model, "feedback_features", None)
        shapes = [(lyr.out_features if sized is None else sized(i, self.conv_feedback), C)
                  for i, lyr in enumerate(layers[:-1])]
        if self.feedback_compute == "digital":
            if [tuple(b.shape) for b in self.B] != shapes or self._ledger is not model.ledger:
                self._make_B(shapes, layers[0].tile.dtype)
                self.tiles, self._ledger = [], model.ledger
                self._hw = load(self.feedback_hw if self.feedback_hw is not None else model.hw)
            if self._pending is not None:
                self.B = [b.clone() for b in self._pending["B"]]
                self._pending = None
            return
        if [tuple(t.shape) for t in self.tiles] == shapes and self.tiles and \
                self.tiles[0].ledger is model.ledger:
            return
        base = load(self.feedback_hw if self.feedback_hw is not None else model.hw)
        self._make_B(shapes, layers[0].tile.dtype)
        self.tiles = []
        for i, B in enumerate(self.B):
            hw = base
            if self.feedback_array == "fit":
                over = {"array.rows": min(C, base.array.rows),
                        "array.cols": min(B.shape[0], base.array.cols)}
                if self.feedback_adc_clip is not None:  # a fixed fraction of C rows
                    over.update({"periphery.adc_clip": self.feedback_adc_clip,
                                 "periphery.adc_range": "array"})
                else:  # the model's rule, referred to the model's full line
                    p = base.periphery
                    over["periphery.adc_ref_cells"] = (base.array.rows if p.adc_ref_cells
                                                       is None else p.adc_ref_cells)
                hw = load(base, **over)
            self.tiles.append(Tile(B, hw, seed=derive(self.seed, "dfa.feedback_tile", i),
                                   ledger=model.ledger,
                                   name=f"dfa_B{i}"))
        if self._pending is not None:
            self._load_tiles(self._pending)
            self._pending = None

    def _make_B(self, shapes: list, dtype: torch.dtype) -> None:
        C = shapes[0][1] if shapes else 0
        gen = torch.Generator().manual_seed(self.seed)
        self.B = [feedback_matrix(n, C, self.feedback, gen, dtype) for n, _ in shapes]
        if self.scale != 1.0:
            self.B = [b * self.scale for b in self.B]

    def _feedback(self, model: Adaptable, src: torch.Tensor) -> list[torch.Tensor]:
        """B_l src for every hidden layer, as one parallel ledger step."""
        led = model.ledger
        fb = []
        with led.parallel():
            for i, B in enumerate(self.B):
                with led.branch():
                    if self.feedback_compute == "digital":
                        fb.append(src @ B.t().to(src.dtype))
                        book_macs(led, self._hw, src.shape[0] * B.numel())
                    else:
                        fb.append(self.tiles[i].mvm(src))
        return fb

    # ------------------------------------------------------------------ rule
    def deltas(self, model: Adaptable, rec: Record, e: torch.Tensor) -> list[torch.Tensor]:
        """δ_L as BP; hidden δ_l = (B_l e) ⊙ f'(a_l), all feedback reads in parallel."""
        self.bind(model)
        layers = analog_layers(model)
        d_out = model.output_delta(rec, e)
        src = e if self.error == "window" else d_out
        fb = self._feedback(model, src)
        out = []
        expand = getattr(model, "expand_feedback", None)
        for i in range(len(layers) - 1):
            if expand is not None:
                v = expand(i, rec, fb[i], self.conv_feedback)
            else:
                v = model.expand_error(rec, fb[i]) if self.error == "window" else fb[i]
            out.append(v * model.local_deriv(i, rec))
        out.append(d_out)
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Hyper-parameters, the feedback matrices and their tiles' state (without ledger)."""
        tiles = []
        for t in self.tiles:
            sd = t.state_dict()
            sd.pop("ledger", None)
            tiles.append(sd)
        return {"name": self.name, "lr": self.lr, "loss": self.loss, "feedback": self.feedback,
                "scale": self.scale, "error": self.error, "seed": self.seed, "update_bias": self.update_bias,
                "feedback_array": self.feedback_array,
                "feedback_adc_clip": self.feedback_adc_clip,
                "feedback_compute": self.feedback_compute,
                "conv_feedback": self.conv_feedback,
                "B": [b.clone() for b in self.B], "tiles": tiles}

    def _load_tiles(self, state: dict) -> None:
        if len(state["tiles"]) != len(self.tiles):
            raise ValueError(f"state: {len(state['tiles'])} feedback tiles, the model needs "
                             f"{len(self.tiles)}")
        for t, sd in zip(self.tiles, state["tiles"]):
            t.load_state_dict(sd, load_ledger=False)
        self.B = [b.clone() for b in state["B"]]

    def load_state_dict(self, state: dict) -> None:
        """Restore; feedback tiles are restored now if bound, else at the next bind."""
        self.lr, self.loss, self.feedback = float(state["lr"]), state["loss"], state["feedback"]
        self.error, self.seed = state["error"], int(state["seed"])
        self.scale = float(state.get("scale", 1.0))
        self.update_bias = bool(state["update_bias"])
        self.feedback_array = state["feedback_array"]
        clip = state["feedback_adc_clip"]
        self.feedback_adc_clip = None if clip is None else float(clip)
        self.feedback_compute = state.get("feedback_compute", "tile")
        self.conv_feedback = state.get("conv_feedback", "maps")
        if self.feedback_compute == "digital" and self._ledger is not None:
            self.B = [b.clone() for b in state["B"]]
        elif self.tiles:
            self._load_tiles(state)
        else:
            self._pending = state

    def __repr__(self) -> str:
        return (f"DFA(lr={self.lr}, loss={self.loss!r}, feedback={self.feedback!r}, "
                f"scale={self.scale}, error={self.error!r}, seed={self.seed})")
