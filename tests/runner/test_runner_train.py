"""Runner: distillation objective, training loop (supervised, distillation, resume), devices."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from distillaw.errors import DistillawError  # noqa: E402
from distillaw.runner.data import SyntheticMarkov, open_corpus  # noqa: E402
from distillaw.runner.model import GPTConfig, ModelShape  # noqa: E402
from distillaw.runner.train import (  # noqa: E402
    TrainConfig,
    _micro_split,
    distillation_objective,
    evaluate,
    lr_at,
    resolve_runtime,
    train_model,
)

CPU = resolve_runtime("cpu")
TINY = ModelShape(1, 32, 2)
FAST = TrainConfig(seq_len=32, eval_tokens=2048, batch_tokens=256)


def _np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("lam, tau", [(1.0, 1.0), (0.7, 2.0), (0.0, 1.5)])
def test_kd_loss_equals_hand_computed_kl(lam, tau):
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(2, 3, 5)) * 2, rng.normal(size=(2, 3, 5)) * 2
    y = rng.integers(0, 5, size=(2, 3))
    # by hand: KL(p_T^tau || p_S^tau) per token, then the mean
    lps, lpt = _np_log_softmax(zs / tau), _np_log_softmax(zt / tau)
    kl = (np.exp(lpt) * (lpt - lps)).sum(-1).mean()
    ce = -np.take_along_axis(_np_log_softmax(zs), y[..., None], -1).mean()
    want = (1 - lam) * ce + lam * tau**2 * kl
    loss, ce_t, kl_t = distillation_objective(torch.tensor(zs), torch.tensor(zt),
                                              torch.tensor(y), lam, tau)
    assert float(loss) == pytest.approx(want, rel=1e-6)
    assert float(ce_t) == pytest.approx(ce, rel=1e-6)
    assert float(kl_t) == pytest.approx(kl, rel=1e-6)
    # gradient flows to the student only
    s = torch.tensor(zs, requires_grad=True)
    distillation_objective(s, torch.tensor(zt), torch.tensor(y), lam, tau)[0].backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_kd_loss_zero_when_student_matches_teacher():
    z = torch.randn(2, 4, 7)
    loss, _, kl = distillation_objective(z, z.clone(), torch.zeros(2, 4, dtype=torch.long))
    assert abs(float(loss)) < 1e-6 and abs(float(kl)) < 1e-6


def test_lr_schedule_warmup_and_cosine():
    lrs = [lr_at(s, 100, 1.0, 0.05, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(1.0)
    assert max(lrs) == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1, abs=0.01)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))


def test_auto_batch_and_lr():
    tc = TrainConfig()
    assert tc.batch_for(1e5) == 1024 and tc.batch_for(1e7) == 16384
    assert tc.batch_for(1e12) == 2**20 and tc.batch_for(10) == 4 * tc.seq_len
    assert tc.lr_for(128) == pytest.approx(8e-3)
    assert tc.lr_for(512) == pytest.approx(tc.lr_for(128) / 2)
    assert TrainConfig(lr=1e-3).lr_for(512) == 1e-3
    with pytest.raises(DistillawError):
        TrainConfig(batch_tokens=100)  # not a multiple of seq_len
    with pytest.raises(DistillawError):
        TrainConfig(precision="fp8")


def test_micro_split_partitions_global_batch():
    # The global batch is the same micro-batches whatever the world size.
    micro, n = _micro_split(64, 16 * 128, 128, 1)
    assert (micro, n) == (16, 4)
    micro2, n2 = _micro_split(64, 16 * 128, 128, 2)
    assert micro2 * n2 == 64 and n2 % 2 == 0
    ranks = [list(range(r, n2, 2)) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == list(range(n2))
    with pytest.raises(DistillawError):
        _micro_split(3, 128, 128, 2)


def _untrained_loss(cfg, source, tc):
    from distillaw.runner.train import build_model
    m = build_model(cfg, 0)
    return evaluate(m, source.val_windows(tc.eval_tokens, cfg.seq_len), runtime=CPU,
                    eval_from=source.eval_from)[0]


def test_supervised_then_distillation_on_synthetic_loss_decreases():
    src = SyntheticMarkov()
    cfg = GPTConfig(TINY, src.vocab_size, FAST.seq_len)
    before = _untrained_loss(cfg, src, FAST)
    assert math.log(32) - 0.3 < before < 3 * math.log(32)
    seen = []
    teacher = train_model(cfg, 40 * 256, source=src, train=FAST, seed=0, stream=1, runtime=CPU,
                          on_step=seen.append)
    assert teacher.steps == 40 and teacher.tokens == 40 * 256 and len(seen) == 40
    assert teacher.val_loss < before - 0.3
    assert seen[-1]["loss"] < seen[0]["loss"]
    assert teacher.val_loss > src.entropy_rate  # cannot beat the entropy rate
    student = train_model(GPTConfig(ModelShape(1, 16, 1), src.vocab_size, FAST.seq_len), 20 * 256,
                          source=src, train=FAST, seed=1, stream=2, runtime=CPU,
                          teacher=teacher.model)
    s_before = _untrained_loss(student.model.cfg, src, FAST)
    assert student.val_loss < s_before - 0.2
    assert student.val_kl is not None and student.val_kl > 0
    assert student.mfu is None  # CPU: no MFU


def test_progress_reports_cross_entropy_not_the_kd_term():
    """Issue 15: under pure distillation the objective is the KD term (near 0); what the
    progress shows (``ce``) is the student's cross-entropy, comparable with the held-out loss."""
    src = SyntheticMarkov()
    sup = []
    teacher = train_model(GPTConfig(TINY, src.vocab_size, FAST.seq_len), 30 * 256, source=src,
                          train=FAST, seed=0, stream=1, runtime=CPU, on_step=sup.append)
    assert all(i["ce"] == pytest.approx(i["loss"]) for i in sup)  # supervised: the same
    assert teacher.train_ce == pytest.approx(sup[-1]["ce"])
    kd = []
    student = train_model(GPTConfig(ModelShape(1, 16, 1), src.vocab_size, FAST.seq_len),
                          20 * 256, source=src, train=FAST, seed=1, stream=2, runtime=CPU,
                          teacher=teacher.model, lam=1.0, on_step=kd.append)
    last = kd[-1]
    assert last["loss"] < 0.5 * last["ce"]              # the KD term is not the loss
    # the CE is comparable with the held-out loss (a running mean over 20 steps: it lags)
    assert abs(last["ce"] - student.val_loss) < 0.4
    assert student.train_ce == pytest.approx(last["ce"])
    assert student.train_loss == pytest.approx(last["loss"])


def test_supervised_on_text_file_loss_decreases(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("the teacher and the student went to the scaling law seminar. " * 400)
    src = open_corpus(f, tmp_path)
    cfg = GPTConfig(TINY, src.vocab_size, FAST.seq_len)
    before = _untrained_loss(cfg, src, FAST)
    out = train_model(cfg, 30 * 256, source=src, train=FAST, seed=0, stream=1, runtime=CPU)
    assert out.val_loss < before - 1.0


def test_resume_is_bit_identical(tmp_path):
    src = SyntheticMarkov()
    cfg = GPTConfig(TINY, src.vocab_size, FAST.seq_len)
    tc = TrainConfig(seq_len=32, eval_tokens=1024, batch_tokens=256, checkpoint_every=3)
    full = train_model(cfg, 12 * 256, source=src, train=tc, seed=0, stream=7, runtime=CPU)
    ckpt = tmp_path / "run.pt"

    def boom(info):
        if info["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(cfg, 12 * 256, source=src, train=tc, seed=0, stream=7, runtime=CPU,
                    checkpoint=ckpt, on_step=boom)
    assert torch.load(ckpt, weights_only=False)["step"] == 6
    resumed = train_model(cfg, 12 * 256, source=src, train=tc, seed=0, stream=7, runtime=CPU,
                          checkpoint=ckpt)
    assert resumed.resumed_from == 6
    assert resumed.val_loss == full.val_loss
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_devices():
    assert resolve_runtime("cpu").device.type == "cpu"
    assert resolve_runtime("auto").device.type in ("cpu", "cuda")
    with pytest.raises(DistillawError, match="unknown device"):
        resolve_runtime("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DistillawError, match="no CUDA GPU"):
            resolve_runtime("cuda")


def test_cuda_code_path_flags_on_cpu():
    # The GPU path's switches (bf16 autocast, compile off) run on CPU: autocast is disabled
    # there, so bf16 and fp32 recipes give identical losses.
    src = SyntheticMarkov()
    cfg = GPTConfig(TINY, src.vocab_size, FAST.seq_len)
    a = train_model(cfg, 4 * 256, source=src, train=FAST, seed=0, stream=3, runtime=CPU)
    b = train_model(cfg, 4 * 256, source=src,
                    train=TrainConfig(seq_len=32, eval_tokens=2048, batch_tokens=256,
                                      precision="fp32", micro_batch_tokens=64),
                    seed=0, stream=3, runtime=CPU)
    # micro-batching (gradient accumulation) changes only float rounding
    assert a.val_loss == pytest.approx(b.val_loss, abs=1e-4)


def test_resolve_runtime_cuda_without_index_uses_current_device(monkeypatch):
    # Plumbing only (CI has no GPU): torch.cuda.set_device refuses a bare "cuda" on torch 2.11
    # (seen on a lent H200); the runtime must hand it an indexed device.
    import torch

    seen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA H200")

    def set_device(d):
        if not isinstance(d, int) and getattr(d, "index", None) is None:
            raise ValueError("Expected a torch.device with a specified index")
        seen.append(d)

    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    rt = resolve_runtime("cuda")
    assert str(rt.device) == "cuda:0" and seen and rt.peak_flops == 989e12


def test_prefetched_batches_train_the_same_model():
    # Batches made ahead in a thread are the batches of the same steps: bit-identical runs.
    src = SyntheticMarkov()
    cfg = GPTConfig(TINY, src.vocab_size, FAST.seq_len)
    runs = [train_model(cfg, 6 * 256, source=src, seed=0, stream=3, runtime=CPU,
                        train=TrainConfig(seq_len=32, eval_tokens=1024, batch_tokens=256,
                                          prefetch=depth))
            for depth in (0, 3)]
    assert runs[0].val_loss == runs[1].val_loss
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert "prefetch" not in TrainConfig(prefetch=0).recipe()  # not part of the cache key


def test_prefetch_raises_the_producers_error_and_stops_its_thread():
    from distillaw.runner.data import Prefetch

    def make(step):
        if step == 2:
            raise OSError("corpus unreadable")
        return step * 10

    with Prefetch(make, 0, 5, depth=2) as pre:
        assert [pre.get(0), pre.get(1)] == [0, 10]
        with pytest.raises(OSError, match="corpus unreadable"):
            pre.get(2)
    assert not pre._thread.is_alive()
    with Prefetch(lambda s: s, 0, 1000, depth=2) as pre:  # closed early: the thread stops
        assert pre.get(0) == 0
    assert not pre._thread.is_alive()
    with pytest.raises(ValueError, match="in order"):
        Prefetch(lambda s: s, 0, 3, depth=0).get(1)
