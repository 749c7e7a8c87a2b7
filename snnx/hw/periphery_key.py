r"""A keyed periphery: XOR gates at the row drivers and 2:1 MUX pairs at the columns, so that
the cells of a tile hold a scrambled matrix W' and only the periphery with the key computes
with W (METHODS.md section 3, at the tile level; transform ``encrypt``).

Key bits of one tile with ``in`` inputs and ``out`` outputs: :math:`r \in \{0,1\}^{in}`
(row inversions, :math:`s_i = (-1)^{r_i}`) and :math:`c \in \{0,1\}^{\lfloor out/2
\rfloor}` (output pairs (2k, 2k+1) swapped where :math:`c_k = 1`; the permutation
:math:`\pi` is an involution, an odd last output is never swapped). The cells hold

.. math:: W'_{o,i} = s_i\,W_{\pi(o),i}

(a row inversion swaps the two cells of every differential pair in row i). With the key the
periphery drives :math:`x'_i = s_i x_i` (one XOR per row on the sign) and swaps the sensed
outputs back, :math:`y_o = y'_{\pi(o)}`, so :math:`y = x W^T` exactly; likewise the
transposed read drives :math:`d'_o = d_{\pi(o)}` and senses :math:`g_i = s_i g'_i`, and an
outer-product update writes :math:`-\eta\, d'^T x'`, the scrambled image of
:math:`-\eta\, d^T x`. All of it is sign flips and permutations: on ideal hardware the keyed
tile equals the plain one to float rounding (the sums run over the physical, swapped order;
~1e-15 relative), and integer products (a BNN's +-1 weights and inputs) come out as the same
integers. Without the key (or with another one) the same cells compute with W'.

Cost: every vector through the tile (forward, transposed or update) passes ``in`` XORs and
``2 floor(out/2)`` MUXes (``xor=False`` / ``mux=False`` for the swap-only / inversion-only
variants); the tile books them as ledger op ``xor_mux`` at ``hw.cost.e_gate`` each.

The key lives in memory only, next to the hardware: it is not part of
:meth:`Tile.state_dict <snnx.hw.tile.Tile.state_dict>` (which stores :attr:`sha256` so that
a checkpoint can check it is loaded into the right chip), ``repr`` shows sizes and a hash
prefix, and pickling is refused. A tile gets its key as ``tile.layout.key = key`` (no cell
changes) followed by ``tile.program(W)`` (the plain W is scrambled on the way in). Who builds
the key is not this module's business
(:mod:`snnx.transforms.encrypt_tiles` derives it from a simulated PUF).

Example:
    >>> import torch, snnx.hw as hw
    >>> W = torch.randn(4, 6, dtype=torch.float64)
    >>> tile = hw.Tile(W, hw.load("ideal"))
    >>> key = PeripheryKey(torch.tensor([1, 0, 0, 1, 1, 0]).bool(), torch.tensor([1, 0]).bool(),
    ...                    n_out=4)
    >>> tile.layout.key = key                          # the periphery gets the key,
    >>> tile.program(W)                                # the cells get W' (re-programmed)
    >>> x = torch.randn(3, 6, dtype=torch.float64)
    >>> bool(torch.allclose(tile.mvm(x), x @ W.T))
    True
    >>> cells = tile.layout.weights(tile.conductances)        # what a thief reads
    >>> bool(torch.allclose(cells, key.scramble(W))), bool(torch.allclose(cells, W))
    (True, False)
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from snnx.errors import ConfigError, ShapeError

__all__ = ["PeripheryKey", "key_state", "check_key_state", "key_sha256"]


def key_sha256(r: torch.Tensor, c: torch.Tensor) -> str:
    """SHA-256 of key bits: packed ``cat(r, c)`` plus its length (8 bytes, big endian)."""
    bits = torch.cat([r, c]).to(torch.uint8).cpu().numpy()
    return hashlib.sha256(np.packbits(bits).tobytes() + len(bits).to_bytes(8, "big")).hexdigest()


class PeripheryKey:
    """The XOR/MUX key of one tile (see the module docstring).

    Args:
        r: (in,) bool, row inversions.
        c: (floor(n_out / 2),) bool, output-pair swaps.
        n_out: outputs of the tile.
        xor: the XOR gates exist (False: swap-only variant; r must then be all 0).
        mux: the MUX pairs exist (False: inversion-only variant; c must then be all 0).

    Raises:
        ShapeError: ``key.r`` / ``key.c`` not 1-D bits of the right length.
    """

    def __init__(self, r: torch.Tensor, c: torch.Tensor, *, n_out: int, xor: bool = True,
                 mux: bool = True) -> None:
        for name, t, n in (("key.r", r, None), ("key.c", c, int(n_out) // 2)):
            if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.dtype != torch.bool:
                raise ShapeError(f"{name}: expected a 1-D bool tensor of key bits")
            if n is not None and t.numel() != n:
                raise ShapeError(f"{name}: expected {n} pair bits (one per output pair of "
                                 f"{n_out} outputs), got {t.numel()}")
        if (not xor and bool(r.any())) or (not mux and bool(c.any())):
            raise ShapeError("key: a variant without XOR (MUX) gates needs r (c) all 0")
        self.n_in, self.n_out = int(r.numel()), int(n_out)
        self.xor, self.mux = bool(xor), bool(mux)
        self._sign = (1.0 - 2.0 * r.double()).cpu()
        perm = torch.arange(self.n_out)
        k = torch.nonzero(c.cpu()).flatten()
        perm[2 * k], perm[2 * k + 1] = 2 * k + 1, 2 * k
        self._perm = perm
        self._on: dict = {}  # the sign / permutation converted per (device, dtype), once
        self.sha256 = key_sha256(r.cpu(), c.cpu())

    @property
    def gates(self) -> int:
        """XOR plus MUX operations per vector: ``in`` (if xor) + ``2 floor(out/2)`` (if mux)."""
        return self.n_in * self.xor + 2 * (self.n_out // 2) * self.mux

    def check(self, n_in: int, n_out: int) -> "PeripheryKey":
        """This key, if it fits a tile with ``n_in`` inputs and ``n_out`` outputs.

        Raises:
            ShapeError: ``key.r`` / ``key.c`` made for another size.
        """
        if self.n_in != n_in:
            raise ShapeError(f"key.r: expected {n_in} row bits (one per input), got {self.n_in}")
        if self.n_out != n_out:
            raise ShapeError(f"key.c: made for {self.n_out} outputs, the tile has {n_out}")
        return self

    def _s(self, t: torch.Tensor) -> torch.Tensor:
        key = ("s", t.device, t.dtype)
        if key not in self._on:
            self._on[key] = self._sign.to(device=t.device, dtype=t.dtype)
        return self._on[key]

    def _p(self, t: torch.Tensor) -> torch.Tensor:
        key = ("p", t.device)
        if key not in self._on:
            self._on[key] = self._perm.to(t.device)
        return self._on[key]

    def drive(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in) inputs -> what the XOR row drivers apply, ``s * x``."""
        return x * self._s(x)

    def permute(self, y: torch.Tensor) -> torch.Tensor:
        """(B, out): the MUX pairs (column drive of mvm_t, un-swap of sensed outputs)."""
        return y.index_select(1, self._p(y))

    def scramble(self, W: torch.Tensor) -> torch.Tensor:
        """W (out, in) -> W' (and back: the map is an involution)."""
        return W.index_select(0, self._p(W)) * self._s(W)

    def __reduce_ex__(self, protocol):
        raise TypeError("PeripheryKey: a key is hardware state and cannot be pickled")

    def __deepcopy__(self, memo) -> "PeripheryKey":
        return self  # immutable: copies of a chip share its periphery

    def __repr__(self) -> str:
        return (f"PeripheryKey(in={self.n_in}, out={self.n_out}, xor={self.xor}, "
                f"mux={self.mux}, sha256={self.sha256[:12]})")

    __str__ = __repr__


def key_state(key: PeripheryKey | None) -> dict:
    """The entry a tile's ``state_dict`` gets for its key: ``{"key_sha256": ...}`` or {}."""
    return {} if key is None else {"key_sha256": key.sha256}


def check_key_state(key: PeripheryKey | None, state: dict) -> None:
    """Check that a tile state is loaded behind the periphery key it was saved with.

    Raises:
        ConfigError: ``key_sha256: ...`` (another chip's key, or encrypted vs plain).
    """
    if state.get("key_sha256") != (None if key is None else key.sha256):
        raise ConfigError("key_sha256: the tile's periphery key is not the one this state was "
                          "saved with (another chip, or an encrypted state into a plain tile "
                          "or back)")
