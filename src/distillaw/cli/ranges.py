"""The ``--ranges`` grammar of ``distillaw plan``: text -> keyword arguments of
:func:`distillaw.planning.candidate_grid`."""

from __future__ import annotations

import re

import numpy as np

from ..errors import PlanningError

_RANGE_KEYS = ("N", "D", "M", "N_T", "D_T", "M_T", "L_T", "kind", "teacher_ratio", "group")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _parse_values(key: str, text: str) -> list[float]:
    text = text.strip()
    m = re.fullmatch(rf"({_NUM}):({_NUM}):(\d+)", text)
    if m:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if lo <= 0 or hi <= 0 or n < 1 or hi < lo:
            raise PlanningError(f"--ranges: {key}={text}: need 0 < lo <= hi and n >= 1 "
                                "(lo:hi:n gives n log-spaced values)")
        return [float(x) for x in np.geomspace(lo, hi, n)] if n > 1 else [lo]
    vals = []
    for part in text.split(","):
        part = part.strip()
        if not re.fullmatch(_NUM, part):
            raise PlanningError(f"--ranges: {key}={text}: {part!r} is not a number "
                                "(use lo:hi:n or v1,v2,...)")
        v = float(part)
        if v <= 0:
            raise PlanningError(f"--ranges: {key}={text}: values must be > 0")
        vals.append(v)
    return vals


def parse_ranges(spec: str) -> dict:
    """Parse a ``--ranges`` spec into keyword arguments of :func:`candidate_grid`.

    Grammar: ``KEY=VALUES`` items separated by ``;`` or spaces. ``VALUES`` is ``lo:hi:n``
    (n log-spaced values, inclusive) or a comma list. Keys: ``N`` (model or student size),
    ``D`` (tokens) or ``M`` (tokens per parameter), ``N_T`` with ``D_T`` or ``M_T`` (new
    teachers to train), ``L_T`` (existing teachers of known loss), ``teacher_ratio=lo:hi``
    (keep pairs with lo <= N_T/N <= hi), ``kind=supervised|distillation|both``, ``group=G``.

    Example
    -------
    >>> kw = parse_ranges("N=1e8:1e9:3; M=20,80")
    >>> [round(x / 1e8, 3) for x in kw["N"]], kw["M"]
    ([1.0, 3.162, 10.0], [20.0, 80.0])
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PlanningError("--ranges: empty spec (e.g. 'N=1e8:1e10:5; M=10,20,40')")
    out: dict = {}
    for item in re.split(r"[;\s]+", spec.strip()):
        if not item:
            continue
        if "=" not in item:
            raise PlanningError(f"--ranges: {item!r} is not KEY=VALUES "
                                f"(keys: {', '.join(_RANGE_KEYS)})")
        key, val = item.split("=", 1)
        key = key.strip()
        if key not in _RANGE_KEYS:
            raise PlanningError(f"--ranges: unknown key {key!r}; use {', '.join(_RANGE_KEYS)}")
        if key in out:
            raise PlanningError(f"--ranges: key {key!r} given twice")
        if key in ("kind", "group"):
            out[key] = val.strip()
        elif key == "teacher_ratio":
            m = re.fullmatch(rf"({_NUM}):({_NUM})", val.strip())
            if not m or not 0 < float(m.group(1)) <= float(m.group(2)):
                raise PlanningError(f"--ranges: teacher_ratio={val}: use lo:hi with 0 < lo <= hi")
            out[key] = (float(m.group(1)), float(m.group(2)))
        else:
            out[key] = _parse_values(key, val)
    if "N" not in out:
        raise PlanningError("--ranges: key N (model or student sizes) is required")
    return out


_BOUND_KEYS = ("N_S", "N_T", "D_T", "D_S", "M_S")


def parse_bounds(spec: str, keys: tuple[str, ...] = _BOUND_KEYS) -> dict:
    """Parse ``--bounds`` (``KEY=LOW:HIGH`` items separated by ``,`` or ``;``) into the
    ``bounds=`` mapping of :func:`distillaw.decision.allocate`.

    Example
    -------
    >>> parse_bounds("N_T=1e8:1e12,D_T=1e9:1e13")
    {'N_T': (100000000.0, 1000000000000.0), 'D_T': (1000000000.0, 10000000000000.0)}
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PlanningError("--bounds: empty spec (e.g. 'N_T=1e8:1e12,D_T=1e9:1e13')")
    out: dict = {}
    for item in re.split(r"[;,\s]+", spec.strip()):
        if not item:
            continue
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise PlanningError(f"--bounds: {item!r} is not KEY=LOW:HIGH with KEY one of "
                                f"{', '.join(keys)}")
        if key in out:
            raise PlanningError(f"--bounds: key {key!r} given twice")
        m = re.fullmatch(rf"({_NUM}):({_NUM})", val.strip())
        if not m or not 0 < float(m.group(1)) < float(m.group(2)) < float("inf"):
            raise PlanningError(f"--bounds: {item}: use LOW:HIGH with 0 < LOW < HIGH")
        out[key] = (float(m.group(1)), float(m.group(2)))
    return out
