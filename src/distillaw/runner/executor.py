r"""Execute a plan: train teachers (cached), distil students, append one validated row per run.

A plan is a run table with empty losses (``read_runs(path, require_loss=False)``), as written
by the planner. For each row, in order:

* ``supervised``: train a model of the closest shape to ``N`` on ``D`` tokens.
* ``distillation``: make sure the teacher exists (``N_T``/``D_T`` -> train it, or reuse it from
  the cache; or a ``teacher_id`` naming a runner row whose model is cached), then distil a
  student of size ``N`` on ``D`` tokens from it. The teacher's own supervised row is appended
  once (before the student's), and ``teacher_id`` links them.

Records. Each finished run appends ONE row through :func:`distillaw.data.append_runs`
(atomic, file-locked, idempotent by ``run_id``): sizes and tokens as actually trained (the
non-embedding ``N`` of the built shape, whole batches of tokens), held-out loss ``L`` (nats),
teacher fields, ``flops`` from :mod:`distillaw.laws.compute` with
``FlopsModel(n_ctx=seq_len, n_vocab=vocab)`` (supervised: ``3 F(N) D``; distillation: the
*teacher-inference* scenario ``3 F(N_S) D_S + F(N_T) D_S`` -- the teacher's pretraining cost is
recorded once, on the teacher's own row), wall time, tokens/s, MFU (GPU), device, versions,
git commit, corpus, ``E_true`` (synthetic source), ``lambda``, ``tau`` and a ``model_key``.
Rows are only written when a run has finished: a killed run leaves no row, and re-running the
plan skips ``run_id``\ s already present.

Cache (``cache_dir``, default ``$DISTILLAW_CACHE`` or ``~/.cache/distillaw``)::

    models/<key>/{model.pt,meta.json}   every supervised model (so any can be a teacher)
    work/<key>.pt                       checkpoint of an unfinished run (resumed, then deleted)
    corpora/<sha256>/                   memory-mapped token files

``key`` hashes what defines the model: shape, vocabulary, context, tokens, seed, data
source and training recipe (plus teacher, lambda, tau for students). A plan row whose model is
already in the run table under another ``run_id`` is reported as a duplicate, not re-added.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._version import __version__
from ..data import append_runs, read_runs, read_table, validate_runs
from ..errors import DistillawError
from ..laws.compute import FlopsModel, distillation_flops, supervised_flops
from .data import open_source
from .model import GPTConfig, shape_for_params
from .store import ModelStore
from .train import Runtime, TrainConfig, discard_checkpoint, resolve_runtime, train_model

SOURCE_TAG = "distillaw-runner"
# Planner columns carried into result rows (prediction vs outcome, for calibration checks).
PASS_THROUGH = ("predicted_median", "predicted_lower", "predicted_upper", "expected_gain")


def default_cache_dir() -> Path:
    """``$DISTILLAW_CACHE`` or ``~/.cache/distillaw`` (outside the repository)."""
    env = os.environ.get("DISTILLAW_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "distillaw"


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stream(seed: int, role: str) -> int:
    """Data stream id: teachers/supervised runs and distillations draw disjoint batches."""
    return int(hashlib.sha256(f"{seed}:{role}".encode()).hexdigest()[:12], 16)


def git_commit() -> str | None:
    """Commit of the checkout the package runs from; None outside a git work tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


@dataclass
class PlanSummary:
    """What :func:`run_plan` did. ``rows`` holds the rows appended by this call."""

    runs_path: Path
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)
    teachers_trained: list[str] = field(default_factory=list)
    teachers_reused: list[str] = field(default_factory=list)
    planned: list[dict] = field(default_factory=list)
    wall_s: float = 0.0
    rows: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        return {"runs": str(self.runs_path), "added": self.added, "skipped": self.skipped,
                "duplicates": self.duplicates, "not_run": self.not_run,
                "teachers_trained": self.teachers_trained,
                "teachers_reused": self.teachers_reused, "planned": self.planned,
                "wall_s": round(self.wall_s, 3)}

    def __str__(self) -> str:
        parts = [f"{len(self.added)} rows added to {self.runs_path}"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} already present")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicates of existing rows")
        if self.not_run:
            parts.append(f"{len(self.not_run)} left for later (--max-runs)")
        if self.teachers_trained or self.teachers_reused:
            parts.append(f"teachers: {len(self.teachers_trained)} trained, "
                         f"{len(self.teachers_reused)} reused")
        return "; ".join(parts) + f" ({self.wall_s:.1f} s)"


def _ce_words(row: dict) -> str:
    """The log's loss words: held-out and training cross-entropy (nats); the recorded ``L`` is
    the held-out one. Models cached before ``train_ce`` was recorded have no training
    cross-entropy: the words then say so rather than show their training objective."""
    ce = row.get("train_ce")
    train = "train CE n/a (cached before it was recorded)" if ce is None or pd.isna(ce) \
        else f"train CE {ce:.4f}"
    return f"val CE L={row['L']:.4f}, {train}"


class _Progress:
    """Rich progress bars on stderr (runs, then steps with the student's training
    cross-entropy, tokens/s, ETA); or nothing.

    The bar shows cross-entropy, not the training objective: under pure distillation
    (``lambda = 1``) the objective is the KD term (a KL near 0), which says nothing about the
    loss the run will record; the cross-entropy is comparable with the held-out ``L``.
    """

    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        self.total = total
        self._p = None
        self._plan = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("train CE {task.fields[ce]}"), TextColumn("{task.fields[tps]} tok/s"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False)
            self._p.__enter__()
            self._plan = self._p.add_task("plan", total=self.total, ce="-", tps="-")
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)

    def note(self, msg: str) -> None:
        if self._p is not None:
            self._p.console.print(msg, highlight=False)

    @contextlib.contextmanager
    def run(self, desc: str, steps: int | None):
        if self._p is None:
            yield None
            return
        task = self._p.add_task(desc, total=steps, ce="-", tps="-")

        def cb(info: dict) -> None:
            self._p.update(task, completed=info["step"], total=info["steps"],
                           ce=f"{info['ce']:.3f}", tps=f"{info['tokens_per_s']:,.0f}")
        try:
            yield cb
        finally:
            self._p.remove_task(task)

    def advance(self) -> None:
        if self._p is not None:
            self._p.advance(self._plan)


@dataclass
class _Ctx:
    """Everything a run needs; built once per :func:`run_plan` call (no module state)."""

    source: object
    corpus: str
    train: TrainConfig
    runtime: Runtime
    store: ModelStore
    work: Path
    runs_path: Path
    progress: _Progress
    commit: str | None
    val_windows: np.ndarray
    flops_model: FlopsModel

    def identity(self) -> dict:
        return self.source.identity()


def _model_job(ctx: _Ctx, N_target: float, D_target: float, seed: int) -> dict:
    shape = shape_for_params(N_target, aspect=ctx.train.aspect)
    cfg = GPTConfig(shape, ctx.source.vocab_size, ctx.train.seq_len, ctx.train.tie_embeddings)
    B = ctx.train.batch_for(D_target)
    tokens = math.ceil(D_target / B) * B
    key_obj = {"kind": "supervised", "config": cfg.to_dict(), "tokens": tokens, "seed": seed,
               "data": ctx.identity(), "recipe": ctx.train.recipe()}
    key = f"sup-N{shape.non_embedding_params:.3g}-D{tokens:.3g}-s{seed}-{_hash(key_obj)}"
    return {"key": key.replace("+", ""), "cfg": cfg, "tokens": tokens, "seed": seed,
            "N_target": N_target, "D_target": D_target}


def _common_fields(ctx: _Ctx, cfg: GPTConfig, out) -> dict:
    rt = ctx.runtime
    return {
        "n_layer": cfg.shape.n_layer, "d_model": cfg.shape.d_model, "n_head": cfg.shape.n_head,
        "vocab": cfg.vocab_size, "seq_len": cfg.seq_len, "tied": cfg.tie_embeddings,
        "batch_tokens": out.batch_tokens, "steps": out.steps, "lr": out.lr,
        "train_loss": out.train_loss, "train_ce": out.train_ce,
        "model_flops_per_token": out.model_flops_per_token,
        "wall_s": round(out.wall_s, 3), "tokens_per_s": round(out.tokens_per_s, 1),
        "mfu": out.mfu, "device": rt.device.type, "device_name": rt.device_name,
        "world_size": rt.world_size,
        "precision": ctx.train.precision if rt.device.type == "cuda" else "fp32",
        "compiled": ctx.train.compile, "corpus": ctx.corpus, "E_true": ctx.source.E_true,
        "distillaw_version": __version__, "torch_version": torch.__version__,
        "git_commit": ctx.commit, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _supervised_row(meta: dict, run_id: str, group: str, extra: dict | None = None) -> dict:
    row = {**meta["row"], "run_id": run_id, "group": group}
    row.update(extra or {})
    return row


def _ensure_model(ctx: _Ctx, job: dict, desc: str) -> tuple[dict, bool]:
    """Train (or find in the cache) the supervised model of ``job``; returns (meta, trained)."""
    rt, store, key = ctx.runtime, ctx.store, job["key"]
    lock = store.lock(key) if rt.is_main else contextlib.nullcontext()
    with lock:
        # Rank 0 decides (under the file lock) and tells the others.
        have = rt.all_sum([1.0 if (rt.is_main and store.has(key)) else 0.0])[0] > 0
        if have:
            return store.meta(key), False
        cfg = job["cfg"]
        ckpt = ctx.work / f"{key}.pt"
        with ctx.progress.run(desc, None) as cb:
            out = train_model(cfg, job["tokens"], source=ctx.source, train=ctx.train,
                              seed=job["seed"], stream=_stream(job["seed"], "supervised"),
                              runtime=rt, checkpoint=ckpt, on_step=cb,
                              val_windows=ctx.val_windows)
        N = cfg.shape.non_embedding_params
        row = {"kind": "supervised", "N": N, "D": out.tokens, "L": out.val_loss,
               "seed": job["seed"], "source": SOURCE_TAG,
               "flops": float(supervised_flops(N, out.tokens, ctx.flops_model)),
               "model_key": key, "N_target": job["N_target"], "D_target": job["D_target"],
               **_common_fields(ctx, cfg, out)}
        meta = {"key": key, "config": cfg.to_dict(), "row": row, "recipe": ctx.train.recipe(),
                "data": ctx.identity()}
        if rt.is_main:
            store.save(key, out.model, meta)
            discard_checkpoint(ckpt)
        rt.barrier()
        return meta, True


def _existing(path: Path) -> pd.DataFrame | None:
    return read_runs(path) if path.exists() else None


def _row_with_key(table: pd.DataFrame | None, key: str) -> str | None:
    if table is None or "model_key" not in table.columns:
        return None
    hit = table.loc[table["model_key"].astype("string") == key, "run_id"]
    return None if hit.empty else str(hit.iloc[0])


def _append(ctx: _Ctx, row: dict) -> None:
    if ctx.runtime.is_main:
        append_runs(ctx.runs_path, [row])
    ctx.runtime.barrier()


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _resolve_teacher(ctx: _Ctx, plan_row: pd.Series, seed: int, summary: PlanSummary,
                     row_no: int) -> tuple[dict, str]:
    """Return (teacher meta, teacher row id), training and appending the teacher if needed."""
    N_T, D_T = plan_row.get("N_T"), plan_row.get("D_T")
    rid = plan_row["run_id"]
    if pd.notna(N_T) and pd.notna(D_T):
        job = _model_job(ctx, float(N_T), float(D_T), seed)
        desc = f"teacher N={_fmt(job['cfg'].shape.non_embedding_params)} D={_fmt(job['tokens'])}"
        meta, trained = _ensure_model(ctx, job, desc)
        (summary.teachers_trained if trained else summary.teachers_reused).append(job["key"])
        table = _existing(ctx.runs_path)
        tid = _row_with_key(table, job["key"])
        if tid is None:
            # The planner's name for a new teacher if it is free, else the model key.
            wanted = plan_row.get("teacher_id")
            taken = set() if table is None else set(table["run_id"])
            tid = str(wanted) if pd.notna(wanted) and str(wanted) not in taken else job["key"]
            _append(ctx, _supervised_row(meta, tid, str(plan_row["group"]), {"role": "teacher"}))
            summary.added.append(tid)
            ctx.progress.note(f"  teacher {tid}: {_ce_words(meta['row'])}")
        return meta, tid
    tid = plan_row.get("teacher_id")
    if pd.isna(tid):
        raise DistillawError(f"plan row {row_no} ({rid}): a distillation needs N_T and D_T "
                             "(teacher to train) or the teacher_id of a cached runner model")
    table = _existing(ctx.runs_path)
    key = None
    if table is not None and "model_key" in table.columns:
        hit = table.loc[table["run_id"] == str(tid), "model_key"]
        key = None if hit.empty or pd.isna(hit.iloc[0]) else str(hit.iloc[0])
    if key is None and ctx.store.has(str(tid)):
        key = str(tid)
    if key is None or not ctx.store.has(key):
        raise DistillawError(f"plan row {row_no} ({rid}): teacher {tid!r} is not a cached runner "
                             f"model (cache {ctx.store.root}); give N_T and D_T to train it")
    meta = ctx.store.meta(key)
    if meta["data"] != ctx.identity() or meta["config"]["seq_len"] != ctx.train.seq_len:
        raise DistillawError(f"plan row {row_no} ({rid}): teacher {tid!r} was trained on other "
                             "data or another context length")
    summary.teachers_reused.append(key)
    return meta, str(tid)


def _distil(ctx: _Ctx, plan_row: pd.Series, t_meta: dict, tid: str, seed: int,
            lam: float, tau: float) -> dict:
    rt = ctx.runtime
    job = _model_job(ctx, float(plan_row["N"]), float(plan_row["D"]), seed)
    cfg = job["cfg"]
    key_obj = {"student": job["key"], "teacher": t_meta["key"], "lambda": lam, "tau": tau}
    key = f"kd-{_hash(key_obj)}"
    teacher = ctx.store.load(t_meta["key"], rt.device)
    if ctx.train.compile:
        teacher = torch.compile(teacher)
    N = cfg.shape.non_embedding_params
    desc = f"{plan_row['run_id']}: distil N={_fmt(N)} D={_fmt(job['tokens'])}"
    ckpt = ctx.work / f"{key}.pt"
    with ctx.progress.run(desc, None) as cb:
        out = train_model(cfg, job["tokens"], source=ctx.source, train=ctx.train, seed=seed,
                          stream=_stream(seed, "distillation"), runtime=rt, teacher=teacher,
                          lam=lam, tau=tau, checkpoint=ckpt, on_step=cb,
                          val_windows=ctx.val_windows)
    tr = t_meta["row"]
    t_cfg = GPTConfig.from_dict(t_meta["config"])
    row = {
        "run_id": plan_row["run_id"], "kind": "distillation", "group": str(plan_row["group"]),
        "N": N, "D": out.tokens, "L": out.val_loss, "N_T": tr["N"], "D_T": tr["D"],
        "L_T": tr["L"], "teacher_id": tid, "seed": seed, "source": SOURCE_TAG,
        "flops": float(distillation_flops(N, out.tokens, tr["N"], tr["D"], "teacher-inference",
                                          ctx.flops_model)),
        "flops_teacher_pretraining": float(supervised_flops(tr["N"], tr["D"], ctx.flops_model)),
        "lambda": lam, "tau": tau, "val_kl": out.val_kl, "model_key": key,
        "teacher_key": t_meta["key"], "N_target": job["N_target"], "D_target": job["D_target"],
        "T_n_layer": t_cfg.shape.n_layer, "T_d_model": t_cfg.shape.d_model,
        "T_n_head": t_cfg.shape.n_head, **_common_fields(ctx, cfg, out),
    }
    if rt.is_main:
        discard_checkpoint(ckpt)
    return row


def _load_plan(plan) -> tuple[pd.DataFrame, str]:
    # A plan has no losses yet; an absent L column is accepted as all-empty.
    if isinstance(plan, pd.DataFrame):
        df, name = plan, "<plan>"
    else:
        df, name = read_table(plan), str(plan)
    if "L" not in df.columns:
        df = df.assign(L=np.nan)
    return validate_runs(df, file=name, require_loss=False), name


def _param(plan_row: pd.Series, col: str, default: float, row_no: int) -> float:
    v = plan_row.get(col)
    if v is None or pd.isna(v) or (isinstance(v, str) and not v.strip()):
        return float(default)
    try:
        return float(v)
    except (TypeError, ValueError):
        raise DistillawError(f"plan row {row_no}: column '{col}' must be a number, got {v!r}") from None


def run_plan(plan, runs_path, *, corpus="synthetic", device: str = "auto",
             max_runs: int | None = None, progress: bool = True, cache_dir=None,
             train: TrainConfig | None = None, run_ids=None, teacher_only: bool = False,
             lam: float = 1.0, tau: float = 1.0, peak_flops: float | None = None,
             threads: int | None = None, dry_run: bool = False) -> PlanSummary:
    """Execute a plan (path or DataFrame) into the run table ``runs_path``.

    Parameters
    ----------
    plan : path or DataFrame
        Run table with empty losses (planner output): run_id, kind, group, N, D, N_T, D_T,
        teacher_id, seed; optional ``lambda``/``tau`` per row (else ``lam``/``tau``).
    runs_path : path
        Results table (CSV/Parquet); created if missing; runs already in it are skipped.
    corpus : ``"synthetic"``, ``"synthetic:vocab=32,..."``, or a text file/folder/``.npy`` path.
    device : ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
    max_runs : execute at most this many plan rows (teachers trained on the way not counted).
    run_ids : only these plan rows (Slurm array tasks use one each).
    teacher_only : only train/append the teachers these rows need (Slurm stage 1).
    threads : CPU threads for torch during this call (restored afterwards). One thread is
        often fastest for tiny models on a loaded machine.
    dry_run : resolve shapes, tokens and cache hits without training (``summary.planned``).

    Returns
    -------
    PlanSummary

    Example
    -------
    >>> plan = pd.DataFrame({"run_id": ["s1"], "kind": ["supervised"], "N": [2e4], "D": [2e4]})
    >>> import tempfile; tmp = tempfile.mkdtemp()
    >>> s = run_plan(plan, f"{tmp}/runs.csv", device="cpu", progress=False, cache_dir=tmp,
    ...              train=TrainConfig(eval_tokens=1024))
    >>> s.added
    ['s1']
    """
    t0 = time.perf_counter()
    table, plan_name = _load_plan(plan)
    if max_runs is not None and max_runs < 0:
        raise DistillawError(f"max_runs must be >= 0, got {max_runs}")
    if run_ids is not None:
        wanted = [str(r) for r in run_ids]
        unknown = sorted(set(wanted) - set(table["run_id"]))
        if unknown:
            raise DistillawError(f"{plan_name}: run id(s) not in the plan: {', '.join(unknown)}")
        table = table[table["run_id"].isin(wanted)].reset_index(drop=True)
    train = train or TrainConfig()
    runs_path = Path(runs_path)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if threads is not None and threads < 1:
        raise DistillawError(f"threads must be >= 1, got {threads}")
    runtime = resolve_runtime(device, peak_flops)
    summary = PlanSummary(runs_path=runs_path)
    prev_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        source = open_source(corpus, cache)
        ctx = _Ctx(source=source, corpus=source.spec(), train=train, runtime=runtime,
                   store=ModelStore(cache), work=cache / "work", runs_path=runs_path,
                   progress=_Progress(progress and runtime.is_main, len(table)),
                   commit=git_commit(), val_windows=source.val_windows(train.eval_tokens,
                                                                        train.seq_len),
                   flops_model=FlopsModel(n_ctx=train.seq_len, n_vocab=source.vocab_size))
        existing = _existing(runs_path)
        done = set() if existing is None else set(existing["run_id"])
        executed = 0
        added_rows: list[dict] = []
        with ctx.progress:
            for i, r in table.iterrows():
                row_no = i + 1
                rid = str(r["run_id"])
                seed = 0 if pd.isna(r["seed"]) else int(r["seed"])
                if rid in done:
                    summary.skipped.append(rid)
                    ctx.progress.advance()
                    continue
                if max_runs is not None and executed >= max_runs:
                    summary.not_run.append(rid)
                    continue
                lam_r = _param(r, "lambda", lam, row_no)
                tau_r = _param(r, "tau", tau, row_no)
                if not (0.0 <= lam_r <= 1.0) or not tau_r > 0:
                    raise DistillawError(f"plan row {row_no} ({rid}): need 0 <= lambda <= 1 and "
                                         f"tau > 0, got {lam_r}, {tau_r}")
                if dry_run:
                    summary.planned.append(_describe(ctx, r, seed))
                    continue
                executed += 1
                extra = {c: r[c] for c in PASS_THROUGH if c in r.index and pd.notna(r[c])}
                if r["kind"] == "supervised":
                    if teacher_only:
                        continue
                    job = _model_job(ctx, float(r["N"]), float(r["D"]), seed)
                    dup = _row_with_key(_existing(runs_path), job["key"])
                    if dup is not None:
                        summary.duplicates[rid] = dup
                        ctx.progress.note(f"{rid}: same model as row {dup}; not added again")
                        ctx.progress.advance()
                        continue
                    desc = f"{rid}: supervised N={_fmt(job['cfg'].shape.non_embedding_params)} " \
                           f"D={_fmt(job['tokens'])}"
                    meta, _ = _ensure_model(ctx, job, desc)
                    row = _supervised_row(meta, rid, str(r["group"]), extra)
                else:
                    t_meta, tid = _resolve_teacher(ctx, r, seed, summary, row_no)
                    if teacher_only:
                        continue
                    row = {**_distil(ctx, r, t_meta, tid, seed, lam_r, tau_r), **extra}
                _append(ctx, row)
                added_rows.append(row)
                summary.added.append(rid)
                ctx.progress.note(f"{rid}: {row['kind']} N={_fmt(row['N'])} D={_fmt(row['D'])} "
                                  f"{_ce_words(row)} ({row['wall_s']:.1f} s, "
                                  f"{row['tokens_per_s']:,.0f} tok/s)")
                ctx.progress.advance()
        if added_rows:
            summary.rows = validate_runs(pd.DataFrame(added_rows))
    finally:
        torch.set_num_threads(prev_threads)
        runtime.close()
    summary.wall_s = time.perf_counter() - t0
    return summary


def _describe(ctx: _Ctx, r: pd.Series, seed: int) -> dict:
    """Dry-run description of one plan row."""
    job = _model_job(ctx, float(r["N"]), float(r["D"]), seed)
    N = job["cfg"].shape.non_embedding_params
    d = {"run_id": str(r["run_id"]), "kind": r["kind"], "shape": job["cfg"].shape.label(),
         "N": N, "D": job["tokens"], "steps": job["tokens"] // ctx.train.batch_for(job["D_target"])}
    if r["kind"] == "supervised":
        d["flops"] = float(supervised_flops(N, job["tokens"], ctx.flops_model))
        d["cached"] = ctx.store.has(job["key"])
    elif pd.notna(r.get("N_T")) and pd.notna(r.get("D_T")):
        t = _model_job(ctx, float(r["N_T"]), float(r["D_T"]), seed)
        NT = t["cfg"].shape.non_embedding_params
        d.update(teacher_shape=t["cfg"].shape.label(), N_T=NT, D_T=t["tokens"],
                 teacher_cached=ctx.store.has(t["key"]),
                 flops=float(distillation_flops(N, job["tokens"], NT, t["tokens"],
                                                "teacher-inference", ctx.flops_model)))
    else:
        d["teacher_id"] = str(r["teacher_id"])
    return d


def pair_plan(N_S: float, D_S: float, N_T: float, D_T: float, *, seed: int = 0,
              group: str = "default", baseline: bool = True, lam: float = 1.0,
              tau: float = 1.0, tag: str = "") -> pd.DataFrame:
    """Plan rows for one teacher -> student pair (+ the student's supervised baseline).

    Run ids are deterministic (sizes, tokens, seed, lambda, tau and ``tag``), so running the
    same pair twice appends nothing the second time.

    Example
    -------
    >>> list(pair_plan(3e4, 1e6, 1e5, 2e6)["kind"])
    ['supervised', 'distillation']
    """
    for name, v in (("N_S", N_S), ("D_S", D_S), ("N_T", N_T), ("D_T", D_T)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise DistillawError(f"{name} must be a positive number, got {v!r}")
    suffix = f"-s{seed}" + ("" if (lam, tau) == (1.0, 1.0) else f"-lam{lam:g}-tau{tau:g}")
    suffix += f"-{tag}" if tag else ""
    rows = []
    if baseline:
        rows.append({"run_id": f"baseline-N{_fmt(N_S)}-D{_fmt(D_S)}-s{seed}"
                     + (f"-{tag}" if tag else ""), "kind": "supervised", "group": group,
                     "N": N_S, "D": D_S, "seed": seed})
    rows.append({"run_id": f"distill-N{_fmt(N_S)}-D{_fmt(D_S)}-T{_fmt(N_T)}-DT{_fmt(D_T)}{suffix}",
                 "kind": "distillation", "group": group, "N": N_S, "D": D_S, "N_T": N_T,
                 "D_T": D_T, "seed": seed, "lambda": lam, "tau": tau})
    df = pd.DataFrame(rows).assign(L=np.nan)
    df["run_id"] = df["run_id"].str.replace("+", "", regex=False)
    return validate_runs(df, require_loss=False)


def corpus_tag(corpus, cache_dir=None, train: TrainConfig | None = None) -> str:
    """Short hash of the data source and recipe, used to keep pair run ids distinct."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    source = open_source(corpus, cache)
    return _hash({"data": source.identity(), "recipe": (train or TrainConfig()).recipe()})[:8]


def run_pair(N_S: float, D_S: float, N_T: float, D_T: float, runs_path, *, seed: int = 0,
             group: str | None = None, baseline: bool = True, lam: float = 1.0, tau: float = 1.0,
             corpus="synthetic", cache_dir=None, train: TrainConfig | None = None,
             **kwargs) -> PlanSummary:
    """Distil one student (N_S, D_S) from one teacher (N_T, D_T), plus the student baseline.

    Appends up to three rows: the teacher's supervised run (if new), the baseline, the
    distillation. Other keyword arguments go to :func:`run_plan`.

    Example
    -------
    >>> import tempfile; tmp = tempfile.mkdtemp()
    >>> s = run_pair(1e4, 2e4, 2e4, 2e4, f"{tmp}/runs.csv", device="cpu", progress=False,
    ...              cache_dir=tmp, train=TrainConfig(eval_tokens=1024))
    >>> len(s.added)
    3
    """
    tag = corpus_tag(corpus, cache_dir, train)
    plan = pair_plan(N_S, D_S, N_T, D_T, seed=seed, group=group or _default_group(corpus),
                     baseline=baseline, lam=lam, tau=tau, tag=tag)
    return run_plan(plan, runs_path, corpus=corpus, cache_dir=cache_dir, train=train, **kwargs)


def _default_group(corpus) -> str:
    s = str(corpus)
    return "synthetic" if s.startswith("synthetic") else Path(s).name


__all__ = ["ModelStore", "PlanSummary", "corpus_tag", "default_cache_dir", "git_commit",
           "pair_plan", "run_pair", "run_plan"]
