"""Slurm job arrays for plans bigger than one machine (no home-made scheduler).

``emit_slurm`` writes, into one folder:

* ``commands_teachers.txt`` / ``teachers.sbatch`` -- stage 1, one array task per distinct
  teacher ``(N_T, D_T, seed)``: ``distillaw run PLAN --run-id X --teacher-only ...`` trains the
  teacher into the shared cache and appends its row;
* ``commands_runs.txt`` / ``runs.sbatch`` -- stage 2, one array task per plan row:
  ``distillaw run PLAN --run-id X ...`` (teachers are then cache hits);
* ``submit.sh`` -- submits stage 1, then stage 2 with ``--dependency=afterok`` on it.

Every task is the same command a user would type; rows already in the run table are skipped,
so resubmitting after failures only redoes what is missing. The cache folder must be on a
file system all nodes share (teacher training also holds a file lock per teacher).
With ``gpus > 1`` each task runs under ``torchrun --standalone`` (DDP on one node).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pandas as pd

from .._io import atomic_write_bytes
from ..data import read_runs
from ..errors import DistillawError


def _sbatch(name: str, n: int, commands: Path, logs: Path, *, gpus: int, time: str,
            partition: str | None, max_parallel: int | None, cpus: int) -> str:
    array = f"0-{n - 1}" + (f"%{max_parallel}" if max_parallel else "")
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --array={array}",
             "#SBATCH --nodes=1", "#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={cpus}",
             f"#SBATCH --time={time}", f"#SBATCH --output={logs}/%x-%A_%a.out"]
    if gpus:
        lines.append(f"#SBATCH --gres=gpu:{gpus}")
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    lines += ["set -euo pipefail",
              f'CMD=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(str(commands))})',
              'echo "[$(date -Is)] $CMD"', 'eval "$CMD"', ""]
    return "\n".join(lines)


def emit_slurm(plan_path, runs_path, out_dir, *, run_args: list[str] | None = None,
               gpus: int = 1, time: str = "04:00:00", partition: str | None = None,
               max_parallel: int | None = None, cpus: int = 8,
               max_runs: int | None = None) -> list[Path]:
    """Write the two-stage Slurm job array for ``plan_path`` into ``out_dir``.

    ``run_args`` are extra ``distillaw run`` options passed to every task (corpus, device,
    cache, training recipe). Returns the written files.

    Example
    -------
    >>> import tempfile, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"run_id": ["a"], "kind": ["supervised"], "N": [1e5], "D": [2e6],
    ...               "L": [""]}).to_csv(f"{d}/plan.csv", index=False)
    >>> [p.name for p in emit_slurm(f"{d}/plan.csv", f"{d}/runs.csv", f"{d}/slurm")][-1]
    'submit.sh'
    """
    plan_path = Path(plan_path).resolve()
    runs_path = Path(runs_path).resolve()
    out = Path(out_dir).resolve()
    plan = read_runs(plan_path, require_loss=False)
    if max_runs is not None:
        plan = plan.head(max_runs)
    if plan.empty:
        raise DistillawError(f"{plan_path}: the plan has no rows to emit")
    if gpus < 0:
        raise DistillawError(f"--slurm-gpus must be >= 0, got {gpus}")
    if gpus > 1:
        launcher = ["torchrun", "--standalone", f"--nproc_per_node={gpus}", "-m", "distillaw"]
    else:
        launcher = [sys.executable, "-m", "distillaw"]
    base = [*launcher, "run", str(plan_path), "--runs", str(runs_path), "--no-progress",
            *(run_args or [])]

    teachers: dict[tuple, str] = {}
    for _, r in plan.iterrows():
        if r["kind"] == "distillation" and pd.notna(r["N_T"]) and pd.notna(r["D_T"]):
            seed = 0 if pd.isna(r["seed"]) else int(r["seed"])
            teachers.setdefault((float(r["N_T"]), float(r["D_T"]), seed), str(r["run_id"]))
    t_cmds = [shlex.join([*base, "--run-id", rid, "--teacher-only"]) for rid in teachers.values()]
    r_cmds = [shlex.join([*base, "--run-id", str(rid)]) for rid in plan["run_id"]]

    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    written = []
    common = {"gpus": gpus, "time": time, "partition": partition, "max_parallel": max_parallel,
              "cpus": cpus}

    def put(name: str, text: str) -> None:
        atomic_write_bytes(out / name, text.encode())
        written.append(out / name)

    if t_cmds:
        put("commands_teachers.txt", "\n".join(t_cmds) + "\n")
        put("teachers.sbatch", _sbatch("distillaw-teachers", len(t_cmds),
                                       out / "commands_teachers.txt", logs, **common))
    put("commands_runs.txt", "\n".join(r_cmds) + "\n")
    put("runs.sbatch", _sbatch("distillaw-runs", len(r_cmds), out / "commands_runs.txt", logs,
                               **common))
    submit = ["#!/bin/bash", "# Stage 1 trains the teachers; stage 2 (all plan rows) waits for it.",
              "set -euo pipefail", 'cd "$(dirname "$0")"', 'deps=""']
    if t_cmds:
        submit += ["jid=$(sbatch --parsable teachers.sbatch)",
                   'deps="--dependency=afterok:${jid%%;*}"',
                   'echo "teachers: job $jid"']
    submit += ['sbatch $deps runs.sbatch', ""]
    put("submit.sh", "\n".join(submit))
    (out / "submit.sh").chmod(0o755)
    return written
