"""Statistics over seeds: the CI formula, grouping by differing config keys, labels, the
± tables and the CSV columns (no runs: plain numbers and configs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from snnx.pipeline import stats as st
from snnx.pipeline.compare import compare


@pytest.mark.parametrize("values", [[0.80, 0.84, 0.88], [0.9, 0.7, 0.75, 0.95, 0.85],
                                    [1e-6, 3e-6], list(np.linspace(0.1, 0.9, 12))])
def test_ci_equals_scipy_t_interval(values):
    s = st.mean_ci(values)
    lo, hi = scipy.stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                    scale=scipy.stats.sem(values))
    assert s["n"] == len(values)
    assert s["mean"] == pytest.approx(np.mean(values), rel=1e-12)
    assert s["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert s["ci95"] == pytest.approx((hi - lo) / 2, rel=1e-10)


def test_ci_known_numbers():
    # five seeds 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451 (textbook table)
    s = st.mean_ci([1, 2, 3, 4, 5])
    assert st.t_quantile(0.975, 4) == pytest.approx(2.7764451, abs=1e-6)
    assert s["ci95"] == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert st.t_quantile(0.975, 1) == pytest.approx(12.7062047, abs=1e-6)


def test_ci_missing_values_and_single_seed():
    s = st.mean_ci([0.5, None, float("nan"), 0.7])
    assert s["n"] == 2 and s["values"] == [0.5, 0.7]
    one = st.mean_ci([0.9])
    assert one["mean"] == 0.9 and one["std"] is None and one["ci95"] is None
    assert st.mean_ci([])["mean"] is None


def _cfg(name="har_dfa", rule="dfa", seed=0, **extra):
    cfg = {"name": name, "seed": seed, "description": f"d{seed}", "adapt.rule": rule,
           "adapt.lr": 3e-3, "hw.preset": "rram_generic", "monitor.log_every": seed + 1}
    if rule == "dfa":
        cfg["adapt.dfa.feedback"] = "uniform"
    cfg.update(extra)
    return cfg


def test_grouping_ignores_seed_and_monitor_keys():
    configs = [_cfg(seed=s) for s in range(3)] + [_cfg("har_bp", "bp", seed=s) for s in range(3)]
    assert st.differing_keys(configs) == ["adapt.dfa.feedback", "adapt.rule", "name"]
    groups = st.group_runs(configs)
    assert groups == [[0, 1, 2], [3, 4, 5]]
    assert st.group_labels(configs, groups) == ["har_dfa", "har_bp"]


def test_grouping_by_rule_override_and_hardware_key():
    hw = "hw.overrides.device.update.scheme"
    configs = [_cfg(rule=r, seed=s, **{hw: h}) for r in ("dfa", "bp")
               for h in ("stochastic", "counted") for s in (0, 1)]
    groups = st.group_runs(configs)
    assert [len(g) for g in groups] == [2, 2, 2, 2]
    labels = st.group_labels(configs, groups)
    assert labels == ["dfa, device.update.scheme=stochastic", "dfa, device.update.scheme=counted",
                      "bp, device.update.scheme=stochastic", "bp, device.update.scheme=counted"]


def test_one_group_and_plain_key_labels():
    same = [_cfg(seed=s) for s in range(4)]
    assert st.group_runs(same) == [[0, 1, 2, 3]]
    assert st.group_labels(same, [[0, 1, 2, 3]]) == ["all runs"]
    lrs = [_cfg(seed=s, **{"adapt.lr": lr}) for lr in (1e-3, 1e-2) for s in (0, 1)]
    assert st.group_labels(lrs, st.group_runs(lrs)) == ["adapt.lr=0.001", "adapt.lr=0.01"]


def test_flatten_config():
    flat = st.flatten_config({"hw": {"preset": "ideal", "overrides": {"adc.bits": 6}},
                              "model": {"hidden": [16, 8]}, "transforms": []})
    assert flat == {"hw.preset": "ideal", "hw.overrides.adc.bits": 6, "model.hidden": (16, 8),
                    "transforms": ()}


def _report(rule, seed, adapted, energy):
    return {"rule": rule, "seed": seed, "run_dir": f"{rule}/{seed}",
            "accuracy": {"software": 0.99, "deployed": 0.6, "adapted": adapted,
                         "prequential": 0.7},
            "cost": {"energy_j": energy, "latency_s": 2e-4, "area_m2": 1.2e-6, "steps": 30},
            "config": _cfg(rule=rule, seed=seed)}


def test_compare_summarises_groups_and_counts_a_repeated_seed_once():
    reps = [_report("dfa", s, a, e) for s, a, e in ((0, 0.8, 5e-6), (1, 0.9, 6e-6),
                                                     (2, 0.85, 5.5e-6))]
    reps += [_report("bp", s, a, 7e-6) for s, a in ((0, 0.95), (1, 1.0))]
    reps.append(_report("bp", 1, 0.5, 9e-6))  # seed 1 again: not an independent sample
    rows = compare(reps)
    assert [r["label"] for r in rows] == ["dfa", "bp"]
    assert [r["n"] for r in rows] == [3, 2] and rows[1]["seeds"] == [0, 1]
    assert rows[0]["stats"]["adapted"]["mean"] == pytest.approx(0.85)
    assert rows[1]["stats"]["adapted"]["ci95"] == pytest.approx(
        st.t_quantile(0.975, 1) * np.std([0.95, 1.0], ddof=1) / math.sqrt(2))
    assert rows[0]["config"] == {"adapt.dfa.feedback": "uniform", "adapt.rule": "dfa"}


def test_tables_have_plus_minus_columns_and_state_the_method():
    rows = compare([_report("dfa", s, 0.8 + 0.05 * s, 5e-6 + 1e-7 * s) for s in range(3)]
                   + [_report("bp", 0, 0.9, 7e-6)])
    text = st.stats_tables(rows)
    lines = text.splitlines()
    acc_head = lines[1].split()
    assert acc_head[:2] == ["group", "n"] and "adapted" in acc_head
    dfa = next(line for line in lines if line.startswith("dfa "))
    assert dfa.split()[3] == "±" and dfa.count("±") == 4  # sw target missing: '-'
    assert "85.0 ± " in dfa
    cost = [line for line in lines if line.startswith("dfa ")][1]
    assert "µJ ± " in cost and "mm² ± " in cost
    bp = [line for line in lines if line.startswith("bp ")]
    assert "90.0 ± -" in bp[0]  # n = 1: no interval
    assert "Student t" in text and "n-1 degrees of freedom" in text


def test_csv_columns_hold_mean_std_ci_n():
    rows = compare([_report("dfa", s, 0.8 + 0.05 * s, 5e-6) for s in range(3)])
    head, body = st.csv_rows(rows)
    i = head.index("adapted_ci95")
    assert head[:3] == ["label", "n", "seeds"] and body[0][2] == "0 1 2"
    assert body[0][i] == pytest.approx(rows[0]["stats"]["adapted"]["ci95"])
    assert body[0][head.index("energy_j_n")] == 3
