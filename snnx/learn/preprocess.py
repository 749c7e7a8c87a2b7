"""Input preprocessing that travels with a deployed model: raw sensor window -> model input.

A run standardises its windows with statistics of the source subjects and may stretch them
in time to a length the network needs (:mod:`snnx.pipeline.data`). A sensor delivers raw
samples, so the deployed model carries the same steps as data, and
:class:`~snnx.learn.OnlineAdapter` applies them to every window it completes:

1. **resample** a window of ``window_in`` samples at the live rate to the ``model_window``
   samples the network sees (``model_window = window`` unless the run stretched its
   windows; ``window_in = window`` unless the live rate differs from the run's
   ``sample_rate_hz``, see :meth:`Preprocessing.at_rate`). ``resample="nearest"`` (default)
   picks ``x'[t] = x[floor(t * window_in / model_window)]``, t = 0 .. model_window - 1.
   ``resample="area"`` first converts the rate with a box filter, each of the ``window``
   samples the average of the live samples its time span covers (fractional overlaps
   weighted; a tone of frequency f sampled at f_s and averaged over r = window_in / window
   samples keeps the gain |sin(pi f r / f_s) / (r sin(pi f / f_s))|, 0.31 at f = 40 Hz for
   100 -> 50 Hz, where nearest folds it to 10 Hz at full amplitude), then stretches
   ``window -> model_window`` by nearest sample as the run did;
2. **z-score** every channel with the source statistics: ``z = (x' - mean) / std``
   (float32, the same arithmetic as the run);
3. **flatten** to ``model_window * C`` values for a network that takes flat inputs (MLP).

Channel order is that of ``channels`` (names as the data source gave them).

Example:
    >>> import numpy as np
    >>> p = Preprocessing(channels=("a", "b"), mean=np.array([1.0, 0.0]),
    ...                   std=np.array([2.0, 1.0]), window=4, hop=2, sample_rate_hz=50.0,
    ...                   classes=("x", "y"))
    >>> p(np.array([[3.0, 1.0]] * 4)).tolist()[0]
    [1.0, 1.0]
    >>> p.at_rate(100.0).window_in
    8
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from snnx.errors import ConfigError


#: rate conversion modes of :class:`Preprocessing`
RESAMPLE = ("nearest", "area")


def box_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of an area (box-filter) resampling: output sample t
    spans [t r, (t + 1) r) in input samples (r = n_in / n_out), input sample s spans
    [s, s + 1), and the weight is their overlap divided by r (each row sums to 1)."""
    r = n_in / n_out
    lo = np.arange(n_out)[:, None] * r
    s = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(lo + r, s + 1) - np.maximum(lo, s), 0.0, None)
    return (overlap / r).astype(np.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class Preprocessing:
    """What turns raw sensor windows into the model's input.

    Attributes:
        channels: (C,) channel names, in the order samples must give them.
        mean, std: (C,) z-scoring statistics in channel units (zeros / ones when the run
            did not standardise).
        window: samples per window in the run's data, at ``sample_rate_hz``.
        hop: samples between window starts (the prediction rate of a live stream).
        sample_rate_hz: the data's sample rate, Hz.
        classes: class names, index = class id.
        model_window: samples per window the network sees (default ``window``).
        flatten: the network takes a window flattened to ``model_window * C`` values.
        window_in: samples per window at the live rate (default ``window``).
        resample: ``nearest`` or ``area`` (box-filter rate conversion, module docstring);
            only matters when ``window_in != window`` or the run stretched its windows.
    """

    channels: Sequence[str]
    mean: np.ndarray
    std: np.ndarray
    window: int
    hop: int
    sample_rate_hz: float
    classes: Sequence[str]
    model_window: int = 0
    flatten: bool = False
    window_in: int = 0
    resample: str = "nearest"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "channels", tuple(str(c) for c in self.channels))
        set_(self, "classes", tuple(str(c) for c in self.classes))
        set_(self, "mean", np.asarray(self.mean, np.float32).reshape(-1))
        set_(self, "std", np.asarray(self.std, np.float32).reshape(-1))
        for name in ("window", "hop", "model_window", "window_in"):
            set_(self, name, int(getattr(self, name)))
        set_(self, "model_window", self.model_window or self.window)
        set_(self, "window_in", self.window_in or self.window)
        C = len(self.channels)
        if self.mean.shape != (C,) or self.std.shape != (C,):
            raise ConfigError(f"preprocessing: mean/std have {self.mean.size}/{self.std.size} "
                              f"values for {C} channels")
        if min(self.window, self.hop, self.model_window, self.window_in) < 1:
            raise ConfigError("preprocessing: window, hop and model_window must be >= 1")
        if self.resample not in RESAMPLE:
            raise ConfigError(f"resample: {self.resample!r} is not one of "
                              f"{', '.join(RESAMPLE)}")
        area = self.resample == "area" and self.window_in != self.window
        n_from = self.window if area else self.window_in  # the nearest step's input length
        idx = (np.arange(self.model_window) * n_from) // self.model_window
        set_(self, "_area", box_weights(self.window_in, self.window) if area else None)
        set_(self, "_index", None if n_from == self.model_window else idx)

    @property
    def n_channels(self) -> int:
        """C, values per sample."""
        return len(self.channels)

    @property
    def hop_in(self) -> int:
        """Samples between predictions at the live rate."""
        return max(1, round(self.hop * self.window_in / self.window))

    def at_rate(self, sample_rate_hz: float | None, resample: str | None = None
                ) -> "Preprocessing":
        """The same preprocessing for a source sampled at ``sample_rate_hz`` (None: the
        run's rate): a window spans the same time, so it holds
        ``round(window * rate / sample_rate_hz)`` live samples. ``resample``: ``nearest``
        or ``area`` (None: keep this one's)."""
        mode = self.resample if resample is None else resample
        if sample_rate_hz is None or float(sample_rate_hz) == self.sample_rate_hz:
            return dataclasses.replace(self, window_in=self.window, resample=mode)
        if not float(sample_rate_hz) > 0:
            raise ConfigError(f"sample_rate_hz: must be > 0, got {sample_rate_hz}")
        n = max(1, round(self.window * float(sample_rate_hz) / self.sample_rate_hz))
        return dataclasses.replace(self, window_in=n, resample=mode)

    def __call__(self, window: Any) -> np.ndarray:
        """One raw window (window_in, C) -> the model input, float32 (model_window, C) or
        (model_window * C,) when ``flatten``; a batch (N, window_in, C) works the same."""
        x = np.asarray(window, np.float32)
        if self._area is not None:
            x = np.matmul(self._area, x)
        if self._index is not None:
            x = x[..., self._index, :]
        z = (x - self.mean) / self.std
        return z.reshape(*z.shape[:-2], -1) if self.flatten else z

    def to_dict(self) -> dict:
        """Plain values (lists of names, float32 arrays, numbers) for a checkpoint."""
        return {"channels": list(self.channels), "mean": self.mean.copy(),
                "std": self.std.copy(), "window": self.window, "hop": self.hop,
                "sample_rate_hz": float(self.sample_rate_hz), "classes": list(self.classes),
                "model_window": self.model_window, "flatten": bool(self.flatten)}

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (statistics as lists; float32 values round-trip)."""
        d = self.to_dict()
        d["mean"], d["std"] = [float(v) for v in d["mean"]], [float(v) for v in d["std"]]
        return json.dumps(d, indent=1) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        """Inverse of :meth:`to_dict`."""
        keys = ("channels", "mean", "std", "window", "hop", "sample_rate_hz", "classes",
                "model_window", "flatten")
        return cls(**{k: d[k] for k in keys if k in d})
