"""Law formulas: published check values, NumPy vs PyTensor agreement, limits."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from distillaw import laws, published
from distillaw.laws.capacity_gap import log_capacity_gap_curve
from distillaw.laws.compute import FlopsModel

BB = published("busbridge2025").point()
SUP = published("busbridge2025").supervised()
DIS = {k: BB[k] for k in laws.distillation.PARAMS}


def test_student_loss_check_value_table7_pair():
    LT = laws.supervised_loss(1.821e9, 20 * 1.821e9, **SUP)
    Lt = laws.supervised_loss(0.546e9, 20 * 0.546e9, **SUP)
    assert LT == pytest.approx(2.2508, abs=5e-5)
    assert Lt == pytest.approx(2.5149, abs=5e-5)
    assert laws.distillation_loss(0.546e9, 20 * 0.546e9, LT, Lt, **DIS) == pytest.approx(
        2.4238, abs=5e-4)


def test_forward_flops_check_value_table13():
    assert laws.forward_flops(1.434e8) == pytest.approx(4.473e8, rel=1e-3)
    # Table 13's "2N+sigma" column for 143M is 0.4471e9; the plain 2N model is 0.2867e9.
    assert FlopsModel.plain().forward(1.434e8) == pytest.approx(2.868e8)
    assert FlopsModel(n_vocab=32168).forward(1.434e8) == pytest.approx(4.459e8, rel=1e-3)


def test_epoch_compute_optimal_exponent():
    ep = published("epoch2024").point()
    a, b = laws.compute_optimal_exponents(ep["alpha"], ep["beta"])
    assert a == pytest.approx(0.513, abs=5e-4)
    assert a + b == pytest.approx(1.0)


def test_compute_optimal_allocation_matches_brute_force():
    ep = published("epoch2024").point()
    C = 5.88e23
    N_opt, D_opt = laws.compute_optimal_allocation(C, A=ep["A"], B=ep["B"], alpha=ep["alpha"],
                                                   beta=ep["beta"])
    N = np.geomspace(1e9, 1e12, 200001)
    L = laws.supervised_loss(N, C / (6 * N), **ep)
    assert N_opt == pytest.approx(N[np.argmin(L)], rel=1e-3)
    assert D_opt / N_opt == pytest.approx(18.4, abs=0.2)  # spec section 3.2 [D]


@pytest.mark.parametrize(("NS", "DS", "LT_star", "LS_star"), [
    (1e9, 2e10, 1.7227, 2.2523), (1e9, 1e12, 1.9827, 2.1366),
    (3e9, 6e10, 1.6377, 2.0791), (1e10, 2e11, 1.5420, 1.9079)])
def test_optimal_teacher_loss_matches_spec_grid(NS, DS, LT_star, LS_star):
    LT, LS = laws.optimal_teacher_loss(NS, DS, BB)
    assert LT == pytest.approx(LT_star, abs=2e-3)
    assert LS == pytest.approx(LS_star, abs=2e-4)


def test_optimal_teacher_loss_vectorised_over_draws_and_points():
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(0.005 * rng.standard_normal(7)) for k, v in BB.items()}
    NS, DS = np.array([1e9, 3e9]), np.array([2e10, 6e10])
    LT, LS = laws.optimal_teacher_loss(NS, DS, draws)
    assert LT.shape == LS.shape == (7, 2)
    for s in range(7):  # each draw/point solved independently
        one = {k: v[s] for k, v in draws.items()}
        lt, ls = laws.optimal_teacher_loss(NS[1], DS[1], one)
        assert LT[s, 1] == pytest.approx(lt, rel=1e-6)
        # and no other teacher loss does better
        grid = np.linspace(0.5 * lt, 1.5 * lt, 2001)
        Lt = laws.supervised_loss(NS[1], DS[1], **{k: one[k] for k in SUP})
        dd = {k: one[k] for k in DIS}
        assert np.min(laws.distillation_loss(NS[1], DS[1], grid, Lt, **dd)) >= ls - 1e-9


def test_distillation_law_limits():
    Lt = laws.supervised_loss(1e9, 2e10, **SUP)
    # infinitely capable student reproduces the teacher
    assert laws.distillation_loss(1e30, 1e40, 2.0, Lt, **DIS) == pytest.approx(2.0, rel=1e-6)
    # a very weak teacher: the student copies it
    assert laws.distillation_loss(1e9, 2e10, 50.0, Lt, **DIS) == pytest.approx(50.0, rel=1e-6)
    # capacity gap: a much stronger teacher is worse than the optimum
    LT_star, LS_star = laws.optimal_teacher_loss(1e9, 2e10, BB)
    assert laws.distillation_loss(1e9, 2e10, 0.8 * LT_star, Lt, **DIS) > LS_star


def test_zhang_line_and_teacher_size_from_law():
    assert laws.optimal_teacher_size(4e8) == pytest.approx(1e9)
    assert laws.optimal_teacher_size(1e9, k=2.0, s=1.1) == pytest.approx(2.0 * 1e9**1.1)
    NT, LT, LS = laws.optimal_teacher_size_from_law(np.array([1e8, 1e9]), np.array([2e9, 2e10]),
                                                    BB, tokens_per_param=20)
    assert np.all(np.diff(NT) > 0)  # optimal teacher grows with the student
    lt_star, _ = laws.optimal_teacher_loss(1e9, 2e10, BB)
    assert LT[1] == pytest.approx(float(lt_star), abs=2e-3)


def test_compute_scenarios():
    NS, DS, NT, DT = 1e9, 2e10, 3e9, 6e10
    F = FlopsModel()
    fS, fT = F.forward(NS), F.forward(NT)
    got = {s: laws.distillation_flops(NS, DS, NT, DT, s) for s in laws.SCENARIOS}
    assert got["best-case"] == pytest.approx(3 * fS * DS)
    assert got["teacher-inference"] == pytest.approx(3 * fS * DS + fT * DS)
    assert got["teacher-pretraining"] == pytest.approx(3 * fS * DS + 3 * fT * DT)
    assert got["teacher-pretraining+inference"] == pytest.approx(3 * fS * DS + fT * (DS + 3 * DT))
    assert laws.supervised_flops(NS, DS, FlopsModel.plain()) == pytest.approx(6 * NS * DS)
    for s in laws.SCENARIOS:  # solving the budget for D_S inverts Eq. 9
        ds = laws.student_tokens_for_budget(got[s], NS, NT, DT, s)
        assert ds == pytest.approx(DS)
    assert np.isnan(laws.student_tokens_for_budget(1e10, NS, NT, DT, "teacher-pretraining"))
    with pytest.raises(ValueError, match="unknown compute scenario"):
        laws.distillation_flops(NS, DS, NT, DT, "free-lunch")


# ---------------------------------------------------------------- NumPy vs PyTensor
def _compile(fn, names):
    syms = [pt.dvector(n) for n in names]
    return pytensor.function(syms, fn(*syms))


def _assert_close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-10, atol=0)


@pytest.mark.parametrize("form", ["chinchilla", "busbridge"])
def test_supervised_numpy_and_pytensor_agree(form):
    rng = np.random.default_rng(1)
    n = 257
    args = dict(N=10 ** rng.uniform(6, 12, n), D=10 ** rng.uniform(7, 13, n),
                E=rng.uniform(0.5, 2.5, n), A=10 ** rng.uniform(1, 4, n),
                B=10 ** rng.uniform(1, 5, n), alpha=rng.uniform(0.1, 0.7, n),
                beta=rng.uniform(0.1, 0.7, n),
                gamma=np.ones(n) if form == "chinchilla" else rng.uniform(0.3, 1.2, n))
    names = list(args)
    f = _compile(lambda *a: laws.supervised_loss(**dict(zip(names, a, strict=True))), names)
    _assert_close(f(*args.values()), laws.supervised_loss(**args))
    g = _compile(lambda *a: laws.log_supervised_loss(
        pt.log(a[0]), pt.log(a[1]), log_E=pt.log(a[2]), log_A=pt.log(a[3]),
        log_B=pt.log(a[4]), alpha=a[5], beta=a[6], gamma=a[7]), names)
    _assert_close(np.exp(g(*args.values())), laws.supervised_loss(**args))


def test_distillation_numpy_and_pytensor_agree():
    rng = np.random.default_rng(2)
    n = 257
    args = dict(N_S=10 ** rng.uniform(7, 11, n), D_S=10 ** rng.uniform(8, 12, n),
                L_T=rng.uniform(1.5, 3.5, n), L_S_tilde=rng.uniform(1.8, 3.5, n),
                A_prime=10 ** rng.uniform(2, 4, n), B_prime=10 ** rng.uniform(3, 5, n),
                alpha_prime=rng.uniform(0.2, 0.5, n), beta_prime=rng.uniform(0.4, 0.8, n),
                gamma_prime=rng.uniform(0.5, 1.0, n), c0=rng.uniform(1, 3, n),
                c1=rng.uniform(1, 600, n), f1=rng.uniform(0.05, 0.5, n),
                d1=rng.uniform(1.1, 1.5, n))
    names = list(args)
    f = _compile(lambda *a: laws.distillation_loss(**dict(zip(names, a, strict=True))), names)
    _assert_close(f(*args.values()), laws.distillation_loss(**args))


def test_capacity_gap_numpy_and_pytensor_agree():
    rng = np.random.default_rng(3)
    n = 101
    vals = dict(log_NT=rng.uniform(15, 25, n), log_NS=rng.uniform(15, 22, n),
                log_k=rng.normal(0.9, 0.3, n), s=rng.uniform(0.8, 1.2, n),
                log_L_min=rng.uniform(0.5, 1.2, n), curvature=rng.uniform(0.001, 0.05, n))
    names = list(vals)
    f = _compile(lambda *a: log_capacity_gap_curve(a[0], a[1], log_k=a[2], s=a[3],
                                                   log_L_min=a[4], curvature=a[5]), names)
    _assert_close(f(*vals.values()), log_capacity_gap_curve(
        vals["log_NT"], vals["log_NS"], log_k=vals["log_k"], s=vals["s"],
        log_L_min=vals["log_L_min"], curvature=vals["curvature"]))
    g = _compile(lambda a, b, c: laws.log_optimal_teacher_size(a, log_k=b, s=c),
                 ["a", "b", "c"])
    _assert_close(g(vals["log_NS"], vals["log_k"], vals["s"]),
                  laws.log_optimal_teacher_size(vals["log_NS"], log_k=vals["log_k"], s=vals["s"]))


def test_law_gradients_finite_in_pytensor():
    """The log-space forms are what PyMC differentiates; gradients must be finite."""
    x = pt.dvector("x")
    y = laws.log_distillation_loss(
        pt.log(1e9), pt.log(2e10), pt.log(x), pt.log(2.4), log_A_prime=np.log(2243.0),
        log_B_prime=np.log(24181.0), alpha_prime=0.321, beta_prime=0.637, gamma_prime=0.764,
        c0=2.549, c1=522.6, f1=0.09, log_d1=np.log(1.315)).sum()
    g = pytensor.function([x], pytensor.grad(y, x))
    vals = g(np.linspace(1.0, 6.0, 101))
    assert np.all(np.isfinite(vals))
