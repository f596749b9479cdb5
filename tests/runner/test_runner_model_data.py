"""Runner: model shapes and parameter accounting, synthetic source, memory-mapped corpora."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from distillaw.errors import DistillawError  # noqa: E402
from distillaw.runner.data import SyntheticMarkov, open_corpus, open_source, parse_synthetic  # noqa: E402
from distillaw.runner.model import (  # noqa: E402
    GPT,
    GPTConfig,
    ModelShape,
    model_flops_per_token,
    shape_for_params,
)

# -- model --------------------------------------------------------------------------------


@pytest.mark.parametrize("lo, hi, tol", [(1e4, 1e5, 0.07), (1e5, 1e9, 0.045)])
def test_shape_helper_hits_target(lo, hi, tol):
    for target in np.geomspace(lo, hi, 40):
        shape = shape_for_params(target)
        assert abs(shape.non_embedding_params / target - 1) <= tol, (target, shape)
        # Idempotent: a plan that repeats a measured N rebuilds the same model.
        assert shape_for_params(shape.non_embedding_params) == shape
        assert shape.d_model >= 16 and shape.head_dim % 2 == 0


def test_shape_helper_depth_grows_with_size():
    layers = [shape_for_params(n).n_layer for n in (1e5, 1e6, 1e7, 1e8)]
    assert layers == sorted(layers) and layers[-1] > layers[0]


@pytest.mark.parametrize("tied", [True, False])
def test_non_embedding_count_matches_module(tied):
    shape = ModelShape(3, 48, 3)
    model = GPT(GPTConfig(shape, vocab_size=40, seq_len=16, tie_embeddings=tied))
    total = sum(p.numel() for p in model.parameters())
    emb = 40 * 48 * (1 if tied else 2)
    assert model.non_embedding_params() == shape.non_embedding_params == total - emb
    assert shape.non_embedding_params == 12 * 3 * 48**2 + 7 * 48


def test_model_is_causal_and_shapes():
    cfg = GPTConfig(ModelShape(2, 32, 2), vocab_size=16, seq_len=12)
    torch.manual_seed(0)
    model = GPT(cfg)
    for b in model.blocks:  # non-zero residual branches, so the test can fail
        torch.nn.init.normal_(b.proj.weight, std=0.1)
        torch.nn.init.normal_(b.out.weight, std=0.1)
    x = torch.randint(0, 16, (2, 12))
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 1) % 16
    a, b = model(x), model(y)
    assert a.shape == (2, 12, 16)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_model_flops_per_token():
    cfg = GPTConfig(ModelShape(2, 32, 2), vocab_size=16, seq_len=64)
    assert model_flops_per_token(cfg) == 2 * 12 * 2 * 32**2 + 2 * 2 * 64 * 32 + 2 * 32 * 16


def test_bad_shapes_raise():
    with pytest.raises(DistillawError):
        ModelShape(2, 30, 4)  # 30 does not split into 4 heads
    with pytest.raises(DistillawError):
        shape_for_params(100)


# -- synthetic source ---------------------------------------------------------------------

def _bruteforce_entropy_rate(src: SyntheticMarkov) -> float:
    """Stationary distribution over all V^k contexts by power iteration; sum pi(c) H(P(.|c))."""
    V, k = src.vocab, src.order
    n = V**k
    succ, p = src.successors, src.probs
    nxt_ctx = (np.arange(n)[:, None] % V ** (k - 1)) * V + succ  # context after each successor
    pi = np.full(n, 1.0 / n)
    for _ in range(3000):
        new = np.zeros(n)
        np.add.at(new, nxt_ctx.ravel(), (pi[:, None] * p[None, :]).ravel())
        if np.abs(new - pi).sum() < 1e-13:
            break
        pi = new
    # Conditional entropy of each context computed from its own row of the transition matrix.
    H = np.empty(n)
    for c in range(n):
        row = np.zeros(V)
        np.add.at(row, succ[c], p)
        nz = row[row > 0]
        H[c] = -(nz * np.log(nz)).sum()
    return float((pi * H).sum())


@pytest.mark.parametrize("opts", [{}, {"vocab": 8, "order": 3, "support": 3, "decay": 0.5}])
def test_synthetic_entropy_rate_exact(opts):
    src = SyntheticMarkov(**opts)
    assert src.successors.shape == (src.vocab**src.order, src.support)
    # successors are distinct within every context
    s = np.sort(src.successors, axis=1)
    assert (np.diff(s, axis=1) > 0).all()
    assert src.entropy_rate == pytest.approx(_bruteforce_entropy_rate(src), abs=1e-10)


def test_synthetic_entropy_rate_empirical():
    src = SyntheticMarkov()
    x = src.sample(np.random.default_rng(1), 400, 2500)
    k, V = src.order, src.vocab
    ctx = np.zeros(x[:, k:].shape, np.int64)
    for i in range(k):
        ctx = ctx * V + x[:, i:x.shape[1] - k + i]
    tgt = x[:, k:]
    # (1) plug-in conditional entropy from counts (uses no probability from the tables)
    joint = np.bincount((ctx * V + tgt).ravel(), minlength=V ** (k + 1)).reshape(-1, V)
    n_ctx = joint.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        plug = -np.nansum(joint * np.log(joint / n_ctx)) / joint.sum()
    assert plug == pytest.approx(src.entropy_rate, abs=0.01)
    # (2) Monte Carlo mean of -log P(x_t | context) under the true chain, within 4 SE
    j = np.argmax(src.successors[ctx] == tgt[..., None], axis=-1)
    nll = -np.log(src.probs[j])
    se = nll.std() / np.sqrt(nll.size)
    assert abs(nll.mean() - src.entropy_rate) < 4 * se + 1e-4


def test_synthetic_batches_deterministic_and_shaped():
    src = parse_synthetic("synthetic:vocab=16,support=3")
    a = src.train_batch(np.random.default_rng([5, 0, 1]), 3, 10)
    b = src.train_batch(np.random.default_rng([5, 0, 1]), 3, 10)
    assert a.shape == (3, 11) and (a == b).all() and a.max() < 16
    v1, v2 = src.val_windows(100, 10), src.val_windows(100, 10)
    assert (v1 == v2).all() and v1.shape == (10, 11)
    assert src.spec() == "synthetic:vocab=16,support=3"
    assert parse_synthetic(src.spec()) == src


@pytest.mark.parametrize("bad", ["synthetic:vocab=x", "synthetic:colour=3", "synthetic:support=1",
                                 "synthetic:vocab=64,order=5"])
def test_synthetic_bad_options(bad):
    with pytest.raises(DistillawError):
        parse_synthetic(bad)


# -- corpora ------------------------------------------------------------------------------

TEXT = ("The student learns from the teacher, and the teacher learned from the data. "
        "A larger teacher is not always a better teacher for a small student. ") * 300


def test_text_corpus_memmap_split(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text(TEXT)
    c = open_corpus(f, tmp_path / "cache")
    assert c.vocab_size == 256 and c.meta["tokenizer"] == "bytes"
    assert isinstance(c.train, np.memmap)
    assert len(c.train) + len(c.val) == len(TEXT.encode())
    assert 0.03 < len(c.val) / len(TEXT) < 0.08
    # second open reuses the cached token files; same windows every time
    c2 = open_corpus(f, tmp_path / "cache")
    assert c2.folder == c.folder
    assert (c.val_windows(512, 64) == c2.val_windows(512, 64)).all()
    xb = c.train_batch(np.random.default_rng(0), 4, 64)
    assert xb.shape == (4, 65)
    assert bytes(xb[0].astype(np.uint8)) in TEXT.encode()


def test_folder_and_npy_corpora(tmp_path):
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text(TEXT[:20000])
    (d / "sub" / "b.md").write_text(TEXT[20000:])
    (d / ".hidden").write_text("x" * 50000)
    c = open_corpus(d, tmp_path / "cache")
    assert c.meta["files"] == 2 and c.meta["tokens"] == len(TEXT) + 1
    tok = np.random.default_rng(0).integers(0, 1000, 50_000).astype(np.int32)
    np.save(tmp_path / "tok.npy", tok)
    n = open_source(str(tmp_path / "tok.npy"), tmp_path / "cache")
    assert n.vocab_size == int(tok.max()) + 1 and n.train.dtype == np.uint16


def test_corpus_errors(tmp_path):
    with pytest.raises(DistillawError, match="not found"):
        open_corpus(tmp_path / "nope.txt", tmp_path)
    (tmp_path / "tiny.txt").write_text("hello")
    with pytest.raises(DistillawError, match="only 5 tokens"):
        open_corpus(tmp_path / "tiny.txt", tmp_path)
    (tmp_path / "small.txt").write_text(TEXT[:3000])
    c = open_corpus(tmp_path / "small.txt", tmp_path)
    with pytest.raises(DistillawError, match="seq_len"):
        c.val_windows(1000, 2048)


def test_model_store_save_is_atomic_and_loads_back(tmp_path, monkeypatch):
    """ModelStore.save writes through distillaw._io: a failed weights write leaves no entry
    (meta.json, the completeness mark, is written last) and no temp file."""
    import pytest

    from distillaw.runner.store import ModelStore

    cfg = GPTConfig(ModelShape(1, 16, 1), vocab_size=12, seq_len=8)
    model = GPT(cfg)
    store = ModelStore(tmp_path)
    meta = {"key": "k", "config": cfg.to_dict(), "row": {"loss": float("nan")}}

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(torch, "save", boom)
        with pytest.raises(OSError):
            store.save("k", model, meta)
    assert not store.has("k") and list(store.dir("k").iterdir()) == []
    store.save("k", model, meta)
    assert sorted(p.name for p in store.dir("k").iterdir()) == ["meta.json", "model.pt"]
    assert store.meta("k")["row"] == {"loss": None}
    back = store.load("k", torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(),
                                                  model.state_dict().values(), strict=True))
