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
    from distillaw import fit
    from distillaw.sampling import engine
    from distillaw.simulate import shipped_supervised

    seen = {}

    class Stop(Exception):
        pass

    def fake_sample(model, sampler, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(engine, "_sample", fake_sample)
    with pytest.raises(Stop):
        fit(shipped_supervised(), "supervised", draws=10, tune=10, chains=1,
            progressbar=False, mass_matrix=mass, target_accept=given, extrapolation="none")
    assert seen["target_accept"] == expect


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
