"""The plan object: a batch of runs to do next."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import write_runs
from ..errors import PlanningError
from .settings import CI


# ============================================================================ plan object
@dataclass
class Plan:
    """A batch of runs to do next.

    ``runs`` is a run-table DataFrame (``L`` empty) with the extra columns described in the
    module docstring; :meth:`to_csv` writes exactly what ``distillaw run PLAN.csv`` reads.
    """

    runs: pd.DataFrame
    method: str
    target: dict
    budget: float
    k: int
    total_cost: float
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.runs)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Validate and write the plan atomically (temp file + ``os.replace``)."""
        path = Path(path)
        if path.suffix.lower() != ".csv":
            raise PlanningError(f"{path}: a plan is written as .csv")
        return write_runs(self.runs, path, require_loss=False)

    def to_dict(self) -> dict:
        """JSON-able summary (what ``distillaw plan --json`` prints)."""
        cols = ["rank", "run_id", "kind", "group", "N", "D", "N_T", "D_T", "L_T", "teacher_id",
                "flops", "cost", "predicted_median", "predicted_lower", "predicted_upper",
                "expected_gain", "gain_share", "reason"]
        rows = []
        for rec in self.runs[[c for c in cols if c in self.runs.columns]].to_dict("records"):
            rows.append({k: (None if (not isinstance(v, str) and pd.isna(v)) else
                             (float(v) if isinstance(v, (float, np.floating)) else
                              int(v) if isinstance(v, (int, np.integer)) else str(v)))
                         for k, v in rec.items()})
        return {"method": self.method, "budget": self.budget, "k": self.k,
                "total_cost": self.total_cost, "n_runs": len(self.runs), "target": self.target,
                "info": self.info, "runs": rows}

    def summary(self) -> str:
        """A short human-readable table."""
        lines = [f"plan ({self.method}): {len(self.runs)} run(s), {self.total_cost:.3g} of "
                 f"{self.budget:.3g} FLOPs; target: {self.target.get('description', '')}"]
        if "sd_before" in self.info:
            # under criterion mse the number is the rms error of the law-only fit, bias
            # from the law's misfit included, not the posterior sd
            what = ("target rms log-error (misfit bias included)"
                    if "mse" in self.info.get("criterion_per_run", ()) else "target log-sd")
            lines.append(f"{what} {self.info['sd_before']:.4g} -> expected "
                         f"{self.info.get('sd_after', float('nan')):.4g}")
        for r in self.runs.itertuples():
            teacher = ""
            if r.kind == "distillation":
                teacher = (f" teacher N_T={r.N_T:.3g} D_T={r.D_T:.3g}" if not pd.isna(r.N_T)
                           else f" teacher L_T={r.L_T:.4g}")
            lines.append(f"{r.rank:>3} {r.run_id}  {r.kind:<12} N={r.N:.3g} D={r.D:.3g}"
                         f"{teacher}  cost={r.cost:.3g}  L~{r.predicted_median:.4g} "
                         f"({CI:.0%} interval {r.predicted_lower:.4g}-{r.predicted_upper:.4g})  "
                         f"gain={r.expected_gain:.3g}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Plan(method={self.method!r}, runs={len(self.runs)}, "
                f"total_cost={self.total_cost:.3g}, budget={self.budget:.3g})")
