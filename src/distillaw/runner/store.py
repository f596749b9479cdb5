"""The model store: finished supervised models under ``<cache>/models/<key>/`` (weights and
JSON meta), so any finished model can be a teacher and nothing is trained twice.

``meta.json`` is written last: its presence marks a complete entry. A file lock per key keeps
two processes from training the same model at once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from filelock import FileLock

from .model import GPT, GPTConfig


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

    def lock(self, key: str) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / f"{key}.lock"))

    def save(self, key: str, model: GPT, meta: dict) -> None:
        d = self.dir(key)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"model.pt.tmp{os.getpid()}"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, d / "model.pt")
        # meta.json last: its presence marks a complete entry.
        tmp = d / f"meta.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(meta, indent=2, default=str))
        os.replace(tmp, d / "meta.json")

    def load(self, key: str, device: torch.device) -> GPT:
        meta = self.meta(key)
        model = GPT(GPTConfig.from_dict(meta["config"]))
        model.load_state_dict(torch.load(self.dir(key) / "model.pt", map_location="cpu",
                                         weights_only=True))
        return model.to(device)
