"""Fixtures of the pipeline tests."""

import pytest


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in an empty folder, so that runs/ lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
