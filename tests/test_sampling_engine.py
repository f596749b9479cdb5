"""The sampling engine's settings and its cacheable digamma (distillaw.sampling.digamma)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp

from distillaw.sampling import digamma


def test_digamma_matches_scipy():
    xs = np.concatenate([np.geomspace(1e-8, 1e8, 4001), np.linspace(-30.9, -0.01, 1001)])
    got = np.array([digamma.digamma(v) for v in xs])
    want = sp.digamma(xs)
    # relative where |psi| > 1, absolute near its root at 1.4616
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert err[xs > 0].max() < 1e-14
    assert err[xs < 0].max() < 1e-12  # reflection: conditioning grows near the poles
    assert np.isnan(digamma.digamma(0.0)) and np.isnan(digamma.digamma(-3.0))


def test_student_t_gradient_is_cacheable_and_exact():
    """With the dispatch registered, the numba graph of a Student-t log-density's gradient
    in nu (digamma) gets a cache key: without it PyTensor recompiled it on every fit."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.fg import FunctionGraph
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    digamma.register()
    digamma.register()  # idempotent
    nu = pt.dscalar("nu")
    y = np.array([-0.3, 0.1, 2.5])
    import pymc as pm

    logp = pm.logp(pm.StudentT.dist(nu=nu, mu=0.0, sigma=1.0), y).sum()
    g = pytensor.grad(logp, nu)
    fg = FunctionGraph([nu], [g], clone=True)
    _, key = numba_funcify_and_cache_key(fg)
    assert key is not None
    f = pytensor.function([nu], g, mode="NUMBA")
    for v in (0.7, 3.0, 40.0):
        # d/dnu of sum log t_nu(y), by hand
        want = np.sum(0.5 * (sp.digamma((v + 1) / 2) - sp.digamma(v / 2)) - 0.5 / v
                      - 0.5 * np.log1p(y ** 2 / v) + 0.5 * (v + 1) * y ** 2 / (v ** 2 + v * y ** 2))
        assert f(v) == pytest.approx(want, rel=1e-12)


def test_float32_psi_keeps_pytensors_implementation():
    import pytensor
    import pytensor.tensor as pt

    digamma.register()
    x = pt.fvector("x")
    f = pytensor.function([x], pt.psi(x), mode="NUMBA")
    out = f(np.array([0.5, 3.0], "float32"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, sp.digamma([0.5, 3.0]), rtol=1e-6)


@pytest.mark.parametrize("mass, given, expect", [("low-rank", None, 0.9), ("low-rank", 0.85, 0.85),
                                                 ("diag", None, None)])
def test_low_rank_target_accept_default(monkeypatch, mass, given, expect):
    """Plumbing only (the sampler is stopped before it runs): low-rank fits default to
    target_accept 0.9, an explicit value wins, the diagonal metric keeps the engine's."""
    from distillaw.simulate import shipped_supervised

    seen = _engine_kwargs(monkeypatch, shipped_supervised(), "supervised", mass_matrix=mass,
                          target_accept=given)
    assert seen["target_accept"] == expect


def _engine_kwargs(monkeypatch, table, law, **kw) -> dict:
    """What fit passes to the engine (stopped there: plumbing only)."""
    from distillaw import fit
    from distillaw.sampling import engine

    seen = {}

    class Stop(Exception):
        pass

    def fake_sample(model, sampler, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(engine, "_sample", fake_sample)
    with pytest.raises(Stop):
        fit(table, law, draws=10, tune=10, chains=1, progressbar=False, extrapolation="none",
            **kw)
    return seen


def test_one_shot_groups_equal_the_c_backends(monkeypatch):
    """The CLI builds a fit's ArviZ groups without PyTensor's C backend (prior draws on
    Python thunks, log-likelihood on numba: distillaw.sampling.groups.one_shot). Real NUTS
    (small): both ways give the same prior draws and pointwise log-likelihood, and the
    one-shot way compiles nothing with the C backend."""
    import pymc as pm

    from distillaw import fit
    from distillaw.models import ModelSpec, build
    from distillaw.sampling import groups
    from distillaw.simulate import shipped_supervised

    t = shipped_supervised()
    post = fit(t, "supervised", draws=50, tune=100, chains=1, seed=2, progressbar=False,
               extrapolation="none")
    spec = ModelSpec("supervised")
    built = build(spec, t)
    seen = []
    real = pm.compute_log_likelihood, pm.sample_prior_predictive

    def spy(f):
        def g(*a, **k):
            seen.append((k.get("compile_kwargs") or {}).get("mode"))
            return f(*a, **k)
        return g

    monkeypatch.setattr(pm, "compute_log_likelihood", spy(real[0]))
    monkeypatch.setattr(pm, "sample_prior_predictive", spy(real[1]))
    c = groups._arviz_groups(post.idata, built, spec, seed=5, posterior_predictive=False)
    with groups.one_shot():
        fast = groups._arviz_groups(post.idata, built, spec, seed=5, posterior_predictive=False)
    assert seen[:2] == [None, None]  # outside: PyTensor's default (C) mode
    assert not seen[2].linker.c_thunks  # prior draws: Python thunks
    assert type(seen[3].linker).__name__ == "NumbaLinker"  # log-likelihood
    assert not groups._ONE_SHOT  # the context is left as it was
    for g in ("prior", "prior_predictive"):
        for v in c[g].data_vars:
            np.testing.assert_allclose(fast[g][v].values, c[g][v].values, rtol=1e-9)
    for v in c.log_likelihood.data_vars:  # float32 groups: equal to their rounding
        np.testing.assert_allclose(fast.log_likelihood[v].values, c.log_likelihood[v].values,
                                   rtol=1e-6)


def _distillation_only():
    from distillaw.simulate import shipped_distillation

    t = shipped_distillation()
    return t[t["kind"] == "distillation"].reset_index(drop=True)


@pytest.mark.parametrize("case, expect", [
    ("distillation-only", ("low-rank", 0.98, 2, 8)),
    ("with-supervised-rows", ("diag", None, 1, None)),
    ("distillation-only, structured", ("diag", None, 1, None)),
    ("distillation-only, explicit diag", ("diag", None, 1, None)),
    ("distillation-only, pymc", ("diag", None, 1, None)),
])
def test_default_metric_by_table(monkeypatch, case, expect):
    """Plumbing only (the sampler is stopped before it runs): with no mass matrix given, a
    distillation-only table samples under low-rank at 0.98, twice the draws asked, tree
    depth at most 8 (DISTILLATION_ONLY_SAMPLER); supervised rows, another error model, an
    explicit metric or another engine keep the diagonal metric, the draws asked and the
    engine's own depth."""
    from distillaw.simulate import shipped_distillation

    table = shipped_distillation() if case == "with-supervised-rows" else _distillation_only()
    kw = {"error": "structured"} if "structured" in case else {}
    if "explicit" in case:
        kw["mass_matrix"] = "diag"
    if "pymc" in case:
        kw["sampler"] = "pymc"
    seen = _engine_kwargs(monkeypatch, table, "distillation", **kw)
    mass, ta, thin, depth = expect
    assert (seen["mass_matrix"], seen["target_accept"], seen["draws"]) == (mass, ta, 10 * thin)
    assert seen["maxdepth"] == depth and seen["store_unconstrained"] is False


def test_distillation_only_fit_keeps_every_second_draw():
    """Real NUTS (small): the default fit of a distillation-only table draws 2 x draws per
    chain, keeps every second (numbered 0..draws-1 in every group), records the thinning,
    and counts the divergences and steps of every transition it made."""
    from distillaw import fit

    post = fit(_distillation_only(), "distillation", draws=60, tune=150, chains=2, seed=3,
               progressbar=False, extrapolation="none")
    assert post.sampler["mass_matrix"] == "low-rank" and post.sampler["thin"] == 2
    assert post.sampler["draws"] == 60 and post.sampler["maxdepth"] == 8
    ss = post.idata.sample_stats  # at most 2**8 - 1 leapfrog steps, none stored unconstrained
    assert int(ss["n_steps"].max()) <= 255 and "unconstrained_draw" not in ss
    for g in ("posterior", "sample_stats", "log_likelihood"):
        ds = post.idata[g]
        assert ds.sizes["draw"] == 60
        np.testing.assert_array_equal(ds["draw"].values, np.arange(60))
    d = post.diagnostics()
    assert d["n_draws"] == 60 and d["n_draws_sampled"] == 120
    assert d["steps_per_draw"] > 0 and isinstance(d["divergences"], int)
    # a divergent transition in a dropped draw still flags its window in sample_stats
    assert int(post.idata.sample_stats["diverging"].sum()) <= d["divergences"]
    # and the thinned draws are a posterior: the law's true losses (simulated from
    # Busbridge's coefficients) sit inside the 90% predictive intervals of the rows
    rows = _distillation_only()
    pred = post.predict(rows, ci=0.9, predictive=True)
    covered = np.mean((pred["lower"] <= rows["L_true"]) & (rows["L_true"] <= pred["upper"]))
    assert covered >= 0.9, covered


def test_thinning_keeps_divergences_of_dropped_draws():
    from distillaw._compat import import_arviz
    from distillaw.sampling.fitting import _thin, _transition_stats

    az = import_arviz()
    div = np.zeros((2, 10), bool)
    div[0, 2] = True  # dropped draw: its window's kept draw (3) is flagged
    div[1, 9] = True  # kept draw
    idata = az.from_dict(posterior={"x": np.arange(20.0).reshape(2, 10)},
                         sample_stats={"diverging": div, "n_steps": np.full((2, 10), 3)})
    t = _thin(idata, 2)
    np.testing.assert_array_equal(t.posterior["x"].values, [[1, 3, 5, 7, 9], [11, 13, 15, 17, 19]])
    np.testing.assert_array_equal(t.sample_stats["diverging"].values,
                                  [[False, True, False, False, False],
                                   [False, False, False, False, True]])
    assert _transition_stats(idata) == {"divergences": 2, "n_draws_sampled": 10,
                                        "steps_per_draw": 3.0}
