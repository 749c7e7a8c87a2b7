"""The on-line adapter in river's convention: ``predict_one(x)`` / ``learn_one(x, y)``.

`river <https://riverml.xyz>`_ (Montiel et al., JMLR 2021) is the common library for
streaming machine learning in Python; its models take one observation ``x`` (a dict of
feature -> value) at a time, and ``river.evaluate.progressive_val_score`` predicts each one
before learning from it -- the prequential loop of an snnx run. :func:`river_classifier`
wraps an :class:`~snnx.learn.OnlineAdapter` so that it drops into such code:

* ``x`` is ONE raw sensor sample, ``{channel name: value}`` (channels are taken by name when
  the adapter's preprocessing names them, else in the dict's order);
* ``predict_one(x)`` pushes the sample and returns the class of the latest complete window
  (None before the first window fills); ``predict_proba_one`` gives its softmax;
* ``learn_one(x, y)`` pushes the sample unless ``predict_one`` just did, and when that
  sample completed a window, makes one on-chip rule step with label ``y`` (river's
  "predict first, learn second" is then exactly the adapter's).

Labels are class indices, or class names with ``names=True`` (then predictions are names
too). river is an optional dependency (``pip install 'snnx[stream]'``).

Example::

    from river import evaluate, metrics
    model = river_classifier(snnx.load_run(run).adapter())
    evaluate.progressive_val_score(dataset, model, metrics.Accuracy())
"""

from __future__ import annotations

import math
from typing import Any

from snnx.errors import SnnxError


def _river_base() -> Any:
    try:
        from river import base
    except ImportError:
        raise SnnxError("river: not installed; pip install 'snnx[stream]' (or river) to use "
                        "the adapter in river's convention") from None
    return base


def river_classifier(adapter: Any, *, names: bool = False) -> Any:
    """``adapter`` as a ``river.base.Classifier`` (see the module docstring).

    Args:
        adapter: an :class:`~snnx.learn.OnlineAdapter` (e.g. ``Deployed.adapter()``).
        names: labels and predictions are class names (from the adapter's preprocessing)
            instead of indices.
    """
    base = _river_base()

    class SnnxRiverClassifier(base.Classifier):
        """An snnx OnlineAdapter with river's verbs (one raw sample per call)."""

        def __init__(self, adapter: Any, names: bool = False) -> None:
            self.adapter, self.names = adapter, names
            pre = getattr(adapter, "preprocess", None)
            self._channels = tuple(pre.channels) if pre is not None else None
            self._classes = tuple(pre.classes) if pre is not None else None
            if names and self._classes is None:
                raise SnnxError("names: the adapter has no preprocessing with class names")
            self._pushed: Any = None     # the x predict_one pushed last
            self._fresh = False          # that push completed a window not yet learnt
            self._pred: int | None = None
            self._logits: list[float] | None = None

        @property
        def _multiclass(self) -> bool:
            return True

        def _values(self, x: dict) -> list[float]:
            if self._channels is not None and all(c in x for c in self._channels):
                return [x[c] for c in self._channels]
            return list(x.values())

        def _push(self, x: dict) -> None:
            pred = self.adapter.step(self._values(x))
            self._pushed, self._fresh = x, pred is not None
            if pred is not None:
                self._pred = pred
                self._logits = self.adapter._last_rec.logits[0].tolist()

        def _out(self, c: int | None) -> Any:
            return c if c is None or not self.names else self._classes[c]

        def predict_one(self, x: dict, **kwargs: Any) -> Any:
            self._push(x)
            return self._out(self._pred)

        def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
            self._push(x)
            if self._logits is None:
                return {}
            m = max(self._logits)
            e = [math.exp(v - m) for v in self._logits]
            return {self._out(i): v / sum(e) for i, v in enumerate(e)}

        def learn_one(self, x: dict, y: Any, **kwargs: Any) -> None:
            if x is not self._pushed:
                self._push(x)
            self._pushed = None
            if self._fresh and y is not None:
                self.adapter.learn(self._classes.index(y) if self.names else y)
            self._fresh = False

    return SnnxRiverClassifier(adapter, names)
