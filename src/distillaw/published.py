"""Typed-in published coefficients, each value with its citation and interval.

The JSON files live in ``data/published/`` of the repository (and inside the wheel as
``distillaw/_published``). Names::

    busbridge2025            supervised + distillation law, Table 6 (90% bootstrap CIs)
    chinchilla2022           Hoffmann et al. approach 3, unrounded TeX values
    chinchilla2022-rounded   the rounded values printed in the paper
    epoch2024                Besiroglu et al. replication, 95% bootstrap CIs
    zhang2023                law of capacity gap, N_T* = k N_S^s

Example
-------
>>> from distillaw import published
>>> p = published("busbridge2025")
>>> p.point()["E"], p.interval("E")
(1.22, (1.19, 1.247))
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DistillawError
from .laws.supervised import PARAMS_BUSBRIDGE as SUPERVISED_PARAMS


def published_dir() -> Path:
    """Folder holding the published-coefficient JSON files.

    Two places, checked in this order: the copy shipped inside an installed wheel, and
    ``data/published`` of a source checkout (editable installs).
    """
    here = Path(__file__).resolve().parent
    for cand in (here / "_published", here.parents[1] / "data" / "published"):
        if cand.is_dir():
            return cand
    raise DistillawError(
        "published coefficients not found: expected distillaw/_published (wheel) or "
        "data/published (source checkout)"
    )


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float | None = None
    upper: float | None = None
    se: float | None = None
    where: str = ""


@dataclass(frozen=True)
class Coefficients:
    """One published set of coefficients with provenance."""

    name: str
    title: str
    citation: str
    url: str
    laws: tuple[str, ...]
    form: str
    ci_level: float | None
    parameters: dict[str, Estimate]
    derived: dict[str, Estimate] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, repr=False)

    def point(self) -> dict[str, float]:
        """Point estimates by parameter name."""
        return {k: e.value for k, e in self.parameters.items()}

    def interval(self, name: str) -> tuple[float, float] | None:
        """Published interval (at ``ci_level``) of a parameter, or None if none was given."""
        e = self.parameters[name] if name in self.parameters else self.derived[name]
        if e.lower is None or e.upper is None:
            return None
        return (e.lower, e.upper)

    def supervised(self) -> dict[str, float]:
        """Point estimates of the supervised-law parameters only (gamma = 1 for Chinchilla)."""
        p = self.point()
        out = {k: p[k] for k in SUPERVISED_PARAMS if k in p}
        if "E" not in out:
            raise DistillawError(f"{self.name} has no supervised-law coefficients")
        out.setdefault("gamma", 1.0)
        return out


def _estimate(d: dict) -> Estimate:
    return Estimate(value=float(d["value"]), lower=d.get("lower"), upper=d.get("upper"),
                    se=d.get("se"), where=d.get("where", ""))


def available() -> list[str]:
    """Names of the published coefficient sets."""
    return sorted(p.stem for p in published_dir().glob("*.json"))


def published(name: str) -> Coefficients:
    """Load a published coefficient set by name (see module docstring for the names)."""
    path = published_dir() / f"{name}.json"
    if not path.is_file():
        raise DistillawError(
            f"unknown published coefficient set {name!r}; available: {', '.join(available())}"
        )
    raw = json.loads(path.read_text())
    interval = raw.get("interval") or {}
    return Coefficients(
        name=raw["name"], title=raw.get("title", ""), citation=raw["citation"],
        url=raw.get("url", ""), laws=tuple(raw.get("laws", ())), form=raw.get("form", ""),
        ci_level=interval.get("level"),
        parameters={k: _estimate(v) for k, v in raw["parameters"].items()},
        derived={k: _estimate(v) for k, v in raw.get("derived", {}).items()},
        notes=tuple(raw.get("notes", ())), raw=raw,
    )
