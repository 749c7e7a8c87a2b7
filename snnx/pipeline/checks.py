"""Checks a run makes on its prepared data before building anything: classes, memory.

* :func:`check_classes` refuses data a classifier cannot be trained or judged on: a single
  class, or a class with no source (pretraining) windows. Such a run would report a
  meaningless 100 % or never predict that class.
* :func:`check_memory` estimates the memory a recipe needs (:func:`estimate_memory`) from
  the layer sizes alone, before any weight is allocated, and refuses a run that cannot fit
  in what this machine has available, with the estimate in the message.

Example:
    >>> est = estimate_memory([72, 128, 64, 6], batch=64, steps=16, cells_per_weight=2,
    ...                       rule="dfa", windows=5000, window_values=1152)
    >>> 1e6 < est["total"] < 1e8
    True
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from snnx.errors import ConfigError

F32 = 4
"""Bytes per float32 value."""
POOL_BYTES = 2 * (1 << 20) * F32
"""A tile's two random-number pools (:mod:`snnx.hw.rng`), bytes."""
HEADROOM = 0.8
"""Share of the available memory a run may plan to use."""


def _data_key(recipe: Any) -> str:
    kind = recipe.data.kind
    return f"data.{kind}.path" if hasattr(recipe.data_params, "path") else f"data.{kind}"


def check_classes(data: Any, recipe: Any) -> None:
    """Refuse one-class data and classes without source training windows.

    Raises:
        ConfigError: ``data.<kind>[.path]: ...`` naming the classes concerned.
    """
    key, names = _data_key(recipe), list(data.stream.classes)
    present = np.unique(np.concatenate([p.y for p in (data.source_train, data.source_test,
                                                       data.stream, data.target_test)]))
    if len(names) < 2 or present.size < 2:
        only = names[int(present[0])] if present.size else "none"
        raise ConfigError(f"{key}: the data hold one class only ({only!r}); a classifier "
                          f"needs windows of at least two classes")
    missing = sorted(set(range(len(names))) - set(np.unique(data.source_train.y).tolist()))
    if missing:
        what = ", ".join(f"{names[i]!r} ({i})" for i in missing)
        raise ConfigError(f"{key}: class {what} has no windows in the source subjects' "
                          f"training part; every class needs some to be learnt (add windows "
                          f"or remove the class from the file's classes)")


def layer_sizes(recipe: Any, channels: int, window: int, classes: int) -> list[int]:
    """Widths ``[inputs, *hidden, classes]`` of the network a recipe builds (no allocation)."""
    if recipe.model.kind == "snn":
        from snnx.nn.snn import encoded_features

        p = recipe.model_params
        inputs = encoded_features(p.encoding, window, channels, p.timesteps)
    else:
        inputs = window * channels
    return [int(inputs), *(int(h) for h in recipe.model.hidden), int(classes)]


def estimate_memory(sizes: list[int], *, batch: int, steps: int, cells_per_weight: int,
                    rule: str, windows: int, window_values: int) -> dict[str, float]:
    """Bytes a run needs at its peak, by part (a planning estimate, within a factor ~2).

    With N = sum of in * out over the layers and A = sum of the layer widths:

    * ``software``: 5 N float32 (weights, gradients, Adam's two moments, a noisy copy);
    * ``activations``: batch * steps * A * 4 float32 kept for the backward pass;
    * ``chip``: per weight ``cells_per_weight`` cells with a conductance, a variation gain
      (float32) and two fault flags, plus N float32 of read-back weights, plus the random
      pools of each tile; log-domain SGD adds two integrators per weight;
    * ``data``: the windows, three copies (raw, standardised, model input).

    Returns:
        ``{"software", "activations", "chip", "data", "total", "weights"}`` (bytes, count).
    """
    n = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    act = batch * steps * sum(sizes) * 4 * F32
    chip = n * cells_per_weight * (2 * F32 + 2) + n * F32 + (len(sizes) - 1) * POOL_BYTES
    if rule == "logsgd":
        chip += 2 * n * F32
    out = {"weights": float(n), "software": 5.0 * n * F32, "activations": float(act),
           "chip": float(chip), "data": 3.0 * windows * window_values * F32}
    out["total"] = out["software"] + out["activations"] + out["chip"] + out["data"]
    return out


def available_memory() -> float:
    """Bytes of memory this machine can give a new process now (MemAvailable, else total)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic systems
        return float("inf")


def _gb(b: float) -> str:
    return f"{b / 1e9:.3g} GB"


def check_memory(recipe: Any, data: Any, available: float | None = None) -> dict:
    """Refuse a recipe whose estimated memory exceeds ``HEADROOM`` of what is available.

    Raises:
        ConfigError: ``model.hidden: ...`` with the estimate and what is available.
    """
    from snnx.hw import periphery

    hw = recipe.hw_config()
    p = hw.periphery
    cells = 2 * periphery.slice_count(p.weight_bits, p.bits_per_cell)
    sizes = layer_sizes(recipe, data.n_channels, data.window, data.n_classes)
    steps = getattr(recipe.model_params, "timesteps", 1) or 1
    windows = sum(len(x) for x in (data.source_train, data.source_test, data.stream,
                                   data.target_test))
    est = estimate_memory(sizes, batch=recipe.pretrain.batch_size, steps=steps,
                          cells_per_weight=cells, rule=recipe.adapt.rule, windows=windows,
                          window_values=data.window * data.n_channels)
    have = available_memory() if available is None else available
    if est["total"] > HEADROOM * have:
        raise ConfigError(
            f"model.hidden: {list(recipe.model.hidden)} needs about {_gb(est['total'])} of "
            f"memory ({est['weights']:.3g} weights: software {_gb(est['software'])}, crossbar "
            f"{_gb(est['chip'])}, activations {_gb(est['activations'])}), more than this "
            f"machine can give ({_gb(have)} available); use smaller layers")
    return est
