"""``snnx stream``: a deployed run on a live source -- predictions, late labels, costs.

Sources (``--source``), each yielding events ``(sample | None, label | None)``:

* a CSV file (``.csv``/``.tsv``/``.txt``) or ``-`` (standard input): one sample per line.
  With a header, channels are taken by name (the run's channel names) and a ``label`` column
  holds labels; without one, the first C columns are the channels and a (C+1)-th column the
  label. An empty label cell is no label; a line with a label and no sample values is a
  *late label* for the latest window.
* a JSON-lines file (``.jsonl``/``.ndjson``/``.json``, or ``-`` starting with ``{``): one
  object per line, ``{"x": [C values], "label": y}`` or ``{"<channel>": value, ...}``;
  either key may be missing.
* ``lsl:NAME`` (or ``lsl:type=EEG``, any LSL stream property): a Lab Streaming Layer stream
  (Kothe et al., LSL, 2024), read with pylsl (``pip install 'snnx[stream]'``); its nominal
  rate, when it differs from the run's, makes the windows resample. ``--labels lsl:NAME``
  adds a marker stream of labels (late labels).
* ``run:SPLIT``: the run's own windows of SPLIT (``stream``, ``target_test``) sample by sample
  in raw units, each labelled at its last sample (regenerated from the recipe's data).

Labels are class indices or names. A label applies to the latest complete window if it has
not been learnt from yet (one rule step per window): labels on every sample, a label only now
and then, and labels that arrive after their window all work.

Output (``--out``, default ``<run>/streams/<time>/``): ``predictions.jsonl`` (one line per
prediction ``{"sample", "window", "pred", "class", "energy_j"}`` and per learnt label
``{"sample", "window", "label", "loss", "energy_j"}``, flushed as it goes), TensorBoard
scalars in ``tb/`` (``stream/accuracy`` of labelled windows predicted before learning,
``hw/energy_j``), and ``deployed.h5`` (:meth:`~snnx.pipeline.deployed.Deployed.save`) at the
end and on Ctrl-C.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from snnx.errors import ConfigError, SnnxError

log = logging.getLogger(__name__)

Event = tuple  # (sample: list[float] | None, label: int | str | None)


def _label(v: Any) -> Any:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, str):
        v = v.strip()
        return int(v) if v.lstrip("-").isdigit() else v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def csv_events(lines: Iterator[str], channels: tuple[str, ...]) -> Iterator[Event]:
    """Events of CSV text (see the module docstring)."""
    C = len(channels)
    rows = csv.reader(line for line in lines if line.strip())
    first = next(rows, None)
    if first is None:
        return
    header = [h.strip() for h in first]
    named = all(c in header for c in channels)
    if named:
        idx = [header.index(c) for c in channels]
        lab = next((header.index(k) for k in ("label", "y") if k in header), None)
        body: Any = rows
    else:
        try:
            [float(v) for v in first[:C]]
        except ValueError:
            raise ConfigError(f"--source: header {header[:C + 1]} does not name the run's "
                              f"channels ({', '.join(channels)})") from None
        idx, lab = list(range(C)), C
        body = _chain([first], rows)
    for n, row in enumerate(body, 2 if named else 1):
        vals = [row[i].strip() if i < len(row) else "" for i in idx]
        label = _label(row[lab]) if lab is not None and lab < len(row) else None
        if all(v == "" for v in vals):
            sample = None
        else:
            try:
                sample = [float(v) for v in vals]
            except ValueError:
                raise ConfigError(f"--source: line {n}: expected {C} numbers, got "
                                  f"{vals}") from None
        yield sample, label


def _chain(*its: Any) -> Iterator:
    for it in its:
        yield from it


def jsonl_events(lines: Iterator[str], channels: tuple[str, ...]) -> Iterator[Event]:
    """Events of JSON-lines text (see the module docstring)."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ConfigError(f"--source: line {n}: not JSON") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"--source: line {n}: expected an object, got {obj!r}")
        if "x" in obj:
            sample = obj["x"]
        elif any(c in obj for c in channels):
            sample = [obj.get(c) for c in channels]
        else:
            sample = None
        yield sample, _label(obj.get("label", obj.get("y")))


def file_events(spec: str, channels: tuple[str, ...]) -> Iterator[Event]:
    """A CSV / JSON-lines file or ``-`` (stdin)."""
    if spec == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
        first = ""
        for first in stream:
            if first.strip():
                break
        lines = _chain([first], stream)
        kind = "jsonl" if first.lstrip().startswith("{") else "csv"
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"--source: {spec}: no such file (a CSV / JSON-lines file, '-', "
                              f"lsl:NAME or run:SPLIT)")
        kind = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
        with path.open(encoding="utf-8") as fh:
            yield from (jsonl_events if kind == "jsonl" else csv_events)(fh, channels)
        return
    yield from (jsonl_events if kind == "jsonl" else csv_events)(lines, channels)


def _lsl() -> Any:
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as e:
        raise SnnxError(f"--source: Lab Streaming Layer needs pylsl with its liblsl (pip "
                        f"install 'snnx[stream]'): {e.__class__.__name__}: {e}") from None
    return pylsl


def lsl_inlet(spec: str, timeout: float, what: str = "--source") -> Any:
    """An open pylsl inlet for ``lsl:NAME`` or ``lsl:PROP=VALUE``."""
    pylsl = _lsl()
    body = spec.split(":", 1)[1]
    prop, value = body.split("=", 1) if "=" in body else ("name", body)
    found = pylsl.resolve_byprop(prop, value, 1, timeout)
    if not found:
        raise SnnxError(f"{what}: no LSL stream with {prop}={value!r} found within "
                        f"{timeout:g} s")
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(timeout)
    return inlet


def lsl_events(inlet: Any, labels: Any, idle: float) -> Iterator[Event]:
    """Samples of an LSL inlet (and labels of a marker inlet) until ``idle`` seconds pass
    without data."""
    last = time.monotonic()
    while True:
        chunk, _ = inlet.pull_chunk(timeout=0.2)
        marks = labels.pull_chunk(timeout=0.0)[0] if labels is not None else []
        for s in chunk:
            yield list(s), None
        for m in marks:
            yield None, _label(m[0])
        if chunk or marks:
            last = time.monotonic()
        elif time.monotonic() - last > idle:
            log.info("no data for %g s: the stream ended", idle)
            return


def run_events(deployed: Any, split: str) -> Iterator[Event]:
    """The run's own windows of ``split``, sample by sample, labelled at each window's end."""
    X, y = deployed.windows(split)
    for win, label in zip(X, y):
        for s in win[:-1]:
            yield s.tolist(), None
        yield win[-1].tolist(), int(label)


class StreamSession:
    """The loop of ``snnx stream``: push samples, write predictions, learn from labels.

    Args:
        deployed: the loaded run.
        adapter: its OnlineAdapter (raw samples).
        out: output folder (created).
        learn: learn from labels (False: predict only).
        tensorboard: write ``tb/``.
    """

    def __init__(self, deployed: Any, adapter: Any, out: Path, *, learn: bool = True,
                 tensorboard: bool = True) -> None:
        self.deployed, self.adapter, self.out, self.learn = deployed, adapter, out, learn
        out.mkdir(parents=True, exist_ok=True)
        self.fh = open(out / "predictions.jsonl", "w", encoding="utf-8")
        self.tb = None
        if tensorboard:
            from snnx.monitor.tensorboard import TensorBoardLogger

            self.tb = TensorBoardLogger(out / "tb")
        self.samples = self.windows = self.learned = self.correct = self.judged = 0
        self._open: int | None = None       # latest window, if not learnt from yet
        self._pred: int | None = None

    def _energy(self) -> float:
        return float(self.deployed.chip.ledger.energy_j)

    def _write(self, rec: dict) -> None:
        self.fh.write(json.dumps(rec) + "\n")
        self.fh.flush()

    def _class(self, label: Any) -> int:
        classes = self.deployed.classes
        if isinstance(label, str):
            if label not in classes:
                raise ConfigError(f"--source: label {label!r} is not a class of the run "
                                  f"({', '.join(classes)})")
            return classes.index(label)
        if not isinstance(label, int) or not 0 <= label < len(classes):
            raise ConfigError(f"--source: label {label!r} is not a class index in "
                              f"[0, {len(classes)})")
        return label

    def feed(self, sample: Any, label: Any) -> None:
        """One event: a sample (may complete a window), then a label (may be learnt)."""
        if sample is not None:
            pred = self.adapter.step(sample)
            self.samples += 1
            if pred is not None:
                self.windows += 1
                self._open, self._pred = self.windows, pred
                self._write({"sample": self.samples, "window": self.windows, "pred": pred,
                             "class": self.deployed.classes[pred], "energy_j": self._energy()})
        if label is None or self._open is None:
            return
        y = self._class(label)
        self.judged += 1
        self.correct += int(self._pred == y)
        rec = {"sample": self.samples, "window": self._open, "label": y}
        if self.learn:
            self.adapter.learn(y)
            self.learned += 1
            rec["loss"] = float(self.adapter.last_metrics["loss"])
        rec["energy_j"] = self._energy()
        self._write(rec)
        if self.tb is not None:
            self.tb.log_dict({"stream/accuracy": self.correct / self.judged,
                              "hw/energy_j": rec["energy_j"]}, self._open)
        self._open = None

    def close(self) -> Path:
        """Flush, save the chip (``deployed.h5``) and return its path."""
        self.fh.close()
        if self.tb is not None:
            self.tb.close()
        self.deployed.position += self.windows
        self.deployed.steps += self.learned
        return self.deployed.save(self.out / "deployed.h5")

    def summary(self) -> str:
        """One line for the terminal."""
        acc = f"{100 * self.correct / self.judged:.1f} %" if self.judged else "-"
        return (f"stream     {self.samples} samples, {self.windows} windows predicted, "
                f"{self.judged} labelled (accuracy before learning {acc}), {self.learned} "
                f"on-chip steps, energy {self._energy():.3g} J")
