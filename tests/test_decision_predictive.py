"""Decisions inherit the error model (issue 11): the reported loss intervals, risk score and
P(distillation beats supervised) describe runs you would train and measure.

The posterior here is hand-built (published Busbridge coefficients, jittered) with a known
Student-t noise scale, so the predictive effect can be checked against a hand computation.
"""

from __future__ import annotations

import numpy as np
import pytest

from distillaw.decision import allocate
from distillaw.errors import DecisionError
from distillaw.posterior import Posterior
from distillaw.published import published

QUERY = dict(student=1e9, scenario="teacher-inference", risk="cvar:0.9", regret=False,
             frontier=False, near_optimal=False, max_draws=400)


def _post(sigma: float, S: int = 800, seed: int = 3) -> Posterior:
    rng = np.random.default_rng(seed)
    point = published("busbridge2025").point()
    p = {k: v * np.exp(rng.normal(0, 0.003, S)) for k, v in point.items()}
    p["c1"] = np.full(S, point["c1"])
    p["sigma"] = np.full(S, sigma)
    p["nu"] = np.full(S, 5.0)
    return Posterior.from_params("distillation", p)


def test_predictive_widens_the_interval_and_pulls_p_towards_a_coin_flip():
    post = _post(0.02)
    law = allocate(post, 1e21, uncertainty="law", **QUERY)
    pred = allocate(post, 1e21, **QUERY)
    # Same allocation: the search ranks on the law either way.
    assert (pred.N_T, pred.D_T, pred.D_S) == (law.N_T, law.D_T, law.D_S)
    assert np.array_equal(pred.loss_draws, law.loss_draws)
    assert law.uncertainty == "law" and pred.uncertainty == "predictive"
    assert "noise" in pred.uncertainty_label
    w_law = law.loss["upper"] - law.loss["lower"]
    w_pred = pred.loss["upper"] - pred.loss["lower"]
    assert w_pred > 3 * w_law
    # With sigma = 0.02 on log loss the measured-run interval is at least the noise's own:
    # the 90% interval of a t_5 is +-2.015 sigma, on a loss of ~2.2 nats.
    assert w_pred > 2 * 2.015 * 0.02 * law.loss["median"] * 0.8
    assert law.p_beats_supervised > 0.95
    assert 0.5 < pred.p_beats_supervised < law.p_beats_supervised
    # The risk score is the measure of the reported draws; the law's is kept.
    assert pred.law_score == pytest.approx(law.score)
    assert pred.score > law.score  # CVaR of a wider distribution of the same median
    d = pred.to_dict()
    assert d["uncertainty"] == "predictive" and d["risk_score_law"] == pytest.approx(law.score)


def test_no_noise_gives_the_law_back_and_no_error_model_says_so():
    post = _post(1e-9)
    law = allocate(post, 1e21, uncertainty="law", **QUERY)
    pred = allocate(post, 1e21, **QUERY)
    assert pred.p_beats_supervised == pytest.approx(law.p_beats_supervised, abs=0.01)
    assert pred.loss["median"] == pytest.approx(law.loss["median"], rel=1e-6)
    bare = Posterior.from_params("distillation", published("busbridge2025").point())
    a = allocate(bare, 1e21, **QUERY)
    assert a.uncertainty == "law" and "no error model" in a.uncertainty_label


def test_unknown_uncertainty_is_a_typed_error():
    with pytest.raises(DecisionError, match="uncertainty must be one of"):
        allocate(_post(0.02), 1e21, uncertainty="both", **QUERY)
