"""A ``distillaw fit`` from the shell, as a process of its own: this checkout vs the same
fit with the ArviZ groups on PyTensor's C backend (the way before 2026-12-07), side by side.

A CLI fit runs in a fresh process. PyTensor's C backend loads its whole on-disk module index
the first time a process compiles with it (here 553 key.pkl files, about 11 s), and the
fit's ArviZ groups (prior draws, pointwise log-likelihood) were its only C users. The CLI now
builds them inside :func:`distillaw.sampling.groups.one_shot` (prior draws on Python thunks,
log-likelihood on numba). The baseline is the same command with ``one_shot`` emptied in the
child process (``_group_modes`` returning PyTensor's defaults). Each child runs
``distillaw.cli.main(["fit", ...])``; the two alternate, ``--repeat`` times each, and the
table gives wall seconds, the card's ``groups_seconds`` and the ratio.

Measured 2026-12-07 (2 cores, Epoch's 245 points, default fit with calibration, 2 runs
each): this checkout 35.4-35.5 s wall (groups 1.8 s), C groups 46.6-48.2 s (groups 8.1-8.7
s): 1.34x; a second run of this script: 34.7-34.8 s against 43.1-48.7 s (groups 1.7-1.8
against 7.4-9.1 s), 1.24x best to best. The index's cost grows with the compiledir (``~/.pytensor``), which PyTensor does
not trim.

Run: ``PYTHONPATH=src .venv/bin/python bench/cli_fit_speed.py [--data PATH --law LAW]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "epoch_chinchilla" / "svg_extracted_data.csv"

CHILD = """
import sys
if sys.argv[1] == "c":
    import distillaw.sampling.groups as g
    g._group_modes = lambda: ({}, {})
from distillaw.cli import main
raise SystemExit(main(["fit", sys.argv[2], "--law", sys.argv[3], "--out", sys.argv[4],
                       "--json", "--no-progress"]))
"""


def one(which: str, data: Path, law: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fit"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, which, str(data), law, str(out)],
                       check=True, capture_output=True, env=os.environ)
        wall = time.perf_counter() - t0
        card = json.loads((out / "card.json").read_text())
    d = card.get("diagnostics") or card.get("fit", {}).get("diagnostics", {})
    return {"wall": wall, "groups": d.get("groups_seconds")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--law", default="supervised")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    rows = {"one-shot (this checkout)": [], "C groups (before)": []}
    for _ in range(args.repeat):
        rows["one-shot (this checkout)"].append(one("ours", args.data, args.law))
        rows["C groups (before)"].append(one("c", args.data, args.law))
    print(f"distillaw fit {args.data.name} --law {args.law}, {args.repeat} runs each")
    best = {}
    for name, rs in rows.items():
        best[name] = min(r["wall"] for r in rs)
        walls = ", ".join(f"{r['wall']:.1f}" for r in rs)
        grps = ", ".join(f"{r['groups']:.1f}" for r in rs)
        print(f"  {name:26s} wall {walls} s; groups {grps} s")
    ours, base = best.values()
    print(f"  ratio (best wall, before / now): {base / ours:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
