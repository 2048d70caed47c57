# condgan: `make demo` trains and shows a class-conditional GAN; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# OpenMP's wait policy is set by condgan itself before torch loads (src/condgan/threads.py).
# The exact CPU build of torch (a looser pin pulls a multi-GB CUDA build).
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test test-fast docs lint clean

# `make demo` needs the library; the web demo's Gradio installs beside the training (it is mostly
# download time) so the whole job stays within 10 minutes. `make test` adds the test tools.
$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.dev

demo: $(VENV)/.base
	@( $(PY) -c "import gradio" 2>/dev/null || $(PY) -m pip install --quiet "gradio>=6.0" ) > $(VENV)/web-install.log 2>&1 & \
	$(VENV)/bin/condgan demo --out runs/demo --force; status=$$?; wait; exit $$status

# The suite in TEST_WORKERS processes (pytest-xdist; tests/conftest.py gives each its share of the cores)
TEST_WORKERS ?= 2
test: $(VENV)/.dev
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-fast: $(VENV)/.dev
	$(PY) -m pytest -q -m "not slow"

# The documentation site into site/: README's generated tables from the JSON, then mkdocs (warnings fail).
docs: $(VENV)/.dev
	$(PY) docs/scripts/render.py --readme
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks docs/scripts

clean:
	rm -rf $(VENV) runs .pytest_cache site
