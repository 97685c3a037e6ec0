# Plait — the two commands: `make run` and `make test`. Every target installs what it needs.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
RUN := $(UV) run --frozen --all-packages --quiet

.PHONY: help setup run test lint typecheck contracts pytest bench schemas clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install uv (if missing) and the locked Python dependencies
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --all-packages --quiet

run: setup ## Start the platform at http://localhost:8000 and print the login link
	@# Bytecode for the installed packages, so `plait serve` starts in about a second even
	@# where PYTHONDONTWRITEBYTECODE is set (a no-op once done).
	@$(UV) sync --frozen --all-packages --quiet --compile-bytecode
	$(RUN) plait serve

lint: setup ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup ## mypy (strict) on the engine and the router
	$(RUN) mypy -p plait.node_runner -p plait.router

contracts: setup ## The import arrows of ARCHITECTURE.md §1
	$(RUN) lint-imports

pytest: setup ## Every Python test
	$(RUN) pytest -q

test: lint typecheck contracts pytest ## Everything CI checks

schemas: setup ## Rebuild the published JSON Schemas in docs/schemas
	$(RUN) python -m plait.node_runner.schemas docs/schemas

bench: setup ## Engine and API benchmarks (see bench/README.md)
	$(RUN) python bench/engine.py
	$(RUN) python bench/api.py
	$(RUN) python bench/webhook/run.py

clean: ## Remove local state and caches
	rm -rf .plait .pytest_cache .mypy_cache .ruff_cache .hypothesis
