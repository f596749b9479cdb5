"""Simulate run tables from a law with known coefficients (truth is recorded).

Used by tests (parameter recovery, calibration), notebooks, benchmarks and the demo. Noise
is multiplicative: ``log L_obs = log L_true + sigma * eps`` with ``eps ~ Normal(0, 1)``
(or Student-t with ``nu`` degrees of freedom), matching the models' log-loss likelihood.

Teachers are simulated as supervised runs; the student's distillation loss is computed from
the teacher's *observed* loss, as the distillation law is fitted on measured teacher losses.

Regenerate the shipped data sets (``data/simulated/``) with::

    python -m distillaw.simulate --shipped data/simulated
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_write_bytes
from .data import validate_runs, write_runs
from .laws import DISTILLATION_PARAMS, SUPERVISED_PARAMS
from .laws.capacity_gap import log_capacity_gap_curve
from .laws.compute import DEFAULT_FLOPS, FlopsModel, distillation_flops, supervised_flops
from .laws.distillation import distillation_loss
from .laws.supervised import supervised_loss
from .published import published

SUP_KEYS = SUPERVISED_PARAMS
DIS_KEYS = DISTILLATION_PARAMS


def log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` values log-uniform on ``[lo, hi]``."""
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _noise(rng, n, sigma, nu):
    eps = rng.standard_normal(n) if nu is None else rng.standard_t(nu, n)
    return np.exp(sigma * eps)


def _sup_params(params: Mapping[str, float]) -> dict[str, float]:
    p = {k: float(params[k]) for k in SUP_KEYS if k in params}
    p.setdefault("gamma", 1.0)
    return p


def simulate_supervised(params: Mapping[str, float], N: Sequence[float], D: Sequence[float], *,
                        sigma: float = 0.01, nu: float | None = None, seed: int = 0,
                        group: str | Sequence[str] = "sim", prefix: str = "sup",
                        flops_model: FlopsModel = DEFAULT_FLOPS) -> pd.DataFrame:
    """Supervised runs at the given (N, D) pairs. ``params``: E, A, B, alpha, beta[, gamma].

    ``params`` values may also be dicts ``{group: value}`` for hierarchical truth, in which
    case ``group`` must be a sequence naming each row's group.
    """
    rng = np.random.default_rng(seed)
    N = np.asarray(N, float)
    D = np.asarray(D, float)
    groups = np.broadcast_to(np.asarray(group, dtype=object), N.shape)
    per_row = {}
    for k in SUP_KEYS:
        v = params.get(k, 1.0 if k == "gamma" else None)
        if v is None:
            raise KeyError(f"missing supervised parameter {k!r}")
        per_row[k] = (np.array([v[g] for g in groups], float) if isinstance(v, Mapping)
                      else np.full(N.shape, float(v)))
    L_true = supervised_loss(N, D, **per_row)
    L = L_true * _noise(rng, N.size, sigma, nu)
    df = pd.DataFrame({
        "run_id": [f"{prefix}-{i:04d}" for i in range(N.size)], "kind": "supervised",
        "group": groups, "N": N, "D": D, "L": L,
        "seed": seed, "flops": supervised_flops(N, D, flops_model), "source": "simulated",
        "L_true": L_true,
    })
    out = validate_runs(df)
    out.attrs["truth"] = {k: (dict(v) if isinstance(v, Mapping) else float(v))
                          for k, v in params.items()} | {"sigma": sigma, "nu": nu}
    return out


def simulate_distillation(params: Mapping[str, float], *, students: Sequence[tuple[float, float]],
                          teachers: Sequence[tuple[float, float]], sigma: float = 0.01,
                          nu: float | None = None, seed: int = 0, group: str = "sim",
                          include_teachers: bool = True, include_baselines: bool = True,
                          flops_model: FlopsModel = DEFAULT_FLOPS) -> pd.DataFrame:
    """Every (student, teacher) pair distilled, plus the teachers' and students' supervised runs.

    Parameters
    ----------
    params : mapping
        Supervised (E, A, B, alpha, beta, gamma) and distillation (A_prime, ..., d1) truth.
    students : sequence of (N_S, D_S)
    teachers : sequence of (N_T, D_T)
    include_teachers : add each teacher's own supervised run (its measured L_T).
    include_baselines : add a supervised run of each student configuration (N_S, D_S), which
        lets the joint model learn the student's supervised loss from data.
    """
    rng = np.random.default_rng(seed)
    sup = _sup_params(params)
    dis = {k: float(params[k]) for k in DIS_KEYS}
    teachers = [(float(n), float(d)) for n, d in teachers]
    students = [(float(n), float(d)) for n, d in students]
    rows = []
    NT = np.array([t[0] for t in teachers])
    DT = np.array([t[1] for t in teachers])
    LT_true = supervised_loss(NT, DT, **sup)
    LT_obs = LT_true * _noise(rng, len(teachers), sigma, nu)
    tids = [f"teacher-{i:03d}" for i in range(len(teachers))]
    if include_teachers:
        for i in range(len(teachers)):
            rows.append({"run_id": tids[i], "kind": "supervised", "group": group, "N": NT[i],
                         "D": DT[i], "L": LT_obs[i], "L_true": LT_true[i],
                         "flops": float(supervised_flops(NT[i], DT[i], flops_model))})
    NS = np.array([s[0] for s in students])
    DS = np.array([s[1] for s in students])
    if include_baselines:
        Lb_true = supervised_loss(NS, DS, **sup)
        Lb = Lb_true * _noise(rng, len(students), sigma, nu)
        for j in range(len(students)):
            rows.append({"run_id": f"baseline-{j:03d}", "kind": "supervised", "group": group,
                         "N": NS[j], "D": DS[j], "L": Lb[j], "L_true": Lb_true[j],
                         "flops": float(supervised_flops(NS[j], DS[j], flops_model))})
    L_tilde = supervised_loss(NS, DS, **sup)
    for j in range(len(students)):
        for i in range(len(teachers)):
            Ls_true = float(distillation_loss(NS[j], DS[j], LT_obs[i], L_tilde[j], **dis))
            rows.append({
                "run_id": f"distill-s{j:03d}-t{i:03d}", "kind": "distillation", "group": group,
                "N": NS[j], "D": DS[j], "N_T": NT[i], "D_T": DT[i], "L_T": LT_obs[i],
                "teacher_id": tids[i], "L": np.nan, "L_true": Ls_true,
                "flops": float(distillation_flops(NS[j], DS[j], NT[i], DT[i],
                                                  "teacher-inference", flops_model)),
            })
    df = pd.DataFrame(rows)
    dist = (df["kind"] == "distillation").to_numpy()
    df["L"] = np.where(dist, df["L_true"] * _noise(rng, len(df), sigma, nu), df["L"])
    df["seed"] = seed
    df["source"] = "simulated"
    out = validate_runs(df)
    out.attrs["truth"] = {**sup, **dis, "sigma": sigma, "nu": nu}
    return out


def simulate_capacity_gap(*, k: float, s: float, students: Sequence[float],
                          teacher_ratios: Sequence[float], L_min: Sequence[float] | float,
                          curvature: Sequence[float] | float, D_S: float | Sequence[float],
                          sigma: float = 0.005, seed: int = 0, group: str = "sim") -> pd.DataFrame:
    """Several teachers per student, student loss U-shaped in log teacher size.

    The truth is :func:`~distillaw.laws.capacity_gap.log_capacity_gap_curve` with optimum on
    ``N_T* = k N_S^s``; teachers are ``ratio * N_S`` for each ratio. ``L_min``/``curvature``
    are per student (or scalars). ``L_T`` is filled with a nominal value (the capacity-gap
    model does not use it).
    """
    rng = np.random.default_rng(seed)
    NS = np.asarray(students, float)
    Lmin = np.broadcast_to(np.asarray(L_min, float), NS.shape)
    curv = np.broadcast_to(np.asarray(curvature, float), NS.shape)
    DSs = np.broadcast_to(np.asarray(D_S, float), NS.shape)
    rows = []
    for j, ns in enumerate(NS):
        for r in teacher_ratios:
            nt = r * ns
            logL = log_capacity_gap_curve(np.log(nt), np.log(ns), log_k=np.log(k), s=s,
                                          log_L_min=np.log(Lmin[j]), curvature=curv[j])
            L_true = float(np.exp(logL))
            rows.append({"run_id": f"cg-s{j:02d}-r{r:g}", "kind": "distillation", "group": group,
                         "N": ns, "D": DSs[j], "N_T": nt, "D_T": 20 * nt,
                         "L_T": L_true * 0.9, "L_true": L_true})
    df = pd.DataFrame(rows)
    df["L"] = df["L_true"] * _noise(rng, len(df), sigma, None)
    df["seed"] = seed
    df["source"] = "simulated"
    out = validate_runs(df)
    out.attrs["truth"] = {"k": k, "s": s, "L_min": list(map(float, Lmin)),
                          "curvature": list(map(float, curv)), "sigma": sigma}
    return out


def simulate_plan(params: Mapping[str, float], plan: pd.DataFrame, *, sigma: float = 0.01,
                  nu: float | None = None, seed: int = 0,
                  flops_model: FlopsModel = DEFAULT_FLOPS) -> pd.DataFrame:
    """Outcomes of a plan's runs (losses empty) drawn from a law: a stand-in for running them.

    Supervised rows get ``L`` from the supervised law; a distillation row with a new teacher
    (``N_T``, ``D_T``) first gets that teacher's own supervised run (one per distinct
    teacher, ``run_id`` = the row's ``teacher_id`` or ``teacher-<N_T>-<D_T>``), whose noisy
    loss is the ``L_T`` of every student distilled from it; a row with a known ``L_T`` uses
    it. Returns a validated run table (teacher rows first), ``source = "simulated"``.

    Example
    -------
    >>> plan = pd.DataFrame({"run_id": ["a"], "kind": ["distillation"], "N": [1e4],
    ...                      "D": [5e5], "N_T": [3e4], "D_T": [1e6], "L": [np.nan]})
    >>> out = simulate_plan(RUNNER_WORLD, plan, sigma=0.0, flops_model=RUNNER_FLOPS)
    >>> list(out["kind"]), bool(out["L"].iloc[1] < 2.0)
    (['supervised', 'distillation'], True)
    """
    rng = np.random.default_rng(seed)
    sup = _sup_params(params)
    plan = validate_runs(plan, require_loss=False)
    teachers: dict[tuple[float, float], tuple[str, float]] = {}
    rows = []
    for r in plan.itertuples(index=False):
        base = {"run_id": r.run_id, "kind": r.kind, "group": r.group, "N": r.N, "D": r.D,
                "seed": seed, "source": "simulated"}
        if r.kind == "supervised":
            L_true = float(supervised_loss(r.N, r.D, **sup))
            rows.append({**base, "L": L_true * _noise(rng, 1, sigma, nu)[0], "L_true": L_true,
                         "flops": float(supervised_flops(r.N, r.D, flops_model))})
            continue
        if pd.notna(r.N_T) and pd.notna(r.D_T):
            key = (float(r.N_T), float(r.D_T))
            if key not in teachers:
                tid = (str(r.teacher_id) if pd.notna(r.teacher_id)
                       else f"teacher-{key[0]:.3g}-{key[1]:.3g}")
                LT_true = float(supervised_loss(key[0], key[1], **sup))
                LT = LT_true * _noise(rng, 1, sigma, nu)[0]
                teachers[key] = (tid, LT)
                rows.insert(len(teachers) - 1, {
                    "run_id": tid, "kind": "supervised", "group": r.group, "N": key[0],
                    "D": key[1], "L": LT, "L_true": LT_true, "seed": seed,
                    "source": "simulated",
                    "flops": float(supervised_flops(key[0], key[1], flops_model))})
            tid, LT = teachers[key]
            extra = {"N_T": key[0], "D_T": key[1], "teacher_id": tid,
                     "flops": float(distillation_flops(r.N, r.D, key[0], key[1],
                                                       "teacher-inference", flops_model))}
        else:
            tid, LT = r.teacher_id, float(r.L_T)
            extra = {"teacher_id": tid}
        L_tilde = supervised_loss(r.N, r.D, **sup)
        L_true = float(distillation_loss(r.N, r.D, LT, L_tilde,
                                         **{k: float(params[k]) for k in DIS_KEYS}))
        rows.append({**base, **extra, "L_T": LT, "L": L_true * _noise(rng, 1, sigma, nu)[0],
                     "L_true": L_true})
    return validate_runs(pd.DataFrame(rows))


def save_simulation(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the table (atomically) and its truth beside it as ``<stem>.truth.json``."""
    path = Path(path)
    write_runs(df, path)
    truth = path.with_name(path.stem + ".truth.json")
    atomic_write_bytes(truth, (json.dumps(df.attrs.get("truth", {}), indent=2, sort_keys=True)
                               + "\n").encode())
    return path


def shipped_supervised() -> pd.DataFrame:
    """The shipped supervised set: Busbridge Table 6 supervised law, 1% noise, 40 runs.

    Eight sizes from 1e8 to 4e9 non-embedding parameters at 5 tokens-per-parameter ratios.
    """
    p = published("busbridge2025").supervised()
    N = np.repeat(np.geomspace(1e8, 4e9, 8), 5)
    M = np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 8)
    df = simulate_supervised(p, N, M * N, sigma=0.01, seed=20250212, group="sim-busbridge")
    df.attrs["truth"]["published"] = "busbridge2025"
    return df


def shipped_distillation() -> pd.DataFrame:
    """The shipped distillation set: Busbridge Table 6 laws, 1% noise.

    Five teachers (198M-4.82B at M_T = 20, plus two over-trained ones), four students
    (143M-975M) at four tokens-per-parameter ratios, every pair distilled: 112 distillation
    runs, 7 teacher runs and 16 student baselines (135 rows).
    """
    p = published("busbridge2025").point()
    teachers = [(n, 20 * n) for n in (1.98e8, 5.46e8, 9.75e8, 1.82e9, 4.82e9)]
    teachers += [(5.46e8, 200 * 5.46e8), (1.82e9, 100 * 1.82e9)]
    students = [(n, m * n) for n in (1.43e8, 3.07e8, 5.46e8, 9.75e8) for m in (10, 20, 40, 80)]
    df = simulate_distillation(p, students=students, teachers=teachers, sigma=0.01,
                               seed=20250213, group="sim-busbridge")
    df.attrs["truth"]["published"] = "busbridge2025"
    return df


# The CPU runner's world (``distillaw.runner`` on its synthetic order-2 Markov source, vocab 32,
# context 128). Posterior medians of a distillation fit to the measured runs in
# data/runs/cpu_sweep.csv with E pinned at the source's exact entropy rate (a loss floor no
# model can beat), rounded; measured rms log-residual of that fit: 0.03. The demo and the
# active-sampling notebook start from a table simulated here, then add real runner runs.
RUNNER_WORLD = {
    "E": 1.2425, "A": 61.1, "B": 486.0, "alpha": 0.586, "beta": 0.554, "gamma": 1.27,
    "A_prime": 63.2, "B_prime": 279.0, "alpha_prime": 0.517, "beta_prime": 0.644,
    "gamma_prime": 0.851, "c0": 2.19, "c1": 629.0, "f1": 0.0916, "d1": 1.313,
}
#: Compute accounting of the runner's synthetic source (vocabulary 32, context 128).
RUNNER_FLOPS = FlopsModel(n_ctx=128, n_vocab=32)


def shipped_runner_world() -> pd.DataFrame:
    """The shipped runner-scale distillation set: :data:`RUNNER_WORLD` law, 3% noise.

    Teachers of 1e4, 3e4 and 1e5 parameters on 1e6 tokens; students of 4e3, 1e4 and 3e4
    parameters on 2.5e5, 5e5 and 1e6 tokens; every pair distilled (27 runs) plus the
    teachers' and students' supervised runs (39 rows). Small enough that the tiny CPU runner
    can run any of its configurations in seconds.
    """
    teachers = [(n, 1e6) for n in (1e4, 3e4, 1e5)]
    students = [(n, d) for n in (4e3, 1e4, 3e4) for d in (2.5e5, 5e5, 1e6)]
    df = simulate_distillation(RUNNER_WORLD, students=students, teachers=teachers, sigma=0.03,
                               seed=20261123, group="runner-world", flops_model=RUNNER_FLOPS)
    df.attrs["truth"]["calibrated_to"] = "data/runs/cpu_sweep.csv"
    return df


def write_shipped(folder: str | os.PathLike) -> list[Path]:
    """(Re)write ``supervised.csv``, ``distillation.csv`` and ``runner-world.csv`` with their
    truth files."""
    folder = Path(folder)
    return [save_simulation(shipped_supervised(), folder / "supervised.csv"),
            save_simulation(shipped_distillation(), folder / "distillation.csv"),
            save_simulation(shipped_runner_world(), folder / "runner-world.csv")]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m distillaw.simulate",
                                 description="Regenerate the shipped simulated data sets.")
    ap.add_argument("--shipped", metavar="DIR", required=True,
                    help="folder to write supervised.csv, distillation.csv and runner-world.csv into")
    args = ap.parse_args(argv)
    for p in write_shipped(args.shipped):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
