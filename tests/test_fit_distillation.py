"""Real NUTS on the distillation and capacity-gap laws: recovery of the truth, identifiability
(posterior sd / prior sd) and a capacity-gap posterior derived from the fitted one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distillaw import fit, laws, read_runs
from distillaw.posterior import capacity_gap_from_distillation
from distillaw.simulate import simulate_capacity_gap

pytestmark = [pytest.mark.sampling,
              pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")]


def test_distillation_fit_recovery_identifiability_and_prediction(repo):
    """One joint fit (kept in one test so it runs once under pytest-xdist) on the shipped
    simulated set: 7 teachers, 16 student baselines, 112 distillations, 1% noise, Busbridge
    Table 6 truth."""
    df = read_runs(repo / "data" / "simulated" / "distillation.csv")
    truth = json.loads((repo / "data" / "simulated" / "distillation.truth.json").read_text())
    # target_accept 0.9, as the shipped models/distillation fit uses (`make models`): at 0.8
    # this posterior's curved kappa/log_d1 ridge gives an occasional divergence (1 in 600
    # with today's locked pytensor/nutpie), which is a step-size problem, not a muted warning.
    # extrapolation="none": the five calibration refits (auto on 135 rows) cost 75 s and are
    # checked in tests/test_fit_extrapolation.py and notebook 02; this test is the law's.
    post = fit(df, "distillation", error="iid", draws=300, tune=400, chains=2, seed=2,
               progressbar=False, target_accept=0.9, extrapolation="none")

    # 1. Recovery: truth inside the 94% interval, clean diagnostics.
    summ = post.summary(0.94)
    for name in (*laws.distillation.PARAMS, "E", "A", "B", "alpha", "beta", "gamma"):
        assert summ.loc[name, "eti_3%"] <= truth[name] <= summ.loc[name, "eti_97%"], name
    d = post.diagnostics()
    assert d["divergences"] == 0 and d["r_hat_max"] < 1.05
    # Two observed nodes (students, supervised runs), each with its pointwise
    # log-likelihood; LOO joins them over all fitted rows, in the stored rows' order.
    from distillaw.comparing import loo_data

    ll = post.idata.log_likelihood
    assert set(ll.data_vars) == {"log_L", "log_L_S"}
    joined = loo_data(post).log_likelihood["log_L_all"]
    assert joined.shape == (2, 300, len(df))
    ids = post.idata.constant_data["run_id"].values
    first = str(ll["log_L_S"]["student_run"].values[0])
    np.testing.assert_allclose(joined.values[:, :, list(ids).index(first)],
                               ll["log_L_S"].values[:, :, 0])

    # 2. Not prior-dominated (posterior sd / prior sd per sampled quantity) except the break
    # position d1, by design: only teachers weaker than d1 x the student's own loss would
    # inform it; c1 is derived from d1, kappa and 1/f1.
    contraction = post.model_info["contraction"]
    assert contraction["log_d1"] > 0.8
    data_driven = {k: v for k, v in contraction.items() if k not in ("log_d1", "sigma", "nu")}
    assert len(data_driven) == 14  # 6 supervised + 9 distillation - d1
    # beta' is the weakest: each student sees only an 8x range of D_S (10-80 tokens per
    # parameter), so its posterior sd is ~0.9 of the prior's (0.89 and 0.90 measured on two
    # machines with this seed; 300 draws estimate an sd to a few per cent). The rest are
    # clearly data-driven.
    assert max(data_driven.values()) < 0.95, data_driven
    assert np.median(list(data_driven.values())) < 0.6, data_driven
    assert contraction["kappa"] < 0.2 and contraction["log_inv_f1"] < 0.5

    # 3. Predictive intervals cover the runs; optimal teacher and derived capacity gap.
    dist = df[df["kind"] == "distillation"].reset_index(drop=True)
    pred = post.predict(dist, ci=0.9, predictive=True)
    covered = np.mean((pred["lower"] <= dist["L"]) & (dist["L"] <= pred["upper"]))
    assert 0.8 <= covered <= 0.99
    ot = post.optimal_teacher([5e8], [1e10], max_draws=100)
    true_LT, _ = laws.optimal_teacher_loss(5e8, 1e10, truth)
    s = ot.summary(0.94)
    assert s["L_T_lower"][0] <= true_LT <= s["L_T_upper"][0]
    cg = capacity_gap_from_distillation(post, np.geomspace(1e8, 1e9, 4),
                                        student_tokens_per_param=20, max_draws=60)
    assert cg.law == "capacity-gap" and cg.n_draws == 60
    assert np.all(np.isfinite(cg.param_draws()["s"]))


def test_capacity_gap_recovers_k_and_s():
    df = simulate_capacity_gap(k=2.5, s=1.0, students=[3e7, 1e8, 3e8, 1e9, 3e9],
                               teacher_ratios=[0.6, 1.2, 2.5, 5, 10],
                               L_min=[3.3, 3.0, 2.75, 2.5, 2.3], curvature=0.04, D_S=2e10,
                               sigma=0.003, seed=6)
    post = fit(df, "capacity-gap", draws=300, tune=400, chains=2, seed=3, progressbar=False)
    summ = post.summary(0.94)
    for name, value in (("k", 2.5), ("s", 1.0)):
        assert summ.loc[name, "eti_3%"] <= value <= summ.loc[name, "eti_97%"], name
    assert summ.loc["s", "eti_97%"] - summ.loc["s", "eti_3%"] < 0.3  # informative about s
    assert post.diagnostics()["divergences"] == 0
    nt = post.predict({"N": [1e9]}, ci=0.9)
    assert nt["lower"][0] < 2.5e9 < nt["upper"][0]


def test_capacity_gap_slope_is_hierarchical_over_families():
    """Two teacher families with different slopes (issue 11): each family's s is recovered,
    and a family never seen in the fit gets its N_T* from the population, with the
    between-family spread in its interval."""
    import pandas as pd

    kw = dict(students=[3e7, 1e8, 3e8, 1e9, 3e9], teacher_ratios=[0.6, 1.2, 2.5, 5, 10],
              L_min=[3.3, 3.0, 2.75, 2.5, 2.3], curvature=0.04, D_S=2e10, sigma=0.003)
    truth = {"famA": (2.5, 0.9), "famB": (2.0, 1.15)}
    parts = [simulate_capacity_gap(k=k, s=s, seed=6 + i, group=g, **kw).assign(
        run_id=lambda d, g=g: g + "-" + d["run_id"]) for i, (g, (k, s)) in enumerate(truth.items())]
    df = pd.concat(parts, ignore_index=True)
    # 1000 tuning steps: with the nu > 2 prior, 400 left r_hat at 1.08 (log_k_ref and the
    # curvatures mix slowly at 2 x 300).
    post = fit(df, "capacity-gap", group="group", draws=500, tune=1000, chains=4, seed=3,
               progressbar=False)
    d = post.diagnostics()
    assert d["divergences"] == 0 and d["r_hat_max"] < 1.05
    for g, (k, s) in truth.items():
        draws = post.param_draws(g)
        lo, hi = np.quantile(draws["s"], [0.03, 0.97])
        assert lo <= s <= hi and hi - lo < 0.1, g
        lo, hi = np.quantile(draws["k"], [0.03, 0.97])
        assert lo <= k <= hi, g
    pts = pd.DataFrame({"N": [1e9] * 3, "group": ["famA", "famB", "famC"]})
    nt = post.predict(pts, ci=0.9)
    for i, (k, s) in enumerate(truth.values()):
        assert nt["lower"][i] < k * 1e9 ** s < nt["upper"][i]
    width = np.log(nt["upper"]) - np.log(nt["lower"])
    assert width[2] > 5 * max(width[0], width[1])  # the unseen family carries the spread
