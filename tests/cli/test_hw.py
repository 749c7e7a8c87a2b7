"""`snnx hw` and `snnx recipes` commands; user errors exit 2 with one line, no traceback."""

import subprocess
import sys

import pytest

from snnx.cli import main


def test_hw_list(capsys):
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    assert "rram_generic" in out and "ideal" in out


def test_hw_show_with_override(capsys):
    assert main(["hw", "show", "rram_generic", "--set", "periphery.adc_bits=6"]) == 0
    out = capsys.readouterr().out
    assert "periphery.adc_bits" in out and " 6 " in out
    assert "source:" in out


@pytest.mark.parametrize("argv, start", [
    (["hw", "show", "rram_generc"], "snnx: error: hw: unknown preset"),
    (["hw", "show", "rram_generic", "--set", "periphery.adc_bits=0"],
     "snnx: error: periphery.adc_bits: 0 is out of range"),
    (["hw", "show", "rram_generic", "--set", "device.g_min=1"], "snnx: error: device.g_min:"),
    (["hw", "show", "rram_generic", "--set", "nonsense"], "snnx: error: "),
])
def test_user_errors_are_one_line_exit_2(argv, start, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(start), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_exit_code():
    r = subprocess.run([sys.executable, "-m", "snnx.cli", "hw", "show", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.startswith("snnx: error: hw:")
