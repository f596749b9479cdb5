# The README's two commands: `make demo` and `make test`. Each does its own set-up from a
# fresh clone: a virtual environment in .venv, torch (CPU build) first, then the exact
# versions of requirements-lock.txt, then the package itself without resolving anything.
# A fresh resolve once broke the suite (pandas 3 dtypes, last-bit floats): installs are locked.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.distillaw-installed
LOCK := requirements-lock.txt
TORCH_VERSION ?= 2.13.0
# pytest-xdist workers; CI has 2 cores.
JOBS ?= 2

.PHONY: demo test test-slow test-latest setup lock models data notebooks notebooks-strip bench lint docs clean

setup: $(STAMP)

# torch first, CPU build: a no-op where torch is already importable. A plain `torch`
# requirement would pull a multi-GB CUDA build from PyPI. torch is not in the lock because
# its version carries the local "+cpu" tag and comes from a different index.
define install_torch
	@$(1) -c "import torch" 2>/dev/null || { \
	  if ls /opt/wheels/torch-$(TORCH_VERSION)+cpu-*.whl >/dev/null 2>&1; then \
	    $(1) -m pip install -q torch==$(TORCH_VERSION); \
	  else \
	    $(1) -m pip install -q torch==$(TORCH_VERSION) --index-url https://download.pytorch.org/whl/cpu; \
	  fi; }
endef

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call install_torch,$(PY))
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	@$(PY) -m pip check
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m distillaw.demo

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -q

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -q -m slow

# Refresh the lock: resolve today's newest releases in a throw-away venv and freeze them.
# Review the diff, then run `make test` (which reinstalls from the new lock) before committing.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	$(call install_torch,.venv-lock/bin/python)
	.venv-lock/bin/python -m pip install -q -e ".[runner,jax,dev,docs]"
	{ echo "# Exact versions for make demo / make test (CPU). Regenerate with: make lock"; \
	  echo "# torch is installed first by the Makefile (CPU build, $(TORCH_VERSION))."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v -i '^torch==' | LC_ALL=C sort -f; \
	} > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	rm -rf .venv-lock

# Try today's newest releases (no lock) in a separate venv: an early warning, not CI.
test-latest:
	rm -rf .venv-latest && $(PYTHON) -m venv .venv-latest
	$(call install_torch,.venv-latest/bin/python)
	.venv-latest/bin/python -m pip install -q -e ".[runner,jax,dev,docs]"
	.venv-latest/bin/python -m pytest -n $(JOBS) --dist loadgroup -q

# Regenerate the shipped simulated data sets (data/simulated/) from published coefficients.
data: $(STAMP)
	$(PY) -m distillaw.simulate --shipped data/simulated

# Refit the shipped posteriors in models/ from the shipped simulated data.
models: $(STAMP)
	$(PY) -m distillaw.demo --refit-models

# The committed notebooks/*.ipynb are the source, committed WITH their fast-mode outputs so
# that people can read them without running them: edit them in Jupyter, then run
# `make notebooks` (executes each in place in fast mode, ~6 min on 2 cores; a test checks that
# every code cell ran without error). `make notebooks-strip` clears outputs (e.g. before a
# diff review).
define RUN_NOTEBOOKS
import os, sys, tempfile, time, nbclient, nbformat
os.environ["DISTILLAW_FAST"] = "1"
os.environ.setdefault("DISTILLAW_SHARED_DATA", os.path.abspath("../shared/data"))
os.environ.pop("MPLBACKEND", None)
for path in sys.argv[1:]:
    t0 = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DISTILLAW_NOTEBOOK_OUT"] = tmp
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": "notebooks"}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"{path}: executed in {time.perf_counter() - t0:.0f} s")
endef
export RUN_NOTEBOOKS

notebooks: $(STAMP)
	$(PY) -c "$$RUN_NOTEBOOKS" notebooks/*.ipynb

define STRIP_NOTEBOOKS
import sys, nbformat
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
endef
export STRIP_NOTEBOOKS

notebooks-strip: $(STAMP)
	$(PY) -c "$$STRIP_NOTEBOOKS" notebooks/*.ipynb

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# API reference and guide (Sphinx), strict: any warning (a docstring Sphinx cannot parse, a
# broken cross-reference in a page) fails the build. Open docs/_build/html/index.html.
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench notebooks

clean:
	rm -rf $(VENV) .venv-lock .venv-latest out .pytest_cache docs/_build
