"""Metric loggers and figures: what goes in comes back out of the files."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch

from snnx.monitor import (JsonlLogger, MetricLogger, MultiLogger, StdoutLogger,
                          TensorBoardLogger, colorize, plot_energy_split, plot_rule_comparison,
                          plot_stream_accuracy, read_metrics_jsonl, read_tensorboard_scalars,
                          run_logger)
from snnx.config.secrets import redact

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG_MAGIC


def test_loggers_follow_the_protocol(tmp_path):
    jl = JsonlLogger(tmp_path / "m.jsonl")
    for lg in (jl, StdoutLogger(), MultiLogger([])):
        assert isinstance(lg, MetricLogger)
    jl.close()


def test_jsonl_lines(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    log = JsonlLogger(path)
    log.log_config({"adapt": {"lr": 1e-3}, "transforms": [{"name": "encrypt", "key": "s3cret"}]})
    log.log("adapt/accuracy", 0.5, 0)
    log.log_dict({"adapt/accuracy": np.float32(0.75), "adapt/loss": torch.tensor(0.25)}, 10)
    log.log("hw/pulses", float("nan"), 10)
    # flushed after every write: readable before close
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    log.close()
    assert "s3cret" not in path.read_text()
    assert lines[0]["config"]["adapt"] == {"lr": 1e-3}
    assert lines[0]["config"]["transforms"][0]["key"] == "<redacted>"
    scalars = [{k: r[k] for k in ("step", "tag", "value")} for r in lines[1:]]
    assert scalars == [
        {"step": 0, "tag": "adapt/accuracy", "value": 0.5},
        {"step": 10, "tag": "adapt/accuracy", "value": 0.75},
        {"step": 10, "tag": "adapt/loss", "value": 0.25},
        {"step": 10, "tag": "hw/pulses", "value": None},
    ]
    assert all(isinstance(r["time"], float) for r in lines)
    back = read_metrics_jsonl(path)
    assert back["adapt/accuracy"] == [(0, 0.5), (10, 0.75)]
    assert math.isnan(back["hw/pulses"][0][1])


def test_jsonl_append_keeps_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with_first = JsonlLogger(path)
    with_first.log("a/b", 1.0, 1)
    with_first.close()
    again = JsonlLogger(path, append=True)
    again.log("a/b", 2.0, 2)
    again.close()
    assert read_metrics_jsonl(path) == {"a/b": [(1, 1.0), (2, 2.0)]}


def test_stdout_logger_uses_logging(caplog):
    caplog.set_level(logging.INFO, logger="snnx.metrics")
    log = StdoutLogger()
    log.log_dict({"adapt/accuracy": 0.8125, "hw/energy_j": 2.5e-6}, 50)
    log.log_config({"seed": 0, "password": "hunter2"})
    text = caplog.text
    assert "step 50 | adapt/accuracy=0.8125 | hw/energy_j=2.5e-06" in text
    assert "seed: 0" in text and "hunter2" not in text


def test_redact_nested():
    cfg = {"encrypt": {"key": "k", "key_file": "f.key", "api_token": "t"}, "hw": [{"secret": 1}]}
    assert redact(cfg) == {"encrypt": {"key": "<redacted>", "key_file": "f.key",
                                       "api_token": "<redacted>"}, "hw": [{"secret": "<redacted>"}]}


def test_tensorboard_scalars_histogram_image_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = TensorBoardLogger(tmp_path / "tb")
    tags = ("adapt/accuracy", "adapt/loss", "hw/energy_j", "hw/latency_s", "hw/pulses")
    for step in (0, 10, 20):
        tb.log_dict({tag: step + i for i, tag in enumerate(tags)}, step)
    tb.log("adapt/accuracy", torch.tensor(0.9), 30)
    tb.log_config({"adapt": {"rule": "dfa"}})
    g = torch.rand(32, 16, generator=torch.Generator().manual_seed(0)) * 1e-4
    tb.log_histogram("hw/conductance/layer0", g, 20)
    tb.log_image("hw/crossbar/layer0", g, 20)
    tb.log_hparams({"adapt": {"rule": "dfa", "lr": 1e-3}, "model": {"hidden": [64]}},
                   {"final/accuracy": 0.9})
    tb.close()

    scalars = read_tensorboard_scalars(tmp_path / "tb")
    assert set(tags) | {"final/accuracy"} <= set(scalars)
    assert [s for s, _ in scalars["adapt/accuracy"]] == [0, 10, 20, 30]
    assert scalars["hw/energy_j"] == [(0, 2.0), (10, 12.0), (20, 22.0)]
    assert scalars["adapt/accuracy"][-1][1] == pytest.approx(0.9)

    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "histograms": 0,
                                                                 "tensors": 0})
    acc.Reload()
    found = acc.Tags()
    assert "hw/conductance/layer0" in found["histograms"]
    hist = acc.Histograms("hw/conductance/layer0")[0]
    assert hist.step == 20 and hist.histogram_value.num == g.numel()
    assert "hw/crossbar/layer0" in found["images"]
    img = acc.Images("hw/crossbar/layer0")[0]
    assert img.step == 20 and min(img.width, img.height) >= 64 and img.width > img.height // 4
    assert "config/text_summary" in found["tensors"]
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hp = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hp["adapt.rule"].string_value == "dfa"
    assert hp["adapt.lr"].number_value == pytest.approx(1e-3)
    assert hp["model.hidden"].string_value == "[64]"


def test_resumed_tensorboard_file_sorts_after_the_old_one(tmp_path):
    """Readers take event files in name order and purge_step only hides events read before
    it: an old file named within the current second with a counter that sorts late (as a
    counter of 9 sorts after 10) must still come first, so each step reads once."""
    import time

    old = TensorBoardLogger(tmp_path / "tb")
    for step in range(10):
        old.log("x", 1.0, step)
    old.close()
    (f,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    parts = f.name.split(".")
    parts[3], parts[-1] = f"{int(time.time()):010d}", "999999"
    f.rename(f.with_name(".".join(parts)))
    new = TensorBoardLogger(tmp_path / "tb", purge_step=5)
    for step in range(5, 10):
        new.log("x", 2.0, step)
    new.close()
    names = sorted(p.name for p in (tmp_path / "tb").glob("events.out.tfevents.*"))
    assert names[0] == ".".join(parts)
    assert read_tensorboard_scalars(tmp_path / "tb")["x"] == (
        [(s, 1.0) for s in range(5)] + [(s, 2.0) for s in range(5, 10)])


def test_colorize_shapes_and_errors():
    rgb = colorize(np.array([[0.0, 1.0], [np.nan, 0.5]]), min_side=4)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[2:, :2] == 0).all()  # NaN cell is black
    assert colorize(np.ones((3, 5)), min_side=1).shape == (3, 5, 3)  # flat array: no crash
    with pytest.raises(ValueError, match="2-D"):
        colorize(np.zeros(4))


def test_multilogger_fans_out_and_skips_missing_verbs(tmp_path):
    jl = JsonlLogger(tmp_path / "metrics.jsonl")
    multi = MultiLogger([StdoutLogger(), jl])
    multi.log("adapt/accuracy", 0.5, 1)
    multi.log_dict({"adapt/loss": 1.5}, 2)
    multi.log_histogram("hw/g", np.ones(4), 2)  # neither logger has it: no error
    multi.close()
    assert read_metrics_jsonl(tmp_path / "metrics.jsonl") == {
        "adapt/accuracy": [(1, 0.5)], "adapt/loss": [(2, 1.5)]}


def test_run_logger_layout(tmp_path):
    class Monitor:
        tensorboard = False
        jsonl = True

    log = run_logger(tmp_path / "run", Monitor())
    log.log("adapt/accuracy", 0.7, 5)
    log.close()
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    assert not (tmp_path / "run" / "tb").exists()


def test_figures_are_png(tmp_path):
    steps = [0, 50, 100, 150]
    one = plot_stream_accuracy(steps, [0.6, 0.7, 0.75, 0.8], tmp_path / "figs" / "acc.png")
    many = plot_stream_accuracy(
        steps, {"dfa": [0.6, 0.7, 0.75, 0.8], "bp": ([0, 100], [0.6, 0.7])},
        tmp_path / "acc_rules.png", reference={"software": 0.93, "deployed": 0.62})
    bars = plot_energy_split({"adc": 3e-6, "dac": 2e-7, "array_read": 1e-7, "pulses": 2e-6,
                              "digital": 0.0}, tmp_path / "energy.png")
    pie = plot_energy_split({"adc": 3e-12, "pulses": 1e-12}, tmp_path / "pie.png", kind="pie")
    none = plot_energy_split({"adc": 0.0}, tmp_path / "none.png")
    rows = [{"rule": "dfa", "accuracy": 0.86, "energy_j": 1e-6, "latency_s": 1e-3, "area_m2": 1e-7},
            {"rule": "bp", "accuracy": 0.84, "energy_j": 2.6e-6, "latency_s": 2e-3,
             "area_m2": 1.1e-7},
            {"rule": "logsgd", "accuracy": 0.80, "energy_j": 2e-5}]
    cmp_ = plot_rule_comparison(rows, tmp_path / "rules.png")
    for path in (one, many, bars, pie, none, cmp_):
        assert _is_png(path), path
    assert not list(tmp_path.rglob("*.tmp"))


def test_figure_inputs_are_checked(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        plot_stream_accuracy([0, 1, 2], [0.5, 0.6], tmp_path / "a.png")
    with pytest.raises(ValueError, match="finite and >= 0"):
        plot_energy_split({"adc": -1.0}, tmp_path / "e.png")
    with pytest.raises(ValueError, match="no row has"):
        plot_rule_comparison([{"rule": "dfa", "accuracy": 0.9}], tmp_path / "r.png")
    with pytest.raises(ValueError, match="accuracy"):
        plot_rule_comparison([{"rule": "dfa", "energy_j": 1.0}], tmp_path / "r.png")
