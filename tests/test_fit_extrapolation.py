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
    # the folds sampled on their own metric (fold_sampler) and say how the sampler fared
    for f in disc.folds:
        assert f["mass_matrix"] == "low-rank" and f["steps_per_draw"] > 0
        assert isinstance(f["divergences"], int)
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


def test_calibration_folds_share_one_compiled_model_and_drop_held_out_rows(isoflop_runs):
    """The folds sample one compiled, row-weighted model (nutpie ``with_data``): a fold
    fits its own rows only. With the top budget's losses corrupted by +30%, the fold that
    holds that budget out predicts it at the truth; the same compiled model with every
    weight 1 is pulled up towards the corrupted losses (partly: the Student-t likelihood
    treats them as half outliers)."""
    from distillaw.data import validate_runs
    from distillaw.models import ModelSpec, build
    from distillaw.sampling.engine import _compile_nutpie
    from distillaw.sampling.folds import _FoldModel

    t = validate_runs(isoflop_runs(np.geomspace(1e17, 1e20, 4), sigma=0.002, seed=0))
    top = (6 * t["N"] * t["D"] > 3e19).to_numpy()
    truth = t["L"].to_numpy(float).copy()
    t.loc[top, "L"] = t.loc[top, "L"] * 1.3
    built = build(ModelSpec("supervised"), t, fold_weights=True)
    folds = _FoldModel(built, _compile_nutpie(built.model))
    kw = dict(draws=200, tune=300, chains=2, seed=0, mass_matrix="diag")
    held = t[top].reset_index(drop=True)
    assert folds.serves(t[~top]) and not folds.serves(t.assign(kind="distillation"))
    inner = np.median(folds.fit(t[~top], kw)[0].loss_draws(held), 0) / truth[top]
    whole = np.median(folds.fit(t, kw)[0].loss_draws(held), 0) / truth[top]
    assert np.all(np.abs(np.log(inner)) < 0.02)
    assert np.median(whole) - np.median(inner) > 0.01  # Student-t: the +30% rows are half outliers


def test_fold_sampler_low_rank_only_where_the_fit_took_the_default_diagonal():
    from distillaw.models import ModelSpec
    from distillaw.sampling.folds import FOLD_TARGET_ACCEPT, fold_sampler

    kw = {"sampler": "nutpie", "mass_matrix": "diag", "target_accept": None, "draws": 400}
    plain = ModelSpec("supervised")
    got = fold_sampler(kw, plain, explicit_mass=False)
    assert got == {**kw, "mass_matrix": "low-rank", "target_accept": FOLD_TARGET_ACCEPT}
    # the caller's explicit choice, a grouped table, another engine: the fit's settings
    assert fold_sampler(kw, plain, explicit_mass=True) == kw
    assert fold_sampler(kw, ModelSpec("supervised", group="group"), explicit_mass=False) == kw
    assert fold_sampler({**kw, "sampler": "pymc"}, plain, explicit_mass=False)["mass_matrix"] \
        == "diag"
    gp = {**kw, "mass_matrix": "low-rank", "target_accept": 0.9}  # gp's own default
    assert fold_sampler(gp, plain, explicit_mass=False) == gp


def _isoflop_fold_model(isoflop_runs):
    from distillaw.data import validate_runs
    from distillaw.models import ModelSpec, build
    from distillaw.sampling.engine import _compile_nutpie
    from distillaw.sampling.folds import _FoldModel

    t = validate_runs(isoflop_runs(np.geomspace(1e17, 1e20, 4), sigma=0.002, seed=0))
    built = build(ModelSpec("supervised"), t, fold_weights=True)
    return t, _FoldModel(built, _compile_nutpie(built.model))


def test_folds_start_at_the_fits_draws_and_sample_together(isoflop_runs, monkeypatch):
    """Real NUTS (small). A fold's chains start at draws of the fit's posterior (in the
    compiled model's unconstrained coordinates, as nutpie stores them), and the folds
    sampled together give exactly the discrepancy of the same folds one at a time (each
    fold's seed fixes its chains)."""
    import pytest

    from distillaw.models import ModelSpec
    from distillaw.sampling import engine, folds

    t, fm = _isoflop_fold_model(isoflop_runs)
    idata = engine._wait(engine._start_nutpie(
        fm.compiled, draws=100, tune=200, chains=2, seed=0, progressbar=False,
        target_accept=None, cores=None, mass_matrix="diag", store_unconstrained=True))
    u = engine._pop_unconstrained(idata)
    assert u.shape == (200, fm.compiled.n_dim)
    assert not any(v.startswith("unconstrained") for v in idata.sample_stats.data_vars)
    with pytest.raises(ValueError, match="unconstrained dimensions"):
        fm.warm_start(u[:, 1:])
    fm.warm_start(u)
    start = fm._compiled_for({n: np.ones(len(i)) for n, i in fm.ids.items()})
    for seed in (1, 2, 3):
        assert np.any(np.all(start.initial_point_func(seed) == u, axis=1))

    kw = {"sampler": "nutpie", "draws": 150, "tune": 200, "chains": 2, "seed": 4,
          "target_accept": None, "cores": None, "mass_matrix": "diag"}
    spec = ModelSpec("supervised")

    def calibrate():
        return folds._calibrate_extrapolation(t, spec, sampler_kw=kw, progressbar=False,
                                              fit=None, fold_model=fm).to_dict()

    together = calibrate()
    monkeypatch.setattr(folds, "FOLDS_TOGETHER", False)
    alone = calibrate()
    strip = lambda d: {**d, "folds": [{k: v for k, v in f.items() if k != "seconds"}  # noqa: E731
                                      for f in d["folds"]]}
    assert len(together["folds"]) >= 2
    assert strip(together) == strip(alone)


def test_an_error_while_the_folds_sample_stops_them(isoflop_runs, monkeypatch):
    """Plumbing (the fit itself is real NUTS, small): the folds sample in the background
    while fit computes its ArviZ groups; an error there cancels every running fold and
    surfaces as itself."""
    import pytest

    from distillaw.sampling import fitting, folds

    cancelled = []
    real_cancel = folds._Calibration.cancel

    def spy(self):
        cancelled.append(len(self.running))
        real_cancel(self)

    def boom(*a, **k):
        raise RuntimeError("groups failed")

    monkeypatch.setattr(folds._Calibration, "cancel", spy)
    monkeypatch.setattr(fitting, "_arviz_groups", boom)
    t = isoflop_runs(np.geomspace(1e17, 1e20, 4), sigma=0.002, seed=0)
    with pytest.raises(RuntimeError, match="groups failed"):
        fit(t, "supervised", draws=50, tune=100, chains=2, seed=0, progressbar=False,
            extrapolation="calibrate")
    assert cancelled and cancelled[0] >= 2  # the folds were running when the error came


def test_folds_cap_trees_only_under_the_low_rank_metric(monkeypatch):
    """Plumbing (the engine is stopped): a low-rank fold caps its trajectories at
    FOLD_MAXDEPTH; a diagonal-metric fold (grouped tables: Porian's need 340-430 leapfrog
    steps per draw) keeps nutpie's own cap."""
    from distillaw.models import ModelSpec, build
    from distillaw.sampling import folds
    from distillaw.simulate import shipped_supervised

    seen = []
    monkeypatch.setattr(folds, "_start_nutpie", lambda compiled, **kw: seen.append(kw))

    class Compiled:
        def with_data(self, **weights):
            return self

    t = shipped_supervised()
    fm = folds._FoldModel(build(ModelSpec("supervised"), t, fold_weights=True), Compiled())
    for mass in ("low-rank", "diag"):
        fm.start(t.iloc[:10], {"draws": 10, "tune": 10, "chains": 1, "seed": 0,
                               "mass_matrix": mass})
    assert [kw["maxdepth"] for kw in seen] == [folds.FOLD_MAXDEPTH, None]
