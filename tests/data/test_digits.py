"""scikit-learn digits as a WindowDataset."""

from __future__ import annotations

import numpy as np
import pytest

from snnx.data import load_digits_dataset
from snnx.errors import ConfigError


def test_shape_range_and_classes():
    ds = load_digits_dataset()
    assert ds.X.shape == (1797, 1, 64) and ds.X.dtype == np.float32
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert ds.classes == tuple(str(d) for d in range(10))
    assert ds.channel_names[9] == "px_1_1"


def test_seeded_stratified_split():
    train, test = load_digits_dataset(test_frac=0.25, seed=0).source_target()
    assert abs(len(test) - 0.25 * 1797) <= 1
    share = test.class_counts() / (train.class_counts() + test.class_counts())
    assert np.all(np.abs(share - 0.25) < 0.03)
    again = load_digits_dataset(test_frac=0.25, seed=0).source_target()[1]
    np.testing.assert_array_equal(again.X, test.X)
    other = load_digits_dataset(test_frac=0.25, seed=1).source_target()[1]
    assert not np.array_equal(other.X, test.X)  # another seed draws other test images


def test_stream_order_is_a_permutation():
    ds = load_digits_dataset(seed=3)
    s = ds.stream(1)
    assert s.t.tolist() == list(range(len(s)))


def test_bad_fraction():
    with pytest.raises(ConfigError, match=r"test_frac: must be in \(0, 1\), got 0"):
        load_digits_dataset(test_frac=0)
