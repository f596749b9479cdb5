"""The NUTS engines behind :func:`distillaw.fit` (see the package docstring), and the
guards that a run finished: Ctrl-C is ours to handle, and partial draws are refused."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np

from ..errors import InterruptedFit, ModelError

SAMPLERS = ("nutpie", "pymc", "numpyro")
# PyTensor warns on import that it found no BLAS; our models are elementwise (no BLAS ops),
# so the warning is not actionable for users.
_BLAS_WARNING = ".*PyTensor could not link to a BLAS installation.*"


def _check_sampler(sampler: str) -> None:
    from importlib.util import find_spec

    if sampler not in SAMPLERS:
        raise ModelError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "nutpie" and find_spec("nutpie") is None:
        raise ModelError("nutpie is not installed; install it or pass sampler='pymc'")
    if sampler == "numpyro" and (find_spec("numpyro") is None or find_spec("jax") is None):
        raise ModelError("sampler='numpyro' needs numpyro and jax (pip install "
                         "'distillaw[jax]'); or pass sampler='nutpie' or 'pymc'")


MASS_MATRICES = ("low-rank", "diag")


def _compile_nutpie(model):
    import nutpie

    from . import digamma

    # The Student-t gradient's digamma, cacheable: the logp graph then comes from
    # PyTensor's disk cache when the same model and table were compiled before.
    digamma.register()
    return nutpie.compile_pymc_model(model, backend="numba")


def _sample(model, sampler: str, *, draws: int, tune: int, chains: int, seed: int,
            progressbar: bool, target_accept: float | None, cores: int | None,
            mass_matrix: str = "low-rank", compiled=None, maxdepth: int | None = None,
            store_unconstrained: bool = False):
    """Run the engine; returns ``(idata, compile_seconds)`` (compile time is 0 where the
    engine compiles inside its sampling call, or where ``compiled``, a nutpie model
    compiled earlier, is given). nutpie only: ``maxdepth`` caps the trajectory at
    2**maxdepth - 1 leapfrog steps (None: nutpie's 10); ``store_unconstrained`` keeps each
    draw's unconstrained position in ``sample_stats`` (:func:`_pop_unconstrained`)."""
    import pymc as pm

    if sampler == "nutpie":
        t0 = time.perf_counter()
        compiled = _compile_nutpie(model) if compiled is None else compiled
        t_compile = time.perf_counter() - t0
        bg = _start_nutpie(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                           progressbar=progressbar, target_accept=target_accept, cores=cores,
                           mass_matrix=mass_matrix, maxdepth=maxdepth,
                           store_unconstrained=store_unconstrained)
        return _wait(bg), t_compile
    kw = {} if target_accept is None else {"target_accept": target_accept}
    if sampler == "numpyro":
        return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                         progressbar=progressbar, model=model, nuts_sampler="numpyro",
                         nuts_sampler_kwargs={"chain_method": "vectorized"},
                         compute_convergence_checks=False, **kw), 0.0
    return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                     cores=cores or min(chains, os.cpu_count() or 1), progressbar=progressbar,
                     model=model, nuts_sampler="pymc", compute_convergence_checks=False,
                     **kw), 0.0


def _start_nutpie(compiled, *, draws: int, tune: int, chains: int, seed: int,
                  progressbar: bool, target_accept: float | None, cores: int | None,
                  mass_matrix: str, maxdepth: int | None = None,
                  store_unconstrained: bool = False):
    """nutpie's sampler for ``compiled``, started in the background (see :func:`_sample`
    for the arguments); :func:`_wait` returns its draws."""
    import nutpie

    kw = {} if target_accept is None else {"target_accept": target_accept}
    # Low-rank modified mass matrix (diagonal + the few directions where the posterior
    # is correlated): bench/geometry.py measured it against the diagonal one.
    kw["low_rank_modified_mass_matrix"] = mass_matrix == "low-rank"
    if maxdepth is not None:
        kw["maxdepth"] = int(maxdepth)
    if store_unconstrained:
        kw["store_unconstrained"] = True
    # Non-blocking, so that Ctrl-C is ours to handle: nutpie's blocking call turns it
    # into "return the draws so far", which would look like a finished fit.
    return nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                         cores=cores, progress_bar=progressbar, save_warmup=False,
                         blocking=False, **kw)


def _wait(bg):
    """The draws of a started nutpie sampler; it is cancelled if the wait is interrupted."""
    try:
        return bg.wait()
    except BaseException:
        bg.cancel()
        raise


def _pop_unconstrained(idata) -> np.ndarray:
    """Remove nutpie's ``unconstrained_draw`` from ``sample_stats`` and return it as
    (chain x draw, dim): positions in the compiled model's own coordinates."""
    ss = idata.sample_stats
    u = ss["unconstrained_draw"]
    idata.sample_stats = ss.drop_vars([v for v in ss.data_vars
                                       if v.startswith("unconstrained_draw")])
    for extra in [d for d in u.dims if d not in ("chain", "draw")]:
        if extra in idata.sample_stats.coords and extra not in idata.sample_stats.dims:
            idata.sample_stats = idata.sample_stats.drop_vars(extra)
    return np.asarray(u.values, float).reshape(-1, u.shape[-1])


@contextlib.contextmanager
def _sigint_watch():
    """Yield a list that becomes non-empty once SIGINT arrives (then behave as before: the
    previous handler runs, normally raising KeyboardInterrupt). Engines that catch Ctrl-C
    and return the draws so far cannot then pass a partial fit off as complete."""
    seen: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        seen.append(True)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_complete(idata, *, draws: int, chains: int, interrupted: bool) -> None:
    """A fit that was interrupted, or returned fewer draws or chains than asked, is an
    error: never a posterior that looks finished."""
    post = getattr(idata, "posterior", None)
    got_chains = 0 if post is None else int(post.sizes.get("chain", 0))
    got_draws = 0 if post is None else int(post.sizes.get("draw", 0))
    if interrupted:
        raise InterruptedFit(f"fit interrupted (Ctrl-C) after {got_draws} of {draws} draws "
                             "per chain; nothing was saved")
    if got_chains != chains or got_draws != draws:
        raise InterruptedFit(f"the sampler returned {got_chains} chains x {got_draws} draws, "
                             f"{chains} x {draws} were asked; the incomplete fit is not used")
