"""The rules on CNNs: BP equals autograd, DFA feeds the conv output maps, the patch rows are
what the tiles read and write, and both CNN recipes run through `snnx adapt` with each rule."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import snnx.hw as hw
from snnx.cli import main
from snnx.learn import RULES
from snnx.learn.rule import output_error
from snnx.nn import CNN

ROOT = Path(__file__).resolve().parents[2]


def nets(dims: int, pool_kind: str = "max", hw_name: str = "ideal"):
    if dims == 1:
        net = CNN(channels=3, window=12, classes=4, conv=(3, 5), hidden=(6,), kernel=3,
                  pool_kind=pool_kind, seed=1, dtype=torch.float64)
        x = torch.randn(5, 12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    else:
        net = CNN(channels=16, window=1, classes=4, conv=(3, 5), hidden=(6,), dims=2,
                  pool_kind=pool_kind, seed=1, dtype=torch.float64)
        x = torch.rand(5, 1, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return net, net.to_analog(hw.load(hw_name), seed=2), x


Y = torch.tensor([0, 1, 2, 3, 1])


@pytest.mark.parametrize("dims, pool_kind", [(1, "max"), (2, "avg"), (2, "max")])
def test_bp_on_ideal_is_sgd_with_torch_gradients(dims, pool_kind):
    """Errors down through mvm_t, col2im and the pooling: every conv and linear update is lr
    times torch autograd's gradient of the same CNN."""
    net, chip, x = nets(dims, pool_kind)
    F.cross_entropy(net(x), Y).backward()
    w0 = [l.tile.read_weight().clone() for l in chip.layers]
    b0 = [l.bias.detach().clone() for l in chip.layers]
    lr = 1e-2
    RULES["bp"](lr=lr).step(chip, x, Y)
    for lyr, soft, w, b in zip(chip.layers, net.layers, w0, b0):
        step = lyr.tile.read_weight() - w
        torch.testing.assert_close(step, -lr * soft.weight.grad.reshape(w.shape), rtol=0,
                                   atol=1e-12)
        torch.testing.assert_close(lyr.bias.detach() - b, -lr * soft.bias.grad, rtol=0,
                                   atol=1e-12)
    assert chip.ledger.counts["adc_t"] > 0


@pytest.mark.parametrize("kind", ["maps", "channels"])
def test_dfa_projects_the_error_onto_the_conv_output_maps(kind):
    """δ_0 = expand(B_0 e) ⊙ f'(a_0) with B_0 on a feedback tile of C_0 L_0 (maps) or C_0
    (channels) outputs; the write is -lr δ_0^T P with P the unfolded input."""
    _, chip, x = nets(1)
    rule = RULES["dfa"](lr=1e-2, conv_feedback=kind, seed=4)
    rule.bind(chip)
    L0, L1 = 12, 6
    n = [3 * L0, 5 * L1, 6] if kind == "maps" else [3, 5, 6]
    assert [tuple(t.shape) for t in rule.tiles] == [(k, 4) for k in n]
    rec = chip.record(x)
    e, _ = output_error(rec.logits, Y)
    fb = e @ rule.B[0].T                                      # (B, n_0)
    if kind == "maps":                                        # (position, channel) order
        v = fb.reshape(5, L0, 3).reshape(5 * L0, 3)
    else:
        v = fb.repeat_interleave(L0, dim=0)
    a0 = rec.pre[0]
    delta = v * (a0 > 0)
    torch.testing.assert_close(rule.deltas(chip, rec, e)[0], delta, rtol=0, atol=1e-12)
    P = F.unfold(x.transpose(1, 2).unsqueeze(2), (1, 3), padding=(0, 1))  # (B, 9, L0)
    P = P.transpose(1, 2).reshape(5 * L0, 9)
    torch.testing.assert_close(rec.inputs[0], P, rtol=0, atol=1e-12)
    w0 = chip.layers[0].tile.read_weight().clone()
    rule.apply(chip, rec, rule.deltas(chip, rec, e))
    torch.testing.assert_close(chip.layers[0].tile.read_weight() - w0, -1e-2 * delta.T @ P,
                               rtol=0, atol=1e-12)


def test_a_step_reads_every_patch_row_once():
    """Forward of a DFA step: B * L_l vector reads on conv tile l (the ledger counts them)."""
    _, chip, x = nets(2, hw_name="rram_generic")
    B = x.shape[0]
    rows = [B * 16, B * 4, B, B]                              # 4x4 and 2x2 maps, then FC
    rule = RULES["dfa"](lr=1e-2)
    rule.bind(chip)
    led = chip.ledger
    mark = dict(led.counts)
    rule.step(chip, x, Y)
    dac = led.counts["dac"] - mark.get("dac", 0.0)
    fwd = sum(r * l.tile.layout.in_features * l.tile.layout.n_col_blocks
              for r, l in zip(rows, chip.layers))
    fb = sum(B * t.layout.in_features * t.layout.n_col_blocks for t in rule.tiles)
    assert dac == fwd + fb


@pytest.mark.parametrize("deltas", ["bp", "dfa"])
def test_logsgd_integrates_conv_patch_updates(deltas):
    _, chip, x = nets(2, hw_name="rram_generic")
    rule = RULES["logsgd"](lr=0.2, deltas=deltas, seed=1)
    before = [l.tile.conductances.clone() for l in chip.layers]
    out = rule.step(chip, x, Y)
    assert math.isfinite(out["loss"])
    shapes = [tuple(a.codes.shape) for a in rule.arrays]
    assert shapes == [(2, 3, 9), (2, 5, 27), (2, 6, 5), (2, 4, 6)]
    rule.bind(chip)
    codes = [a.codes.clone() for a in rule.arrays]
    rule.step(chip, x, Y)
    assert all(not torch.equal(c, a.codes) for c, a in zip(codes[:2], rule.arrays[:2]))  # conv
    # the weights live on the capacitors: the RRAM keeps its deployed conductances
    assert all(torch.equal(l.tile.conductances, b) for l, b in zip(chip.layers, before))


# ------------------------------------------------------------------ through `snnx adapt`
TINY = {
    "digits_cnn_dfa": ["data.digits.target_share=0.1", "model.cnn.conv=[2,4]", "model.hidden=[8]",
                       "pretrain.epochs=2"],
    "har_cnn_dfa": ["data.source_subjects=2", "data.synthetic_har.windows_per_activity=4",
                    "model.cnn.conv=[2,4]", "model.hidden=[8]", "pretrain.epochs=2"],
}
COMMON = ["eval.mc_draws=1", "eval.every=0", "monitor.tensorboard=false", "monitor.figures=false",
          "monitor.checkpoint_every=0", "monitor.histograms_every=0"]


@pytest.mark.parametrize("rule", ["dfa", "bp", "logsgd"])
@pytest.mark.parametrize("recipe", sorted(TINY))
def test_cnn_recipes_adapt_with_each_rule(tmp_path, recipe, rule):
    argv = ["adapt", "--recipe", str(ROOT / "recipes" / f"{recipe}.yaml"), "--out",
            str(tmp_path / "run")]
    for item in [*TINY[recipe], *COMMON, f"adapt.rule={rule}"]:
        argv += ["--set", item]
    assert main(argv) == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["rule"] == rule and rep["recipe"] == recipe
    for key in ("software", "deployed", "adapted"):
        assert 0.0 <= rep["accuracy"][key] <= 1.0
    assert rep["cost"]["steps"] > 0 and rep["cost"]["energy_j"] > 0
    counts = rep["cost"]["counts"]
    assert counts["dac"] > 0 and ("adc_t" in counts) == (rule != "dfa")  # transposed reads


def test_online_adapter_streams_into_a_cnn():
    from snnx.learn import OnlineAdapter

    _, chip, _ = nets(1, hw_name="rram_generic")
    adapter = OnlineAdapter(chip, "dfa", window=12, hop=6, channels=3, lr=0.05)
    preds = [adapter.step([0.1 * t, -0.2, 0.3]) for t in range(18)]
    assert [p is not None for p in preds].count(True) == 2
    before = chip.layers[0].tile.conductances.clone()
    adapter.learn(1)
    assert adapter.learn_steps == 1 and not torch.equal(chip.layers[0].tile.conductances, before)
