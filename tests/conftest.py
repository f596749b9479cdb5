"""Shared fixtures. Public third-party tables are read from ../shared/data (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under xdist (make test: 2 workers on CI's 2 cores) each worker's BLAS/OpenMP pool (numpy,
# torch, and the notebook kernels and CLI subprocesses, which inherit this environment)
# would start one spinning thread per core and fight the other worker's: notebook 04's
# plan/run/refit cell took 146 s beside a NUTS test, 57 s with one thread each (41 s
# alone). Set here, before numpy or torch is imported in the worker; a single-process run
# keeps every core. nutpie's chain threads are its own and unaffected.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    # numpy is already loaded by then (a plugin imports it), so its OpenBLAS pool has read
    # the environment: limit it in place (the kernels and subprocesses read the variables).
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

SHARED_DATA = Path(os.environ.get("DISTILLAW_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the public tables (see ../shared/data/MANIFEST.md)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data folder not found at {SHARED_DATA} "
                    "(set DISTILLAW_SHARED_DATA to its path)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def jittered_busbridge():
    """Factory: a hand-built distillation posterior of ``S`` draws, each published Busbridge
    coefficient jittered by 1% log-normal noise (c1 kept: its published interval is zero)."""
    import numpy as np

    from distillaw.posterior import Posterior
    from distillaw.published import published

    def make(S: int, seed: int):
        rng = np.random.default_rng(seed)
        point = published("busbridge2025").point()
        p = {k: v * np.exp(rng.normal(0, 0.01, S)) for k, v in point.items()}
        p["c1"] = np.full(S, point["c1"])
        return Posterior.from_params("distillation", p)

    return make


@pytest.fixture(scope="session")
def isoflop_runs():
    """Factory: supervised runs on an IsoFLOP grid (10 sizes from sqrt(C)/60 to sqrt(C)/6 at
    each budget C of ``budgets``) under Busbridge et al.'s published supervised law, with
    ``sigma`` log-normal noise."""
    import numpy as np
    import pandas as pd

    from distillaw.published import published
    from distillaw.simulate import simulate_supervised

    def make(budgets, sigma: float, seed: int):
        rows = []
        for C in budgets:
            N = np.geomspace(C ** 0.5 / 60, C ** 0.5 / 6, 10)
            rows.append(pd.DataFrame({"N": N, "D": C / (6 * N)}))
        g = pd.concat(rows, ignore_index=True)
        return simulate_supervised(published("busbridge2025").supervised(), g["N"], g["D"],
                                   sigma=sigma, seed=seed)

    return make
