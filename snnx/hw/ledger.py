"""CostLedger: counted crossbar operations -> energy (J), latency (s) and area (m^2).

The engine (:class:`snnx.hw.tile.Tile`) reports every operation it performs with
:meth:`CostLedger.add` — a count, the energy it cost and the latency it took — using the
per-operation numbers of the hardware model (:class:`snnx.hw.config.CostConfig`). Several
tiles may share one ledger (a whole network), so that a learning rule's cost is one sum.

Latency composes in two ways (DESIGN.md contract 1):

* sequential (default): latencies add up;
* parallel: inside ``with ledger.parallel():`` each ``with ledger.branch():`` block (or each
  bare ``add`` call) is one branch, and the block costs the *longest* branch.

Area is static: each tile registers the silicon it needs (cells, ADCs, DACs; transposed-read
periphery only once a transposed read happens).

Accounts: ``with ledger.charge("learn"):`` books everything recorded inside the block to the
account ``learn`` as well (a run keeps its on-line learning, its inference and the rules'
set-up apart this way). An account is the difference of the totals before and after each
block, summed block by block; :meth:`CostLedger.report` turns one into report.json's cost
block. Accounts are part of :meth:`CostLedger.state_dict`, so a resumed run adds up exactly
the same numbers.

Example:
    >>> led = CostLedger()
    >>> with led.parallel():
    ...     led.add("adc", 10, energy_j=1e-12, latency_s=2e-9)
    ...     led.add("adc", 10, energy_j=1e-12, latency_s=5e-9)
    >>> led.latency_s
    5e-09
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Iterator

# Operation names used by the engine, in report order.
OPS = ("dac", "cell_read", "adc", "dac_t", "cell_read_t", "adc_t", "digital", "pulse",
       "verify_read", "xor_mux")


def _empty_account() -> dict:
    return {"energy": {}, "latency_by_op": {}, "counts": {}, "latency_s": 0.0}


class CostLedger:
    """Accumulates counts, energy and latency of crossbar operations.

    Attributes:
        counts: op name -> number of operations (e.g. ADC conversions, cell pulses).
        energy: op name -> J.
        latency_s: total latency in s (sequential sum, parallel blocks as max).
        area: component name -> m^2 (registered once per owner).
    """

    def __init__(self) -> None:
        self.counts: dict[str, float] = defaultdict(float)
        self.energy: dict[str, float] = defaultdict(float)
        self.latency_by_op: dict[str, float] = defaultdict(float)
        self.latency_s: float = 0.0
        self.area: dict[str, float] = {}
        self.accounts: dict[str, dict] = {}
        self._frames: list[list[float]] = []  # open parallel blocks: branch latencies
        self._branch_open: list[bool] = []

    # ------------------------------------------------------------------ recording
    def add(self, op: str, count: float, energy_j: float = 0.0, latency_s: float = 0.0) -> None:
        """Record ``count`` operations of kind ``op`` costing ``energy_j`` and ``latency_s``."""
        self.counts[op] += float(count)
        self.energy[op] += float(energy_j)
        self.latency_by_op[op] += float(latency_s)
        self._add_latency(float(latency_s))

    def _add_latency(self, t: float) -> None:
        if not self._frames:
            self.latency_s += t
        elif self._branch_open[-1]:
            self._frames[-1][-1] += t
        else:
            self._frames[-1].append(t)

    @contextlib.contextmanager
    def parallel(self) -> Iterator["CostLedger"]:
        """Operations recorded inside run in parallel: the block costs its longest branch."""
        self._frames.append([])
        self._branch_open.append(False)
        try:
            yield self
        finally:
            branches = self._frames.pop()
            self._branch_open.pop()
            self._add_latency(max(branches, default=0.0))

    @contextlib.contextmanager
    def branch(self) -> Iterator["CostLedger"]:
        """Inside :meth:`parallel`: everything recorded in this block is one sequential branch."""
        if not self._frames:
            yield self
            return
        if self._branch_open[-1]:  # nested branch: just part of the enclosing one
            yield self
            return
        self._frames[-1].append(0.0)
        self._branch_open[-1] = True
        try:
            yield self
        finally:
            self._branch_open[-1] = False

    @contextlib.contextmanager
    def charge(self, account: str) -> Iterator["CostLedger"]:
        """Also book everything recorded inside the block to ``account`` (see module doc)."""
        snap = self.snapshot()
        try:
            yield self
        finally:
            acc = self.accounts.setdefault(account, _empty_account())
            delta = self.since(snap)
            for key in ("energy", "latency_by_op", "counts"):
                for op, v in delta[key].items():
                    if v:
                        acc[key][op] = acc[key].get(op, 0.0) + float(v)
            acc["latency_s"] += float(delta["latency_s"])

    def account(self, name: str) -> dict:
        """Totals booked to account ``name`` (``energy``/``latency_by_op``/``counts`` by op,
        ``latency_s``); zeros when nothing was booked."""
        return self.accounts.get(name, _empty_account())

    def report(self, name: str, steps: int = 0) -> dict:
        """report.json's cost block for account ``name`` (``steps`` on-chip steps)."""
        cost = self.account(name)
        energy = float(sum(cost["energy"].values()))
        return {"energy_j": energy, "latency_s": float(cost["latency_s"]),
                "area_m2": self.area_m2, "steps": int(steps),
                "energy_per_step_j": energy / steps if steps else 0.0,
                "pulses": float(cost["counts"].get("pulse", 0.0)),
                "energy_by_op": dict(cost["energy"]),
                "latency_by_op": dict(cost["latency_by_op"]), "counts": dict(cost["counts"]),
                "area_by_component": self.area_by_component()}

    def register_area(self, key: str, m2: float) -> None:
        """Register a static silicon area (overwrites the same key, never double counts)."""
        self.area[key] = float(m2)

    def unique_key(self, name: str) -> str:
        """A tile name not yet used for area in this ledger (``name``, ``name#2``, ...)."""
        taken = {k.split("/")[0] for k in self.area}
        if name not in taken:
            return name
        i = 2
        while f"{name}#{i}" in taken:
            i += 1
        return f"{name}#{i}"

    # ------------------------------------------------------------------ reading
    @property
    def energy_j(self) -> float:
        """Total energy in J."""
        return float(sum(self.energy.values()))

    @property
    def area_m2(self) -> float:
        """Total registered area in m^2."""
        return float(sum(self.area.values()))

    def area_by_component(self) -> dict[str, float]:
        """Area summed by component (cells, adc, dac, adc_t, dac_t, ...) over all owners."""
        out: dict[str, float] = defaultdict(float)
        for key, v in self.area.items():
            out[key.split("/")[-1]] += v
        return dict(out)

    def snapshot(self) -> dict:
        """A copy of the current totals (for per-step differences)."""
        return {"counts": dict(self.counts), "energy": dict(self.energy),
                "latency_s": self.latency_s, "latency_by_op": dict(self.latency_by_op)}

    def since(self, snap: dict) -> dict:
        """Totals accumulated since ``snap`` (from :meth:`snapshot`)."""
        return {
            "counts": {k: v - snap["counts"].get(k, 0.0) for k, v in self.counts.items()},
            "energy": {k: v - snap["energy"].get(k, 0.0) for k, v in self.energy.items()},
            "latency_s": self.latency_s - snap["latency_s"],
            "latency_by_op": {k: v - snap["latency_by_op"].get(k, 0.0)
                              for k, v in self.latency_by_op.items()},
        }

    def summary(self) -> dict:
        """Report-ready dict: totals and the split by operation / component."""
        return {
            "energy_j": self.energy_j,
            "latency_s": self.latency_s,
            "area_m2": self.area_m2,
            "energy_by_op": {k: v for k, v in self.energy.items() if v},
            "latency_by_op": {k: v for k, v in self.latency_by_op.items() if v},
            "counts": {k: v for k, v in self.counts.items() if v},
            "area_by_component": self.area_by_component(),
        }

    def reset(self) -> None:
        """Zero counts, energy, latency and accounts (area stays: the silicon is still there)."""
        self.accounts.clear()
        self.counts.clear()
        self.energy.clear()
        self.latency_by_op.clear()
        self.latency_s = 0.0

    def state_dict(self) -> dict:
        """Everything needed to restore the ledger."""
        return {"counts": dict(self.counts), "energy": dict(self.energy),
                "latency_by_op": dict(self.latency_by_op), "latency_s": self.latency_s,
                "area": dict(self.area),
                "accounts": {k: {"energy": dict(v["energy"]),
                                 "latency_by_op": dict(v["latency_by_op"]),
                                 "counts": dict(v["counts"]), "latency_s": v["latency_s"]}
                             for k, v in self.accounts.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`."""
        self.counts = defaultdict(float, state["counts"])
        self.energy = defaultdict(float, state["energy"])
        self.latency_by_op = defaultdict(float, state.get("latency_by_op", {}))
        self.latency_s = float(state["latency_s"])
        self.area = dict(state["area"])
        self.accounts = {k: {"energy": dict(v["energy"]),
                             "latency_by_op": dict(v["latency_by_op"]),
                             "counts": dict(v["counts"]), "latency_s": float(v["latency_s"])}
                         for k, v in state.get("accounts", {}).items()}

    def __repr__(self) -> str:
        return (f"CostLedger(energy={self.energy_j:.3e} J, latency={self.latency_s:.3e} s, "
                f"area={self.area_m2 * 1e6:.4f} mm^2)")
