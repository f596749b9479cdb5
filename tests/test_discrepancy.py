"""Extrapolation discrepancy (issue 11): folds, distances, the grid posterior, predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillaw import discrepancy as dc
from distillaw.posterior import Posterior


def _table(budgets=(1e18, 1e19, 1e20, 1e21), per=5, group=None):
    rows = []
    for C in budgets:
        for N in np.geomspace(1e7, 1e9, per):
            rows.append({"N": N, "D": C / (6 * N), "L": 3.0, "kind": "supervised",
                         **({"group": group} if group else {})})
    return pd.DataFrame(rows)


def test_fold_masks_hold_out_whole_largest_budgets():
    t = _table()
    masks = dc.fold_masks(t)
    comp = dc.row_compute(t)
    assert masks, "four budgets of five rows allow folds"
    for m in masks:
        # every held-out row has more compute than every kept row: whole budgets, top first
        assert comp[m].min() > comp[~m].max()
        assert dc.MIN_HELD <= m.sum() <= len(t) - 2 * dc.MIN_HELD
    assert len({int(m.sum()) for m in masks}) == len(masks)  # no repeated fold


def test_fold_masks_per_group_hold_out_each_groups_top():
    t = pd.concat([_table(group="a"), _table((1e17, 1e18, 1e19, 1e20), group="b")],
                  ignore_index=True)
    for m in dc.fold_masks(t, "group"):
        for g in ("a", "b"):
            sel = (t["group"] == g).to_numpy()
            assert m[sel].any() and (~m[sel]).any()
            comp = dc.row_compute(t)[sel]
            assert comp[m[sel]].min() > comp[~m[sel]].max()


def test_fold_masks_need_enough_rows():
    assert dc.fold_masks(_table(budgets=(1e18, 1e19), per=2)) == []


def test_distance_is_nearest_fitted_row_in_decades():
    fitted = pd.DataFrame({"N": [1e8, 1e9], "D": [1e10, 1e10], "kind": "supervised"})
    new = pd.DataFrame({"N": [1e8, 1e10, 1e9], "D": [1e10, 1e10, 1e11],
                        "kind": "supervised"})
    d = dc.distance(fitted, new, "supervised")
    np.testing.assert_allclose(d, [0.0, 1.0, 1.0])
    # A row of another kind is not "data" for a supervised query while supervised rows exist
    fitted2 = pd.concat([fitted, pd.DataFrame({"N": [1e10], "D": [1e10], "L_T": [2.0],
                                               "kind": "distillation"})], ignore_index=True)
    np.testing.assert_allclose(dc.distance(fitted2, new, "distillation")[1], 1.0)


def test_compute_outside_the_fitted_range_counts_as_distance():
    def rows(*nc):  # (N, compute) -> a supervised row with D = C / 6N
        return pd.DataFrame({"N": [n for n, _ in nc], "D": [c / (6 * n) for n, c in nc],
                             "kind": "supervised"})

    # Two budgets of an IsoFLOP grid fitted (1e17 and 1e18 FLOPs). Each new run lies one
    # decade of D from a fitted row, but only the first is beyond the fitted compute.
    fitted = rows((1e7, 1e17), (1e8, 1e17), (1e8, 1e18), (1e9, 1e18))
    new = rows((1e8, 1e19), (1e9, 1e17), (1e7, 1e16))
    cs = dc.compute_spans(fitted, "supervised")
    assert cs["supervised"] == pytest.approx(1.0)  # one decade (also the floor)
    sp = {"supervised": [1.0, 1.0]}
    row = dc.distance(fitted, new, "supervised", span=sp)
    np.testing.assert_allclose(row, [1.0, 1.0, 1.0])  # nearest-row distance alone: equal
    both = dc.distance(fitted, new, "supervised", span=sp, compute_span=cs)
    # a decade above the fitted compute, inside it, a decade below it
    np.testing.assert_allclose(both, [np.sqrt(2.0), 1.0, np.sqrt(2.0)])
    np.testing.assert_allclose(dc.distance(fitted, fitted, "supervised", span=sp,
                                           compute_span=cs), 0.0)  # fitted rows stay at 0
    # the unit travels with the record; a record without it keeps the nearest-row distance
    disc = dc.calibrate(np.zeros((10, 1)), [0.01], [1.0], [1.0], span=sp, compute_span=cs)
    back = dc.Discrepancy.from_dict(disc.to_dict())
    assert back.compute_span == cs
    np.testing.assert_allclose(back.distance(fitted, new, "supervised"), both)
    old = {k: v for k, v in disc.to_dict().items() if k != "compute_span"}
    np.testing.assert_allclose(dc.Discrepancy.from_dict(old).distance(fitted, new,
                                                                      "supervised"), row)
    for bad in ([1.0], {"supervised": "wide"}):  # a malformed unit: one typed error
        with pytest.raises(dc.DiscrepancyError, match="malformed discrepancy record"):
            dc.Discrepancy.from_dict(disc.to_dict() | {"compute_span": bad})


def _widening(disc, sd0, d):
    """Ratio of predictive sd with the discrepancy to ``sd0`` at distance ``d``."""
    off = disc.log_offsets(np.array([d]), 20000, seed=0)[:, 0]
    return float(np.sqrt(sd0 ** 2 + np.mean(off ** 2)) / sd0)


def _normal_quantiles(sd, n, q=dc.QUANTILES):
    """Quantiles (q, n) of Normal(0, sd) predictive distributions, one per held-out row."""
    from scipy.stats import norm

    return np.repeat(norm.ppf((np.arange(q) + 0.5) / q)[:, None] * sd, n, axis=1)


def test_grid_posterior_stays_near_zero_when_folds_match_their_intervals():
    rng = np.random.default_rng(0)
    n = 300
    d = rng.uniform(0.1, 1.0, n)
    ly = rng.normal(0, 0.01, n)
    disc = dc.calibrate(_normal_quantiles(0.01, n), ly, d, np.ones(n))
    # no extra width bought where the inner fits were honest: half a span out, the learned
    # discrepancy (what is left of c's prior below what the folds can see) adds under 5%
    assert _widening(disc, 0.01, 0.5) < 1.05


def test_heavy_tailed_inner_predictives_are_not_misfit():
    """Held-out losses drawn from the inner fit's own Student-t (nu = 2.5) predictive: its
    tails are its width, so no discrepancy is learned, although a Normal with the same
    central 90% width would call 4% of these rows 3-sigma misses."""
    rng = np.random.default_rng(5)
    n, S = 400, 4000
    draws = np.exp(0.01 * rng.standard_t(2.5, size=(S, n)))
    ly = 0.01 * rng.standard_t(2.5, size=n)
    d = rng.uniform(0.1, 1.0, n)
    disc = dc.calibrate(dc.fold_quantiles(draws), ly, d, np.ones(n))
    sd90 = float(np.diff(np.quantile(np.log(draws[:, 0]), [0.05, 0.95]))[0]) / (2 * 1.645)
    assert _widening(disc, sd90, 0.5) < 1.05


def test_grid_posterior_recovers_a_linear_growth():
    rng = np.random.default_rng(1)
    n = 400
    d = rng.uniform(0.1, 1.5, n)
    c_true = 0.02
    ly = rng.normal(0, np.sqrt(0.002 ** 2 + (c_true * d) ** 2))
    disc = dc.calibrate(_normal_quantiles(0.002, n), ly, d, np.ones(n))
    lo, med, hi = disc.c_quantiles((0.005, 0.5, 0.995))  # a 99% interval: one seed
    assert lo < c_true < hi and abs(med / c_true - 1) < 0.1
    pw = disc.p_weights()
    assert max(pw, key=pw.get) == "1"


def test_grid_posterior_by_hand_on_one_point():
    # One held-out row 0.1 above a point-mass inner predictive at d = 1: its likelihood is
    # N(0.1 | 0, c^2) (p = 1), maximal at c = 0.1; with a flat prior the mode is there.
    disc = dc.calibrate(np.zeros((10, 1)), [0.1], [1.0], [1.0], p_grid=(1.0,), c_max=0.3,
                        points=2001, c_prior=1e6, nu_grid=(np.inf,))
    w = np.asarray(disc.weights)[0, 0]
    c, width = dc.c_grid(0.3, 2001)
    assert abs(c[np.argmax(w / width)] - 0.1) < 1e-3  # the density's mode


def test_round_trip_and_offsets_grow_with_distance():
    disc = dc.calibrate(np.zeros((10, 2)), [0.05, -0.05], [1.0, 1.0], [1.0, 1.0],
                        folds=({"held_out": 2},))
    back = dc.Discrepancy.from_dict(disc.to_dict())
    assert back == disc
    assert "divergent" not in disc.summary()
    # folds whose fits diverged say so in the one-line summary (the card and the report)
    sick = dc.calibrate(np.zeros((10, 2)), [0.05, -0.05], [1.0, 1.0], [1.0, 1.0],
                        folds=({"held_out": 1, "divergences": 2}, {"held_out": 1,
                                                                   "divergences": 1}))
    assert sick.summary().endswith("(3 divergent transitions in their fits)")
    off = disc.log_offsets(np.array([0.0, 0.5, 2.0]), 4000, seed=3)
    sd = off.std(axis=0)
    assert sd[0] == 0.0 and 0 < sd[1] < sd[2]
    with pytest.raises(dc.DiscrepancyError):
        dc.Discrepancy.from_dict({"c_grid": [0.1]})
    bad = disc.to_dict() | {"p_grid": [1.0]}  # weights no longer match the grids
    with pytest.raises(dc.DiscrepancyError, match="do not match the grids"):
        dc.Discrepancy.from_dict(bad)


def test_posterior_predictive_widens_only_away_from_the_data():
    from distillaw import published

    point = published("epoch2024").point()
    post = Posterior.from_params("supervised", {k: np.full(500, v) for k, v in point.items()})
    fitted = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "L": [3.0, 2.6],
                           "kind": ["supervised", "supervised"]})
    import xarray as xr

    post.idata.add_groups(constant_data=xr.Dataset(
        {k: ("row", np.asarray(v)) for k, v in fitted.items()}))
    post.idata.posterior["sigma"] = post.idata.posterior["E"] * 0 + 1e-6
    pts = pd.DataFrame({"N": [1e9, 1e11], "D": [2e10, 2e12]})
    base = post.predictive_draws(pts)
    post.spec["discrepancy"] = dc.calibrate(np.zeros((10, 1)), [0.05], [1.0], [1.0]).to_dict()
    wide = post.predictive_draws(pts)
    np.testing.assert_allclose(wide[:, 0], base[:, 0])  # a fitted point: unchanged
    assert np.ptp(np.log(wide[:, 1])) > 0.05  # two decades out: widened


def test_spans_are_the_distance_unit_and_travel_with_the_record():
    t = pd.DataFrame({"N": [1e8, 1e10, 1e9], "D": [1e10, 1e10, 1e12], "L_T": [2.0, 2.4, 2.2],
                      "kind": "distillation"})
    sp = dc.spans(t, "distillation")
    np.testing.assert_allclose(sp["distillation"][:2], [2.0, 2.0])
    np.testing.assert_allclose(sp["distillation"][2], np.log10(2.4 / 2.0))
    # an inner fit with fewer rows measures in the whole table's unit when given it
    inner, new = t.iloc[:1], t.iloc[[1]]
    d_own = dc.distance(inner, new, "distillation")  # inner's own spans: floors
    d_table = dc.distance(inner, new, "distillation", span=sp)
    assert d_table[0] == pytest.approx(np.sqrt(1.0 + 1.0))
    assert d_own[0] != pytest.approx(d_table[0])
    disc = dc.calibrate(np.zeros((10, 1)), [0.01], [1.0], [1.0], span=sp)
    assert dc.Discrepancy.from_dict(disc.to_dict()).span == sp


def test_a_few_far_off_runs_do_not_widen_every_interval():
    """95% of held-out rows sit inside their inner predictive (sd 0.01); 5% are 15 sd off (a
    diverged run, a misread point). A Normal discrepancy must cover the outliers with a
    scale that widens every interval; the learned heavy tails keep the scale small."""
    rng = np.random.default_rng(7)
    n = 400
    d = rng.uniform(0.2, 1.0, n)
    ly = rng.normal(0, 0.01, n)
    bad = rng.random(n) < 0.05
    ly[bad] += rng.choice([-1, 1], bad.sum()) * 0.15
    lq = _normal_quantiles(0.01, n)
    normal = dc.calibrate(lq, ly, d, np.ones(n), nu_grid=(np.inf,))
    learned = dc.calibrate(lq, ly, d, np.ones(n))
    assert learned.nu_weights()["3"] > 0.9
    assert learned.c_quantiles((0.5,))[0] < 0.5 * normal.c_quantiles((0.5,))[0]
    # and the record, heavy tails included, survives a round trip
    assert dc.Discrepancy.from_dict(learned.to_dict()) == learned


def test_folds_that_fit_less_and_miss_more_are_not_the_full_fits_scale():
    # Three folds fitting 90%, 80% and 70% of a table, whose misses grow as kept**-3 at the
    # same distances: the grid learns q > 1 and puts c (the full fit's scale, kept = 1)
    # near the truth, where ignoring kept would read the folds' inflated misses as c.
    rng = np.random.default_rng(4)
    n = 600
    kept = np.repeat([0.9, 0.8, 0.7], n // 3)
    d = rng.uniform(0.1, 1.0, n)
    c_true = 0.01
    ly = rng.normal(0, np.sqrt(0.002 ** 2 + (c_true * d * kept ** -3.0) ** 2))
    lq = _normal_quantiles(0.002, n)
    disc = dc.calibrate(lq, ly, d, np.ones(n), kept=kept, nu_grid=(np.inf,))
    naive = dc.calibrate(lq, ly, d, np.ones(n), nu_grid=(np.inf,))
    qw = disc.q_weights
    assert sum(w for q, w in qw.items() if float(q) >= 2) > 0.9
    lo, med, hi = disc.c_quantiles((0.005, 0.5, 0.995))
    assert lo < c_true < hi
    assert naive.c_quantiles((0.5,))[0] > 1.5 * c_true  # the folds' own scale, not the fit's
    assert "q = " in disc.summary() and "q = " not in naive.summary()
    assert dc.Discrepancy.from_dict(disc.to_dict()) == disc
    with pytest.raises(dc.DiscrepancyError, match="kept"):
        dc.calibrate(lq, ly, d, np.ones(n), kept=np.zeros(n))


def test_interpolated_row_likelihoods_match_the_exact_grid():
    """calibrate() reads each row's likelihood off a spline in log(extra scale); the grid
    posterior must be the exact one's: folds at several kept shares, Student-t tails,
    rows at distance 0 (no extra scale) and a row with a tiny inner width."""
    rng = np.random.default_rng(7)
    n = 90
    kept = np.repeat([1.0, 0.85, 0.7], n // 3)
    d = rng.uniform(0.0, 1.2, n)
    d[:4] = 0.0
    sd = rng.uniform(0.002, 0.02, n)
    lq = _normal_quantiles(1.0, n) * sd
    lq[:, 5] = 0.0
    ly = rng.normal(0, np.sqrt(sd ** 2 + (0.02 * d * kept ** -2.0) ** 2))
    w = rng.uniform(0.3, 1.0, n)
    exact = dc.calibrate(lq, ly, d, w, kept=kept, sigma_points=None)
    fast = dc.calibrate(lq, ly, d, w, kept=kept)
    tv = 0.5 * np.abs(np.asarray(exact.weights) - np.asarray(fast.weights)).sum()
    assert tv < 1e-4
    assert np.array_equal(exact.c_quantiles(), fast.c_quantiles())
    for q, x in exact.q_weights.items():
        assert fast.q_weights[q] == pytest.approx(x, abs=1e-5)
