"""The allocation search's fast path equals its reference path (issue 13: decision speed).

The fast path gathers each draw's parameters once per 1-d search (and slices them per
block), splits per-draw blocks across threads, and lets the tie search reuse the outer
grid's values. The reference path gathers per block, scores on one thread and re-scores
everything. Both must give the same numbers to 1e-9 nats; timing lives in
bench/decision_speed.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from distillaw.decision import allocate
from distillaw.decision.draws import _collect_draws, _Params
from distillaw.decision.scoring import _Scorer
from distillaw.decision.search import _Search
from distillaw.draws import log_loss
from distillaw.risk import parse_risk

SCENARIOS = ("best-case", "teacher-inference", "teacher-pretraining",
             "teacher-pretraining+inference")


@pytest.fixture(scope="module")
def post(jittered_busbridge):
    return jittered_busbridge(300, 5)


def _reference(monkeypatch):
    """Switch the search to its reference path: no row cache, no reuse in the tie search."""
    def rows_uncached(self, draw_rows, dt):
        return self.p.view(draw_rows, dtype=dt)

    cheapest = _Search._cheapest

    def cheapest_recomputed(self, rows, lNS, tlo, thi, tau, v, tol, grid_v=None, u_best=None):
        return cheapest(self, rows, lNS, tlo, thi, tau, v, tol)

    monkeypatch.setattr(_Scorer, "_rows", rows_uncached)
    monkeypatch.setattr(_Search, "_cheapest", cheapest_recomputed)


def test_params_rows_equal_view(post):
    _, draws = _collect_draws(post, None, None, None, 0)
    p = _Params(draws)
    idx = np.random.default_rng(0).integers(0, p.S, 1000)
    for dt in (np.float64, np.float32):
        sup, dis = p.rows(idx, dt)
        sup0, dis0 = p.view(idx, dtype=dt)
        for k in sup0:
            assert sup[k].dtype == dt and np.array_equal(sup[k], sup0[k]), k
        for k in dis0:
            assert dis[k].dtype == dt and np.array_equal(dis[k], dis0[k]), k


def test_per_draw_scores_equal_direct_law(post):
    """Per-draw mode, threaded and split, with the row cache: equal to the law evaluated
    directly, including a second rows array of the same shape (no stale cache)."""
    _, draws = _collect_draws(post, None, None, None, 0)
    p = _Params(draws)
    rng = np.random.default_rng(1)
    B = 5000
    lNS = np.full((B, 1), np.log(1e9))
    lDS = np.log(rng.uniform(1e10, 1e11, (B, 1)))
    lNT = np.log(rng.uniform(1e8, 1e11, (B, 1)))
    lDT = np.log(rng.uniform(1e10, 1e12, (B, 1)))
    with ThreadPoolExecutor(2) as pool:
        scorer = _Scorer(p, parse_risk("mean"), pool)
        for seed in (2, 3):
            rows = np.random.default_rng(seed).integers(0, p.S, B)
            got = scorer(lNS, lDS, lNT, lDT, draw_rows=rows)
            got_again = scorer(lNS, lDS, lNT, lDT, draw_rows=rows)
            sup, dis = p.view(rows)
            want = np.exp(log_loss(sup, dis, lNS, lDS, lNT, lDT))
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(got, got_again)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_allocate_fast_path_equals_reference(post, monkeypatch, scenario):
    fast = allocate(post, 1e21, student=1e9, scenario=scenario, frontier=False, threads=2)
    with monkeypatch.context() as m:
        _reference(m)
        ref = allocate(post, 1e21, student=1e9, scenario=scenario, frontier=False, threads=1)
    assert abs(fast.score - ref.score) <= 1e-9
    np.testing.assert_allclose(fast.loss_draws, ref.loss_draws, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.draw_optima["loss"], ref.draw_optima["loss"], rtol=0,
                               atol=1e-9)
    np.testing.assert_allclose(fast.draw_optima["N_T"], ref.draw_optima["N_T"], rtol=1e-9)
    assert fast.N_T == pytest.approx(ref.N_T, rel=1e-9)
    assert fast.D_T == pytest.approx(ref.D_T, rel=1e-9)


def test_allocate_free_student_fast_path_equals_reference(post, monkeypatch):
    fast = allocate(post, 1e21, scenario="best-case", frontier=False, max_draws=200)
    with monkeypatch.context() as m:
        _reference(m)
        ref = allocate(post, 1e21, scenario="best-case", frontier=False, max_draws=200,
                       threads=1)
    assert fast.N_S == pytest.approx(ref.N_S, rel=1e-9)
    np.testing.assert_allclose(fast.loss_draws, ref.loss_draws, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.draw_optima["loss"], ref.draw_optima["loss"], rtol=0,
                               atol=1e-9)
