"""snnx: spiking and conventional neural networks on simulated RRAM crossbars.

The crossbar engine is :class:`snnx.hw.Tile`; hardware models load with
:func:`snnx.hw.load`; a finished run loads with :func:`snnx.load_run` (a
:class:`~snnx.pipeline.deployed.Deployed`: chip, rule, preprocessing; ``.adapter()`` takes raw
sensor samples).
"""

__version__ = "0.1.0"

from snnx.config.lazy import lazy_exports
from snnx.errors import ConfigError, ShapeError, SnnxError

__getattr__ = lazy_exports(__name__, {"load_run": "snnx.pipeline.deployed",
                                      "Deployed": "snnx.pipeline.deployed"})

__all__ = ["ConfigError", "Deployed", "ShapeError", "SnnxError", "__version__", "load_run"]
