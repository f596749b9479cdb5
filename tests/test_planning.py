"""Planner: criterion against the conjugate formula, selection, budget, determinism, IO."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillaw.cli.ranges import parse_ranges
from distillaw.data import read_runs
from distillaw.errors import PlanningError, RunTableError
from distillaw.laws.compute import FlopsModel
from distillaw.planning import (
    METHODS,
    Target,
    candidate_grid,
    expected_variance_reduction,
    plan,
    pool_costs,
)
from distillaw.posterior import Posterior
from distillaw.published import published

CHIN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def chinchilla_posterior(S=300, seed=0, sd=0.05, sigma=0.01, nu=None):
    """Draws around Chinchilla's fit, with enough spread that runs are informative."""
    rng = np.random.default_rng(seed)
    p = {"E": CHIN["E"] * np.exp(rng.normal(0, sd, S)),
         "A": CHIN["A"] * np.exp(rng.normal(0, 3 * sd, S)),
         "B": CHIN["B"] * np.exp(rng.normal(0, 3 * sd, S)),
         "alpha": CHIN["alpha"] * np.exp(rng.normal(0, sd / 2, S)),
         "beta": CHIN["beta"] * np.exp(rng.normal(0, sd / 2, S)),
         "sigma": np.full(S, sigma)}
    if nu is not None:
        p["nu"] = np.full(S, nu)
    return Posterior.from_params("supervised", p)


def distillation_posterior(S=200, seed=0, sd=0.02):
    rng = np.random.default_rng(seed)
    point = published("busbridge2025").point()
    p = {k: v * np.exp(rng.normal(0, sd, S)) for k, v in point.items()}
    p["c1"] = np.full(S, point["c1"])  # keep the sharp break where the paper put it
    p["sigma"] = np.full(S, 0.01)
    return Posterior.from_params("distillation", p)


# ----------------------------------------------------------------------------- criterion
def test_importance_estimate_matches_conjugate_linear_gaussian():
    """Linear-Gaussian toy: E[Var(T|y)] is known in closed form; re-weighting draws agrees."""
    rng = np.random.default_rng(3)
    S = 4000
    L = np.array([[1.0, 0, 0], [0.5, 1, 0], [0.2, -0.3, 0.7]])
    Sig = L @ L.T
    theta = rng.standard_normal((S, 3)) @ L.T
    H = np.array([[1.0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0.3, 0.3, 0.3]])
    a = np.array([1.0, 0.5, -0.2])
    sigma = 0.5

    def post_var(rows):
        if not rows:
            return a @ Sig @ a
        Hb = H[list(rows)]
        K = Hb @ Sig @ Hb.T + sigma**2 * np.eye(len(rows))
        return a @ Sig @ a - (a @ Sig @ Hb.T) @ np.linalg.solve(K, Hb @ Sig @ a)

    for batch in [(), (0,), (0, 3)]:
        est = expected_variance_reduction(theta @ H.T, theta @ a, sigma, batch=batch,
                                          n_fantasies=512, seed=1)
        for c in range(len(H)):
            if c in batch:
                continue
            exact = post_var(list(batch)) - post_var(list(batch) + [c])
            assert est[c] == pytest.approx(exact, abs=0.02 + 0.08 * exact), (batch, c)


def test_uninformative_candidate_has_no_gain_and_student_t_works():
    rng = np.random.default_rng(0)
    th = rng.standard_normal(1000)
    g = expected_variance_reduction(np.c_[th, np.zeros_like(th)], th, 0.3, nu=4.0,
                                    n_fantasies=128)
    assert g[0] > 0.5 and abs(g[1]) < 1e-12


# ----------------------------------------------------------------------------- selection
def test_dominant_affordable_candidate_is_picked_first():
    """Draws differ only in the data exponent, arranged so every draw predicts the same loss
    at D_far: runs there tell nothing. The run at the target point is informative and
    affordable; an equally informative big run is over budget."""
    S = 300
    rng = np.random.default_rng(1)
    beta = 0.28 + rng.normal(0, 0.02, S)
    D_far = 1e8
    B = 410.7 * D_far ** (beta - 0.28)  # B / D_far^beta is the same for every draw
    post = Posterior.from_params("supervised", {**CHIN, "beta": beta, "B": B,
                                                "sigma": np.full(S, 0.005)})
    N0, D0 = 3e8, 6e9
    pool = pd.DataFrame({"run_id": ["far-small", "far-big", "target", "too-big"],
                         "kind": "supervised", "N": [1e7, 1e9, N0, 1e10],
                         "D": [D_far, D_far, D0, 2e11], "L": np.nan})
    costs = pool_costs(pool.assign(group="default", N_T=np.nan, D_T=np.nan, L_T=np.nan,
                                   teacher_id=pd.NA))["run"]
    budget = costs[2] * 1.5  # the target-point run fits; the big one does not
    assert costs[3] > budget
    target = pd.DataFrame({"N": [N0], "D": [D0]})
    for criterion in ("importance", "linear"):
        p = plan(post, pool, target=target, k=2, budget=budget, criterion=criterion, draws=S)
        assert p.runs["N"].iloc[0] == N0 and p.runs["D"].iloc[0] == D0
        assert p.runs["expected_gain"].iloc[0] > 0
        # nothing else is worth anything: far runs carry no information
        assert len(p.runs) == 1 or p.runs["expected_gain"].iloc[1] < 1e-3 * p.runs[
            "expected_gain"].iloc[0]


@pytest.mark.parametrize("method", METHODS)
def test_budget_never_exceeded_and_no_duplicates(method):
    post = chinchilla_posterior(S=200)
    pool = candidate_grid(N=np.geomspace(1e7, 3e9, 7), M=[5, 20, 80])
    pool = pd.concat([pool, pool.assign(run_id=pool["run_id"] + "-dup")], ignore_index=True)
    costs = pool_costs(pool)["run"]
    for budget in (costs.min() * 0.5, costs.min() * 3, np.median(costs) * 2, costs.sum() * 2):
        p = plan(post, pool, target="allocation", alloc_budget=1e23, k=25, budget=budget,
                 method=method, draws=200, n_fantasies=32)
        assert p.total_cost <= budget
        assert p.runs["cost"].sum() == pytest.approx(p.total_cost)
        cfg = list(zip(p.runs["N"], p.runs["D"], strict=True))
        assert len(cfg) == len(set(cfg))
        assert len(p.runs) <= 25
        if budget < costs.min():
            assert len(p.runs) == 0


def test_shared_new_teacher_paid_once():
    post = distillation_posterior()
    fm = FlopsModel.plain()
    pool = candidate_grid(N=[1e8, 2e8], M=[20], N_T=[1e9], M_T=[20])
    c = pool_costs(pool, fm)
    both = c["run"].sum() + c["teacher"][0]  # one teacher for both students
    p = plan(post, pool, target="teacher", student=1.5e8, k=2, budget=both * 1.0001,
             cost=fm, method="random", seed=3)
    assert len(p.runs) == 2
    assert p.total_cost == pytest.approx(both)
    assert p.runs["teacher_id"].nunique() == 1
    first = p.runs.iloc[0]
    assert first["cost"] == pytest.approx(first["flops"] + c["teacher"][0])
    assert p.runs.iloc[1]["cost"] == pytest.approx(p.runs.iloc[1]["flops"])
    # with only the first run's full price affordable, the second cannot be added
    p1 = plan(post, pool, target="teacher", student=1.5e8, k=2,
              budget=c["run"].max() + c["teacher"][0], cost=fm, method="random", seed=3)
    assert len(p1.runs) == 1


def test_active_distillation_plan_with_teacher_target():
    post = distillation_posterior(S=150)
    pool = candidate_grid(N=[1e8, 3e8], M=[20, 80], N_T=[3e8, 1e9, 3e9], M_T=[20],
                          kind="both")
    p = plan(post, pool, target="teacher", student=3e8, k=3, budget=1e21, draws=150,
             n_fantasies=32)
    assert 1 <= len(p.runs) <= 3
    assert p.target["kind"] == "teacher"
    dist = p.runs[p.runs["kind"] == "distillation"]
    assert dist["N_T"].notna().all() and dist["teacher_id"].notna().all()
    assert (p.runs["predicted_lower"] <= p.runs["predicted_median"]).all()
    assert (p.runs["predicted_median"] <= p.runs["predicted_upper"]).all()


def test_same_seed_same_plan_and_roundtrip(tmp_path):
    post = chinchilla_posterior(S=200, nu=5.0)
    pool = candidate_grid(N=np.geomspace(1e7, 1e9, 5), M=[10, 40])
    kw = dict(target="allocation", alloc_budget=1e22, k=3, budget=5e19, draws=150,
              n_fantasies=32)
    for method in METHODS:
        a = plan(post, pool, seed=7, method=method, **kw)
        b = plan(post, pool, seed=7, method=method, **kw)
        pd.testing.assert_frame_equal(a.runs, b.runs)
    path = a.to_csv(tmp_path / "plan.csv")
    back = read_runs(path, require_loss=False)
    assert list(back["run_id"]) == list(a.runs["run_id"])
    assert back["L"].isna().all()
    for col in ("predicted_median", "expected_gain", "cost", "flops", "N", "D"):
        np.testing.assert_allclose(pd.to_numeric(back[col]).to_numpy(float),
                                   a.runs[col].to_numpy(float), rtol=1e-12)
    assert set(a.to_dict()) >= {"method", "runs", "target", "total_cost"}


def test_log_grid_spreads_out():
    post = chinchilla_posterior(S=50)
    pool = candidate_grid(N=np.geomspace(1e7, 1e9, 5), M=[5, 20, 80])
    p = plan(post, pool, target="allocation", alloc_budget=1e22, k=3, budget=1e30,
             method="log-grid", draws=50, n_fantasies=8)
    first, second = p.runs.iloc[0], p.runs.iloc[1]
    assert first["N"] == 1e7 and first["D"] == 5e7  # cheapest first
    assert second["N"] == pytest.approx(1e9) and second["D"] == pytest.approx(8e10)


def test_target_object_and_points_target():
    post = chinchilla_posterior(S=100)
    pool = candidate_grid(N=[1e8, 1e9], M=[20])
    pts = pd.DataFrame({"N": [1e10, 3e10], "D": [2e11, 6e11]})
    p = plan(post, pool, target=pts, k=1, budget=1e25, draws=100, n_fantasies=16)
    assert p.target["n_points"] == 2
    bad = Target("points", np.zeros((3, 1)), "wrong length")
    with pytest.raises(PlanningError, match="line up"):
        plan(post, pool, target=bad, k=1, budget=1e25, draws=100)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_typed_errors(tmp_path):
    post = chinchilla_posterior(S=20)
    pool = candidate_grid(N=[1e8], M=[20])
    kw = dict(target="allocation", alloc_budget=1e22, draws=20)
    with pytest.raises(PlanningError, match="k must be"):
        plan(post, pool, k=0, budget=1e20, **kw)
    with pytest.raises(PlanningError, match="budget"):
        plan(post, pool, k=1, budget=-1.0, **kw)
    with pytest.raises(PlanningError, match="unknown method"):
        plan(post, pool, k=1, budget=1e20, method="magic", **kw)
    with pytest.raises(PlanningError, match="alloc_budget"):
        plan(post, pool, k=1, budget=1e20, target="allocation")
    with pytest.raises(PlanningError, match="unknown target"):
        plan(post, pool, k=1, budget=1e20, target="nonsense")
    with pytest.raises(PlanningError, match="distillation posterior"):
        plan(post, pool, k=1, budget=1e20, target="teacher", student=1e8)
    dist_pool = candidate_grid(N=[1e8], M=[20], N_T=[1e9], M_T=[20])
    with pytest.raises(PlanningError, match="supervised law"):
        plan(post, dist_pool, k=1, budget=1e20, **kw)
    no_noise = Posterior.from_params("supervised", CHIN)
    with pytest.raises(PlanningError, match="sigma"):
        plan(no_noise, pool, k=1, budget=1e20, **kw)
    f = tmp_path / "pool.csv"
    f.write_text("run_id,kind,N,D,L\na,supervised,1e8,2e9,\nb,supervised,1e8,x,\n")
    with pytest.raises(RunTableError) as e:
        plan(post, f, k=1, budget=1e20, **kw)
    assert "pool.csv" in str(e.value) and "row 2" in str(e.value) and "'D'" in str(e.value)
    f.write_text("run_id,kind,N,D,L\na,supervised,1e8,2e9,3.1\n")
    with pytest.raises(RunTableError, match="L must be empty"):
        plan(post, f, k=1, budget=1e20, **kw)


def test_parse_ranges():
    kw = parse_ranges("N=1e8:1e10:3; M=20,80 N_T=1e9 M_T=20; teacher_ratio=1:50; kind=both")
    assert kw["N"] == pytest.approx([1e8, 1e9, 1e10])
    assert kw["teacher_ratio"] == (1.0, 50.0) and kw["kind"] == "both"
    pool = candidate_grid(**kw)
    assert set(pool["kind"]) == {"supervised", "distillation"}
    for bad, msg in [("", "empty"), ("M=20", "N .* required"), ("N=1e8:1e7:3; M=1", "lo <= hi"),
                     ("N=abc; M=1", "not a number"), ("Q=1", "unknown key"),
                     ("N=1e8 N=1e9 M=1", "twice"), ("N=1e8", "exactly one of D")]:
        with pytest.raises(PlanningError, match=msg):
            candidate_grid(**parse_ranges(bad))


def test_allocation_target_uses_decision_allocate():
    from distillaw.decision import allocate

    post = distillation_posterior(S=80)
    pool = candidate_grid(N=[1e8, 3e8], M=[20], N_T=[3e8, 1e9], M_T=[20], kind="both")
    p = plan(post, pool, target="allocation", alloc_budget=1e22, student=3e8,
             scenario="teacher-inference", k=2, budget=1e21, draws=80, n_fantasies=16)
    a = allocate(post, 1e22, student=3e8, scenario="teacher-inference", regret=False,
                 frontier=False, max_draws=80)
    assert p.target["kind"] == "allocation"
    assert f"N_T={a.N_T:.3g}" in p.target["description"]
    q = plan(post, pool, target=a, k=2, budget=1e21, draws=80, n_fantasies=16)
    assert q.target["description"] == p.target["description"]
    pd.testing.assert_frame_equal(p.runs, q.runs)


def test_auto_criterion_falls_back_to_linear_when_weights_degenerate():
    # A posterior as wide as a prior and a precise measurement: one run collapses the weights.
    post = chinchilla_posterior(S=200, sd=0.3, sigma=0.002)
    pool = candidate_grid(N=np.geomspace(1e7, 1e9, 4), M=[20])
    kw = dict(target="allocation", alloc_budget=1e22, k=3, budget=1e30, draws=200,
              n_fantasies=32)
    auto = plan(post, pool, **kw)
    assert "linear" in auto.info["criterion_per_run"]
    assert all(("(linear)" in r) == (m == "linear") for r, m in
               zip(auto.runs["reason"], auto.info["criterion_per_run"], strict=True))
    forced = plan(post, pool, criterion="importance", **kw)
    assert set(forced.info["criterion_per_run"]) == {"importance"}
    assert "degenerate" in forced.info["warning"]


def test_hierarchical_posterior_groups():
    from distillaw._compat import import_arviz

    az = import_arviz()
    rng = np.random.default_rng(2)
    S = 60
    post_vars = {k: np.full((1, S), v) for k, v in CHIN.items() if k != "E"}
    post_vars["E"] = np.stack([1.6 + 0.05 * rng.standard_normal(S),
                               1.9 + 0.05 * rng.standard_normal(S)], axis=-1)[None]
    post_vars["sigma"] = np.full((1, S), 0.01)
    idata = az.from_dict(posterior=post_vars, dims={"E": ["group"]},
                         coords={"group": ["g1", "g2"]})
    post = Posterior(idata, {"law": "supervised", "form": "chinchilla"})
    pool = candidate_grid(N=[1e8, 3e8], M=[20])
    pts = pd.DataFrame({"N": [1e10], "D": [2e11]})
    with pytest.raises(PlanningError, match="pass group="):
        plan(post, pool, target=pts, k=1, budget=1e30, draws=S)
    p = plan(post, pool, target=pts, k=2, budget=1e30, draws=S, group="g2", n_fantasies=16)
    assert set(p.runs["group"]) == {"g2"}
    assert p.runs["predicted_median"].min() > 1.9  # g2's floor, not g1's
    with pytest.raises(PlanningError, match="not in the posterior"):
        plan(post, pool.assign(group="g3"), target=pts, k=1, budget=1e30, draws=S, group="g1")


def test_named_target_constructors_match_the_keyword_forms():
    """Target.teacher/.allocation/.points plan exactly what target="teacher"/... plan."""
    post = distillation_posterior(S=80)
    pool = candidate_grid(N=[1e8, 3e8], M=[20], N_T=[3e8, 1e9], M_T=[20], kind="both")
    kw = dict(k=2, budget=1e21, draws=80, n_fantasies=16)
    by_word = plan(post, pool, target="teacher", student=3e8, **kw)
    by_name = plan(post, pool, target=Target.teacher(3e8), **kw)
    pd.testing.assert_frame_equal(by_word.runs, by_name.runs)
    assert by_name.target == by_word.target
    alloc = Target.allocation(budget=1e22, student=3e8, scenario="teacher-inference")
    p = plan(post, pool, target=alloc, **kw)
    q = plan(post, pool, target="allocation", alloc_budget=1e22, student=3e8,
             scenario="teacher-inference", **kw)
    assert p.target == q.target
    pts = pd.DataFrame({"N": [1e9], "D": [2e10], "N_T": [3e9], "D_T": [6e10]})
    assert (plan(post, pool, target=Target.points(pts), **kw).target
            == plan(post, pool, target=pts, **kw).target)
    assert not Target.teacher(3e8).evaluated
    with pytest.raises(PlanningError, match="alloc_budget"):
        Target.allocation(budget=-1.0)
    with pytest.raises(PlanningError, match="no draws"):
        Target.teacher(3e8).summary()


def test_lookahead_buys_the_informative_expensive_run_over_redundant_cheap_ones():
    """Cheap runs at (nearly) one small point confound the floor E with the data term B, so
    repeating them tells little more; one expensive run near the target measures E. Per-FLOP
    greedy fills the budget with the cheap ones; the look-ahead (default) buys the expensive
    run because its batch's total expected gain is larger."""
    S = 400
    rng = np.random.default_rng(0)
    post = Posterior.from_params("supervised", {
        **CHIN, "E": CHIN["E"] * np.exp(rng.normal(0, 0.03, S)),
        "B": CHIN["B"] * np.exp(rng.normal(0, 0.3, S)), "sigma": np.full(S, 0.01)})
    near = np.exp(np.linspace(0, 0.02, 8))
    pool = pd.DataFrame({"run_id": [f"cheap{i}" for i in range(8)] + ["big"],
                         "kind": "supervised", "N": list(1e7 * near) + [3e9],
                         "D": list(2e8 * near) + [6e10], "L": np.nan})
    costs = pool_costs(pool.assign(group="default", N_T=np.nan, D_T=np.nan, L_T=np.nan,
                                   teacher_id=pd.NA))["run"]
    assert costs[:8].max() < 1e-4 * costs[8]
    target = pd.DataFrame({"N": [1e10], "D": [2e11]})
    budget = costs[8] * 1.0001
    for criterion in ("importance", "linear"):
        greedy = plan(post, pool, target=target, k=9, budget=budget, cost_power=1.0,
                      criterion=criterion, draws=S)
        assert (greedy.runs["N"] < 1e8).all()  # cheap runs only
        ahead = plan(post, pool, target=target, k=9, budget=budget, criterion=criterion,
                     draws=S)
        assert (ahead.runs["N"] == 3e9).any()
        la = ahead.info["lookahead"]
        totals = {b["cost_power"]: b["total_gain"] for b in la["batches"]}
        assert totals[la["chosen_cost_power"]] > 1.1 * totals[1.0]


def test_drift_makes_runs_close_to_the_target_in_compute_worth_more():
    """Draws differ only in the floor E, which both candidates measure; with the
    extrapolation drift the one closer to the target in compute is worth more relative to
    the far one, and more so the larger the drift."""
    import xarray as xr

    S = 300
    rng = np.random.default_rng(2)
    post = Posterior.from_params("supervised", {
        **CHIN, "E": CHIN["E"] * np.exp(rng.normal(0, 0.03, S)), "sigma": np.full(S, 0.01)})
    fitted = {"run_id": np.array(["f0"]), "kind": np.array(["supervised"]),
              "N": np.array([1e7]), "D": np.array([2e8]), "L": np.array([3.0])}
    post.idata.add_groups(constant_data=xr.Dataset({k: ("row", v) for k, v in
                                                    fitted.items()}))
    pool = pd.DataFrame({"run_id": ["low", "high"], "kind": "supervised",
                         "N": [3e7, 1e9], "D": [6e8, 2e10], "L": np.nan})
    target = pd.DataFrame({"N": [1e10], "D": [2e11]})
    gains = {}
    for drift in (None, 0.02, 0.05):
        p = plan(post, pool, target=target, k=1, budget=1e30, criterion="linear",
                 cost_power=0.0, draws=S, drift=drift)
        both = [plan(post, pool.iloc[[i]], target=target, k=1, budget=1e30,
                     criterion="linear", cost_power=0.0, draws=S, drift=drift)
                .runs["expected_gain"].iloc[0] for i in (0, 1)]
        gains[drift] = both
        if drift:
            assert p.runs["run_id"].str.endswith("s").all()
            assert p.runs["N"].iloc[0] == 1e9
            assert p.info["drift"]["tau"] == drift
    ratio = {d: g[1] / g[0] for d, g in gains.items()}
    assert ratio[0.05] > 1.1 * ratio[0.02] and ratio[0.02] > 1.5 * ratio[None]
    with pytest.raises(PlanningError, match="drift"):
        plan(post, pool, target=target, k=1, budget=1e30, criterion="importance", drift=0.02)


@pytest.mark.parametrize("criterion", ["importance", "linear"])
def test_heteroscedastic_noise_is_each_runs_own(criterion):
    # The same draws with a noise trend of -2 per decade of compute (error="heteroscedastic":
    # sigma x e^2 per decade cheaper): at the reference compute the noise is sigma, a run
    # four decades cheaper measures with e^8 ~ 3000x the noise and tells next to nothing.
    # The planner must see that run's own noise, not sigma at the reference.
    iid = chinchilla_posterior(S=300, sigma=0.01)
    params = {k: iid.idata.posterior[k].values.ravel() for k in (*CHIN, "sigma")}
    het = Posterior.from_params("supervised", {**params, "sigma_trend": np.full(300, -2.0)},
                                spec={"error": "heteroscedastic"})
    het.model_info = {"reference": {"N": 1e9, "D": 2e10}}
    cheap = candidate_grid(N=[1e7], M=[20])  # 1.2e16 FLOPs: 4 decades below 1.2e20
    near = candidate_grid(N=[1e9], M=[20])  # the reference compute
    kw = dict(target="allocation", alloc_budget=1e22, k=1, budget=1e30, draws=300,
              n_fantasies=64, criterion=criterion, cost_power=0)
    g = {(name, which): plan(post, pool, **kw).runs["expected_gain"].iloc[0]
         for name, post in (("iid", iid), ("het", het))
         for which, pool in (("cheap", cheap), ("near", near))}
    assert g["iid", "cheap"] > 0
    assert g["het", "cheap"] < 0.01 * g["iid", "cheap"]
    # at the reference compute the two models' noise is the same: so is the gain
    assert g["het", "near"] == pytest.approx(g["iid", "near"], rel=1e-6)


def test_mse_criterion_closed_form_and_vectorised_scores():
    """The bias-aware criterion (_MSEState) against closed forms, and its vectorised
    one-candidate scores against the direct formula.

    Target T = theta (variance v); a run measures y = theta + eps (noise n); the law-only
    fit moves T by G = v / (v + n) per unit of y - mu. A misfit delta (variance k) that the
    run shares with the target leaves error k (1 - G)^2; one the run does not share adds
    G^2 k on top of the target's own k."""
    from distillaw.planning.criteria import _LinearState, _MSEState

    rng = np.random.default_rng(0)
    theta = rng.standard_normal(20000)
    v = float(np.var(theta, ddof=1))
    n, k = 0.5, 0.2
    G = v / (v + n)
    for shared, expect in ((True, v * n / (v + n) + k * (1 - G) ** 2),
                           (False, v * n / (v + n) + k * G ** 2 + k)):
        K = np.array([[k, k if shared else 0.0], [k if shared else 0.0, k]])
        st = _MSEState(theta[:, None], theta[:, None], n, [[0]], K)
        assert st.var0 == pytest.approx(v + k, rel=1e-12)
        gain = st.scores(np.array([0]))[0]
        st.update(0)
        assert st.current == pytest.approx(expect, rel=1e-9)
        assert gain == pytest.approx(v + k - expect, rel=1e-9)

    # Several targets and observables, a new teacher's run with two observables: the
    # vectorised rank-one scores equal the direct formula at every greedy step; without a
    # discrepancy the criterion is Gaussian conditioning (_LinearState) exactly.
    S, P, O = 500, 3, 8
    th = rng.standard_normal((S, 4))
    mu, T = th @ rng.standard_normal((4, O)), th @ rng.standard_normal((4, P))
    A = rng.standard_normal((P + O, P + O))
    cand = [[i] for i in range(O - 1)] + [[O - 2, O - 1]]
    for K in (0.1 * A @ A.T, np.zeros((P + O, P + O))):
        st = _MSEState(mu, T, 0.1, cand, K)
        lin = _LinearState(mu, T, 0.1, cand)
        for _ in range(4):
            sc = st.scores(np.arange(len(cand)))
            direct = [st.current - st._mse(st.observed + [o for o in cand[c]
                                                          if o not in st.observed])[0]
                      for c in range(len(cand))]
            np.testing.assert_allclose(sc, direct, atol=1e-12)
            if not K.any():
                np.testing.assert_allclose(sc, lin.scores(np.arange(len(cand))), atol=1e-12)
            c = int(np.argmax(sc))
            st.update(c)
            lin.update(c)


def test_default_criterion_is_bias_aware_for_a_fitted_posterior():
    """With fitted rows (a compute frontier) the default scores by expected squared error
    with the law's misfit (criterion 'mse'): a run close to the target is worth more,
    relative to a cheap run in the far corner (tiny D, where the draws disagree most),
    than the exact law says; without fitted rows the default is unchanged."""
    import xarray as xr

    S = 400
    rng = np.random.default_rng(2)
    post = Posterior.from_params("supervised", {
        **CHIN, "E": CHIN["E"] * np.exp(rng.normal(0, 0.03, S)),
        "B": CHIN["B"] * np.exp(rng.normal(0, 0.3, S)),
        "beta": CHIN["beta"] * np.exp(rng.normal(0, 0.05, S)), "sigma": np.full(S, 0.01)})
    bare = Posterior.from_params("supervised", {k: v for k, v in post.param_draws().items()}
                                 | {"sigma": np.full(S, 0.01)})
    # f2 lies more than 4 length scales from every target and candidate: it cannot pin
    # the misfit surface there and is left out of its solve (surface_rows).
    fitted = {"run_id": np.array(["f0", "f1", "f2"]), "kind": np.array(["supervised"] * 3),
              "N": np.array([1e7, 3e7, 1e2]), "D": np.array([2e8, 6e8, 1e3]),
              "L": np.array([3.0, 2.8, 9.0])}
    post.idata.add_groups(constant_data=xr.Dataset({k: ("row", v) for k, v in
                                                    fitted.items()}))
    pool = pd.DataFrame({"run_id": ["far", "near"], "kind": "supervised",
                         "N": [1e9, 1e9], "D": [3e7, 2e10], "L": np.nan})
    target = pd.DataFrame({"N": [1e10], "D": [2e11]})

    def gains(p, **kw):
        return [plan(p, pool.iloc[[i]], target=target, k=1, budget=1e30, cost_power=0.0,
                     draws=S, **kw).runs["expected_gain"].iloc[0] for i in (0, 1)]

    exact = gains(post, criterion="linear", drift=None)
    default = gains(post)
    assert default[1] / default[0] > 1.3 * exact[1] / exact[0]
    p = plan(post, pool, target=target, k=2, budget=1e30, draws=S, cost_power=0.0)
    assert set(p.info["criterion_per_run"]) == {"mse"}
    assert p.info["drift"]["surface_eta"] == pytest.approx(0.02)
    assert p.info["drift"]["surface_rows"] == 2
    ahead = plan(post, pool, target=target, k=2, budget=1e30, draws=S)  # cost powers
    assert ahead.info["lookahead"]["scored_by"] == "mse"
    assert p.runs["N"].iloc[0] == 1e9 and p.runs["D"].iloc[0] == 2e10
    assert "warning" not in p.info
    # A run whose only news is a misfit the target does not share (tiny N, huge D): after
    # the near run it would raise the expected error, so the plan stops and says why.
    odd = pool.assign(N=[1e7, 1e9], D=[1e11, 2e10])
    s = plan(post, odd, target=target, k=2, budget=1e30, draws=S, cost_power=0.0)
    assert len(s.runs) == 1 and s.runs["N"].iloc[0] == 1e9
    assert "lowers the expected squared error" in s.info["warning"]
    q = plan(bare, pool, target=target, k=2, budget=1e30, draws=S)
    assert "mse" not in q.info["criterion_per_run"]
    with pytest.raises(PlanningError, match="mse"):
        plan(bare, pool, target=target, k=1, budget=1e30, draws=S, criterion="mse")
