"""error="heteroscedastic": the noise scale changes with compute (real NUTS recovery)."""

from __future__ import annotations

import numpy as np

from distillaw import fit
from distillaw.priors import default_priors, prior_names


def _table(isoflop_runs, seed=0):
    """IsoFLOP-like runs whose log-loss noise falls 4x over 3 decades of compute."""
    t = isoflop_runs(np.geomspace(1e17, 1e20, 4), sigma=1e-9, seed=seed)
    lc = np.log10(6 * t["N"] * t["D"])
    sd = 0.04 * 10 ** (-0.2 * (lc - 17))  # 0.04 at 1e17 down to 0.01 at 1e20
    t["L"] = t["L_true"] * np.exp(sd * np.random.default_rng(seed).standard_normal(len(t)))
    return t


def test_prior_names_and_default():
    names = prior_names("supervised", "chinchilla", "student_t", "heteroscedastic")
    assert names[-3:] == ("sigma", "nu", "sigma_trend")
    pri = default_priors("distillation", error="heteroscedastic")
    assert pri["sigma_trend"].distribution == "Normal"
    assert "sigma_trend" not in prior_names("supervised", "chinchilla", "student_t", "iid")


def test_noise_trend_is_recovered_and_scales_predictive_intervals(isoflop_runs):
    t = _table(isoflop_runs)
    post = fit(t, "supervised", form="chinchilla", error="heteroscedastic", likelihood="normal",
               draws=300, tune=400, chains=2, seed=2, progressbar=False, extrapolation="none")
    trend = post.idata.posterior["sigma_trend"].values.ravel()
    lo, hi = np.quantile(trend, [0.03, 0.97])
    truth = -0.2 * np.log(10)  # the log of the noise sd falls by this per decade
    assert lo < truth < hi and hi < 0
    small, large = t.iloc[[0]], t.iloc[[len(t) - 1]]
    w = [np.ptp(np.log(np.quantile(post.predictive_draws(r)[:, 0], [0.05, 0.95])))
         for r in (small, large)]
    assert w[0] > 2 * w[1]  # the small run's interval is the wider one


def test_residual_scale_trend_by_hand():
    from distillaw.draws import residual_scale_trend

    C = np.repeat([1e17, 1e18, 1e19, 1e20], 10)
    z = np.tile(np.linspace(-1.6, 1.6, 10), 4)  # the same shape of residuals per budget
    z[::7] *= 1.5  # some scatter in log|r| that does not depend on compute
    b, t = residual_scale_trend(0.04 * 10 ** (-0.2 * (np.log10(C) - 17)) * z, C)
    b0, t0 = residual_scale_trend(0.01 * z, C)
    assert abs(b - b0 - (-0.2 * np.log(10))) < 1e-9  # the trend, to rounding
    assert t < -4 and abs(t0) < 2
    assert residual_scale_trend(z[:5], C[:5]) == (0.0, 0.0)  # too few rows to say


def test_an_iid_fit_of_a_shrinking_noise_says_to_try_heteroscedastic(isoflop_runs):
    t = _table(isoflop_runs)
    post = fit(t, "supervised", form="chinchilla", error="iid", likelihood="normal",
               draws=200, tune=300, chains=2, seed=2, progressbar=False, extrapolation="none")
    notes = " ".join(post.model_info.get("notes", []))
    assert "error='heteroscedastic'" in notes and "shrink" in notes
    het = fit(t, "supervised", form="chinchilla", likelihood="normal", draws=200, tune=300,
              chains=2, seed=2, progressbar=False, extrapolation="none")
    assert het.error == "heteroscedastic"  # the default
    assert "error='heteroscedastic'" not in " ".join(het.model_info.get("notes", []))
