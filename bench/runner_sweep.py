"""Sweep of the distillation runner: several students x several teachers (minutes, not CI).

Writes ``data/runs/cpu_sweep.csv`` (validated run table: teachers' supervised rows, student
baselines, and every student distilled from every teacher) and ``cpu_sweep.json`` next to it
(settings, timings, tokens/s per size, and the capacity-gap verdict: for each student, is the
teacher giving the lowest student loss interior to the teacher range, i.e. a U-shape?).

Rows already in the output table are skipped (append is idempotent by run id), so an
interrupted sweep resumes; models are cached in ``--cache`` (default ``$DISTILLAW_CACHE`` or
``~/.cache/distillaw``).

Usage::

    python bench/runner_sweep.py --grid               # shipped table, ~15-20 min on 1 core
    python bench/runner_sweep.py                      # distillation sweep only, ~11 min
    python bench/runner_sweep.py --quick              # 2 x 4 grid, ~2 min
    python bench/runner_sweep.py --gpu --out /tmp/gpu_sweep.csv   # H100/H200: ~5 min

``--gpu`` runs on CUDA (bf16 autocast, SDPA attention, fused AdamW): first ``--throughput``
(tokens/s and MFU of 120M and 350M models, eager vs ``torch.compile``, supervised and with a
350M teacher), then a teacher sweep (1M-100M teachers, two students) on a harder synthetic
source. The sweep runs eager: every model size is a new graph, and compiling each costs more
than it saves at these run lengths (the throughput table says by how much).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def build_plan(students, teachers, D_S, D_T, seed, group) -> pd.DataFrame:
    rows = []
    for ns in students:
        rows.append({"run_id": f"base-N{ns:.0e}-D{D_S:.0e}", "kind": "supervised", "group": group,
                     "N": ns, "D": D_S, "seed": seed})
    for nt in teachers:
        rows.append({"run_id": f"teacher-N{nt:.0e}-D{D_T:.0e}", "kind": "supervised",
                     "group": group, "N": nt, "D": D_T, "seed": seed})
    for ns in students:
        for nt in teachers:
            rows.append({"run_id": f"kd-N{ns:.0e}-T{nt:.0e}-D{D_S:.0e}", "kind": "distillation",
                         "group": group, "N": ns, "D": D_S, "N_T": nt, "D_T": D_T, "seed": seed})
    df = pd.DataFrame(rows).assign(L=np.nan)
    df["run_id"] = df["run_id"].str.replace("+", "", regex=False)
    return df


def grid_plan(Ns, Ds, seed, group, max_ND=1e11) -> pd.DataFrame:
    """Supervised N x D grid, leaving out runs with N D > max_ND (too slow on a CPU)."""
    rows = [{"run_id": f"grid-N{n:.0e}-D{d:.0e}", "kind": "supervised", "group": group, "N": n,
             "D": d, "seed": seed} for n in Ns for d in Ds if n * d <= max_ND]
    df = pd.DataFrame(rows).assign(L=np.nan)
    df["run_id"] = df["run_id"].str.replace("+", "", regex=False)
    return df


def fit_supervised(sup: pd.DataFrame) -> dict:
    """Least-squares fit of L = E + A N^-alpha + B D^-beta on log L (a quick check only)."""
    from scipy.optimize import least_squares

    from distillaw.laws import supervised_loss

    N, D, L = (sup[c].to_numpy(float) for c in ("N", "D", "L"))

    def resid(p):
        E, lA, a, lB, b = p
        return np.log(supervised_loss(N, D, E=E, A=np.exp(lA), B=np.exp(lB), alpha=a,
                                      beta=b)) - np.log(L)

    best = None
    for a0 in (0.3, 0.6):
        for b0 in (0.3, 0.6):
            r = least_squares(resid, [min(L) * 0.9, np.log(10.0), a0, np.log(10.0), b0],
                              bounds=([0.0, -20, 0.01, -20, 0.01], [min(L), 40, 3.0, 40, 3.0]))
            if best is None or r.cost < best.cost:
                best = r
    E, lA, a, lB, b = best.x
    return {"E": float(E), "A": float(np.exp(lA)), "alpha": float(a), "B": float(np.exp(lB)),
            "beta": float(b), "rms_log_residual": float(np.sqrt(np.mean(best.fun ** 2))),
            "rows": int(len(L))}


def verdict(table: pd.DataFrame) -> list[dict]:
    """Per student: student loss vs teacher size; is the best teacher interior (U-shape)?"""
    out = []
    dist = table[table["kind"] == "distillation"]
    sup = table[table["kind"] == "supervised"]
    for ns, g in dist.groupby("N"):
        g = g.sort_values("N_T")
        best = int(np.argmin(g["L"].to_numpy()))
        base = sup[(sup["N"] == ns) & (sup["D"] == g["D"].iloc[0])]["L"]
        out.append({
            "N_S": int(ns), "D_S": int(g["D"].iloc[0]),
            "N_T": [int(v) for v in g["N_T"]], "L_T": [round(float(v), 4) for v in g["L_T"]],
            "L_S": [round(float(v), 4) for v in g["L"]],
            "baseline_L": None if base.empty else round(float(base.iloc[0]), 4),
            "best_N_T": int(g["N_T"].iloc[best]),
            "best_is_interior": bool(0 < best < len(g) - 1),
            "best_beats_baseline": None if base.empty else bool(g["L"].min() < base.iloc[0]),
        })
    return out


def _time_steps(model, opt, x, y, teacher, rt, steps: int) -> tuple[float, float]:
    """(seconds of 3 warm-up steps, seconds of ``steps`` timed steps) of one training step."""
    import torch

    from distillaw.runner import distillation_objective
    from distillaw.runner.train import _autocast

    def sync():
        if rt.device.type == "cuda":
            torch.cuda.synchronize(rt.device)

    def step():
        with _autocast(rt, "bf16"):
            logits = model(x)
            t_logits = None
            if teacher is not None:
                with torch.no_grad():
                    t_logits = teacher(x)
        loss, _, _ = distillation_objective(logits, t_logits, y, 1.0, 1.0)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync()
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    sync()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return warm_s, time.perf_counter() - t0


def throughput(sizes, *, device: str, vocab: int, seq_len: int, micro_seqs: int, steps: int,
               compile_modes=(False, True), teacher_size: float | None = None) -> list[dict]:
    """Training-step throughput and MFU of the runner's own model and objective.

    For each size (and each compile mode): a supervised step (forward, loss, backward, AdamW)
    on random tokens, timed over ``steps`` steps after 3 warm-up steps (compilation happens
    in the warm-up and is reported separately). With ``teacher_size`` also a distillation step:
    the student as above plus the frozen teacher's forward pass (teacher eager, bf16; timed
    eager only).
    MFU counts the model FLOPs of :func:`model_flops_per_token` (3x forward for the trained
    model, 1x for the teacher) against the device's dense bf16 peak.
    """
    import torch

    from distillaw.runner import GPTConfig, resolve_runtime
    from distillaw.runner.model import model_flops_per_token, shape_for_params
    from distillaw.runner.train import build_model

    rt = resolve_runtime(device)
    dev = rt.device
    out = []
    teacher = tcfg = None
    if teacher_size:
        tcfg = GPTConfig(shape_for_params(teacher_size), vocab, seq_len)
        teacher = build_model(tcfg, 1).to(dev).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    for size in sizes:
        cfg = GPTConfig(shape_for_params(size), vocab, seq_len)
        for comp in compile_modes:
            # Compiled: the supervised step only (each compile of a new graph costs ~a minute
            # of a lent GPU); the distillation step is timed eager, the runner's default.
            for t in [None] + ([teacher] if teacher is not None and not comp else []):
                raw = build_model(cfg, 0).to(dev)
                model = torch.compile(raw) if comp else raw
                opt = torch.optim.AdamW(raw.parameters(), lr=1e-4, fused=dev.type == "cuda")
                g = torch.Generator().manual_seed(0)
                xy = torch.randint(0, vocab, (micro_seqs, seq_len + 1), generator=g).to(dev)
                x, y = xy[:, :-1], xy[:, 1:]

                warm_s, dt = _time_steps(model, opt, x, y, t, rt, steps)
                tok_s = steps * micro_seqs * seq_len / dt
                fpt = 3 * model_flops_per_token(cfg) + (model_flops_per_token(tcfg)
                                                        if t is not None else 0.0)
                row = {"N": cfg.shape.non_embedding_params, "shape": cfg.shape.label(),
                       "teacher_N": None if t is None else tcfg.shape.non_embedding_params,
                       "compile": comp, "vocab": vocab, "seq_len": seq_len,
                       "batch_tokens": micro_seqs * seq_len, "tokens_per_s": round(tok_s),
                       "step_ms": round(1e3 * dt / steps, 2), "warmup_s": round(warm_s, 1),
                       "tflops": round(tok_s * fpt / 1e12, 1),
                       "mfu": None if not rt.peak_flops else round(tok_s * fpt / rt.peak_flops, 4),
                       "device": rt.device_name}
                out.append(row)
                print(json.dumps(row), flush=True)
                del model, raw, opt  # free the GPU before the next size
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "data" / "runs" / "cpu_sweep.csv")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--students", type=float, nargs="+", default=[4e3, 1e4, 3e4])
    ap.add_argument("--teachers", type=float, nargs="+", default=[4e3, 1e4, 3e4, 1e5, 3e5])
    ap.add_argument("--student-tokens", type=float, default=5e5)
    ap.add_argument("--teacher-tokens", type=float, default=1e6)
    ap.add_argument("--corpus", default="synthetic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 is fastest for these sizes on a shared machine)")
    ap.add_argument("--quick", action="store_true", help="2 students x 4 teachers, fewer tokens")
    ap.add_argument("--grid", action="store_true",
                    help="also a supervised N x D grid (--grid-N x --grid-D, N D <= 1e11) and a "
                         "quick least-squares fit of L = E + A/N^a + B/D^b (E vs E_true)")
    ap.add_argument("--grid-N", type=float, nargs="+", default=[4e3, 1e4, 3e4, 1e5])
    ap.add_argument("--grid-D", type=float, nargs="+", default=[1e5, 3e5, 1e6, 3e6])
    ap.add_argument("--aspect", type=float, default=None,
                    help="preferred d_model / n_layer (default: the runner's)")
    ap.add_argument("--grid-only", action="store_true", help="only the supervised N x D grid")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile every trained model")
    ap.add_argument("--seq-len", type=int, default=None, help="default: the runner's (128)")
    ap.add_argument("--eval-tokens", type=int, default=None, help="default: the runner's")
    ap.add_argument("--gpu", action="store_true",
                    help="GPU preset: --device cuda, a harder synthetic source (vocab 256, 65,536 "
                         "contexts, 8 successors each), students 1M and 3M, teachers 1M-100M, "
                         "2e7 teacher / 1e7 student tokens, 2^18 eval tokens, then --throughput")
    ap.add_argument("--throughput", type=float, nargs="*", default=None, metavar="N",
                    help="also time training steps of these sizes (eager and torch.compile, bf16, "
                         "SDPA) on random tokens and print tokens/s and MFU")
    ap.add_argument("--throughput-teacher", type=float, default=None, metavar="N_T",
                    help="also time distillation steps with a frozen teacher of this size")
    ap.add_argument("--throughput-vocab", type=int, default=32768)
    ap.add_argument("--throughput-seq", type=int, default=1024)
    ap.add_argument("--throughput-micro", type=int, default=16, help="sequences per step")
    ap.add_argument("--throughput-steps", type=int, default=10)
    ap.add_argument("--no-sweep", action="store_true", help="only the --throughput timing")
    args = ap.parse_args(argv)
    if args.quick:
        args.students, args.teachers = [4e3, 1e4], [4e3, 1e4, 3e4, 1e5]
        args.student_tokens, args.teacher_tokens = 2e5, 4e5
    if args.gpu:
        args.device = "cuda" if args.device == "cpu" else args.device
        if args.corpus == "synthetic":
            args.corpus = "synthetic:vocab=256,order=2,support=8"
        args.students, args.teachers = [1e6, 3e6], [1e6, 3e6, 1e7, 3e7, 1e8]
        args.student_tokens, args.teacher_tokens = 1e7, 2e7
        args.eval_tokens = args.eval_tokens or 2 ** 18
        if args.throughput is None:
            args.throughput = [1.2e8, 3.5e8]
            args.throughput_teacher = args.throughput_teacher or 3.5e8

    import torch

    from distillaw.data import read_runs
    from distillaw.runner import TrainConfig, run_plan

    def timing():
        if not args.throughput:
            return None
        rows = throughput(args.throughput, device=args.device, vocab=args.throughput_vocab,
                          seq_len=args.throughput_seq, micro_seqs=args.throughput_micro,
                          steps=args.throughput_steps, teacher_size=args.throughput_teacher)
        tp_path = args.out.with_name(args.out.stem + "_throughput.json")
        tp_path.parent.mkdir(parents=True, exist_ok=True)
        tp_path.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"throughput -> {tp_path}")
        return rows

    if args.no_sweep:
        timing()
        return 0
    over = {k: v for k, v in (("aspect", args.aspect), ("seq_len", args.seq_len),
                              ("eval_tokens", args.eval_tokens)) if v is not None}
    train = TrainConfig(compile=args.compile, **over)
    plan = build_plan(args.students, args.teachers, args.student_tokens, args.teacher_tokens,
                      args.seed, "cpu-sweep")
    if args.grid_only:
        plan = plan.iloc[:0]
    if args.grid or args.grid_only:
        plan = pd.concat([plan, grid_plan(args.grid_N, args.grid_D, args.seed, "cpu-sweep")],
                         ignore_index=True)
    t0 = time.perf_counter()
    summary = run_plan(plan, args.out, corpus=args.corpus, device=args.device,
                       progress=not args.no_progress, cache_dir=args.cache, train=train,
                       threads=args.threads)
    wall = time.perf_counter() - t0
    # After the sweep: on a lent GPU the sweep's rows matter more than the timing table.
    tp_rows = timing()
    table = read_runs(args.out)
    # Grid rows that repeat a teacher's model are reported as duplicates and not re-added.
    mine = table[table["run_id"].isin(plan["run_id"])]
    v = verdict(mine)
    sup_rows = mine[mine["kind"] == "supervised"].drop_duplicates("model_key")
    fit = fit_supervised(sup_rows) if len(sup_rows) >= 8 else None
    sup = mine[mine["kind"] == "supervised"].copy()
    speed = (sup.assign(tps=pd.to_numeric(sup["tokens_per_s"]))
             .groupby("N")["tps"].median().round(0).astype(int))
    if not v:
        v = []
    meta = {
        "command": "python bench/runner_sweep.py " + " ".join(argv or sys.argv[1:]),
        "corpus": args.corpus, "E_true": float(pd.to_numeric(mine["E_true"]).iloc[0])
        if args.corpus.startswith("synthetic") else None,
        "students": args.students, "teachers": args.teachers,
        "student_tokens": args.student_tokens, "teacher_tokens": args.teacher_tokens,
        "recipe": train.recipe(), "threads": args.threads, "rows": int(len(mine)),
        "wall_s_this_call": round(wall, 1), "sum_run_wall_s": round(float(pd.to_numeric(
            mine["wall_s"]).sum()), 1),
        "tokens_per_s_by_N": {str(int(k)): int(x) for k, x in speed.items()},
        "machine": {"cpu": platform.processor() or platform.machine(), "device": args.device,
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "torch": torch.__version__, "compile": args.compile},
        "mfu_by_N": {str(int(k)): float(x) for k, x in sup.assign(
            m=pd.to_numeric(sup["mfu"], errors="coerce")).groupby("N")["m"].median().items()
            if np.isfinite(x)},
        "throughput": tp_rows,
        "u_shape": v,
        "supervised_fit": fit,
        "summary": summary.to_dict(),
    }
    meta_path = args.out.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=2, default=str) + "\n")

    print(f"\n{len(mine)} rows in {args.out}  (this call {wall:.0f} s, runs total "
          f"{meta['sum_run_wall_s']:.0f} s)")
    print(f"tokens/s by N (supervised, {args.device}):", meta["tokens_per_s_by_N"])
    if meta["mfu_by_N"]:
        print("MFU by N (supervised):", {k: round(v, 3) for k, v in meta["mfu_by_N"].items()})
    if meta["E_true"] is not None:
        print(f"E_true = {meta['E_true']:.4f} nats/token")
    for s in v:
        curve = "  ".join(f"{nt:.0e}:{ls:.3f}" for nt, ls in zip(s["N_T"], s["L_S"], strict=True))
        print(f"student N={s['N_S']:>6}: L_S by N_T  {curve}  | baseline {s['baseline_L']}"
              f" | best N_T={s['best_N_T']:.0e} interior={s['best_is_interior']}")
    if fit is not None:
        print(f"supervised law fit on {fit['rows']} rows: E={fit['E']:.3f} (E_true "
              f"{meta['E_true']}), alpha={fit['alpha']:.3f}, beta={fit['beta']:.3f}, "
              f"rms log residual {fit['rms_log_residual']:.4f}")
    n_u = sum(s["best_is_interior"] for s in v)
    print(f"U-shape (best teacher interior) for {n_u} of {len(v)} students")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
