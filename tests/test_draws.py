"""The draws helpers: law keywords, the one evaluation on draws, thinning, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillaw.draws import (
    bands,
    distillation_kwargs,
    interval,
    log_loss,
    summarize,
    supervised_kwargs,
    thin,
    thin_index,
)
from distillaw.laws import LAW_PARAMS
from distillaw.posterior import Posterior
from distillaw.published import published


def test_law_params_are_the_law_modules_own():
    from distillaw.laws import capacity_gap, distillation, supervised

    assert LAW_PARAMS["supervised"] == supervised.PARAMS_BUSBRIDGE
    assert LAW_PARAMS["distillation"] == distillation.PARAMS + supervised.PARAMS_BUSBRIDGE
    assert LAW_PARAMS["capacity-gap"] == capacity_gap.PARAMS


def test_log_loss_on_draws_matches_posterior_loss_draws(jittered_busbridge):
    post = jittered_busbridge(50, 3)
    p = post.param_draws()
    pts = pd.DataFrame({"N": [5.46e8, 1e9], "D": [1.1e10, 2e10], "N_T": [1.82e9, 3e9],
                        "D_T": [3.6e10, 6e10]})
    col = {k: v[:, None] for k, v in p.items()}
    ll = log_loss(supervised_kwargs(col), distillation_kwargs(col), np.log(pts["N"].to_numpy()),
                  np.log(pts["D"].to_numpy()), np.log(pts["N_T"].to_numpy()),
                  np.log(pts["D_T"].to_numpy()))
    np.testing.assert_allclose(np.exp(ll), post.loss_draws(pts), rtol=1e-12)
    # the published check value (laws.md): L_S ~ 2.4238 for the 1.82B -> 546M pair
    point = {k: np.array([v]) for k, v in published("busbridge2025").point().items()}
    one = log_loss(supervised_kwargs(point), distillation_kwargs(point), np.log(0.546e9),
                   np.log(20 * 0.546e9), np.log(1.821e9), np.log(20 * 1.821e9))
    assert float(np.exp(one)[0]) == pytest.approx(2.4238, abs=1e-4)


def test_thinning_is_one_subset_per_seed_and_pairs_quantities():
    assert thin_index(10, None) is None and thin_index(10, 10) is None
    a, b = thin_index(1000, 50, seed=4), thin_index(1000, 50, seed=4)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 50 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, thin_index(1000, 50, seed=5))
    d = thin({"x": np.arange(1000.0), "y": -np.arange(1000.0)}, 50, seed=4)
    np.testing.assert_array_equal(d["x"], -d["y"])
    np.testing.assert_array_equal(d["x"], a)
    post = Posterior.from_params("supervised", {
        "E": np.linspace(1.6, 1.8, 400), "A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28,
        "sigma": np.linspace(0.01, 0.02, 400)})
    p, n = post.param_draws(max_draws=30, seed=2), post.noise_draws(max_draws=30, seed=2)
    # E and sigma rise together in the full draws: the thinned ones must stay paired
    np.testing.assert_allclose((p["E"] - 1.6) / 0.2, (n["sigma"] - 0.01) / 0.01, atol=1e-12)


def test_interval_summary_and_bands():
    x = np.arange(101.0)
    assert interval(x, 0.9) == pytest.approx((50.0, 5.0, 95.0))
    s = summarize(x, 0.5)
    assert (s["median"], s["lower"], s["upper"], s["mean"]) == (50.0, 25.0, 75.0, 50.0)
    b = bands(np.column_stack([x, 2 * x]), 0.9)
    np.testing.assert_allclose(b["median"], [50.0, 100.0])
    np.testing.assert_allclose(b["upper"], [95.0, 190.0])
