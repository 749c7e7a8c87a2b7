"""Hardware model configuration: frozen dataclasses and ``load(name | path, **overrides)``.

This module imports only the standard library and PyYAML (no torch), so configs can be
read, validated and printed anywhere.

A hardware model groups its knobs by concern::

    HWConfig
      device       conductance range, levels, variation, faults, pulse-update physics
      array        physical array size, weight headroom
      periphery    DAC, ADC, bit slicing, bit-serial inputs
      parasitics   wire resistance model (see DESIGN.md contract 2)
      programming  one-shot or iterative program-and-verify
      noise        programming error, per-read noise, output-referred noise
      cost         per-operation energy, latency and area (CostLedger)

Presets are YAML files in ``hw_models/``; every number there names its source.

Example:
    >>> import snnx.hw as hw
    >>> cfg = hw.load("rram_generic", **{"periphery.adc_bits": 6})
    >>> cfg.periphery.adc_bits
    6
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import yaml

from snnx.configtools import build, field_docs, set_path, shipped_dir, spec, to_dict
from snnx.errors import ConfigError

_KW = dict(frozen=True, kw_only=True)


@dataclasses.dataclass(**_KW)
class UpdateConfig:
    """Pulse-based conductance update (outer-product learning, program-verify pulses)."""

    step: float | None = spec(None, lo=0, lo_open=True, hi=1,
                              doc="conductance step per pulse as a fraction of g_max-g_min; "
                                  "null = 1/(levels-1), or exact analog updates if levels is null")
    beta_pot: float = spec(0.0, lo=0, hi=20,
                           doc="soft-bound non-linearity of potentiation (0 = linear)")
    beta_dep: float = spec(0.0, lo=0, hi=20,
                           doc="soft-bound non-linearity of depression (0 = linear)")
    dep_ratio: float = spec(1.0, lo=0, lo_open=True, hi=10,
                            doc="depression step / potentiation step (asymmetry)")
    c2c_sigma: float = spec(0.0, lo=0, hi=2,
                            doc="cycle-to-cycle noise of one pulse, relative to its step")
    max_pulses: int = spec(31, lo=1, hi=100000, doc="most pulses one cell gets in one update")
    refresh_at: float = spec(0.9, lo=0, hi=1, lo_open=True,
                             doc="refresh a differential pair when both sides exceed this "
                                 "fraction of the range (1 = never)")


@dataclasses.dataclass(**_KW)
class DeviceConfig:
    """The memristive cell."""

    g_min: float = spec(2e-6, lo=0, doc="S, lowest programmable conductance (HRS)")
    g_max: float = spec(100e-6, lo=0, lo_open=True, doc="S, highest conductance (LRS)")
    levels: int | None = spec(16, lo=2, hi=1 << 20,
                              doc="distinguishable conductance levels; null = continuous")
    d2d_sigma: float = spec(0.0, lo=0, hi=1,
                            doc="device-to-device variation: fixed per-cell relative spread "
                                "of the pulse step size")
    stuck_at: float = spec(0.0, lo=0, hi=1,
                           doc="fraction of cells stuck (SA0 at g_min, SA1 at g_max)")
    sa1_share: float = spec(0.5, lo=0, hi=1, doc="share of stuck cells that are SA1")
    update: UpdateConfig = spec(factory=UpdateConfig, doc="pulse update physics")

    def __post_init__(self) -> None:
        if self.g_min >= self.g_max:
            raise ConfigError(f"device.g_min: must be < device.g_max (got {self.g_min:g} >= "
                              f"{self.g_max:g})")


@dataclasses.dataclass(**_KW)
class ArrayConfig:
    """Physical array geometry and weight mapping."""

    rows: int = spec(256, lo=1, hi=1 << 16, doc="wordlines (inputs) per physical array")
    cols: int = spec(256, lo=1, hi=1 << 16, doc="bitlines (outputs) per physical array")
    mapping: str = spec("differential", choices=("differential",),
                        doc="signed-weight mapping: differential pair G+ - G-")
    w_headroom: float = spec(1.0, lo=1, hi=100,
                             doc="g_max maps to headroom * max|W| at programming")


@dataclasses.dataclass(**_KW)
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
    weight_bits: int | None = spec(None, lo=1, hi=24,
                                   doc="magnitude bits of bit-sliced weights; null = multi-level "
                                       "analog cells (no slicing)")
    bits_per_cell: int = spec(1, lo=1, hi=8, doc="bits stored per cell when bit slicing")
    input_bit_serial: bool = spec(False, doc="feed inputs one bit plane per cycle (shift-add)")


@dataclasses.dataclass(**_KW)
class ParasiticsConfig:
    """Wire resistance of every physical array (DESIGN.md contract 2, snnx.hw.parasitics).

    Reads use G_eff per physical array (G+ and G- separately), solved once per programming;
    every read, forward and transposed, is then a matmul. After on-line updates the exact
    solve is repeated every ``refresh_every`` updates with a first-order increment in between
    (``snnx.hw.readout.effective`` states the policy and its measured error).
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

    def __post_init__(self) -> None:
        if self.model != "none":
            for name in ("r_row", "r_col"):
                if getattr(self, name) <= 0:
                    raise ConfigError(f"parasitics.{name}: must be > 0 ohm with model "
                                      f"{self.model!r} (got r_row={self.r_row:g}, "
                                      f"r_col={self.r_col:g})")


@dataclasses.dataclass(**_KW)
class ProgrammingConfig:
    """Writing target conductances."""

    scheme: str = spec("verify", choices=("one_shot", "verify"),
                       doc="one_shot: one noisy write; verify: iterative program-and-verify")
    max_iters: int = spec(8, lo=1, hi=1000, doc="verify iterations at most")
    tolerance: float = spec(0.5, lo=0, lo_open=True, hi=100,
                            doc="verify stops for a cell within tolerance * step of target")


@dataclasses.dataclass(**_KW)
class NoiseConfig:
    """Stochastic errors. sigma values are fractions of (g_max - g_min) unless stated."""

    prog_sigma: float = spec(0.0, lo=0, hi=1, doc="one-shot programming error std")
    read_sigma: float = spec(0.0, lo=0, hi=1, doc="per-read conductance noise std (constant)")
    read_sigma_rel: float = spec(0.0, lo=0, hi=1,
                                 doc="per-read noise std proportional to G (fraction of G)")
    thermal_shot_bw: float = spec(0.0, lo=0,
                                  doc="Hz; >0 adds thermal+shot read noise "
                                      "sigma_G = sqrt(G f (4kT + 2qV))/V")
    temperature: float = spec(300.0, lo=0, lo_open=True, doc="K, for thermal noise")
    out_sigma0: float = spec(0.0, lo=0, hi=1,
                             doc="output-referred noise std, fraction of ADC full scale")
    out_sigma1: float = spec(0.0, lo=0, hi=1,
                             doc="output-referred noise std proportional to |output|")


@dataclasses.dataclass(**_KW)
class CostConfig:
    """Per-operation energy (J), latency (s) and area (m^2)."""

    t_read: float = spec(5e-9, lo=0, doc="s, array read (integration) time per cycle")
    adc_fom: float = spec(10e-15, lo=0, doc="J per conversion step, E_adc = fom * 2^bits")
    t_adc: float = spec(1e-9, lo=0, doc="s per ADC conversion")
    adc_area_8b: float = spec(9.6e-9, lo=0, doc="m^2 of one 8-bit ADC (scales with 2^(b-8))")
    e_dac_bit: float = spec(0.05e-12, lo=0, doc="J per DAC conversion per bit")
    t_dac: float = spec(1e-9, lo=0, doc="s per DAC settling")
    dac_area: float = spec(5e-11, lo=0, doc="m^2 of one wordline driver/DAC")
    e_pulse: float = spec(2e-12, lo=0, doc="J per write pulse on one cell")
    t_pulse: float = spec(50e-9, lo=0, doc="s per write pulse (row-parallel)")
    e_digital: float = spec(0.03e-12, lo=0, doc="J per digital add/multiply")
    t_digital: float = spec(1e-9, lo=0, doc="s per digital vector stage")
    feature_size: float = spec(40e-9, lo=0, lo_open=True, doc="m, technology node F")
    cell_area_f2: float = spec(4.0, lo=1, doc="cell area in F^2 (4 crossbar, 12+ 1T1R)")


@dataclasses.dataclass(**_KW)
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
    cost: CostConfig = spec(factory=CostConfig)

    def replace(self, **overrides: Any) -> "HWConfig":
        """A copy with dotted-key overrides applied and validated, e.g.
        ``cfg.replace(**{"periphery.adc_bits": 6})``."""
        return from_dict(to_dict(self), overrides)

    def to_dict(self) -> dict:
        """Plain nested dict (YAML-serialisable)."""
        return to_dict(self)

    @property
    def is_ideal(self) -> bool:
        """True when a tile built from this model is an exact matmul."""
        d, p, n = self.device, self.periphery, self.noise
        return (d.levels is None and d.stuck_at == 0 and d.d2d_sigma == 0
                and p.dac_bits is None and p.adc_bits is None and p.weight_bits is None
                and not p.input_bit_serial and self.parasitics.model == "none"
                and n.prog_sigma == 0 and n.read_sigma == 0 and n.read_sigma_rel == 0
                and n.thermal_shot_bw == 0 and n.out_sigma0 == 0 and n.out_sigma1 == 0
                and d.update.c2c_sigma == 0 and d.update.beta_pot == 0
                and d.update.beta_dep == 0 and d.update.dep_ratio == 1)


# ----------------------------------------------------------------------------------- loading

def presets_dir() -> Path:
    """The folder holding the shipped presets (repository ``hw_models/`` or the installed copy)."""
    found = shipped_dir("hw_models", "snnx.presets")
    if found is None:  # pragma: no cover - broken installation
        raise ConfigError("hw: the shipped presets (snnx.presets) are missing from this install")
    return found


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as e:
        raise ConfigError(f"hw: {path} is not valid YAML ({e.__class__.__name__})") from None
    except OSError as e:
        raise ConfigError(f"hw: cannot read {path} ({e.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"hw: {path} must hold a mapping at top level")
    return data


def resolve_preset(name_or_path: str | Path) -> Path:
    """Path of a preset given by name (``rram_generic``) or by an existing file path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    cand = presets_dir() / (p.name if p.suffix else p.name + ".yaml")
    if cand.is_file() and (p.parent == Path(".")):
        return cand
    import difflib

    names = list_presets()
    close = difflib.get_close_matches(str(name_or_path), names, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"hw: unknown preset or missing file {str(name_or_path)!r}{hint} "
                      f"(presets: {', '.join(names)})")


def from_dict(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> HWConfig:
    """Build and validate an HWConfig from a nested mapping plus dotted-key overrides."""
    merged = dict(data)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and "." not in key:
            for sub, v in _flatten(value, key).items():
                merged = set_path(merged, sub, v)
        else:
            merged = set_path(merged, key, value)
    return build(HWConfig, merged)


def _flatten(d: Mapping, prefix: str) -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def load(name_or_path: str | Path | HWConfig | Mapping = "rram_generic",
         **overrides: Any) -> HWConfig:
    """Load a hardware model.

    Args:
        name_or_path: a preset name in ``hw_models/`` (``"rram_generic"``), a YAML path,
            a mapping, or an HWConfig (overrides are applied on top).
        **overrides: dotted keys (``**{"periphery.adc_bits": 6}``) or sections as dicts
            (``noise={"read_sigma": 0.02}``).

    Returns:
        A validated, frozen :class:`HWConfig`.

    Raises:
        ConfigError: unknown preset, unreadable file, unknown key, wrong type or value out of
            range; the message names the dotted key path.
    """
    if isinstance(name_or_path, HWConfig):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    if isinstance(name_or_path, Mapping):
        return from_dict(name_or_path, overrides)
    data = _read_yaml(resolve_preset(name_or_path))
    return from_dict(data, overrides)


def describe(cfg: HWConfig) -> list[tuple[str, Any, str]]:
    """(dotted key, value, doc) rows for every leaf field of a config."""
    flat = _flatten(to_dict(cfg), "")
    rows = []
    for key, _default, doc in field_docs(HWConfig):
        rows.append((key, flat.get("." + key), doc))
    return rows
