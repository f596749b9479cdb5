"""Decisions state when they extrapolate: fitted ranges, factors, prior-driven laws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from distillaw.decision import allocate
from distillaw.errors import DecisionError
from distillaw.extrapolation import data_ranges, extrapolation


def _with_rows(post, rows: dict):
    """Attach fitted rows as a fit stores them (constant_data, one entry per row)."""
    post.idata.add_groups(constant_data=xr.Dataset(
        {k: ("row", np.asarray(v)) for k, v in rows.items()}))
    return post


DIST_ROWS = {"kind": ["distillation"] * 3, "N": [1e8, 2e8, 4e8], "D": [2e9, 4e9, 8e9],
             "L": [2.9, 2.7, 2.6], "N_T": [1e9, np.nan, 2e9], "L_T": [2.3, 2.2, 2.1]}


def test_ranges_and_factors_of_a_distillation_query(jittered_busbridge):
    post = _with_rows(jittered_busbridge(4, 0), DIST_ROWS)
    r = data_ranges(post)
    assert (r.n_supervised, r.n_distillation) == (0, 3)
    assert r.student_N_max == 4e8 and r.student_compute_max == pytest.approx(6 * 4e8 * 8e9)
    assert r.teacher_N_max == 2e9 and r.teacher_L_min == 2.1
    f = {x.what: x for x in extrapolation(post, {"N_S": 4e9, "D_S": 8e9, "N_T": 5e9,
                                                 "L_T": 2.0})}
    assert f["student_size"].factor == pytest.approx(10.0)
    assert f["student_compute"].factor == pytest.approx(10.0)
    assert f["teacher_size"].factor == pytest.approx(2.5)
    assert f["teacher_loss"].value == 2.0 and f["teacher_loss"].fitted == 2.1
    assert "prior-driven" in f["supervised_prior_driven"].message
    assert "teacher's loss predicted from its size" in f["supervised_prior_driven"].message
    assert "10x the largest fitted" in f["student_size"].message
    # Inside every range: only the prior-driven supervised law remains.
    inside = extrapolation(post, {"N_S": 2e8, "D_S": 4e9, "L_T": 2.2})
    assert [x.what for x in inside] == ["supervised_prior_driven"]


def test_supervised_rows_bound_the_supervised_baseline(jittered_busbridge):
    rows = {k: list(v) for k, v in DIST_ROWS.items()}
    rows["kind"] += ["supervised", "supervised"]
    rows["N"] += [1e9, 2e9]
    rows["D"] += [2e10, 4e10]
    rows["L"] += [2.3, 2.1]
    rows["N_T"] += [np.nan, np.nan]
    rows["L_T"] += [np.nan, np.nan]
    post = _with_rows(jittered_busbridge(4, 1), rows)
    q = {"N_S": 2e8, "D_S": 4e9, "N_T": 1e9, "supervised_N": 8e9, "supervised_D": 1.6e11}
    f = {x.what: x for x in extrapolation(post, q)}
    assert set(f) == {"supervised_size", "supervised_compute"}
    assert f["supervised_size"].factor == pytest.approx(4.0)
    assert f["supervised_compute"].factor == pytest.approx(16.0)


def test_no_fitted_rows_is_said_and_bad_query_is_typed(jittered_busbridge):
    post = jittered_busbridge(4, 2)
    assert [x.what for x in extrapolation(post, {"N_S": 1e9, "D_S": 2e10})] == [
        "no_fitted_data"]
    with pytest.raises(DecisionError, match="N_S and D_S"):
        extrapolation(post, {"N_S": 1e9})


def test_allocation_warnings_carry_the_extrapolation(jittered_busbridge):
    """The hook in allocate(): report, allocation.json and the CLI show allocation.warnings."""
    post = _with_rows(jittered_busbridge(16, 3), DIST_ROWS)
    a = allocate(post, 1e21, student=1e9, scenario="teacher-inference", frontier=False,
                 regret=False)
    text = " | ".join(a.warnings)
    assert "the student size N_S (1e+09) is 2.5x the largest fitted" in text
    assert "prior-driven" in text
    assert a.to_dict()["warnings"] == a.warnings


def _with_prior(post, E: float, S: int = 50):
    """A prior group as a fit stores it: the supervised law's parameters, E set to ``E``."""
    p = post.param_draws()
    post.idata.add_groups(prior=xr.Dataset(
        {k: (("chain", "draw"), np.full((1, S), E if k == "E" else float(np.median(p[k]))))
         for k in ("E", "A", "B", "alpha", "beta", "gamma")}))
    return post


def test_a_baseline_without_supervised_rows_is_drawn_from_its_prior(jittered_busbridge):
    from distillaw.laws.supervised import supervised_loss

    kw = dict(student=1e9, scenario="teacher-inference", regret=False, frontier=False,
              near_optimal=False, uncertainty="law")
    base = allocate(_with_rows(jittered_busbridge(40, 1), DIST_ROWS), 1e21, **kw)
    post = _with_prior(_with_rows(jittered_busbridge(40, 1), DIST_ROWS), E=1.6)
    cut = allocate(post, 1e21, **kw)
    # The distilled student and its teacher are the posterior's, untouched by the cut ...
    np.testing.assert_array_equal(cut.loss_draws, base.loss_draws)
    assert (cut.N_T, cut.D_T, cut.D_S) == (base.N_T, base.D_T, base.D_S)
    # ... the supervised baseline is the prior's law at the same (N, D): E = 1.6 here
    p = post.idata.prior
    want = supervised_loss(cut.supervised_N, cut.supervised_D,
                           **{k: float(p[k].values[0, 0]) for k in p.data_vars})
    np.testing.assert_allclose(cut.supervised_loss_draws, want, rtol=1e-6)
    assert cut.supervised_loss_draws.min() > base.supervised_loss_draws.max()
    assert cut.p_beats_supervised == 1.0
    # With one supervised row fitted the baseline has data: the posterior's law is kept.
    rows = {k: list(v) + [v[0]] for k, v in DIST_ROWS.items()}
    rows["kind"][-1] = "supervised"
    kept = allocate(_with_prior(_with_rows(jittered_busbridge(40, 1), rows), E=1.6), 1e21, **kw)
    np.testing.assert_array_equal(kept.supervised_loss_draws, base.supervised_loss_draws)


def test_a_query_beyond_the_calibrated_distances_is_said():
    """A run farther from the fitted runs than any the extrapolation calibration held out
    gets a finding with the distance and the factor; a fitted point, a run within the
    calibrated distance and a record without fold distances (older cards) get none."""
    from distillaw import discrepancy as dc
    from distillaw import published
    from distillaw.posterior import Posterior

    point = published("epoch2024").point()
    post = Posterior.from_params("supervised", {k: np.full(50, v) for k, v in point.items()})
    rows = {"kind": ["supervised"] * 3, "N": [1e8, 1e9, 1e10], "D": [2e9, 2e10, 2e11],
            "L": [3.0, 2.6, 2.3]}
    _with_rows(post, rows)
    folds = ({"held_out": 1, "distance_max": 0.25}, {"held_out": 2, "distance_max": 0.5})
    rec = dc.calibrate(np.zeros((10, 1)), [0.05], [1.0], [1.0], folds).to_dict()
    post.spec["discrepancy"] = rec
    assert post.discrepancy.calibrated_distance() == 0.5
    assert extrapolation(post, {"N_S": 1e9, "D_S": 2e10}) == []  # a fitted run
    # span: 2 decades in N and D; (1e10, 4e11) is 0.15 spans from the largest fitted run
    assert not [f for f in extrapolation(post, {"N_S": 1e10, "D_S": 4e11})
                if f.what == "beyond_calibration"]
    far = {"N_S": 1e12, "D_S": 2e13}  # 2 decades beyond in both: sqrt(2) spans
    f = [f for f in extrapolation(post, far) if f.what == "beyond_calibration"]
    assert len(f) == 1 and f[0].fitted == 0.5
    d = post.discrepancy.distance(post.fitted_rows(), pd.DataFrame([{"N": 1e12, "D": 2e13}]),
                                  "supervised")[0]
    assert f[0].value == pytest.approx(d) and f[0].factor == pytest.approx(d / 0.5)
    assert d > np.sqrt(2) - 1e-9  # the row distance alone; compute outside adds to it
    assert "extrapolation calibration" in f[0].message
    rec["folds"] = [{"held_out": 1}]  # a record from before fold distances were kept
    post.spec["discrepancy"] = rec
    assert post.discrepancy.calibrated_distance() is None
    assert not [f for f in extrapolation(post, far) if f.what == "beyond_calibration"]
