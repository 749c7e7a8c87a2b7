"""The UCI HAR loader on a tiny fake folder written by the test."""

from __future__ import annotations

import numpy as np
import pytest

from uci_fake_folder import uci_value, write_fake_uci
from snnx.data import HAR_CHANNELS, load_uci_har
from snnx.errors import ConfigError


def test_raw_windows_channels_labels_and_subjects(fake_uci):
    ds = load_uci_har(fake_uci)
    assert ds.X.shape == (8, 128, 9) and ds.X.dtype == np.float32
    assert ds.channel_names == HAR_CHANNELS and ds.sample_rate_hz == 50.0
    # value = split*100 + channel + row*0.01 + col*1e-4: check channel order and rows
    for c in range(9):
        np.testing.assert_allclose(ds.X[1, 5, c], uci_value(0, c, 1, 5), rtol=1e-6)
        np.testing.assert_allclose(ds.X[5 + 2, 127, c], uci_value(1, c, 2, 127), rtol=1e-6)
    assert ds.classes[0] == "walking" and ds.classes[5] == "laying"
    assert ds.y.tolist() == [0, 1, 5, 3, 4, 2, 5, 0]          # labels 1..6 -> 0..5
    assert ds.subject.tolist() == [1, 1, 1, 3, 3, 2, 2, 2]
    assert ds.t.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert ds.meta["source_subjects"] == [1, 3] and ds.meta["target_subjects"] == [2]


def test_parent_folder_and_single_split(fake_uci):
    ds = load_uci_har(fake_uci.parent, splits=["test"])
    assert len(ds) == 3 and "source_subjects" not in ds.meta


def test_561_feature_mode(fake_uci):
    ds = load_uci_har(fake_uci, features="561")
    assert ds.X.shape == (8, 1, 561)
    assert ds.channel_names[0] == "feat-0()" and ds.sample_rate_hz == 50.0 / 64
    np.testing.assert_allclose(ds.X[1, 0, 2], (561 + 2) / 1e4, rtol=1e-6)


def test_not_a_uci_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as e:
        load_uci_har(tmp_path / "empty")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'empty'}: not a UCI HAR Dataset folder: missing "
                          f"activity_labels.txt, train/y_train.txt, train/subject_train.txt "
                          f"and 20 more")
    with pytest.raises(ConfigError, match="not a folder"):
        load_uci_har(tmp_path / "absent")


def test_one_missing_signal_file_is_named(fake_uci):
    (fake_uci / "test" / "Inertial Signals" / "body_gyro_y_test.txt").unlink()
    with pytest.raises(ConfigError, match=r"missing test/Inertial Signals/body_gyro_y_test.txt "
                                          r"\(expected"):
        load_uci_har(fake_uci)
    load_uci_har(fake_uci, splits=["train"])  # the train split alone is still complete


def test_malformed_files_name_file_and_line(fake_uci):
    f = fake_uci / "train" / "Inertial Signals" / "total_acc_z_train.txt"
    lines = f.read_text().splitlines()
    lines[3] = " ".join(lines[3].split()[:100])
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as e:
        load_uci_har(fake_uci)
    assert str(e.value) == f"{f}: line 4 has 100 values, expected 128"


def test_label_out_of_range(fake_uci):
    (fake_uci / "test" / "y_test.txt").write_text("3\n7\n1\n")
    with pytest.raises(ConfigError) as e:
        load_uci_har(fake_uci)
    assert str(e.value) == (f"{fake_uci / 'test' / 'y_test.txt'}: line 2: label 7 is not an "
                            f"activity id 1..6 of activity_labels.txt")


def test_row_count_mismatch(tmp_path):
    root = write_fake_uci(tmp_path / "UCI HAR Dataset")
    (root / "train" / "subject_train.txt").write_text("1\n1\n")
    with pytest.raises(ConfigError, match=r"subject_train.txt: has 2 rows but y_train.txt "
                                          r"has 5"):
        load_uci_har(root)


def test_bad_arguments(fake_uci):
    with pytest.raises(ConfigError, match="features: 'fft' is not one of raw, 561"):
        load_uci_har(fake_uci, features="fft")
    with pytest.raises(ConfigError, match=r"splits: expected train and/or test, got \['dev'\]"):
        load_uci_har(fake_uci, splits=["dev"])
