"""Seeded random numbers for the engine, exact or pooled.

Per-read noise and stochastic rounding need as many random numbers as the output (reads)
or the array (updates). On a CPU, drawing them costs more than the matmul itself
(``torch.randn`` ~2.3 ns per number here: 0.6 ms for a batch-64 read of a 1024x1024 matrix
split over four arrays, more than the 0.45 ms matmul). :class:`RandomSource` therefore
offers two modes:

* ``pool_size=None`` — exact: every call draws fresh numbers from a ``torch.Generator``.
* ``pool_size=n`` (default 2**20) — pooled: a pool of ``n`` standard normals and ``n``
  uniforms is drawn once from the generator (the pools grow to twice the largest request);
  each request returns a window at a fresh random offset, and every 8th request redraws a
  slice elsewhere in the pool (on average 1/64 of the amount requested), so the pool is
  slowly renewed. Values inside one request are independent with the exact marginal
  distribution; two requests share values only at shifted positions (probability of a full
  repeat ~1/n). This is the usual accuracy/speed trade of fast analog simulators; pass
  ``pool_size=None`` to a Tile for exact sampling.

Requests larger than half of ``MAX_POOL`` (a 4096 x 4096 update asks for 16.8 M uniforms,
~0.1 s to draw on two cores) are *streamed*: the pools grow to ``MAX_POOL``, and the result
is made of consecutive windows of ``STREAM_WINDOW`` numbers, each copied from an
independent random offset of the pool into a buffer that the next streamed request of the
same kind reuses (one memory copy: 16.8 M uniforms in 26 ms against 222 ms drawn into
fresh memory, one thread of a busy two-core machine, ``bench/engine.py``), and
every streamed request then redraws a slice of 1/64 of its size elsewhere in the pool (the
same amortised renewal as above). Each value has the exact marginal distribution and the
values inside one window are independent. Windows are placed independently, so a value
may occur more than once in one request (certainly when the request is longer than the
pool), always as part of a whole window at an unrelated position; two requests share at
most whole windows, at unrelated positions, and are never shifted copies of each other over
their whole length.

All state (generator state and pool offsets) is part of :meth:`state_dict`, so a run resumes
bit-identically.
"""

from __future__ import annotations

import torch

_LCG_A = 6364136223846793005
_LCG_C = 1442695040888963407
_MASK = (1 << 64) - 1
#: pools grow to twice the largest request, up to this many numbers each
MAX_POOL = 1 << 23
#: length of each pool window a streamed (larger than MAX_POOL / 2) request is made of;
#: at torch's parallel grain size, so that each window is one serial copy (many small
#: parallel regions stall badly on busy cores)
STREAM_WINDOW = 1 << 15


class RandomSource:
    """Normal and uniform random tensors from one seeded generator.

    Args:
        seed: integer seed.
        device: torch device of the tensors produced.
        dtype: floating dtype of the tensors produced.
        pool_size: None for exact sampling, or the initial pool length; the pools grow to
            twice the largest request (at most ``MAX_POOL``); larger requests are streamed
            from windows of the pool (module docstring).
        stream: False draws requests larger than ``MAX_POOL / 2`` exactly instead (slower;
            the behaviour before streaming existed).
    """

    def __init__(self, seed: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, pool_size: int | None = 1 << 20,
                 stream: bool = True) -> None:
        self.seed = int(seed)
        self.device = torch.device(device)
        self.dtype = dtype
        self.pool_size = pool_size
        self.stream = stream
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(self.seed)
        self._lcg = (self.seed * 2654435761 + 12345) & _MASK
        self._normal: torch.Tensor | None = None
        self._uniform: torch.Tensor | None = None
        self._calls = 0
        self._scratch: dict[str, torch.Tensor] = {}  #: output buffers of streamed requests

    # ------------------------------------------------------------------ internals
    def _next_int(self, n: int) -> int:
        self._lcg = (self._lcg * _LCG_A + _LCG_C) & _MASK
        return (self._lcg >> 17) % n

    def _grow(self, kind: str, size: int) -> None:
        """Enlarge the pools to ``size`` (drawn afresh from the generator)."""
        self.pool_size = size
        self._normal = None
        self._uniform = None

    def _pool(self, kind: str) -> torch.Tensor:
        pool = self._normal if kind == "normal" else self._uniform
        if pool is None:
            assert self.pool_size is not None
            pool = torch.empty(self.pool_size, device=self.device, dtype=self.dtype)
            if kind == "normal":
                pool.normal_(generator=self.gen)
                self._normal = pool
            else:
                pool.uniform_(generator=self.gen)
                self._uniform = pool
        return pool

    def _renew(self, pool: torch.Tensor, kind: str, pos: int, k: int) -> None:
        if kind == "normal":
            pool[pos:pos + k].normal_(generator=self.gen)
        else:
            pool[pos:pos + k].uniform_(generator=self.gen)

    def _stream(self, kind: str, shape: tuple[int, ...], n: int) -> torch.Tensor:
        """A request larger than the pool: windows at independent random offsets, copied
        into a scratch buffer kept per kind (a fresh 67 MB tensor would cost more in page
        faults than the copy itself)."""
        if self.pool_size < MAX_POOL:
            self._grow(kind, MAX_POOL)
        pool = self._pool(kind)
        P, w = self.pool_size, min(STREAM_WINDOW, self.pool_size)
        buf = self._scratch.get(kind)
        if buf is None or buf.numel() < n:
            buf = torch.empty(n, device=self.device, dtype=self.dtype)
            self._scratch[kind] = buf
        for lo in range(0, n, w):
            m = min(w, n - lo)
            off = self._next_int(P - m + 1)
            buf[lo:lo + m].copy_(pool[off:off + m])
        self._calls += 1
        k = min(max(n // 64, 1), P)            # renewal at the amortised rate of small requests
        self._renew(pool, kind, self._next_int(P - k + 1), k)
        return buf[:n].view(shape)

    def _draw(self, kind: str, shape: tuple[int, ...]) -> torch.Tensor:
        n = 1
        for s in shape:
            n *= int(s)
        if self.pool_size is None or (n > MAX_POOL // 2 and n > self.pool_size // 2
                                      and not self.stream):
            out = torch.empty(shape, device=self.device, dtype=self.dtype)
            if kind == "normal":
                return out.normal_(generator=self.gen)
            return out.uniform_(generator=self.gen)
        if n > self.pool_size // 2:
            if n > MAX_POOL // 2:
                return self._stream(kind, shape, n)
            self._grow(kind, 2 * n)
        pool = self._pool(kind)
        off = self._next_int(self.pool_size - n + 1)
        window = pool[off:off + n].view(shape)
        # every 8th request renews a slice of the pool elsewhere (1/8 of the request size;
        # amortised 1/64), never the window itself
        self._calls += 1
        if self._calls % 8:
            return window
        k = max(n // 8, 1)
        pos = self._next_int(self.pool_size - k + 1)
        if pos + k <= off or pos >= off + n:
            self._renew(pool, kind, pos, k)
        return window

    # ------------------------------------------------------------------ API
    def normal(self, *shape: int) -> torch.Tensor:
        """Standard normal samples of ``shape``.

        In pooled mode the result is read-only and valid until the next request (a view of
        the pool, or for streamed requests a reused buffer): use it at once or copy it."""
        return self._draw("normal", tuple(shape))

    def uniform(self, *shape: int) -> torch.Tensor:
        """U[0, 1) samples of ``shape`` (pooled mode: read-only, valid until the next
        request, as :meth:`normal`)."""
        return self._draw("uniform", tuple(shape))

    def state_dict(self) -> dict:
        """Generator state, LCG state and pools (pools are rebuilt lazily if absent)."""
        return {"seed": self.seed, "gen": self.gen.get_state(), "lcg": self._lcg,
                "pool_size": self.pool_size, "calls": self._calls,
                "normal": None if self._normal is None else self._normal.clone(),
                "uniform": None if self._uniform is None else self._uniform.clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`."""
        self.seed = int(state["seed"])
        self.gen.set_state(state["gen"])
        self._lcg = int(state["lcg"])
        self.pool_size = state.get("pool_size", self.pool_size)
        self._calls = int(state.get("calls", 0))
        self._normal = None if state.get("normal") is None else state["normal"].to(
            self.device, self.dtype).clone()
        self._uniform = None if state.get("uniform") is None else state["uniform"].to(
            self.device, self.dtype).clone()
