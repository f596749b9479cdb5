"""How far a query lies outside the data a posterior was fitted on.

A decision at 10-100x the largest fitted compute is an extrapolation of the law, and the
user must see it. From the rows a fit stores with its posterior (``constant_data``: kind,
N, D, N_T, L_T of every fitted row; written by :func:`distillaw.fit.fit` and kept by
``save``/``load``) this module derives the fitted ranges and says, for a query:

- the student beyond the largest fitted student size, or its compute ``6 N_S D_S`` beyond
  the largest fitted student compute (by which factor);
- the teacher beyond the largest fitted teacher size, or stronger (lower loss) than the
  strongest fitted teacher;
- the supervised baseline beyond the largest supervised run's size or compute ``6 N D``;
- the query farther from the fitted runs than any run the extrapolation calibration held
  out and scored (posteriors fitted with it): the predictive interval there is the learned
  discrepancy's power law extended, not measured;
- "the supervised law is prior-driven": the table had no supervised rows, so the
  supervised baseline is drawn from the supervised law's prior (``allocate`` cuts the
  distillation rows' feedback into it), and a teacher loss predicted from its size uses a
  supervised law no run measured.

Example
-------
>>> from distillaw.posterior import Posterior                               # doctest: +SKIP
>>> post = Posterior.load("models/distillation")                            # doctest: +SKIP
>>> [f.message for f in extrapolation(post, {"N_S": 1e10, "D_S": 2e11})]   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from .errors import DecisionError

TOL = 1.0 + 1e-9  # a query exactly at the largest fitted value is inside


@dataclass(frozen=True)
class Finding:
    """One way a query lies outside the fitted data.

    ``what``: ``student_size``, ``student_compute``, ``teacher_size``, ``teacher_loss``,
    ``supervised_size``, ``supervised_compute``, ``supervised_prior_driven``,
    ``beyond_calibration`` / ``supervised_beyond_calibration`` (farther from the fitted
    runs than any run the extrapolation calibration held out: ``value`` and ``fitted`` are
    distances in fitted spans) or ``no_fitted_data``; ``value`` and ``fitted`` the query's
    and the data's extreme (``None`` where not a number); ``factor`` how far beyond (> 1),
    or ``None``.
    """

    what: str
    message: str
    value: float | None = None
    fitted: float | None = None
    factor: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataRanges:
    """Extremes of the fitted rows, by kind (``None`` where a kind has no rows)."""

    n_supervised: int
    n_distillation: int
    sup_N_max: float | None = None
    sup_compute_max: float | None = None
    student_N_max: float | None = None
    student_compute_max: float | None = None
    teacher_N_max: float | None = None
    teacher_L_min: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _max(v) -> float | None:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else None


def data_ranges(posterior) -> DataRanges | None:
    """Fitted ranges from the rows stored with ``posterior`` (``None`` if it stores none,
    e.g. a posterior built by hand from coefficients, published coefficients or a mapping
    of parameter draws)."""
    idata = getattr(posterior, "idata", None)
    if idata is None or "constant_data" not in idata.groups():
        return None
    cd = idata.constant_data
    if not {"kind", "N", "D"} <= set(cd.data_vars):
        return None
    kind = np.asarray(cd["kind"].values).astype(str)
    N = np.asarray(cd["N"].values, float)
    D = np.asarray(cd["D"].values, float)
    sup, dis = kind == "supervised", kind == "distillation"
    out = {"n_supervised": int(sup.sum()), "n_distillation": int(dis.sum())}
    if sup.any():
        out["sup_N_max"] = _max(N[sup])
        out["sup_compute_max"] = _max(6.0 * N[sup] * D[sup])
    if dis.any():
        out["student_N_max"] = _max(N[dis])
        out["student_compute_max"] = _max(6.0 * N[dis] * D[dis])
        if "N_T" in cd.data_vars:
            out["teacher_N_max"] = _max(np.asarray(cd["N_T"].values, float)[dis])
        if "L_T" in cd.data_vars:
            lt = np.asarray(cd["L_T"].values, float)[dis]
            lt = lt[np.isfinite(lt)]
            out["teacher_L_min"] = float(lt.min()) if lt.size else None
    return DataRanges(**out)


def _query(q) -> dict:
    """Query fields from an :class:`~distillaw.decision.Allocation` or a mapping."""
    keys = ("kind", "N_S", "D_S", "N_T", "D_T", "L_T", "supervised_N", "supervised_D")
    if isinstance(q, Mapping):
        out = {k: q.get(k) for k in keys}
        if out["kind"] is None:
            out["kind"] = "distillation" if any(q.get(k) is not None for k in
                                                ("N_T", "L_T")) else "supervised"
        return out
    return {k: getattr(q, k, None) for k in keys}


def _beyond(what, label, value, fitted, unit="") -> Finding | None:
    if value is None or fitted is None or not value > fitted * TOL:
        return None
    f = value / fitted
    return Finding(what, f"{label} ({value:.3g}{unit}) is {f:.3g}x the largest fitted "
                         f"({fitted:.3g}{unit}): extrapolation", float(value), float(fitted),
                   float(f))


def _beyond_calibration(posterior, row: dict, who: str, what: str) -> Finding | None:
    """A finding when ``row`` lies farther from the fitted runs than any run the
    posterior's extrapolation calibration held out and scored: its predictive interval
    there is the learned discrepancy's power law extrapolated, not measured."""
    import pandas as pd

    disc = getattr(posterior, "discrepancy", None)
    if disc is None or posterior.law not in ("supervised", "distillation"):
        return None
    dmax = disc.calibrated_distance()
    if dmax is None or not dmax > 0 or data_ranges(posterior) is None:
        return None
    fitted = posterior.fitted_rows()
    kinds = fitted["kind"].astype(str) if "kind" in fitted.columns else pd.Series(
        [posterior.law] * len(fitted))
    if not (kinds == row["kind"]).any():
        return None  # no fitted run of its kind (flagged as prior-driven above), no fold
    d = float(disc.distance(fitted, pd.DataFrame([row]), posterior.law)[0])
    if not np.isfinite(d) or not d > dmax * TOL:
        return None
    return Finding(what, f"{who} lies {d:.2g} fitted spans from the fitted runs, {d / dmax:.2g}x "
                         f"the farthest held-out run the extrapolation calibration scored "
                         f"({dmax:.2g}): its predictive interval there extends the learned "
                         "discrepancy (c d^p) beyond the distances the folds tested",
                   d, float(dmax), d / dmax)


def extrapolation(posterior, query, *, supervised=None) -> list[Finding]:
    """What of ``query`` lies outside the data ``posterior`` was fitted on, and how far.

    Parameters
    ----------
    posterior : Posterior
        The (distillation or supervised) posterior the decision used.
    query : Allocation or mapping
        An allocation, or a mapping with ``N_S, D_S`` (student or supervised model) and
        optionally ``N_T, D_T, L_T`` (teacher) and ``supervised_N, supervised_D`` (the
        supervised baseline at the same compute).
    supervised : Posterior, optional
        A separate posterior of the supervised baseline (its fitted rows are used for the
        supervised checks).

    Returns
    -------
    list of Finding
        Empty when everything lies inside the fitted ranges.
    """
    q = _query(query)
    if q["N_S"] is None or q["D_S"] is None:
        raise DecisionError("an extrapolation query needs N_S and D_S")
    r = data_ranges(posterior)
    if r is None:
        return [Finding("no_fitted_data", "the posterior records no fitted rows (built from "
                        "coefficients?): how far this query extrapolates cannot be judged")]
    out: list[Finding | None] = []
    NS, DS = float(q["N_S"]), float(q["D_S"])
    if q["kind"] == "distillation":
        out.append(_beyond("student_size", "the student size N_S", NS, r.student_N_max))
        out.append(_beyond("student_compute", "the student's compute 6 N_S D_S", 6 * NS * DS,
                           r.student_compute_max, " FLOPs"))
        if q["N_T"] is not None:
            out.append(_beyond("teacher_size", "the teacher size N_T", float(q["N_T"]),
                               r.teacher_N_max))
        if q["L_T"] is not None and r.teacher_L_min is not None and \
                float(q["L_T"]) < r.teacher_L_min / TOL:
            out.append(Finding("teacher_loss", f"the teacher's loss ({float(q['L_T']):.4g} "
                               f"nats) is below the strongest fitted teacher's "
                               f"({r.teacher_L_min:.4g}): extrapolation in teacher strength",
                               float(q["L_T"]), r.teacher_L_min, None))
    sr = r if supervised is None else data_ranges(supervised)
    sN = q["supervised_N"] if q["kind"] == "distillation" else NS
    sD = q["supervised_D"] if q["kind"] == "distillation" else DS
    if sr is not None and sr.n_supervised == 0:
        teacher = ("; the teacher's loss predicted from its size uses a supervised law no "
                   "supervised run measured" if
                   q["kind"] == "distillation" and q["N_T"] is not None else "")
        out.append(Finding("supervised_prior_driven", "the supervised law is prior-driven: "
                           "the table has no supervised rows, so the supervised baseline is "
                           "drawn from the supervised law's prior (the distillation rows do "
                           f"not inform it){teacher}"))
    elif sr is not None and sN is not None and sD is not None:
        who = "the supervised baseline" if q["kind"] == "distillation" else "the model"
        out.append(_beyond("supervised_size", f"{who}'s size N", float(sN), sr.sup_N_max))
        out.append(_beyond("supervised_compute", f"{who}'s compute 6 N D",
                           6 * float(sN) * float(sD), sr.sup_compute_max, " FLOPs"))
        if q["kind"] == "distillation" and q["N_T"] is not None:
            out.append(_beyond("teacher_size", "the teacher size N_T (its loss comes from the "
                               "supervised law)", float(q["N_T"]), sr.sup_N_max))
    elif supervised is not None and sr is None:
        out.append(Finding("no_fitted_data", "the supervised posterior records no fitted rows: "
                           "how far the supervised baseline extrapolates cannot be judged"))
    student = {"kind": q["kind"], "N": NS, "D": DS}
    if q["kind"] == "distillation" and q["L_T"] is not None:
        student["L_T"] = float(q["L_T"])
    who = "the student run" if q["kind"] == "distillation" else "the run"
    out.append(_beyond_calibration(posterior, student, who, "beyond_calibration"))
    if q["kind"] == "distillation" and sN is not None and sD is not None:
        out.append(_beyond_calibration(
            posterior if supervised is None else supervised,
            {"kind": "supervised", "N": float(sN), "D": float(sD)},
            "the supervised baseline", "supervised_beyond_calibration"))
    seen, findings = set(), []
    for f in out:  # teacher size can be flagged by both checks: keep the first
        if f is not None and (f.what, f.value) not in seen:
            seen.add((f.what, f.value))
            findings.append(f)
    return findings


def extrapolation_warnings(allocation, posterior, supervised=None) -> list[str]:
    """The findings of :func:`extrapolation` for an allocation, as caveat sentences."""
    return [f.message for f in extrapolation(posterior, allocation, supervised=supervised)]


__all__ = ["DataRanges", "Finding", "data_ranges", "extrapolation", "extrapolation_warnings"]
