"""Backtests: scores against hand computations, splits, the Huber baseline, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distillaw.backtesting import (
    BacktestError,
    backtest,
    crps_draws,
    interval_score,
    score_draws,
    split,
)
from distillaw.cli import main
from distillaw.data import validate_runs
from distillaw.posterior import Posterior

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def _law(N, D, p=TRUTH):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def _table(n_per=6, noise=0.01, seed=0):
    """IsoFLOP-like table: 5 budgets x n_per sizes, multiplicative noise on the loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in (1e18, 1e19, 1e20, 1e21, 1e22):
        for N in np.geomspace(1e7, 1e10, n_per):
            D = c / (6 * N)
            rows.append({"N": N, "D": D, "L": _law(N, D) * np.exp(noise * rng.normal())})
    df = pd.DataFrame(rows)
    df.insert(0, "run_id", [f"r{i:02d}" for i in range(len(df))])
    df.insert(1, "kind", "supervised")
    return validate_runs(df)


def test_crps_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3))
    y = np.array([0.1, -2.0, 5.0])
    brute = [np.mean(np.abs(x[:, j] - y[j]))
             - 0.5 * np.mean(np.abs(x[:, j][:, None] - x[:, j][None, :])) for j in range(3)]
    assert np.allclose(crps_draws(x, y), brute)
    # A point mass at y scores 0; at distance d it scores d.
    assert crps_draws(np.full((4, 1), 2.0), [2.0])[0] == 0.0
    assert crps_draws(np.full((4, 1), 2.0), [3.5])[0] == pytest.approx(1.5)


def test_overflowed_draws_give_an_infinite_crps_not_a_nan():
    x = np.array([[1.0, 2.0], [np.inf, 2.5], [1.5, 3.0]])
    c = crps_draws(x, [1.2, 2.4])
    assert c[0] == np.inf and np.isfinite(c[1])
    scores, rows = score_draws(x, np.array([1.2, 2.4]), (0.5,))
    assert rows["upper_0.5"][0] == np.inf and rows["lower_0.5"][0] == 1.25
    assert scores["crps"] == np.inf and scores["nonfinite_draws"] == pytest.approx(1 / 6)


def test_interval_score_hand_values():
    # inside: width only; below: width + 2/a * miss; above likewise.
    got = interval_score([1.5, 0.5, 2.5], [1.0] * 3, [2.0] * 3, 0.8)
    assert np.allclose(got, [1.0, 1.0 + 10 * 0.5, 1.0 + 10 * 0.5])


def test_backtest_scores_equal_a_hand_computation():
    """Hand-made posterior (5 draws of E, zero noise): predictive draws are the law at each
    draw, so every score can be computed by hand from the five curves."""
    table = _table()
    E = np.array([1.70, 1.75, 1.80, 1.85, 1.95])
    params = {**{k: np.full(5, v) for k, v in TRUTH.items()}, "E": E, "sigma": np.zeros(5)}
    post = Posterior.from_params("supervised", params, form="chinchilla")

    def fake_fit(train, law, **kw):
        assert len(train) == 24 and law == "supervised" and kw["draws"] == 7
        return post

    import distillaw

    res = distillaw.backtest(table, "top-compute:1", "supervised", draws=7, peers=False,
                             fit_fn=fake_fit, levels=(0.5, 0.9))
    test = table[np.isclose(6 * table["N"] * table["D"], 1e22)].reset_index(drop=True)
    assert res.split.info["n_test"] == len(test) == 6
    y = test["L"].to_numpy()
    curves = np.array([_law(test["N"].to_numpy(), test["D"].to_numpy(), {**TRUTH, "E": e})
                       for e in E])  # (5, 6)
    sc = res.scores["ours"]
    for lev in (0.5, 0.9):
        lo = np.quantile(curves, (1 - lev) / 2, axis=0)
        hi = np.quantile(curves, (1 + lev) / 2, axis=0)
        inside = (y >= lo) & (y <= hi)
        assert sc["coverage"][f"{lev:g}"] == pytest.approx(inside.mean())
        a = 1 - lev
        winkler = (hi - lo) + 2 / a * np.maximum(lo - y, 0) + 2 / a * np.maximum(y - hi, 0)
        assert sc["interval_score"][f"{lev:g}"] == pytest.approx(winkler.mean())
    crps = [np.mean(np.abs(curves[:, j] - y[j]))
            - 0.5 * np.mean(np.abs(curves[:, j][:, None] - curves[:, j][None, :]))
            for j in range(6)]
    assert sc["crps"] == pytest.approx(np.mean(crps))
    med = np.median(curves, axis=0)  # the E = 1.80 curve: the truth
    assert np.allclose(med, _law(test["N"].to_numpy(), test["D"].to_numpy()))
    assert sc["median_abs_log_error"] == pytest.approx(np.median(np.abs(np.log(med / y))))
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["scores"]["ours"]["coverage"]["0.9"] == sc["coverage"]["0.9"]
    assert "peers" not in doc["scores"] and doc["ratios"] == {}


def test_splits_compute_size_group_file_and_errors(tmp_path):
    table = _table()
    s2 = split(table, "top-compute:2")
    c = 6 * s2.test["N"] * s2.test["D"]
    assert len(s2.test) == 12 and np.allclose(sorted(set(np.round(np.log10(c)))), [21, 22])
    assert s2.info["extrapolation_factor_compute"] == pytest.approx(100, rel=1e-6)
    sz = split(table, "top-size:1")
    assert (sz.test["N"] == table["N"].max()).all() and len(sz.test) == 5
    g = validate_runs(table.assign(group=np.where(np.arange(len(table)) < 10, "a", "b")))
    assert len(split(g, "group:a").test) == 10
    # A file: rows in the data are held out, the others are extra test rows.
    extra = table.iloc[[0, 1]].assign(run_id=["new-1", "new-2"])
    pd.concat([table.iloc[[5]], extra]).to_csv(tmp_path / "held.csv", index=False)
    sf = split(table, tmp_path / "held.csv")
    assert sf.info["n_train"] == len(table) - 1 and sf.info["n_test"] == 3
    for bad, msg in (("top-compute:0", "positive integer"), ("group:zzz", "no group"),
                     ("nonsense", "unknown hold-out"), ("top-size:x", "positive integer")):
        with pytest.raises(BacktestError, match=msg):
            split(table, bad)
    with pytest.raises(BacktestError, match="nothing left"):
        split(table, "top-compute:9")


def test_score_draws_rejects_misshapen_draws():
    with pytest.raises(BacktestError, match="draws must be"):
        score_draws(np.ones((3, 2)), np.ones(3))


def test_huber_baseline_recovers_the_law_and_bootstrap_intervals_cover_it():
    from distillaw.baseline import huber_fit

    table = _table(n_per=8, noise=0.003, seed=3)
    # Two of Hoffmann's starts keep the test fast; the grid itself is exercised by the CLI test.
    hf = huber_fit(table, "supervised", form="chinchilla",
                   starts=[[5.0, 5.0, 0.0, 0.5, 0.5], [0.0, 10.0, 0.5, 0.0, 1.0]])
    p = {k: float(v[0]) for k, v in hf.params().items()}
    assert p["E"] == pytest.approx(1.8, rel=0.05)
    assert p["alpha"] == pytest.approx(0.35, abs=0.05)
    boot = hf.bootstrap(40, seed=0)
    draws = boot.loss_draws({"N": [3e9], "D": [6e10]})
    assert draws.shape == (40, 1)
    assert np.std(draws) > 0
    truth = _law(3e9, 6e10)
    assert np.quantile(draws, 0.01) < truth * 1.01 and np.quantile(draws, 0.99) > truth / 1.01


def test_huber_baseline_distillation_uses_the_law_module(jittered_busbridge):
    """Rows simulated from the published Busbridge law are fitted almost exactly (the
    baseline evaluates Eq. 8 through distillaw.laws, with Table 6 supervised coefficients)."""
    from distillaw.baseline import huber_fit

    post = jittered_busbridge(1, 0)
    rng = np.random.default_rng(0)
    NS = np.exp(rng.uniform(np.log(2e8), np.log(3e9), 30))
    DS = NS * np.exp(rng.uniform(np.log(5), np.log(200), 30))
    LT = rng.uniform(1.9, 2.6, 30)
    pts = pd.DataFrame({"N": NS, "D": DS, "L_T": LT})
    L = post.loss_draws(pts)[0]
    table = validate_runs(pts.assign(run_id=[f"d{i}" for i in range(30)], kind="distillation",
                                     L=L))
    from distillaw.laws.distillation import PARAMS
    from distillaw.published import published

    start = np.log([published("busbridge2025").point()[k] for k in PARAMS]) + 0.1
    hf = huber_fit(table, "distillation", form="busbridge", starts=[start])
    assert "Table 6" in hf.sup_source
    resid = hf.predict_log(pts)[0] - np.log(L)
    assert np.max(np.abs(resid)) < 0.01


def test_cli_backtest_real_nuts_json(tmp_path, capsys):
    """One small real NUTS fit end to end through the CLI (peers scored in the next test)."""
    table = _table(n_per=6, noise=0.01, seed=5)
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    rc = main(["backtest", str(path), "--holdout", "top-compute:1", "--form", "chinchilla",
               "--draws", "100", "--tune", "150", "--chains", "2", "--no-peers", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["split"]["n_test"] == 6 and doc["split"]["n_train"] == 24
    cov = doc["scores"]["ours"]["coverage"]
    assert set(cov) == {"0.5", "0.8", "0.9", "0.95"}
    assert cov["0.5"] <= cov["0.8"] <= cov["0.9"] <= cov["0.95"]
    # Well-specified world: our 95% predictive intervals cover most of the held-out runs.
    assert cov["0.95"] >= 0.5
    assert doc["scores"]["ours"]["crps"] > 0 and "peers" not in doc["scores"]


def test_peers_scored_on_the_same_split(monkeypatch):
    """The real Huber + bootstrap path inside backtest() (two starts keep it fast)."""
    import distillaw.baseline as baseline

    monkeypatch.setattr(baseline, "_sup_starts", lambda form, grid: np.array(
        [[5.0, 5.0, 0.5, 0.3, 0.3], [6.0, 8.0, 0.6, 0.4, 0.4]]))
    table = _table(n_per=6, noise=0.01, seed=5)
    params = {**{k: np.full(4, v) for k, v in TRUTH.items()}, "sigma": np.full(4, 0.01)}
    post = Posterior.from_params("supervised", params, form="chinchilla")
    res = backtest(table, "top-compute:1", n_boot=20, fit_fn=lambda train, law, **kw: post)
    peers = res.scores["peers"]
    assert peers["crps"] > 0 and 0 <= peers["coverage"]["0.9"] <= 1
    assert res.ratios()["crps"] == pytest.approx(peers["crps"] / res.scores["ours"]["crps"])
    assert "peers/ours" in res.table()
    assert res.rows["peers"].shape[0] == 6


def test_cli_backtest_bad_input_is_one_line(tmp_path, capsys):
    table = _table()
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    assert main(["backtest", str(path), "--holdout", "group:nope"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error:") and "no group 'nope'" in err
    assert main(["backtest", str(path), "--holdout", "top-compute:1", "--law",
                 "capacity-gap"]) == 2
    assert main(["backtest", str(tmp_path / "missing.csv"), "--holdout", "top-size:1"]) == 2
    assert main(["backtest", str(path), "--holdout", "top-size:1", "--error", "weird",
                 "--no-peers"]) == 2


def test_grouped_peers_fit_each_group_on_its_own(monkeypatch):
    """With group=, the peers' Huber fit runs per group on that group's training rows."""
    import distillaw.baseline as baseline

    table = validate_runs(_table().assign(group=lambda d: np.where(d.index % 2, "a", "b")))
    calls = []

    class FakeBoot:
        def __init__(self, n):
            self.n = n

        def loss_draws(self, pts):
            return np.tile(_law(pts["N"].to_numpy(), pts["D"].to_numpy()), (self.n, 1))

    class FakeHuber:
        sup_source = None

        def bootstrap(self, n, seed=0):
            return FakeBoot(n)

    def fake_huber(train, law, **kw):
        calls.append(sorted(set(train["group"])))
        return FakeHuber()

    monkeypatch.setattr(baseline, "huber_fit", fake_huber)
    params = {**{k: np.full(3, v) for k, v in TRUTH.items()}, "sigma": np.full(3, 0.01)}
    post = Posterior.from_params("supervised", params, form="chinchilla")
    res = backtest(table, "top-compute:1", group="group", n_boot=4,
                   fit_fn=lambda train, law, **kw: post)
    assert sorted(calls) == [["a"], ["b"]]
    # The fake peers predict the truth itself: zero width, so coverage only where exact.
    assert res.scores["peers"]["width"]["0.9"] == 0.0
    assert "one Huber fit per group" in " ".join(res.notes)


def test_budgets_are_found_in_digitised_compute(shared_data):
    from distillaw.discrepancy import budget_clusters
    from distillaw.loaders import load

    # Nine budgets read off a plot with 0.04-decade scatter, and two stray runs above the
    # largest: the top two budgets are its 40 runs and the strays, not the strays alone.
    rng = np.random.default_rng(0)
    nominal = np.log10([6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21])
    lc = np.r_[np.repeat(nominal, 20) + rng.normal(0, 0.04, 180), 21.7, 22.1]
    c = budget_clusters(10 ** lc)
    top2 = np.r_[np.zeros(140, bool), np.ones(40, bool), True, True]
    assert np.array_equal(c < 2, top2)
    assert c.max() == 8  # nine budgets
    # Exact budgets are kept as they are; a table of lone runs keeps one budget per run.
    assert np.array_equal(budget_clusters(np.repeat([1e17, 1e18, 1e19], 4)),
                          np.repeat([2, 1, 0], 4))
    assert np.array_equal(budget_clusters(np.array([1e18, 2e18, 5e18, 1e19])), [3, 2, 1, 0])
    # Epoch's digitised points (the README's backtest): no two runs share a compute value;
    # top-compute:2 holds out its two largest budgets (3e21 and 1e21), 39 runs.
    epoch = load(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv",
                 drop_highest_loss=5)
    s = split(epoch, "top-compute:2")
    comp = 6 * s.test["N"] * s.test["D"]
    assert len(s.test) == 39 and np.log10(comp).min() > 20.8


def test_backtest_says_which_held_out_rows_lie_beyond_the_calibrated_reach():
    """A posterior whose extrapolation calibration scored held-out runs up to some distance:
    the backtest counts the held-out rows farther out, scores the 90% coverage on each side
    and keeps each row's distance (the split's held-out budget lies beyond the fitted
    rows' compute, so its distance is positive)."""
    import xarray as xr

    from distillaw import discrepancy as dc

    table = _table()
    params = {**{k: np.full(5, v) for k, v in TRUTH.items()}, "sigma": np.full(5, 1e-3)}
    post = Posterior.from_params("supervised", params, form="chinchilla")
    train = table[~np.isclose(6 * table["N"] * table["D"], 1e22)].reset_index(drop=True)
    post.idata.add_groups(constant_data=xr.Dataset(
        {k: ("row", train[k].to_numpy()) for k in ("N", "D", "L")}
        | {"kind": ("row", np.array(["supervised"] * len(train)))}))
    test = table[np.isclose(6 * table["N"] * table["D"], 1e22)].reset_index(drop=True)
    rec = dc.calibrate(np.zeros((10, 1)), [0.0], [1.0], [1.0],
                       ({"held_out": 3, "distance_max": 1e-6},)).to_dict()
    post.spec["discrepancy"] = rec
    d = post.discrepancy.distance(post.fitted_rows(), test, "supervised")
    assert np.all(d > 1e-6)
    res = backtest(table, "top-compute:1", peers=False, fit_fn=lambda train, law, **kw: post)
    reach = res.scores["ours"]["calibrated_reach"]
    assert reach["n_beyond"] == reach["n"] == len(test) and reach["distance_max"] == 1e-6
    assert reach["coverage90_within"] is None
    rows = res.rows["ours"]
    inside = (rows["lower_0.9"] <= rows["observed"]) & (rows["observed"] <= rows["upper_0.9"])
    assert reach["coverage90_beyond"] == pytest.approx(inside.mean())
    np.testing.assert_allclose(rows["distance"], d)
    assert any("farther from the fitted rows" in n for n in res.notes)
    # a record from before fold distances were kept: no such score
    rec["folds"] = [{"held_out": 3}]
    post.spec["discrepancy"] = rec
    res = backtest(table, "top-compute:1", peers=False, fit_fn=lambda train, law, **kw: post)
    assert "calibrated_reach" not in res.scores["ours"]
