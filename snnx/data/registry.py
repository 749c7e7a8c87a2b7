"""The dataset registry: one dict from the recipe name of a data source to its loader.

A recipe's ``data:`` block names a ``kind`` and its parameters, e.g.::

    data: {kind: synthetic_har, seed: 0, n_target: 2}
    data: {kind: hdf5, path: my_windows.h5}
    data: {kind: uci_har, path: "~/data/UCI HAR Dataset"}
    data: {kind: digits, test_frac: 0.25}

A new source is one module plus one line in :data:`DATASETS`.

Example:
    >>> load_dataset("digits", seed=1).X.shape
    (1797, 1, 64)
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from snnx.data.dataset import WindowDataset
from snnx.data.digits import load_digits_dataset
from snnx.data.har_synth import synthetic_har
from snnx.data.hdf5 import load_hdf5
from snnx.data.uci_har import load_uci_har
from snnx.errors import ConfigError

DATASETS: dict[str, Callable[..., WindowDataset]] = {
    "synthetic_har": synthetic_har,    # the offline default: UCI-HAR-shaped, seeded
    "uci_har": load_uci_har,           # a user's copy of the UCI HAR Dataset folder
    "hdf5": load_hdf5,                 # the generic layout of DESIGN.md
    "digits": load_digits_dataset,     # scikit-learn's 8x8 digits
}
"""Recipe name -> loader returning a :class:`~snnx.data.dataset.WindowDataset`."""


def _accepted(fn: Callable[..., Any]) -> list[str]:
    if fn is synthetic_har:  # its keys are the fields of HarSynthConfig (checked by build)
        return []
    sig = inspect.signature(fn)
    return [n for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def load_dataset(kind: str, /, **params: Any) -> WindowDataset:
    """Load the dataset ``kind`` with the loader's keyword parameters.

    Args:
        kind: a key of :data:`DATASETS`.
        **params: the loader's parameters (``path`` for hdf5 / uci_har; the
            :class:`~snnx.data.har_synth.HarSynthConfig` keys for synthetic_har; ...).

    Raises:
        ConfigError: unknown kind (``data.kind: ...``), unknown or missing parameter
            (``data.<key>: ...``), or whatever the loader rejects.
    """
    if kind not in DATASETS:
        raise ConfigError(f"data.kind: {kind!r} is not one of {', '.join(sorted(DATASETS))}")
    fn = DATASETS[kind]
    if fn is synthetic_har:
        try:
            return synthetic_har(params)
        except ConfigError as e:
            raise ConfigError(f"data.{e}") from None
    accepted = _accepted(fn)
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(accepted)}"
            raise ConfigError(f"data.{key}: unknown key for kind {kind!r}; {hint}")
    for name, p in inspect.signature(fn).parameters.items():
        if p.default is p.empty and name not in params and name in accepted:
            raise ConfigError(f"data.{name}: required for kind {kind!r}")
    try:
        return fn(**params)
    except ConfigError as e:
        if str(e).split(":", 1)[0] in params:  # a parameter's own check: give its key path
            raise ConfigError(f"data.{e}") from None
        raise
