"""ArviZ-complete posteriors (issue 15 item 2): the groups a fit stores, LOO on a fit and on
a saved one, ``compare`` and ``distillaw compare``, ``summary`` columns, old saved folders.

Real NUTS with small draws (two supervised fits of one table, shared by the module); the
structured model's LOO formula is checked against a dense Gaussian conditional without
sampling.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import distillaw as dl
from distillaw._compat import import_arviz
from distillaw.errors import PosteriorError
from distillaw.posterior import Posterior
from distillaw.simulate import simulate_supervised

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")

# Busbridge's form with gamma far from 1: the Chinchilla form (gamma = 1) is the wrong one.
TRUTH = {"E": 1.2, "A": 3355.0, "B": 18186.0, "alpha": 0.408, "beta": 0.431, "gamma": 0.452}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    N = np.repeat(np.geomspace(1e7, 3e9, 8), 3)
    D = N * np.tile([5.0, 20.0, 80.0], 8)
    return simulate_supervised(TRUTH, N, D, sigma=0.004, seed=5)


@pytest.fixture(scope="module")
def fits(table):
    kw = dict(draws=200, tune=300, chains=2, seed=3, progressbar=False, error="iid")
    right = dl.fit(table, "supervised", form="busbridge", name="busbridge",
                   posterior_predictive=True, **kw)
    wrong = dl.fit(table, "supervised", form="chinchilla", name="chinchilla", **kw)
    return right, wrong


def _check_groups_and_loo(fits, table, tmp_path):
    az = import_arviz()
    post = fits[0]
    idata = post.idata
    for g in ("posterior", "sample_stats", "observed_data", "log_likelihood", "prior",
              "prior_predictive", "posterior_predictive", "constant_data"):
        assert hasattr(idata, g), g
    assert not hasattr(fits[1].idata, "posterior_predictive")  # only on request
    for g in ("posterior", "prior"):
        assert not [v for v in getattr(idata, g).data_vars if v.endswith("__")], g
    assert {"E", "gamma", "log_E", "sigma", "nu"} <= set(idata.posterior.data_vars)
    ll = idata.log_likelihood["log_L"]
    assert ll.dims == ("chain", "draw", "run") and ll.shape == (2, 200, len(table))
    np.testing.assert_allclose(idata.observed_data["log_L"].values, np.log(table["L"]))
    assert idata.prior.sizes["draw"] == 500
    assert idata.posterior_predictive["log_L"].shape == (2, 200, len(table))
    assert post.diagnostics()["groups_seconds"] >= 0
    assert "observed_data" in post.model_info["arviz"]["groups"]

    res = az.loo(idata)
    assert np.isfinite(res.elpd_loo) and res.pareto_k.size == len(table)
    post.save(tmp_path / "p")
    back = Posterior.load(tmp_path / "p")
    assert hasattr(back.idata, "log_likelihood")
    again = az.loo(back.idata)
    assert again.elpd_loo == pytest.approx(res.elpd_loo)
    assert dl.loo(tmp_path / "p").elpd_loo == pytest.approx(res.elpd_loo)
    md = (tmp_path / "p" / "card.md").read_text()
    assert "## ArviZ groups" in md and "log-loss" in md


def _check_summary_columns(fits):
    assert list(fits[0].summary().index) == ["E", "A", "B", "alpha", "beta", "gamma",
                                             "sigma", "nu"]
    post = fits[1]  # the Chinchilla form mixes well at these few draws
    summ = post.summary(0.9)
    assert list(summ.columns) == ["mean", "sd", "median", "eti_5%", "eti_95%", "mcse_mean",
                                  "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]
    assert list(summ.index) == ["E", "A", "B", "alpha", "beta", "sigma", "nu"]
    assert np.all(summ["eti_5%"] < summ["median"]) and np.all(summ["median"] < summ["eti_95%"])
    assert np.all(summ["r_hat"] < 1.1) and np.all(summ["ess_bulk"] > 50)
    hdi = post.summary(0.9, interval="hdi")
    assert "hdi_5%" in hdi.columns and "eti_5%" not in hdi.columns
    ref = import_arviz().summary(post.idata, var_names=["alpha"], hdi_prob=0.9,
                                 round_to="none")
    assert hdi.loc["alpha", "hdi_5%"] == pytest.approx(ref.loc["alpha", "hdi_5%"])
    assert hdi.loc["alpha", "ess_bulk"] == pytest.approx(ref.loc["alpha", "ess_bulk"])
    with pytest.raises(PosteriorError, match="interval"):
        post.summary(interval="box")


def _check_compare_ranks_the_true_form_first(fits):
    right, wrong = fits
    table = dl.compare(wrong, right)
    assert list(table.index) == ["busbridge", "chinchilla"]
    assert table.loc["busbridge", "weight"] > 0.9
    assert table.loc["chinchilla", "elpd_diff"] > table.loc["chinchilla", "dse"]  # > 1 se
    assert {"elpd_loo", "p_loo", "se", "pareto_k_max", "n_pareto_k_bad"} <= set(table.columns)
    same = dl.compare([right, right], names=["a", "a"])
    assert sorted(same.index) == ["a", "a#2"]


def _check_compare_refuses_other_data_and_old_posteriors(fits, tmp_path):
    right, _ = fits
    other = Posterior(right.idata, right.spec, data_hash="0" * 64, name="other")
    with pytest.raises(PosteriorError, match="different data"):
        dl.compare(right, other)
    with pytest.raises(PosteriorError, match="at least two"):
        dl.compare(right)

    # A folder in the old format: only posterior, sample_stats and constant_data.
    az = import_arviz()
    old = az.InferenceData(posterior=right.idata.posterior,
                           sample_stats=right.idata.sample_stats,
                           constant_data=right.idata.constant_data)
    Posterior(old, right.spec, data_hash=right.data_hash, name="old",
              diagnostics=right.diagnostics()).save(tmp_path / "old")
    back = Posterior.load(tmp_path / "old")
    assert set(back.idata.groups()) == {"posterior", "sample_stats", "constant_data"}
    pts = {"N": [1e8], "D": [2e9]}
    assert back.predict(pts)["median"][0] == pytest.approx(right.predict(pts)["median"][0])
    with pytest.raises(PosteriorError, match="refit"):
        dl.loo(back)
    with pytest.raises(PosteriorError, match="refit"):
        dl.compare(right, back)


@pytest.mark.sampling
def test_groups_loo_summary_compare_and_cli(fits, table, tmp_path):
    """Everything on the module's two fits, in one test so that they are fitted once
    (pytest-xdist would otherwise fit them on each worker)."""
    _check_groups_and_loo(fits, table, tmp_path)
    _check_summary_columns(fits)
    _check_compare_ranks_the_true_form_first(fits)
    _check_compare_refuses_other_data_and_old_posteriors(fits, tmp_path)
    _check_cli_compare(fits, tmp_path)


def _cli(argv):
    from distillaw.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _check_cli_compare(fits, tmp_path):
    import json

    right, wrong = fits
    right.save(tmp_path / "busb")
    wrong.save(tmp_path / "chin")
    rc, out, err = _cli(["compare", str(tmp_path / "chin"), str(tmp_path / "busb")])
    assert rc == 0, err
    lines = out.splitlines()
    assert "elpd_loo" in lines[1] and "weight" in lines[1]
    assert lines[2].startswith("busb ") and lines[3].startswith("chin ")
    rc, out, _ = _cli(["compare", str(tmp_path / "chin"), str(tmp_path / "busb"), "--json",
                       "--names", "chinchilla,busbridge"])
    doc = json.loads(out)
    assert rc == 0 and doc["fits"][0]["fit"] == "busbridge" and doc["fits"][0]["d_loo"] == 0
    assert {"elpd_loo", "se", "d_loo", "weight", "p_loo", "n_pareto_k_bad"} <= set(
        doc["fits"][0])

    other = Posterior(wrong.idata, wrong.spec, data_hash="f" * 64, name="x")
    other.save(tmp_path / "other")
    rc, out, err = _cli(["compare", str(tmp_path / "busb"), str(tmp_path / "other")])
    assert rc == 2 and out == "" and err.count("\n") == 1 and "different data" in err
    rc, _, err = _cli(["compare", str(tmp_path / "busb"), str(tmp_path / "missing")])
    assert rc == 2 and "no such posterior folder" in err and err.count("\n") == 1
    rc, _, err = _cli(["compare", str(tmp_path / "busb"), str(tmp_path / "chin"),
                       "--names", "one"])
    assert rc == 2 and "--names" in err


def _structured_rows() -> pd.DataFrame:
    """Two supervised tracks' worth of rows (one walk block) and two distillation curves."""
    sup = pd.DataFrame({"kind": "supervised", "N": np.geomspace(1e7, 1e9, 6),
                        "D": np.geomspace(2e8, 2e10, 6), "L_T": np.nan})
    dist = pd.DataFrame({"kind": "distillation", "N": [1e8] * 4 + [3e8] * 3,
                         "D": [2e9] * 4 + [6e9] * 3,
                         "L_T": [2.1, 2.3, 2.6, 3.0, 2.2, 2.5, 2.9]})
    return pd.concat([sup, dist], ignore_index=True)


def test_structured_loo_is_the_dense_gaussian_conditional():
    from distillaw.error_terms import TAUS, blocks, loo_log_likelihood

    rows = _structured_rows()
    S, n = 5, len(rows)
    rng = np.random.default_rng(0)
    post = xr.Dataset({"sigma": (("chain", "draw"), rng.uniform(0.005, 0.02, (1, S))),
                       **{t: (("chain", "draw"), rng.uniform(0.005, 0.05, (1, S)))
                          for t in TAUS}})
    mu = rng.normal(1.0, 0.05, (S, n))
    y = rng.normal(1.0, 0.05, n)
    got = loo_log_likelihood(post, mu, y, rows, "distillation", None)
    bl = blocks(rows, "distillation", None)
    assert sorted(np.concatenate([b.idx for b in bl]).tolist()) == list(range(n))
    assert any(b.U0 is not None and b.U0.size for b in bl)  # the walk block is exercised
    for s in range(S):
        sig2 = float(post["sigma"].values[0, s]) ** 2
        tau2 = {t: float(post[t].values[0, s]) ** 2 for t in TAUS}
        for b in bl:
            m = b.idx.size
            if b.U0 is not None:
                cov = sig2 * np.eye(m) + tau2["tau_rw"] * b.U0 @ b.U0.T
            else:
                cov = sig2 * np.eye(m) + sum(tau2[t] * b.comps[t] for t in TAUS)
            r = y[b.idx] - mu[s, b.idx]
            for j in range(m):
                o = np.delete(np.arange(m), j)
                w = np.linalg.solve(cov[np.ix_(o, o)], cov[o, j])
                mean, var = w @ r[o], cov[j, j] - cov[j, o] @ w
                want = -0.5 * (np.log(2 * np.pi * var) + (r[j] - mean) ** 2 / var)
                assert got[s, b.idx[j]] == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_structured_replicates_have_the_block_covariance():
    from distillaw.error_terms import TAUS, blocks, replicate

    rows = _structured_rows()
    S = 20000
    post = xr.Dataset({"sigma": (("chain", "draw"), np.full((1, S), 0.01)),
                       **{t: (("chain", "draw"), np.full((1, S), 0.03)) for t in TAUS}})
    rep = replicate(post, np.zeros((S, len(rows))), rows, "distillation", None, seed=1)
    emp = np.cov(rep.T)
    for b in blocks(rows, "distillation", None):
        if b.U0 is None:
            want = 1e-4 * np.eye(b.idx.size) + sum(9e-4 * b.comps[t] for t in TAUS)
        else:
            want = 1e-4 * np.eye(b.idx.size) + 9e-4 * b.U0 @ b.U0.T
        np.testing.assert_allclose(emp[np.ix_(b.idx, b.idx)], want, atol=6e-5)
    cross = emp[:6, 6:]  # supervised track vs curves: independent blocks
    assert np.max(np.abs(cross)) < 6e-5


@pytest.mark.sampling
def test_cli_fit_ppc_stores_the_posterior_predictive(repo, tmp_path):
    out = tmp_path / "m"
    rc, _, err = _cli(["fit", str(repo / "data" / "simulated" / "supervised.csv"), "--law",
                       "supervised", "--form", "chinchilla", "--out", str(out), "--draws", "60",
                       "--tune", "100", "--chains", "2", "--no-progress", "--ppc"])
    assert rc == 0, err
    back = Posterior.load(out)
    pp = back.idata.posterior_predictive["log_L"]
    assert pp.shape == (2, 60, back.idata.observed_data["log_L"].size)
    assert pp.dtype == np.float32  # pointwise groups are stored as float32
    fig = dl.plot_ppc(back, num_pp_samples=10)
    assert fig.axes[0].get_xlabel() == "log_L: log-loss"


def _hand_built(loglik: dict, run_ids, data_hash="a" * 64, name=None):
    """A posterior with a given log_likelihood group (no sampling)."""
    az = import_arviz()
    rng = np.random.default_rng(0)
    S = next(iter(loglik.values()))[0].shape[1]
    post = {k: rng.normal(v, 0.01, (2, S)) for k, v in
            (("E", 1.7), ("A", 400.0), ("B", 410.0), ("alpha", 0.34), ("beta", 0.28))}
    ll = xr.Dataset({k: (("chain", "draw", dim), v) for k, (v, dim) in loglik.items()},
                    coords={dim: ids for (_, dim), ids in
                            zip(loglik.values(), run_ids.values(), strict=True)})
    cd = xr.Dataset({"run_id": ("row", np.concatenate(list(run_ids.values())))})
    idata = az.InferenceData(posterior=xr.Dataset({k: (("chain", "draw"), v)
                                                   for k, v in post.items()}),
                             log_likelihood=ll, constant_data=cd)
    return Posterior(idata, {"law": "supervised", "form": "chinchilla"},
                     data_hash=data_hash, name=name)


def test_loo_data_joins_nodes_in_row_order_and_compare_checks_rows():
    from distillaw.comparing import loo_data

    rng = np.random.default_rng(1)
    a = rng.normal(-1, 0.1, (2, 50, 3))
    b = rng.normal(-2, 0.1, (2, 50, 2))
    # Stored rows: supervised first (s1, s2), then students (d1..d3); nodes sort the other way.
    post = _hand_built({"log_L_S": (a, "student_run"), "log_L": (b, "supervised_run")},
                       {"student_run": ["d1", "d2", "d3"], "supervised_run": ["s1", "s2"]},
                       name="two nodes")
    post.idata.constant_data["run_id"] = ("row", np.array(["s1", "s2", "d1", "d2", "d3"]))
    joined = loo_data(post).log_likelihood["log_L_all"].values
    np.testing.assert_array_equal(joined[:, :, :2], b)
    np.testing.assert_array_equal(joined[:, :, 2:], a)

    one = _hand_built({"log_L": (a, "run")}, {"run": ["d1", "d2", "d3"]}, name="x")
    other_rows = _hand_built({"log_L": (a[:, :, :2], "run")}, {"run": ["d1", "d2"]}, name="y")
    with pytest.raises(PosteriorError, match="different rows"):
        dl.compare(one, other_rows)
    no_hash = _hand_built({"log_L": (a, "run")}, {"run": ["d1", "d2", "d3"]}, data_hash=None)
    with pytest.raises(PosteriorError, match="no data hash"):
        dl.compare(one, no_hash)
    with pytest.raises(PosteriorError, match="2 names for 3 fits"):
        dl.compare(one, one, one, names=["a", "b"])
    with pytest.raises(PosteriorError, match="refit"):  # built by hand: no log_likelihood
        dl.loo(Posterior.from_params("supervised", {"E": 1.7, "A": 400.0, "B": 410.0,
                                                    "alpha": 0.34, "beta": 0.28}))
