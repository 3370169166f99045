# cxr.mlops: the two commands are `make run` and `make test`; each sets itself up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
export PATH := $(ROOT)/.tools/bin:$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export TF_CLI_CONFIG_FILE := $(ROOT)/.tools/terraformrc
export CXR_SANDBOX_DIR ?= $(ROOT)/.sandbox
export PYTHONDONTWRITEBYTECODE := 1
PYTEST_ARGS ?=
# the integration tests mostly wait on terraform, moto and playbooks: 5 workers keep 2 cores busy
PYTEST_WORKERS ?= 5

.PHONY: help bootstrap run test lint unit integration molecule sandbox sandbox-down sandbox-status bench build docs clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

bootstrap: ## virtualenv, pinned Python deps, helm 3/4, Debian servers, Terraform CLI config
	@bash scripts/bootstrap.sh

run: bootstrap ## start the local sandbox and deploy the whole platform to it (site.yml)
	ansible-playbook site.yml

sandbox: bootstrap ## start the local sandbox (idempotent)
	ansible-playbook playbooks/sandbox.yml

sandbox-down: ## stop the local sandbox (state and logs stay in .sandbox/)
	@[ -x $(VENV)/bin/python ] && $(VENV)/bin/python tests/support/sandbox.py down --state-dir $(CXR_SANDBOX_DIR) || true

sandbox-status: ## what runs where
	@$(VENV)/bin/python tests/support/sandbox.py status --state-dir $(CXR_SANDBOX_DIR)

lint: bootstrap ## yamllint and ansible-lint (production profile)
	yamllint --strict .
	ansible-lint

unit: bootstrap ## unit tests of modules, filters and module_utils
	pytest tests/unit $(PYTEST_ARGS)

integration: bootstrap sandbox ## integration tests against the sandbox (real servers)
	pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder tests --ignore=tests/unit $(PYTEST_ARGS)

molecule: bootstrap sandbox ## only the molecule scenarios (part of make test; default driver, localhost, sandbox)
	pytest tests/integration/test_molecule.py tests/integration/test_molecule_terraform_apply.py $(PYTEST_ARGS)

test: bootstrap ## lint, unit, molecule and integration tests, syntax check, build (what CI runs)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory sandbox
	pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)
	ansible-playbook site.yml --syntax-check
	$(MAKE) --no-print-directory build

bench: bootstrap sandbox ## benchmarks: print figures (site.yml cold and no-op first)
	python benchmarks/run_all.py

build: ## ansible-galaxy collection build into build/
	@mkdir -p build && ansible-galaxy collection build --force --output-path build . >/dev/null && ls build/*.tar.gz

docs: bootstrap ## regenerate docs/roles.md from the roles' argument_specs
	python scripts/gen_role_docs.py

clean: sandbox-down ## remove the sandbox state and build output (keeps .venv and .tools)
	rm -rf .sandbox build
