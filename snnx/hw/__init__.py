"""snnx.hw: the hardware model. Knows nothing about networks.

``snnx.hw.config`` and ``snnx.hw.presets`` (and so :func:`load`) import without torch; the
engine classes are imported lazily on first use.

Example:
    >>> import torch, snnx.hw as hw
    >>> tile = hw.Tile(torch.randn(4, 8), hw.load("ideal"))
    >>> tile.mvm(torch.randn(2, 8)).shape
    torch.Size([2, 4])
"""

from snnx.hw.config import HWConfig
from snnx.hw.presets import list_presets, load

__all__ = ["HWConfig", "load", "list_presets", "Tile", "CostLedger", "Layout"]

_LAZY = {"Tile": "snnx.hw.tile", "CostLedger": "snnx.hw.ledger", "Layout": "snnx.hw.layout"}


def __getattr__(name):  # lazy: keep `import snnx.hw` free of torch
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snnx.hw' has no attribute {name!r}")
