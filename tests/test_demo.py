"""The demo loop (``make demo``) and its pieces: simulated plan outcomes, the torch-less path."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from distillaw import demo, simulate
from distillaw.data import read_runs, write_runs


def _plan():
    return pd.DataFrame({
        "run_id": ["p-sup", "p-kd1", "p-kd2"], "kind": ["supervised", "distillation",
                                                          "distillation"],
        "group": "runner-world", "N": [4e3, 1e4, 3e4], "D": [5e5, 5e5, 1e6],
        "N_T": [np.nan, 3e4, 3e4], "D_T": [np.nan, 5e5, 5e5], "L": np.nan})


def test_simulate_plan_matches_the_law_and_shares_one_teacher_run():
    out = simulate.simulate_plan(simulate.RUNNER_WORLD, _plan(), sigma=0.0,
                                 flops_model=simulate.RUNNER_FLOPS)
    # one teacher row for the two students distilled from the same (N_T, D_T)
    assert list(out["kind"]) == ["supervised", "supervised", "distillation", "distillation"]
    teacher = out.iloc[0]
    assert teacher["N"] == 3e4 and teacher["D"] == 5e5
    kd = out[out["kind"] == "distillation"]
    assert (kd["teacher_id"] == teacher["run_id"]).all()
    assert np.allclose(kd["L_T"], teacher["L"])
    # noiseless outcomes equal the law
    from distillaw.laws import distillation_loss, supervised_loss
    sup = {k: simulate.RUNNER_WORLD[k] for k in ("E", "A", "B", "alpha", "beta", "gamma")}
    dis = {k: simulate.RUNNER_WORLD[k] for k in simulate.DIS_KEYS}
    assert out.iloc[1]["L"] == pytest.approx(float(supervised_loss(4e3, 5e5, **sup)))
    r = kd.iloc[1]
    want = distillation_loss(3e4, 1e6, teacher["L"], supervised_loss(3e4, 1e6, **sup), **dis)
    assert r["L"] == pytest.approx(float(want))


def test_shipped_runner_world_is_calibrated_to_measured_runner_runs():
    """The simulated world the demo starts from predicts the real CPU runs to ~3%."""
    from distillaw.laws import distillation_loss, supervised_loss

    real = read_runs("data/runs/cpu_sweep.csv")
    P = simulate.RUNNER_WORLD
    sup = {k: P[k] for k in ("E", "A", "B", "alpha", "beta", "gamma")}
    dis = {k: P[k] for k in simulate.DIS_KEYS}
    s, d = real[real["kind"] == "supervised"], real[real["kind"] == "distillation"]
    pred = np.r_[supervised_loss(s["N"], s["D"], **sup),
                 distillation_loss(d["N"], d["D"], d["L_T"],
                                   supervised_loss(d["N"], d["D"], **sup), **dis)]
    resid = np.log(np.r_[s["L"], d["L"]]) - np.log(pred)
    assert np.sqrt(np.mean(resid ** 2)) < 0.04
    assert simulate.RUNNER_WORLD["E"] == pytest.approx(float(real["E_true"].iloc[0]), rel=1e-4)


def test_without_torch_the_batch_is_simulated_and_says_so(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs.csv"
    write_runs(simulate.shipped_runner_world(), runs)
    monkeypatch.setitem(sys.modules, "distillaw.runner", None)  # import fails like no torch
    table, how = demo._run_batch(_plan(), runs, simulate_runs=False, seed=1)
    assert "SIMULATING" in capsys.readouterr().out
    assert "simulated 4 rows" in how
    assert {"p-sup", "p-kd1", "p-kd2"} <= set(table["run_id"])
    # appending the same batch again adds nothing (idempotent by run id)
    table2, how2 = demo._run_batch(_plan(), runs, simulate_runs=True, seed=1)
    assert len(table2) == len(table) and "simulated 0 rows" in how2


@pytest.mark.sampling
def test_demo_loop_end_to_end_with_simulated_runs(tmp_path):
    """Real NUTS, small draws: fit -> report -> plan -> (simulated) runs -> refit."""
    res = demo.run_demo(tmp_path, draws=150, tune=200, chains=2, seed=3, simulate_runs=True)
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "posterior-before" / "card.json").is_file()
    assert (tmp_path / "posterior-after" / "posterior.nc").is_file()
    plan = read_runs(tmp_path / "plan.csv", require_loss=False)
    assert 1 <= len(plan) <= demo.BATCH_K
    runs = read_runs(tmp_path / "runs.csv")
    assert set(plan["run_id"]) <= set(runs["run_id"])
    assert res["rows_after"] > res["rows_before"] == 39
    lo, hi = res["before"][1], res["before"][2]
    assert lo < res["before"][0] < hi and res["width_before"] > 0 and res["width_after"] > 0
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["report"].endswith("report.html")
