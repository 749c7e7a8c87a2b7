"""Model, rule and state helpers of a run: build from recipe + data, measure, save.

Nothing here knows about run folders; the phases of :mod:`snnx.pipeline` use these.

* :func:`build_net` sizes the software network of ``model.kind`` from the data (channels,
  window, classes).
* :func:`build_rule` builds the on-line rule of ``adapt.rule`` with its parameters.
* :func:`train_epoch` is one epoch of plain torch training (cross-entropy).
* :func:`accuracy` measures a software or an analog model; :func:`isolated` makes an analog
  measurement free of side effects (tile and model RNG, ledger restored afterwards), so how
  often a run evaluates never changes what it learns or what the ledger says.
* :func:`chip_state` / :func:`load_chip_state` capture and restore everything on-line
  learning changes: every tile (conductances, faults, variation, mapping, RNG), the digital
  biases, the model's encoder RNG, the rule (DFA feedback tiles, log-domain integrators)
  and the shared ledger.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snnx.config.seeds import derive
from snnx.errors import ConfigError
from snnx.learn import make_rule
from snnx.nn import MODELS

PRETRAINED_KIND = "snnx-pretrained"
"""``kind`` of a pretrained-model checkpoint (``snnx train``, ``checkpoints/pretrained.h5``)."""


def build_net(recipe: Any, channels: int, window: int, classes: int) -> nn.Module:
    """The software network of ``recipe.model`` for windows of ``window`` x ``channels``."""
    m = recipe.model
    return MODELS.get(m.kind).from_params(recipe.model_params, channels=channels, window=window,
                                          classes=classes, hidden=m.hidden,
                                          weight_noise=recipe.pretrain.noise_injection,
                                          seed=recipe.seed)


def as_input(recipe: Any, X: np.ndarray) -> torch.Tensor:
    """Windows (N, W, C) as the model's input: flattened when the network kind asks for it."""
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return x.reshape(x.shape[0], -1) if MODELS.get(recipe.model.kind).flat_input else x


def build_rule(recipe: Any) -> Any:
    """The on-line rule named by ``adapt.rule``, with its ``adapt.<rule>`` parameters.

    Raises:
        ConfigError: a value the rule rejects, with its ``adapt.<rule>.`` key path.
    """
    a = recipe.adapt
    try:
        return make_rule(a.rule, recipe.rule_params, lr=a.lr,
                         seed=derive(recipe.seed, f"rule.{a.rule}"))
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"adapt.{a.rule}.{e}") from None


def train_epoch(net: nn.Module, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
                batch: int, gen: torch.Generator) -> tuple[float, float]:
    """One epoch of off-chip training in a seeded order. Returns (mean loss, accuracy)."""
    net.train()
    perm = torch.randperm(len(X), generator=gen)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(X), batch):
        idx = perm[i:i + batch]
        batch_loss, hits = train_batch(net, opt, X[idx], y[idx])
        loss_sum += batch_loss
        correct += hits
    net.eval()
    return loss_sum / len(X), correct / len(X)


def train_batch(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor) -> tuple[float, int]:
    """One optimiser step on a batch (cross-entropy). Returns (summed loss, correct)."""
    logits = net(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach()) * len(y), int((logits.argmax(1) == y).sum())


@contextlib.contextmanager
def isolated(model: nn.Module) -> Iterator[None]:
    """Run a measurement without side effects on ``model``: the random state of every tile
    and of the model's encoder, and the ledger's totals, are restored on exit."""
    layers = [lyr for lyr in model.layers if hasattr(lyr, "tile")]
    tiles = [(lyr.tile.gen.get_state(), lyr.tile.rng.state_dict()) for lyr in layers]
    gen = model.gen.get_state()
    ledger = model.ledger.state_dict() if layers else None
    try:
        yield
    finally:
        for lyr, (g, r) in zip(layers, tiles):
            lyr.tile.gen.set_state(g)
            lyr.tile.rng.load_state_dict(r)
        model.gen.set_state(gen)
        if ledger is not None:
            model.ledger.load_state_dict(ledger)


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of a software model (``model(x)``) or an analog one (forward on the tiles)."""
    if any(hasattr(lyr, "tile") for lyr in model.layers):
        return model.record(x).logits
    model.eval()
    return model(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 1) -> float:
    """Mean accuracy over ``draws`` forward passes (read noise, encoder draws), measured
    without side effects (:func:`isolated`)."""
    with isolated(model):
        hits = [float((logits_of(model, x).argmax(1) == y).to(torch.float64).mean())
                for _ in range(draws)]
    return float(np.mean(hits))


def pretrained_state(net: nn.Module, recipe: Any, mean: np.ndarray, std: np.ndarray,
                     opt: torch.optim.Optimizer | None, epoch: int, history: dict) -> dict:
    """A pretrained-model checkpoint: weights, encoder RNG, data statistics, optimiser."""
    return {"kind": PRETRAINED_KIND, "model_kind": recipe.model.kind,
            "model": dict(net.state_dict()), "gen": net.gen.get_state(),
            "mean": np.asarray(mean, np.float32), "std": np.asarray(std, np.float32),
            "optimizer": {} if opt is None else _optim_state(opt), "epoch": epoch,
            "history": history, "config": recipe.to_yaml()}


def _optim_state(opt: torch.optim.Optimizer) -> dict:
    sd = opt.state_dict()
    return {"state": {str(k): dict(v) for k, v in sd["state"].items()},
            "param_groups": [{k: (list(v) if isinstance(v, (list, tuple)) else v)
                              for k, v in g.items() if v is None or
                              isinstance(v, (int, float, bool, str, list, tuple))}
                             for g in sd["param_groups"]]}


def load_pretrained(net: nn.Module, state: dict, where: str) -> None:
    """Load a pretrained checkpoint into ``net`` (built from the recipe and the data).

    Raises:
        ConfigError: ``<where>: ...`` when it is not a pretrained model or does not fit.
    """
    if state.get("kind") != PRETRAINED_KIND:
        raise ConfigError(f"{where}: not a pretrained model checkpoint (written by snnx train "
                          f"or checkpoints/pretrained.h5 of a run)")
    saved, mine = state.get("model", {}), net.state_dict()
    why = next((f"{k} is {list(saved[k].shape)} in the file, {list(v.shape)} here"
                for k, v in mine.items() if k in saved and
                tuple(saved[k].shape) != tuple(v.shape)), None) or next(
        (f"{k} is missing" for k in mine if k not in saved), None) or next(
        (f"{k} is not part of this model" for k in saved if k not in mine), None)
    if why:
        raise ConfigError(f"{where}: the saved {state.get('model_kind')} does not fit model.* "
                          f"and the data ({why})")
    try:
        net.load_state_dict(saved, strict=True)
        net.gen.set_state(state["gen"])
    except (RuntimeError, KeyError, TypeError) as e:
        first = " ".join(str(e).split())[:160]
        raise ConfigError(f"{where}: cannot load the saved model ({first})") from None


def chip_state(chip: nn.Module, rule: Any) -> dict:
    """Everything on-line learning changes (see module docstring)."""
    tiles = []
    for lyr in chip.layers:
        sd = lyr.tile.state_dict()
        sd.pop("ledger", None)
        tiles.append(sd)
    return {"tiles": tiles,
            "biases": [None if lyr.bias is None else lyr.bias.detach().clone()
                       for lyr in chip.layers],
            "gen": chip.gen.get_state(), "rule": rule.state_dict(),
            "ledger": chip.ledger.state_dict()}


def load_chip_state(chip: nn.Module, rule: Any, state: dict) -> None:
    """Restore :func:`chip_state` into a chip built (and its rule bound) like the saved one."""
    for lyr, sd in zip(chip.layers, state["tiles"], strict=True):
        lyr.tile.load_state_dict(sd, load_ledger=False)
    with torch.no_grad():
        for lyr, b in zip(chip.layers, state["biases"]):
            if b is not None:
                lyr.bias.copy_(b)
    chip.gen.set_state(state["gen"])
    rule.load_state_dict(state["rule"])
    chip.ledger.load_state_dict(state["ledger"])


def n_params(net: nn.Module) -> int:
    """Weights on the crossbar (biases excluded)."""
    return int(sum(lyr.weight.numel() for lyr in net.layers))
