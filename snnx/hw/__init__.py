"""snnx.hw: the hardware model. Knows nothing about networks.

``snnx.hw.config`` (and so :func:`load`) imports without torch; the engine classes are
imported lazily on first use.

Example:
    >>> import torch, snnx.hw as hw
    >>> tile = hw.Tile(torch.randn(4, 8), hw.load("ideal"))
    >>> tile.mvm(torch.randn(2, 8)).shape
    torch.Size([2, 4])
"""

from snnx.hw.config import HWConfig, list_presets, load

__all__ = ["HWConfig", "load", "list_presets", "Tile", "CostLedger"]


def __getattr__(name):  # lazy: keep `import snnx.hw.config` free of torch
    if name == "Tile":
        from snnx.hw.tile import Tile

        return Tile
    if name == "CostLedger":
        from snnx.hw.cost import CostLedger

        return CostLedger
    raise AttributeError(f"module 'snnx.hw' has no attribute {name!r}")
