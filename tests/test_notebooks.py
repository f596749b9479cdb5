"""Every notebook in ``notebooks/`` is committed clean and executes top to bottom.

Conventions every notebook follows (the tests below rely on them):

1. The first code cell reads the run mode and sets the sampler sizes::

       FAST = os.environ.get("DISTILLAW_FAST") == "1"      # set by these tests
       DRAWS, TUNE, CHAINS = (300, 300, 2) if FAST else (1000, 1000, 4)

   Fast mode shrinks draws and keeps the analysis. Where even a small fit of the real table
   would not fit the budget, a notebook may use a smaller table in fast mode and says so, in
   its introduction and in a printed line (02 fits the shipped simulated set instead of the
   digitised Busbridge table, whose NUTS fit takes minutes). Each notebook runs in under
   2 minutes in fast mode on a 2-core machine.
2. Public tables are read from ``SHARED = Path(os.environ.get("DISTILLAW_SHARED_DATA",
   "../../shared/data"))`` (the kernel's working directory is ``notebooks/``, and the shared
   folder sits beside the repository). When a file is absent the notebook prints which file
   it looked for and falls back to a shipped simulated set (``dl.simulate.shipped_*()``).
3. Files a notebook writes go under ``OUT = Path(os.environ.get("DISTILLAW_NOTEBOOK_OUT",
   "../out/notebooks"))`` (``out/`` is git-ignored); notebooks never write into the
   repository's tracked folders.
4. Only the public API: ``import distillaw as dl`` (``dl.fit``, ``dl.load``,
   ``dl.published``, ``dl.Posterior``, ``dl.simulate``, ``dl.laws``, ``dl.plots``,
   ``dl.capacity_gap_from_distillation``, ...) and the optional ``distillaw.runner``;
   matplotlib for figures. No submodule imports, no private modules (``distillaw._*``).
   One data set per notebook, in both run modes; every fit is followed by ``post.check()``,
   which stops the notebook with the reason when the chains did not converge.
5. The committed ``.ipynb`` files are the source (edit them in Jupyter). They are committed
   with their fast-mode outputs, so they can be read without running them (``make
   notebooks`` executes them in place), and pass ruff (``make lint`` covers ``notebooks/``);
   ``assert`` only for key claims that hold in fast mode.

Execution: a temporary tree ``tmp/notebooks/<copy>.ipynb`` with ``tmp/models`` and
``tmp/data`` linked to the repository's, so relative paths (``../models/...``) resolve as in
the real checkout while anything written lands in ``tmp``. The kernel is the native
``python3`` spec, which jupyter_client launches with the interpreter running pytest (the
project venv); ``test_kernel_runs_this_interpreter`` checks that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
# Same default as the shared_data fixture in conftest.py; an absent folder is not a skip
# here, since the notebooks then fall back to simulated sets (and must still run).
SHARED_DATA = Path(os.environ.get("DISTILLAW_SHARED_DATA", REPO.parent / "shared" / "data"))
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
# Seconds per cell. Fast-mode notebooks need a fraction of it (04's loop: ~2 min alone), but
# it ran past 600 s on a machine loaded ~10x by parallel jobs.
CELL_TIMEOUT = 900
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _ids(paths):
    return [p.stem for p in paths]


def _tree(tmp_path: Path) -> Path:
    """tmp/notebooks + links to the repository's models/ and data/ (read by notebooks)."""
    (tmp_path / "notebooks").mkdir()
    for name in ("models", "data"):
        if (REPO / name).is_dir():
            (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    return tmp_path / "notebooks"


def _execute(nb, cwd: Path):
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(cwd)}})
    return client.execute()


@pytest.fixture
def notebook_env(monkeypatch, tmp_path):
    """Environment the kernel inherits: fast mode, the shared-data folder, a temp OUT."""
    monkeypatch.setenv("DISTILLAW_FAST", "1")
    monkeypatch.setenv("DISTILLAW_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.setenv("DISTILLAW_NOTEBOOK_OUT", str(tmp_path / "out"))
    # An inherited MPLBACKEND (Agg on some CI images) would replace ipykernel's inline
    # backend, and every plt.show() would then warn instead of emitting the figure.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    return _tree(tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_with_outputs(path):
    """Valid nbformat 4, committed executed (``make notebooks``: every code cell ran, in
    order, without an error, in fast mode), a python3 kernelspec, and the fast-mode switch in
    the first code cell."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code_cells]
    assert None not in counts and counts == sorted(counts), \
        f"{path.name}: not executed top to bottom (execution counts {counts}); run make notebooks"
    errors = [i for i, c in enumerate(code_cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: code cells {errors} show an error"
    assert any(o.get("output_type") == "display_data" for c in code_cells
               for o in c.get("outputs", [])), f"{path.name}: no figure in the outputs"
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "DISTILLAW_FAST" in code[0].source, \
        f"{path.name}: first code cell must read DISTILLAW_FAST (see module docstring)"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    private = [i for i, c in enumerate(code) if re.search(r"distillaw\._|from \._", c.source)]
    assert not private, f"{path.name}: code cells {private} import private modules"
    # Public API only: `import distillaw as dl` (and the optional runner extra); everything
    # else through `dl.` (dl.plots, dl.simulate, dl.laws, ...).
    deep = [i for i, c in enumerate(code)
            if re.search(r"^\s*(from distillaw\.(?!runner\b)\w|import distillaw\.)", c.source,
                         re.M)]
    assert not deep, f"{path.name}: code cells {deep} import distillaw submodules; use dl.*"


def test_notebooks_pass_ruff():
    """The notebooks are linted like the package: ruff reads .ipynb natively, with the
    project's pyproject settings."""
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.is_file():
        pytest.skip(f"ruff is not installed next to {sys.executable}")
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise",
                           *map(str, NOTEBOOKS)],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ruff flags the notebooks:\n{proc.stdout}{proc.stderr}"


@pytest.mark.sampling
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, notebook_env):
    """Runs the notebook in fast mode; a failing cell fails the test with its traceback."""
    dest = notebook_env / path.name
    shutil.copyfile(path, dest)
    nb = nbformat.read(dest, as_version=4)
    try:
        _execute(nb, notebook_env)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed in fast mode\n{_ANSI.sub('', str(exc))}",
                    pytrace=False)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs, f"{path.name}: executed but printed or plotted nothing"


def test_kernel_runs_this_interpreter(tmp_path):
    """The python3 kernel runs the interpreter running the tests (the project venv), so
    notebooks import this checkout's distillaw, not another installation."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import sys, json, distillaw\n"
        "print(json.dumps([sys.executable, distillaw.__file__]))")]
    _execute(nb, tmp_path)
    exe, pkg = json.loads(nb.cells[0].outputs[0]["text"])
    assert Path(exe).resolve() == Path(sys.executable).resolve()
    assert Path(pkg).resolve().is_relative_to(REPO / "src")
