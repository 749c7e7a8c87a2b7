"""Test-wide fixtures.

Small matrices: one intra-op thread is faster than two on a shared, loaded machine (and the
results do not depend on the thread count). Benchmarks in bench/ set their own threads.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
