"""Input checks of the engine's verbs: shapes, dtypes, finite values (one cheap reduction)."""

from __future__ import annotations

from typing import Any

import torch

from snnx.errors import ShapeError


def check_finite(t: torch.Tensor, name: str) -> None:
    # one cheap reduction; an overflowing sum of finite values falls back to the exact check
    if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise ShapeError(f"{name}: contains NaN or inf")


def as_matrix(t: Any, name: str, n_cols: int | None, dtype=None, device=None,
               finite: bool = True) -> torch.Tensor:
    """Validate a (B, n) float tensor (1-D is promoted to one row). With ``finite=False``
    the caller checks for NaN/inf itself."""
    if not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(t, dtype=dtype or torch.float32, device=device)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ShapeError(f"{name}: cannot convert to a tensor ({e})") from None
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise ShapeError(f"{name}: expected shape (batch, {n_cols}), got {tuple(t.shape)}")
    if n_cols is not None and t.shape[1] != n_cols:
        raise ShapeError(f"{name}: expected {n_cols} features in dim 1, got shape "
                         f"{tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(dtype or torch.float32)
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if device is not None and t.device != device:
        t = t.to(device)
    if finite:
        check_finite(t, name)
    return t
