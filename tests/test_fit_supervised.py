"""Real NUTS on the supervised law: recovery at byte-level scale, Epoch's Chinchilla data,
hierarchical pooling over Porian et al.'s configurations, and fit() plumbing.

Small draws, fixed seeds; each test fits once (nutpie compile ~10-15 s + sampling).
"""

from __future__ import annotations

import numpy as np
import pytest

from distillaw import fit, published
from distillaw.errors import ModelError
from distillaw.loaders import load
from distillaw.simulate import simulate_supervised

pytestmark = [pytest.mark.sampling,
              pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")]

TINY_TRUTH = {"E": 1.1, "A": 30.0, "B": 200.0, "alpha": 0.3, "beta": 0.35}


def test_recovers_the_truth_at_byte_level_scale_and_records_provenance():
    """Byte-level scale (N 2e4-1e6 params, D 1e6-3e8 tokens, losses 1.8-4.3 nats)."""
    from distillaw.data import data_hash

    N = np.repeat(np.geomspace(2e4, 1e6, 6), 3)
    D = N * np.tile([50.0, 200.0, 300.0], 6)
    df = simulate_supervised(TINY_TRUTH, N, D, sigma=0.01, seed=11, group="tiny")
    assert 1.0 < df["L"].min() and df["L"].max() < 5.0
    post = fit(df, "supervised", form="chinchilla", error="iid", draws=400, tune=400, chains=2, seed=1,
               progressbar=False, name="tiny")
    summ = post.summary(0.94)
    for name, value in TINY_TRUTH.items():
        assert summ.loc[name, "eti_3%"] <= value <= summ.loc[name, "eti_97%"], name
    d = post.diagnostics()
    assert d["divergences"] == 0 and d["r_hat_max"] < 1.05

    assert post.data_hash == data_hash(df)
    assert post.sampler["engine"] == "nutpie" and post.sampler["draws"] == 400
    assert post.spec["law"] == "supervised" and post.spec["form"] == "chinchilla"
    info = post.model_info
    assert info["reference"]["N"] == pytest.approx(np.exp(np.log(df["N"]).mean()))
    assert set(info["priors"]) == {"log_E", "log_A_ref", "log_B_ref", "log_alpha",
                                   "log_beta", "sigma", "nu"}
    # Data-scaled prior resolved from this table, not written back into the spec.
    assert post.spec["priors"] == {}
    assert info["contraction"]["log_alpha"] < 0.5  # the data taught us alpha
    assert {"sigma", "nu"} <= set(post.noise_draws())
    np.testing.assert_allclose(post.idata.constant_data["N"].values, df["N"].to_numpy())
    assert post.idata.posterior["E"].dims == ("chain", "draw")
    assert d["compile_seconds"] >= 0 and d["ess_bulk_per_second"] > 0


def test_epoch_chinchilla_medians_inside_epoch_cis(shared_data):
    """Posterior medians of E, A, B, alpha, beta inside Epoch AI's 95% bootstrap CIs."""
    df = load(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv", drop_highest_loss=5)
    assert len(df) == 240
    post = fit(df, "supervised", form="chinchilla", error="iid", draws=500, tune=500, chains=2, seed=0,
               progressbar=False)
    summ = post.summary(0.95)
    epoch = published("epoch2024")
    for name in ("E", "A", "B", "alpha", "beta"):
        lo, hi = epoch.interval(name)
        assert lo <= summ.loc[name, "median"] <= hi, (name, summ.loc[name, "median"])
    assert post.diagnostics()["divergences"] == 0


def test_hierarchical_porian_partial_pooling(shared_data):
    """Porian et al.'s 15 configurations as groups (8 runs each, one group cut to 3 runs):
    no divergences, finite group sds, and the data-poor group borrows strength (its floor
    is far better determined than its prior alone, and pulled toward the population)."""
    df = load(shared_data / "porian2024" / "porian2024_isoflop_points.csv")
    sub = df.groupby("group").sample(n=8, random_state=0).reset_index(drop=True)
    poor = sorted(sub["group"].unique())[0]
    keep = (sub["group"] != poor) | (sub.groupby("group").cumcount() < 3)
    sub = sub[keep].reset_index(drop=True)
    post = fit(sub, "supervised", form="chinchilla", group="group", error="iid", draws=300, tune=400,
               chains=2, seed=1, progressbar=False)
    d = post.diagnostics()
    assert d["divergences"] == 0
    assert len(post.groups) == 15
    assert post.idata.log_likelihood["log_L"].shape == (2, 300, len(sub))  # hierarchical too
    ds = post.idata.posterior
    for name in ("log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta"):
        tau = ds[f"{name}_sigma"].values.ravel()
        assert np.quantile(tau, 0.95) < 0.9  # group spread learned (prior 95%: ~0.98/0.29)
    # The 3-run group: 5 free parameters from 3 points would be prior-dominated without
    # pooling (prior sd of log E: 0.7); with pooling its sd is a fraction of that.
    log_E_poor = np.log(post.param_draws(poor)["E"])
    assert log_E_poor.std() < 0.35
    mu = ds["log_E_mu"].values.ravel()
    assert abs(np.median(log_E_poor) - np.median(mu)) < 2 * np.median(
        ds["log_E_sigma"].values)
    # Hyperparameters are learned from the groups (posterior sd well below prior sd).
    assert post.model_info["contraction"]["log_alpha_mu"] < 0.5


def test_bad_sampler_and_settings_are_typed_errors(monkeypatch):
    df = simulate_supervised(TINY_TRUTH, [1e5, 2e5, 4e5], [1e7, 2e7, 4e7], seed=0)
    with pytest.raises(ModelError, match="unknown sampler"):
        fit(df, "supervised", sampler="emcee")
    with pytest.raises(ModelError, match="draws"):
        fit(df, "supervised", draws=0)
    with pytest.raises(ModelError, match="no such data file"):
        fit("/nonexistent/runs.csv", "supervised")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nutpie" else real(name, *a))
    with pytest.raises(ModelError, match="sampler='pymc'"):
        fit(df, "supervised")


def test_pymc_engine_plumbing_with_mocked_sampler(monkeypatch):
    """sampler='pymc' goes through pm.sample (mocked here: prior draws), and the result is
    a complete Posterior. Real NUTS is exercised by the tests above."""
    import pymc as pm
    from pymc.testing import mock_sample

    import distillaw

    monkeypatch.setattr(pm, "sample", mock_sample)
    df = simulate_supervised(TINY_TRUTH, np.geomspace(1e5, 1e6, 4), np.geomspace(1e7, 1e8, 4),
                             seed=0)
    # The package-level name works whether or not the submodule was imported first.
    post = distillaw.fit(df, "supervised", form="chinchilla", sampler="pymc", draws=10, tune=0, chains=1,
               progressbar=False)
    assert post.sampler["engine"] == "pymc" and post.n_draws == 10
    assert set(post.param_draws()) == {"E", "A", "B", "alpha", "beta", "gamma"}
