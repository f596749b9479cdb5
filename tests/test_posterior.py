"""Posterior: hand-built draws (no sampling), predict, predictive noise, check(),
optimal_teacher, capacity gap from a distillation posterior, save/load and the card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distillaw import laws, published
from distillaw._compat import import_arviz
from distillaw.errors import DiagnosticsError, PosteriorError
from distillaw.posterior import Posterior, capacity_gap_from_distillation


def _draws(point: dict, S: int = 400, rel: float = 0.02, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(rel * rng.standard_normal(S)) for k, v in point.items()}


def _with_noise(post: Posterior, sigma: float, nu: float | None, chains: int = 1) -> Posterior:
    """Copy of a from_params posterior with noise draws and fake sampler diagnostics."""
    az = import_arviz()
    post_ds = post.idata.posterior
    S = post_ds.sizes["draw"]
    extra = {"sigma": np.full((1, S), sigma)}
    if nu is not None:
        extra["nu"] = np.full((1, S), nu)
    data = {k: post_ds[k].values for k in post_ds.data_vars} | extra
    idata = az.from_dict(posterior=data)
    diag = {"r_hat_max": 1.002, "ess_bulk_min": 900.0, "ess_tail_min": 800.0,
            "divergences": 0, "n_chains": 4}
    return Posterior(idata, post.spec, diagnostics=diag, data_hash="abc",
                     sampler={"engine": "nutpie", "draws": S},
                     model_info={"reference": {"N": 1e9}, "notes": ["hand-built"],
                                 "priors": {}, "contraction": {}})


def test_predict_matches_the_law_and_is_vectorised():
    p = published("epoch2024").point()
    post = Posterior.from_params("supervised", _draws(p))
    pts = pd.DataFrame({"N": [1e8, 1e9, 1e10], "D": [2e9, 2e10, 2e11]})
    out = post.predict(pts, ci=0.9)
    truth = laws.supervised_loss(pts["N"], pts["D"], **p)
    assert np.all(out["lower"] < truth) and np.all(truth < out["upper"])
    assert np.all(out["lower"] < out["median"]) and np.all(out["median"] < out["upper"])
    with pytest.raises(PosteriorError, match="ci must be"):
        post.predict(pts, ci=1.5)
    with pytest.raises(PosteriorError, match="column 'D'"):
        post.predict({"N": [1e9]})


def test_predictive_interval_adds_the_observation_noise():
    p = published("epoch2024").point()
    post = _with_noise(Posterior.from_params("supervised", {k: np.full(4000, v)
                                                            for k, v in p.items()}), 0.02, None)
    pts = {"N": [1e9], "D": [2e10]}
    curve = post.predict(pts, 0.9)
    pred = post.predict(pts, 0.9, predictive=True, seed=1)
    assert curve["upper"][0] == pytest.approx(curve["lower"][0])  # point mass
    half = np.log(pred["upper"][0] / pred["median"][0])
    assert half == pytest.approx(1.645 * 0.02, rel=0.08)  # Normal noise on log-loss
    heavy = _with_noise(post, 0.02, 3.0).predict(pts, 0.9, predictive=True, seed=1)
    assert np.log(heavy["upper"][0] / heavy["median"][0]) > half  # Student-t is wider


def test_check_fails_loudly_with_one_line_reasons():
    post = _with_noise(Posterior.from_params("supervised", published("epoch2024").point()),
                       0.01, None)
    assert post.check() is post
    post._diagnostics.update(divergences=3, r_hat_max=1.05, ess_bulk_min=120.0)
    with pytest.raises(DiagnosticsError) as exc:
        post.check()
    msg = str(exc.value)
    assert "3 divergent" in msg and "r_hat 1.050" in msg and "bulk ESS 120" in msg
    assert "\n" not in msg
    post.check(max_rhat=1.1, min_ess=100, max_divergences=5)
    with pytest.raises(PosteriorError, match="no sampler diagnostics"):
        Posterior.from_params("supervised", published("epoch2024").point()).check()


def test_optimal_teacher_distillation_and_capacity_gap():
    p = published("busbridge2025").point()
    point = Posterior.from_params("distillation", p)
    ot = point.optimal_teacher([1e9, 1e10], [2e10, 2e11])
    # Spec section 1.3 check values.
    np.testing.assert_allclose(ot.draws["L_T"][0], [1.7227, 1.5420], atol=2e-3)
    np.testing.assert_allclose(ot.draws["L_S"][0], [2.2523, 1.9079], atol=1e-3)
    summ = ot.summary()
    assert list(summ["N_S"]) == [1e9, 1e10] and "N_T_median" in summ
    # N_T* under the 20-tokens-per-parameter teacher rule gives L_T* back (same optimum).
    assert summ["L_T_of_N_T_median"][0] == pytest.approx(summ["L_T_median"][0], rel=2e-3)
    dist = Posterior.from_params("distillation", _draws(p, S=50))
    s = dist.optimal_teacher([1e9], [2e10]).summary()
    assert s["L_T_lower"][0] < s["L_T_median"][0] < s["L_T_upper"][0]
    cg = Posterior.from_params("capacity-gap", {"k": np.full(10, 2.5), "s": np.ones(10)})
    assert cg.optimal_teacher([1e8]).draws["N_T"][0, 0] == pytest.approx(2.5e8)
    with pytest.raises(PosteriorError, match="D_S"):
        point.optimal_teacher([1e9])
    with pytest.raises(PosteriorError, match="no teacher"):
        Posterior.from_params("supervised", published("epoch2024").point()).optimal_teacher(1e9)


def test_capacity_gap_from_distillation_fits_the_line_per_draw():
    p = published("busbridge2025").point()
    post = Posterior.from_params("distillation", _draws(p, S=30, rel=0.01))
    NS = np.geomspace(1e8, 3e9, 6)
    cg = capacity_gap_from_distillation(post, NS, student_tokens_per_param=20)
    d = cg.param_draws()
    assert cg.law == "capacity-gap" and d["k"].shape == (30,)
    # The line through each draw's optimum reproduces that optimum closely.
    NT = np.atleast_2d(laws.optimal_teacher_size_from_law(
        NS, 20 * NS, {k: v[:1] for k, v in post.param_draws().items()})[0])
    fitted = d["k"][0] * NS ** d["s"][0]
    np.testing.assert_allclose(np.log(fitted), np.log(NT[0]), atol=0.3)
    assert cg.spec["at_bound_fraction"] == 0.0
    with pytest.raises(PosteriorError, match="exactly one"):
        capacity_gap_from_distillation(post, NS)
    with pytest.raises(PosteriorError, match="distillation posterior"):
        capacity_gap_from_distillation(cg, NS, D_S=1e10)


def test_summary_save_load_and_card(tmp_path):
    p = published("epoch2024").point()
    post = _with_noise(Posterior.from_params("supervised", _draws(p)), 0.01, 4.0)
    post.name = "epoch-test"
    out = post.save(tmp_path / "m")
    assert sorted(f.name for f in out.iterdir()) == ["card.json", "card.md", "posterior.nc"]
    back = Posterior.load(out)
    assert back.law == "supervised" and back.n_draws == post.n_draws
    np.testing.assert_allclose(back.param_draws()["alpha"], post.param_draws()["alpha"])
    np.testing.assert_allclose(back.noise_draws()["nu"], 4.0)
    assert back.diagnostics() == post.diagnostics() and back.model_info["notes"] == ["hand-built"]
    card = json.loads((out / "card.json").read_text())
    assert {"spec", "data_hash", "sampler", "diagnostics", "parameters", "model",
            "distillaw_version"} <= set(card)
    summ = post.summary(0.95)
    assert card["parameters"]["alpha"]["median"] == pytest.approx(summ.loc["alpha", "median"])
    md = (out / "card.md").read_text()
    assert "## Parameters" in md and "## Diagnostics" in md and "| alpha |" in md
    with pytest.raises(PosteriorError, match="no such model directory"):
        Posterior.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PosteriorError, match="not a saved posterior"):
        Posterior.load(tmp_path / "empty")


def test_grouped_summary_and_param_draws():
    az = import_arviz()
    G, S = 3, 50
    rng = np.random.default_rng(0)
    post_ds = {"E": 1.8 + 0.1 * rng.standard_normal((1, S, G)),
               "A": np.full((1, S, G), 400.0), "B": np.full((1, S, G), 400.0),
               "alpha": np.full((1, S), 0.34), "beta": np.full((1, S), 0.28),
               "sigma": np.full((1, S), 0.01)}
    idata = az.from_dict(posterior=post_ds, coords={"group": ["a", "b", "c"]},
                         dims={k: ["group"] for k in ("E", "A", "B")})
    post = Posterior(idata, {"law": "supervised", "form": "chinchilla"})
    assert post.groups == ["a", "b", "c"]
    summ = post.summary()
    assert "E[b]" in summ.index and "alpha" in summ.index
    with pytest.raises(PosteriorError, match="pass group="):
        post.param_draws()
    assert post.param_draws("b")["E"].shape == (S,)
