# The one command interface, for people and CI alike.
#   make run    start Tidewatch locally (installs what it needs first)
#   make test   lint, type-check, template checks and every test (installs what it needs first)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

SAM_VENV := .tools-sam
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0

.PHONY: run test lint typecheck template-check unit bench install clean sam-build dashboard-test

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Tidewatch needs $(PYTHON) (AWS Lambda's python3.11 runtime)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e ".[local,dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

DEVNET_STAMP := devnet/node_modules/.installed-$(shell sha1sum devnet/package-lock.json | cut -c1-12)

# The devnet's node tooling: Foundry's anvil and the pinned solc (from the npm registry).
$(DEVNET_STAMP): devnet/package-lock.json
	@command -v npm >/dev/null || { echo "the local devnet needs Node.js and npm"; exit 1; }
	cd devnet && npm ci --no-audit --no-fund --loglevel=error
	rm -f devnet/node_modules/.installed-* && touch $(DEVNET_STAMP)

DASHBOARD_STAMP := dashboard/node_modules/.installed-$(shell sha1sum dashboard/package-lock.json | cut -c1-12)
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/public dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json -type f 2>/dev/null)

$(DASHBOARD_STAMP): dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error
	rm -f dashboard/node_modules/.installed-* && touch $(DASHBOARD_STAMP)

# The dashboard's static build, served by the local run at / (and uploaded to S3 in AWS).
dashboard/dist/index.html: $(DASHBOARD_STAMP) $(DASHBOARD_SOURCES)
	cd dashboard && npm run build --silent

install: $(STAMP) $(DEVNET_STAMP) $(DASHBOARD_STAMP)

run: install dashboard/dist/index.html
	$(BIN)/tidewatch dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

template-check: install
	$(BIN)/cfn-lint template.yaml

unit: install
	$(BIN)/python -m pytest -q -m "not integration and not e2e"

test: install lint typecheck template-check
	scripts/ensure-services.sh
	$(BIN)/python -m pytest -q
	$(MAKE) dashboard-test

# The dashboard: type-check and build (with its bundle budget), ESLint, unit/component tests,
# then the browser tests in headless Chromium against a real `tidewatch dev` with its devnet
# (scripts/dashboard-e2e.sh).
dashboard-test: install dashboard/dist/index.html
	cd dashboard && npm run lint --silent && npm test --silent
	scripts/dashboard-e2e.sh

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The SAM CLI pins its own boto3/pydantic, so it gets an environment of its own.
$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q "aws-sam-cli==1.170.0"

# Docker-free: python3.11 is on this machine, so sam build resolves arm64 wheels without a container.
sam-build: $(SAM)
	$(SAM) validate --lint
	$(SAM) build --build-dir .aws-sam/build
	$(BIN)/python scripts/package-sizes.py .aws-sam/build

clean:
	rm -rf $(VENV) .tidewatch .pytest_cache .mypy_cache .ruff_cache .aws-sam
