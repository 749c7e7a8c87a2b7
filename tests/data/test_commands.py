"""`snnx data info` / `snnx data convert` implementations."""

from __future__ import annotations

import numpy as np
import pytest

from snnx.data import convert_uci, info, load_hdf5, load_uci_har, save_hdf5
from snnx.errors import ConfigError


def test_info_of_an_hdf5_file(small_har, tmp_path):
    path = save_hdf5(small_har, tmp_path / "har.h5")
    text = info(path)
    assert text.splitlines()[0] == f"{path}: HDF5 dataset"
    assert "N = 360, T = 128 samples at 50 Hz (2.56 s), C = 9 channels" in text
    assert "walking 60, walking_upstairs 60" in text and "laying 60" in text
    assert "subjects  5: 1-5 (windows per subject 72..72)" in text
    assert "split     source 1-3; target 4-5" in text


def test_info_of_a_uci_folder(fake_uci):
    text = info(fake_uci)
    assert "UCI HAR Dataset folder" in text and "N = 8," in text
    assert "subjects  3: 1-3 (windows per subject 2..3)" in text
    assert "walking 2, walking_upstairs 1" in text


def test_info_of_nothing():
    with pytest.raises(ConfigError, match="nowhere.h5: no such file or folder"):
        info("nowhere.h5")


@pytest.mark.parametrize("features, shape", [("raw", (8, 128, 9)), ("561", (8, 1, 561))])
def test_convert_uci_round_trips(fake_uci, tmp_path, features, shape):
    out = convert_uci(fake_uci, tmp_path / "uci.h5", features=features)
    back, orig = load_hdf5(out), load_uci_har(fake_uci, features=features)
    assert back.X.shape == shape
    np.testing.assert_array_equal(back.X, orig.X)
    np.testing.assert_array_equal(back.subject, orig.subject)
    assert back.classes == orig.classes and back.meta["target_subjects"] == [2]
