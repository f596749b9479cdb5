r"""Token sources for the runner: a synthetic Markov source with a known entropy rate, and
local corpora (byte-level text, or pre-tokenised ``.npy`` files) stored as memory-mapped
token files with a fixed train/validation split. No downloads.

Synthetic source (``"synthetic"``)
----------------------------------
A sparse order-``k`` Markov chain over ``V`` tokens. Every context ``c`` (the last ``k``
tokens, ``V^k`` contexts) has exactly ``m`` possible successors, drawn without replacement
with token popularity ``w_v ~ (v + 1)^-zipf`` (so a few tokens and contexts are frequent and
many are rare: loss falls as a power law as a model learns more of them), and the successor
probabilities are a fixed vector ``p_j ~ (j + 1)^-decay`` (``j = 0..m-1``) assigned in a random
order. Because every context has the same next-token distribution up to relabelling,

    H(X_{t+1} | X_{t-k+1..t} = c) = H(p) = -sum_j p_j log p_j     for every c,

so the entropy rate is **exactly** ``H(p)`` nats/token, whatever the stationary distribution.
This is the irreducible loss ``E`` of a model that sees the whole context. Held-out loss on
this source is averaged over positions ``t >= k`` of each window (the first ``k`` positions
lack a full context), so a perfect model scores exactly ``E_true = H(p)``.

Corpora (a path)
----------------
A text file or a folder (all non-hidden files, sorted, joined by a newline) becomes bytes:
vocabulary 256. A ``.npy`` file of integer token ids is used as is (vocabulary = max id + 1).
Either is written once into ``<cache>/corpora/<content sha256>/{train,val}.bin`` and read
through ``np.memmap``. Split: the token stream is cut into up to 2000 equal blocks and every
20th block goes to validation (5%, spread over the corpus, fixed by the content alone).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_dir, to_json
from ..errors import DistillawError

SYNTHETIC_DEFAULTS = {"vocab": 32, "order": 2, "support": 4, "zipf": 1.0, "decay": 1.0,
                      "seed": 1234}
# Burn-in steps before a synthetic window starts, so windows start near stationarity.
_BURN_IN = 32
_VAL_EVERY = 20           # every 20th block is validation (5%)
_BLOCKS = 2000            # the stream is cut into this many blocks (fewer for tiny corpora)
_MIN_BLOCK = 256


@dataclass(frozen=True)
class SyntheticMarkov:
    """Sparse order-``order`` Markov chain with exactly known entropy rate (see module doc).

    Example
    -------
    >>> src = SyntheticMarkov()
    >>> round(src.entropy_rate, 4)
    1.2425
    >>> src.train_batch(np.random.default_rng(0), 2, 8).shape
    (2, 9)
    """

    vocab: int = 32
    order: int = 2
    support: int = 4
    zipf: float = 1.0
    decay: float = 1.0
    seed: int = 1234

    def __post_init__(self):
        if not 2 <= self.support <= self.vocab:
            raise DistillawError(f"synthetic: support must be in [2, vocab], got {self.support}")
        if self.order < 1 or self.vocab ** self.order > 2 ** 22:
            raise DistillawError(f"synthetic: vocab^order must be <= 2^22 contexts "
                                 f"(got {self.vocab}^{self.order})")
        # Tables are deterministic in the fields; cached on the (frozen) instance.
        succ, probs = self._build()
        object.__setattr__(self, "_succ", succ)
        object.__setattr__(self, "_probs", probs)
        object.__setattr__(self, "_cdf", np.cumsum(probs))

    # -- definition -----------------------------------------------------------------------
    def _build(self):
        rng = np.random.default_rng(self.seed)
        V, m = self.vocab, self.support
        w = (np.arange(V) + 1.0) ** -self.zipf
        w = w / w.sum()
        n_ctx = V ** self.order
        # Gumbel top-m: m distinct successors per context with popularity weights w.
        keys = np.log(w)[None, :] - np.log(-np.log(rng.random((n_ctx, V))))
        succ = np.argsort(-keys, axis=1)[:, :m]
        # Random assignment of the probability vector to the successors.
        succ = np.take_along_axis(succ, rng.permuted(np.tile(np.arange(m), (n_ctx, 1)), axis=1),
                                  axis=1)
        p = (np.arange(m) + 1.0) ** -self.decay
        return succ.astype(np.int64), p / p.sum()

    @property
    def name(self) -> str:
        return "synthetic"

    @property
    def vocab_size(self) -> int:
        return self.vocab

    @property
    def eval_from(self) -> int:
        return self.order

    @property
    def successors(self) -> np.ndarray:
        """``(V^k, m)`` successor table; row index = context in base V, oldest token first."""
        return self._succ

    @property
    def probs(self) -> np.ndarray:
        """``(m,)`` probabilities of the successors in ``successors`` order."""
        return self._probs

    @property
    def entropy_rate(self) -> float:
        """Exact entropy rate ``H(p)`` in nats/token (the irreducible loss E)."""
        p = self._probs
        return float(-(p * np.log(p)).sum())

    @property
    def E_true(self) -> float:
        return self.entropy_rate

    def identity(self) -> dict:
        return {"source": "synthetic", **asdict(self)}

    def spec(self) -> str:
        """The ``--corpus`` string that rebuilds this source."""
        diff = {k: v for k, v in asdict(self).items() if v != SYNTHETIC_DEFAULTS[k]}
        return "synthetic" + (":" + ",".join(f"{k}={v}" for k, v in diff.items()) if diff else "")

    def context_index(self, tokens: np.ndarray) -> np.ndarray:
        """Context ids of the last ``order`` tokens along the last axis."""
        idx = np.zeros(tokens.shape[:-1], np.int64)
        for i in range(self.order):
            idx = idx * self.vocab + tokens[..., -self.order + i]
        return idx

    # -- sampling -------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n_seq: int, length: int) -> np.ndarray:
        """``n_seq`` independent windows of ``length`` tokens, each after a burn-in."""
        k, V = self.order, self.vocab
        total = length + _BURN_IN
        x = np.empty((n_seq, total + k), np.int64)
        x[:, :k] = rng.integers(0, V, size=(n_seq, k))
        ctx = self.context_index(x[:, :k])
        u = rng.random((n_seq, total))
        j = np.minimum(np.searchsorted(self._cdf, u, side="right"), self.support - 1)
        mod = V ** (k - 1)
        for t in range(total):
            nxt = self._succ[ctx, j[:, t]]
            x[:, k + t] = nxt
            ctx = (ctx % mod) * V + nxt if k > 1 else nxt
        return x[:, k + _BURN_IN:]

    def train_batch(self, rng: np.random.Generator, n_seq: int, seq_len: int) -> np.ndarray:
        """Token windows of ``seq_len + 1`` (inputs and next-token targets)."""
        return self.sample(rng, n_seq, seq_len + 1)

    def val_windows(self, n_tokens: int, seq_len: int) -> np.ndarray:
        """Fixed held-out windows (same for every run on this source)."""
        n_seq = max(1, -(-n_tokens // seq_len))
        return self.sample(np.random.default_rng([self.seed, 0x5EED, seq_len]), n_seq, seq_len + 1)


class MemmapCorpus:
    """Tokens in ``train.bin`` / ``val.bin`` memory-mapped from the cache (see module doc)."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / "meta.json").read_text())
        self.folder = folder
        self.meta = meta
        dtype = np.dtype(meta["dtype"])
        self.train = np.memmap(folder / "train.bin", dtype=dtype, mode="r")
        self.val = np.memmap(folder / "val.bin", dtype=dtype, mode="r")
        self.vocab_size = int(meta["vocab_size"])
        self.name = meta["name"]

    eval_from = 0
    E_true = None

    def identity(self) -> dict:
        return {"source": "corpus", "sha256": self.meta["sha256"], "vocab": self.vocab_size,
                "tokenizer": self.meta["tokenizer"]}

    def spec(self) -> str:
        return self.meta["path"]

    def _check(self, seq_len: int):
        for part, arr in (("train", self.train), ("validation", self.val)):
            if len(arr) < seq_len + 2:
                raise DistillawError(
                    f"corpus {self.meta['path']}: {part} split has {len(arr)} tokens, fewer than "
                    f"seq_len + 2 = {seq_len + 2}; use a larger corpus or a shorter --seq-len")

    def train_batch(self, rng: np.random.Generator, n_seq: int, seq_len: int) -> np.ndarray:
        self._check(seq_len)
        starts = rng.integers(0, len(self.train) - seq_len - 1 + 1, size=n_seq)
        return np.stack([np.asarray(self.train[s:s + seq_len + 1], np.int64) for s in starts])

    def val_windows(self, n_tokens: int, seq_len: int) -> np.ndarray:
        self._check(seq_len)
        n_seq = max(1, min(-(-n_tokens // seq_len), (len(self.val) - 1) // seq_len))
        return np.stack([np.asarray(self.val[i * seq_len:i * seq_len + seq_len + 1], np.int64)
                         for i in range(n_seq)])


def _corpus_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DistillawError(f"corpus folder {path} holds no (non-hidden) files")
    return files


def _split_and_write(tokens: np.ndarray, folder: Path, meta: dict) -> None:
    """Write train/val memmaps and meta.json atomically (:func:`distillaw._io.atomic_dir`)."""
    n = len(tokens)
    n_blocks = max(1, min(_BLOCKS, n // _MIN_BLOCK))
    edges = np.linspace(0, n, n_blocks + 1).astype(np.int64)
    is_val = (np.arange(n_blocks) % _VAL_EVERY) == (_VAL_EVERY - 1)
    if not is_val.any():  # tiny corpus: last block is validation
        is_val[-1] = True

    def fill(tmp: Path) -> None:
        for name, mask in (("train", ~is_val), ("val", is_val)):
            parts = [tokens[edges[i]:edges[i + 1]] for i in np.flatnonzero(mask)]
            arr = np.concatenate(parts) if parts else tokens[:0]
            mm = np.memmap(tmp / f"{name}.bin", dtype=tokens.dtype, mode="w+",
                           shape=(max(1, len(arr)),))
            mm[:len(arr)] = arr
            mm.flush()
            del mm
            meta[f"{name}_tokens"] = int(len(arr))
        (tmp / "meta.json").write_text(to_json(meta))

    # Two processes tokenising the same corpus both fill a folder and swap it in; the last
    # swap wins. The folder is named by the corpus's sha256 and its content is a pure
    # function of it, so this is equivalent to the old "keep theirs": a reader that already
    # opened the other copy's memmaps keeps reading them (POSIX keeps unlinked files alive).
    atomic_dir(folder, fill)


def open_corpus(path: str | os.PathLike, cache_dir: str | os.PathLike) -> MemmapCorpus:
    """Tokenise a local text file/folder (bytes) or ``.npy`` token file into the cache, once."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DistillawError(f"corpus not found: {path}")
    is_npy = path.is_file() and path.suffix.lower() == ".npy"
    h = hashlib.sha256()
    if is_npy:
        try:
            arr = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise DistillawError(f"corpus {path}: cannot read .npy token file ({exc})") from None
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise DistillawError(f"corpus {path}: expected a 1-D integer token array, got "
                                 f"{arr.dtype} with shape {arr.shape}")
        h.update(b"npy")
        h.update(np.ascontiguousarray(arr).view(np.uint8))
        files = [path]
    else:
        files = _corpus_files(path)
        h.update(b"bytes")
        for f in files:
            h.update(f.read_bytes())
            h.update(b"\n")
    sha = h.hexdigest()
    folder = Path(cache_dir) / "corpora" / sha
    if not (folder / "meta.json").exists():
        if is_npy:
            tokens = np.asarray(arr)
            if tokens.min() < 0:
                raise DistillawError(f"corpus {path}: negative token ids")
            vocab = int(tokens.max()) + 1
            dtype = np.uint8 if vocab <= 256 else (np.uint16 if vocab <= 65536 else np.uint32)
            tokens = tokens.astype(dtype)
            tokenizer = "npy"
        else:
            tokens = np.frombuffer(b"\n".join(f.read_bytes() for f in files), np.uint8)
            vocab, tokenizer = 256, "bytes"
        if len(tokens) < 1024:
            raise DistillawError(f"corpus {path} has only {len(tokens)} tokens (need >= 1024)")
        folder.parent.mkdir(parents=True, exist_ok=True)
        _split_and_write(tokens, folder, {
            "path": str(path.resolve()), "name": path.name, "sha256": sha, "files": len(files),
            "tokens": int(len(tokens)), "vocab_size": vocab, "dtype": np.dtype(tokens.dtype).name,
            "tokenizer": tokenizer})
    return MemmapCorpus(folder)


_SYN_RE = re.compile(r"^synthetic(?::(.*))?$")


def parse_synthetic(spec: str) -> SyntheticMarkov:
    """``"synthetic"`` or ``"synthetic:vocab=32,order=3"`` -> :class:`SyntheticMarkov`."""
    m = _SYN_RE.match(spec.strip())
    if not m:
        raise DistillawError(f"not a synthetic source spec: {spec!r}")
    kw: dict = {}
    for item in filter(None, (m.group(1) or "").split(",")):
        key, _, val = item.partition("=")
        key = key.strip()
        if key not in SYNTHETIC_DEFAULTS or not val:
            raise DistillawError(f"synthetic source: bad option {item!r}; options are "
                                 f"{', '.join(f'{k}=' for k in SYNTHETIC_DEFAULTS)}")
        typ = type(SYNTHETIC_DEFAULTS[key])
        try:
            kw[key] = typ(val)
        except ValueError:
            raise DistillawError(f"synthetic source: {key} must be {typ.__name__}, got {val!r}") from None
    return SyntheticMarkov(**kw)


def open_source(corpus: str | os.PathLike | SyntheticMarkov, cache_dir: str | os.PathLike):
    """``"synthetic[:opts]"``, a :class:`SyntheticMarkov`, or a path -> token source."""
    if isinstance(corpus, SyntheticMarkov | MemmapCorpus):
        return corpus
    s = str(corpus)
    if s.startswith("synthetic"):
        return parse_synthetic(s)
    return open_corpus(s, cache_dir)


class Prefetch:
    """Training batches made ahead in a background thread, in step order.

    ``make(step)`` builds step ``step``'s batch (a pure function of the step, so prefetching
    changes no result: the runner's batches depend on ``(stream, step)`` only). Up to
    ``depth`` batches wait in a queue while the accelerator trains on the current one, so
    the host's work per step (the synthetic source samples its chain in a Python loop over
    positions: 3 ms for 16 x 1024 tokens, 7% of a 122M-parameter model's step on the H200;
    a memory-mapped corpus reads from disk; CUDA batches are pinned) overlaps the step.
    (It is not what held the H200 sweep's small models at 0.4-0.5M tokens/s: the source
    makes 5-14M tokens/s on one core. Small batches, 16k tokens per step, are bound by
    per-kernel launch overhead instead.) ``depth=0`` makes each batch when it is asked for,
    in the caller's thread.
    An exception in ``make`` is raised by :meth:`get` for that step. Use as a context
    manager (or call :meth:`close`) so an interrupted run stops the thread.
    """

    def __init__(self, make, start: int, stop: int, depth: int = 2):
        if depth < 0:
            raise ValueError(f"prefetch depth must be >= 0, got {depth}")
        self._make, self._next, self._depth = make, start, depth
        self._halt = threading.Event()
        self._thread = None
        if depth and stop > start:
            self._q: queue.Queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._run, args=(start, stop),
                                            name="distillaw-prefetch", daemon=True)
            self._thread.start()

    def _run(self, start: int, stop: int) -> None:
        for step in range(start, stop):
            try:
                item = (step, self._make(step), None)
            except BaseException as e:  # handed to the trainer, which raises it
                item = (step, None, e)
            while not self._halt.is_set():
                try:
                    self._q.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._halt.is_set() or item[2] is not None:
                return

    def get(self, step: int):
        """The batch of ``step`` (steps must be asked for in order)."""
        if step != self._next:
            raise ValueError(f"batches are made in order: expected step {self._next}, "
                             f"got {step}")
        self._next += 1
        if self._thread is None:
            return self._make(step)
        got, batch, err = self._q.get()
        if err is not None:
            raise err
        if got != step:  # one producer making steps in order: cannot happen
            raise RuntimeError(f"prefetch returned step {got} for step {step}")
        return batch

    def close(self) -> None:
        self._halt.set()
        if self._thread is not None:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._q.get_nowait()
            self._thread.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
