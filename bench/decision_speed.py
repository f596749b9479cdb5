"""Speed of the allocation search: vectorised scoring on draws vs a per-draw SLSQP loop.

Four comparisons, one posterior (4000 draws around Busbridge et al.'s Table 6 coefficients,
2% log-normal jitter), budget 1e21 FLOPs, 1B student, teacher pretraining + inference:

A. *Scoring*: 4000 draws x 10,000 candidate allocations, scored with the mean and CVaR-90%
   risk. (i) The search's own coarse grid on the budget surface
   (``distillaw.decision.budget_surface``: 100 teacher training computes x 100 teacher
   sizes, D_S from the budget), in the teacher-pretraining scenario, where D_S depends only
   on the teacher's compute so the student-side terms of the law are shared along a row,
   and in teacher-pretraining+inference, where they are not; these grids are scored in
   float32 as in the search. (ii) 10,000 arbitrary candidates (``score_allocations``,
   nothing shared), in float64 (its default) and float32. Target: under 1 s on 2 cores.
B. *Optimising every draw*: the paper's method (Busbridge 5.3) solves Eq. 10 per draw with
   SciPy SLSQP (variables log N_T, log D_T, log D_S; the budget as an equality constraint;
   bounds [1e6, 1e17]). We time it on a subset of draws and extrapolate linearly to 4000
   (stated in the output), and compare with ``allocate(..., regret=True)``, which finds the
   risk-optimal allocation *and* every draw's own optimum in one vectorised search. The
   per-draw optima of both are compared on the subset (they must agree).

C. *allocate, this checkout vs a previous revision*, in every compute scenario: the same
   ``allocate(posterior, 1e21, student=1e9, scenario=..., frontier=False)`` (regret on: the
   risk-optimal allocation and every draw's own optimum) run by this checkout's code and by
   ``--baseline-rev`` (default: the commit before the issue-13 speed work), extracted with
   ``git archive`` into a temporary folder. Both run in worker subprocesses, interleaved, best
   of ``--repeat``; the table gives wall and CPU seconds, the ratios, and the largest
   difference between the two implementations' loss draws and per-draw optima (nats). Target:
   under 1 s wall on 2 cores in every scenario, results equal to 1e-9 nats. ``--frontier``:
   the same with the frontiers and the near-optimal set on (``allocate``'s default, and
   what ``distillaw report`` runs).

D. *The law kernel, NumPy vs compiled PyTensor*: the same expression
   (:func:`distillaw.draws.log_loss` on PyTensor variables, i.e. the laws' pytensor form)
   compiled by PyTensor's C and Numba back ends, against the NumPy evaluation the scorer
   uses, on one block of 16 candidates x the draws (float64 and float32), ns per element.

Usage::

    .venv/bin/python bench/decision_speed.py              # default sizes
    .venv/bin/python bench/decision_speed.py --quick      # smaller, for a smoke run
    .venv/bin/python bench/decision_speed.py --threads 1  # single-threaded scoring
    .venv/bin/python bench/decision_speed.py --only C     # just the scenario table
    .venv/bin/python bench/decision_speed.py --proposed-lse
        # what the proposed change to distillaw._xp.lse (log(1 + exp(-|a-b|)) instead of
        # log1p, equal to rounding) would give; patches it in this process only

The machine is shared by other jobs: timings are the best of ``--repeat`` runs and rough.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from distillaw import published
from distillaw.decision import allocate, budget_surface, score_allocations
from distillaw.laws import (
    DEFAULT_FLOPS,
    DISTILLATION_PARAMS,
    SUPERVISED_PARAMS,
    distillation_flops,
    distillation_loss,
    student_tokens_for_budget,
    supervised_loss,
)
from distillaw.posterior import Posterior

SUP = SUPERVISED_PARAMS
DIS = DISTILLATION_PARAMS
C, NS, SCEN = 1e21, 1e9, "teacher-pretraining+inference"
SCENARIOS = ("best-case", "teacher-inference", "teacher-pretraining",
             "teacher-pretraining+inference")
BASELINE_REV = "9e552e8"      # the last commit before the issue-13 decision speed work
ROOT = Path(__file__).resolve().parents[1]


def posterior(S: int, seed: int = 0) -> Posterior:
    rng = np.random.default_rng(seed)
    point = published("busbridge2025").point()
    p = {k: v * np.exp(rng.normal(0, 0.02, S)) for k, v in point.items()}
    p["c1"] = np.full(S, point["c1"])
    return Posterior.from_params("distillation", p)


def candidates(n_side: int) -> pd.DataFrame:
    """n_side x n_side allocations on the budget surface (all feasible)."""
    NT = np.logspace(np.log10(1e8), np.log10(2e10), n_side)
    frac = np.linspace(0.05, 0.85, n_side)             # share of the budget for pretraining
    NT_g, f_g = np.meshgrid(NT, frac, indexing="ij")
    DT = f_g * C / (3 * DEFAULT_FLOPS.forward(NT_g))
    DS = student_tokens_for_budget(C, NS, NT_g, DT, SCEN)
    df = pd.DataFrame({"N_S": NS, "D_S": DS.ravel(), "N_T": NT_g.ravel(), "D_T": DT.ravel()})
    return df[np.isfinite(df["D_S"]) & (df["D_S"] > 1e6)].reset_index(drop=True)


def best_of(fn, repeat: int, cpu: list | None = None):
    """Best wall time of ``repeat`` runs (and, into ``cpu``, the CPU seconds of that run:
    a figure less sensitive to other jobs on a shared machine)."""
    best, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, best_cpu = wall, used
    if cpu is not None:
        cpu.append(best_cpu)
    return best, out


def slsqp_one(p: dict) -> tuple[float, np.ndarray]:
    """The paper's method for one draw: SLSQP on (log N_T, log D_T, log D_S)."""
    sup = {k: p[k] for k in SUP}
    dis = {k: p[k] for k in DIS}
    lo, hi = np.log(1e6), np.log(1e17)

    def loss(x):
        NT, DT, DS = np.exp(x)
        LT = supervised_loss(NT, DT, **sup)
        return float(distillation_loss(NS, DS, LT, supervised_loss(NS, DS, **sup), **dis))

    def budget(x):   # relative budget residual
        NT, DT, DS = np.exp(x)
        return float(distillation_flops(NS, DS, NT, DT, SCEN) / C - 1.0)

    NT0 = NS
    DT0 = 20 * NT0
    DS0 = float(student_tokens_for_budget(C, NS, NT0, DT0, SCEN))
    res = minimize(loss, np.log([NT0, DT0, DS0]), method="SLSQP",
                   bounds=[(lo, hi)] * 3, constraints=[{"type": "eq", "fun": budget}],
                   options={"maxiter": 200, "ftol": 1e-10})
    return res.fun, np.exp(res.x)


def worker(args: list[str]) -> None:
    """``--worker SCENARIO DRAWS THREADS OUT.npz [FRONTIER]``: one timed ``allocate`` (after
    a warm-up call), in whatever distillaw is first on ``sys.path``; prints ``{"wall",
    "cpu"}``. ``FRONTIER`` 1: with the frontiers (``allocate``'s and the report's default)."""
    scen, S, threads, out = args[0], int(args[1]), args[2], args[3]
    frontier = len(args) > 4 and args[4] == "1"
    threads = None if threads == "auto" else int(threads)
    post = posterior(S)
    kw = dict(student=NS, scenario=scen, frontier=frontier, threads=threads)
    allocate(post, C, **kw)
    t0, c0 = time.perf_counter(), time.process_time()
    a = allocate(post, C, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.savez(out, loss=a.loss_draws, own=a.draw_optima["loss"].to_numpy(), score=a.score)
    print(json.dumps({"wall": wall, "cpu": cpu}))


def extract(rev: str, into: str) -> str:
    """``src`` and ``data`` of revision ``rev`` of this repository, under ``into``."""
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src", "data"],
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=arch, check=True)
    return os.path.join(into, "src")


def compare_revisions(a, cores: int) -> None:
    print(f"\nC. allocate (regret on, frontier {'on' if a.frontier else 'off'}), {a.draws} "
          f"draws, budget {C:g}, student "
          f"{NS:g}: this checkout vs revision {a.baseline_rev}; best of {a.repeat}, "
          f"threads={a.threads or 'auto'}, {cores} cores")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base_src = extract(a.baseline_rev, tmp)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"   skipped: cannot extract revision {a.baseline_rev} with git ({e})")
            return
        impls = {"ours": str(ROOT / "src"), "base": base_src}
        print(f"   {'scenario':30s} {'ours wall':>9s} {'base wall':>9s} {'ratio':>6s} "
              f"{'ours CPU':>8s} {'base CPU':>8s} {'ratio':>6s}  max |ours - base| (nats)")
        for scen in SCENARIOS:
            best = {k: {"wall": np.inf, "cpu": np.inf} for k in impls}
            res = {}
            for _ in range(a.repeat):
                for name, src in impls.items():      # interleaved: same load for both
                    out = os.path.join(tmp, f"{name}.npz")
                    env = dict(os.environ, PYTHONPATH=src + os.pathsep + str(ROOT / "bench"))
                    run = subprocess.run(
                        [sys.executable, __file__, "--worker", scen, str(a.draws),
                         str(a.threads or "auto"), out, "1" if a.frontier else "0"],
                        env=env, capture_output=True, text=True)
                    if run.returncode != 0:
                        print(f"   {scen}: the {name} worker failed:\n{run.stderr[-2000:]}")
                        return
                    t = json.loads(run.stdout.strip().splitlines()[-1])
                    for k in ("wall", "cpu"):
                        best[name][k] = min(best[name][k], t[k])
                    res[name] = dict(np.load(out))
            diff = max(float(np.max(np.abs(res["ours"][k] - res["base"][k])))
                       for k in ("loss", "own", "score"))
            o, b = best["ours"], best["base"]
            print(f"   {scen:30s} {o['wall']:8.2f}s {b['wall']:8.2f}s {b['wall'] / o['wall']:5.2f}x "
                  f"{o['cpu']:7.2f}s {b['cpu']:7.2f}s {b['cpu'] / o['cpu']:5.2f}x  {diff:.1e}")


def compiled_kernels(a) -> None:
    import pytensor
    import pytensor.tensor as pt

    from distillaw.decision.draws import _collect_draws, _Params
    from distillaw.draws import log_loss

    _, d = _collect_draws(posterior(a.draws), None, None, None, 0)
    P = _Params(d)
    full = (1, 16, P.S)
    rng = np.random.default_rng(0)
    print(f"\nD. the law on one block {full} (candidates x draws): NumPy vs the same "
          f"expression compiled by PyTensor {pytensor.__version__}; best of 20, ns per element")
    for dt in ("float64", "float32"):
        sup, dis = P.view(None, 2, np.dtype(dt), last=True)
        x = [np.full((1, 16, 1), v, dt) for v in (np.log(NS), np.log(2e10))]
        x += [rng.uniform(20, 23, (1, 16, 1)).astype(dt), np.full((1, 16, 1), np.log(4e10), dt)]
        names = list(sup) + list(dis)
        vals = [np.broadcast_to(v, full) for v in x] + [np.broadcast_to((sup | dis)[k], full)
                                                         for k in names]
        # Dense inputs (materialising them is not timed): the fairest case for compiled code.
        dense = [np.ascontiguousarray(v) for v in vals]
        sym = [pt.tensor(dtype=dt, shape=(None,) * 3) for _ in vals]
        syms = dict(zip(names, sym[4:], strict=True))
        expr = pt.exp(log_loss({k: syms[k] for k in sup}, {k: syms[k] for k in dis}, *sym[:4]))

        def numpy_law(sup=sup, dis=dis, x=x):
            with np.errstate(all="ignore"):
                return np.exp(log_loss(sup, dis, *x))

        want = numpy_law()
        line = f"   {dt}: numpy {best_ns(numpy_law, full):6.1f}"
        for mode in ("FAST_RUN", "NUMBA"):
            t0 = time.perf_counter()
            fn = pytensor.function(sym, expr, mode=mode)
            t_c = time.perf_counter() - t0
            diff = float(np.max(np.abs(fn(*dense) - want)))
            line += (f" | {'C' if mode == 'FAST_RUN' else 'numba'} "
                     f"{best_ns(lambda fn=fn, v=dense: fn(*v), full):6.1f} (compile {t_c:.1f} s, "
                     f"max diff {diff:.0e})")
        print(line)


def best_ns(fn, shape) -> float:
    ts = []
    for _ in range(20):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e9 * min(ts) / np.prod(shape)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=4000)
    ap.add_argument("--side", type=int, default=100, help="candidates = side^2")
    ap.add_argument("--slsqp-draws", type=int, default=100,
                    help="draws actually solved by SLSQP (the rest is extrapolated)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--frontier", action="store_true",
                    help="part C with the frontiers on (allocate's and the report's default)")
    ap.add_argument("--only", choices=("A", "B", "C", "D"), default=None,
                    help="run one section only")
    ap.add_argument("--baseline-rev", default=BASELINE_REV,
                    help="git revision section C compares against")
    ap.add_argument("--proposed-lse", action="store_true",
                    help="patch distillaw's lse with the proposed log(1 + exp(-|d|)) form")
    a = ap.parse_args()
    if a.proposed_lse:
        import distillaw.laws.distillation as law_d
        import distillaw.laws.supervised as law_s

        def lse(x, y, xp=np):
            m = xp.maximum(x, y)
            return m + xp.log(1.0 + xp.exp(-xp.abs(x - y)))

        law_s.lse = law_d.lse = lse
        print("NOTE: running with the PROPOSED lse (not the shipped one)")
    if a.quick:
        a.draws, a.side, a.slsqp_draws, a.repeat = 1000, 50, 20, 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"decision_speed: {a.draws} draws, scenario {SCEN}, budget {C:g} FLOPs, student "
          f"{NS:g}; {cores} CPU cores visible, load average {os.getloadavg()[0]:.1f}")
    if a.only in (None, "C"):
        compare_revisions(a, cores)
        if a.only == "C":
            return
    if a.only == "D":
        compiled_kernels(a)
        return
    post = posterior(a.draws)
    cands = candidates(a.side)

    if a.only in (None, "A"):
        # ---------------------------------------------------------------- A: scoring
        n_side = a.side
        print(f"\nA. scoring {a.draws} draws x {n_side * n_side} candidates "
              f"(= {a.draws * n_side * n_side:.2e} loss evaluations), threads="
              f"{a.threads or 'auto'}")
        for label, fn in (
            ("budget-surface grid, teacher-pretraining",
             lambda risk: budget_surface(post, C, student=NS, scenario="teacher-pretraining",
                                         risk=risk, n_compute=n_side, n_size=n_side,
                                         threads=a.threads)["score"].to_numpy()),
            ("budget-surface grid, teacher-pretraining+inference",
             lambda risk: budget_surface(post, C, student=NS, scenario=SCEN, risk=risk,
                                         n_compute=n_side, n_size=n_side,
                                         threads=a.threads)["score"].to_numpy()),
            ("arbitrary candidates (score_allocations), float64",
             lambda risk: score_allocations(post, cands, risk=risk, threads=a.threads)),
            ("arbitrary candidates (score_allocations), float32",
             lambda risk: score_allocations(post, cands, risk=risk, threads=a.threads,
                                            precision="float32")),
        ):
            for risk in ("mean", "cvar:0.9"):
                cpu: list = []
                t, score = best_of(lambda fn=fn, risk=risk: fn(risk), a.repeat, cpu)
                K = len(score)
                print(f"   {label:58s} {risk:9s} {t:6.2f} s wall "
                      f"({1e9 * t / (a.draws * K):4.0f} ns per draw x candidate), "
                      f"{cpu[0]:6.2f} s CPU")

    if a.only in (None, "B"):
        # ---------------------------------------------------------------- B: per-draw optima
        print(f"\nB. optimising every draw (own optimum per draw), {a.draws} draws")
        t_ours, alloc = best_of(lambda: allocate(post, C, student=NS, scenario=SCEN, frontier=False,
                                                 threads=a.threads), 1)
        print(f"   distillaw allocate(regret=True): {t_ours:6.2f} s for the risk-optimal allocation "
              f"+ all {a.draws} per-draw optima ({alloc.n_evaluations:.2e} loss evaluations)")
        draws = post.param_draws()
        idx = np.linspace(0, a.draws - 1, a.slsqp_draws).astype(int)
        t0 = time.perf_counter()
        sols = [slsqp_one({k: v[i] for k, v in draws.items()}) for i in idx]
        t_sub = time.perf_counter() - t0
        t_slsqp = t_sub * a.draws / len(idx)
        print(f"   SciPy SLSQP per draw:            {t_sub:6.2f} s for {len(idx)} draws "
              f"-> {t_slsqp:6.1f} s extrapolated to {a.draws} draws "
              f"({1e3 * t_sub / len(idx):.1f} ms per draw)")
        print(f"   ratio SLSQP / distillaw:         {t_slsqp / t_ours:6.1f}x")
        ours = alloc.draw_optima["loss"].to_numpy()[idx]
        theirs = np.array([s[0] for s in sols])
        diff = theirs - ours
        print(f"   agreement on the {len(idx)} solved draws: SLSQP minus ours, median "
              f"{np.median(diff):+.2e}, max {diff.max():+.2e}, min {diff.min():+.2e} nats "
              f"(positive = ours found a lower loss)")

    if a.only is None:
        compiled_kernels(a)


if __name__ == "__main__":
    main()
