"""Several workers on one study, interruption and re-runs, a PostgreSQL storage."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from dse_helpers import (DSE_HAR, check_complete_trials, cli, popen, sets, states, trials)

FIELDS = ["accuracy.adapted", "cost.energy_j", "cost.latency_s", "cost.area_m2"]


def _wait_for(url: str, study: str, proc, state: str, n: int, what: str,
              timeout: float = 300, poll: float = 0.2) -> None:
    """Until ``study`` has ``n`` trials in ``state`` while ``proc`` still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        try:
            if states(url, study).get(state, 0) >= n:
                return
        except Exception:  # noqa: BLE001 - the study or its tables do not exist yet
            pass
        time.sleep(poll)
    raise AssertionError(f"no trial {what} in time")


def _wait_complete(url: str, study: str, proc, n: int) -> None:
    _wait_for(url, study, proc, "COMPLETE", n, "finished")


def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    """--workers 2: every sampler trial runs exactly once, promotions run once each."""
    out = tmp_path / "s"
    url = f"sqlite:///{out / 'study.db'}"
    proc = popen("dse", "--recipe", DSE_HAR, "--out", str(out), "--workers", "2",
                 *sets("dse.trials=6", "pretrain.steps=600"),  # ~0.3 s trials: both get some
                 cwd=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    cheap = check_complete_trials(url, "dse_har.cheap", FIELDS)
    full = check_complete_trials(url, "dse_har", FIELDS)
    assert len(cheap) == 6
    for study in ("dse_har", "dse_har.cheap"):
        # a trial two workers asked for at the same moment, beyond dse.trials or beyond the
        # queue, is pruned before it runs: it has no run folder and cost nothing
        assert set(states(url, study)) <= {"COMPLETE", "PRUNED"}
        for t in trials(url, study):
            if t.state.name == "PRUNED":
                assert "run_dir" not in t.user_attrs and "compute_s" not in t.user_attrs
    promoted = sorted(t.number for t in cheap if t.user_attrs.get("promoted"))
    assert sorted(t.user_attrs["cheap_trial"] for t in full) == promoted
    workers = {t.user_attrs["worker"] for t in cheap + full if "same_as" not in t.user_attrs}
    assert workers == {0, 1}, "both worker processes ran trials"
    assert len({t.user_attrs["pid"] for t in cheap}) == 2


def test_interrupted_search_continues_on_rerun(capsys, tmp_path):
    """Ctrl-C in the middle of a search; the same command again finishes it: the
    interrupted trial's parameters run again, nothing is left RUNNING or lost."""
    out = tmp_path / "s"
    url = f"sqlite:///{out / 'study.db'}"
    argv = ["dse", "--recipe", DSE_HAR, "--out", str(out),
            *sets("dse.fidelity=null", "dse.trials=5", "dse.sampler=random")]
    proc = popen(*argv, cwd=tmp_path)
    _wait_complete(url, "dse_har", proc, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    st = states(url, "dse_har")
    assert "RUNNING" not in st and st["COMPLETE"] < 5
    failed = [t for t in trials(url, "dse_har") if t.state.name == "FAIL"]
    queued = {t.user_attrs.get("retry_of"): t.params for t in trials(url, "dse_har")
              if t.state.name == "WAITING"}
    assert {t.number: t.params for t in failed} == queued
    assert not any((out / "trials" / f"full-{t.number:04d}").exists() for t in failed)
    assert cli(capsys, "-q", *argv)[0] == 0
    done = check_complete_trials(url, "dse_har", FIELDS)
    assert len(done) == 5 and set(states(url, "dse_har")) <= {"COMPLETE", "FAIL"}
    for t in failed:  # the interrupted configuration ran again
        assert any(d.user_attrs.get("retry_of") == t.number and d.params == t.params
                   for d in done)


def _wait_running(url: str, study: str, proc) -> int | None:
    """The number of a trial of ``study`` RUNNING for over a heartbeat interval (1 s: its
    worker has recorded a heartbeat, without which a trial is never found stale); None when
    that trial finished first."""
    _wait_for(url, study, proc, "RUNNING", 1, "was running", poll=0.05)
    running = [t.number for t in trials(url, study) if t.state.name == "RUNNING"]
    time.sleep(1.5)
    still = [t.number for t in trials(url, study) if t.state.name == "RUNNING"]
    return running[0] if running and running == still else None


def test_worker_killed_hard_is_retried_after_the_heartbeat(capsys, tmp_path):
    """kill -9 in the middle of a trial: no handler runs, the trial stays RUNNING. The next
    worker, after 2 heartbeats, marks it failed and runs its parameters again."""
    for attempt in range(3):  # a trial that ends before the kill hangs nothing: again
        out = tmp_path / f"s{attempt}"
        url = f"sqlite:///{out / 'study.db'}"
        argv = ["dse", "--recipe", DSE_HAR, "--out", str(out), "--heartbeat", "1",
                *sets("dse.fidelity=null", "dse.trials=2", "dse.sampler=random",
                      "pretrain.steps=3000", "pretrain.patience=100000")]  # ~2.5 s trials
        proc = popen(*argv, cwd=tmp_path)
        number = _wait_running(url, "dse_har", proc)
        proc.kill()
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        hung = [t for t in trials(url, "dse_har") if t.state.name == "RUNNING"]
        if number is not None and [t.number for t in hung] == [number]:
            break
    assert number is not None and [t.number for t in hung] == [number], states(url, "dse_har")
    time.sleep(3)  # past the grace period (2 x heartbeat) of the dead worker's trial
    assert cli(capsys, "-q", *argv)[0] == 0
    done = check_complete_trials(url, "dse_har", FIELDS)
    assert len(done) == 2 and set(states(url, "dse_har")) <= {"COMPLETE", "FAIL"}
    dead = next(t for t in trials(url, "dse_har") if t.number == hung[0].number)
    assert dead.state.name == "FAIL"
    from optuna.storages import RetryFailedTrialCallback

    retries = [d for d in done if RetryFailedTrialCallback.retried_trial_number(d) == dead.number]
    assert len(retries) == 1 and retries[0].params == dead.params


@pytest.mark.skipif(not os.environ.get("SNNX_TEST_POSTGRES"),
                    reason="SNNX_TEST_POSTGRES is not set: no PostgreSQL server to test "
                           "against (.ci/run starts one; see docs/dse.md)")
def test_postgresql_storage(capsys, tmp_path):
    """A study in PostgreSQL: two runs from two folders (two 'machines') share it."""
    import optuna

    from snnx.dse.study import with_driver

    url = os.environ["SNNX_TEST_POSTGRES"]
    name = f"snnx_test_{uuid.uuid4().hex[:8]}"
    base = ["-q", "dse", "--recipe", DSE_HAR, "--storage", url,
            *sets("dse.fidelity=null", "dse.sampler=random", f"dse.study={name}")]
    try:
        assert cli(capsys, *base, "--out", str(tmp_path / "a"), "--set", "dse.trials=2")[0] == 0
        code, stdout, _ = cli(capsys, *base, "--out", str(tmp_path / "b"),
                              "--set", "dse.trials=4", "--set", "dse.seed=1")
        assert code == 0 and "complete: full 4" in stdout
        done = check_complete_trials(url, name, FIELDS)
        assert [t.number for t in done] == [0, 1, 2, 3]
        dirs = [os.path.dirname(os.path.dirname(t.user_attrs["run_dir"])) for t in done
                if "same_as" not in t.user_attrs]
        assert set(dirs) <= {str(tmp_path / "a"), str(tmp_path / "b")}
        assert "postgresql" in (tmp_path / "b" / "pareto.json").read_text()
    finally:
        try:
            optuna.delete_study(study_name=name, storage=with_driver(url))
        except KeyError:
            pass
