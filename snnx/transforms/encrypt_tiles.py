r"""Transform ``encrypt``: a PUF-keyed periphery in front of every tile (METHODS.md section 3,
wired at the tile level). Obfuscation against casual theft of the array contents, NOT
cryptography: a published attack recovers about 85 % of such a key in minutes (our own
measurement of that attack on the digits BNN: ``bench/encrypt.py``, docs/transforms.md).

What it does, per layer on a tile (any model: MLP, SNN, BNN, CNN):

1. The chip's simulated RRAM PUF (:class:`~snnx.transforms.encrypt.SimulatedPUF`, drawn
   from the transform's seed: the PUF is a property of the chip) gives the key bits of every
   layer, ``key_l = HMAC-SHA256(PUF response, l)`` (:func:`~snnx.transforms.encrypt.derive_keys`):
   r (one bit per input row), c (one bit per output pair).
2. The tile's layout gets a :class:`~snnx.hw.periphery_key.PeripheryKey` (XOR gates on the
   row drivers, 2:1 MUX pairs on the outputs) and the layer's master weights are programmed
   through it, so the cells hold :math:`W'_{o,i} = (-1)^{r_i} W_{\pi_c(o),i}`. A thief
   reading the array (``tile.layout.weights(tile.conductances)``) sees W'.
3. With the key, ``mvm``, ``mvm_t`` and ``outer_update`` equal the plain layer on ideal
   hardware (to float rounding; a BNN's integer sums exactly), so on-line rules keep
   learning on the encrypted chip; every vector books its XOR/MUX operations (ledger op
   ``xor_mux``, ``hw.cost.e_gate`` each).

Where the key lives: in the periphery objects in memory only. Tile states and checkpoints
keep its SHA-256 (``key_sha256``), never the bits; resuming a run rebuilds the chip, whose
PUF gives the same key (``snnx.load_run`` re-attaches it with :func:`rebuild`), and the hash
check refuses any other chip. Nothing in a recipe is a
secret (the PUF parameters are not the key). Scope: the transform protects what the arrays
hold; the off-chip software model of a run (``checkpoints/pretrained.h5``) is the owner's and
is stored in clear as before. With the ``logsgd`` rule the weights move to its capacitor
arrays (read out through the key, in clear): only the RRAM copy stays scrambled.

Report (``encryption`` in report.json, via :func:`~snnx.transforms.attach_report`): test
accuracy of the unencrypted chip, with the key, without it, with another chip's key, of the
swap-only and inversion-only variants without their keys; the XOR/MUX operations and their
share of the inference energy in the ledger. For a BNN (a model with ``integer_layers``) the
accuracies come from the kernels' exact integer path
(:func:`~snnx.transforms.encrypt.keyed_forward`, thresholds swapped with their columns as in
the paper); otherwise from the tiles.

Example:
    >>> import torch, snnx.hw as hw
    >>> from snnx.nn import MLP
    >>> chip = MLP([6, 8, 4]).to_analog(hw.load("ideal"))
    >>> enc = encrypt(chip, {}, seed=0)
    >>> x = torch.randn(3, 6)
    >>> bool(torch.allclose(enc(x), chip(x), atol=1e-5))
    True
    >>> t0, t1 = chip.layers[0].tile, enc.layers[0].tile
    >>> bool(torch.allclose(t1.layout.weights(t1.conductances), t0.read_weight()))
    False
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from snnx.config.schema import KW, build, spec
from snnx.config.seeds import derive
from snnx.errors import ConfigError
from snnx.hw.periphery_key import PeripheryKey
from snnx.transforms import attach_report, copy_model, tile_layers
from snnx.transforms.encrypt import (VARIANTS, KeyedPeriphery, SimulatedPUF, bnn_forward,
                                     derive_keys, keyed_forward)

__all__ = ["Params", "encrypt", "rebuild", "master_weight"]


@dataclasses.dataclass(**KW)
class Params:
    """Parameters of ``encrypt`` (a recipe: ``transforms: [{name: encrypt, ...}]``)."""

    variant: str = spec("full", choices=VARIANTS,
                        doc="full: row inversions + output-pair swaps | swap: pair swaps "
                            "only | invert: row inversions only")
    puf_bits: int = spec(256, lo=8, hi=1 << 16,
                         doc="response bits of the chip's simulated RRAM PUF (the HMAC key "
                             "the layer keys are derived from)")
    puf_sigma: float = spec(0.1, lo=0, lo_open=True, hi=2,
                            doc="lognormal device-to-device spread of the PUF cells "
                                "(rram_generic d2d_sigma)")
    puf_g_on: float = spec(100e-6, lo=0, lo_open=True, hi=1,
                           doc="S, mean LRS conductance of the PUF cells (rram_generic g_max)")
    report: bool = spec(True, doc="add the encryption block to report.json (accuracy with, "
                                  "without and with a wrong key, the variants, periphery "
                                  "energy share)")


def master_weight(layer: Any) -> torch.Tensor:
    """The plain weights (out, in) of a layer's tile: its master copy ``weight`` (reshaped
    to the tile, e.g. a convolution's (out, in * kh * kw)), else what the tile holds."""
    tile, w = layer.tile, getattr(layer, "weight", None)
    if isinstance(w, torch.Tensor) and w.numel() == tile.out_features * tile.in_features:
        return w.detach().reshape(tile.shape)
    return tile.read_weight()


def _puf(params: Params, seed: int, purpose: str) -> SimulatedPUF:
    gen = torch.Generator().manual_seed(derive(seed, purpose))
    return SimulatedPUF(params.puf_bits, generator=gen, g_on=params.puf_g_on,
                        sigma=params.puf_sigma)


def _keys(puf: SimulatedPUF, layers: list, variant: str) -> list[PeripheryKey]:
    shapes = [(lyr.tile.in_features, lyr.tile.out_features) for lyr in layers]
    return [PeripheryKey(k.r, k.c, n_out=n, xor=variant != "swap", mux=variant != "invert")
            for k, (_, n) in zip(derive_keys(puf.response(), shapes, variant), shapes)]


def _with_keys(chip: Any, keys: list | None, *, program: bool) -> Any:
    """A copy of ``chip`` behind ``keys`` (None: no key); ``program``: write the master
    weights under them, else the cells stay as they are."""
    out = copy_model(chip)
    for i, lyr in enumerate(tile_layers(out)):
        lyr.tile.layout.key = None if keys is None else keys[i]
        if program:
            lyr.tile.program(master_weight(lyr))
            if hasattr(lyr, "_programmed_version"):
                lyr._programmed_version = lyr.weight._version
    return out


def encrypt(model: Any, params: Params | Mapping | None = None, *, calib: Any = None,
            seed: int = 0) -> Any:
    """Put every tile of ``model`` behind a PUF-keyed periphery (registry name ``encrypt``).

    Args:
        model: a network on tiles (not modified).
        params: :class:`Params` or a mapping of its fields.
        calib: representative network inputs (the energy-share figure of the report).
        seed: the chip's seed: its PUF is drawn from ``derive(seed, "encrypt.puf")``.

    Returns:
        A copy whose tiles hold W' and compute W with the key (re-programmed from each
        layer's master weights; the ledger books the programming).

    Raises:
        ConfigError: a bad parameter, or a model without tiles.
    """
    opts = params if isinstance(params, Params) else build(Params, params or {}, "encrypt")
    if not tile_layers(model):
        raise ConfigError("encrypt: the model has no layers on tiles; put it on tiles first "
                          "(model.to_analog(hw))")
    puf = _puf(opts, seed, "encrypt.puf")
    out = _with_keys(model, _keys(puf, tile_layers(model), opts.variant), program=True)
    if opts.report:
        attach_report(out, "encryption", partial(_report, model, out, puf, opts, calib, seed))
    return out


def rebuild(model: Any, params: Params | Mapping | None = None, *, seed: int = 0) -> Any:
    """The chip's periphery keys (re-derived from its PUF) on a network rebuilt on tiles,
    without programming: the cells come from a checkpoint next (``snnx.load_run``)."""
    opts = params if isinstance(params, Params) else build(Params, params or {}, "encrypt")
    puf = _puf(opts, seed, "encrypt.puf")
    return _with_keys(model, _keys(puf, tile_layers(model), opts.variant), program=False)


encrypt.rebuild = rebuild


class _Probe(nn.Module):
    """A model-shaped wrapper of a plain function (logits of raw inputs) for ``measure``."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn, self.layers, self.gen = fn, nn.ModuleList(), torch.Generator()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _energy(chip: Any, calib: Any) -> dict:
    """Ledger of one batch of up to 8 calibration windows on a copy of the chip."""
    if calib is None:
        return {}
    probe = copy_model(chip)
    led = tile_layers(probe)[0].tile.ledger
    led.reset()
    x = torch.as_tensor(calib)[:8]
    with torch.no_grad():
        probe.record(x) if hasattr(probe, "record") else probe(x)
    n, gate = x.shape[0], float(led.energy.get("xor_mux", 0.0))
    return {"periphery_energy_share": gate / led.energy_j if led.energy_j else 0.0,
            "periphery_energy_j_per_inference": gate / n,
            "inference_energy_j_per_inference": led.energy_j / n}


def _integer_accuracies(model: Any, puf: SimulatedPUF, other: SimulatedPUF, variant: str,
                        measure: Any) -> dict | None:
    """The BNN figures on the kernels' exact integer path (None: not a binary model)."""
    folded = model.integer_layers() if hasattr(model, "integer_layers") else None
    if folded is None:
        return None
    layers, head = folded
    shapes = [tuple(W.shape) for W, _ in layers]

    def acc(fn):
        return measure(_Probe(lambda x: head(fn(model.encode_input(x)))))

    per = KeyedPeriphery(puf, shapes, variant)
    enc = per.encrypt(layers)
    wrong = derive_keys(other.response(), shapes, variant)
    out = {"path": "integer", "accuracy_plain": acc(lambda x: bnn_forward(x, layers)),
           "accuracy_with_key": acc(lambda x: per(x, enc)),
           "accuracy_without_key": acc(lambda x: bnn_forward(x, enc)),
           "accuracy_wrong_key": acc(lambda x: keyed_forward(x, enc, wrong))}
    for v, name in (("swap", "accuracy_swap_only"), ("invert", "accuracy_inversion_only")):
        stored = KeyedPeriphery(puf, shapes, v).encrypt(layers)
        out[name] = acc(lambda x, s=stored: bnn_forward(x, s))
    return out


def _report(model: Any, out: Any, puf: SimulatedPUF, opts: Params, calib: Any, seed: int,
            measure: Any) -> dict:
    """The ``encryption`` block of report.json (see the module docstring)."""
    layers = tile_layers(out)
    keys = [lyr.tile.layout.key for lyr in layers]
    other = _puf(opts, seed, "encrypt.other_chip")
    rep = {"variant": opts.variant, "layers": len(layers),
           "key_bits": sum(k.n_in * k.xor + (k.n_out // 2) * k.mux for k in keys),
           "key_sha256": KeyedPeriphery(puf, [(k.n_in, k.n_out) for k in keys],
                                        opts.variant).key_sha256,
           "xor_per_inference": sum(k.n_in * k.xor for k in keys),
           "mux_per_inference": sum(2 * (k.n_out // 2) * k.mux for k in keys)}
    figures = _integer_accuracies(model, puf, other, opts.variant, measure)
    if figures is None:
        figures = {"path": "tiles", "accuracy_plain": measure(model),
                   "accuracy_with_key": measure(out),
                   "accuracy_without_key": measure(_with_keys(out, None, program=False)),
                   "accuracy_wrong_key": measure(_with_keys(
                       out, _keys(other, layers, opts.variant), program=False))}
        for v, name in (("swap", "accuracy_swap_only"), ("invert", "accuracy_inversion_only")):
            stored = _with_keys(model, _keys(puf, tile_layers(model), v), program=True)
            figures[name] = measure(_with_keys(stored, None, program=False))
    return {**rep, **figures, **_energy(out, calib)}
