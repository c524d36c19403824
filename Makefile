# The one command interface, for people and CI alike.
#   make run    start Tidewatch locally (installs what it needs first)
#   make test   lint, type-check, template checks and every test (installs what it needs first)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck template-check unit bench install clean

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Tidewatch needs $(PYTHON) (AWS Lambda's python3.11 runtime)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e ".[local,dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
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

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tidewatch .pytest_cache .mypy_cache .ruff_cache .aws-sam
