"""Reliability: the runner recovers from unreadable checkpoints and cached models, and
loads them with ``weights_only=True`` (nothing read from the cache can run code)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from distillaw.errors import DistillawError  # noqa: E402
from distillaw.runner.data import SyntheticMarkov  # noqa: E402
from distillaw.runner.model import GPTConfig, ModelShape  # noqa: E402
from distillaw.runner.store import ModelStore  # noqa: E402
from distillaw.runner.train import TrainConfig, resolve_runtime, train_model  # noqa: E402

CPU = resolve_runtime("cpu")
TC = TrainConfig(seq_len=32, eval_tokens=1024, batch_tokens=256, checkpoint_every=2)
SRC = SyntheticMarkov()
CFG = GPTConfig(ModelShape(1, 32, 2), SRC.vocab_size, TC.seq_len)


@pytest.fixture(autouse=True)
def _one_thread():
    # As in tests/runner: tiny models are overhead-bound; one thread per xdist worker.
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def _interrupt_at(step):
    def stop(info):
        if info["step"] == step:
            raise KeyboardInterrupt
    return stop


def _train(ckpt=None, on_step=None):
    return train_model(CFG, 10 * 256, source=SRC, train=TC, seed=0, stream=3, runtime=CPU,
                       checkpoint=ckpt, on_step=on_step)


@pytest.fixture(scope="module")
def full():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train()
    finally:
        torch.set_num_threads(prev)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_unreadable_checkpoint_is_set_aside_and_the_run_resumes(tmp_path, full, damage,
                                                                capsys):
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        _train(ckpt, _interrupt_at(7))  # checkpoints at steps 2, 4, 6 (6 current, 4 prev)
    data = ckpt.read_bytes()
    ckpt.write_bytes({"truncate": data[:len(data) // 2], "garbage": b"\x00junk" * 50,
                      "empty": b""}[damage])
    out = _train(ckpt)
    assert out.resumed_from == 4  # the last good state: the previous checkpoint
    assert out.val_loss == full.val_loss  # and the run is the same run
    aside = list(tmp_path.glob("run.pt.unreadable-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == len(
        {"truncate": data[:len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    assert "set aside" in capsys.readouterr().err


def test_both_checkpoints_unreadable_restarts_from_scratch(tmp_path, full):
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        _train(ckpt, _interrupt_at(7))
    for p in (ckpt, tmp_path / "run.pt.prev"):
        p.write_bytes(p.read_bytes()[:100])
    out = _train(ckpt)
    assert out.resumed_from == 0 and out.val_loss == full.val_loss
    assert len(list(tmp_path.glob("*.unreadable-*"))) == 2


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_checkpoint_that_would_run_code_is_not_executed(tmp_path, full, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "run.pt"
    torch.save({"model": _Evil(), "opt": {}, "step": 3, "steps": 10, "batch_tokens": 256,
                "loss_ema": 1.0, "train_s": 0.0}, ckpt)
    out = _train(ckpt)
    assert not (tmp_path / "PWNED").exists()
    assert out.resumed_from == 0 and out.val_loss == full.val_loss
    assert list(tmp_path.glob("run.pt.unreadable-*"))


def test_unreadable_cached_model_is_set_aside_for_retraining(tmp_path, full):
    store = ModelStore(tmp_path)
    store.save("k1", full.model, {"key": "k1", "config": CFG.to_dict()})
    assert isinstance(store.load("k1", CPU.device), torch.nn.Module)
    w = store.dir("k1") / "model.pt"
    w.write_bytes(w.read_bytes()[:64])
    with pytest.raises(DistillawError, match="unreadable.*set aside.*run again"):
        store.load("k1", CPU.device)
    assert not store.has("k1") and list(store.root.glob("k1.unreadable-*"))


def test_waiting_for_a_model_lock_says_so_and_is_bounded(tmp_path, monkeypatch, capsys):
    from filelock import FileLock

    import distillaw.runner.store as plan_mod
    from distillaw.errors import StorageError

    monkeypatch.setattr(plan_mod, "MODEL_LOCK_TIMEOUT", 0.2)
    store = ModelStore(tmp_path)
    with store.lock("k"):  # free: taken at once, silently
        pass
    assert capsys.readouterr().err == ""
    with FileLock(str(store.root / "k.lock")):  # another process trains it
        with pytest.raises(StorageError, match="could not lock the cached model within 0.2 s"):
            with store.lock("k"):
                pass
    assert "another process is training this model" in capsys.readouterr().err
