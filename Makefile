# The README's two commands: `make demo` and `make test`. Each does its own set-up from a
# fresh clone: a virtual environment in .venv, torch (CPU build) first, then the package.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.distillaw-installed
TORCH_VERSION ?= 2.13.0
# pytest-xdist workers; CI has 2 cores.
JOBS ?= 2

.PHONY: demo test test-slow setup models data notebooks bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch first, CPU build: a no-op where torch is already importable. A plain `torch`
	@# requirement would pull a multi-GB CUDA build from PyPI.
	@$(PY) -c "import torch" 2>/dev/null || { \
	  if ls /opt/wheels/torch-$(TORCH_VERSION)+cpu-*.whl >/dev/null 2>&1; then \
	    $(PY) -m pip install -q torch==$(TORCH_VERSION); \
	  else \
	    $(PY) -m pip install -q torch==$(TORCH_VERSION) --index-url https://download.pytorch.org/whl/cpu; \
	  fi; }
	$(PY) -m pip install -q -e ".[runner,jax,dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m distillaw.demo

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -q

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -q -m slow

# Regenerate the shipped simulated data sets (data/simulated/) from published coefficients.
data: $(STAMP)
	$(PY) -m distillaw.simulate --shipped data/simulated

# Refit the shipped posteriors in models/ from the shipped simulated data.
models: $(STAMP)
	$(PY) -m distillaw.demo --refit-models

# Regenerate notebooks/*.ipynb (clean, no outputs) from their sources in notebooks/_build/.
notebooks: $(STAMP)
	for f in notebooks/_build/make_*.py; do $(PY) $$f || exit 1; done

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) out .pytest_cache
