"""User errors stop `snnx adapt` (and friends) before any work: one line on stderr naming
the key path, exit status 2, no traceback, no run folder left behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pytest

from pipeline_helpers import HAR_DFA, cli, subprocess_snnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_recipe import MALFORMED, materialize  # noqa: E402  (the recipe error table)


def _check(code: int, err: str, key: str, says: str, cwd: Path) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"snnx: error: {key}: "), err
    assert says in err, err
    assert "Traceback" not in err
    assert not (cwd / "runs").exists()
    assert not (cwd / "out").exists()


@pytest.mark.parametrize("case", MALFORMED, ids=[c.id for c in MALFORMED])
def test_malformed_recipe_stops_adapt(case, capsys, in_tmp):
    recipe, sets = materialize(case, in_tmp)
    argv = ["adapt", "--recipe", recipe, "--out", "out"]
    for s in sets:
        argv += ["--set", s]
    code, _, err = cli(capsys, *argv)
    _check(code, err, case.key, case.says, in_tmp)


class Case(NamedTuple):
    id: str
    argv: tuple[str, ...]     # after `snnx`; {tmp} is the test's folder
    key: str
    says: str


def _files(tmp: Path) -> None:
    """The files the pipeline-level cases point at."""
    (tmp / "garbage.h5").write_bytes(b"this is not HDF5\n" * 10)
    with h5py.File(tmp / "no_y.h5", "w") as f:
        f["X"] = np.zeros((4, 8, 2), np.float32)
        f.attrs["classes"] = ["a", "b"]
        f.attrs["sample_rate_hz"] = 10.0
    with h5py.File(tmp / "bad_labels.h5", "w") as f:
        f["X"] = np.zeros((4, 8, 2), np.float32)
        f["y"] = np.array([0, 1, 5, 1])
        f.attrs["classes"] = ["a", "b"]
        f.attrs["sample_rate_hz"] = 10.0
    with h5py.File(tmp / "foreign.h5", "w") as f:  # valid HDF5, not an snnx checkpoint
        f["x"] = np.zeros(3)
    (tmp / "notarun").mkdir()
    fake = tmp / "fakerun"
    (fake / "checkpoints").mkdir(parents=True)
    from snnx.pipeline.recipe_files import load_recipe

    (fake / "config.resolved.yaml").write_text(load_recipe("har_dfa").to_yaml())
    (fake / "checkpoints" / "step_000004.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    busy = tmp / "busyrun"  # another live process holds the run
    busy.mkdir()
    (busy / "config.resolved.yaml").write_text(load_recipe("har_dfa").to_yaml())
    (busy / "run.lock").write_text(str(os.getppid()))
    broken = tmp / "brokenrun"
    broken.mkdir()
    (broken / "config.resolved.yaml").write_text("adapt: {rule: dfaa}\n")
    (tmp / "existing").mkdir()
    (tmp / "existing" / "keep.txt").write_text("mine")
    from snnx import checkpoint
    from snnx.pipeline.model import build_net, pretrained_state

    small = load_recipe("har_dfa", ["model.hidden=[16]"])
    net = build_net(small, channels=9, window=128, classes=6)
    checkpoint.save(tmp / "small.h5", pretrained_state(net, small, np.zeros(9), np.ones(9),
                                                        None, 0, {"loss": [], "accuracy": []}))


D = "data.kind=hdf5"
PIPELINE = [
    Case("hdf5-missing", ("adapt", "--recipe", HAR_DFA, "--set", D, "--set",
                          "data.hdf5.path=/nonexistent/x.h5"), "data.hdf5.path", "file not found"),
    Case("hdf5-not-hdf5", ("adapt", "--recipe", HAR_DFA, "--set", D, "--set",
                           "data.hdf5.path={tmp}/garbage.h5"), "data.hdf5.path", "not a readable HDF5"),
    Case("hdf5-no-labels", ("adapt", "--recipe", HAR_DFA, "--set", D, "--set",
                            "data.hdf5.path={tmp}/no_y.h5"), "data.hdf5.path", "missing dataset /y"),
    Case("hdf5-label-range", ("adapt", "--recipe", HAR_DFA, "--set", D, "--set",
                              "data.hdf5.path={tmp}/bad_labels.h5"), "data.hdf5.path", "out of range"),
    Case("pretrained-corrupt", ("adapt", "--recipe", HAR_DFA, "--set",
                                "pretrain.checkpoint={tmp}/garbage.h5"),
         "pretrain.checkpoint", "corrupt or unreadable"),
    Case("pretrained-foreign", ("adapt", "--recipe", HAR_DFA, "--set",
                                "pretrain.checkpoint={tmp}/foreign.h5"),
         "pretrain.checkpoint", "not an snnx checkpoint"),
    Case("pretrained-mismatch", ("adapt", "--recipe", HAR_DFA, "--set",
                                 "pretrain.checkpoint={tmp}/small.h5"), "pretrain.checkpoint",
         "layers.0.weight is [16, 72] in the file, [128, 72] here"),
    Case("resume-corrupt-checkpoint", ("adapt", "--resume", "{tmp}/fakerun"), "--resume",
         "corrupt or unreadable"),
    Case("resume-not-a-run", ("adapt", "--resume", "{tmp}/notarun"), "--resume",
         "not an snnx run folder"),
    Case("resume-missing-folder", ("adapt", "--resume", "{tmp}/nowhere"), "--resume",
         "not an snnx run folder"),
    Case("resume-bad-config", ("adapt", "--resume", "{tmp}/brokenrun"), "--resume",
         "adapt.rule: 'dfaa' is not one of"),
    Case("resume-running", ("adapt", "--resume", "{tmp}/busyrun"), "--resume",
         "is still being written by process"),
    Case("resume-with-set", ("adapt", "--resume", "{tmp}/fakerun", "--set", "adapt.lr=1"),
         "--set", "not used with --resume"),
    Case("no-recipe", ("adapt",), "--recipe", "required"),
    Case("out-not-empty", ("adapt", "--recipe", HAR_DFA, "--out", "{tmp}/existing"), "--out",
         "exists and is not empty"),
    Case("bad-threads", ("adapt", "--recipe", HAR_DFA, "--threads", "0"), "--threads",
         "must be >= 1"),
    Case("device-missing", ("adapt", "--recipe", HAR_DFA, "--set", "device=cuda:7"), "device",
         "not available"),
    Case("train-bad-override", ("train", "--recipe", HAR_DFA, "--set", "pretrain.epochs=-1"),
         "pretrain.epochs", "out of range"),
    Case("eval-not-a-run", ("eval", "--run", "{tmp}/notarun"), "--run", "not an snnx run"),
    Case("eval-corrupt-checkpoint", ("eval", "--run", "{tmp}/fakerun"), "--run",
         "corrupt or unreadable"),
    Case("compare-not-a-run", ("compare", "{tmp}/notarun"), "compare", "no report.json"),
    Case("compare-nothing", ("compare",), "compare", "give finished run folders"),
    Case("compare-seeds-without-recipes", ("compare", "{tmp}/notarun", "--seeds", "3"),
         "--seeds", "only used with --recipes"),
    Case("compare-runs-and-recipes", ("compare", "{tmp}/notarun", "--recipes", HAR_DFA),
         "--recipes", "not both"),
    Case("compare-zero-seeds", ("compare", "--recipes", HAR_DFA, "--seeds", "0"), "--seeds",
         "must be >= 1"),
    Case("compare-bad-set", ("compare", "--recipes", HAR_DFA, "--set", "adapt.rule=dfaa"),
         "adapt.rule", "is not one of"),
    Case("compare-same-recipe-twice", ("compare", "--recipes", HAR_DFA, "har_dfa"),
         "--recipes", "two recipes are named 'har_dfa'"),
    Case("compare-out-is-a-file", ("compare", "--recipes", HAR_DFA, "--out", "{tmp}/foreign.h5"),
         "--out", "is a file, not a folder"),
    Case("compare-best-missing", ("compare", "--recipes", HAR_DFA, "--best", "{tmp}/nowhere"),
         "--best", "missing or unreadable"),
    Case("sweep-bad-key", ("sweep", "--recipes", HAR_DFA, "--key", "adapt.lrr", "--values",
                           "1e-3"), "adapt.lrr", "unknown key"),
    Case("sweep-bad-value", ("sweep", "--recipes", HAR_DFA, "--key", "adapt.lr", "--values",
                             "1e-3", "-1"), "adapt.lr", "out of range"),
    Case("sweep-swept-key-set", ("sweep", "--recipes", HAR_DFA, "--key", "adapt.lr",
                                 "--values", "1e-3", "--set", "adapt.lr=1"), "--set",
         "is the swept key"),
    Case("sweep-value-not-a-folder", ("sweep", "--recipes", HAR_DFA, "--key", "model.hidden",
                                      "--values", "[8,4]"), "--values", "cannot name a folder"),
    Case("pretrain-bad-early-stop", ("train", "--recipe", HAR_DFA, "--set",
                                     "pretrain.early_stop_on=val"), "pretrain.early_stop_on",
         "is not one of"),
    Case("pretrain-val-fraction-1", ("train", "--recipe", HAR_DFA, "--set",
                                     "pretrain.val_fraction=1"), "pretrain.val_fraction",
         "out of range"),
    Case("target-test-fraction-0", ("adapt", "--recipe", HAR_DFA, "--set",
                                    "data.target_test_fraction=0"), "data.target_test_fraction",
         "out of range"),
]


@pytest.mark.parametrize("case", PIPELINE, ids=[c.id for c in PIPELINE])
def test_pipeline_error_is_one_line(case, capsys, in_tmp):
    _files(in_tmp)
    argv = [a.replace("{tmp}", str(in_tmp)) for a in case.argv]
    listing = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*"))
    code, _, err = cli(capsys, *argv)
    _check(code, err, case.key, case.says, in_tmp)
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*")) == listing  # untouched


def test_console_exit_code_and_one_line(tmp_path):
    proc = subprocess_snnx("adapt", "--recipe", HAR_DFA, "--set", "data.kind=hdf5", "--set",
                           "data.hdf5.path=/nonexistent/x.h5", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err == "snnx: error: data.hdf5.path: file not found: /nonexistent/x.h5\n"
    assert out == "" and not (tmp_path / "runs").exists()
