"""`snnx stream`: a run's chip on a CSV / JSON-lines file, stdin and a real LSL outlet."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import snnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from pipeline_helpers import HAR_DFA, cli, sets  # noqa: E402

W, HOP = 128, 64


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stream") / "run"
    assert snnx.cli.main(["adapt", "--recipe", HAR_DFA, *sets(
        "monitor.tensorboard=false", "monitor.figures=false"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def windows(run_dir):
    run = snnx.load_run(run_dir)
    X, y = run.windows("target_test")
    return X[:4], y[:4], run.preprocessing.channels, run.classes


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def _expected_windows(n: int) -> int:
    return (n - W) // HOP + 1


def test_csv_with_header_and_named_labels(run_dir, windows, tmp_path, capsys):
    X, y, channels, classes = windows
    lines = [",".join([*channels, "label"])]
    for w, c in zip(X, y):
        lines += [",".join(f"{v:.9g}" for v in s) + "," for s in w[:-1]]
        lines.append(",".join(f"{v:.9g}" for v in w[-1]) + "," + classes[c])
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    code, out, err = cli(capsys, "stream", str(run_dir), "--source", str(tmp_path / "s.csv"),
                         "--out", str(tmp_path / "o"))
    assert code == 0, err
    recs = _records(tmp_path / "o")
    preds = [r for r in recs if "pred" in r]
    learnt = [r for r in recs if "label" in r]
    assert len(preds) == _expected_windows(4 * W) == 7
    # a window ends at each labelled sample every other hop: 4 labels, 4 on-chip steps
    assert [r["label"] for r in learnt] == [int(c) for c in y]
    assert all(r["loss"] > 0 for r in learnt) and learnt[-1]["energy_j"] > preds[0]["energy_j"]
    assert "4 on-chip steps" in out
    back = snnx.load_run(tmp_path / "o" / "deployed.h5")
    assert back.steps == snnx.load_run(run_dir).steps + 4
    assert (tmp_path / "o" / "tb").is_dir()


def test_jsonl_stdin_late_labels_and_no_learn(run_dir, windows, tmp_path, capsys,
                                              monkeypatch):
    X, y, _, _ = windows
    lines = []
    for w, c in zip(X[:2], y[:2]):
        lines += [json.dumps({"x": s.tolist()}) for s in w]
        lines.append(json.dumps({"label": int(c)}))  # the label arrives after its window
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        ("\n".join(lines) + "\n").encode())))
    code, out, err = cli(capsys, "stream", str(run_dir), "--source", "-", "--no-learn",
                         "--no-tensorboard", "--out", str(tmp_path / "o"))
    assert code == 0, err
    recs = _records(tmp_path / "o")
    assert sum("pred" in r for r in recs) == _expected_windows(2 * W)
    assert [r["label"] for r in recs if "label" in r] == [int(c) for c in y[:2]]
    assert not any("loss" in r for r in recs) and "0 on-chip steps" in out
    assert not (tmp_path / "o" / "tb").exists()


def test_headerless_csv_predictions_match_the_adapter(run_dir, windows, tmp_path, capsys):
    X, _, _, _ = windows
    np.savetxt(tmp_path / "s.csv", X.reshape(-1, 9), delimiter=",", fmt="%.9g")
    code, _, err = cli(capsys, "stream", str(run_dir), "--source", str(tmp_path / "s.csv"),
                       "--out", str(tmp_path / "o"), "--no-tensorboard", "--max-samples", "300")
    assert code == 0, err
    preds = [r["pred"] for r in _records(tmp_path / "o")]
    assert len(preds) == _expected_windows(300)
    ad = snnx.load_run(run_dir).adapter()
    flat = np.loadtxt(tmp_path / "s.csv", delimiter=",", dtype=np.float64)[:300]
    assert preds == [p for p in (ad.step(s) for s in flat) if p is not None]


@pytest.mark.parametrize("text,says", [
    ("1,2,3\n", "expected 9 numbers"),
    ("a,b,c\n1,2,3\n", "does not name the run's channels"),
    (",".join(["0"] * 9) + ",walk\n", "label 'walk' is not a class"),
])
def test_bad_source_lines_are_one_line_errors(run_dir, tmp_path, capsys, text, says):
    (tmp_path / "s.csv").write_text(text * 130)
    code, _, err = cli(capsys, "stream", str(run_dir), "--source", str(tmp_path / "s.csv"),
                       "--out", str(tmp_path / "o"))
    assert code == 2 and err.startswith("snnx: error: ") and says in err, err
    assert err.count("\n") == 1


def _pylsl():
    try:
        import pylsl
        pylsl.library_version()
        return pylsl
    except Exception as e:  # noqa: BLE001 - no liblsl on this machine: say why and skip
        pytest.skip(f"liblsl cannot run here: {e.__class__.__name__}: {e}")


def test_faster_source_with_area_resampling(run_dir, windows, tmp_path, capsys):
    """The same motion sampled at 100 Hz with a fast wobble on top (+e, -e on the two
    samples of each 50 Hz period): --resample area averages the wobble away and predicts
    as the 50 Hz stream; nearest keeps +e (the check has power: its predictions differ)."""
    X, _, _, _ = windows
    base = np.concatenate(list(X)).astype(np.float32)
    fast = np.repeat(base, 2, axis=0)
    fast[0::2] += 3.0
    fast[1::2] -= 3.0
    preds = {}
    for name, rows, extra in (("at50", base, []),
                              ("area", fast, ["--sample-rate", "100", "--resample", "area"]),
                              ("nearest", fast, ["--sample-rate", "100"])):
        (tmp_path / f"{name}.csv").write_text(
            "\n".join(",".join(f"{v:.9g}" for v in r) for r in rows) + "\n")
        code, _, err = cli(capsys, "stream", str(run_dir), "--source",
                           str(tmp_path / f"{name}.csv"), "--no-learn", *extra,
                           "--out", str(tmp_path / name))
        assert code == 0, err
        preds[name] = [(r["window"], r["pred"]) for r in _records(tmp_path / name)
                       if "pred" in r]
    assert len(preds["at50"]) == _expected_windows(4 * W)
    assert preds["area"] == preds["at50"]
    assert preds["nearest"] != preds["at50"]
    with pytest.raises(SystemExit) as stop:  # argparse's choices: one line, exit 2
        snnx.cli.main(["stream", str(run_dir), "--source", str(tmp_path / "at50.csv"),
                       "--resample", "cubic", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.strip().count("\n") == 0
    assert "--resample" in err and "cubic" in err and not (tmp_path / "bad").exists()


def test_lsl_outlet(run_dir, windows, tmp_path, capsys):
    pylsl = _pylsl()
    X, y, _, _ = windows
    name = f"snnx-test-{time.monotonic_ns()}"
    info = pylsl.StreamInfo(name, "Accelerometer", 9, 50.0, "float32", name)
    outlet = pylsl.StreamOutlet(info)
    marks = pylsl.StreamOutlet(pylsl.StreamInfo(name + "-labels", "Markers", 1, 0, "string",
                                                name + "-m"))
    samples = np.concatenate(list(X))
    stop = threading.Event()

    def push():  # wait for the command's inlet, then send the samples and late labels
        while not outlet.wait_for_consumers(0.1):
            if stop.is_set():
                return
        while not marks.wait_for_consumers(0.1):
            if stop.is_set():
                return
        time.sleep(0.3)
        for k in range(0, len(samples), 32):
            outlet.push_chunk(samples[k:k + 32].tolist())
            if (k + 32) % W == 0:
                time.sleep(0.05)
                marks.push_sample([str(int(y[(k + 32) // W - 1]))])
            time.sleep(0.01)

    t = threading.Thread(target=push, daemon=True)
    t.start()
    try:
        code, out, err = cli(capsys, "stream", str(run_dir), "--source", f"lsl:{name}",
                             "--labels", f"lsl:{name}-labels", "--timeout", "1.5",
                             "--out", str(tmp_path / "o"), "--no-tensorboard")
    finally:
        stop.set()
        t.join(10)
    assert code == 0, err
    recs = _records(tmp_path / "o")
    assert sum("pred" in r for r in recs) == _expected_windows(len(samples))
    assert 1 <= sum("label" in r for r in recs) <= len(y)
    ad = snnx.load_run(run_dir).adapter()
    first = [p for p in (ad.step(s) for s in samples[:W])][-1]
    assert recs[0]["pred"] == first  # the samples arrived intact and in order
