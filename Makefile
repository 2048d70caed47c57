# condgan: `make demo` trains and shows a class-conditional GAN; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two cores and anything else busy: spin-waiting OpenMP threads slow training 10-20x. Sleep instead.
export OMP_WAIT_POLICY ?= PASSIVE
# The exact CPU build of torch (a looser pin pulls a multi-GB CUDA build).
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test test-fast lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/condgan demo --out runs/demo --force

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
