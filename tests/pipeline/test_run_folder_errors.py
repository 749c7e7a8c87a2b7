"""Run-folder and data errors a new user hits: one line, exit 2, nothing left behind, before
any work; broken pipes end quietly; a corrupt newest checkpoint falls back to the previous."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from snnx.pipeline import checks

from pipeline_helpers import HAR_DFA, ROOT, cli, report, sets


def _one_line(code: int, err: str, key: str, says: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"snnx: error: {key}: "), err
    assert says in err, err


def _listing(folder: Path) -> list:
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


@pytest.mark.parametrize("out,says", [
    ("{tmp}/afile/run", "is a file, not a folder"),
    ("/proc/snnx-test/run", "cannot create a folder in /proc"),
])
def test_unwritable_out_is_one_line(out, says, capsys, in_tmp):
    (in_tmp / "afile").write_text("x")
    before = _listing(in_tmp)
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, "--out",
                       out.replace("{tmp}", str(in_tmp)))
    _one_line(code, err, "--out", says)
    assert _listing(in_tmp) == before


def test_immutable_out_folder(capsys, in_tmp):
    locked = in_tmp / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (needs root on a supporting fs)")
    try:
        code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, "--out", str(locked / "run"))
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    _one_line(code, err, "--out", "Operation not permitted")
    assert list(locked.iterdir()) == []


def test_read_only_out_folder_without_root(capsys, in_tmp):
    ro = in_tmp / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        probe = ro / "x"
        probe.mkdir()  # root ignores permissions: nothing to check then
        probe.rmdir()
        pytest.skip("running as root: permissions do not stop a mkdir")
    except PermissionError:
        code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, "--out", str(ro / "run"))
        _one_line(code, err, "--out", "Permission denied")
    finally:
        ro.chmod(0o700)


def _h5(path: Path, y: np.ndarray, classes: list[str], subject=None) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["X"] = rng.normal(size=(len(y), 16, 3)).astype(np.float32)
        f["y"] = y
        f["subject"] = np.arange(len(y)) % 3 if subject is None else subject
        f.attrs["classes"] = classes
        f.attrs["sample_rate_hz"] = 10.0


def test_one_class_and_class_missing_data_are_refused(capsys, in_tmp):
    _h5(in_tmp / "one.h5", np.zeros(60, np.int64), ["walk", "sit"])
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, "--set", "data.kind=hdf5",
                       "--set", f"data.hdf5.path={in_tmp / 'one.h5'}")
    _one_line(code, err, "data.hdf5.path", "one class only ('walk')")
    # class 2 only in the target subject (2): the network could never learn it
    subject = np.arange(60) % 3
    y = np.where(subject == 2, np.arange(60) % 3, np.arange(60) % 2)
    _h5(in_tmp / "missing.h5", y.astype(np.int64), ["walk", "sit", "run"], subject)
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, "--set", "data.kind=hdf5",
                       "--set", f"data.hdf5.path={in_tmp / 'missing.h5'}")
    _one_line(code, err, "data.hdf5.path", "class 'run' (2) has no windows in the source")
    assert not (in_tmp / "runs").exists()


def test_memory_estimate_refuses_what_cannot_fit(capsys, in_tmp, monkeypatch):
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, *sets(),
                       "--set", "model.hidden=[65536,65536]")
    _one_line(code, err, "model.hidden", "GB of memory")
    assert "e+09 weights" in err and "available" in err
    assert not (in_tmp / "runs").exists()
    # the estimate grows with the weights as stated: N = sum of in*out
    small = checks.estimate_memory([72, 128, 64, 6], batch=64, steps=16, cells_per_weight=2,
                                   rule="dfa", windows=0, window_values=0)
    assert small["weights"] == 72 * 128 + 128 * 64 + 64 * 6
    assert small["software"] == 5 * 4 * small["weights"]
    # a machine with little memory refuses the shipped recipe too, naming both numbers
    monkeypatch.setattr(checks, "available_memory", lambda: 1e6)
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, *sets())
    _one_line(code, err, "model.hidden", "(0.001 GB available)")


@pytest.mark.parametrize("argv", [("recipes", "list"), ("hw", "show", "rram_generic")])
def test_broken_pipe_ends_quietly(argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(f"{sys.executable} -m snnx.cli {' '.join(argv)} | true; "
                          f"exit ${{PIPESTATUS[0]}}", shell=True, capture_output=True,
                          text=True, env=env, executable="/bin/bash")
    assert proc.returncode in (0, 141)  # 0 only if everything fitted the pipe in time
    assert proc.stderr == "", proc.stderr


def test_broken_pipe_status_in_process(monkeypatch, capsys):
    from snnx.cli import main

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise ValueError("no descriptor")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["recipes", "list"]) == 141
    assert capsys.readouterr().err == ""


def test_resume_falls_back_from_a_corrupt_newest_checkpoint(tmp_path, capsys, caplog):
    args = sets("monitor.checkpoint_every=3", "monitor.tensorboard=false",
                "monitor.figures=false")
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, *args, "--out",
                       str(tmp_path / "full"))
    assert code == 0, err
    run = tmp_path / "broken"
    shutil.copytree(tmp_path / "full", run)
    (run / "report.json").unlink()
    ckpts = sorted((run / "checkpoints").glob("step_*.h5"))
    ckpts[-1].write_bytes(b"\0" * 100)  # a disk error in the newest
    with caplog.at_level("WARNING"):
        code, _, err = cli(capsys, "adapt", "--resume", str(run))
    assert code == 0, err
    assert any(f"continuing from the previous one, {ckpts[-2].name}" in r.getMessage()
               for r in caplog.records)
    a, b = report(tmp_path / "full"), report(run)
    for block in ("accuracy", "cost", "curves"):
        assert a[block] == b[block], block
