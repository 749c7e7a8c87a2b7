"""scikit-learn's 8x8 handwritten digits as a :class:`~snnx.data.dataset.WindowDataset`.

The data ships with scikit-learn (nothing is downloaded): 1797 images of 8 x 8 pixels with
16 grey levels. Each image becomes one window of T = 1 sample and C = 64 channels (pixels in
row-major order, ``px_<row>_<col>``), scaled to [0, 1]. There are no subjects; instead the
seeded, class-stratified train/test split is written into ``subject``: 0 = train (source),
1 = test (target), and recorded in ``meta``, so ``ds.source_target()`` gives (train, test)
exactly as it gives (source subjects, target subject) for HAR. ``t`` is a seeded random
arrival order within each part.

Example:
    >>> train, test = load_digits_dataset(test_frac=0.25, seed=0).source_target()
    >>> train.X.shape[1:], len(train) + len(test)
    ((1, 64), 1797)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from snnx.config.schema import KW, spec
from snnx.data.dataset import WindowDataset
from snnx.errors import ConfigError

TRAIN_SUBJECT = 0
TEST_SUBJECT = 1


def load_digits_dataset(*, test_frac: float = 0.25, seed: int = 0) -> WindowDataset:
    """Load the digits with a seeded, stratified train/test split.

    Args:
        test_frac: fraction of images in the test part, in (0, 1).
        seed: seed of the split and of the arrival order.

    Returns:
        WindowDataset with X (1797, 1, 64) float32 in [0, 1], y (1797,) digit 0..9,
        subject 0 (train) / 1 (test), classes "0".."9", sample_rate_hz 1.0 (T = 1, no time
        axis).
    """
    if not 0.0 < test_frac < 1.0:
        raise ConfigError(f"test_frac: must be in (0, 1), got {test_frac!r}")
    from sklearn.datasets import load_digits  # lazy: keep `import snnx.data` light
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)[:, None, :]
    y = bunch.target.astype(np.int64)
    idx = np.arange(y.size)
    _, test_idx = train_test_split(idx, test_size=test_frac, random_state=seed, stratify=y)
    subject = np.full(y.size, TRAIN_SUBJECT, np.int64)
    subject[test_idx] = TEST_SUBJECT
    rng = np.random.default_rng(seed)
    t = np.empty(y.size, np.float64)
    for s in (TRAIN_SUBJECT, TEST_SUBJECT):
        rows = np.flatnonzero(subject == s)
        t[rows] = rng.permutation(rows.size)
    return WindowDataset(
        X=X, y=y, subject=subject, t=t, classes=[str(d) for d in range(10)],
        sample_rate_hz=1.0, channel_names=[f"px_{r}_{c}" for r in range(8) for c in range(8)],
        meta={"source_subjects": [TRAIN_SUBJECT], "target_subjects": [TEST_SUBJECT],
              "seed": seed, "test_frac": test_frac},
        name="digits")


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of digits (``data.digits``)."""

    target_share: float = spec(0.5, lo=0, hi=1, lo_open=True, hi_open=True,
                               doc="share of the images that form the target set (the rest "
                                   "pretrains), in (0, 1)")


def open_dataset(params: Params, request: Any) -> WindowDataset:
    """The digits of a recipe (registry entry ``digits``), split with the recipe seed."""
    return load_digits_dataset(test_frac=params.target_share, seed=request.seed)
