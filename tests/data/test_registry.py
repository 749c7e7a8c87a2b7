"""load_dataset: every registered kind loads; bad kinds and keys are named."""

from __future__ import annotations

import numpy as np
import pytest

from snnx.data import DATASETS, WindowDataset, load_dataset, save_hdf5
from snnx.errors import ConfigError


@pytest.fixture
def params_for(tmp_path, small_har, fake_uci):
    """Minimal parameters of each registered kind (a new kind must be added here)."""
    return {
        "synthetic_har": {"seed": 1, "n_source": 1, "n_target": 1, "windows_per_activity": 3},
        "uci_har": {"path": str(fake_uci)},
        "hdf5": {"path": str(save_hdf5(small_har, tmp_path / "d.h5"))},
        "digits": {"seed": 0},
    }


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_every_kind_loads_a_valid_dataset_with_a_split(kind, params_for):
    assert kind in params_for, f"add minimal parameters for {kind!r} to params_for"
    ds = load_dataset(kind, **params_for[kind])
    assert isinstance(ds, WindowDataset) and ds.X.ndim == 3 and len(ds) > 0
    src, tgt = ds.source_target()
    assert len(src) + len(tgt) == len(ds)
    assert np.all(np.isfinite(ds.X)) and ds.y.max() < ds.n_classes


@pytest.mark.parametrize("kind, params, message", [
    ("synthetic", {}, "data.kind: 'synthetic' is not one of digits, hdf5, synthetic_har, "
                      "uci_har"),
    ("synthetic_har", {"sed": 1}, "data.sed: unknown key; did you mean 'seed'?"),
    ("synthetic_har", {"n_target": -1}, "data.n_target: -1 is out of range [0, 10000]"),
    ("digits", {"test_fraction": 0.2}, "data.test_fraction: unknown key for kind 'digits'; "
                                       "did you mean 'test_frac'?"),
    ("digits", {"test_frac": 2.0}, "data.test_frac: must be in (0, 1), got 2.0"),
    ("hdf5", {}, "data.path: required for kind 'hdf5'"),
    ("uci_har", {"path": ".", "features": "fft"},
     "data.features: 'fft' is not one of raw, 561"),
])
def test_bad_kind_or_parameter_is_named(kind, params, message):
    with pytest.raises(ConfigError) as e:
        load_dataset(kind, **params)
    assert str(e.value) == message


def test_loader_errors_keep_their_file_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset("hdf5", path=str(tmp_path / "x.h5"))
    assert str(e.value) == f"{tmp_path / 'x.h5'}: no such file"
