"""Spiking networks for sensor windows: snntorch neurons, fully-connected synapses.

Network (METHODS.md section 7): a window ``x`` (B, W, C) is encoded into T input frames
``s_0[t]`` (see :func:`encode`), then for every layer ``l`` and step ``t``::

    I_l[t]   = W_l s_{l-1}[t] (+ b_l)                        synaptic current (the crossbar)
    syn_l[t] = alpha syn_l[t-1] + I_l[t]                     (Synaptic neurons only)
    u_l[t]   = beta u_l[t-1] + (syn_l[t] or I_l[t]) - theta r_l[t]
    s_l[t]   = H(u_l[t] - theta),     r_l[t] = H(u_l[t-1] - theta)   (reset by subtraction)

The neurons are ``snntorch.Leaky`` / ``snntorch.Synaptic`` with ``init_hidden=False``; the
state (``mem``, ``syn``) is passed explicitly every step. By default (``fused=True``) the
forward runs each layer's neurons over all T steps as one autograd node
(:func:`snnx.nn.fused.spiking_layer`), with the same values and gradients as the snntorch
step loop (``fused=False``, the reference). The spike's gradient is a
surrogate (:func:`surrogate`, arctan by default) and the reset ``r`` is detached, as in
snntorch. Readout ``membrane``: the last layer does not spike or reset and
``logits = (1/T) sum_t u_L[t]``; readout ``count``: ``logits = sum_t s_L[t]``.

``to_analog(hw)`` puts every synapse matrix on a tile (:class:`AnalogLinear`); the neurons
stay digital. :meth:`SNN.record` runs the same equations with the tiles and keeps what a
learning rule needs (time folded into the batch), and :meth:`SNN.hidden_delta` /
:meth:`SNN.output_delta` give the exact BPTT of these equations (reset detached).

Example:
    >>> import torch
    >>> net = SNN(channels=3, window=32, hidden=(16,), classes=2, steps=8)
    >>> net(torch.randn(5, 32, 3)).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import snntorch as snn
import torch
from torch import nn

from snnx.config.schema import KW, spec
from snnx.config.seeds import derive
from snnx.nn.ann import TileNet, _analog, noisy_linear
from snnx.nn.fused import _discount, lif_forward, spiking_layer
from snnx.nn.record import Record
from snnx.nn.surrogates import Surrogate

ENCODINGS = ("direct", "rate", "delta")
READOUTS = ("membrane", "count")
NEURONS = ("leaky", "synaptic")


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of ``model.kind: snn`` (``model.snn``)."""

    neuron: str = spec("leaky", choices=NEURONS, doc="LIF neuron model (snntorch Leaky/Synaptic)")
    beta: float = spec(0.9, lo=0, hi=1, doc="membrane decay per time step, in [0, 1]")
    threshold: float = spec(1.0, lo=0, lo_open=True, doc="firing threshold (> 0)")
    timesteps: int = spec(16, lo=1, hi=10000, doc="time steps per window")
    encoding: str = spec("direct", choices=ENCODINGS,
                         doc="direct: analog input every step | rate: Bernoulli spikes | "
                             "delta: spikes on change")
    readout: str = spec("membrane", choices=READOUTS,
                        doc="output logits: mean membrane or spike count")
    surrogate: str = spec("atan", choices=("atan", "fast_sigmoid"), doc="surrogate gradient")
    surrogate_slope: float = spec(2.0, lo=0, lo_open=True, doc="surrogate slope (> 0)")


# ====================================================================== encodings
def encoded_features(encoding: str, window: int, channels: int, steps: int) -> int:
    """Input features per time step of :func:`encode`."""
    per = (window // steps) * channels
    return 2 * per if encoding == "delta" else per


def encode(x: torch.Tensor, encoding: str, steps: int, *, gen: torch.Generator | None = None,
           rate_scale: float = 1.0, delta_threshold: float = 0.05) -> torch.Tensor:
    """Turn windows into T input frames.

    The window of W samples is cut into T consecutive chunks of ``W/T`` samples.

    * ``direct``: frame t is chunk t flattened (``W/T * C`` analog currents).
    * ``rate``: frame t is Bernoulli spikes with ``p = clip(1/2 + x/(2 rate_scale), 0, 1)``
      per sample of chunk t (seeded by ``gen``).
    * ``delta``: per sample, an ON spike where ``x[n] - x[n-1] > delta_threshold`` and an
      OFF spike where it is ``< -delta_threshold`` (``x[-1] = x[0]``); frame t holds the
      ON and OFF spikes of chunk t (``2 W/T C`` features).

    Args:
        x: (B, W, C) windows (W divisible by T).
        encoding: one of :data:`ENCODINGS`.
        steps: T.
    Returns:
        (T, B, F) frames, F = :func:`encoded_features`.
    """
    B, W, C = x.shape
    if W % steps:
        raise ValueError(f"steps: window length {W} is not divisible by T={steps}")
    if encoding == "direct":
        f = x
    elif encoding == "rate":
        p = (0.5 + 0.5 * x / rate_scale).clamp(0.0, 1.0)
        f = torch.bernoulli(p, generator=gen)
    elif encoding == "delta":
        dx = torch.diff(x, dim=1, prepend=x[:, :1])
        f = torch.cat([(dx > delta_threshold), (dx < -delta_threshold)], dim=2).to(x.dtype)
    else:
        raise ValueError(f"encoding: {encoding!r} is not one of {', '.join(ENCODINGS)}")
    return f.reshape(B, steps, -1).transpose(0, 1)


def _lif(drive: torch.Tensor, beta: float, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky integrate-and-fire with reset by subtraction over T steps (no autograd).

    ``u[t] = beta u[t-1] + drive[t] - theta s[t-1]``, ``s[t] = H(u[t] - theta)``, u[-1] = 0,
    in snntorch's order of operations. drive (T, B, n) -> (u, s), both (T, B, n); see
    :func:`snnx.nn.fused.lif_forward` (numpy loop on CPU).
    """
    return lif_forward(drive, beta, theta)


# ====================================================================== the network
class SNN(TileNet):
    """Fully-connected spiking network on sensor windows.

    Args:
        channels: C, sensor channels.
        window: W, samples per window.
        hidden: hidden layer widths.
        classes: output classes.
        steps: T, time steps per window (W divisible by T).
        neuron: ``leaky`` (snntorch Leaky) or ``synaptic`` (snntorch Synaptic).
        beta: membrane decay per step, in [0, 1].
        alpha: synaptic-current decay per step (Synaptic only), in [0, 1].
        threshold: firing threshold theta (> 0).
        surrogate: ``atan`` or ``fast_sigmoid``.
        slope: surrogate slope (default 2 for atan, 25 for fast_sigmoid).
        encoding: one of :data:`ENCODINGS`.
        readout: ``membrane`` or ``count``.
        bias: digital biases on the synapse layers.
        weight_noise: relative Gaussian weight noise injected in training mode.
        gain: initial weights are ``U(-1,1) * gain / sqrt(fan_in)``.
        rate_scale / delta_threshold: encoding parameters (see :func:`encode`).
        seed: seed of initialisation, weight noise and rate encoding.
        dtype: parameter dtype (default float32).
        fused: software forward with one autograd node per layer over all T steps
            (:func:`snnx.nn.fused.spiking_layer`; same values and gradients, several times
            faster to train); False runs the snntorch neurons step by step (the reference).
    """

    TILE_PREFIX = "snn_fc"
    Params = Params

    @classmethod
    def from_params(cls, params: Params, *, channels: int, window: int, classes: int,
                    hidden: Sequence[int], weight_noise: float = 0.0, seed: int = 0) -> "SNN":
        """The network of a recipe's ``model`` block (``model.kind: snn``)."""
        return cls(channels=channels, window=window, hidden=hidden, classes=classes,
                   steps=params.timesteps, neuron=params.neuron, beta=params.beta,
                   threshold=params.threshold, surrogate=params.surrogate,
                   slope=params.surrogate_slope, encoding=params.encoding,
                   readout=params.readout, weight_noise=weight_noise, seed=seed)

    @staticmethod
    def window_multiple(params: Params) -> int:
        """Window lengths must be a multiple of this (T: a window is cut into T chunks)."""
        return params.timesteps

    flat_input = False
    """The network takes windows (B, W, C) as they are."""

    @property
    def stochastic(self) -> bool:
        """Whether a software forward pass draws random numbers (rate encoding)."""
        return self.encoding == "rate"

    def __init__(self, channels: int = 9, window: int = 128, hidden: Sequence[int] = (128, 64),
                 classes: int = 6, steps: int = 16, *, neuron: str = "leaky", beta: float = 0.9,
                 alpha: float = 0.8, threshold: float = 1.0, surrogate: str = "atan",
                 slope: float | None = None, encoding: str = "direct",
                 readout: str = "membrane", bias: bool = False, weight_noise: float = 0.0,
                 gain: float = 1.0, rate_scale: float = 1.0, delta_threshold: float = 0.05,
                 seed: int = 0, dtype: torch.dtype | None = None, fused: bool = True) -> None:
        super().__init__()
        self._kwargs = dict(channels=channels, window=window, hidden=tuple(hidden),
                            classes=classes, steps=steps, neuron=neuron, beta=beta, alpha=alpha,
                            threshold=threshold, surrogate=surrogate, slope=slope,
                            encoding=encoding, readout=readout, bias=bias,
                            weight_noise=weight_noise, gain=gain, rate_scale=rate_scale,
                            delta_threshold=delta_threshold, seed=seed, dtype=dtype,
                            fused=fused)
        for name, val, allowed in (("neuron", neuron, NEURONS), ("encoding", encoding, ENCODINGS),
                                   ("readout", readout, READOUTS)):
            if val not in allowed:
                raise ValueError(f"{name}: {val!r} is not one of {', '.join(allowed)}")
        if window % steps:
            raise ValueError(f"steps: window length {window} is not divisible by T={steps}")
        for name, val in (("beta", beta), ("alpha", alpha)):
            if not 0.0 <= val <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {val}")
        if not threshold > 0:
            raise ValueError(f"threshold: must be > 0, got {threshold}")
        self.channels, self.window, self.classes = int(channels), int(window), int(classes)
        self.steps, self.hidden = int(steps), tuple(int(h) for h in hidden)
        self.neuron, self.encoding, self.readout = neuron, encoding, readout
        self.beta, self.alpha, self.threshold = float(beta), float(alpha), float(threshold)
        self.weight_noise, self.rate_scale = float(weight_noise), float(rate_scale)
        self.delta_threshold, self.seed = float(delta_threshold), int(seed)
        self.fused = bool(fused)
        self.spike_fn = Surrogate(surrogate, slope)
        self.in_features = encoded_features(encoding, window, channels, steps)
        sizes = [self.in_features, *self.hidden, self.classes]
        g = torch.Generator().manual_seed(self.seed)
        layers, neurons = [], []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = nn.Linear(a, b, bias=bias, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_((torch.rand(b, a, generator=g) * 2 - 1) * gain / a ** 0.5)
                if bias:
                    lin.bias.zero_()
            layers.append(lin)
            last = i == len(sizes) - 2
            reset = "none" if (last and readout == "membrane") else "subtract"
            kw = dict(beta=self.beta, threshold=self.threshold, spike_grad=self.spike_fn,
                      init_hidden=False, reset_mechanism=reset)
            neurons.append(snn.Synaptic(alpha=self.alpha, **kw) if neuron == "synaptic"
                           else snn.Leaky(**kw))
        self.layers = nn.ModuleList(layers)
        self.neurons = nn.ModuleList(neurons)
        self.gen = torch.Generator().manual_seed(derive(self.seed, "model.noise"))

    # ------------------------------------------------------------------ helpers
    def _check(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.dim() != 3 or x.shape[1:] != (self.window, self.channels):
            raise ValueError(f"x: expected shape (batch, {self.window}, {self.channels}), got "
                             f"{tuple(x.shape)}")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, C) windows -> (T, B, F) input frames (see :func:`encode`)."""
        return encode(self._check(x), self.encoding, self.steps, gen=self.gen,
                      rate_scale=self.rate_scale, delta_threshold=self.delta_threshold)

    def _consts(self, layer: int) -> tuple[float, float, float]:
        """(beta, alpha, theta) exactly as the snntorch neuron holds them (float32 buffers)."""
        neu = self.neurons[layer]
        alpha = float(neu.alpha.clamp(0, 1)) if self.neuron == "synaptic" else 0.0
        return float(neu.beta.clamp(0, 1)), alpha, float(neu.threshold)

    def _spiking(self, layer: int) -> bool:
        return not (layer == len(self.layers) - 1 and self.readout == "membrane")

    # ------------------------------------------------------------------ torch forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, C) windows -> logits (B, classes), differentiable (BPTT)."""
        h = self.encode(x)
        T, B = h.shape[:2]
        neurons = self._fused_neurons if self.fused else self._step_neurons
        for i, lyr in enumerate(self.layers):
            h = h.to(lyr.weight.dtype).reshape(T * B, -1)
            if isinstance(lyr, nn.Linear) and self.training and self.weight_noise > 0:
                cur = noisy_linear(lyr, h, self.weight_noise, self.gen)
            else:
                cur = lyr(h)
            u, h = neurons(i, cur.view(T, B, -1))
        if self.readout == "membrane":
            return u.mean(0)
        return h.sum(0)

    def _fused_neurons(self, layer: int, cur: torch.Tensor):
        """Layer ``layer``'s neurons on currents (T, B, n) -> (u, s), one autograd node."""
        beta, alpha, theta = self._consts(layer)
        return spiking_layer(cur, self.spike_fn, beta=beta, theta=theta,
                             alpha=alpha if self.neuron == "synaptic" else None,
                             reset="subtract" if self._spiking(layer) else "none")

    def _step_neurons(self, layer: int, cur: torch.Tensor):
        """The same with the snntorch neuron, one call per step -> (u or None, s)."""
        neu = self.neurons[layer]
        mem = torch.zeros_like(cur[0])
        syn = torch.zeros_like(cur[0])
        spikes, mems = [], []
        for t in range(cur.shape[0]):
            if self.neuron == "synaptic":
                spk, syn, mem = neu(cur[t], syn, mem)
            else:
                spk, mem = neu(cur[t], mem)
            spikes.append(spk)
            mems.append(mem)
        neu.reset_mem()  # drop the state snntorch keeps on the module (no graph kept)
        last = layer == len(self.layers) - 1
        return (torch.stack(mems) if last else None), torch.stack(spikes)

    # ------------------------------------------------------------------ rule interface
    @torch.no_grad()
    def record(self, x: torch.Tensor) -> Record:
        """Forward on the tiles (one ``mvm`` per layer over all T*B rows), keeping x_l, u_l."""
        frames = self.encode(x)
        T, B = frames.shape[:2]
        h = frames.reshape(T * B, -1)
        inputs, pre, syns = [], [], []
        for i in range(len(self.layers)):
            beta, alpha, theta = self._consts(i)
            lyr = _analog(self, i)
            h = h.to(lyr.tile.dtype)
            inputs.append(h)
            cur = lyr.analog_forward(h).view(T, B, -1)
            spiking = self._spiking(i)
            drive = cur
            if self.neuron == "synaptic":  # linear: syn[t] = sum_k alpha^(t-k) I[k]
                drive = (_discount(T, alpha, cur.dtype, cur.device).t()
                         @ cur.reshape(T, -1)).view_as(cur)
                syns.append(drive.reshape(T * B, -1))
            if spiking:
                U, S = _lif(drive.contiguous(), beta, theta)
            else:  # no spikes, no reset: u[t] = sum_k beta^(t-k) drive[k], one matmul
                U = (_discount(T, beta, cur.dtype, cur.device).t()
                     @ drive.reshape(T, -1)).view_as(cur)
            pre.append(U.view(T * B, -1))
            h = (S if spiking else U).reshape(T * B, -1)
        logits = U.mean(0) if self.readout == "membrane" else h.view(T, B, -1).sum(0)
        return Record(inputs=inputs, pre=pre, logits=logits, batch=B, steps=T,
                      extra={"syn": syns})

    def _bptt(self, layer: int, rec: Record, G: torch.Tensor) -> torch.Tensor:
        """Direct gradients G = dL/du_l[t] (N, n) -> δ_l = dL/dI_l[t] (N, n).

        With the reset detached the membrane recursion is linear in its gradient:
        ``du[t] = G[t] + beta du[t+1]`` (and ``dsyn[t] = du[t] + alpha dsyn[t+1]``), i.e. a
        reverse discounted sum over time, done as one (T x T) matmul.
        """
        T, n = rec.steps, G.shape[1]
        beta, alpha, _ = self._consts(layer)
        G = G.view(T, -1)
        d = _discount(T, beta, G.dtype, G.device) @ G
        if self.neuron == "synaptic":
            d = _discount(T, alpha, G.dtype, G.device) @ d
        return d.view(-1, n)

    def local_deriv(self, layer: int, rec: Record) -> torch.Tensor:
        """Surrogate ``H'(u_l[t] - theta)`` (N, n): the f'(a_l) of a spiking layer."""
        return self.spike_fn.deriv(rec.pre[layer] - self._consts(layer)[2])

    def hidden_delta(self, layer: int, rec: Record, g: torch.Tensor) -> torch.Tensor:
        """BPTT through layer ``l``'s neurons: g = dL/ds_l[t] (N, n) -> δ_l = dL/dI_l[t]."""
        return self._bptt(layer, rec, g * self.local_deriv(layer, rec))

    def expand_error(self, rec: Record, v: torch.Tensor) -> torch.Tensor:
        """Per-window signal (B, n) -> every time step (T*B, n), times dlogits/d(step output)
        (1/T for the membrane readout, 1 for spike counts)."""
        k = 1.0 / rec.steps if self.readout == "membrane" else 1.0
        return v.repeat(rec.steps, 1) * k

    def output_delta(self, rec: Record, e: torch.Tensor) -> torch.Tensor:
        """e = dL/dlogits (B, C) -> δ_L = dL/dI_L[t] (T*B, C) through the readout and BPTT."""
        L = len(self.layers) - 1
        G = self.expand_error(rec, e)
        if self._spiking(L):
            G = G * self.local_deriv(L, rec)
        return self._bptt(L, rec, G)
