"""``make demo``: the whole loop on the embedded default data, in a few minutes on 2 cores.

fit -> allocation report -> plan the next batch -> run it -> append -> refit -> how much the
decision's interval narrowed.

The loop runs in the world of the tiny CPU runner (``distillaw.runner`` on its synthetic
order-2 Markov source), because a planned experiment is only worth planning if the demo can
then run it: the starting table is ``shipped_runner_world()`` (simulated from a law
calibrated to measured runner runs, 39 rows); the planned runs are trained for real by the
runner, or, when torch is absent, simulated from that same calibrated truth (and the demo
says so). The Busbridge-scale posteriors shipped in ``models/`` are made by
``--refit-models`` (``make models``).

Run: ``python -m distillaw.demo [--out out/demo] [--fast]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import simulate
from ._io import atomic_write_bytes
from .data import append_runs, read_runs, write_runs
from .draws import interval
from .errors import DistillawError

#: Where ``--refit-models`` writes; the README's report example reads from here.
MODELS = {"supervised": "supervised", "distillation": "distillation"}


def _say(msg: str) -> None:
    print(msg, flush=True)


def refit_models(out_dir: str | os.PathLike = "models", *, draws: int | None = None,
                 tune: int = 2000,
                 chains: int = 4, seed: int = 0, progressbar: bool = True) -> list[Path]:
    """Fit the shipped simulated sets and save ``models/supervised`` and ``models/distillation``.

    Each folder holds ``posterior.nc``, ``card.json`` and ``card.md``. Draws per chain
    (``draws=None``): 2000 for the supervised set (1000 left its tail ESS at 219 < 400),
    1000 for the distillation set (with the pointwise log-likelihood stored for
    ``distillaw compare``, 2000 made it a 7.5 MB file in the repository). Fails (DiagnosticsError)
    rather than ship a posterior with divergences or poor r_hat/ESS.
    """
    from .sampling import fit

    out = Path(out_dir)
    written = []
    # target_accept 0.9 for distillation: at the default 0.8 the 135-row fit had 14
    # divergences in 8000 draws, at 0.9 none (measured; the Eq. 8 posterior has curved tails).
    sets = {"supervised": (simulate.shipped_supervised(), "supervised", None, 2000),
            "distillation": (simulate.shipped_distillation(), "distillation", 0.9, 1000)}
    for name, (table, law, target_accept, n_draws) in sets.items():
        _say(f"fitting {law} law to the shipped simulated set ({len(table)} rows)...")
        # The shipped posteriors are the iid model (regenerable set compared by the tests);
        # the structured error model is fitted explicitly with error="structured".
        # Extrapolation calibrated on both (the supervised set's 40 rows are below "auto"'s
        # threshold, but its 8 sizes x 5 ratios leave enough budgets to hold the largest out).
        post = fit(table, law, error="iid", draws=draws or n_draws, tune=tune, chains=chains,
                   seed=seed,
                   progressbar=progressbar, target_accept=target_accept,
                   extrapolation="calibrate",
                   name=f"{name} (shipped simulated data, Busbridge Table 6 truth)")
        post.check()
        written.append(post.save(out / MODELS[name]))
        _say(f"  saved {out / MODELS[name]}")
    return written


# The demo's decision (runner scale): a 1e4-parameter student is fixed by deployment; a teacher
# of at most 1e5 parameters on at most 5e5 tokens can be had for free (pretraining paid), its
# logits are charged (``teacher-inference``); 3e11 FLOPs in all. Measured on the shipped
# set, this is a decision the posterior is unsure about (P(distil beats supervised) ~ 0.75)
# with an interior optimal teacher, so new runs can change it.
BUDGET = 3e11
STUDENT = 1e4
SCENARIO = "teacher-inference"
BOUNDS = {"N_S": (2e3, 1e5), "N_T": (2e3, 1e5), "D_S": (1e5, 1e7), "D_T": (1e5, 5e5)}
# Candidate runs the CPU runner does in seconds to a minute each (teachers on 5e5 tokens).
POOL = {"N": [4e3, 1e4, 3e4], "D": [5e5, 1e6], "N_T": [3e4, 1e5], "D_T": [5e5]}
BATCH_K = 4
BATCH_FLOPS = 5e11


def _fit(table: pd.DataFrame, *, draws: int, tune: int, chains: int, seed: int, name: str):
    from .sampling import fit

    t0 = time.perf_counter()
    post = fit(table, "distillation", error="iid", draws=draws, tune=tune, chains=chains,
               seed=seed, progressbar=True, name=name)
    d = post.diagnostics()
    _say(f"      {len(table)} rows; {time.perf_counter() - t0:.0f} s (compile "
         f"{d['compile_seconds']:.0f} s); r_hat max {d['r_hat_max']:.3f}, min bulk ESS "
         f"{d['ess_bulk_min']:.0f}, {d['divergences']} divergences")
    return post


def _run_batch(plan_runs: pd.DataFrame, runs_path: Path, *, simulate_runs: bool,
               seed: int) -> tuple[pd.DataFrame, str]:
    """Run the planned batch with the CPU runner, or simulate it from the calibrated truth."""
    if not simulate_runs:
        try:
            from .runner import run_plan
        except ImportError:  # RunnerUnavailable is an ImportError: torch is not installed
            _say("      torch is not installed (pip install 'distillaw[runner]'): SIMULATING "
                 "the planned runs from the calibrated truth instead of training them")
            simulate_runs = True
    if simulate_runs:
        rows = simulate.simulate_plan(simulate.RUNNER_WORLD, plan_runs, sigma=0.03, seed=seed,
                                      flops_model=simulate.RUNNER_FLOPS)
        res = append_runs(runs_path, rows)
        return read_runs(runs_path), (f"simulated {len(res.added)} rows (teachers included) "
                                      "from the calibrated truth")
    summary = run_plan(plan_runs, runs_path, corpus="synthetic", device="cpu", progress=True)
    return read_runs(runs_path), f"CPU runner on the synthetic source: {summary}"


def run_demo(out_dir: str | os.PathLike = "out/demo", *, draws: int = 500, tune: int = 500,
             chains: int = 4, seed: int = 0, simulate_runs: bool = False) -> dict:
    """The loop: fit -> report -> plan -> run -> append -> refit; returns the numbers printed.

    ``simulate_runs`` draws the planned runs from the calibrated truth instead of training
    them (also what happens, with a message, when torch is missing).
    """
    from .decision import allocate
    from .planning import candidate_grid, plan
    from .report import write_report

    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.csv"

    table = simulate.shipped_runner_world()
    write_runs(table, runs_path)  # a fresh working table every time: the demo starts over
    _say(f"[1/6] data: {len(table)} simulated runs at the CPU runner's scale (students "
         f"{table['N'].min():.0f}-{table['N'].max():.0f} parameters), law calibrated to "
         f"measured runner runs (data/runs/cpu_sweep.csv) -> {runs_path}")

    _say(f"[2/6] fitting the distillation posterior (nutpie, {chains} chains x {draws} draws)")
    post0 = _fit(table, draws=draws, tune=tune, chains=chains, seed=seed,
                 name="demo: runner world, before the new runs")
    post0.save(out / "posterior-before")

    _say(f"[3/6] allocation report: student {STUDENT:.0e} parameters, {BUDGET:.0e} FLOPs, "
         f"scenario {SCENARIO}")
    rep = write_report(post0, out / "report", budget=BUDGET, student=STUDENT, scenario=SCENARIO,
                       flops_model=simulate.RUNNER_FLOPS, bounds=BOUNDS, seed=seed,
                       progress=lambda m: _say("      " + m.strip()))
    alloc = rep.allocation
    _say("      " + alloc.summary().replace("\n", "\n      "))

    _say(f"[4/6] planning the next batch (at most {BATCH_K} runs, {BATCH_FLOPS:.0e} FLOPs with "
         "teacher pretraining) to learn most about the student loss at that allocation")
    pool = candidate_grid(**POOL, kind="both", group="runner-world")
    batch = plan(post0, pool, target=alloc, k=BATCH_K, budget=BATCH_FLOPS,
                 cost=simulate.RUNNER_FLOPS, seed=seed)
    batch.to_csv(out / "plan.csv")
    _say("      " + batch.summary().replace("\n", "\n      "))

    _say(f"[5/6] running the batch -> {runs_path}")
    table1, how = _run_batch(batch.runs, runs_path, simulate_runs=simulate_runs, seed=seed)
    _say(f"      {how}")

    _say("[6/6] refitting with the new runs")
    post1 = _fit(table1, draws=draws, tune=tune, chains=chains, seed=seed,
                 name="demo: runner world, with the new runs")
    post1.save(out / "posterior-after")

    # The same target before and after: student loss at the allocation chosen in step 3.
    point = pd.DataFrame([{"kind": "distillation", "N": alloc.N_S, "D": alloc.D_S,
                           "N_T": alloc.N_T, "D_T": alloc.D_T}])
    before = interval(post0.loss_draws(point)[:, 0])
    after = interval(post1.loss_draws(point)[:, 0])
    w0, w1 = before[2] - before[1], after[2] - after[1]
    alloc1 = allocate(post1, BUDGET, student=STUDENT, scenario=SCENARIO,
                      flops_model=simulate.RUNNER_FLOPS, bounds=BOUNDS, seed=seed,
                      regret=False, frontier=False)
    result = {
        "target": f"student loss at N_S={alloc.N_S:.3g}, D_S={alloc.D_S:.3g}, "
                  f"N_T={alloc.N_T:.3g}, D_T={alloc.D_T:.3g}",
        "before": before, "after": after, "width_before": w0, "width_after": w1,
        "narrowing": 1 - w1 / w0, "rows_before": len(table), "rows_after": len(table1),
        "p_distil_before": alloc.p_beats_supervised,
        "p_distil_after": alloc1.p_beats_supervised,
        "recommendation_before": alloc.recommendation,
        "recommendation_after": alloc1.recommendation, "runs": how,
        "report": str((out / "report" / "report.html").resolve()),
        "wall_s": time.perf_counter() - t_start,
    }
    atomic_write_bytes(out / "demo.json", (json.dumps(result, indent=2) + "\n").encode())
    _say("")
    _say(f"Target: {result['target']} (median, 90% interval)")
    _say(f"  before: {before[0]:.4f} [{before[1]:.4f}, {before[2]:.4f}]  width {w0:.4f} "
         f"({len(table)} runs)")
    _say(f"  after:  {after[0]:.4f} [{after[1]:.4f}, {after[2]:.4f}]  width {w1:.4f} "
         f"({len(table1)} runs)")
    _say(f"  the interval is {100 * (1 - w1 / w0):.0f}% narrower" if w1 < w0 else
         f"  the interval is {100 * (w1 / w0 - 1):.0f}% WIDER: the new runs disagreed with "
         "the old posterior")
    _say(f"  P(distillation beats supervised): {alloc.p_beats_supervised:.2f} -> "
         f"{alloc1.p_beats_supervised:.2f} (recommendation: {alloc.recommendation} -> "
         f"{alloc1.recommendation})")
    _say(f"Demo finished in {result['wall_s']:.0f} s.")
    _say(f"Report: {result['report']}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m distillaw.demo", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    ap.add_argument("--draws", type=int, default=500, help="posterior draws per chain")
    ap.add_argument("--tune", type=int, default=500, help="tuning steps per chain")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--simulate-runs", action="store_true",
                    help="simulate the planned runs from the calibrated truth instead of "
                    "training them with the CPU runner")
    ap.add_argument("--refit-models", action="store_true",
                    help="refit the posteriors shipped in models/ instead of running the demo")
    ap.add_argument("--models-dir", default="models", help="where --refit-models writes")
    args = ap.parse_args(argv)
    try:
        if args.refit_models:
            refit_models(args.models_dir)
        else:
            run_demo(args.out, draws=args.draws, tune=args.tune, chains=args.chains,
                     seed=args.seed, simulate_runs=args.simulate_runs)
    except DistillawError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
