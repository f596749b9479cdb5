r"""Training loop: supervised next-token training and knowledge distillation (one loop).

Objective (Busbridge et al. 2025, Eqs. 4-7; defaults lambda = 1, tau = 1, as in their scaling
runs)::

    loss = (1 - lambda) CE(y, z_S) + lambda tau^2 KL( softmax(z_T / tau) || softmax(z_S / tau) )

averaged over tokens, with teacher logits ``z_T`` computed on the fly under ``no_grad``. KL
equals their cross-entropy form ``L_KD`` minus the teacher entropy: same gradients, but zero
when the student matches the teacher. Supervised training is ``lambda = 0`` without a teacher.

Recipe (defaults of :class:`TrainConfig`; chosen on the synthetic source with a CPU sweep,
see ``bench/runner_sweep.py``):

* AdamW (betas 0.9/0.95, decoupled weight decay 0.1 on matrices only), gradient clipping 1.0,
  fused kernels on CUDA.
* Peak learning rate scaled for width, ``lr = 8e-3 (128 / d_model)^0.5``, linear warm-up
  over 5% of the steps, cosine decay to 10% of peak. The exponent 0.5 (not muP's 1) fits the
  optimum measured on the synthetic source at D = 1e6: best lr ~0.02 at d = 20, 0.01-0.02 at
  d = 50, 0.005-0.016 at d = 64 (flat). Untested beyond d = 112: for GPU-scale models sweep
  ``--lr`` once (this rule gives 3.3e-3 at d = 768).
* Batch in tokens grows with the run: ``B = 2^round(log2 sqrt(16 D))`` clipped to
  ``[4 seq_len, 2^20]`` (1024 tokens at D = 1e5, 16k at 1e7, 512k at 2e10), so tiny runs
  still take ~100 optimiser steps and large ones use GPU-sized batches.
* Held-out loss: cross-entropy in nats/token on a fixed validation set (positions
  ``t >= eval_from``; see :mod:`distillaw.runner.data`).

Devices: on CUDA the forward pass runs under bf16 autocast (the loss in float32), TF32 matmuls,
optional ``torch.compile``; on CPU the same code runs with autocast disabled. Multi-GPU:
launched by ``torchrun``, each rank takes every ``world``-th micro-batch of the *same* global
batch (so results do not depend on the number of GPUs) and DDP averages the gradients;
with one process nothing changes.

Data order is a pure function of (stream, step), so a run resumed from a
checkpoint sees exactly the batches it would have seen: the final model is bit-identical on
CPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DistillawError
from .data import Prefetch
from .model import GPT, GPTConfig, model_flops_per_token

# Dense bf16 tensor-core peak FLOP/s by device name (vendor data sheets), for MFU.
PEAK_BF16_FLOPS = {
    "H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12, "H200": 989e12, "GH200": 989e12,
    "B200": 2250e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12, "L4": 121e12,
    "A10G": 125e12, "A10": 125e12, "RTX 4090": 165e12, "V100": 125e12,
}


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe shared by teachers, students and baselines.

    ``None`` means "automatic" (see the module docstring). Fields that change results enter
    the cache key (:meth:`recipe`); checkpoint and compile settings do not.
    """

    seq_len: int = 128
    batch_tokens: int | None = None
    micro_batch_tokens: int | None = None
    lr: float | None = None
    lr_ref: float = 8e-3
    lr_ref_width: int = 128
    lr_width_exponent: float = 0.5
    warmup_frac: float = 0.05
    final_lr_frac: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.95
    eval_tokens: int = 65_536
    precision: str = "bf16"
    compile: bool = False
    tie_embeddings: bool = True
    aspect: float | None = None
    checkpoint_every: int | None = None
    checkpoint_seconds: float = 300.0
    prefetch: int = 2  # batches made ahead in a background thread (0: in the training loop)

    def __post_init__(self):
        if self.seq_len < 2:
            raise DistillawError(f"seq_len must be >= 2, got {self.seq_len}")
        if self.precision not in ("bf16", "fp32"):
            raise DistillawError(f"precision must be bf16 or fp32, got {self.precision!r}")
        for name in ("batch_tokens", "micro_batch_tokens"):
            v = getattr(self, name)
            if v is not None and (v < self.seq_len or v % self.seq_len):
                raise DistillawError(f"{name} must be a positive multiple of seq_len "
                                     f"({self.seq_len}), got {v}")
        if self.lr is not None and not self.lr > 0:
            raise DistillawError(f"lr must be > 0, got {self.lr}")

    def recipe(self) -> dict:
        """Fields that define the trained model (the cache key)."""
        skip = {"micro_batch_tokens", "compile", "checkpoint_every", "checkpoint_seconds",
                "prefetch"}
        return {k: v for k, v in asdict(self).items() if k not in skip}

    def batch_for(self, tokens: float) -> int:
        """Batch size in tokens for a run of ``tokens`` tokens."""
        if self.batch_tokens is not None:
            return self.batch_tokens
        b = 2 ** round(math.log2(math.sqrt(16.0 * max(tokens, 1.0))))
        return int(min(max(b, 4 * self.seq_len), 2 ** 20))

    def lr_for(self, d_model: int) -> float:
        if self.lr is not None:
            return self.lr
        return self.lr_ref * (self.lr_ref_width / d_model) ** self.lr_width_exponent


def lr_at(step: int, steps: int, peak: float, warmup_frac: float, final_frac: float) -> float:
    """Linear warm-up then cosine decay from ``peak`` to ``final_frac * peak``."""
    warm = max(1, round(warmup_frac * steps))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


# -- devices ------------------------------------------------------------------------------

@dataclass
class Runtime:
    """Where training runs: device, process group (torchrun) and peak FLOP/s for MFU."""

    device: torch.device
    world_size: int = 1
    rank: int = 0
    device_name: str = "cpu"
    peak_flops: float | None = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        if not self.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def close(self) -> None:
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self.owns_group = False

    def describe(self) -> str:
        s = f"{self.device_name} ({self.device.type})"
        return s + (f" x{self.world_size}" if self.distributed else "")


def resolve_runtime(device: str = "auto", peak_flops: float | None = None) -> Runtime:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``; joins a ``torchrun`` process group if any.

    Raises :class:`DistillawError` for an unknown device or CUDA without a GPU.
    """
    dev = (device or "auto").strip().lower()
    if dev not in ("auto", "cpu", "cuda") and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        raise DistillawError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    has_cuda = torch.cuda.is_available()
    if dev.startswith("cuda") and not has_cuda:
        raise DistillawError(f"device {device!r} requested but no CUDA GPU is available "
                             "(torch.cuda.is_available() is False); use --device cpu")
    if dev == "auto":
        dev = "cuda" if has_cuda else "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if world > 1:
        if dev.startswith("cuda"):
            dev = f"cuda:{local}"
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if dev.startswith("cuda") else "gloo")
            owns = True
    if dev == "cuda":
        # torch.cuda.set_device refuses a device without an index ("cuda"): use the current one.
        dev = f"cuda:{torch.cuda.current_device()}"
    torch_dev = torch.device(dev)
    if torch_dev.type == "cuda":
        torch.cuda.set_device(torch_dev)
        # TF32 for any float32 matmul left outside autocast.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name(torch_dev)
        if peak_flops is None:
            for key in sorted(PEAK_BF16_FLOPS, key=len, reverse=True):
                if key.lower() in name.lower():
                    peak_flops = PEAK_BF16_FLOPS[key]
                    break
    else:
        name = "cpu"
    return Runtime(torch_dev, world, rank, name, peak_flops, owns)


# -- losses -------------------------------------------------------------------------------

def distillation_objective(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                           targets: torch.Tensor, lam: float = 1.0, tau: float = 1.0):
    """``(1 - lam) CE + lam tau^2 KL(p_T^tau || p_S^tau)``, mean over tokens.

    Returns ``(loss, ce, kl)`` as 0-d tensors (``kl`` is 0 without a teacher). Computed in
    float32 whatever the autocast dtype.

    Example
    -------
    >>> s, t = torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)
    >>> loss, ce, kl = distillation_objective(s, t, torch.zeros(1, 2, dtype=torch.long))
    >>> round(float(loss), 6), round(float(ce), 4)
    (0.0, 1.3863)
    """
    V = student_logits.shape[-1]
    s = student_logits.float().reshape(-1, V)
    y = targets.reshape(-1)
    if teacher_logits is None:
        ce = F.cross_entropy(s, y)
        return ce, ce, torch.zeros((), device=s.device)
    t = teacher_logits.float().reshape(-1, V)
    log_ps = F.log_softmax(s / tau, dim=-1)
    log_pt = F.log_softmax(t / tau, dim=-1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean()
    if lam >= 1.0:
        with torch.no_grad():
            ce = F.cross_entropy(s, y)
        return tau * tau * kl, ce, kl
    ce = F.cross_entropy(s, y)
    return (1.0 - lam) * ce + lam * tau * tau * kl, ce, kl


def _autocast(runtime: Runtime, precision: str):
    # Same code path on CPU (autocast disabled) and CUDA (bf16).
    return torch.autocast(device_type=runtime.device.type, dtype=torch.bfloat16,
                          enabled=runtime.device.type == "cuda" and precision == "bf16")


@torch.no_grad()
def evaluate(model: nn.Module, windows: np.ndarray, *, runtime: Runtime, eval_from: int = 0,
             micro_seqs: int = 64, precision: str = "bf16",
             teacher: nn.Module | None = None) -> tuple[float, float | None]:
    """Held-out cross-entropy (nats/token) on ``windows`` (n, T+1), and KL(teacher || model).

    Positions ``t < eval_from`` are skipped. Windows are sharded over ranks and summed.
    """
    was_training = model.training
    model.eval()
    mine = windows[runtime.rank::runtime.world_size]
    tot_ce = tot_kl = 0.0
    n = 0
    for i in range(0, len(mine), micro_seqs):
        xy = torch.from_numpy(mine[i:i + micro_seqs]).to(runtime.device)
        x, y = xy[:, :-1], xy[:, 1:]
        with _autocast(runtime, precision):
            logits = model(x)
            t_logits = teacher(x) if teacher is not None else None
        lp = F.log_softmax(logits.float()[:, eval_from:], dim=-1)
        nll = -lp.gather(-1, y[:, eval_from:, None]).squeeze(-1)
        tot_ce += float(nll.sum())
        if t_logits is not None:
            lpt = F.log_softmax(t_logits.float()[:, eval_from:], dim=-1)
            tot_kl += float((lpt.exp() * (lpt - lp)).sum())
        n += nll.numel()
    tot_ce, tot_kl, n = runtime.all_sum([tot_ce, tot_kl, float(n)])
    model.train(was_training)
    return tot_ce / n, (tot_kl / n if teacher is not None else None)


# -- the loop -----------------------------------------------------------------------------

@dataclass
class TrainOutcome:
    """What one training run produced (no row formatting here)."""

    model: GPT
    steps: int
    tokens: int
    batch_tokens: int
    lr: float
    warmup_steps: int
    val_loss: float
    val_kl: float | None
    train_loss: float  # the training objective (the KD term alone for pure distillation)
    train_ce: float  # the student's cross-entropy on its training tokens
    wall_s: float
    train_s: float
    tokens_per_s: float
    model_flops_per_token: float
    mfu: float | None
    resumed_from: int


# Keys every checkpoint holds; all values are tensors or plain types, so it loads with
# torch.load(weights_only=True): nothing read from the cache can run code.
_CKPT_KEYS = ("model", "opt", "step", "steps", "batch_tokens", "loss_ema", "train_s")


def _prev(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def _save_atomic(obj, path: Path) -> None:
    """Write a checkpoint to a temp file, fsync, keep the current one as ``.prev`` (the last
    good state should the new one turn out unreadable), then rename the new one in.

    Not :func:`distillaw._io.atomic_write`: that replaces the old file in one rename, and
    here the old checkpoint must survive as ``.prev`` (a second rename between the fsync
    and the swap), which ``load_checkpoint`` falls back to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.replace(path, _prev(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def discard_checkpoint(path: Path) -> None:
    """Remove a finished run's checkpoint and its previous copy."""
    path.unlink(missing_ok=True)
    _prev(path).unlink(missing_ok=True)


def _set_aside(path: Path, reason: str, runtime: Runtime) -> None:
    """Rename an unreadable checkpoint (kept for inspection) so it never blocks the run."""
    if not runtime.is_main:
        return
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, aside)
        sys.stderr.write(f"warning: checkpoint {path} is unreadable ({reason}); set aside as "
                         f"{aside.name}; resuming from the last good state\n")


def load_checkpoint(path: Path, device: torch.device, runtime: Runtime) -> dict | None:
    """The newest readable checkpoint of a run (``path``, else its ``.prev``), or None.

    Loaded with ``weights_only=True``. An unreadable or truncated file is set aside (renamed
    ``*.unreadable-<time>``) and the previous state, or a fresh start, is used instead.
    """
    for p in (path, _prev(path)):
        if not p.exists():
            continue
        try:
            state = torch.load(p, map_location=device, weights_only=True)
            if not isinstance(state, dict) or any(k not in state for k in _CKPT_KEYS):
                raise ValueError("not a distillaw checkpoint")
        except Exception as exc:  # torch raises many types on bad bytes (zip, pickle, EOF)
            reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else \
                type(exc).__name__
            _set_aside(p, reason, runtime)
            continue
        return state
    return None


def build_model(cfg: GPTConfig, seed: int) -> GPT:
    """Initialise on CPU with a private RNG (the global torch RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT(cfg)


def _micro_split(batch_seqs: int, micro_tokens: int, seq_len: int, world: int) -> tuple[int, int]:
    """(sequences per micro-batch, micro-batches per step); the latter a multiple of world."""
    if batch_seqs % world:
        raise DistillawError(f"batch of {batch_seqs} sequences does not split over {world} ranks")
    micro = max(1, min(micro_tokens // seq_len, batch_seqs // world))
    while batch_seqs % (micro * world):
        micro -= 1
    return micro, batch_seqs // micro


def train_model(cfg: GPTConfig, tokens: float, *, source, train: TrainConfig, seed: int,
                stream: int, runtime: Runtime, teacher: nn.Module | None = None,
                lam: float = 1.0, tau: float = 1.0, checkpoint: Path | None = None,
                on_step: Callable[[dict], None] | None = None,
                val_windows: np.ndarray | None = None) -> TrainOutcome:
    """Train a model of config ``cfg`` for ``tokens`` tokens (rounded up to whole batches).

    Supervised when ``teacher`` is None, otherwise distillation with ``lam``/``tau``. If
    ``checkpoint`` exists the run resumes from it; it is rewritten every
    ``train.checkpoint_every`` steps or ``train.checkpoint_seconds``, atomically, by rank 0.
    ``on_step`` receives ``{"step", "steps", "loss", "ce", "tokens_per_s"}`` after each logged
    step (it may raise to interrupt the run; the checkpoint survives): ``loss`` is the training
    objective (with a teacher and ``lam = 1``, the KD term alone), ``ce`` the student's
    cross-entropy on the training tokens, the number comparable with the held-out loss. Both
    are running means (EMA, weight 0.1).
    """
    t_start = time.perf_counter()
    dev = runtime.device
    B = train.batch_for(tokens)
    T = cfg.seq_len
    steps = max(1, math.ceil(tokens / B))
    micro_tokens = train.micro_batch_tokens or min(B, 32_768 if dev.type == "cuda" else 16_384)
    micro_seqs, n_micro = _micro_split(B // T, micro_tokens, T, runtime.world_size)
    peak = train.lr_for(cfg.shape.d_model)
    warm = max(1, round(train.warmup_frac * steps))

    raw = build_model(cfg, seed).to(dev)
    decay = [p for n, p in raw.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in raw.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": train.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=peak, betas=(train.beta1, train.beta2), eps=1e-8,
                            fused=dev.type == "cuda")
    start, elapsed_before, loss_ema, ce_ema = 0, 0.0, float("nan"), float("nan")
    state = None if checkpoint is None else load_checkpoint(checkpoint, dev, runtime)
    if state is not None:
        if state["steps"] != steps or state["batch_tokens"] != B:
            raise DistillawError(f"checkpoint {checkpoint} belongs to a different run "
                                 f"({state['steps']} steps of {state['batch_tokens']} tokens)")
        raw.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = int(state["step"])
        elapsed_before, loss_ema = float(state["train_s"]), float(state["loss_ema"])
        # Checkpoints written before the cross-entropy was tracked lack "ce_ema": its running
        # mean then starts again at the next logged step (a display value, not a result).
        ce_ema = float(state.get("ce_ema", float("nan")))
    model: nn.Module = torch.compile(raw) if train.compile else raw
    if runtime.distributed:
        ddp_ids = [dev.index] if dev.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ddp_ids)
    if teacher is not None:
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)

    def _sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    log_every = 1 if dev.type == "cpu" else max(1, steps // 200)
    mine = list(range(runtime.rank, n_micro, runtime.world_size))
    t_train0 = time.perf_counter()
    last_ckpt = t_train0
    steady_from, t_steady = None, None
    model.train()

    def make_batch(step: int) -> torch.Tensor:
        # The global batch is a function of (stream, step) only, so neither the micro-batch
        # size, the number of ranks nor the prefetching changes the data (every rank draws
        # it, keeps its part). Pinned once per step, here, off the training thread.
        xy = torch.from_numpy(source.train_batch(np.random.default_rng([stream, step]),
                                                 B // T, T))
        return xy.pin_memory() if dev.type == "cuda" else xy

    with Prefetch(make_batch, start, steps, depth=train.prefetch) as batches:
        for step in range(start, steps):
            lr = lr_at(step, steps, peak, train.warmup_frac, train.final_lr_frac)
            for g in opt.param_groups:
                g["lr"] = lr
            step_loss = torch.zeros((), device=dev)
            step_ce = torch.zeros((), device=dev)
            batch = batches.get(step)
            for i, j in enumerate(mine):
                xy = batch[j * micro_seqs:(j + 1) * micro_seqs]
                if dev.type == "cuda":
                    xy = xy.to(dev, non_blocking=True)
                x, y = xy[:, :-1], xy[:, 1:]
                sync_ctx = (model.no_sync() if runtime.distributed and i < len(mine) - 1
                            else contextlib.nullcontext())
                with sync_ctx:
                    with _autocast(runtime, train.precision):
                        logits = model(x)
                        if teacher is not None:
                            with torch.no_grad():
                                t_logits = teacher(x)
                        else:
                            t_logits = None
                    loss, ce, _ = distillation_objective(logits, t_logits, y, lam, tau)
                    (loss / len(mine)).backward()
                step_loss += loss.detach() / len(mine)
                step_ce += ce.detach() / len(mine)
            if train.grad_clip:
                torch.nn.utils.clip_grad_norm_(raw.parameters(), train.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            done = step + 1
            if steady_from is None and done - start >= min(3, steps - start - 1) and done < steps:
                _sync()
                steady_from, t_steady = done, time.perf_counter()
            if done % log_every == 0 or done == steps:
                v, c = (x / runtime.world_size
                        for x in runtime.all_sum([float(step_loss), float(step_ce)]))
                loss_ema = v if math.isnan(loss_ema) else 0.9 * loss_ema + 0.1 * v
                ce_ema = c if math.isnan(ce_ema) else 0.9 * ce_ema + 0.1 * c
                if on_step is not None and runtime.is_main:
                    el = time.perf_counter() - t_train0
                    on_step({"step": done, "steps": steps, "loss": loss_ema, "ce": ce_ema,
                             "tokens_per_s": (done - start) * B / max(el, 1e-9)})
            if checkpoint is not None and done < steps and (
                    (train.checkpoint_every and done % train.checkpoint_every == 0)
                    or time.perf_counter() - last_ckpt >= train.checkpoint_seconds):
                if runtime.is_main:
                    _save_atomic({"model": raw.state_dict(), "opt": opt.state_dict(), "step": done,
                                  "steps": steps, "batch_tokens": B, "loss_ema": loss_ema,
                                  "ce_ema": ce_ema,
                                  "train_s": elapsed_before + time.perf_counter() - t_train0},
                                 checkpoint)
                runtime.barrier()
                last_ckpt = time.perf_counter()
    _sync()
    t_end = time.perf_counter()
    train_s = elapsed_before + (t_end - t_train0)
    if steady_from is not None and steps - steady_from > 0:
        tok_s = (steps - steady_from) * B / max(t_end - t_steady, 1e-9)
    else:
        tok_s = (steps - start) * B / max(t_end - t_train0, 1e-9)
    if val_windows is None:
        val_windows = source.val_windows(train.eval_tokens, T)
    val_loss, val_kl = evaluate(raw, val_windows, runtime=runtime, eval_from=source.eval_from,
                                micro_seqs=max(1, micro_tokens // T), precision=train.precision,
                                teacher=teacher)
    fpt = model_flops_per_token(cfg)
    if teacher is not None:
        fpt_total = 3 * fpt + model_flops_per_token(teacher.cfg)
    else:
        fpt_total = 3 * fpt
    mfu = None
    if dev.type == "cuda" and runtime.peak_flops:
        mfu = tok_s * fpt_total / (runtime.peak_flops * runtime.world_size)
    return TrainOutcome(model=raw, steps=steps, tokens=steps * B, batch_tokens=B, lr=peak,
                        warmup_steps=warm, val_loss=val_loss, val_kl=val_kl, train_loss=loss_ema,
                        train_ce=ce_ema,
                        wall_s=elapsed_before + time.perf_counter() - t_start, train_s=train_s,
                        tokens_per_s=tok_s, model_flops_per_token=fpt, mfu=mfu,
                        resumed_from=start)
