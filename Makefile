# kfp-chain. Every target sets up .venv itself when it is missing, so each works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv test lint typecheck serve serve-dead-letter serve-reconcile

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv with pinned runtime and dev dependencies

lint: $(STAMP) ## ruff, and the import contracts of pyproject.toml (import-linter)
	$(BIN)/ruff check functions tests examples bench
	$(BIN)/ruff format --check functions tests examples bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP) ## mypy (strict on functions/)
	$(BIN)/mypy

test: $(STAMP) ## lint, type-check and run the whole test suite
	$(MAKE) --no-print-directory lint typecheck
	HOME=$(CURDIR)/.local/home $(BIN)/pytest

serve: $(STAMP) ## start the trigger function with functions-framework on HOST:PORT (default 127.0.0.1:8080)
	$(BIN)/functions-framework --source functions/main.py --target on_run_completion --host $(HOST) --port $(PORT)

serve-dead-letter: $(STAMP) ## start the dead-letter function on PORT
	$(BIN)/functions-framework --source functions/main.py --target on_dead_letter --host $(HOST) --port $(PORT)

serve-reconcile: $(STAMP) ## start the reconcile function on PORT (one pass per POST; `kfp-chain reconcile` runs one now)
	$(BIN)/functions-framework --source functions/main.py --target on_reconcile --host $(HOST) --port $(PORT)

.PHONY: compile-examples demo demo-ensemble
compile-examples: $(STAMP) ## compile the example pipelines into .local/kfp-chain/pipelines (the local pipeline store)
	$(BIN)/python examples/compile.py --out .local/kfp-chain/pipelines

demo: $(STAMP) compile-examples ## run the examples -> training chain locally (function + kfp.local), exit 0 if it worked
	HOME=$(CURDIR)/.local/home $(BIN)/python -m kfp_chain.demo.chain --pipelines-dir .local/kfp-chain/pipelines

demo-ensemble: $(STAMP) compile-examples ## run the fan-in example (examples -> two trainers -> one ensemble, policy all) locally, exit 0 if it worked
	HOME=$(CURDIR)/.local/home $(BIN)/python -m kfp_chain.demo.ensemble --pipelines-dir .local/kfp-chain/pipelines

.PHONY: graphviz
graphviz: ## install Graphviz (apt-get) when `dot` is missing, for `kfp-chain graph --format png|svg`
	command -v dot >/dev/null || (apt-get update -qq && apt-get install -y -qq graphviz)

.PHONY: bench
bench: $(STAMP) ## benchmark the trigger function against the no-op ceiling at 100/10k/100k RunConfigurations, and a poll pass (installs wrk; writes BENCHMARKS.md)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	mkdir -p .local
	PYTHONPATH=$(CURDIR) timeout 900 $(BIN)/python -m bench.run
	PYTHONPATH=$(CURDIR) timeout 300 $(BIN)/python -m bench.poll --out BENCHMARKS.md

.PHONY: soak
SOAK_EVENTS ?= 300
soak: $(STAMP) ## fault-injection soak as deployed: SOAK_EVENTS (default 300) events, server processes, SIGKILLs, drops, reconcile; prints the figures
	HOME=$(CURDIR)/.local/home SOAK_EVENTS=$(SOAK_EVENTS) $(BIN)/pytest tests/reliability/test_fault_injection.py -q -p no:logging --timeout=3000

.PHONY: image
image: ## build the container image with docker (IMAGE=name:tag, default kfp-chain:dev; no engine in CI)
	docker build -t $(if $(IMAGE),$(IMAGE),kfp-chain:dev) .
