"""Kill -9 in the middle of adaptation, then `--resume`: the run ends exactly as an
uninterrupted one with the same seed (accuracies, ledger totals, curves, metrics.jsonl)."""

from __future__ import annotations

import os
import signal
import time

from snnx.monitor import read_tensorboard_scalars

from pipeline_helpers import (COMPARED, HAR_DFA, cli, metric_lines, report, sets,
                              subprocess_snnx)

# long enough that the kill surely lands mid-stream: ~21 steps, a checkpoint every 4
LONG = sets("adapt.passes=3", "monitor.checkpoint_every=4", "monitor.tensorboard=false",
            "monitor.figures=false")


def _finish(proc) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    full = subprocess_snnx("adapt", "--recipe", HAR_DFA, *LONG, "--out", "full", cwd=tmp_path)
    _finish(full)
    killed = subprocess_snnx("adapt", "--recipe", HAR_DFA, *LONG, "--out", "killed",
                             cwd=tmp_path)
    first = tmp_path / "killed" / "checkpoints" / "step_000004.h5"
    deadline = time.monotonic() + 240
    while not first.exists():
        assert killed.poll() is None, killed.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / "killed"
    assert not (run / "report.json").exists()  # it really stopped mid-stream

    resumed = subprocess_snnx("adapt", "--resume", "killed", cwd=tmp_path)
    _finish(resumed)
    a, b = report(tmp_path / "full"), report(run)
    for block in COMPARED:
        assert a[block] == b[block], block
    assert metric_lines(tmp_path / "full") == metric_lines(run)


def test_resume_of_a_finished_run_only_reports(tmp_path, capsys):
    out = tmp_path / "done"
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA,
                       *sets("monitor.tensorboard=false", "monitor.figures=false"),
                       "--out", str(out))
    assert code == 0, err
    before = (out / "report.json").read_text()
    code, text, err = cli(capsys, "adapt", "--resume", str(out))
    assert code == 0, err
    assert "nothing to resume" in text and "adapted" in text
    assert (out / "report.json").read_text() == before


def test_resume_before_any_step_checkpoint_starts_over(tmp_path, capsys):
    out = tmp_path / "early"
    args = sets("monitor.figures=false")
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, *args, "--out", str(out))
    assert code == 0, err
    finished, lines = report(out), metric_lines(out)
    scalars = read_tensorboard_scalars(out / "tb")
    for p in (out / "checkpoints").glob("step_*.h5"):  # as if killed before the first one
        p.unlink()
    (out / "report.json").unlink()
    code, _, err = cli(capsys, "adapt", "--resume", str(out))
    assert code == 0, err
    again = report(out)
    for block in COMPARED:
        assert again[block] == finished[block], block
    assert metric_lines(out) == lines
    assert read_tensorboard_scalars(out / "tb") == scalars  # the old events are purged
