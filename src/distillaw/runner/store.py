"""The model store: finished supervised models under ``<cache>/models/<key>/`` (weights and
JSON meta), so any finished model can be a teacher and nothing is trained twice.

``meta.json`` is written last: its presence marks a complete entry. A file lock per key keeps
two processes from training the same model at once; the wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from .._io import atomic_write, atomic_write_bytes, file_lock, to_json
from ..errors import DistillawError
from .model import GPT, GPTConfig

MODEL_LOCK_TIMEOUT = float(os.environ.get("DISTILLAW_MODEL_LOCK_TIMEOUT", str(24 * 3600)))


class ModelStore:
    """Finished supervised models under ``<cache>/models/<key>/`` (weights + JSON meta)."""

    def __init__(self, cache_dir: Path):
        self.root = Path(cache_dir) / "models"

    def dir(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.dir(key) / "meta.json").exists()

    def meta(self, key: str) -> dict:
        return json.loads((self.dir(key) / "meta.json").read_text())

    def lock(self, key: str):
        """Held while a model is trained: a second process asking for the same model waits
        for the first (it says so), at most ``DISTILLAW_MODEL_LOCK_TIMEOUT`` seconds (default
        a day: the other process may be training a large model), then fails with a
        message naming the lock file."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{key}.lock"

        def say():
            sys.stderr.write(f"waiting for {path}: another process is training this model\n")

        return file_lock(path, MODEL_LOCK_TIMEOUT, "cached model", on_wait=say)

    def save(self, key: str, model: GPT, meta: dict) -> None:
        d = self.dir(key)
        # each file atomically (temp file, fsync, rename); meta.json last: its presence
        # marks a complete entry.
        atomic_write(d / "model.pt", lambda fh: torch.save(model.state_dict(), fh))
        atomic_write_bytes(d / "meta.json", to_json(meta, allow_nan=True).encode())

    def load(self, key: str, device: torch.device) -> GPT:
        """The cached model (``weights_only=True``: nothing in the cache can run code). An
        unreadable entry is set aside (renamed, kept) so that the next run retrains it."""
        try:
            meta = self.meta(key)
            model = GPT(GPTConfig.from_dict(meta["config"]))
            model.load_state_dict(torch.load(self.dir(key) / "model.pt", map_location="cpu",
                                             weights_only=True))
        except Exception as exc:  # bad bytes raise many types (zip, pickle, EOF, JSON, shape)
            aside = self.root / f"{key}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}"
            with contextlib.suppress(OSError):
                os.replace(self.dir(key), aside)
            reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else \
                type(exc).__name__
            raise DistillawError(f"cached model {self.dir(key)} is unreadable ({reason}); set "
                                 f"aside as {aside.name}: run again to retrain it") from None
        return model.to(device)
