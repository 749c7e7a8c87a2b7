"""snnx: spiking and conventional neural networks on simulated RRAM crossbars.

The crossbar engine is :class:`snnx.hw.Tile`; hardware models load with
:func:`snnx.hw.load`.
"""

__version__ = "0.1.0"

from snnx.errors import ConfigError, ShapeError, SnnxError

__all__ = ["ConfigError", "ShapeError", "SnnxError", "__version__"]
