"""Fused spiking layers: one autograd node per layer over all T time steps.

A layer of ``n`` leaky integrate-and-fire neurons driven by input currents ``cur[t]``
(T, B, n), with u[-1] = syn[-1] = s[-1] = 0 (METHODS.md section 7)::

    syn[t] = alpha syn[t-1] + cur[t]                 (Synaptic neurons; Leaky: syn = cur)
    u[t]   = beta u[t-1] + syn[t] - theta r[t]       r[t] = s[t-1] (subtract), 0 (none)
    s[t]   = H(u[t] - theta)

Both recursions are computed in the order of operations of ``snntorch.Leaky`` /
``snntorch.Synaptic`` (``reset_delay=True``, ``init_hidden=False``): ``beta * u`` first, then
``+ syn``, then ``- theta r``; so the forward values equal a step-by-step snntorch loop bit
for bit (same dtype, same beta/alpha/theta values). The reset ``r`` is detached, as snntorch
does (``mem_reset`` clones and detaches the spike), which makes the backward pass linear in
the incoming gradients (discounted BPTT; Neftci, Mostafa & Zenke, IEEE SPM 2019)::

    du[t]   = g_s[t] H'(u[t] - theta) + g_u[t] + beta du[t+1]
    dsyn[t] = du[t] + alpha dsyn[t+1],        dL/dcur[t] = dsyn[t]  (Leaky: = du[t])

with ``H'`` the surrogate derivative (:class:`snnx.nn.Surrogate`). One autograd node per
layer replaces the T neuron calls (and their T graph nodes) of the snntorch loop.

On CPU both recursions run in numpy over rows of B*n values (much less overhead per step than
torch); on other devices they run in torch (the forward as T in-place steps, the backward as
one (T x T) matmul, :func:`_discount`).

Example:
    >>> import torch
    >>> from snnx.nn import surrogate
    >>> cur = torch.rand(8, 2, 3, requires_grad=True)
    >>> u, s = spiking_layer(cur, surrogate("atan"), beta=0.9, theta=1.0)
    >>> u.shape, s.shape
    (torch.Size([8, 2, 3]), torch.Size([8, 2, 3]))
    >>> (u.sum() + s.sum()).backward(); cur.grad.shape
    torch.Size([8, 2, 3])
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from snnx.errors import ConfigError, ShapeError

RESETS = ("subtract", "none")


class SpikeDeriv(Protocol):
    """What a surrogate must offer here: ``deriv(x)``, the smoothed ``dH/dx`` (same shape)."""

    def deriv(self, x: torch.Tensor) -> torch.Tensor: ...


# ====================================================================== building blocks
def _discount(T: int, k: float, dtype, device) -> torch.Tensor:
    """(T, T) matrix M with M[t, j] = k^(j-t) for j >= t: reverse discounted sum over time."""
    t = torch.arange(T, device=device)
    e = (t.view(1, T) - t.view(T, 1)).to(dtype)
    return torch.where(e >= 0, torch.as_tensor(k, dtype=dtype).pow(e.clamp(min=0)),
                       torch.zeros((), dtype=dtype))


def _numpy_ok(x: torch.Tensor) -> bool:
    """Whether the numpy loops apply: CPU tensors of a dtype numpy has (float32/float64)."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def reverse_discounted(g: torch.Tensor, k: float, *, inplace: bool = False) -> torch.Tensor:
    """``d[t] = g[t] + k d[t+1]`` (d[T] = 0), i.e. ``d[t] = sum_{j>=t} k^(j-t) g[j]``.

    Args:
        g: (T, ...) values per time step.
        k: discount per step.
        inplace: on CPU, overwrite ``g`` (if contiguous) instead of a copy.
    Returns:
        (T, ...) tensor, same dtype and device. CPU: a numpy loop over t (O(T) passes over
        rows of the other dimensions); elsewhere one (T x T) matmul (:func:`_discount`).
    """
    T = g.shape[0]
    g = g.detach()
    if not _numpy_ok(g):
        return (_discount(T, k, g.dtype, g.device) @ g.reshape(T, -1)).view(g.shape)
    d = g.numpy() if inplace and g.is_contiguous() else np.array(g.numpy(), order="C")
    tmp = np.empty_like(d[0])
    for t in range(T - 2, -1, -1):
        np.multiply(d[t + 1], k, out=tmp)
        d[t] += tmp
    return torch.from_numpy(d)


def lif_forward(cur: torch.Tensor, beta: float, theta: float, *, alpha: float | None = None,
                reset: str = "subtract") -> tuple[torch.Tensor, torch.Tensor]:
    """The neuron recursion of the module docstring over T steps (no autograd).

    Args:
        cur: (T, B, n) input currents, in membrane units (those of ``theta``) per step.
        beta: membrane decay per step.
        theta: firing threshold.
        alpha: synaptic decay per step (Synaptic neurons); None for Leaky (``syn = cur``).
        reset: ``subtract`` (``r[t] = s[t-1]``) or ``none`` (no reset; spikes still emitted).
    Returns:
        ``(u, s)``, both (T, B, n), dtype and device of ``cur``; ``s`` in {0, 1}. Float32/64
        on CPU run in numpy (a few times less overhead per step), anything else in torch.
    """
    run = _lif_numpy if _numpy_ok(cur) else _lif_torch
    return run(cur.detach(), float(beta), float(theta), alpha, reset == "subtract")


def _lif_numpy(cur, beta, theta, alpha, sub):
    c = cur.contiguous().numpy()
    T = c.shape[0]
    if alpha is not None:  # syn[t] = alpha syn[t-1] + cur[t], snntorch's order
        syn = np.empty_like(c)
        syn[0] = c[0]
        for t in range(1, T):
            np.multiply(syn[t - 1], alpha, out=syn[t])
            syn[t] += c[t]
        c = syn
    U, S = np.empty_like(c), np.zeros_like(c)
    U[0] = c[0]
    np.greater(U[0], theta, out=S[0], casting="unsafe")
    for t in range(1, T):
        u = U[t]
        np.multiply(U[t - 1], beta, out=u)  # beta u, + drive, - theta r: snntorch's order
        u += c[t]
        if sub:
            u -= theta * S[t - 1]
        np.greater(u, theta, out=S[t], casting="unsafe")
    return torch.from_numpy(U), torch.from_numpy(S)


def _lif_torch(cur, beta, theta, alpha, sub):
    T = cur.shape[0]
    drive = cur
    if alpha is not None:
        drive = torch.empty_like(cur)
        drive[0].copy_(cur[0])
        for t in range(1, T):
            torch.mul(drive[t - 1], alpha, out=drive[t]).add_(cur[t])
    U, S = torch.empty_like(drive), torch.zeros_like(drive)
    U[0].copy_(drive[0])
    S[0].copy_(U[0] > theta)
    for t in range(1, T):
        torch.mul(U[t - 1], beta, out=U[t]).add_(drive[t])
        if sub:
            U[t].sub_(S[t - 1], alpha=theta)
        S[t].copy_(U[t] > theta)
    return U, S


# ====================================================================== the autograd node
class FusedLIF(torch.autograd.Function):
    """Autograd node of :func:`spiking_layer`: cur (T, B, n) -> (u, s), BPTT backward."""

    @staticmethod
    def forward(ctx, cur, sg, beta, theta, alpha, reset):
        u, s = lif_forward(cur, beta, theta, alpha=alpha, reset=reset)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u)
        ctx.sg, ctx.beta, ctx.theta, ctx.alpha = sg, beta, theta, alpha
        return u, s

    @staticmethod
    @once_differentiable
    def backward(ctx, g_u, g_s):
        if (g_u is None and g_s is None) or not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        (u,) = ctx.saved_tensors
        G, owned = g_u, False
        if g_s is not None:  # the spike's surrogate gradient (snntorch: fire(mem))
            G, owned = g_s * ctx.sg.deriv(u - ctx.theta), True
            if g_u is not None:
                G.add_(g_u)
        d = reverse_discounted(G, ctx.beta, inplace=owned)  # du[t] = G[t] + beta du[t+1]
        if ctx.alpha is not None:  # dsyn[t] = du[t] + alpha dsyn[t+1]
            d = reverse_discounted(d, ctx.alpha, inplace=True)
        return d, None, None, None, None, None


def spiking_layer(cur: torch.Tensor, surrogate: SpikeDeriv, *, beta: float, theta: float,
                  alpha: float | None = None,
                  reset: str = "subtract") -> tuple[torch.Tensor, torch.Tensor]:
    """A whole layer of LIF neurons over T steps as one differentiable op.

    Equations, order of operations and gradients: see the module docstring (equal to a loop of
    ``snntorch.Leaky(beta, threshold=theta, spike_grad=surrogate, reset_mechanism=reset)``, or
    ``snntorch.Synaptic(alpha, beta, ...)`` when ``alpha`` is given, started from zero state).

    Args:
        cur: (T, B, n) input currents, any float dtype and device.
        surrogate: spike-gradient object with ``deriv`` (e.g. :class:`snnx.nn.Surrogate`).
        beta: membrane decay per step, in [0, 1].
        theta: firing threshold (> 0).
        alpha: synaptic decay per step in [0, 1] (Synaptic), or None (Leaky).
        reset: ``subtract`` (reset by subtraction, detached) or ``none`` (a membrane readout
            layer: pure leaky integration; its spikes are still returned).
    Returns:
        ``(u, s)``: membrane potentials and spikes, both (T, B, n) in ``cur``'s dtype.
    Raises:
        ShapeError: ``cur`` is not a 3-D floating tensor.
        ConfigError: a constant is out of range or ``reset`` is unknown.
    """
    if cur.dim() != 3 or not cur.is_floating_point():
        raise ShapeError(f"cur: expected a floating (T, B, n) tensor, got {cur.dtype} "
                         f"{tuple(cur.shape)}")
    if reset not in RESETS:
        raise ConfigError(f"reset: {reset!r} is not one of {', '.join(RESETS)}")
    for name, val in (("beta", beta), ("alpha", alpha)):
        if val is not None and not 0.0 <= val <= 1.0:
            raise ConfigError(f"{name}: must be in [0, 1], got {val}")
    if not theta > 0:
        raise ConfigError(f"theta: must be > 0, got {theta}")
    alpha = None if alpha is None else float(alpha)
    return FusedLIF.apply(cur, surrogate, float(beta), float(theta), alpha, reset)
