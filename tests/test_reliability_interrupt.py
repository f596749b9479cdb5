"""Reliability: Ctrl-C (SIGINT) during a fit, and fits that return fewer draws than asked.

The drill runs the real CLI with real nutpie sampling in a subprocess; SIGINT is delivered
from inside the process while nutpie is sampling (a timer started when the sampler's wait
begins), so the test does not depend on how long compilation takes on a busy machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from distillaw.errors import InterruptedFit

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep
       + os.environ.get("PYTHONPATH", "")}

CHILD = """
import os, signal, sys, threading
import nutpie  # noqa: F401
bg = sys.modules["nutpie.sample"]._BackgroundSampler
real_wait = bg.wait
def wait(self, *a, **k):
    # Ctrl-C while the sampler runs (tuning: --tune is large).
    threading.Timer(float(sys.argv[1]), os.kill, (os.getpid(), signal.SIGINT)).start()
    return real_wait(self, *a, **k)
bg.wait = wait
from distillaw.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


@pytest.mark.sampling
def test_ctrl_c_in_cli_fit_exits_130_and_keeps_the_old_posterior(tmp_path):
    from distillaw.posterior import Posterior

    out = tmp_path / "model"
    rng = np.random.default_rng(0)
    p = {k: v * np.exp(0.01 * rng.standard_normal(200)) for k, v in
         dict(E=1.8, A=400.0, B=400.0, alpha=0.34, beta=0.28).items()}
    Posterior.from_params("supervised", p, name="old").save(out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    args = ["fit", str(REPO / "data/simulated/supervised.csv"), "--law", "supervised",
            "--out", str(out), "--draws", "100000", "--tune", "100000", "--chains", "2",
            "--no-progress"]
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), "1.0", *args],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted:") and "nothing was saved" in last
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before  # old posterior intact
    leftovers = [f.name for f in tmp_path.iterdir() if f.name not in ("model", ".model.lock")]
    assert leftovers == []  # no half-written folder beside it
    assert Posterior.load(out).name == "old"


def _idata(chains: int, draws: int):
    from distillaw._compat import import_arviz

    return import_arviz().from_dict(posterior={"x": np.zeros((chains, draws))})


def test_fewer_draws_than_asked_is_never_a_finished_fit():
    from distillaw.sampling.engine import _check_complete

    _check_complete(_idata(2, 50), draws=50, chains=2, interrupted=False)
    with pytest.raises(InterruptedFit, match="2 chains x 30 draws, 2 x 50 were asked"):
        _check_complete(_idata(2, 30), draws=50, chains=2, interrupted=False)
    with pytest.raises(InterruptedFit, match="1 chains x 50 draws"):
        _check_complete(_idata(1, 50), draws=50, chains=2, interrupted=False)
    with pytest.raises(InterruptedFit, match="after 50 of 50 draws"):
        _check_complete(_idata(2, 50), draws=50, chains=2, interrupted=True)


def test_engine_returning_partial_draws_after_ctrl_c_raises(monkeypatch):
    """PyMC and nutpie's blocking call turn Ctrl-C into 'return the draws so far': fit()
    must notice the SIGINT and refuse the partial posterior (mocked engine: plumbing)."""
    import distillaw
    import distillaw.sampling.engine as fit_mod
    from distillaw.simulate import shipped_supervised

    def fake_sample(model, sampler, **kw):
        try:
            signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C ...
        except KeyboardInterrupt:
            pass  # ... and the engine swallows it, the way pm.sample does,
        return _idata(kw["chains"], kw["draws"] // 3), 0.0  # returning a third of the draws

    monkeypatch.setattr(fit_mod, "_sample", fake_sample)
    monkeypatch.setattr(fit_mod, "_check_sampler", lambda s: None)
    prev = signal.getsignal(signal.SIGINT)
    with pytest.raises(InterruptedFit, match="after 10 of 30 draws per chain; nothing"):
        distillaw.fit(shipped_supervised(), "supervised", draws=30, tune=10, chains=2,
                    progressbar=False)
    assert signal.getsignal(signal.SIGINT) is prev  # handler restored


def test_ctrl_c_in_a_calibration_fold_is_an_interrupted_fit(monkeypatch):
    """The folds sample a compiled model directly (not through fit()): Ctrl-C there must
    still surface as InterruptedFit, not a bare KeyboardInterrupt (mocked engine)."""
    import distillaw.sampling.folds as folds
    from distillaw.models import ModelSpec, build
    from distillaw.simulate import shipped_supervised

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    class Compiled:
        def with_data(self, **weights):
            return self

    monkeypatch.setattr(folds, "_start_nutpie", ctrl_c)
    t = shipped_supervised()
    fm = folds._FoldModel(build(ModelSpec("supervised"), t, fold_weights=True), Compiled())
    with pytest.raises(InterruptedFit, match="calibrating the extrapolation"):
        fm.fit(t.iloc[:10], {"draws": 10, "tune": 10, "chains": 1, "seed": 0,
                             "mass_matrix": "diag"})
