"""Hardware model configuration: frozen dataclasses, validated strictly; no torch.

A hardware model groups its knobs by concern::

    HWConfig
      device       conductance range, levels, faults, pulse step; device.model (a registry
                   entry of snnx.hw.devices) with its parameters beside it
      array        physical array size, weight headroom
      periphery    DAC, ADC, bit slicing, bit-serial inputs
      parasitics   wire resistance model (DESIGN.md contract 2)
      programming  programming.scheme (snnx.hw.programming) with its parameters beside it
      noise        programming error; noise.read: the read-noise models (snnx.hw.noise)
      drift        conductance change with the time since writing (snnx.hw.drift)
      cost         per-operation energy, latency and area (CostLedger)

Presets are YAML files in ``hw_models/`` (:mod:`snnx.hw.presets`); every number there names
its source.

Example:
    >>> import snnx.hw as hw
    >>> cfg = hw.load("rram_generic", **{"periphery.adc_bits": 6})
    >>> cfg.periphery.adc_bits, cfg.device.model, cfg.noise.read["constant"].sigma
    (6, 'soft_bounded', 0.01)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from snnx.config.overrides import merge
from snnx.config.schema import KW, blocks, build, choice, chosen, plugins, spec, to_dict
from snnx.errors import ConfigError
from snnx.hw.devices import DEVICES
from snnx.hw.drift import DRIFT
from snnx.hw.noise import NOISE
from snnx.hw.programming import PROGRAMMING


@dataclasses.dataclass(**KW)
class UpdateConfig:
    """Pulse-based conductance updates (outer-product learning, verify pulses)."""

    step: float | None = spec(None, lo=0, lo_open=True, hi=1,
                              doc="conductance step per pulse as a fraction of g_max-g_min; "
                                  "null = 1/(levels-1), or exact analog updates if levels is null")
    max_pulses: int = spec(31, lo=1, hi=100000,
                           doc="scheme counted: most pulses one cell gets in one update")
    refresh_at: float = spec(0.9, lo=0, hi=1, lo_open=True,
                             doc="refresh a differential pair when both sides exceed this "
                                 "fraction of the range (1 = never)")
    scheme: str = spec("stochastic", choices=("stochastic", "counted"),
                       doc="stochastic: parallel update by coincidences of stochastic row and "
                           "column pulse trains (Gokmen & Vlasov 2016), no digital outer "
                           "product; counted: x^T d computed digitally (MACs booked), rounded "
                           "to pulse counts, written row by row (snnx 0.1). Multi-level cells "
                           "only: bit-sliced tiles always do a digital read-modify-write")
    policy: str = spec("bidirectional", choices=("bidirectional", "split"),
                       doc="bidirectional: a change moves both sides of the pair, "
                           "potentiating one and depressing the other (push-pull), so "
                           "depression asymmetry and soft bounds act during learning (two "
                           "phase sets per cycle); split: only potentiation, G+ for increases "
                           "and G- for decreases, pairs refreshed when both sides run high "
                           "(snnx 0.1). Measured over 5 seeds in docs/rules.md")
    bl: int = spec(31, lo=1, hi=1024,
                   doc="scheme stochastic: pulse slots per update cycle (the largest bit "
                       "length with bl_management); aihwkit's default desired_bl is 31")
    bl_management: bool = spec(True, doc="scheme stochastic: per cycle use only "
                                         "ceil(lr max|x| max|d| / dw_min) <= bl slots and "
                                         "scale the probabilities to match (aihwkit's "
                                         "update_bl_management); false: always bl slots")


@dataclasses.dataclass(**KW)
class DeviceConfig:
    """The memristive cell: range and levels shared by every device model, and the model."""

    g_min: float = spec(2e-6, lo=0, doc="S, lowest programmable conductance (HRS)")
    g_max: float = spec(100e-6, lo=0, lo_open=True, doc="S, highest conductance (LRS)")
    levels: int | None = spec(16, lo=2, hi=1 << 20,
                              doc="distinguishable conductance levels; null = continuous")
    stuck_at: float = spec(0.0, lo=0, hi=1,
                           doc="fraction of cells stuck (SA0 at g_min, SA1 at g_max)")
    sa1_share: float = spec(0.5, lo=0, hi=1, doc="share of stuck cells that are SA1")
    update: UpdateConfig = spec(factory=UpdateConfig, doc="pulse update physics")
    model: str = choice(DEVICES, "soft_bounded",
                        doc="device model (snnx.hw.devices); its parameters sit beside it, "
                            "under its name")
    params: Mapping[str, Any] = blocks()

    def __post_init__(self) -> None:
        if self.g_min >= self.g_max:
            raise ConfigError(f"device.g_min: must be < device.g_max (got {self.g_min:g} >= "
                              f"{self.g_max:g})")


@dataclasses.dataclass(**KW)
class ArrayConfig:
    """Physical array geometry and weight mapping."""

    rows: int = spec(256, lo=1, hi=1 << 16, doc="wordlines (inputs) per physical array")
    cols: int = spec(256, lo=1, hi=1 << 16, doc="bitlines (outputs) per physical array")
    mapping: str = spec("differential", choices=("differential",),
                        doc="signed-weight mapping: differential pair G+ - G-")
    w_headroom: float = spec(1.0, lo=1, hi=100,
                             doc="g_max maps to headroom * max|W| at programming")


@dataclasses.dataclass(**KW)
class PeripheryConfig:
    """Converters, bit slicing and input encoding."""

    v_read: float = spec(0.2, lo=0, lo_open=True, hi=5, doc="V, read voltage at full-scale input")
    dac_bits: int | None = spec(8, lo=1, hi=32, doc="input DAC resolution incl. sign; null = ideal")
    adc_bits: int | None = spec(8, lo=1, hi=32, doc="ADC resolution incl. sign; null = ideal")
    adc_clip: float = spec(0.0625, lo=0, lo_open=True, hi=1,
                           doc="ADC full scale as a fraction of the largest possible column "
                               "current (all rows at full input, all cells at full weight)")
    adc_share: int = spec(8, lo=1, hi=4096, doc="columns multiplexed onto one ADC")
    input_scaling: str = spec("abs_max", choices=("abs_max", "fixed"),
                              doc="abs_max: each input vector scaled by its own max|x| "
                                  "(digital); fixed: full scale x_max")
    x_max: float = spec(1.0, lo=0, lo_open=True, doc="input full scale for input_scaling=fixed")
    adc_range: str = spec("line", choices=("line", "array"),
                          doc="ADC full scale of a sensed line with n used cells: line = "
                              "adc_clip * sqrt(n * n_ref) full cells, capped at n (n_ref = "
                              "adc_ref_cells; a sum of n terms of random sign grows as "
                              "sqrt(n)), the same rule for forward, transposed and feedback "
                              "reads; array = adc_clip * the physical line length (snnx 0.1)")
    adc_ref_cells: int | None = spec(None, lo=1, hi=1 << 16,
                                     doc="cells of the line for which adc_clip holds; null = "
                                         "the physical line (array.rows forward, array.cols "
                                         "transposed)")
    transposed_adc: str = spec("shared", choices=("shared", "separate"),
                               doc="transposed reads: shared = the forward converters and "
                                   "drivers serve rows too through multiplexers (NeuRRAM's "
                                   "transposable neuron array), no extra area; separate = a "
                                   "second bank of row-side ADCs and column drivers (snnx 0.1)")
    weight_bits: int | None = spec(None, lo=1, hi=24,
                                   doc="magnitude bits of bit-sliced weights; null = multi-level "
                                       "analog cells (no slicing)")
    bits_per_cell: int = spec(1, lo=1, hi=8, doc="bits stored per cell when bit slicing")
    input_bit_serial: bool = spec(False, doc="feed inputs one bit plane per cycle (shift-add)")


@dataclasses.dataclass(**KW)
class ParasiticsConfig:
    """Wire resistance of every physical array (DESIGN.md contract 2, snnx.hw.parasitics).

    Reads use G_eff per physical array (G+ and G- separately), solved once per programming;
    every read, forward and transposed, is then a matmul. After on-line updates the exact
    solve is repeated every ``refresh_every`` updates with a first-order increment in between
    (``snnx.hw.readout.effective`` states the policy and its measured error), or the kept
    solves are updated for the changed cells (``incremental``, ``snnx.hw.wires``).
    """

    model: str = spec("none", choices=("none", "first_order", "exact"),
                      doc="none: ideal wires; first_order: O(MN) closed form, error grows "
                          "fast above NF ~10 %; exact: nodal solve (~0.24 s per 256x256 "
                          "array, once per programming)")
    r_row: float = spec(0.0, lo=0, doc="ohm per wordline segment between neighbouring cells "
                                       "(and driver to the first cell); > 0 unless model is "
                                       "none; literature 1-2.5 ohm")
    r_col: float = spec(0.0, lo=0, doc="ohm per bitline segment between neighbouring cells "
                                       "(and last cell to the sense amplifier); > 0 unless "
                                       "model is none; literature 1-2.5 ohm")
    refresh_every: int = spec(1, lo=1, doc="model exact: re-solve G_eff exactly every k "
                                           "updates, first-order increment on the last "
                                           "solve in between (error ~0.1-2 % of the column "
                                           "currents for 1-5 % of cells changed at NF "
                                           "13-35 %); 1 = exact after every update")
    incremental: str = spec("none", choices=("none", "exact", "linear"),
                            doc="model exact, after on-line updates (snnx.hw.wires): none: "
                                "the refresh_every policy above; exact: one kept solve per "
                                "physical array, corrected exactly for the changed cells "
                                "after every update (re-solves by itself when that is "
                                "cheaper; refresh_every unused); linear: first order with "
                                "the exact Jacobian of the last full solve, re-solved every "
                                "refresh_every (> 1) updates. Memory per 256x256 array: "
                                "exact ~140 MB, linear ~275 MB (grows as rows x cols^2); a "
                                "tile estimated above 4 GB is refused")

    def __post_init__(self) -> None:
        if self.model != "none":
            for name in ("r_row", "r_col"):
                if getattr(self, name) <= 0:
                    raise ConfigError(f"parasitics.{name}: must be > 0 ohm with model "
                                      f"{self.model!r} (got r_row={self.r_row:g}, "
                                      f"r_col={self.r_col:g})")
        if self.incremental != "none" and self.model != "exact":
            raise ConfigError(f"parasitics.incremental: {self.incremental!r} needs model "
                              f"'exact' (got {self.model!r})")
        if self.incremental == "linear" and self.refresh_every == 1:
            raise ConfigError("parasitics.incremental: 'linear' re-solves every "
                              "refresh_every updates; with 1 that is a full re-solve per "
                              "update (set refresh_every > 1, or use 'none' or 'exact')")


@dataclasses.dataclass(**KW)
class ProgrammingConfig:
    """Writing target conductances: the scheme (snnx.hw.programming) and its parameters."""

    scheme: str = choice(PROGRAMMING, "verify",
                         doc="one_shot: one noisy write; verify: iterative program-and-verify")
    params: Mapping[str, Any] = blocks()


@dataclasses.dataclass(**KW)
class NoiseConfig:
    """Stochastic errors: programming error (persists) and read noise (every read anew)."""

    prog_sigma: float = spec(0.0, lo=0, hi=1,
                             doc="one-shot programming error std, fraction of g_max - g_min")
    read: Mapping[str, Any] = plugins(NOISE, doc="read-noise models by name (snnx.hw.noise), "
                                                 "each with its parameters; their variances add")


@dataclasses.dataclass(**KW)
class CostConfig:
    """Per-operation energy (J), latency (s) and area (m^2)."""

    t_read: float = spec(5e-9, lo=0, doc="s, array read (integration) time per cycle")
    adc_fom: float = spec(6.1e-15, lo=0, doc="J per conversion step, E_adc = fom * 2^bits "
                                             "(ISAAC: 1.56 pJ per 8-bit conversion)")
    t_adc: float = spec(0.78e-9, lo=0, doc="s per ADC conversion (ISAAC: 1.28 GS/s)")
    adc_area_8b: float = spec(1.2e-9, lo=0, doc="m^2 of ONE 8-bit ADC (scales with 2^(b-8))")
    e_dac_bit: float = spec(0.05e-12, lo=0, doc="J per DAC conversion per bit")
    t_dac: float = spec(1e-9, lo=0, doc="s per DAC settling")
    dac_area: float = spec(5e-11, lo=0, doc="m^2 of one wordline driver/DAC")
    e_pulse: float = spec(2e-12, lo=0, doc="J per write pulse on one cell (a coincidence "
                                           "in the stochastic scheme)")
    t_pulse: float = spec(50e-9, lo=0, doc="s per write pulse (row-parallel) or pulse slot")
    e_line_pulse: float = spec(0.05e-12, lo=0,
                               doc="J per pulse fired by one row or column driver in a slot "
                                   "(stochastic update)")
    e_digital: float = spec(0.03e-12, lo=0, doc="J per digital add or compare (8 bit)")
    e_mult: float = spec(0.2e-12, lo=0, doc="J per digital multiply (8 bit); a MAC costs "
                                            "e_mult + e_digital")
    macs_per_cycle: int = spec(256, lo=1, doc="digital throughput: multiply-accumulates (or "
                                              "other ops) per clock cycle")
    e_gate: float = spec(2e-15, lo=0, doc="J per XOR / 2:1 MUX operation of a keyed periphery "
                                          "(encryption): Horowitz ISSCC 2014, 0.03 pJ per "
                                          "8-bit add ~ 0.8 fJ per gate event, x2.5 for the "
                                          "key-bit wire and latch [R]")
    t_digital: float = spec(1e-9, lo=0, doc="s, digital clock period (one vector stage)")
    feature_size: float = spec(40e-9, lo=0, lo_open=True, doc="m, technology node F")
    cell_area_f2: float = spec(4.0, lo=1, doc="cell area in F^2 (4 crossbar, 12+ 1T1R)")


@dataclasses.dataclass(**KW)
class HWConfig:
    """A complete hardware model."""

    name: str = spec("custom", doc="preset name")
    description: str = spec("", doc="one line")
    source: tuple[str, ...] = spec((), doc="where the numbers come from")
    notes: tuple[str, ...] = spec((), doc="assumptions and deviations")
    device: DeviceConfig = spec(factory=DeviceConfig)
    array: ArrayConfig = spec(factory=ArrayConfig)
    periphery: PeripheryConfig = spec(factory=PeripheryConfig)
    parasitics: ParasiticsConfig = spec(factory=ParasiticsConfig)
    programming: ProgrammingConfig = spec(factory=ProgrammingConfig)
    noise: NoiseConfig = spec(factory=NoiseConfig)
    drift: Mapping[str, Any] = plugins(DRIFT, doc="drift models by name (snnx.hw.drift), each "
                                                  "with its parameters; empty = no drift")
    cost: CostConfig = spec(factory=CostConfig)

    def replace(self, **overrides: Any) -> "HWConfig":
        """A copy with dotted-key overrides applied and validated, e.g.
        ``cfg.replace(**{"periphery.adc_bits": 6})``."""
        return from_dict(to_dict(self), overrides)

    def to_dict(self) -> dict:
        """Plain nested dict (YAML-serialisable)."""
        return to_dict(self)

    @property
    def device_params(self) -> Any:
        """The Params of the chosen device model."""
        return chosen(self.device, "model")

    @property
    def programming_params(self) -> Any:
        """The Params of the chosen programming scheme (None when it has none)."""
        return chosen(self.programming, "scheme")

    @property
    def is_ideal(self) -> bool:
        """True when a tile built from this model is an exact matmul."""
        d, p = self.device, self.periphery
        return (d.levels is None and d.stuck_at == 0
                and DEVICES.get(d.model).is_ideal(self.device_params)
                and p.dac_bits is None and p.adc_bits is None and p.weight_bits is None
                and not p.input_bit_serial and self.parasitics.model == "none"
                and self.noise.prog_sigma == 0 and not self.noise.read and not self.drift)


def from_dict(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> HWConfig:
    """Build and validate an HWConfig from a nested mapping plus dotted-key overrides."""
    return build(HWConfig, merge(data, overrides or {}))
