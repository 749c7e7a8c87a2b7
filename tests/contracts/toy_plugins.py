"""A rule, a transform, a device model and a command of a user's own, in ONE file each way
snnx expects them (here all four in one test module): a ``Params`` dataclass and the
implementation. ``test_plugins.py`` registers them with one line each and runs them."""

from __future__ import annotations

import argparse
import copy
import dataclasses
from typing import Any

import torch

from snnx.config.schema import KW, spec
from snnx.learn.rule import RuleBase, analog_layers


# ---------------------------------------------------------------- a rule: sign-SGD on BP
@dataclasses.dataclass(**KW)
class SignParams:
    """Sign-SGD's parameters."""

    loss: str = spec("ce", choices=("ce", "mse"), doc="output loss")
    keep: float = spec(1.0, lo=0, lo_open=True, hi=1, doc="share of each layer's largest "
                                                          "|delta| entries kept")


class SignSGD(RuleBase):
    """BP's deltas, then only their signs are written (a pulse-count-frugal rule)."""

    name = "sign_sgd"
    Params = SignParams

    def __init__(self, lr: float = 0.01, *, loss: str = "ce", keep: float = 1.0,
                 seed: int = 0) -> None:
        self.lr, self.loss, self.keep, self.seed = float(lr), loss, float(keep), int(seed)
        self.update_bias = True
        self.steps = 0

    def deltas(self, model: Any, rec: Any, e: torch.Tensor) -> list[torch.Tensor]:
        layers = analog_layers(model)
        out = [None] * len(layers)
        out[-1] = model.output_delta(rec, e)
        for i in range(len(layers) - 2, -1, -1):
            out[i] = model.hidden_delta(i, rec, layers[i + 1].tile.mvm_t(out[i + 1]))
        self.steps += 1
        kept = []
        for d in out:  # keep the largest |delta| entries, write their sign
            cut = torch.quantile(d.abs().flatten().double(), 1.0 - self.keep).to(d.dtype)
            kept.append(torch.sign(d) * (d.abs() >= cut) * d.abs().mean())
        return kept

    def state_dict(self) -> dict:
        return {"name": self.name, "lr": self.lr, "keep": self.keep, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.keep, self.steps = state["lr"], state["keep"], int(state["steps"])

    def __repr__(self) -> str:
        return f"SignSGD(lr={self.lr}, keep={self.keep})"


# ---------------------------------------------------------------- a transform: bias scaling
@dataclasses.dataclass(**KW)
class ScaleParams:
    """Parameters of scale_bias."""

    factor: float = spec(1.0, lo=0, hi=10, doc="multiplies every digital bias")


def scale_bias(model: Any, params: ScaleParams, *, calib: Any = None, seed: int = 0) -> Any:
    """A copy of ``model`` whose digital biases are multiplied by ``factor``."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for lyr in out.layers:
            if lyr.bias is not None:
                lyr.bias.mul_(params.factor)
    return out


scale_bias.Params = ScaleParams


# ---------------------------------------------------------------- a device model: linear
@dataclasses.dataclass(**KW)
class LinearParams:
    """A linear, noiseless device with a different SET and RESET step."""

    reset_ratio: float = spec(1.0, lo=0, lo_open=True, hi=10, doc="RESET step / SET step")


class LinearDevice:
    """g moves n * step per SET pulse, n * step * reset_ratio per RESET pulse."""

    Params = LinearParams
    noisy = False

    def __init__(self, params: LinearParams, cell: Any) -> None:
        self.params = params

    @staticmethod
    def is_ideal(params: LinearParams) -> bool:
        return params.reset_ratio == 1.0

    def variation(self, shape, gen, device, dtype):
        return None

    def pulse(self, g, n, step, *, depress, gain, noise):
        sn = n * step
        out = g + sn if depress is None else torch.where(depress, g - sn * self.params.reset_ratio,
                                                         g + sn)
        return out.clamp(0.0, 1.0)


# ---------------------------------------------------------------- a command
HELP = "say how many rules are registered"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shout", action="store_true")


def run(args: argparse.Namespace) -> int:
    from snnx.learn import RULES

    text = f"{len(RULES)} rules: {', '.join(RULES.names())}"
    print(text.upper() if args.shout else text)
    return 0
