r"""A compact decoder-only transformer (nanoGPT-style, one file) and its parameter accounting.

Architecture: token embedding -> L x [pre-norm RMSNorm -> causal multi-head attention with
rotary positions (``F.scaled_dot_product_attention``) -> residual; pre-norm RMSNorm -> GELU
MLP (hidden 4d) -> residual] -> final RMSNorm -> linear read-out.

* **Embeddings are tied by default** (the read-out reuses the token-embedding matrix, as in
  GPT-2/nanoGPT); ``tie_embeddings=False`` gives a separate read-out matrix.
* No biases, no dropout, no positional embedding table (rotary positions have no parameters).
* Residual output projections are zero-initialised, so every block starts as the identity.

Parameter counting (the way the laws count, Busbridge et al. 2025 section 1.1): ``N`` is the
**non-embedding** parameter count: every parameter except the token embedding and the read-out
matrix (tied or not). With the 4d MLP one layer holds ``4 d^2`` attention + ``8 d^2`` MLP
weights, the same ``omega = 12`` as the gated-FFN models the compute model assumes::

    N = 12 L d^2 + (2 L + 1) d          (RMSNorm gains included)

Model FLOPs per token (for MFU; exact for this shape, causal attention counted once)::

    F_fwd = 2 N_matmul + 2 L T d + 2 d V         (T = sequence length, V = vocabulary)

Training costs 3 F_fwd per token. The run table's ``flops`` column uses the laws'
:class:`distillaw.laws.compute.FlopsModel` instead, so rows are comparable with the papers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DistillawError

# Rotary base frequency (RoFormer default; Busbridge use 5e5 at n_ctx 4096).
ROPE_BASE = 10_000.0


@dataclass(frozen=True)
class ModelShape:
    """Depth, width and heads of a transformer.

    Example
    -------
    >>> ModelShape(n_layer=2, d_model=32, n_head=2).non_embedding_params
    24736
    """

    n_layer: int
    d_model: int
    n_head: int

    def __post_init__(self):
        if self.n_layer < 1 or self.d_model < 2 or self.n_head < 1:
            raise DistillawError(f"invalid model shape {self}")
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise DistillawError(
                f"d_model={self.d_model} must split into {self.n_head} heads of even size "
                "(rotary positions rotate pairs of dimensions)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def non_embedding_params(self) -> int:
        """``N = 12 L d^2 + (2L+1) d``: what the scaling laws call N."""
        L, d = self.n_layer, self.d_model
        return 12 * L * d * d + (2 * L + 1) * d

    def to_dict(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        return f"L{self.n_layer}-d{self.d_model}-h{self.n_head}"


def _head_count(d: int) -> int | None:
    """Heads for width ``d``: head size near 16 (tiny), 32 (small) or 64 (>= 512 wide), even."""
    target = 16 if d < 128 else (32 if d < 512 else 64)
    best = None
    for h in range(1, d + 1):
        if d % h or (d // h) % 2:
            continue
        score = abs(math.log((d // h) / target))
        if best is None or score < best[0] - 1e-12:
            best = (score, h)
    return None if best is None else best[1]


def _widths_near(d0: float) -> list[int]:
    """Candidate widths around ``d0``: multiples of 2 below 64, 8 below 256, 64 from 512."""
    out = set()
    for q, lo, hi in ((2, 16, 64), (8, 64, 256), (32, 256, 512), (64, 512, 1 << 16)):
        for d in (int(d0 // q) * q, int(d0 // q) * q + q):
            if lo <= d < hi:
                out.add(d)
    return sorted(out)


def default_aspect(N: float) -> float:
    """Preferred ``d_model / n_layer``: 16 up to 1e6 parameters, rising to 128 at 1e9.

    Busbridge et al. use 128 (100M+). At CPU sizes (1e4..1e6) aspect 16 lets depth grow
    smoothly with N (1, 2, 3, 4, 6 layers from 4e3 to 3e5); with a fixed larger aspect the
    helper alternates 1- and 2-layer models and the loss-vs-N curve becomes bumpy.
    """
    return float(16.0 * min(max(N / 1e6, 1.0), 1e3) ** (math.log(8) / math.log(1e3)))


def shape_for_params(target_N: float, *, aspect: float | None = None, tol: float = 0.04,
                     max_layers: int = 128) -> ModelShape:
    """Pick (layers, width, heads) whose non-embedding N is close to ``target_N``.

    Cost of a shape: ``(log(N / target) / tol)^2 + (log2(aspect ratio / aspect))^2``, so the
    size error is traded against the aspect ratio ``d_model / n_layer`` (a factor 2 off the
    preferred aspect costs as much as a ``tol`` relative size error). ``aspect=None`` uses
    :func:`default_aspect`. Widths are >= 16, even, and multiples of 8/32/64 as models grow
    (fast GPU kernels). Sizes land within ~4% of the target above 1e5 and ~7% below
    (widths are coarse there).
    An exact match wins, so ``shape_for_params(shape.non_embedding_params) == shape``: a plan
    that repeats a measured N rebuilds the same model.

    Example
    -------
    >>> s = shape_for_params(1e5)
    >>> s.label(), s.non_embedding_params
    ('L3-d52-h2', 97812)
    """
    target = float(target_N)
    if not math.isfinite(target) or target < 3_000:
        raise DistillawError(f"target non-embedding size must be >= 3000 parameters "
                             f"(one layer of width 16), got {target_N!r}")
    if aspect is None:
        aspect = default_aspect(target)
    best: tuple[float, ModelShape] | None = None
    for L in range(1, max_layers + 1):
        d0 = math.sqrt(target / (12 * L))
        if d0 < 14:
            break
        for d in _widths_near(d0):
            h = _head_count(d)
            if h is None:
                continue
            shape = ModelShape(L, d, h)
            n = shape.non_embedding_params
            if n == round(target):
                cost = -1.0 + abs(math.log2(d / L / aspect)) * 1e-6
            else:
                cost = (math.log(n / target) / tol) ** 2 + math.log2(d / L / aspect) ** 2
            if best is None or cost < best[0]:
                best = (cost, shape)
    if best is None:
        raise DistillawError(f"no transformer shape found for N = {target_N:g}")
    return best[1]


@dataclass(frozen=True)
class GPTConfig:
    """Everything that defines the network (not the training)."""

    shape: ModelShape
    vocab_size: int
    seq_len: int
    tie_embeddings: bool = True

    def to_dict(self) -> dict:
        return {**self.shape.to_dict(), "vocab_size": self.vocab_size, "seq_len": self.seq_len,
                "tie_embeddings": self.tie_embeddings}

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        return cls(ModelShape(int(d["n_layer"]), int(d["d_model"]), int(d["n_head"])),
                   int(d["vocab_size"]), int(d["seq_len"]), bool(d["tie_embeddings"]))


def model_flops_per_token(cfg: GPTConfig) -> float:
    """Exact forward FLOPs per token of this shape (matmuls + causal attention + read-out)."""
    L, d, T, V = cfg.shape.n_layer, cfg.shape.d_model, cfg.seq_len, cfg.vocab_size
    matmul = 12 * L * d * d
    return float(2 * matmul + 2 * L * T * d + 2 * d * V)


class RMSNorm(nn.Module):
    """``x / rms(x) * g`` with a learned gain (no bias)."""

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        # Statistics in float32 even under bf16 autocast.
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)


def _rotary_tables(seq_len: int, head_dim: int, base: float = ROPE_BASE):
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    ang = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv)  # (T, hd/2)
    return ang.cos()[None, None], ang.sin()[None, None]  # (1, 1, T, hd/2)


def _rotate(x, cos, sin):
    # Rotate interleaved halves: (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos).
    x1, x2 = x[..., ::2], x[..., 1::2]
    c, s = cos.to(x.dtype), sin.to(x.dtype)
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.norm1 = RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.norm2 = RMSNorm(d)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.out = nn.Linear(4 * d, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, self.n_head, C // self.n_head).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, h, T, hd)
        q, k = _rotate(q, cos[:, :, :T], sin[:, :, :T]), _rotate(k, cos[:, :, :T], sin[:, :, :T])
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.out(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))


class GPT(nn.Module):
    """Decoder-only transformer; ``forward(idx) -> logits`` of shape (B, T, vocab)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        d, L = cfg.shape.d_model, cfg.shape.n_layer
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.blocks = nn.ModuleList(Block(d, cfg.shape.n_head) for _ in range(L))
        self.norm = RMSNorm(d)
        self.head = None if cfg.tie_embeddings else nn.Linear(d, cfg.vocab_size, bias=False)
        cos, sin = _rotary_tables(cfg.seq_len, cfg.shape.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self._init_weights()

    def _init_weights(self):
        d = self.cfg.shape.d_model
        # Embedding rows of norm ~1. Tied, with identity blocks, this starts the model near
        # "copy the current token" (initial loss above log V for a few steps); on the CPU
        # sweep it still trained better and was less sensitive to the learning rate than
        # rows of norm d^-1/2, an untied zero-initialised read-out, or a d^-1/2 logit scale.
        nn.init.normal_(self.embed.weight, std=d ** -0.5)
        if self.head is not None:
            nn.init.normal_(self.head.weight, std=d ** -0.5)
        for b in self.blocks:
            for lin in (b.qkv, b.fc):
                nn.init.normal_(lin.weight, std=lin.in_features ** -0.5)
            # Zero residual branches: each block starts as the identity (stable at high LR).
            nn.init.zeros_(b.proj.weight)
            nn.init.zeros_(b.out.weight)

    def non_embedding_params(self) -> int:
        """Counted from the module: all parameters except embedding and read-out."""
        skip = {id(self.embed.weight)} | ({id(self.head.weight)} if self.head is not None else set())
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)

    def forward(self, idx):
        x = self.embed(idx)
        for b in self.blocks:
            x = b(x, self.rope_cos, self.rope_sin)
        x = self.norm(x)
        w = self.embed.weight if self.head is None else self.head.weight
        return F.linear(x, w)
