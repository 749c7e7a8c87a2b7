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
        "synthetic_har": {"windows_per_activity": 3},
        "uci_har": {"path": str(fake_uci)},
        "hdf5": {"path": str(save_hdf5(small_har, tmp_path / "d.h5"))},
        "digits": {},
    }


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_every_kind_loads_a_valid_dataset_with_a_split(kind, params_for):
    assert kind in params_for, f"add minimal parameters for {kind!r} to params_for"
    ds = load_dataset(kind, params_for[kind], seed=1, source_subjects=1, target_subjects=1)
    assert isinstance(ds, WindowDataset) and ds.X.ndim == 3 and len(ds) > 0
    src, tgt = ds.source_target()
    assert len(src) + len(tgt) == len(ds)
    assert np.all(np.isfinite(ds.X)) and ds.y.max() < ds.n_classes


@pytest.mark.parametrize("kind, params, message", [
    ("synthetic", {}, "data.kind: 'synthetic' is not one of digits, hdf5, synthetic_har, "
                      "uci_har; did you mean 'synthetic_har'?"),
    ("synthetic_har", {"windows_per_activty": 1},
     "data.synthetic_har.windows_per_activty: unknown key; did you mean "
     "'windows_per_activity'?"),
    ("synthetic_har", {"seed": 1}, "data.synthetic_har.seed: unknown key; valid keys: "),
    ("synthetic_har", {"hop": 0}, "data.synthetic_har.hop: 0 is out of range [1, 100000]"),
    ("digits", {"target_shares": 0.2}, "data.digits.target_shares: unknown key; did you mean "
                                       "'target_share'?"),
    ("digits", {"target_share": 2.0}, "data.digits.target_share: 2.0 is out of range (0, 1)"),
    ("hdf5", {}, "data.hdf5.path: required key is missing"),
    ("uci_har", {"path": ".", "features": "fft"},
     "data.uci_har.features: 'fft' is not one of raw, 561"),
])
def test_bad_kind_or_parameter_is_named(kind, params, message):
    with pytest.raises(ConfigError) as e:
        load_dataset(kind, params)
    assert str(e.value).startswith(message)


def test_loader_errors_keep_their_file_path(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ConfigError) as e:
        load_dataset("hdf5", {"path": str(bad)})
    assert str(e.value).startswith(f"{bad}: not a readable HDF5 file")
