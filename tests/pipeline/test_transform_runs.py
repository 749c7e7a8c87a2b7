"""The issue-13 recipes through ``snnx adapt`` (tiny): report blocks of the transforms, MDM +
encryption + on-line DFA, a re-measure from the checkpoints (the chip rebuilt from its PUF),
bad transform parameters, and the leak test: no file a run writes holds the key bits."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import snnx

from pipeline_helpers import ROOT, report
from snnx import checkpoint as ckpt
from snnx.config.seeds import derive
from snnx.transforms.encrypt import SimulatedPUF, derive_keys

TINY = ["data.digits.target_share=0.2", "data.label_rate=0.3", "pretrain.epochs=2", "eval.mc_draws=1", "eval.every=20",
        "monitor.log_every=5", "monitor.histograms_every=10", "monitor.checkpoint_every=3",
        "adapt.batch_size=4"]
RUN = 48                                                         # key bits per needle


def sets(*extra):
    return [a for item in [*TINY, *extra] for a in ("--set", item)]


# ------------------------------------------------------------------ the leak search
def _bits_text(text: str) -> str:
    """The 0/1 sequence a text spells with True/False/true/false/0/1 tokens (any layout:
    Python reprs, JSON, YAML, digit strings)."""
    return "".join("1" if t in ("True", "true", "1") else "0"
                   for t in re.findall(r"True|False|true|false|[01]", text))


def needles(keys, puf):
    """Every encoding of every RUN-bit window of the key (per vector and concatenated)."""
    vectors = [b for k in keys for b in (k.r, k.c)]
    vectors.append(torch.cat(vectors))
    runs = [v[i:i + RUN] for v in vectors for i in range(0, len(v) - RUN + 1, RUN)]
    text, raw = [], [puf.response()]
    for run in runs:
        s = "".join("1" if b else "0" for b in run.tolist())
        sign = 1.0 - 2.0 * run.double()
        u8 = run.to(torch.uint8).numpy()
        text.append(s)
        raw += [s.encode(), u8.tobytes(), np.packbits(u8).tobytes(),
                sign.numpy().tobytes(), sign.float().numpy().tobytes(),
                run.double().numpy().tobytes(), run.float().numpy().tobytes(),
                run.long().numpy().tobytes()]
    return text, raw, puf.response().hex()


def _walk(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _walk(v)
    else:
        yield node


def leaks(folder: Path, text_needles, raw_needles, hex_needle) -> list[str]:
    """Files (and how) a key encoding is found in: raw bytes of every file, the 0/1 token
    stream of text files, and the decoded arrays and strings of HDF5 checkpoints (whose
    integer arrays may be gzip-compressed on disk)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if any(n in data for n in raw_needles) or hex_needle.encode() in data:
            found.append(f"{path.name}: raw bytes")
        streams = []
        if path.suffix in (".json", ".jsonl", ".yaml", ".yml", ".txt", ".log", ".csv"):
            streams.append(_bits_text(data.decode("utf-8", "replace")))
        if path.suffix == ".h5":
            for leaf in _walk(ckpt.load(path)):
                if isinstance(leaf, (torch.Tensor, np.ndarray)):
                    t = torch.as_tensor(leaf).flatten()
                    if t.is_floating_point() or t.dtype in (torch.int64, torch.int32,
                                                            torch.uint8, torch.bool):
                        b = t.double()
                        streams += ["".join("1" if v else "0" for v in (b < 0).tolist()),
                                    "".join("1" if v else "0" for v in (b != 0).tolist())]
                        if any(n in t.numpy().tobytes() for n in raw_needles):
                            found.append(f"{path.name}: decoded array")
                elif isinstance(leaf, str):
                    streams.append(_bits_text(leaf))
                    if hex_needle in leaf:
                        found.append(f"{path.name}: string")
        if any(n in s for s in streams for n in text_needles):
            found.append(f"{path.name}: bit stream")
    return found


def lab_keys(report_json):
    """The keys of the run's chip (the lab re-derives them from the seed, as deploy does)."""
    seed = derive(derive(report_json["seed"], "transforms", 0), "encrypt.puf")
    puf = SimulatedPUF(256, generator=torch.Generator().manual_seed(seed))
    shapes = [(i, o) for o, i in report_json["model"]["layers"]]
    return derive_keys(puf.response(), shapes), puf


@pytest.fixture(scope="module")
def bnn_run(tmp_path_factory):
    """A tiny bnn_encrypt run; its DEBUG log and its stdout/stderr are kept in logs/ beside
    the run folder (so the leak test reads them as files too)."""
    out = tmp_path_factory.mktemp("bnn") / "run"
    logs = out.parent / "logs"
    logs.mkdir()
    handler = logging.FileHandler(logs / "snnx.log")
    lg = logging.getLogger("snnx")
    level = lg.level
    lg.setLevel(logging.DEBUG)
    lg.addHandler(handler)
    try:
        code, text, err = cli_run("adapt", "--recipe", str(ROOT / "recipes" / "bnn_encrypt.yaml"),
                                  "--out", str(out), *sets("model.hidden=[64,48]"))
    finally:
        lg.removeHandler(handler)
        handler.close()
        lg.setLevel(level)
    (logs / "console.txt").write_text(text + err)
    assert code == 0, err
    return out


def cli_run(*argv):
    """``snnx -q ARGV`` in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from snnx.cli import main

    err, outs = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outs):
        code = main(["-q", *argv])
    return code, outs.getvalue(), err.getvalue()


def test_bnn_encrypt_report(bnn_run):
    rep = report(bnn_run)
    enc = rep["encryption"]
    assert enc["path"] == "integer" and enc["layers"] == 3
    assert enc["accuracy_with_key"] == enc["accuracy_plain"]
    for k in ("accuracy_without_key", "accuracy_wrong_key", "accuracy_swap_only",
              "accuracy_inversion_only", "periphery_energy_share"):
        assert 0.0 <= enc[k] < 1.0, k
    assert enc["xor_per_inference"] == 64 + 64 + 48
    assert enc["mux_per_inference"] == 64 + 48 + 10
    # every stream prediction passes the keyed periphery: the inference account shows it
    gates = enc["xor_per_inference"] + enc["mux_per_inference"]
    assert rep["inference"]["counts"]["xor_mux"] == rep["stream"]["windows"] * gates
    assert rep["stream"]["steps"] > 0


def test_no_file_of_the_run_holds_the_key(bnn_run, tmp_path):
    keys, puf = lab_keys(report(bnn_run))
    text, raw, hexs = needles(keys, puf)
    assert len(text) >= 5
    files = {p.suffix for p in bnn_run.parent.rglob("*") if p.is_file()}
    assert {".h5", ".json", ".jsonl", ".yaml", ".png", ".log", ".txt"} <= files
    assert any("tfevents" in p.name for p in bnn_run.rglob("*"))
    assert "deployed accuracy" in (bnn_run.parent / "logs" / "snnx.log").read_text()
    assert leaks(bnn_run.parent, text, raw, hexs) == []         # the run folder and its logs
    # the search finds a key where one is written, in the ways a run writes files
    bad = tmp_path / "bad"
    bad.mkdir()
    mask = torch.zeros(6000, dtype=torch.bool)
    mask[1000:1000 + len(keys[0].r)] = keys[0].r                 # gzip-compressed on disk
    ckpt.save(bad / "c.h5", {"chip": {"mask": mask}})
    assert leaks(bad, text, raw, hexs) == ["c.h5: decoded array", "c.h5: bit stream"]  # not raw
    (bad / "c.h5").unlink()
    (bad / "m.jsonl").write_text(json.dumps({"r": keys[0].r.tolist()}) + "\n")
    assert leaks(bad, text, raw, hexs) == ["m.jsonl: bit stream"]


def test_mdm_then_encrypt_then_dfa(tmp_path):
    out = tmp_path / "run"
    code, _, err = cli_run("adapt", "--recipe", str(ROOT / "recipes" / "digits_mdm_encrypt.yaml"),
                           "--out", str(out), *sets("model.hidden=[16]"))
    assert code == 0, err
    rep = report(out)
    assert rep["encryption"]["path"] == "tiles" and rep["stream"]["steps"] > 0
    assert rep["cost"]["counts"]["xor_mux"] > 0                  # learning through the key
    state = ckpt.load(sorted((out / "checkpoints").glob("step_*.h5"))[-1])
    assert all("key_sha256" in t for t in state["chip"]["tiles"])
    code, text, err = cli_run("eval", "--run", str(out))         # chip rebuilt from its PUF
    assert code == 0, err
    assert f"adapted {100 * rep['accuracy']['adapted']:.1f} %" in text
    dep = snnx.load_run(out)                                    # keys re-derived, cells loaded
    for lyr, sd in zip(dep.chip.layers, state["chip"]["tiles"]):
        t = lyr.tile
        assert t.layout.key is not None and t.layout.key.sha256 == sd["key_sha256"]
        torch.testing.assert_close(t.read_weight(), t.layout.key.scramble(
            t.layout.weights(t.conductances)))
    w = torch.load(dep.export(tmp_path / "w.pt"), weights_only=True)["state_dict"]
    torch.testing.assert_close(w["layers.0.weight"], dep.chip.layers[0].tile.read_weight())


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_reprogram_recipe(kind, tmp_path):
    out = tmp_path / "run"
    extra = ["model.hidden=[32]", "transforms=[{name: reprogram, rows: 32, cols: 32, "
                                  "low_bits: 3, p: 0.1}]"]
    if kind == "cnn":
        extra += ["model.kind=cnn", "model.cnn.conv=[4,8]"]
    code, _, err = cli_run("adapt", "--recipe", str(ROOT / "recipes" / "reprogram.yaml"),
                           "--out", str(out), *sets(*extra))
    assert code == 0, err
    rep = report(out)
    rp = rep["reprogram"]
    for k in ("writes_naive", "writes_sorted", "writes_stuck", "writes_sorted_stuck",
              "reduction_sorted", "reduction_stuck", "reduction_sorted_stuck",
              "max_writes_per_cell_naive", "accuracy_drop"):
        assert k in rp, k
    assert rp["reduction_stuck"] == pytest.approx(rp["writes_naive"] / rp["writes_stuck"])
    assert rp["accuracy_held"] == rep["accuracy"]["deployed"]
    assert rep["model"]["kind"] == kind


@pytest.mark.parametrize("item,says", [
    ("transforms=[{name: reprogram, p: 1.5}]", "transforms[0].p: 1.5 is out of range [0, 1]"),
    ("transforms=[{name: reprogram, low_bits: 9}]",
     "transforms[0].low_bits: must be <= bits = 8"),
    ("transforms=[{name: encrypt, variant: both}]", "transforms[0].variant: 'both' is not"),
    ("transforms=[{name: encrypt, key: 0101}]", "transforms[0].key: secrets must not be"),
])
def test_bad_transform_parameters(item, says, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli_run("adapt", "--recipe", str(ROOT / "recipes" / "reprogram.yaml"),
                           "--out", str(out), "--set", item)
    assert code == 2 and err == f"snnx: error: {err[len('snnx: error: '):]}"
    assert says in err and err.count("\n") == 1
    assert not out.exists()
