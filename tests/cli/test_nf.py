"""``snnx nf`` end to end on a tiny configuration, and its one-line user errors."""

from __future__ import annotations

import re

import pytest
import torch

from snnx.cli import main
from snnx.nn import MLP

TINY = ["nf", "--epochs", "1", "--hidden", "8", "--calib", "16",
        "--set", "array.rows=32", "--set", "array.cols=32"]


def test_nf_prints_the_nf_and_accuracy_tables(capsys):
    assert main(TINY + ["--r", "2.5"]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "digits MLP 64-8-10 (trained 1 epoch in" in out
    assert "8-bit weights, 1 bit/cell, bit-serial inputs, arrays 32x32, parasitics exact" in out
    assert re.search(r"r_row/r_col\s+layer\s+arrays\s+NF baseline\s+NF MDM\s+reduction", out)
    rows = re.findall(r"2\.5/2\.5\s+(fc\d)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+(-?[\d.]+)%", out)
    # fc0: 64 inputs x 64 bit columns on 32x32 arrays -> 2 x 2 per side; fc1: 8 x 80 -> 1 x 3
    assert [(r[0], int(r[1])) for r in rows] == [("fc0", 8), ("fc1", 6)]
    assert all(float(r[2]) > 0 for r in rows)
    assert re.search(r"accuracy on 450 test images: software [\d.]+%, deployed without wire "
                     r"resistance [\d.]+%", out)
    assert re.search(r"2\.5/2\.5\s+[\d.]+%\s+[\d.]+%\s+[+-][\d.]+%", out)


def test_nf_loads_a_saved_model_and_r_col_follows_r_row(tmp_path, capsys):
    path = tmp_path / "mlp.pt"
    torch.save(MLP([64, 6, 10], seed=3).state_dict(), path)
    assert main(TINY + ["--model", str(path), "--set", "parasitics.r_row=2"]) == 0
    out = capsys.readouterr().out
    assert f"digits MLP 64-6-10 (loaded {path}" in out
    assert len(re.findall(r"^\s+2/2\s+fc\d", out, re.M)) == 2


@pytest.mark.parametrize("extra,msg", [
    (["--r", "0"], "--r: must be > 0 ohm, got 0"),
    (["--r", "1", "--set", "parasitics.r_row=2"],
     "--r: conflicts with --set parasitics.r_row; give the wire resistance one way"),
    (["--mdm", "bogus=1"], "mdm.bogus: unknown key"),
    (["--model", "/nonexistent/mlp.pt"], "--model: no such file '/nonexistent/mlp.pt'"),
    (["--set", "parasitics.model=none"], "parasitics.model: 'none' leaves nothing to measure"),
    (["--set", "parasitics.model=spice"], "parasitics.model: 'spice' is not one of"),
    (["--hidden", "0"], "--hidden: widths must be >= 1"),
])
def test_nf_user_errors_are_one_line_with_exit_2(extra, msg, capsys):
    assert main(TINY + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"snnx: error: {msg}") and err.count("\n") == 1


def test_nf_rejects_a_model_of_the_wrong_shape(tmp_path, capsys):
    path = tmp_path / "bad.pt"
    torch.save(MLP([10, 4, 3]).state_dict(), path)
    assert main(TINY + ["--model", str(path)]) == 2
    assert "--model: expected the weights of an MLP 64-...-10" in capsys.readouterr().err
