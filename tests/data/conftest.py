"""Fixtures of the data tests: a small synthetic HAR set and a fake UCI HAR folder."""

from __future__ import annotations

import pytest

from snnx.data import synthetic_har
from uci_fake_folder import write_fake_uci


@pytest.fixture
def small_har():
    """3 source + 2 target subjects, 12 windows per activity each (360 windows)."""
    return synthetic_har(seed=0, n_source=3, n_target=2, windows_per_activity=12)


@pytest.fixture
def fake_uci(tmp_path):
    """Path of a freshly written fake 'UCI HAR Dataset' folder."""
    return write_fake_uci(tmp_path / "UCI HAR Dataset")
