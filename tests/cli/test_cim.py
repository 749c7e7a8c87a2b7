"""``snnx cim``: the mapping x ADC x variation table from a recipe (tiny sweep), its files,
the exactness of every mode with an ideal ADC and no variation, and one-line errors."""

from __future__ import annotations

import csv
import json

import pytest

from snnx.cli import main

TINY = ["--set", "model.hidden=[16,16]", "--set", "pretrain.epochs=2", "--seeds", "0"]


def test_tiny_table_files_and_exact_modes(tmp_path, capsys):
    out = tmp_path / "cim"
    code = main(["-q", "cim", "--recipe", "cim_explorer", *TINY, "--modes", "bnn_i", "bnn_iii",
                 "bnn_vi", "--bits", "3", "ideal", "--sigma-h", "0", "8", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "bnn_iii" in text and "b=ideal" in text and "sH=8uA" in text
    with open(out / "cim_explorer.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 2 * 2                                 # modes x bits x sigma
    assert {r["adc_bits"] for r in rows} == {"3", "ideal"}
    rep = json.loads((out / "report.json").read_text())["cim"]
    assert (rep["cell_i_h_a"], rep["cell_i_l_a"]) == pytest.approx((5e-6, 30e-6))
    assert rep["sizes"] == [64, 16, 16, 10] and len(rep["table"]) == 12
    software = rep["software_accuracy"]["binary"][0]
    exact = [r for r in rep["table"] if r["adc_bits"] == "ideal" and r["sigma_h"] == 0.0]
    assert len(exact) == 3 and all(r["mean"] == software for r in exact)
    cells = {r["mode"]: r["cells"] for r in exact}
    assert cells["bnn_vi"] == 2 * cells["bnn_i"] == 4 * cells["bnn_iii"]
    assert (out / "cim_explorer.png").stat().st_size > 1000
    assert (out / "cim_explorer_summary.csv").is_file()


@pytest.mark.parametrize("argv,says", [
    (["--modes", "bnn_vii"], "snnx: error: --modes: 'bnn_vii' is not one of bnn_i"),
    (["--nets", "ternary", "--modes", "bnn_i"], "snnx: error: --modes: bnn_i needs +-1"),
    (["--bits", "1"], "snnx: error: --bits: ADC resolutions must be in [2, 16]"),
    (["--sigma-h", "-1"], "snnx: error: --sigma-h: spreads must be in [0, 1000) uA"),
    (["--set", "model.kind=mlp"], "snnx: error: model.kind: snnx cim needs a bnn model"),
    (["--set", "model.bnn.weights=quaternary"], "snnx: error: model.bnn.weights: "),
])
def test_bad_input_is_one_line(argv, says, tmp_path, capsys):
    code = main(["cim", "--recipe", "cim_explorer", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(says) and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()
