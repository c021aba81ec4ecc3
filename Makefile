# One way to run each thing; CI (.ci/run) calls these targets too.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e '.[dev]'

# Build the offline demo image from the test fixtures and scan it.
demo: install
	$(PY) -m scripts.demo

test: install
	$(VENV)/bin/pytest -q

lint:
	$(VENV)/bin/ruff check service workers policies tests benchmarks
	$(VENV)/bin/mypy

bench:
	$(PY) -m benchmarks.bench_sbom
	$(PY) -m benchmarks.bench_vulndb
