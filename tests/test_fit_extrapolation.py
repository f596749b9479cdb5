"""Calibrated extrapolation with real NUTS (issue 11): the leave-the-largest-out folds learn
that the law's error grows with distance, and the predictive intervals at 10-100x the
largest fitted compute then cover runs that the error model alone misses."""

from __future__ import annotations

import numpy as np

from distillaw import fit
from distillaw.backtesting import score_draws


def _misspecified_world(isoflop_runs, seed=0):
    """Chinchilla-form runs on an IsoFLOP grid whose true loss bends away from any power law
    at large compute (a 0.8% x (decades past 1e18)^2 excess): the fitted law cannot express
    it, so its error grows with extrapolation."""
    t = isoflop_runs(np.geomspace(1e17, 1e22, 6), sigma=0.002, seed=seed)
    lc = np.log10(6 * t["N"] * t["D"])
    bend = 1 + 0.008 * np.clip(lc - 18, 0, None) ** 2
    t["L"] = t["L"] * bend
    t["L_true"] = t["L_true"] * bend
    return t


def test_calibrated_extrapolation_covers_what_the_iid_model_misses(isoflop_runs):
    t = _misspecified_world(isoflop_runs)
    compute = 6 * t["N"] * t["D"]
    train = t[compute < 3e20].reset_index(drop=True)  # budgets 1e17 .. 1e20: 40 rows
    test = t[compute > 3e20].reset_index(drop=True)  # 1e21 and 1e22: 10-100x beyond
    kw = dict(draws=300, tune=300, chains=2, progressbar=False, seed=1)
    plain = fit(train, "supervised", extrapolation="none", **kw)
    cal = fit(train, "supervised", extrapolation="calibrate", **kw)
    disc = cal.discrepancy
    assert plain.discrepancy is None and disc is not None
    assert len(disc.folds) >= 2
    # the folds saw the misfit: the discrepancy is bounded away from zero
    assert disc.c_quantiles((0.05,))[0] > 0.002
    y = np.log(test["L"].to_numpy(float))
    s_plain, _ = score_draws(np.log(plain.predictive_draws(test)), y)
    s_cal, _ = score_draws(np.log(cal.predictive_draws(test)), y)
    assert s_plain["coverage"]["0.9"] < 0.5  # the error model alone is confidently wrong
    assert s_cal["coverage"]["0.9"] >= 0.8
    assert s_cal["interval_score"]["0.9"] < s_plain["interval_score"]["0.9"]
    # at the fitted rows nothing changes: in-sample intervals are the error model's
    fitted = train.iloc[:5]
    bare = cal.without_discrepancy()
    np.testing.assert_allclose(cal.predictive_draws(fitted, seed=3),
                               bare.predictive_draws(fitted, seed=3))
    assert any("extrapolation discrepancy" in n for n in cal.model_info["notes"])
