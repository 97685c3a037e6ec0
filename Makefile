# Plait — the two commands: `make run` and `make test`. Every target installs what it needs.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
RUN := $(UV) run --frozen --all-packages --quiet

.PHONY: help setup run test lint typecheck contracts pytest bench schemas node-docs clean editor editor-test editor-client chromium

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install uv (if missing) and the locked Python dependencies
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --all-packages --quiet

run: setup editor ## Start the platform at http://localhost:8000 and print the login link
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

pytest: setup editor chromium ## Every Python test (the editor's browser tests included)
	$(RUN) pytest -q

test: lint typecheck contracts editor-test pytest ## Everything CI checks

schemas: setup ## Rebuild the published JSON Schemas in docs/schemas
	$(RUN) python -m plait.node_runner.schemas docs/schemas

node-docs: setup ## Rebuild the node reference pages in docs/nodes from the node classes
	$(RUN) python -m plait.nodes.reference docs/nodes

bench: setup editor chromium ## Engine, API, webhook, scale-out and editor benchmarks (see bench/README.md)
	$(RUN) python bench/engine.py
	$(RUN) python bench/api.py
	$(RUN) python bench/webhook/run.py
	$(RUN) python bench/scale.py
	$(RUN) python bench/editor.py

clean: ## Remove local state and caches
	rm -rf .plait .pytest_cache .mypy_cache .ruff_cache .hypothesis editor/dist editor/test-artifacts

# -- the editor ----------------------------------------------------------------------------
# `npm ci` when the lock file changed, `npm run build` (type check + Vite) when a source did.
EDITOR_SOURCES := $(shell find editor/src -type f 2>/dev/null) editor/index.html \
	editor/package.json editor/tsconfig.json editor/vite.config.ts

editor/node_modules/.package-lock.json: editor/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 or newer with npm"; exit 1; }
	cd editor && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

editor/dist/index.html: editor/node_modules/.package-lock.json $(EDITOR_SOURCES)
	cd editor && npm run build --silent
	@touch $@

editor: editor/dist/index.html ## Build the editor into editor/dist (when stale)

editor-test: editor/node_modules/.package-lock.json ## The editor's unit tests (vitest) and type check
	cd editor && npx tsc --noEmit -p . && npx vitest run

editor-client: setup ## Regenerate the editor's API client from the OpenAPI document
	$(RUN) python -m plait.api.tsclient editor/src/api/generated.ts

chromium: ## Debian's Chromium for the browser tests (installed when missing)
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null \
		&& (apt-get install -y -q chromium >/dev/null || (apt-get update -q >/dev/null \
		&& apt-get install -y -q chromium >/dev/null))) \
		|| echo "warning: no /usr/bin/chromium; install Debian's chromium for the browser tests"
