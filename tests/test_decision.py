"""Allocation search: known optima, risk measures, the paper's qualitative findings, budget."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distillaw.decision import (
    Allocation,
    Resolution,
    allocate,
    compare_risks,
    crossover,
    crossover_budget,
    fmt_count,
)
from distillaw.errors import DecisionError, DistillawError, PosteriorError
from distillaw.laws import (
    FlopsModel,
    compute_optimal_allocation,
    distillation_flops,
    distillation_loss,
    forward_flops,
    optimal_teacher_loss,
    student_tokens_for_budget,
    supervised_loss,
)
from distillaw.posterior import Posterior
from distillaw.published import published

SCENARIOS = ("best-case", "teacher-inference", "teacher-pretraining",
             "teacher-pretraining+inference")
SUP = ("E", "A", "B", "alpha", "beta", "gamma")
DIS = ("A_prime", "B_prime", "alpha_prime", "beta_prime", "gamma_prime", "c0", "c1", "f1", "d1")
FAST = dict(regret=False, frontier=False)
COARSE = Resolution().coarse()


@pytest.fixture(scope="module")
def busbridge():
    """Point-mass posterior at the published Table 6 coefficients."""
    return Posterior.from_params("distillation", published("busbridge2025").point())


@pytest.fixture(scope="module")
def jittered(jittered_busbridge):
    """A small multi-draw distillation posterior around the published coefficients."""
    return jittered_busbridge(24, 0)


def _budget_for(N: float, tokens_per_param: float, fm=FlopsModel()) -> float:
    """Budget at which a supervised model of size N sees ``tokens_per_param`` tokens/param."""
    return float(3.0 * forward_flops(N, fm) * tokens_per_param * N)


# ============================================================================ known optima
def test_chinchilla_compute_optimal_follows_the_power_law():
    """Supervised path, Chinchilla form (gamma = 1), 6ND: N* = G (C/6)^(beta/(alpha+beta)).

    The draws differ only in E, A, B, so the expected loss is a Chinchilla law with the mean
    A and B, whose optimum is known in closed form.
    """
    chin = {"E": np.array([1.65, 1.69, 1.75]), "A": np.array([380.0, 406.4, 430.0]),
            "B": np.array([400.0, 410.7, 420.0]), "alpha": 0.34, "beta": 0.28}
    post = Posterior.from_params("supervised", chin)
    assert post.form == "chinchilla"
    budgets = np.array([1e19, 1e21, 1e23, 1e25])
    N = []
    for C in budgets:
        a = allocate(post, C, flops_model=FlopsModel.plain(), regret=False)
        N_true, D_true = compute_optimal_allocation(C, A=chin["A"].mean(), B=chin["B"].mean(),
                                                    alpha=0.34, beta=0.28)
        assert a.N_S == pytest.approx(N_true, rel=0.02)
        assert a.D_S == pytest.approx(D_true, rel=0.02)
        assert 6 * a.N_S * a.D_S == pytest.approx(C, rel=1e-9)
        assert a.kind == "supervised" and a.recommendation == "supervised"
        N.append(a.N_S)
    slope = np.polyfit(np.log(budgets), np.log(N), 1)[0]
    assert slope == pytest.approx(0.28 / (0.34 + 0.28), rel=0.02)


def test_best_case_matches_the_teacher_loss_optimum(busbridge):
    """Best case: the teacher is free, so the search must find L_T* of the law itself."""
    point = published("busbridge2025").point()
    a = allocate(busbridge, 1e21, student=1e9, scenario="best-case", tie_tol=0, **FAST)
    LT, LS = optimal_teacher_loss(1e9, a.D_S, point, bounds=(point["E"] + 1e-4, 4.0))
    assert a.L_T == pytest.approx(float(LT), abs=2e-4)
    assert a.loss["median"] == pytest.approx(float(LS), abs=1e-7)
    # With the default tie tolerance the teacher is cheaper and costs at most tie_tol.
    b = allocate(busbridge, 1e21, student=1e9, scenario="best-case", **FAST)
    assert b.flops["teacher_pretraining_uncharged"] < a.flops["teacher_pretraining_uncharged"]
    assert b.score <= a.score + b.tie_tol + 1e-9


def test_supervised_two_draws_mean_and_cvar_pick_their_own_optima():
    """Two equally likely draws: mean -> minimise the average, cvar:0.5 -> minimise the worse."""
    p = {"E": np.array([1.69, 1.75]), "A": np.array([406.4, 406.4]),
         "B": np.array([410.7, 410.7]), "alpha": np.array([0.34, 0.26]),
         "beta": np.array([0.28, 0.36])}
    post = Posterior.from_params("supervised", p)
    C = 1e22
    fm = FlopsModel.plain()
    a_mean = allocate(post, C, risk="mean", flops_model=fm)
    a_cvar = allocate(post, C, risk="cvar:0.5", flops_model=fm)
    # the whole feasible range: N and D = C / 6N within [1e6, 1e17]
    N = np.exp(np.linspace(np.log(1e6), np.log(C / 6e6), 40001))
    L = supervised_loss(N[None, :], C / (6 * N[None, :]),
                        **{k: np.asarray(v)[:, None] for k, v in p.items()})
    N_mean = N[np.argmin(L.mean(axis=0))]
    N_max = N[np.argmin(L.max(axis=0))]
    assert a_mean.N_S == pytest.approx(N_mean, rel=0.005)
    assert a_cvar.N_S == pytest.approx(N_max, rel=0.005)
    assert abs(np.log(a_mean.N_S / a_cvar.N_S)) > 0.3     # the two really differ
    assert a_mean.score <= L.mean(axis=0).min() + 1e-9
    assert a_cvar.score <= L.max(axis=0).min() + 1e-9
    # Regret against each draw's own optimum, checked by hand.
    own = L.min(axis=1)
    np.testing.assert_allclose(a_mean.regret_draws, a_mean.loss_draws - own, atol=1e-6)
    assert a_mean.expected_regret > 0


def test_distillation_two_draws_mean_and_cvar_differ_and_are_each_optimal():
    """Two distillation draws (different capacity-gap break d1, c0 and floor E), charged
    teacher: checked against a brute-force grid over (N_T, D_T) with the law functions."""
    point = published("busbridge2025").point()
    second = dict(point, d1=1.20, c0=2.3, E=1.30)
    params = {k: np.array([point[k], second[k]]) for k in point}
    post = Posterior.from_params("distillation", params)
    sc, C, NS = "teacher-pretraining+inference", 1e21, 1e9
    a_mean = allocate(post, C, student=NS, scenario=sc, risk="mean", frontier=False)
    a_cvar = allocate(post, C, student=NS, scenario=sc, risk="cvar:0.5", frontier=False)
    NT = np.exp(np.linspace(np.log(3e8), np.log(1e10), 300))[:, None]
    DT = np.exp(np.linspace(np.log(5e9), np.log(5e11), 300))[None, :]
    DS = student_tokens_for_budget(C, NS, NT, DT, sc)
    L = np.array([distillation_loss(
        NS, DS, supervised_loss(NT, DT, **{k: params[k][s] for k in SUP}),
        supervised_loss(NS, DS, **{k: params[k][s] for k in SUP}),
        **{k: params[k][s] for k in DIS}) for s in range(2)])
    mean_best = np.nanmin(L.mean(axis=0))
    max_best = np.nanmin(L.max(axis=0))
    assert a_mean.score <= mean_best + 1e-6
    assert a_cvar.score <= max_best + 1e-6
    assert a_cvar.score == pytest.approx(a_cvar.loss_draws.max())
    # Each is worse than the other under the other's criterion, by a clear margin.
    assert a_cvar.loss_draws.mean() > a_mean.score + 5e-4
    assert a_mean.loss_draws.max() > a_cvar.score + 1e-3
    assert abs(np.log(a_mean.D_S / a_cvar.D_S)) > 0.1
    for a in (a_mean, a_cvar):
        assert np.all(a.regret_draws >= 0) and a.expected_regret > 0


# ============================================================================ the paper's findings
@pytest.mark.parametrize("scenario", ["teacher-pretraining", "teacher-pretraining+inference"])
def test_supervised_wins_when_teacher_pretraining_is_charged(busbridge, scenario):
    """Busbridge 5.3: with the teacher's training charged, the best distilled student is
    worse than supervised training of the same student, until they meet at large compute."""
    for NS in (3e8, 1e9, 3e9):
        budgets = [_budget_for(NS, m) for m in (20, 200, 2000)]
        df = crossover(busbridge, budgets, student=NS, scenario=scenario)
        assert (df["adv_median"] < -1e-3).all(), (NS, df["adv_median"].tolist())
        assert (df["p_beats"] == 0).all()
        big = allocate(busbridge, 1e25, student=NS, scenario=scenario,
                       resolution=COARSE, **FAST)
        assert big.recommendation == "supervised"
        assert -0.015 < big.advantage["median"] < 0          # they meet


def test_best_case_distillation_wins_then_supervised_catches_up_later_for_bigger_students(
        busbridge):
    """Best case: distillation wins at modest compute; supervised catches up at a crossover
    that grows with the student size (Busbridge 5.3; Table 6 coefficients)."""
    crossings = {}
    for NS in (1e9, 3e9, 1e10):
        # tie_tol=0: the raw optimum (the crossover is about loss values, not the teacher)
        budgets = np.logspace(20, 25.5, 12)
        df = crossover(busbridge, budgets, student=NS, scenario="best-case", tie_tol=0)
        chinchilla = allocate(busbridge, _budget_for(NS, 20), student=NS, scenario="best-case",
                              resolution=COARSE, **FAST)
        assert chinchilla.recommendation == "distil" and chinchilla.advantage["median"] > 0.01
        crossings[NS] = crossover_budget(df)
        assert crossings[NS] is not None
        # after the crossover supervised stays ahead (the two meet: differences are small)
        after = df[df["budget"] > crossings[NS]]
        assert (after["adv_median"] < 0).all() and (after["adv_median"] > -0.02).all()
    assert crossings[1e9] < crossings[3e9] < crossings[1e10]
    assert 1e21 < crossings[1e9] < 1e23 and crossings[1e10] > 1e23


def test_optimal_teacher_grows_with_the_student_then_plateaus(busbridge):
    """Teacher pretraining + inference at fixed compute: N_T* grows with N_S, then plateaus."""
    NS = np.logspace(8, 10.5, 11)
    NT = np.array([allocate(busbridge, 1e22, student=n, scenario="teacher-pretraining+inference",
                            resolution=COARSE, **FAST).N_T for n in NS])
    assert np.all(np.diff(np.log(NT)) > -0.01)             # non-decreasing
    assert NT[5] / NT[0] > 5                                  # grows with the student ...
    assert NT[-1] / NT[-3] < 1.2                              # ... then plateaus
    assert NT[-1] < NS[-1]                                    # while the student keeps growing


def test_optimal_teacher_over_compute_compute_optimal_then_overtrained(busbridge):
    """Pretraining + inference, 1B student: the teacher is compute-optimal (~20 tokens/param)
    at low compute and overtrained at high compute; its size grows to a bit above the
    student's, then plateaus and shrinks slightly (Busbridge 5.3)."""
    budgets = np.logspace(19, 26, 15)
    df = crossover(busbridge, budgets, student=1e9, scenario="teacher-pretraining+inference")
    ratio = (df["N_T"] / 1e9).to_numpy()
    m_T = (df["D_T"] / df["N_T"]).to_numpy()
    assert np.all((m_T[:3] > 12) & (m_T[:3] < 35))
    assert m_T[-1] > 1000
    peak = int(np.argmax(ratio))
    assert 0 < peak < len(ratio) - 1
    assert np.all(np.diff(ratio[:peak + 1]) > 0)
    assert 1.0 < ratio[peak] < 5.0
    assert np.all(ratio[peak:] > 0.6 * ratio[peak]) and ratio[-1] < ratio[peak]


def test_teacher_inference_raw_optimum_overtrains_teacher_to_the_cap(busbridge):
    """Teacher inference (training free): the raw optimum trains the teacher on the D_T cap."""
    a = allocate(busbridge, 1e21, student=1e9, scenario="teacher-inference", tie_tol=0, **FAST)
    assert a.D_T == pytest.approx(1e17, rel=1e-3)
    assert any("upper bound" in w for w in a.warnings)
    b = allocate(busbridge, 1e21, student=1e9, scenario="teacher-inference", **FAST)
    assert b.D_T < a.D_T and b.score <= a.score + b.tie_tol + 1e-9


# ============================================================================ budget, seeds
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_budget_holds_and_bounds_respected(jittered, scenario):
    C = 3e21
    a = allocate(jittered, C, student=1e9, scenario=scenario, resolution=COARSE,
                 frontier=False)
    assert distillation_flops(a.N_S, a.D_S, a.N_T, a.D_T, scenario) == pytest.approx(C, rel=1e-9)
    assert a.flops["total"] == pytest.approx(C, rel=1e-9)
    parts = a.flops["student_training"] + a.flops["teacher_inference"] + \
        a.flops["teacher_pretraining"]
    assert parts == pytest.approx(C, rel=1e-9)
    for key in ("N_T", "D_T", "D_S"):
        lo, hi = a.bounds[key]
        assert lo * (1 - 1e-9) <= getattr(a, key) <= hi * (1 + 1e-9)
    assert a.loss_draws.shape == (24,) and a.supervised_loss_draws.shape == (24,)
    assert np.all(a.regret_draws >= 0)
    assert 0 <= a.p_optimal <= 1 and 0 <= a.p_beats_supervised <= 1
    json.dumps(a.to_dict(draws=True))


def test_free_student_budget_and_optimality(busbridge):
    C = 1e21
    a = allocate(busbridge, C, scenario="teacher-pretraining+inference", resolution=COARSE,
                 **FAST)
    assert not a.student_fixed
    assert a.flops["total"] == pytest.approx(C, rel=1e-9)
    assert a.D_S / a.N_S >= 1.0 - 1e-6                 # the free student's M_S bound
    for NS in (a.N_S / 3, a.N_S * 3):
        fixed = allocate(busbridge, C, student=NS, scenario="teacher-pretraining+inference",
                         resolution=COARSE, **FAST)
        assert a.score <= fixed.score + 1e-6
    # the supervised alternative is then the compute-optimal supervised model
    sup = allocate(Posterior.from_params("supervised", {k: published("busbridge2025").point()[k]
                                                        for k in SUP}), C, **FAST)
    assert a.supervised_N == pytest.approx(sup.N_S, rel=1e-3)


def test_same_seed_same_allocation_and_thinning():
    S = 60
    rng = np.random.default_rng(3)
    point = published("busbridge2025").point()
    p = {k: v * np.exp(rng.normal(0, 0.02, S)) for k, v in point.items()}
    post = Posterior.from_params("distillation", p)
    kw = dict(student=1e9, scenario="teacher-pretraining", max_draws=20, resolution=COARSE,
              **FAST)
    a1, a2 = allocate(post, 1e21, seed=5, **kw), allocate(post, 1e21, seed=5, **kw)
    assert (a1.N_T, a1.D_T, a1.D_S) == (a2.N_T, a2.D_T, a2.D_S)
    np.testing.assert_array_equal(a1.loss_draws, a2.loss_draws)
    assert a1.n_draws == 20
    a3 = allocate(post, 1e21, seed=6, **kw)
    assert not np.array_equal(a1.loss_draws, a3.loss_draws)   # a different draw subset


def test_point_mass_has_zero_regret(busbridge):
    a = allocate(busbridge, 1e21, student=1e9, scenario="teacher-pretraining", frontier=False)
    assert a.expected_regret < 1e-6 and a.p_optimal == 1.0
    assert a.n_draws == 1


def test_separate_supervised_parameters(busbridge):
    point = published("busbridge2025").point()
    wrong = dict(point, E=1.5, A=5000.0)
    post = Posterior.from_params("distillation", wrong)
    a = allocate(post, 1e21, student=1e9, scenario="teacher-pretraining",
                 supervised=published("busbridge2025"), **FAST)
    b = allocate(busbridge, 1e21, student=1e9, scenario="teacher-pretraining", **FAST)
    assert (a.N_T, a.D_T, a.D_S) == pytest.approx((b.N_T, b.D_T, b.D_S))
    sup_post = Posterior.from_params("supervised", {k: np.full(7, point[k]) for k in SUP})
    c = allocate(post, 1e21, student=1e9, scenario="teacher-pretraining", supervised=sup_post,
                 **FAST)
    assert c.n_draws == 7 and c.N_T == pytest.approx(b.N_T)


def test_frontiers_and_outputs(jittered):
    a = allocate(jittered, 1e21, student=1e9, scenario="best-case", resolution=COARSE)
    ft, fd = a.frontier_teacher, a.frontier_tokens
    assert {"N_T", "D_T", "D_S", "median", "lower", "upper", "chosen"} <= set(ft.columns)
    assert ft["chosen"].sum() == 1 and fd["chosen"].sum() == 1
    assert np.all(ft["lower"].dropna() <= ft["upper"].dropna())
    # the chosen teacher is at the bottom of the (fixed tokens-per-parameter) U-curve
    j = int(np.nanargmin(ft["median"]))
    assert 0 < j < len(ft) - 1
    assert abs(np.log(ft["N_T"].iloc[j] / a.N_T)) < 0.5
    text = a.summary()
    assert "Distil" in text and "P(distillation beats supervised)" in text
    d = a.to_dict()
    json.dumps(d)
    assert d["allocation"]["N_T"] == a.N_T and d["recommendation"] == "distil"
    assert isinstance(a, Allocation) and a.scenario == "best-case"


def test_compare_risks_returns_each_measure(busbridge):
    out = compare_risks(busbridge, 1e21, student=1e9, scenario="teacher-pretraining",
                        resolution=COARSE)
    assert list(out) == ["mean", "quantile:0.9", "cvar:0.9", "mean-sd:1"]
    # a point mass: every measure agrees
    assert len({round(np.log(a.N_T), 3) for a in out.values()}) == 1


# ============================================================================ errors
@pytest.mark.parametrize("kw, words", [
    (dict(budget=-1e21), "positive"), (dict(budget=float("nan")), "positive"),
    (dict(budget="lots"), "number of FLOPs"), (dict(scenario="free-lunch"), "scenario"),
    (dict(risk="cvar:2"), "CVaR level"), (dict(risk="worst"), "unknown risk"),
    (dict(student=-5), "student size"), (dict(bounds={"N_X": (1, 2)}), "unknown bound"),
    (dict(bounds={"N_T": (1e9, 1e8)}), "low < high"), (dict(max_draws=0), "max_draws"),
])
def test_bad_requests_raise_decision_errors(busbridge, kw, words):
    args = dict(budget=1e21, student=1e9, scenario="best-case", risk="mean")
    args.update(kw)
    budget = args.pop("budget")
    with pytest.raises(DecisionError) as info:
        allocate(busbridge, budget, **args, **FAST)
    assert words in str(info.value)


def test_infeasible_budget_and_wrong_posterior(busbridge):
    with pytest.raises(DecisionError, match="no feasible allocation"):
        allocate(busbridge, 1e10, student=1e9, scenario="teacher-pretraining", **FAST)
    cg = Posterior.from_params("capacity-gap", {"k": 2.5, "s": 1.0})
    with pytest.raises(DistillawError):
        allocate(cg, 1e21, student=1e9, **FAST)
    with pytest.raises((DecisionError, PosteriorError)):
        allocate(busbridge, 1e21, student=1e9, supervised={"E": 1.2}, **FAST)


def test_fmt_count():
    assert fmt_count(999_999_999.9) == "1B"
    assert fmt_count(2.1e9) == "2.1B" and fmt_count(4.8e10, "tokens") == "48B tokens"
    assert fmt_count(1.5e13) == "15T" and fmt_count(None) == "n/a"


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("fm", [FlopsModel(), FlopsModel.plain()])
def test_search_budget_surface_matches_the_compute_law(scenario, fm):
    """The search's D_S (Eq. 9 solved with the teacher's pretraining FLOPs) is the laws' one."""
    from distillaw.decision import DEFAULT_BOUNDS
    from distillaw.decision.geometry import _Surface

    rng = np.random.default_rng(0)
    C = 1e22
    surf = _Surface(C, scenario, fm, DEFAULT_BOUNDS)
    lNS = np.log(rng.uniform(1e8, 1e10, 50))
    u = np.log(rng.uniform(1e8, 1e10, 50))
    lDT = np.log(rng.uniform(1e9, 1e11, 50))
    t = np.log(3 * fm.forward(np.exp(u))) + lDT
    ours = np.exp(surf.lDS(lNS, t, u))
    ref = student_tokens_for_budget(C, np.exp(lNS), np.exp(u), np.exp(lDT), scenario, fm)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(surf.finv(surf.logF(u)), u, atol=1e-10)


# ============================================================================ fragility (issue 15)
def _published_point():
    return Posterior.from_params("distillation", published("busbridge2025").point())


def test_flat_ridge_is_reported_as_ranges_with_a_warning():
    """Teacher inference with the published law: the teacher's tokens are a flat ridge (any
    D_T from tens of T up to the cap scores within 0.001 nats); the result says so."""
    a = allocate(_published_point(), 1e21, student=1e9, scenario="teacher-inference",
                 regret=False, frontier=False)
    near = a.to_dict()["near_optimal"]
    lo, hi = near["ranges"]["D_T"]
    assert lo <= a.D_T <= hi and hi / lo > 100
    assert near["tol_nats"] == a.optimal_tol
    assert "D_T upper" in near["reaches_bound"]
    ridge = [w for w in a.warnings if w.startswith("flat ridge")]
    assert len(ridge) == 1 and "D_T" in ridge[0] and "N_T" not in ridge[0]
    assert any("near-optimal set reaches the search bound of D_T upper" in w
               for w in a.warnings)
    # A tighter tolerance gives a narrower (nested) set.
    b = allocate(_published_point(), 1e21, student=1e9, scenario="teacher-inference",
                 regret=False, frontier=False, optimal_tol=1e-6)
    blo, bhi = b.near_optimal["ranges"]["D_T"]
    assert bhi / blo < hi / lo


def test_sharp_optimum_has_narrow_ranges_and_no_ridge_warning():
    a = allocate(_published_point(), 1e21, student=1e9, scenario="teacher-pretraining",
                 regret=False, frontier=False)
    r = a.near_optimal["ranges"]
    for key, val in (("N_T", a.N_T), ("D_T", a.D_T), ("D_S", a.D_S)):
        assert r[key][0] <= val * (1 + 1e-9) and r[key][1] >= val * (1 - 1e-9)
        assert r[key][1] / r[key][0] < 2.0
    assert not any("flat ridge" in w or "near-optimal" in w for w in a.warnings)


def test_supervised_allocation_reports_its_near_optimal_sizes():
    chin = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    a = allocate(Posterior.from_params("supervised", chin), 5.88e23,
                 flops_model=FlopsModel.plain(), regret=False, frontier=False)
    lo, hi = a.near_optimal["ranges"]["N_S"]
    assert lo < a.N_S < hi and hi / lo < 2.0
    fixed = allocate(Posterior.from_params("supervised", chin), 5.88e23, student=1e10,
                     flops_model=FlopsModel.plain(), regret=False, frontier=False)
    assert fixed.near_optimal is None and fixed.to_dict()["near_optimal"] is None


def test_near_optimal_can_be_skipped():
    a = allocate(_published_point(), 1e21, student=1e9, scenario="teacher-inference",
                 regret=False, frontier=False, near_optimal=False)
    assert a.near_optimal is None and not any("flat ridge" in w for w in a.warnings)


def test_separately_fitted_draws_are_paired_as_whole_draws():
    """Draws of a separate supervised posterior of another length are resampled with one
    index for all its parameters: each parameter's joint draw survives the pairing
    (independent indices per parameter would break E-A-alpha correlations)."""
    from distillaw.decision.draws import _collect_draws

    rng = np.random.default_rng(0)
    dist = {k: np.full(50, v) for k, v in published("busbridge2025").point().items()}
    z = rng.standard_normal(30)
    sup = {"E": 1.7 + 0.05 * z, "A": 400 * np.exp(0.2 * z), "B": np.full(30, 2000.0),
           "alpha": 0.34 + 0.01 * z, "beta": np.full(30, 0.37)}
    _, d = _collect_draws(dist, sup, None, None, 0)
    assert d["E"].size == 50
    # every resampled draw is one of the supervised draws, whole
    zE = (d["E"] - 1.7) / 0.05
    np.testing.assert_allclose(np.log(d["A"] / 400) / 0.2, zE, atol=1e-9)
    np.testing.assert_allclose((d["alpha"] - 0.34) / 0.01, zE, atol=1e-9)
