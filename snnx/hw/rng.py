"""Seeded random numbers for the engine, exact or pooled.

Per-read noise and stochastic rounding need as many random numbers as the output (reads)
or the array (updates). On a CPU, drawing them costs more than the matmul itself
(``torch.randn`` ~2.3 ns per number here: 0.6 ms for a batch-64 read of a 1024x1024 matrix
split over four arrays, more than the 0.45 ms matmul). :class:`RandomSource` therefore
offers two modes:

* ``pool_size=None`` — exact: every call draws fresh numbers from a ``torch.Generator``.
* ``pool_size=n`` (default 2**20) -- pooled: a pool of ``n`` standard normals and ``n``
  uniforms (the pools grow to twice the largest request); each request returns a window at a
  fresh random offset. Values inside one request are independent with the exact marginal
  distribution; two requests share values only at shifted positions (probability of a full
  repeat ~1/n). This is the usual accuracy/speed trade of fast analog simulators; pass
  ``pool_size=None`` to a Tile for exact sampling.

Requests larger than half of ``MAX_POOL`` (a 4096 x 4096 update asks for 16.8 M uniforms,
~0.1 s to draw on two cores) are *streamed*: the pools grow to ``MAX_POOL``, and the result
is made of consecutive windows of ``STREAM_WINDOW`` numbers, each copied from an
independent random offset of the pool into a buffer that the next streamed request of the
same kind reuses (one memory copy: 16.8 M uniforms in 26 ms against 222 ms drawn into
fresh memory, one thread of a busy two-core machine, ``bench/engine.py``); a streamed
request counts towards the renewal below like any other. Each value has the exact marginal
distribution and the values inside one window are independent. Windows are placed independently, so a value
may occur more than once in one request (certainly when the request is longer than the
pool), always as part of a whole window at an unrelated position; two requests share at
most whole windows, at unrelated positions, and are never shifted copies of each other over
their whole length.

Renewal: a pool is cut into ``CHUNKS`` chunks, and each time another ``RENEW * n / CHUNKS``
numbers have been requested from it, the next chunk in turn (a cursor sweeping the pool) is
drawn afresh, so ``1/RENEW`` of what is requested is redrawn (amortised), and the whole pool
after ``RENEW`` pool lengths. Chunk ``c`` drawn for the ``e``-th time holds the numbers of a
generator seeded with a hash of (seed, kind, pool length, c, e): the pools are a pure
function of a few counters. :meth:`RandomSource.state_dict` therefore stores the generator
state, the offset LCG and those counters, never the pools (a few hundred bytes instead of
8 MB per tile), and :meth:`RandomSource.load_state_dict` redraws only the chunks that differ
(none when a measurement is undone, one or two after a few requests), so a run resumes
bit-identically from a lean checkpoint.
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
#: chunks a pool is renewed in, one at a time
CHUNKS = 64
#: a pool is redrawn once per RENEW pool lengths requested (1/RENEW of the request volume)
RENEW = 64
_KINDS = {"normal": 1, "uniform": 2}


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (splitmix64 finaliser over each value in turn)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK
        h ^= h >> 31
    return h >> 1


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
        self._scratch: dict[str, torch.Tensor] = {}  #: output buffers of streamed requests
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(self.seed)
        self._lcg = (self.seed * 2654435761 + 12345) & _MASK
        self._pools: dict[str, torch.Tensor] = {}
        #: chunks renewed since the pool of that kind was sized (the pools' whole state)
        self._renewed = {"normal": 0, "uniform": 0}
        #: numbers requested from the pool of that kind since its last renewal
        self._spent = {"normal": 0, "uniform": 0}
        #: renewal count the held pool corresponds to (-1: none held)
        self._held = {"normal": -1, "uniform": -1}

    # ------------------------------------------------------------------ internals
    def _next_int(self, n: int) -> int:
        self._lcg = (self._lcg * _LCG_A + _LCG_C) & _MASK
        return (self._lcg >> 17) % n

    def _grow(self, kind: str, size: int) -> None:
        """Enlarge the pools to ``size`` (drawn afresh)."""
        self.pool_size = size
        for k in _KINDS:
            self._pools.pop(k, None)
            self._renewed[k], self._spent[k], self._held[k] = 0, 0, -1

    def _bounds(self, c: int) -> tuple[int, int]:
        n = self.pool_size
        return c * n // CHUNKS, (c + 1) * n // CHUNKS

    def _fill_chunk(self, pool: torch.Tensor, kind: str, c: int, renewed: int) -> None:
        """Chunk ``c`` as it is after ``renewed`` renewals (a pure function of the counters)."""
        epoch = renewed // CHUNKS + (1 if c < renewed % CHUNKS else 0)
        lo, hi = self._bounds(c)
        g = torch.Generator(device=self.device)
        g.manual_seed(_mix(self.seed, _KINDS[kind], self.pool_size, c, epoch))
        if kind == "normal":
            pool[lo:hi].normal_(generator=g)
        else:
            pool[lo:hi].uniform_(generator=g)

    def _pool(self, kind: str) -> torch.Tensor:
        """The pool of ``kind`` matching its renewal counter (redraws stale chunks only)."""
        assert self.pool_size is not None
        want, have = self._renewed[kind], self._held[kind]
        pool = self._pools.get(kind)
        if pool is None or have < 0 or abs(want - have) >= CHUNKS:
            pool = torch.empty(self.pool_size, device=self.device, dtype=self.dtype)
            stale = range(CHUNKS)
        else:  # chunks renewed between the two counts, in either direction
            lo, hi = min(want, have), max(want, have)
            stale = sorted({j % CHUNKS for j in range(lo, hi)})
        for c in stale:
            self._fill_chunk(pool, kind, c, want)
        self._pools[kind], self._held[kind] = pool, want
        return pool

    def _consume(self, kind: str, n: int) -> None:
        """Account ``n`` numbers requested; renew the next chunk(s) when their turn comes."""
        every = max(RENEW * self.pool_size // CHUNKS, 1)
        self._spent[kind] += n
        while self._spent[kind] >= every:
            self._spent[kind] -= every
            self._renewed[kind] += 1

    def _stream(self, kind: str, shape: tuple[int, ...], n: int) -> torch.Tensor:
        """A request larger than the pool: windows at independent random offsets, copied
        into a scratch buffer kept per kind (a fresh 67 MB tensor would cost more in page
        faults than the copy itself)."""
        if self.pool_size < MAX_POOL:
            self._grow(kind, MAX_POOL)
        self._consume(kind, n)    # renew first: the windows copied are the pool's now
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
        self._consume(kind, n)    # renew first: the window returned stays as it is
        pool = self._pool(kind)
        off = self._next_int(self.pool_size - n + 1)
        return pool[off:off + n].view(shape)

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
        """Generator state, offset LCG and the pools' counters (the pools are a function of
        them and are not stored; see the module docstring)."""
        return {"seed": self.seed, "gen": self.gen.get_state(), "lcg": self._lcg,
                "pool_size": self.pool_size, "renewed": dict(self._renewed),
                "spent": dict(self._spent)}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict` (stale pool chunks are redrawn on next use)."""
        size = state.get("pool_size", self.pool_size)
        if int(state["seed"]) != self.seed or size != self.pool_size:
            self.seed, self.pool_size = int(state["seed"]), size
            self._pools.clear()
            self._held = {k: -1 for k in _KINDS}
        self.gen.set_state(state["gen"])
        self._lcg = int(state["lcg"])
        self._renewed = {k: int(v) for k, v in state["renewed"].items()}
        self._spent = {k: int(v) for k, v in state["spent"].items()}
