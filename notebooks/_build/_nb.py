"""Tiny helper for the notebook generators in this folder.

Each ``make_NN.py`` lists its cells as ``md(...)`` / ``code(...)`` and calls :func:`write`,
which writes a clean notebook (no outputs, no execution counts, stable cell ids) so that
regenerating it gives a byte-identical file and diffs stay readable. Run e.g.::

    .venv/bin/python notebooks/_build/make_01.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str):
    return nbformat.v4.new_markdown_cell(_src(text))


def code(text: str):
    return nbformat.v4.new_code_cell(_src(text))


def write(name: str, cells) -> Path:
    """Write ``notebooks/<name>`` from ``cells``; returns its path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    for i, cell in enumerate(cells):
        cell.id = f"{Path(name).stem[:2]}-{i:02d}"  # stable ids: regenerating changes nothing
    nb.cells = list(cells)
    nbformat.validate(nb)
    path = NOTEBOOKS / name
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(path)
    return path


def collector():
    """``(cells, md, code)`` for generators that append cells as they go (``md(text)`` adds
    a markdown cell to ``cells``, ``code(text)`` a code cell)."""
    cells: list = []
    return cells, (lambda text: cells.append(md(text))), (lambda text: cells.append(code(text)))
