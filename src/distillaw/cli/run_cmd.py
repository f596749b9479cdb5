"""``distillaw run``: execute a plan (or one teacher -> student pair) with the PyTorch runner.

The runner (and with it torch) is imported inside the command, so ``distillaw --help`` stays fast and the rest of the
CLI works without the ``runner`` extra.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import typer

from .._io import atomic_write_bytes, check_output_dir, check_output_file
from ._app import app
from ._common import CLIError, emit_json, info


def _require_runner():
    # Only runner/ imports torch; the CLI just asks whether it is installed.
    if importlib.util.find_spec("torch") is None:
        raise CLIError("the runner needs PyTorch: pip install 'distillaw[runner]'")
    import distillaw.runner as runner

    return runner


@app.command("run")
def run(
    plan: Path | None = typer.Argument(
        None, help="plan CSV/Parquet from `distillaw plan` (run-table schema, empty losses)."),
    runs: Path = typer.Option(..., "--runs", help="run table to append results to (created if "
                              "missing); runs already in it are skipped."),
    corpus: str = typer.Option("synthetic", "--corpus", help="'synthetic' (Markov source with "
                               "known entropy rate; options as synthetic:vocab=32,order=2,"
                               "support=4,zipf=1,decay=1,seed=1234), a text file or folder "
                               "(bytes), or a .npy token file."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    max_runs: int | None = typer.Option(None, "--max-runs", min=0,
                                        help="execute at most N plan rows now."),
    run_id: list[str] | None = typer.Option(None, "--run-id", help="only this plan row "
                                            "(repeatable; used by Slurm array tasks)."),
    teacher_only: bool = typer.Option(False, "--teacher-only",
                                      help="only train the teachers the selected rows need."),
    teacher: float | None = typer.Option(None, "--teacher", help="pair mode: teacher "
                                         "non-embedding size N_T (e.g. 1e5)."),
    teacher_tokens: float | None = typer.Option(None, "--teacher-tokens",
                                                help="pair mode: teacher tokens D_T "
                                                "(default 20 N_T)."),
    student: float | None = typer.Option(None, "--student", help="pair mode: student size N_S."),
    student_tokens: float | None = typer.Option(None, "--student-tokens",
                                                help="pair mode: distillation tokens D_S "
                                                "(default 20 N_S)."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="pair mode: also train the student supervised."),
    seed: int = typer.Option(0, "--seed", help="pair mode: seed of teacher and student."),
    group: str | None = typer.Option(None, "--group", help="pair mode: group column "
                                     "(default: corpus name)."),
    lam: float = typer.Option(1.0, "--lambda", help="weight of the KD term (1 = pure "
                              "distillation); plan rows may override with a 'lambda' column."),
    tau: float = typer.Option(1.0, "--tau", help="distillation temperature."),
    seq_len: int = typer.Option(128, "--seq-len", help="context length (tokens)."),
    batch_tokens: int | None = typer.Option(None, "--batch-tokens", help="tokens per optimiser "
                                            "step (default: 2^round(log2 sqrt(16 D)))."),
    micro_batch_tokens: int | None = typer.Option(None, "--micro-batch-tokens",
                                                  help="tokens per forward pass (gradient "
                                                  "accumulation above it)."),
    lr: float | None = typer.Option(None, "--lr", help="peak learning rate (default: "
                                    "8e-3 * sqrt(128 / d_model))."),
    eval_tokens: int = typer.Option(65_536, "--eval-tokens", help="held-out tokens."),
    precision: str = typer.Option("bf16", "--precision", help="bf16 (autocast on CUDA) or fp32."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the models."),
    untied: bool = typer.Option(False, "--untied", help="separate read-out matrix "
                                "(default: tied to the embedding)."),
    aspect: float | None = typer.Option(None, "--aspect", help="preferred d_model / n_layer "
                                        "(default: 16 up to 1e6 parameters, rising to 128 at "
                                        "1e9)."),
    checkpoint_every: int | None = typer.Option(None, "--checkpoint-every",
                                                help="checkpoint every N steps (default: "
                                                "every 5 minutes)."),
    peak_flops: float | None = typer.Option(None, "--peak-flops", help="GPU peak FLOP/s for MFU "
                                            "when the device is not in the built-in table."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch "
                                       "(1 is often fastest for tiny models on a busy machine)."),
    cache: Path | None = typer.Option(None, "--cache", help="cache of models, checkpoints and "
                                      "token files (default $DISTILLAW_CACHE or "
                                      "~/.cache/distillaw)."),
    emit_slurm_dir: Path | None = typer.Option(None, "--emit-slurm", help="write a Slurm job "
                                               "array of the same commands into DIR instead "
                                               "of running."),
    slurm_gpus: int = typer.Option(1, "--slurm-gpus", help="GPUs per array task (>1: torchrun)."),
    slurm_time: str = typer.Option("04:00:00", "--slurm-time", help="time limit per task."),
    slurm_partition: str | None = typer.Option(None, "--slurm-partition", help="partition."),
    slurm_max_parallel: int | None = typer.Option(None, "--slurm-max-parallel",
                                                  help="at most N array tasks at once."),
    dry_run: bool = typer.Option(False, "--dry-run", help="show shapes, tokens and cache hits; "
                                 "train nothing."),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bars."),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON."),
) -> None:
    """Train teachers, distil students and append one validated row per finished run.

    Plan mode: `distillaw run PLAN.csv --runs RUNS.csv`. Pair mode: `distillaw run --teacher
    1e5 --student 3e4 --runs RUNS.csv` (teacher, student baseline and distillation).

    Example (shows what would run, trains nothing): distillaw run --teacher 1e5 --student
    3e4 --runs runs.csv --dry-run
    """
    pair = teacher is not None or student is not None
    if plan is not None and pair:
        raise CLIError("give either a PLAN file or --teacher/--student, not both")
    if plan is None and not pair:
        raise CLIError("give a PLAN file, or --teacher N_T and --student N_S for a single pair")
    if pair and (teacher is None or student is None):
        raise CLIError("pair mode needs both --teacher and --student")
    dev = device.strip().lower()
    if dev not in ("auto", "cpu", "cuda") and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        raise CLIError(f"unknown --device {device!r}; use auto, cpu, cuda or cuda:N")
    if plan is not None and not plan.exists():
        raise CLIError(f"plan file not found: {plan}")
    if emit_slurm_dir is not None and dry_run:
        raise CLIError("--emit-slurm and --dry-run do not combine")

    # Outputs first: a finished training run must never fail to land.
    check_output_file(runs, f"--runs {runs}")
    if emit_slurm_dir is not None:
        check_output_dir(emit_slurm_dir, f"--emit-slurm {emit_slurm_dir}")
    runner = _require_runner()
    train = runner.TrainConfig(
        seq_len=seq_len, batch_tokens=batch_tokens, micro_batch_tokens=micro_batch_tokens, lr=lr,
        eval_tokens=eval_tokens, precision=precision, compile=compile_, tie_embeddings=not untied,
        aspect=aspect, checkpoint_every=checkpoint_every)
    cache_dir = (cache or runner.default_cache_dir()).expanduser().resolve()
    if not dry_run:
        check_output_dir(cache_dir, f"--cache {cache_dir}")

    if pair:
        D_T = teacher_tokens if teacher_tokens is not None else 20.0 * teacher
        D_S = student_tokens if student_tokens is not None else 20.0 * student
        tag = runner.executor.corpus_tag(corpus, cache_dir, train)
        plan_df = runner.pair_plan(student, D_S, teacher, D_T, seed=seed,
                                   group=group or runner.executor._default_group(corpus),
                                   baseline=baseline, lam=lam, tau=tau, tag=tag)
    else:
        plan_df = None

    if emit_slurm_dir is not None:
        plan_path = plan
        if plan_df is not None:
            plan_path = emit_slurm_dir / "plan.csv"
            emit_slurm_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(plan_path, plan_df.to_csv(index=False).encode())
        args = ["--corpus", corpus if corpus.startswith("synthetic") else str(Path(corpus).resolve()),
                "--device", device, "--cache", str(cache_dir), "--seq-len", str(seq_len),
                "--eval-tokens", str(eval_tokens), "--precision", precision,
                "--lambda", str(lam), "--tau", str(tau)]
        for flag, val in (("--aspect", aspect), ("--batch-tokens", batch_tokens),
                          ("--micro-batch-tokens",
                          micro_batch_tokens), ("--lr", lr), ("--checkpoint-every",
                          checkpoint_every), ("--peak-flops", peak_flops)):
            if val is not None:
                args += [flag, str(val)]
        args += ["--threads", str(threads)] if threads else []
        args += ["--compile"] if compile_ else []
        args += ["--untied"] if untied else []
        files = runner.emit_slurm(plan_path, runs, emit_slurm_dir, run_args=args, gpus=slurm_gpus,
                                  time=slurm_time, partition=slurm_partition,
                                  max_parallel=slurm_max_parallel, max_runs=max_runs)
        if json_out:
            emit_json({"files": [str(f) for f in files]})
        else:
            for f in files:
                print(f)
            info(f"submit with: {emit_slurm_dir / 'submit.sh'}")
        return

    summary = runner.run_plan(plan_df if plan_df is not None else plan, runs, corpus=corpus,
                              device=device, max_runs=max_runs, progress=not no_progress,
                              cache_dir=cache_dir, train=train, run_ids=run_id or None,
                              teacher_only=teacher_only, lam=lam, tau=tau,
                              peak_flops=peak_flops, threads=threads, dry_run=dry_run)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 reports
        return
    if json_out:
        emit_json(summary.to_dict())
    elif dry_run:
        for p in summary.planned:
            print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in p.items()))
        print(f"{len(summary.planned)} runs would execute; {len(summary.skipped)} already in {runs}")
    else:
        print(summary)
