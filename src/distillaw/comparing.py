"""Leave-one-out cross-validation and model comparison of fits (``dl.loo``, ``dl.compare``).

ArviZ does the statistics (PSIS-LOO, stacking weights); this module makes sure it is asked
a fair question:

- every fit has one pointwise log-likelihood over *all* the rows it was fitted on (a
  distillation fit has two observed nodes, the student and the supervised runs: they are
  joined into one ``log_L_all`` over ``row``, in the order of the stored rows);
- fits are compared only on the same data (the same ``data_hash``) *and* the same rows
  (a supervised fit of a mixed table sees only its supervised rows): LOO of different
  observations is not a comparison;
- a posterior saved before distillaw stored ``log_likelihood`` is refused with a
  :class:`~distillaw.errors.PosteriorError` that says to refit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._compat import import_arviz
from .errors import PosteriorError
from .posterior import Posterior

PARETO_K_BAD = 0.7  # above it, PSIS-LOO of that row is unreliable (Vehtari et al. 2017)
LOG_LIK = "log_L_all"


def _label(post: Posterior) -> str:
    return post.name or f"{post.law}/{post.form}"


def _as_posterior(p) -> Posterior:
    if isinstance(p, Posterior):
        return p
    if isinstance(p, str | os.PathLike):
        return Posterior.load(p)
    raise PosteriorError(f"expected a Posterior or the folder of a saved one, got "
                         f"{type(p).__name__}")


def _row_ids(post: Posterior) -> np.ndarray | None:
    cd = getattr(post.idata, "constant_data", None)
    if cd is None or "run_id" not in cd:
        return None
    return np.asarray(cd["run_id"].values).astype(str)


def loo_data(post: Posterior):
    """An ``InferenceData`` with ``posterior`` and one log-likelihood variable
    ``log_L_all`` ``(chain, draw, row)`` over every fitted row, in the stored rows' order:
    what ``az.loo`` / ``az.compare`` need. Raises :class:`PosteriorError` (saying to refit)
    for a posterior without a ``log_likelihood`` group."""
    az = import_arviz()
    import xarray as xr

    ll = getattr(post.idata, "log_likelihood", None)
    if ll is None or not ll.data_vars:
        raise PosteriorError(f"{_label(post)}: this posterior has no pointwise log-likelihood "
                             "(saved before distillaw stored it, or built by hand); refit it "
                             "with distillaw fit to use LOO or compare")
    ids = _row_ids(post)
    parts, labels = [], []
    for name in sorted(map(str, ll.data_vars)):
        da = ll[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if len(extra) != 1:
            raise PosteriorError(f"{_label(post)}: log_likelihood[{name!r}] has dims {da.dims}; "
                                 "expected (chain, draw, row)")
        parts.append(np.asarray(da.values, float))
        labels.append(np.asarray(da[extra[0]].values).astype(str))
    values = np.concatenate(parts, axis=2)
    lab = np.concatenate(labels)
    if ids is not None and len(ids) == values.shape[2] and len(parts) > 1:
        # Rows in the stored order (the model's nodes are labelled by run_id).
        pos = {r: i for i, r in enumerate(lab)}
        if set(pos) == set(ids) and len(pos) == len(ids):
            values = values[:, :, [pos[r] for r in ids]]
    ds = xr.Dataset({LOG_LIK: (("chain", "draw", "row"), values)},
                    coords={"chain": ll["chain"].values, "draw": ll["draw"].values})
    return az.InferenceData(posterior=post.idata.posterior, log_likelihood=ds)


def loo(post, *, pointwise: bool = True):
    """PSIS-LOO (``az.loo``) of a fit or a saved posterior's folder.

    Returns ArviZ's ``ELPDData`` (``elpd_loo``, ``se``, ``p_loo``, ``pareto_k`` per row).

    Example
    -------
    >>> res = loo("fits/sup")                                           # doctest: +SKIP
    >>> res.elpd_loo, int((res.pareto_k > 0.7).sum())                   # doctest: +SKIP
    """
    az = import_arviz()
    post = _as_posterior(post)
    import warnings

    with warnings.catch_warnings():
        # ArviZ warns about high Pareto k; the result carries them (pareto_k) and
        # compare() reports the count per fit.
        warnings.filterwarnings("ignore", message=".*Pareto.*", category=UserWarning)
        return az.loo(loo_data(post), pointwise=pointwise)


def _check_same_data(posts: Sequence[Posterior], names: Sequence[str]) -> None:
    ref, ref_name = posts[0], names[0]
    for p, n in zip(posts[1:], names[1:], strict=True):
        if p.data_hash is None or ref.data_hash is None:
            raise PosteriorError(f"{n if p.data_hash is None else ref_name}: records no data "
                                 "hash; fits can only be compared on the same data")
        if p.data_hash != ref.data_hash:
            raise PosteriorError(f"cannot compare fits on different data: {ref_name} (data "
                                 f"{ref.data_hash[:12]}) vs {n} (data {p.data_hash[:12]})")
        a, b = _row_ids(ref), _row_ids(p)
        if a is not None and b is not None and (len(a) != len(b) or np.any(a != b)):
            raise PosteriorError(f"cannot compare {ref_name} ({len(a)} rows) with {n} "
                                 f"({len(b)} rows): they were fitted on different rows of the "
                                 "same data (e.g. a supervised and a distillation law)")


def compare(*posts, names: Sequence[str] | None = None,
            method: str = "stacking") -> pd.DataFrame:
    """Rank fits of the same data by PSIS-LOO (``az.compare``) with stacking weights.

    Parameters
    ----------
    *posts : Posterior or path
        Two or more fits, or folders of saved posteriors, all on the same data and rows.
    names : sequence of str, optional
        Labels (default: each fit's name, else ``law/form``; made unique).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        ArviZ's weighting.

    Returns
    -------
    DataFrame
        ``az.compare``'s table (``rank, elpd_loo, p_loo, elpd_diff, weight, se, dse,
        warning, scale``; best first) plus ``pareto_k_max`` and ``n_pareto_k_bad`` (rows
        with Pareto k > 0.7, whose LOO term is unreliable).

    Example
    -------
    >>> table = compare("fits/chin", "fits/busb")                        # doctest: +SKIP
    >>> table.index[0], table["weight"].iloc[0]                         # doctest: +SKIP
    """
    az = import_arviz()
    if len(posts) == 1 and isinstance(posts[0], list | tuple):
        posts = tuple(posts[0])
    if len(posts) < 2:
        raise PosteriorError("compare needs at least two fits")
    fits = [_as_posterior(p) for p in posts]
    if names is None:
        names = [_label(p) for p in fits]
    names = [str(n) for n in names]
    if len(names) != len(fits):
        raise PosteriorError(f"{len(names)} names for {len(fits)} fits")
    seen: dict[str, int] = {}
    unique = []
    for n in names:  # two fits of one law/form: "x", "x#2"
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    _check_same_data(fits, unique)
    loos = {n: loo(p) for n, p in zip(unique, fits, strict=True)}
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto.*", category=UserWarning)
        table = az.compare(loos, ic="loo", method=method)
    k = {n: np.asarray(r.pareto_k) for n, r in loos.items()}
    table["pareto_k_max"] = [float(np.max(k[n])) for n in table.index]
    table["n_pareto_k_bad"] = [int(np.sum(k[n] > PARETO_K_BAD)) for n in table.index]
    table.index.name = "fit"
    return table


__all__ = ["PARETO_K_BAD", "compare", "loo", "loo_data"]
