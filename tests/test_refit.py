"""distillaw.refit: importance re-weighting of a fitted posterior by new rows vs a full NUTS
refit (real NUTS, small draws, fixed seeds), the ESS trigger, and the weights' arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillaw import fit
from distillaw.errors import PosteriorError
from distillaw.posterior import Posterior
from distillaw.refit import (
    frozen_spec,
    importance_weights,
    log_likelihood,
    systematic_resample,
    update,
)
from distillaw.simulate import simulate_supervised

TRUTH = {"E": 1.1, "A": 30.0, "B": 200.0, "alpha": 0.3, "beta": 0.35}


def _hand_posterior(S=500, seed=0):
    rng = np.random.default_rng(seed)
    return Posterior.from_params("supervised", {
        "E": rng.normal(1.7, 0.05, S), "A": np.exp(rng.normal(6, 0.2, S)),
        "B": np.exp(rng.normal(6, 0.2, S)), "alpha": rng.normal(0.34, 0.02, S),
        "beta": rng.normal(0.28, 0.02, S), "sigma": np.full(S, 0.02)})


def test_weights_are_the_normal_likelihood_and_ess_counts_distinct_draws():
    post = _hand_posterior()
    row = pd.DataFrame({"run_id": ["r"], "kind": ["supervised"], "N": [3e8], "D": [6e9],
                        "L": [2.4]})
    ll = log_likelihood(post, row)[:, 0]
    mu = np.log(post.loss_draws(row))[:, 0]
    expect = -0.5 * ((np.log(2.4) - mu) / 0.02) ** 2 - np.log(0.02) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(ll, expect, rtol=1e-12)
    w = importance_weights(post, row)
    np.testing.assert_allclose(w.weights, np.exp(ll - ll.max()) / np.exp(ll - ll.max()).sum())
    assert w.ess == pytest.approx(1 / np.sum(w.weights ** 2))
    # A posterior with every draw duplicated has the same distinct ESS, not twice it.
    p2 = Posterior.from_params("supervised", {k: np.repeat(v, 2) for k, v in
                                              post.param_draws().items()} | {
        "sigma": np.full(1000, 0.02)})
    assert importance_weights(p2, row).ess == pytest.approx(w.ess, rel=1e-9)


def test_systematic_resampling_keeps_counts_within_one():
    w = np.random.default_rng(3).dirichlet(np.ones(50))
    idx = systematic_resample(w, 1000, seed=1)
    counts = np.bincount(idx, minlength=50)
    assert np.all(np.abs(counts - 1000 * w) < 1.0 + 1e-9)


def test_hand_made_posterior_cannot_be_refitted():
    with pytest.raises(PosteriorError, match="resolved priors"):
        frozen_spec(_hand_posterior())


@pytest.mark.sampling
@pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")
def test_reweighting_matches_a_full_refit_and_low_ess_triggers_the_refit():
    """Fit 14 runs, add 4 more: the re-weighted posterior mean of each parameter (log
    scale) agrees with the NUTS refit on all 18 rows (same frozen priors) within Monte Carlo
    error; ess_min above the ESS makes update() refit, and refit=False refuses instead."""
    N = np.repeat(np.geomspace(2e4, 1e6, 6), 3)
    D = N * np.tile([50.0, 200.0, 300.0], 6)
    df = simulate_supervised(TRUTH, N, D, sigma=0.02, seed=5, group="tiny")
    new_idx = np.array([1, 7, 10, 16])
    old = df.drop(index=new_idx).reset_index(drop=True)
    new = df.iloc[new_idx].reset_index(drop=True)
    kw = {"draws": 1000, "tune": 500, "chains": 2, "progressbar": False}
    post = fit(old, "supervised", form="chinchilla", seed=1, **kw)

    rw = update(post, new, ess_min=50.0, seed=2)
    assert rw.method == "reweight" and rw.ess >= 50
    assert len(rw.rows) == len(df) and rw.posterior.n_draws == post.n_draws
    assert rw.posterior.model_info["update"]["method"] == "reweight"
    assert len(rw.posterior.fitted_rows()) == len(df)

    with pytest.raises(PosteriorError, match="ESS"):
        update(post, new, ess_min=1e9, refit=False)
    full = update(post, new, ess_min=1e9, seed=3)
    assert full.method == "refit"
    assert full.posterior.model_info["update"]["method"] == "refit"
    assert full.posterior.model_info["priors"] == post.model_info["priors"]
    assert full.posterior.diagnostics()["divergences"] == 0

    a = rw.posterior.param_draws()
    b = full.posterior.param_draws()
    ess_b = full.posterior.diagnostics()["ess_bulk_min"]
    for name in TRUTH:
        x, y = np.log(a[name]), np.log(b[name])
        se = np.sqrt(x.var() / rw.ess + y.var() / ess_b)
        assert abs(x.mean() - y.mean()) < 4 * se, name
        # and the spreads agree to within a third
        assert 0.67 < x.std() / y.std() < 1.5, name
