# Two commands for a new user: `make run` and `make test`. Everything else is their steps.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install js chromium migrate demo lint bench gateway

$(BIN)/caregraph: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	PYTHON=$(PYTHON) CAREGRAPH_EDITABLE=1 CAREGRAPH_EXTRAS=test sh infra/deploy/install.sh $(VENV)
	@touch $@

install: $(BIN)/caregraph

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# GraphiQL's assets come from npm; without npm the API still serves and the page says so.
js:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory node_modules/.package-lock.json; \
	else echo "npm not found: GraphiQL stays off, POST /graphql works (install Node.js + npm for it)"; fi

chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

migrate: install
	$(BIN)/caregraph migrate

demo: migrate
	$(BIN)/caregraph demo

run: install js demo
	$(BIN)/caregraph serve

test: install node_modules/.package-lock.json chromium
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/me_conversations.py

# Hive Gateway on the composed supergraph (infra/deploy/gateway.mjs), in front of subgraphs
# served with `caregraph serve --subgraph NAME`; CAREGRAPH_<NAME>_URL says where each answers.
gateway: node_modules/.package-lock.json
	node infra/deploy/gateway.mjs
