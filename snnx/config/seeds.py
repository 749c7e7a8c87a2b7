"""The seed table: every random generator of a run derives from the one recipe seed here.

A generator for ``purpose`` gets ``base + OFFSETS[purpose] (+ index)``: for example the
on-line rule DFA draws its feedback matrices from ``seed + 100``, the second layer's tile
from ``seed + 1``. numpy generators take the pair ``[base, offset]`` (:func:`sequence`).
Changing an offset changes every run's numbers, so the values are frozen; a new purpose
gets a new line.

Example:
    >>> derive(0, "rule.dfa"), derive(5, "tile.random"), sequence(0, "data.stream_order")
    (100, 7924, [0, 13])
"""

from __future__ import annotations

OFFSETS: dict[str, int] = {
    # hardware
    "layer.tile": 0,          # layer i's tile: base + i (base = the model's seed)
    "tile.random": 7919,      # a tile's pooled read/update random numbers: tile seed + 7919
    "dfa.feedback_tile": 1000,  # DFA feedback tile i: rule seed + 1000 + i
    # networks
    "model.noise": 1,         # weight-noise injection and rate encoding: model seed + 1
    # data
    "data.one_subject": 1,    # split of a single-subject file into source and target
    "data.source_split": 11,  # held-out source windows
    "data.target_split": 12,  # held-out target windows
    "data.stream_order": 13,  # numpy: order of the target stream
    "data.labels": 14,        # numpy: which stream windows carry a label
    # run phases
    "loop.passes": 15,        # numpy: per-pass order and learn mask of the on-line loop
    "pretrain.order": 17,     # minibatch order of off-chip pretraining
    "pretrain.noise": 20,     # noise-aware training: the per-cell read-noise draws
    "pretrain.aware_order": 21,  # minibatch order of the hardware-aware epochs
    "finetune": 400,          # the fine-tuning rule (DFA feedback ...): seed + 400
    "finetune.order": 19,     # minibatch order of chip-in-the-loop fine-tuning
    "pretrain.val_split": 18,  # validation windows of off-chip pretraining
    "transforms": 0,          # transform i: base + i
    "encrypt.puf": 600,       # the chip's simulated PUF (manufacture): transform seed + 600
    "encrypt.other_chip": 601,  # another chip's PUF, for the wrong-key figure
    "reprogram.stucking": 610,  # bit-stucking draws of the reprogram transform
    # on-line rules: rule.<name>; rules without a line use "rule"
    "rule.dfa": 100,
    "rule.logsgd": 200,
    "rule": 300,
    # design-space exploration
    "dse.sampler": 400,       # Optuna sampler of worker k: dse.seed + 400 + k
}


def derive(base: int, purpose: str, index: int = 0) -> int:
    """The integer seed of ``purpose`` (plus ``index`` for the i-th of several)."""
    if purpose not in OFFSETS:
        if purpose.startswith("rule."):
            purpose = "rule"
        else:
            raise KeyError(f"seed purpose {purpose!r} is not in the seed table")
    return int(base) + OFFSETS[purpose] + int(index)


def sequence(base: int, purpose: str) -> list[int]:
    """The seed sequence ``[base, offset]`` of a numpy generator for ``purpose``."""
    return [int(base), OFFSETS[purpose]]
