"""Are the decisions calibrated? Among decisions reported at P(distil beats supervised) = p,
does distillation really win about p of the time, when deciding far beyond the data?

Each simulated world:

1. draws a truth: Busbridge et al.'s Table 6 laws with their coefficients jittered
   (exponents 5%, floor 3%, distillation coefficients 10%, log-normal). Half the worlds
   ("other-form") use a *different law form* for the students than the one fitted: the
   distilled loss is multiplied by ``exp(eps * log10(C / C_max))``, ``|eps|`` in
   [0.005, 0.03] with a random sign, ``C = 6 N_S D_S`` and ``C_max`` the largest fitted
   student compute: a slow drift, barely visible in the fitted range, growing with
   extrapolation;
2. simulates small-scale runs: 8 students (5e7-3e8 parameters, 10 or 40 tokens/param) each
   distilled from 4 teachers (2e8-2e9, 20 tokens/param), plus the teachers' and students'
   supervised runs; 1% log-normal noise;
3. fits the distillation law (small draws) and decides with :func:`distillaw.allocate`
   (teacher-inference scenario, mean risk) at 10x, 30x and 100x the largest fitted compute,
   for students 2x and 5x the largest fitted student;
4. scores each decision against the truth: does the chosen distillation (student, teacher)
   reach a lower true loss than the supervised baseline at the same compute? And against
   what a team would measure: the two runs' true losses times the world's 1% noise.

Prints a reliability table (reported P, the predictive default, binned; mean P, observed
win rate of the measured runs, count), the Brier scores of the predictive P and of the
law-only P against measured and noise-free outcomes, for each error model (``--errors``,
default ``iid``), each fitted once with the extrapolation calibrated
(``fit(..., extrapolation="calibrate")``) and decided twice: with the error model alone and
with the learned extrapolation discrepancy (``iid+calibrated``), so the columns differ by it
alone. A climatology Brier score (always report the overall win rate) is printed for
reference: a useful P must beat it.

Run: ``PYTHONPATH=src .venv/bin/python bench/decision_calibration.py [--worlds 10]
[--draws 200] [--tune 300] [--seed 0]``. The default run takes ~5-10 minutes on 2 cores
(each fit compiles its model).
"""

from __future__ import annotations

import argparse
import inspect
import time
import warnings

import numpy as np

BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0 + 1e-9)
BUDGET_FACTORS = (10.0, 30.0, 100.0)
STUDENT_FACTORS = (2.0, 5.0)


def truth_params(rng: np.random.Generator) -> dict:
    from distillaw.published import published

    p = dict(published("busbridge2025").point())
    for k in ("alpha", "beta", "gamma"):
        p[k] *= float(np.exp(rng.normal(0, 0.05)))
    p["E"] *= float(np.exp(rng.normal(0, 0.03)))
    for k in ("A_prime", "B_prime", "alpha_prime", "beta_prime", "gamma_prime", "c0", "d1"):
        p[k] *= float(np.exp(rng.normal(0, 0.1)))
    return p


def simulate_world(p: dict, eps: float, seed: int):
    """The small-scale table; distilled losses carry the drift factor when ``eps != 0``."""
    from distillaw.data import validate_runs
    from distillaw.simulate import simulate_distillation

    students = [(n, m * n) for n in np.geomspace(5e7, 3e8, 4) for m in (10.0, 40.0)]
    teachers = [(n, 20.0 * n) for n in np.geomspace(2e8, 2e9, 4)]
    df = simulate_distillation(p, students=students, teachers=teachers, sigma=0.01,
                               seed=seed)
    dist = (df["kind"] == "distillation").to_numpy()
    C = 6.0 * df["N"].to_numpy(float) * df["D"].to_numpy(float)
    c_max = float(C[dist].max())
    factor = np.exp(eps * np.log10(C / c_max))
    df.loc[dist, "L"] = df.loc[dist, "L"].to_numpy(float) * factor[dist]
    return validate_runs(df.drop(columns=["L_true"])), c_max, float(df["N"][dist].max())


def true_losses(p: dict, eps: float, c_max: float, a) -> tuple[float, float]:
    """True (noise-free) losses of the chosen distillation and of the supervised baseline."""
    from distillaw.laws.distillation import distillation_loss
    from distillaw.laws.supervised import supervised_loss

    sup = {k: p[k] for k in ("E", "A", "B", "alpha", "beta", "gamma")}
    dis = {k: p[k] for k in ("A_prime", "B_prime", "alpha_prime", "beta_prime",
                             "gamma_prime", "c0", "c1", "f1", "d1")}
    LT = supervised_loss(a.N_T, a.D_T, **sup)
    Lt = supervised_loss(a.N_S, a.D_S, **sup)
    LS = distillation_loss(a.N_S, a.D_S, LT, Lt, **dis)
    LS = LS * np.exp(eps * np.log10(6.0 * a.N_S * a.D_S / c_max))
    L_sup = supervised_loss(a.supervised_N, a.supervised_D, **sup)
    return float(LS), float(L_sup)


def reliability(ps: np.ndarray, wins: np.ndarray) -> list[tuple]:
    rows = []
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        m = (ps >= lo) & (ps < hi)
        if m.any():
            rows.append((lo, min(hi, 1.0), int(m.sum()), float(ps[m].mean()),
                         float(wins[m].mean())))
    return rows


def run_model(error: str | None, args, fit_has_error: bool) -> dict[str, dict]:
    """One fit per world (with the extrapolation calibrated when ``args.calibrate``); the
    decisions are made twice from it: with the error model alone (``"<error>"``) and with
    the learned extrapolation discrepancy (``"<error>+calibrated"``), so the two differ
    only by it."""
    import distillaw as dl
    from distillaw.decision import allocate

    rng = np.random.default_rng(args.seed)
    name = error or "default"
    variants = [name] + ([f"{name}+calibrated"] if args.calibrate else [])
    out = {v: {"p": [], "p_law": [], "win": [], "win_measured": [], "kind": []}
           for v in variants}
    noise = np.random.default_rng([args.seed, 99])
    t0 = time.perf_counter()
    for w in range(args.worlds):
        p = truth_params(rng)
        other = w % 2 == 1
        eps = float(rng.choice([-1, 1]) * rng.uniform(0.005, 0.03)) if other else 0.0
        table, c_max, ns_max = simulate_world(p, eps, seed=args.seed * 1000 + w)
        kw = {"error": error} if fit_has_error else {}
        post = dl.fit(table, "distillation", draws=args.draws, tune=args.tune,
                      chains=args.chains, seed=w, progressbar=False,
                      extrapolation="calibrate" if args.calibrate else "none", **kw)
        posts = {name: post.without_discrepancy()}
        if args.calibrate:
            posts[f"{name}+calibrated"] = post
        for bf in BUDGET_FACTORS:
            for sf in STUDENT_FACTORS:
                # The runs a team would train and measure: the truth times the worlds'
                # 1% log-normal run-to-run noise, drawn independently for the two runs.
                z = noise.normal(0.0, 0.01, 2)
                for v, pv in posts.items():
                    a = allocate(pv, bf * c_max, student=sf * ns_max,
                                 scenario="teacher-inference", max_draws=args.max_draws,
                                 frontier=False, regret=False, seed=w)
                    r = out[v]
                    r["p"].append(a.p_beats_supervised)
                    r["p_law"].append(float(np.mean(a.loss_draws < a.supervised_loss_draws)))
                    LS, L_sup = true_losses(p, eps, c_max, a)
                    r["win"].append(LS < L_sup)
                    r["win_measured"].append(LS * np.exp(z[0]) < L_sup * np.exp(z[1]))
                    r["kind"].append("other-form" if other else "same-form")
        print(f"  [{name}] world {w + 1}/{args.worlds} "
              f"({'other-form' if other else 'same-form'}) done, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return {v: {"p": np.array(r["p"]), "p_law": np.array(r["p_law"]),
                "win": np.array(r["win"], float),
                "win_measured": np.array(r["win_measured"], float),
                "kind": np.array(r["kind"])} for v, r in out.items()}


def report(name: str, res: dict) -> None:
    """Reliability of the reported P (predictive: a measured run's) against measured outcomes,
    then the Brier scores of both P's against both outcomes."""
    ps, wins = res["p"], res["win_measured"]
    brier = float(np.mean((ps - wins) ** 2))
    clim = float(np.mean((wins.mean() - wins) ** 2))
    print(f"\n{name}: {len(ps)} decisions, distillation won {wins.mean():.2f} of them "
          f"(measured runs; {res['win'].mean():.2f} on the noise-free truth)")
    print("  reported P (predictive, the default) against measured outcomes:")
    print(f"  {'reported P':>14s} {'n':>5s} {'mean P':>8s} {'won':>8s}")
    for lo, hi, n, mp, fw in reliability(ps, wins):
        print(f"  [{lo:.1f}, {hi:.1f}) {n:5d} {mp:8.3f} {fw:8.3f}")
    print(f"  Brier score {brier:.4f} (climatology {clim:.4f}; ratio {brier / clim:.2f}"
          if clim > 0 else f"  Brier score {brier:.4f}", end="")
    print(")" if clim > 0 else "")
    for pk, pname in (("p", "P predictive"), ("p_law", "P law only")):
        for wk, wname in (("win_measured", "measured runs"), ("win", "noise-free truth")):
            b = float(np.mean((res[pk] - res[wk]) ** 2))
            print(f"  Brier of {pname:>12s} against {wname:>16s}: {b:.4f}")
    for k in ("same-form", "other-form"):
        m = res["kind"] == k
        if m.any():
            print(f"  {k}: Brier {np.mean((ps[m] - wins[m]) ** 2):.4f} over {int(m.sum())} "
                  f"decisions (won {wins[m].mean():.2f}, mean P {ps[m].mean():.2f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=10)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--max-draws", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--errors", default="iid",
                    help="error models to compare, comma-separated (iid, structured)")
    ap.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                    help="skip the extrapolation calibration (fit(extrapolation='none'))")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")

    from distillaw import fit

    has_error = "error" in inspect.signature(fit).parameters
    models = tuple(args.errors.split(",")) if has_error else (None,)
    if not has_error:
        print("note: this version's fit() has no error= keyword (the structured error model "
              "is not merged yet): running the default (iid-noise) model only; the "
              "structured-vs-iid comparison is skipped")
    t0 = time.perf_counter()
    results = {}
    for m in models:
        results.update(run_model(m, args, has_error))
    for m, res in results.items():
        report(f"error model: {m}", res)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; decisions at "
          f"{', '.join(f'{b:g}x' for b in BUDGET_FACTORS)} the largest fitted compute, "
          f"students {', '.join(f'{s:g}x' for s in STUDENT_FACTORS)} the largest fitted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
