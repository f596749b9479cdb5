"""Sphinx configuration of distillaw's documentation (``make docs``).

The build is strict (``-W --keep-going`` in the Makefile and in tests/test_docs.py): a
docstring that Sphinx cannot parse is an error, not a warning. The API pages are generated
from the docstrings (autodoc + napoleon, NumPy style); the CLI page from the commands'
``--help`` at build time (docs/_ext/cli_help.py), so neither can drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
# A source checkout documents its own src/, even when another distillaw is installed.
sys.path.insert(0, str(HERE.parent / "src"))

import distillaw  # noqa: E402

project = "distillaw"
author = "the distillaw developers"
copyright = "the distillaw developers, MIT licence"  # noqa: A001
release = distillaw.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "cli_help",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# NumPy-style docstrings throughout (Parameters / Returns / Example sections).
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
# Signatures keep the defaults as written in the source (e.g. ``CI``), not their repr.
autodoc_preserve_defaults = True

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"distillaw {release}"
html_static_path: list[str] = []
# No "view source" links to a hosting service: the docs build offline.
html_show_sourcelink = False
