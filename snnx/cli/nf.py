"""``snnx nf``: nonideality factor per layer and accuracy under wire resistance, with and
without MDM, for a small MLP on scikit-learn's digits.

Steps: train an MLP 64-H-10 off-chip (seeded, a few seconds) or load a saved state_dict;
deploy it bit-sliced (default 8-bit weights, 1 bit/cell, bit-serial inputs -- override with
``--set``) with exact parasitics at each wire resistance r (both r_row and r_col); apply
:func:`snnx.transforms.mdm.mdm` with the calibration images; print per layer the physical
array count and the NF (mean over the layer's arrays, G+ and G- separately, V = the bit
planes of the layer's inputs on the calibration images) without and with MDM, and the test
accuracy in software, deployed without wire resistance, deployed with it, and with MDM.

Examples::

    snnx nf                                           # rram_generic, r = 1 and 2.5 ohm
    snnx nf --hw ideal --r 2.5 --set array.rows=64 --set array.cols=64
    snnx nf --set parasitics.r_row=2.5                # r_col follows r_row unless set
    snnx nf --model mlp.pt --mdm weight_by_significance=true
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from snnx.cli.common import add_set, parse_sets, set_examples

log = logging.getLogger(__name__)

#: deployment defaults (METHODS.md section 1); any can be overridden with --set
DEPLOY = {"periphery.weight_bits": 8, "periphery.bits_per_cell": 1,
          "periphery.input_bit_serial": True}


HELP = ("wire resistance: NF per layer and accuracy, with and without MDM (digits MLP)")


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, __doc__.split("Examples::\n")[1])
    p.add_argument("--hw", default="rram_generic", help="hardware preset or YAML path")
    add_set(p, "a hardware key", "array.rows=128")
    p.add_argument("--r", type=float, nargs="+", default=None, metavar="OHM",
                   help="wire resistance per segment, r_row = r_col (default 1 2.5)")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="torch state_dict of an MLP 64-...-10 (default: train one)")
    p.add_argument("--hidden", type=int, nargs="+", default=[64], help="hidden widths")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (Adam, batch 64)")
    p.add_argument("--calib", type=int, default=128,
                   help="calibration images (from the training part) for MDM and NF")
    p.add_argument("--mdm", action="append", default=[], metavar="KEY=VALUE",
                   help="MDM parameter, e.g. --mdm weight_by_significance=true")
    p.add_argument("--seed", type=int, default=0, help="seed of split, training and tiles")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the exact solver's many small solves gain "
                        "little from more and slow down badly on shared cores)")


def _wires(args: argparse.Namespace, sets: dict) -> tuple[list[tuple[float, float]], dict]:
    """(r_row, r_col) configurations to run and the remaining hardware overrides."""
    from snnx.errors import ConfigError

    sets = dict(sets)
    given = {k: sets.pop(f"parasitics.{k}") for k in ("r_row", "r_col")
             if f"parasitics.{k}" in sets}
    if args.r is not None and given:
        raise ConfigError(f"--r: conflicts with --set parasitics.{next(iter(given))}; "
                          f"give the wire resistance one way")
    if given:
        r_row = given.get("r_row", given.get("r_col"))
        return [(r_row, given.get("r_col", r_row))], sets
    rs = [1.0, 2.5] if args.r is None else args.r
    for r in rs:
        if not r > 0:
            raise ConfigError(f"--r: must be > 0 ohm, got {r:g}")
    return [(r, r) for r in rs], sets


def _check_args(args: argparse.Namespace) -> None:
    from snnx.errors import ConfigError

    if args.epochs < (0 if args.model else 1):
        raise ConfigError(f"--epochs: must be >= 1 when training, got {args.epochs}")
    if any(h < 1 for h in args.hidden):
        raise ConfigError(f"--hidden: widths must be >= 1, got {args.hidden}")
    if args.calib < 1:
        raise ConfigError(f"--calib: must be >= 1, got {args.calib}")
    if args.threads < 1:
        raise ConfigError(f"--threads: must be >= 1, got {args.threads}")


def _load_model(path: str, activation: str = "relu"):
    """MLP from a saved state_dict: the 2-D ``*.weight`` tensors in order are the layers."""
    import torch

    from snnx.errors import ConfigError
    from snnx.nn import MLP

    if not Path(path).is_file():
        raise ConfigError(f"--model: no such file {path!r}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise ConfigError(f"--model: cannot read {path!r} as a torch state_dict "
                          f"({type(e).__name__})") from None
    if not isinstance(sd, dict):
        raise ConfigError(f"--model: {path!r} holds a {type(sd).__name__}, not a state_dict")
    ws = [(k, v) for k, v in sd.items() if k.endswith("weight") and getattr(v, "dim",
                                                                           lambda: 0)() == 2]
    sizes = [int(ws[0][1].shape[1])] + [int(v.shape[0]) for _, v in ws] if ws else []
    if not ws or sizes[0] != 64 or sizes[-1] != 10 or any(
            int(v.shape[1]) != sizes[i] for i, (_, v) in enumerate(ws)):
        raise ConfigError(f"--model: expected the weights of an MLP 64-...-10, got layer "
                          f"shapes {[tuple(v.shape) for _, v in ws]}")
    net = MLP(sizes, activation)
    with torch.no_grad():
        for lyr, (k, w) in zip(net.layers, ws):
            lyr.weight.copy_(w)
            b = sd.get(k[: -len("weight")] + "bias")
            if b is None:
                lyr.bias.zero_()
            else:
                lyr.bias.copy_(b)
    return net.eval()


def _train(sizes: list[int], X, y, epochs: int, seed: int):
    import torch

    from snnx.nn import MLP
    from snnx.nn.optim import Adam
    from snnx.pipeline.model import train_epoch

    net = MLP(sizes, seed=seed)
    opt = Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        train_epoch(net, opt, X, y, 64, g)
    return net.eval()


def _accuracy(model, X, y) -> float:
    import torch

    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())


def run(args: argparse.Namespace) -> int:
    import torch

    from snnx.config.schema import build
    from snnx.data.digits import load_digits_dataset
    from snnx.errors import ConfigError
    from snnx.hw.presets import load
    from snnx.transforms.mdm import Params, array_nf, layer_inputs, mdm

    _check_args(args)
    torch.set_num_threads(args.threads)
    wires, sets = _wires(args, parse_sets(args.set))
    model = sets.pop("parasitics.model", "exact")
    if model == "none":
        raise ConfigError("parasitics.model: 'none' leaves nothing to measure; use exact or "
                          "first_order")
    base_cfg = load(args.hw, **{**DEPLOY, **sets})
    cfgs = [base_cfg.replace(**{"parasitics.model": model, "parasitics.r_row": r_row,
                                "parasitics.r_col": r_col}) for r_row, r_col in wires]
    mdm_params = build(Params, parse_sets(args.mdm), "mdm")   # fail before any work

    train, test = load_digits_dataset(seed=args.seed).source_target()
    Xtr = torch.from_numpy(train.X.reshape(len(train), -1))
    ytr = torch.from_numpy(train.y)
    Xte = torch.from_numpy(test.X.reshape(len(test), -1))
    yte = torch.from_numpy(test.y)
    t0 = time.perf_counter()
    sizes = [64, *args.hidden, 10]
    net = _load_model(args.model) if args.model else _train(sizes, Xtr, ytr, args.epochs,
                                                             args.seed)
    src = f"loaded {args.model}" if args.model else \
        f"trained {args.epochs} epoch{'s' * (args.epochs != 1)} in {time.perf_counter() - t0:.1f} s"
    calib = Xtr[: args.calib]
    acc_sw = _accuracy(net, Xte, yte)
    acc_ideal_wires = _accuracy(net.to_analog(base_cfg, seed=args.seed), Xte, yte)

    p = base_cfg.periphery
    print(f"digits MLP {'-'.join(map(str, net.sizes))} ({src}, seed {args.seed}); hw "
          f"{base_cfg.name}: {p.weight_bits}-bit weights, {p.bits_per_cell} bit/cell, "
          f"{'bit-serial' if p.input_bit_serial else 'DAC'} inputs, arrays "
          f"{base_cfg.array.rows}x{base_cfg.array.cols}, parasitics {model}")
    print(f"NF: mean over each layer's physical arrays (G+ and G- separately), V = bit planes "
          f"of the layer inputs on {len(calib)} calibration images; MDM calibrated on them")
    print(f"\n{'r_row/r_col':>11} {'layer':>6} {'arrays':>6} {'NF baseline':>11} "
          f"{'NF MDM':>8} {'reduction':>9}")
    accs = []
    for (r_row, r_col), cfg in zip(wires, cfgs):
        chip = net.to_analog(cfg, seed=args.seed)
        acc_base = _accuracy(chip, Xte, yte)   # first: the copies below reuse its G_eff
        mapped = mdm(chip, mdm_params, calib=calib, seed=args.seed)
        xs = layer_inputs(chip, calib)
        for (name, a), b in zip(_layers(chip).items(), _layers(mapped).values()):
            nf_b = float(array_nf(a.tile, xs[name]).mean())
            nf_m = float(array_nf(b.tile, xs[name]).mean())
            red = 1 - nf_m / nf_b if nf_b > 0 else 0.0
            print(f"{f'{r_row:g}/{r_col:g}':>11} {a.name:>6} {a.tile.n_arrays:>6} "
                  f"{nf_b:>11.2%} {nf_m:>8.2%} {red:>9.1%}")
        accs.append((r_row, r_col, acc_base, _accuracy(mapped, Xte, yte)))
    print(f"\naccuracy on {len(yte)} test images: software {acc_sw:.2%}, deployed without wire "
          f"resistance {acc_ideal_wires:.2%}")
    print(f"{'r_row/r_col':>11} {'baseline':>9} {'MDM':>7} {'MDM - baseline':>15}")
    for r_row, r_col, a_b, a_m in accs:
        print(f"{f'{r_row:g}/{r_col:g}':>11} {a_b:>9.2%} {a_m:>7.2%} {a_m - a_b:>+15.2%}")
    return 0


def _layers(model) -> dict:
    from snnx.transforms.mdm import _analog_layers

    return dict(_analog_layers(model))

