"""One exception family for snnx.

Every error a user can cause derives from :class:`SnnxError`.  ``ConfigError`` is also a
``ValueError`` so that plain Python callers can catch the familiar type.
"""

from __future__ import annotations


class SnnxError(Exception):
    """Base class of every error snnx raises on purpose."""


class ConfigError(SnnxError, ValueError):
    """A configuration value (hardware model, recipe, override) is invalid.

    The message always starts with the dotted key path, e.g.
    ``device.g_min: must be < device.g_max (got 1e-4 >= 1e-4)``.
    """


class ShapeError(SnnxError, ValueError):
    """A tensor passed to the engine has the wrong shape, dtype or non-finite values."""
