"""Shared set-up of the runner tests (skipped as a whole where torch is not installed)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models are overhead-bound; one intra-op thread avoids oversubscribing the 2 CI
    # cores shared with another xdist worker. Restored afterwards.
    torch = pytest.importorskip("torch")
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
