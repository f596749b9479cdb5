"""Saved posteriors: the model card and the folder format.

A posterior is saved as a folder: ``posterior.nc`` (the draws, NetCDF) + ``card.json`` (spec,
data hash, sampler settings, diagnostics, package version, a hash of the draws) +
``card.md`` (the same for people). The folder is written whole and swapped in
(:func:`distillaw._io.atomic_dir`); :func:`load` refuses a card and draws that do not belong
together. :class:`distillaw.posterior.Posterior` delegates ``card``, ``card_markdown``,
``save`` and ``load`` here.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ._compat import import_arviz
from ._io import atomic_dir, check_output_dir, recover_dir
from ._version import __version__
from .errors import PosteriorError

GROUP_DIM = "group"
SAVED_FILES = ("posterior.nc", "card.json", "card.md")


def check_save_target(directory: str | os.PathLike, label: str | None = None) -> Path:
    """Raise unless :meth:`Posterior.save` can write ``directory``: a writable folder (or one
    that can be created) holding nothing but a saved posterior. Called by ``fit`` before
    sampling, so a bad ``--out`` never throws the sampling away."""
    directory = Path(directory)
    check_output_dir(directory, label)
    if directory.is_dir():
        foreign = sorted(f.name for f in directory.iterdir()
                         if f.name not in SAVED_FILES and not f.name.startswith("."))
        if foreign:
            raise PosteriorError(
                f"{label or directory}: folder holds other files ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}); a posterior is saved as a whole "
                "folder: choose a new or empty one")
    return directory


def _write_netcdf(idata, path: Path) -> None:
    """Write ``idata`` as NetCDF (HDF5, the layout ``arviz.from_netcdf`` reads) to ``path``.

    The file is built in memory and written with plain Python file IO: HDF5 (h5netcdf)
    crashes the interpreter (segfault on close) when the disk fills up under it, while a
    full disk here is an ordinary ``OSError`` that becomes a one-line StorageError.
    """
    import io

    import xarray as xr

    tree = xr.DataTree.from_dict({f"/{g}": getattr(idata, g) for g in idata.groups()})
    buf = io.BytesIO()
    tree.to_netcdf(buf, engine="h5netcdf")
    with open(path, "wb") as out:
        out.write(buf.getbuffer())


class _MixedRead(Exception):
    """The card and the draws read do not belong together (or vanished mid-read)."""


def draws_hash(idata, spec: Mapping) -> str:
    """SHA-256 of a posterior's draws (every variable of the ``posterior`` group: name,
    dims, shape, float64 bytes, group labels) and its spec (canonical JSON). Recorded on
    the card by :meth:`Posterior.save` and checked by :meth:`Posterior.load`."""
    h = hashlib.sha256()
    canon = json.loads(json.dumps(dict(spec), default=str))
    h.update(json.dumps(canon, sort_keys=True).encode())
    post = idata.posterior
    for name in sorted(map(str, post.data_vars)):
        da = post[name]
        v = np.asarray(da.values)
        h.update(f"|{name}|{da.dims}|{v.shape}|".encode())
        if v.dtype.kind in "fiub":
            h.update(np.ascontiguousarray(v, dtype="<f8").tobytes())
        else:
            h.update(repr(v.tolist()).encode())
    if GROUP_DIM in post.coords:
        h.update(repr([str(g) for g in post.coords[GROUP_DIM].values]).encode())
    return h.hexdigest()



def interval_columns(ci: float, interval: str = "eti") -> tuple[str, str]:
    """Names of the interval bounds in :meth:`Posterior.summary`, as ArviZ names them.

    >>> interval_columns(0.95)
    ('eti_2.5%', 'eti_97.5%')
    """
    return (f"{interval}_{100 * (1 - ci) / 2:g}%", f"{interval}_{100 * (1 + ci) / 2:g}%")


def make_card(post) -> dict:
    """Machine-readable model card (what ``card.json`` holds)."""
    summ = post.summary(0.95)
    lo, hi = interval_columns(0.95)
    keep = {"median": "median", "lower": lo, "upper": hi, "mean": "mean", "sd": "sd",
            "ess_bulk": "ess_bulk", "r_hat": "r_hat"}

    def num(v):
        return None if not np.isfinite(v) else float(v)

    return {
        "name": post.name, "law": post.law, "form": post.form, "spec": post.spec,
        "data_hash": post.data_hash, "sampler": post.sampler,
        "diagnostics": post._diagnostics, "n_draws": post.n_draws, "groups": post.groups,
        # lower/upper: the equal-tailed interval at level "ci"
        "parameters": {k: {name: num(summ.loc[k, col]) for name, col in keep.items()}
                       for k in summ.index},
        "ci": 0.95, "interval": "equal-tailed",
        "model": post.model_info,
        "draws_hash": draws_hash(post.idata, post.spec),
        "distillaw_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

def card_markdown(post, card: Mapping | None = None) -> str:
    """Human-readable model card."""
    card = card or make_card(post)
    spec = card.get("spec") or {}
    lines = [f"# Model card: {card.get('name') or post.law}", "",
             f"- law: {card['law']} (form: {card.get('form')})",
             f"- likelihood on log-loss: {spec.get('likelihood', 'n/a')}",
             f"- group column: {spec.get('group') or 'none'}",
             f"- draws: {card['n_draws']}",
             f"- data hash (sha256): {card.get('data_hash')}",
             f"- distillaw version: {card['distillaw_version']}",
             f"- created: {card['created']}", ""]
    model = card.get("model") or {}
    if model.get("data_file") or model.get("n_obs"):
        lines += ["## Data", "", f"- file: {model.get('data_file') or 'in memory'}",
                  f"- rows used: {model.get('n_obs')} {model.get('n_by_kind', '')}"]
        if model.get("reference"):
            lines.append("- reference sizes (prefactors are sampled there): " + ", ".join(
                f"{k} = {v:.4g}" for k, v in model["reference"].items()))
        if model.get("gp"):  # error="gp": where the discrepancy's basis lives
            bx = model["gp"]
            lines.append("- GP discrepancy box (log10 N, log10 D): " + ", ".join(
                f"{k} {c:.3g} +- {h:.3g}" for k, c, h in zip(("N", "D"), bx["center"],
                                                             bx["L"], strict=True))
                + f"; {bx['m'][0]} x {bx['m'][1]} basis functions (zero outside the box)")
        lines += [f"- note: {n}" for n in model.get("notes", [])] + [""]
    if model.get("arviz"):
        az_info = model["arviz"]
        lines += ["## ArviZ groups (posterior.nc)", "",
                  f"- groups: {', '.join(az_info.get('groups', []))}",
                  f"- observed_data: {az_info.get('observed_data')}",
                  f"- log_likelihood: {az_info.get('log_likelihood')}",
                  f"- prior: {az_info.get('prior_draws')} draws", ""]
    if card.get("parameters"):
        lines += ["## Parameters (median, 95% equal-tailed interval)", "",
                  "| parameter | median | lower | upper |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['median']:.4g} | {v['lower']:.4g} | {v['upper']:.4g} |"
                  for k, v in card["parameters"].items()] + [""]
    if card.get("diagnostics"):
        lines += ["## Diagnostics", ""] + [f"- {k}: {v}" for k, v in
                                           card["diagnostics"].items()] + [""]
    if card.get("sampler"):
        lines += ["## Sampler", ""] + [f"- {k}: {v}" for k, v in card["sampler"].items()] + [""]
    if model.get("priors"):
        contraction = model.get("contraction", {})
        lines += ["## Priors (resolved) and contraction", "",
                  "Contraction = posterior sd / prior sd of each sampled quantity: near 1 "
                  "means the data taught little (prior-dominated).", "",
                  "| name | prior | posterior sd / prior sd |", "|---|---|---|"]
        for k, v in model["priors"].items():
            c = contraction.get(k)
            lines.append(f"| {k} | `{json.dumps(v)}` | "
                         f"{'' if c is None else f'{c:.3f}'} |")
        lines.append("")
    return "\n".join(lines) + "\n"

def save(post, directory: str | os.PathLike) -> Path:
    """Write ``posterior.nc``, ``card.json`` and ``card.md`` into ``directory``.

    The three files are written into a fresh sibling folder which is then swapped in
    (:func:`distillaw._io.atomic_dir`): a reader sees the old posterior or the new one,
    never a mix, and a save killed at any point leaves the old posterior loadable. The
    card records :func:`draws_hash` (the draws and the spec), checked by :meth:`load`.

    A folder that holds anything but a saved posterior is refused (the swap would
    replace it as a whole).
    """
    directory = check_save_target(directory)
    card = post.card()

    def fill(tmp: Path) -> None:
        idata = post.idata.copy()
        idata.posterior.attrs["distillaw_spec"] = json.dumps(post.spec, default=str)
        _write_netcdf(idata, tmp / "posterior.nc")
        (tmp / "card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
        (tmp / "card.md").write_text(post.card_markdown(card))

    return atomic_dir(directory, fill)

def load(cls, directory: str | os.PathLike):
    """Read a posterior saved by :meth:`save` (no PyMC model is rebuilt).

    Refuses (:class:`PosteriorError`, one line) a card and draws that do not belong
    together: the card's ``draws_hash`` must match the draws and spec read (cards saved
    before the hash existed are checked for law and draw count only). A save killed
    between its two renames is recovered first (the old posterior is put back).
    """
    directory = Path(directory)
    recover_dir(directory)
    nc, cj = directory / "posterior.nc", directory / "card.json"
    if not directory.is_dir():
        raise PosteriorError(f"{directory}: no such model directory")
    if not nc.is_file() or not cj.is_file():
        raise PosteriorError(f"{directory}: not a saved posterior (needs posterior.nc and "
                             "card.json)")
    # A re-save swapping the folder while we read can pair an old card with new draws;
    # the hash check catches it and a second read sees one complete folder.
    for attempt in range(3):
        try:
            return _read(cls, directory)
        except _MixedRead:
            if attempt == 2:
                raise PosteriorError(
                    f"{directory}: card.json and posterior.nc do not belong together "
                    "(the draws or the law differ from what the card records); refit or "
                    "restore the folder") from None
            time.sleep(0.2)
            recover_dir(directory)
    raise AssertionError("unreachable")

def _read(cls, directory: Path):
    az = import_arviz()

    nc, cj = directory / "posterior.nc", directory / "card.json"
    try:
        card = json.loads(cj.read_text())
        idata = az.from_netcdf(str(nc))
        for g in idata.groups():
            getattr(idata, g).load()
    except FileNotFoundError:
        raise _MixedRead() from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PosteriorError(f"{directory}: cannot read posterior ({reason})") from None
    if not isinstance(card, Mapping) or "spec" not in card or not isinstance(
            card["spec"], Mapping):
        raise PosteriorError(f"{cj}: card has no model spec")
    if not hasattr(idata, "posterior"):
        raise PosteriorError(f"{nc}: no posterior group")
    spec = card["spec"]
    stored = card.get("draws_hash")
    if stored is not None:
        if stored != draws_hash(idata, spec):
            raise _MixedRead()
    else:  # a card from before the hash: the law in the draws' file and the count
        try:
            nc_spec = json.loads(idata.posterior.attrs.get("distillaw_spec", "{}"))
        except ValueError:
            nc_spec = {}
        post_ds = idata.posterior
        n = int(post_ds.sizes.get("chain", 0) * post_ds.sizes.get("draw", 0))
        if (nc_spec.get("law") not in (None, spec.get("law"))
                or card.get("n_draws") not in (None, n)):
            raise _MixedRead()
    return cls(idata, spec, data_hash=card.get("data_hash"),
               sampler=card.get("sampler"), diagnostics=card.get("diagnostics"),
               name=card.get("name"), model_info=card.get("model"))
