r"""PUF-keyed encryption of a binary neural network held in RRAM pairs (METHODS.md section 3;
transform ``encrypt``). Obfuscation, not cryptography.

A BNN layer computes :math:`Y = \mathrm{sign}(W^\top X - B)` with :math:`W \in \{\pm1\}^{m
\times n}` (m inputs = rows, n outputs = columns), :math:`X \in \{\pm1\}^m` and integer
thresholds B (batch norm folded; the comparator gives +1 when :math:`W^\top X - B \ge 0`).
A weight +1 is the pair (LRS, HRS), -1 is (HRS, LRS). The last layer returns its integer
scores :math:`W^\top X - B` (argmax gives the class).

**Key transform** (per layer l, key :math:`r \in \{0,1\}^m`, :math:`c \in \{0,1\}^{\lfloor
n/2 \rfloor}`):

* row inversion :math:`W'_{j,:} = (-1)^{r_j} W_{j,:}` (the two cells of every pair in row j
  are swapped);
* column swap: columns 2k and 2k+1 of W' and entries 2k, 2k+1 of B trade places where
  :math:`c_k = 1`. With odd n the last column has no partner: it is never swapped (only the
  row inversion hides it).

Only W', B' are programmed. With the key the periphery drives :math:`X'_j = X_j \oplus r_j`
(in +-1: :math:`(-1)^{r_j} X_j`; one XOR per row), so the row flips cancel, and a 2:1 MUX pair
per output pair, selected by :math:`c_k`, swaps the outputs back (for the last layer, the
scores before argmax). The result equals the plain layer bit-exactly: all sums are integers
of magnitude <= m < 2^24, exact in float32. Without the key (or with a wrong one) the array
computes with W', B' as they are.

**Key source** [R]: a simulated RRAM PUF (:class:`SimulatedPUF`) compares the frozen
device-to-device conductances of cell pairs, :math:`R_i = [G_{2i} > G_{2i+1}]`;
``key_l = PRF(R, l)`` is HMAC-SHA256 keyed by the packed responses in counter mode over
the label ``(l, block)``: the first m bits are r, the next floor(n/2) bits c.

**Where the key lives.** :class:`KeyedPeriphery` holds the PUF (the simulated hardware:
its private conductances) and re-derives the key on every use; it keeps no key bits, no
seed, no generator. ``repr``, ``state_dict`` and logs carry only SHA-256 of the key bits,
which lets a checkpoint check that it is attached to the right chip. The PUF refuses to be
pickled (a chip cannot be copied into a file). Anyone holding the Python object can of course
query the simulated hardware, as anyone holding the chip can.

**Periphery cost.** Per inference: one XOR per input row of every layer, two 2:1 MUXes per
output pair (ledger op ``xor_mux``). Energy per gate operation ``E_GATE`` = 2 fJ [R]:
Horowitz (ISSCC 2014, 45 nm, 0.9 V) gives 0.03 pJ for an 8-bit add, i.e. ~8 full adders of
~4-5 two-input gate equivalents, ~0.8 fJ per gate event; 40 nm is about the same
(C V^2); we take 2 fJ to cover the key-bit fan-out wire and latch.

**Attack** [V: attack paper]: :func:`snnx.transforms.encrypt_attack.flip_attack` flips candidate key bits one at a time on
a few labelled samples and keeps a flip when the accuracy rises.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> W = torch.randint(0, 2, (8, 6), generator=g).float() * 2 - 1
    >>> B = torch.randint(-2, 3, (6,), generator=g).float()
    >>> per = KeyedPeriphery(SimulatedPUF(generator=g), [(8, 6)])
    >>> x = torch.randint(0, 2, (4, 8), generator=g).float() * 2 - 1
    >>> bool((per(x, per.encrypt([(W, B)])) == bnn_forward(x, [(W, B)])).all())
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Sequence

import numpy as np
import torch

from snnx.errors import ConfigError, ShapeError

__all__ = ["SimulatedPUF", "KeyedPeriphery", "LayerKey", "derive_keys", "encrypt_layer",
           "bnn_forward", "keyed_forward", "periphery_ops",
           "VARIANTS", "E_GATE"]

#: key variants: both parts, column swap only, row inversion only
VARIANTS = ("full", "swap", "invert")
#: J per XOR or 2:1 MUX operation (see the module docstring for the derivation)
E_GATE = 2e-15

Layer = tuple[torch.Tensor, torch.Tensor]


@dataclasses.dataclass(frozen=True, repr=False)
class LayerKey:
    """Key bits of one layer: r (m,) bool row inversions, c (floor(n/2),) bool pair swaps.

    ``repr`` shows sizes and a hash prefix only, so a key never lands in a log by accident.
    """

    r: torch.Tensor
    c: torch.Tensor

    def __repr__(self) -> str:
        return f"LayerKey(m={self.r.numel()}, pairs={self.c.numel()}, " \
               f"sha256={_sha([self])[:12]})"

    __str__ = __repr__


def _bits_bytes(keys: Sequence[LayerKey]) -> bytes:
    bits = torch.cat([torch.cat([k.r, k.c]).to(torch.uint8).cpu() for k in keys])
    return np.packbits(bits.numpy()).tobytes() + len(bits).to_bytes(8, "big")


def _sha(keys: Sequence[LayerKey]) -> str:
    return hashlib.sha256(_bits_bytes(keys)).hexdigest()


# ----------------------------------------------------------------------------- PUF + PRF
class SimulatedPUF:
    r"""An RRAM PUF: 2 n_bits cells set to LRS, frozen device-to-device spread.

    :math:`G = g_{on} \exp(\sigma \xi)`, :math:`\xi \sim N(0,1)` per cell (drawn once, "at
    manufacture"); response bit i is :math:`[G_{2i} > G_{2i+1}]` (a current comparison).
    Read noise / unstable bits (which need helper data or ECC) are not modelled.

    Args:
        n_bits: number of response bits.
        generator: the randomness of manufacture (not kept).
        g_on: S, mean LRS conductance.
        sigma: lognormal spread of G (rram_generic ``d2d_sigma``).
    """

    def __init__(self, n_bits: int = 256, *, generator: torch.Generator,
                 g_on: float = 100e-6, sigma: float = 0.1) -> None:
        if int(n_bits) < 1:
            raise ConfigError(f"n_bits: must be >= 1, got {n_bits!r}")
        if not sigma > 0:
            raise ConfigError(f"sigma: must be > 0, got {sigma!r}")
        self.n_bits = int(n_bits)
        xi = torch.randn(2 * self.n_bits, generator=generator, dtype=torch.float64)
        self._g = g_on * torch.exp(sigma * xi)

    def response(self) -> bytes:
        """The packed response bits (what the periphery reads; never log it)."""
        bits = (self._g[0::2] > self._g[1::2]).to(torch.uint8).numpy()
        return np.packbits(bits).tobytes()

    def __repr__(self) -> str:
        return f"SimulatedPUF(n_bits={self.n_bits})"

    def __getstate__(self):
        raise TypeError("SimulatedPUF: a PUF is hardware and cannot be pickled")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def derive_keys(secret: bytes, shapes: Sequence[tuple[int, int]],
                variant: str = "full") -> list[LayerKey]:
    """``key_l = PRF(secret, l)``: HMAC-SHA256(secret, "snnx-bnn" | l | block) in counter mode.

    Args:
        secret: PUF response bytes.
        shapes: (m, n) of every layer.
        variant: "full", "swap" (r = 0) or "invert" (c = 0).

    Returns:
        One :class:`LayerKey` per layer.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"variant: must be one of {VARIANTS}, got {variant!r}")
    keys = []
    for li, (m, n) in enumerate(shapes):
        need, stream, block = m + n // 2, b"", 0
        while len(stream) * 8 < need:
            msg = b"snnx-bnn" + li.to_bytes(4, "big") + block.to_bytes(4, "big")
            stream += hmac.new(secret, msg, hashlib.sha256).digest()
            block += 1
        bits = torch.from_numpy(np.unpackbits(np.frombuffer(stream, np.uint8))[:need].copy())
        r, c = bits[:m].bool(), bits[m:].bool()
        if variant == "swap":
            r = torch.zeros_like(r)
        elif variant == "invert":
            c = torch.zeros_like(c)
        keys.append(LayerKey(r, c))
    return keys


# ----------------------------------------------------------------------------- layers
def _check_layers(layers: Sequence[Layer]) -> list[tuple[int, int]]:
    shapes, prev = [], None
    for i, (W, B) in enumerate(layers):
        if W.dim() != 2 or B.shape != (W.shape[1],):
            raise ShapeError(f"layers[{i}]: W must be (m, n) and B (n,), got "
                             f"{tuple(W.shape)} and {tuple(B.shape)}")
        if not bool((W.abs() == 1).all()) or not bool((B == B.round()).all()):
            raise ShapeError(f"layers[{i}]: W must be +-1 and B integer")
        if prev is not None and W.shape[0] != prev:
            raise ShapeError(f"layers[{i}]: {W.shape[0]} inputs after {prev} outputs")
        prev = W.shape[1]
        shapes.append((W.shape[0], W.shape[1]))
    return shapes


def _pair_perm(c: torch.Tensor, n: int) -> torch.Tensor:
    """Column permutation (an involution) swapping 2k <-> 2k+1 where c_k."""
    perm = torch.arange(n, device=c.device)
    k = torch.nonzero(c).flatten()
    perm[2 * k], perm[2 * k + 1] = 2 * k + 1, 2 * k
    return perm


def _sign(s: torch.Tensor) -> torch.Tensor:
    return torch.where(s >= 0, 1.0, -1.0).to(s.dtype)


def encrypt_layer(W: torch.Tensor, B: torch.Tensor, key: LayerKey) -> Layer:
    """(W', B'): rows with r_j inverted, column pairs with c_k swapped (B with its columns)."""
    perm = _pair_perm(key.c.to(W.device), W.shape[1])
    Wp = W * (1 - 2 * key.r.to(W))[:, None]
    return Wp[:, perm], B[perm]


def keyed_forward(x: torch.Tensor, layers: Sequence[Layer],
                  keys: Sequence[LayerKey] | None = None) -> torch.Tensor:
    """BNN inference with the XOR/MUX periphery set by ``keys`` (None: no key, plain run).

    Args:
        x: (N, m_0) inputs in {-1, +1}.
        layers: [(W (m, n), B (n,))], as stored in the array.
        keys: one :class:`LayerKey` per layer, or None.

    Returns:
        (N, n_last) integer-valued scores of the last layer (after its MUXes).
    """
    _check_layers(layers)
    for i, (W, B) in enumerate(layers):
        if keys is not None:
            x = x * (1 - 2 * keys[i].r.to(x))                       # XOR at the row drivers
        s = x @ W - B
        if i < len(layers) - 1:
            s = _sign(s)
        if keys is not None:
            s = s[:, _pair_perm(keys[i].c.to(s.device), s.shape[1])]   # MUX pairs
        x = s
    return x


def bnn_forward(x: torch.Tensor, layers: Sequence[Layer]) -> torch.Tensor:
    """Plain BNN: ``sign(x W - B)`` per hidden layer, scores ``x W - B`` of the last, (N, n)."""
    return keyed_forward(x, layers, None)


def periphery_ops(shapes: Sequence[tuple[int, int]], variant: str = "full",
                  batch: int = 1) -> dict[str, int]:
    """XOR and 2:1 MUX operations of ``batch`` inferences (every gate works every time).

    Returns:
        {"xor": sum_l m_l, "mux": sum_l 2 floor(n_l/2), "mvm_macs": sum_l m_l n_l} times
        batch; "swap" has no XORs and "invert" no MUXes.
    """
    xor = sum(m for m, _ in shapes) if variant != "swap" else 0
    mux = sum(2 * (n // 2) for _, n in shapes) if variant != "invert" else 0
    return {"xor": xor * batch, "mux": mux * batch,
            "mvm_macs": sum(m * n for m, n in shapes) * batch}


class KeyedPeriphery:
    """The XOR row drivers and output MUXes of an encrypted BNN, keyed by a PUF.

    Args:
        puf: the chip's :class:`SimulatedPUF`.
        shapes: (m, n) of every layer.
        variant: one of :data:`VARIANTS`.
    """

    def __init__(self, puf: SimulatedPUF, shapes: Sequence[tuple[int, int]],
                 variant: str = "full") -> None:
        self._puf = puf
        self.shapes = [(int(m), int(n)) for m, n in shapes]
        self.variant = variant
        self.key_sha256 = _sha(self._keys())

    def _keys(self) -> list[LayerKey]:
        return derive_keys(self._puf.response(), self.shapes, self.variant)

    def encrypt(self, layers: Sequence[Layer]) -> list[Layer]:
        """The weights to program: [(W', B')] (the plain layers never reach the array)."""
        if _check_layers(layers) != self.shapes:
            raise ShapeError(f"layers: shapes {_check_layers(layers)} != {self.shapes}")
        return [encrypt_layer(W, B, k) for (W, B), k in zip(layers, self._keys())]

    def __call__(self, x: torch.Tensor, layers: Sequence[Layer]) -> torch.Tensor:
        """Keyed inference on the stored (encrypted) layers: (N, n_last) scores."""
        return keyed_forward(x, layers, self._keys())

    def ops(self, batch: int = 1) -> dict[str, int]:
        """:func:`periphery_ops` of this periphery."""
        return periphery_ops(self.shapes, self.variant, batch)

    def key_agreement(self, guess: Sequence[LayerKey]) -> float:
        """Fraction of the key bits in use that ``guess`` has right (evaluation oracle for
        attacks; the bits themselves stay inside)."""
        used = [(self.variant != "swap", self.variant != "invert")] * len(self.shapes)
        hit = tot = 0
        for k, g, (ur, uc) in zip(self._keys(), guess, used):
            for a, b, u in ((k.r, g.r, ur), (k.c, g.c, uc)):
                if u:
                    hit += int((a == b.to(a.device)).sum())
                    tot += a.numel()
        return hit / max(tot, 1)

    def state_dict(self) -> dict:
        """Shapes, variant and the key hash; never the key, the responses or a seed."""
        return {"shapes": [list(s) for s in self.shapes], "variant": self.variant,
                "key_sha256": self.key_sha256}

    def load_state_dict(self, state: dict) -> None:
        """Check a checkpoint against the attached PUF (raises ConfigError on a mismatch)."""
        if [tuple(s) for s in state["shapes"]] != self.shapes or \
                state["variant"] != self.variant:
            raise ConfigError("shapes: the checkpoint's layers or variant differ")
        if state["key_sha256"] != self.key_sha256:
            raise ConfigError("key_sha256: the attached PUF does not give the stored key")

    def __repr__(self) -> str:
        bits = sum(m + n // 2 for m, n in self.shapes)
        return f"KeyedPeriphery(layers={len(self.shapes)}, variant={self.variant!r}, " \
               f"key_bits={bits}, key_sha256={self.key_sha256[:12]})"

    __str__ = __repr__
