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


class RandomSource:
    """Normal and uniform random tensors from one seeded generator.

    Args:
        seed: integer seed.
        device: torch device of the tensors produced.
        dtype: floating dtype of the tensors produced.
        pool_size: None for exact sampling, or the initial pool length; the pools grow to
            twice the largest request (at most ``MAX_POOL``), larger requests are drawn
            exactly.
    """

    def __init__(self, seed: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, pool_size: int | None = 1 << 20) -> None:
        self.seed = int(seed)
        self.device = torch.device(device)
        self.dtype = dtype
        self.pool_size = pool_size
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(self.seed)
        self._lcg = (self.seed * 2654435761 + 12345) & _MASK
        self._normal: torch.Tensor | None = None
        self._uniform: torch.Tensor | None = None
        self._calls = 0

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

    def _draw(self, kind: str, shape: tuple[int, ...]) -> torch.Tensor:
        n = 1
        for s in shape:
            n *= int(s)
        if self.pool_size is not None and n > self.pool_size // 2 and n <= MAX_POOL // 2:
            self._grow(kind, 2 * n)
        if self.pool_size is None or n > self.pool_size // 2:
            out = torch.empty(shape, device=self.device, dtype=self.dtype)
            if kind == "normal":
                return out.normal_(generator=self.gen)
            return out.uniform_(generator=self.gen)
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
            if kind == "normal":
                pool[pos:pos + k].normal_(generator=self.gen)
            else:
                pool[pos:pos + k].uniform_(generator=self.gen)
        return window

    # ------------------------------------------------------------------ API
    def normal(self, *shape: int) -> torch.Tensor:
        """Standard normal samples of ``shape`` (a read-only view in pooled mode)."""
        return self._draw("normal", tuple(shape))

    def uniform(self, *shape: int) -> torch.Tensor:
        """U[0, 1) samples of ``shape`` (a read-only view in pooled mode)."""
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
