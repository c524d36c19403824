# The one command interface, for people and CI alike.
#   make run    start Tidewatch locally (installs what it needs first)
#   make test   lint, type-check, template checks and every test (installs what it needs first)
SHELL := /bin/bash
# AWS Lambda's python3.13 runtime: python3.13 from PATH, else from pyenv's versions folder.
PYTHON ?= $(shell scripts/find-python.sh 3.13)
NO_PYTHON := Tidewatch needs Python 3.13 (AWS Lambda's python3.13 runtime) and found none on PATH or in pyenv: install it (pyenv install 3.13, or your system's python3.13 package) or run make PYTHON=/path/to/python3.13
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

SAM_VENV := .tools-sam
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0

.PHONY: run test lint typecheck template-check unit bench install clean sam-build dashboard-test package-test

# Each install stamp's name carries a hash of the files it installs from (here requirements.lock
# and pyproject.toml), so it changes exactly when they do, not when a fresh checkout merely gives
# them a newer mtime.
$(STAMP):
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 1; }
	@test ! -x $(BIN)/python || $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "$(VENV) is not Python 3.13: recreating it"; rm -rf $(VENV); }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e ".[local,dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

DEVNET_STAMP := devnet/node_modules/.installed-$(shell sha1sum devnet/package-lock.json | cut -c1-12)

# The devnet's node tooling: Foundry's anvil and the pinned solc (from the npm registry).
$(DEVNET_STAMP):
	@command -v npm >/dev/null || { echo "the local devnet needs Node.js and npm"; exit 1; }
	cd devnet && npm ci --no-audit --no-fund --loglevel=error
	rm -f devnet/node_modules/.installed-* && touch $(DEVNET_STAMP)

DASHBOARD_STAMP := dashboard/node_modules/.installed-$(shell sha1sum dashboard/package-lock.json | cut -c1-12)
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/public dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json -type f 2>/dev/null)

$(DASHBOARD_STAMP):
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error
	rm -f dashboard/node_modules/.installed-* && touch $(DASHBOARD_STAMP)

# The dashboard's static build, served by the local run at / (and uploaded to S3 in AWS).
dashboard/dist/index.html: $(DASHBOARD_STAMP) $(DASHBOARD_SOURCES)
	cd dashboard && npm run build --silent

install: $(STAMP) $(DEVNET_STAMP) $(DASHBOARD_STAMP)

run: install dashboard/dist/index.html
	$(BIN)/tidewatch dev

# Besides ruff: the import boundaries (import-linter, contracts in pyproject.toml: no function
# package imports another, the core imports none of them), no comment that tells how the code
# came to be written (scripts/check_history_comments.py) and no SQL outside the repository modules
# (scripts/check_sql_location.py; its allow-list says why the migrations runner and db.py may).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=functions:local $(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/check_history_comments.py
	$(BIN)/python scripts/check_sql_location.py

typecheck: install
	$(BIN)/mypy

# The template, scanned: cfn-lint (the project venv, pinned in requirements.lock) for CloudFormation
# correctness and runtime deprecations, checkov (its own environment: it pins its own boto3 and
# pydantic, like the SAM CLI) for security. Each checkov suppression is a Metadata entry with its
# reason next to the resource in template.yaml.
SCAN_VENV := .tools-scan
CHECKOV := $(SCAN_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30

$(CHECKOV):
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install -q "checkov==$(CHECKOV_VERSION)"

template-check: install $(CHECKOV)
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

unit: install
	$(BIN)/python -m pytest -q -m "not integration and not e2e"

test: install lint typecheck template-check
	scripts/ensure-services.sh
	$(BIN)/python -m pytest -q --durations=20
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
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q "aws-sam-cli==1.170.0"

# Docker-free: sam build resolves arm64 wheels with the local python3.13 (put first on PATH), no container.
# Then the bytecode of each function's cold-start modules (scripts/compile-cold-path.py) and the sizes.
sam-build: $(SAM)
	$(SAM) validate --lint
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build --build-dir .aws-sam/build
	$(BIN)/python scripts/compile-cold-path.py .aws-sam/build
	$(BIN)/python scripts/package-sizes.py .aws-sam/build

# The package users deploy, run as Lambda runs it (tidewatch_local.package_test): the template
# built for x86_64 (this machine cannot load arm64 wheels; arm64 is what sam-build proves), then
# every function in an isolated python3.13 holding only its code, its layers and the runtime's
# own packages (boto3, snapshot_restore_py: what Lambda has in /var/runtime), on its sample events.
PACKAGE_ARCH ?= x86_64
PACKAGE_BUILD := .aws-sam/build-$(PACKAGE_ARCH)
LAMBDA_RUNTIME := .aws-sam/lambda-runtime
LAMBDA_RUNTIME_STAMP := $(LAMBDA_RUNTIME)/.installed-$(shell grep -iE '^(boto3|botocore|s3transfer|snapshot-restore-py)==' requirements.lock | sha1sum | cut -c1-12)

$(LAMBDA_RUNTIME_STAMP): requirements.lock | $(STAMP)
	rm -rf $(LAMBDA_RUNTIME)
	$(BIN)/pip install -q --target $(LAMBDA_RUNTIME) -c requirements.lock boto3 snapshot-restore-py
	touch $@

package-test: $(STAMP) $(SAM) $(LAMBDA_RUNTIME_STAMP)
	scripts/ensure-services.sh
	mkdir -p .aws-sam
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build --build-dir $(PACKAGE_BUILD) --cache-dir .aws-sam/cache-$(PACKAGE_ARCH) \
	  --parameter-overrides Architecture=$(PACKAGE_ARCH) >$(PACKAGE_BUILD).log 2>&1 || { tail -30 $(PACKAGE_BUILD).log; exit 1; }
	$(BIN)/python scripts/compile-cold-path.py $(PACKAGE_BUILD)
	$(BIN)/python -m tidewatch_local.package_test --build-dir $(PACKAGE_BUILD) --runtime-dir $(LAMBDA_RUNTIME) --python $(PYTHON)

clean:
	rm -rf $(VENV) .tidewatch .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .aws-sam $(SCAN_VENV)
