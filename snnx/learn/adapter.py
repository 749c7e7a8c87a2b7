"""OnlineAdapter: the streaming loop of a wearable — predict every hop, learn from late labels.

Samples arrive one at a time (C channels). A ring buffer keeps the last ``window`` samples;
once it is full, every ``hop``-th sample completes a window, the analog model runs on it (one
forward on the tiles) and :meth:`OnlineAdapter.step` returns the predicted class. A label
may come later, or never: :meth:`OnlineAdapter.learn` applies one rule step (BP, DFA or
log-domain SGD, all on the tiles) to the most recent complete window, reusing its forward
pass when no update happened since. Evaluation is progressive: predict first, learn second.

Raw sensor samples: give ``preprocess`` (a :class:`~snnx.learn.preprocess.Preprocessing`,
what :meth:`snnx.load_run(...).adapter() <snnx.pipeline.deployed.Deployed.adapter>` does)
and every completed window is resampled, z-scored with the run's source statistics and
shaped for the network before the forward pass; window, hop and channels then come from it.
Without it the samples must already be scaled as the network was trained.

Example (a plain Python loop; the caller needs neither torch nor numpy):

    >>> import snnx.hw as hw
    >>> from snnx.nn import SNN
    >>> net = SNN(channels=3, window=16, hidden=(8,), classes=2, steps=4).to_analog(
    ...     hw.load("ideal"))
    >>> ad = OnlineAdapter(net, "dfa", window=16, hop=8, channels=3, lr=0.05)
    >>> preds = [ad.step([0.1 * i, 0.0, -0.2]) for i in range(24)]
    >>> [i for i, p in enumerate(preds) if p is not None]
    [15, 23]
    >>> ad.learn(1)   # the label of the window that ended at sample 23
"""

from __future__ import annotations

import copy
import logging
import operator
from typing import Any

import numpy as np
import torch

from snnx.errors import ShapeError, SnnxError
from snnx.learn.preprocess import Preprocessing
from snnx.learn.rule import Rule, analog_layers
from snnx.nn.record import Adaptable

log = logging.getLogger(__name__)


class AdapterStateError(SnnxError, RuntimeError):
    """A verb was called in a state where it cannot act (e.g. learn before any window)."""


class OnlineAdapter:
    """Streaming predict / learn around an analog model and an on-line rule.

    Args:
        model: an analog model (``SNN(...).to_analog(hw)`` or ``MLP(...).to_analog(hw)``;
            an MLP gets the window flattened to ``window * channels`` inputs).
        rule: a rule instance or a key of :data:`snnx.learn.RULES` (``bp``, ``dfa``,
            ``logsgd``).
        window: samples per window (default: ``preprocess.window_in``, else 128).
        hop: samples between consecutive windows, ``>= 1`` (default: ``preprocess.hop_in``,
            else 64).
        channels: values per sample (default: the preprocessing's channels, else 9).
        lr: learning rate; overrides the rule's when given.
        preprocess: raw window -> model input (resampling, z-scoring, flattening); window,
            hop and channels default to its own.

    Attributes:
        samples_seen: samples accepted since the last :meth:`reset`.
        windows_seen: windows predicted since the last :meth:`reset`.
        learn_steps: :meth:`learn` calls applied (never reset: the tiles keep what they learnt).
        last_metrics: loss/accuracy of the last learn step (before its update), or None.
    """

    def __init__(self, model: Adaptable, rule: Rule | str = "dfa", *, window: int | None = None,
                 hop: int | None = None, channels: int | None = None, lr: float | None = None,
                 preprocess: Preprocessing | None = None) -> None:
        from snnx.learn import RULES

        self.preprocess = preprocess
        if preprocess is not None:
            given = {"window": (window, preprocess.window_in),
                     "channels": (channels, preprocess.n_channels)}
            for name, (value, own) in given.items():
                if value is not None and int(value) != own:
                    raise ValueError(f"{name}: {value} differs from the preprocessing's {own}")
            window, channels = preprocess.window_in, preprocess.n_channels
            hop = preprocess.hop_in if hop is None else hop
        window = 128 if window is None else window
        hop = 64 if hop is None else hop
        channels = 9 if channels is None else channels
        if int(window) < 1 or int(hop) < 1 or int(channels) < 1:
            raise ValueError(f"window, hop, channels: must be >= 1, got {window}, {hop}, "
                             f"{channels}")
        self.window, self.hop, self.channels = int(window), int(hop), int(channels)
        layers = analog_layers(model)
        seen = (self.window, self.channels) if preprocess is None else (
            preprocess.model_window, preprocess.n_channels)
        if hasattr(model, "window"):
            if (model.window, model.channels) != seen:
                raise ValueError(f"model expects windows of {model.window} x {model.channels}, "
                                 f"adapter has {seen[0]} x {seen[1]}")
            self._flatten = False
        else:
            if layers[0].in_features != seen[0] * seen[1]:
                raise ValueError(f"model has {layers[0].in_features} inputs, a flattened "
                                 f"window has {seen[0] * seen[1]}")
            self._flatten = True
        if isinstance(rule, str):
            rule = RULES.get(rule, "rule")() if lr is None else RULES.get(rule, "rule")(lr=lr)
        elif lr is not None:
            rule.lr = float(lr)
        self.model, self.rule = model, rule
        self.classes = layers[-1].out_features
        self._dtype = layers[0].tile.dtype
        self.rule.bind(model)
        self.learn_steps = 0
        self.last_metrics: dict | None = None
        self.reset()

    # ------------------------------------------------------------------ verbs
    def reset(self) -> None:
        """Empty the ring buffer and forget the last window (the tiles keep their weights)."""
        self._buf = np.zeros((self.window, self.channels), dtype=np.float64)
        self._pos = 0
        self.samples_seen = 0
        self.windows_seen = 0
        self._last_x: torch.Tensor | None = None
        self._last_rec = None

    def _validate(self, sample: Any) -> np.ndarray:
        try:
            a = np.asarray(sample, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ShapeError(f"sample: expected {self.channels} numbers, got "
                             f"{type(sample).__name__} ({err}); sample rejected, state "
                             "unchanged") from None
        if a.shape != (self.channels,):
            raise ShapeError(f"sample: expected {self.channels} values (shape "
                             f"({self.channels},)), got shape {a.shape}; sample rejected, "
                             "state unchanged")
        bad = ~np.isfinite(a)
        if bad.any():
            raise ShapeError(f"sample: contains NaN or inf at channel(s) "
                             f"{np.flatnonzero(bad).tolist()}; sample rejected, state unchanged")
        return a

    def step(self, sample: Any) -> int | None:
        """Push one sample (C numbers); return the predicted class when a window completes.

        A window completes when the buffer has filled (``window`` samples) and then every
        ``hop`` samples.

        Raises:
            ShapeError (a ValueError): wrong shape, not numbers, NaN or inf — the sample is
                rejected and nothing changes.
        """
        a = self._validate(sample)
        self._buf[self._pos] = a
        self._pos = (self._pos + 1) % self.window
        self.samples_seen += 1
        n = self.samples_seen - self.window
        if n < 0 or n % self.hop:
            return None
        win = np.concatenate([self._buf[self._pos:], self._buf[:self._pos]])
        if self.preprocess is not None:
            win = self.preprocess(win)
        x = torch.from_numpy(np.ascontiguousarray(win)).to(self._dtype)
        x = x.reshape(1, -1) if self._flatten else x.unsqueeze(0)
        rec = self.model.record(x)
        self._last_x, self._last_rec = x, rec
        self.windows_seen += 1
        return int(rec.logits[0].argmax())

    def learn(self, label: Any) -> None:
        """Learn from the most recent complete window with class ``label``.

        Reuses that window's forward pass if nothing was learnt since; a second call on the
        same window runs a fresh forward (the weights changed).

        Raises:
            AdapterStateError: no window has completed yet.
            ValueError: label not an integer in [0, classes).
        """
        if self._last_x is None:
            raise AdapterStateError(
                f"learn: no complete window yet ({self.samples_seen} of {self.window} samples "
                "since reset); call step() until it returns a prediction")
        try:
            y = operator.index(label)
        except TypeError:
            raise ValueError(f"label: expected an integer class, got {label!r}") from None
        if not 0 <= y < self.classes:
            raise ValueError(f"label: must be in [0, {self.classes}), got {y}")
        self.last_metrics = self.rule.step(self.model, self._last_x, [y], record=self._last_rec)
        self._last_rec = None
        self.learn_steps += 1
        log.debug("learn %d: label %d, %s", self.learn_steps, y, self.last_metrics)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Buffer, counters, last window, model tiles and biases, ledger and rule state."""
        layers = analog_layers(self.model)
        tiles = []
        for lyr in layers:
            sd = lyr.tile.state_dict()
            sd.pop("ledger", None)
            tiles.append(sd)
        gen = getattr(self.model, "gen", None)
        return {
            "config": {"window": self.window, "hop": self.hop, "channels": self.channels,
                       "rule": self.rule.name},
            "buffer": self._buf.copy(), "pos": self._pos, "samples_seen": self.samples_seen,
            "windows_seen": self.windows_seen, "learn_steps": self.learn_steps,
            "last_x": None if self._last_x is None else self._last_x.clone(),
            "last_record": copy.deepcopy(self._last_rec),
            "tiles": tiles,
            "bias": [None if l.bias is None else l.bias.detach().clone() for l in layers],
            "model_gen": None if gen is None else gen.get_state(),
            "ledger": self.model.ledger.state_dict(),
            "rule": self.rule.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (same window, hop, channels, rule and model shape)."""
        cfg = state["config"]
        mine = {"window": self.window, "hop": self.hop, "channels": self.channels,
                "rule": self.rule.name}
        if cfg != mine:
            raise ValueError(f"state: adapter config {cfg} does not match {mine}")
        layers = analog_layers(self.model)
        if len(state["tiles"]) != len(layers):
            raise ValueError(f"state: {len(state['tiles'])} tiles, model has {len(layers)}")
        for lyr, sd, b in zip(layers, state["tiles"], state["bias"]):
            lyr.tile.load_state_dict(sd, load_ledger=False)
            if b is not None:
                with torch.no_grad():
                    lyr.bias.copy_(b)
        if state["model_gen"] is not None:
            self.model.gen.set_state(state["model_gen"])
        self.model.ledger.load_state_dict(state["ledger"])
        self.rule.load_state_dict(state["rule"])
        self.rule.bind(self.model)
        self._buf = np.array(state["buffer"], dtype=np.float64)
        self._pos, self.samples_seen = int(state["pos"]), int(state["samples_seen"])
        self.windows_seen, self.learn_steps = int(state["windows_seen"]), int(state["learn_steps"])
        self._last_x = None if state["last_x"] is None else state["last_x"].clone()
        self._last_rec = copy.deepcopy(state["last_record"])

    def __repr__(self) -> str:
        return (f"OnlineAdapter(rule={self.rule!r}, window={self.window}, hop={self.hop}, "
                f"channels={self.channels}, samples_seen={self.samples_seen})")
