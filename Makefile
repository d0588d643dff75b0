# platform: FastAPI + PostgreSQL on Kubernetes. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(abspath .)
BIN := $(ROOT)/bin
export PATH := $(BIN):$(PATH)
# uv is the only tool bootstrapped with the machine's Python; everything else comes from uv.lock.
PYTHON_BOOTSTRAP ?= python3
UV := $(BIN)/uv
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --locked --no-sync

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV): tools/uv.txt
	$(PYTHON_BOOTSTRAP) -m venv $(BIN)/.uv-venv
	$(BIN)/.uv-venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r tools/uv.txt
	ln -sf .uv-venv/bin/uv $(UV)
	touch $(UV)

.PHONY: sync
sync: $(UV) ## Install the locked dependencies into .venv.
	$(UV) sync --locked

.PHONY: run
run: sync ## Serve on 127.0.0.1:8000 against a throwaway local PostgreSQL (or DATABASE_URL).
	$(RUN) python tools/run_local.py

.PHONY: migrate
migrate: sync ## Apply migrations to the configured database (DATABASE_URL or POSTGRES_*).
	$(RUN) platform-migrate upgrade

.PHONY: lint
lint: sync ## ruff + mypy strict.
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

# pytest exits 5 when it collected nothing: a suite that silently vanished is a failure here.
# $(1): test paths, $(2): extra pytest options.
PYTEST = $(RUN) pytest $(2) $(1) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests in $(1)"; exit $$rc; }

# The TLS tests need a PostgreSQL built with OpenSSL, which the embedded wheel is not: Debian's
# postgresql-15, installed when missing (as root; its package scripts must not start a cluster).
TLS_POSTGRES := /usr/lib/postgresql/15/bin/postgres

$(TLS_POSTGRES):
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15; \
	  rc=$$?; rm -f /usr/sbin/policy-rc.d; exit $$rc

# The fragments in mk/ add prerequisites to `test` (mk/chart.mk: test-chart, which mk/monitoring.mk
# extends with the promtool tests; mk/cluster.mk: test-harness) and to `tools` (mk/chart.mk:
# tools-chart; mk/monitoring.mk: tools-monitoring). The e2e, image and cluster suites are not part
# of `test`: they need the Docker engine or the cluster (make e2e, image-test, cluster-test).
.PHONY: test
test: sync $(TLS_POSTGRES) ## tests/app, migrations, backup (real PostgreSQL/S3, coverage) + test-chart (chart, manifests, promtool) + test-harness.
	$(call PYTEST,tests/app tests/migrations tests/backup,--cov --cov-report=term)

.PHONY: tools
tools: ## Pin every tool the checks use into ./bin: tools-chart + tools-monitoring (mk/).

# The load generator: Debian's wrk package (from the machine's pinned Debian mirror), installed
# as root when missing, like the TLS PostgreSQL above.
WRK := /usr/bin/wrk

$(WRK):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk

.PHONY: bench
bench: sync $(WRK) ## Benchmarks (wrk, installed from Debian if missing; one uvicorn process): ratios against baselines in the same run.
	PYTHONPATH=$(ROOT):$(ROOT)/tools $(RUN) python -m bench.run

.PHONY: clean
clean: ## Remove build output and caches (keeps .venv and ./bin).
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov build dist

-include mk/*.mk
