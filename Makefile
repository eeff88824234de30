# The two commands: `make run` (the service on 127.0.0.1:3000) and `make check` (every check).
# Both create .venv from requirements-dev.txt on first use (and again when it changes).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/common

.PHONY: run demo events check lint typecheck template test bench reliability clean test-n8n eval simulate outages structure

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  # the service on 127.0.0.1:3000; settings from CONFIG=config/<stage>.toml (else config/local.toml if it exists), environment variables win
	$(BIN)/python -m local.run

demo: $(STAMP)  # with `make run` running in another terminal: five scenarios (the four flows and a follow-up), as the client sees them
	$(BIN)/python -m local.demo

events: $(STAMP)  # events/*.json for `sam local invoke -e`, dated now, and events/env.json for --env-vars from CONFIG (events/README.md)
	$(BIN)/python -m local.sam_events

.PHONY: deploy-params
deploy-params: $(STAMP)  # CONFIG=config/<stage>.toml checked, printed as `sam deploy --parameter-overrides` (docs/settings.md)
	$(BIN)/python -m local.deployment_config $(CONFIG)

.PHONY: import-profiles
import-profiles: $(STAMP)  # PUT every profile of config/vendor-profiles.json through the API (API_TOKEN; API_URL, default the local run)
	$(BIN)/python scripts/import_profiles.py

.PHONY: setup doctor
setup: $(STAMP)  # your Kommo account made ready: token and admin, lead fields, Salesbots, webhook; ids into config/$(STAGE).toml (scripts/setup.py)
	$(BIN)/python scripts/setup.py $(if $(STAGE),--stage $(STAGE)) $(if $(CONFIG),--config $(CONFIG))

doctor: $(STAMP)  # one line per check of a configuration against Kommo and n8n, exit 1 on any red (`make run` up, or STAGE=dev)
	$(BIN)/python scripts/doctor.py $(if $(STAGE),--stage $(STAGE)) $(if $(CONFIG),--config $(CONFIG))

check: lint typecheck template test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

template: $(STAMP)
	$(BIN)/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam build --region us-east-1

test: $(STAMP) browser
	$(BIN)/pytest

.PHONY: browser
browser:  # Debian's Chromium for the headless browser test, once (scripts/browser_install.sh; apt-get, as root or sudo)
	scripts/browser_install.sh

reliability: $(STAMP)  # the fault suite (also part of `test`), its table written to docs/reliability.md
	WRITE_RELIABILITY_DOC=1 $(BIN)/pytest tests/integration/test_fault_suite.py

test-n8n: $(STAMP)  # opt-in: the shipped workflows in a real n8n 1.123 + PostgreSQL (n8n/README.md)
	RUN_N8N_TESTS=1 $(BIN)/pytest tests/n8n --durations=5 -rs

eval: $(STAMP)  # the dialogue set (n8n/evals/) through the shipped workflows in a real n8n; EVAL_MODEL_URL/EVAL_MODEL for a real model (docs/evals.md)
	$(BIN)/python -m scripts.evals.run

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP)  # every performance goal measured, one table, written to docs/benchmarks.md (under 10 minutes)
	$(BIN)/python -m bench.goals --write-doc

SIM_SEEDS ?= 16
SIM_STEPS ?= 300
simulate: $(STAMP)  # the seeded simulation, every invariant after every step (docs/simulation.md); SIM_SEEDS=5000 for the long run
	$(BIN)/python -m sim --seeds $(SIM_SEEDS) --steps $(SIM_STEPS)

outages: $(STAMP)  # the hour-long Kommo and n8n outages amid 200 conversations, on the virtual clock (docs/reliability.md)
	for scenario in kommo-down n8n-down flapping; do $(BIN)/python -m sim --scenario $$scenario --conversations 200 || exit 1; done

structure: $(STAMP)  # largest files and functions, Protocols outside the ports, duplicated blocks (scripts/structure_report.py)
	$(BIN)/python scripts/structure_report.py
