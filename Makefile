# speechops.edge developer entry points. The one test command is `make test` (scripts/test.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV_BIN := $(CURDIR)/.venv/bin

.PHONY: test lint sanity build unit lab conformance venv lab-up lab-down demo clean

test:  ## every stage: ruff, ansible-lint, ansible-test sanity, galaxy build, unit, lab, conformance
	scripts/test.sh

lint:  ## ruff (check + format --check) and ansible-lint (production profile)
	scripts/test.sh lint

sanity:  ## ansible-test sanity on build/ansible_collections/speechops/edge
	scripts/test.sh sanity

build:  ## ansible-galaxy collection build, checks build_ignore, removes the artifact
	scripts/test.sh build

unit:  ## pytest tests/unit
	scripts/test.sh unit

lab:  ## lab up, pytest tests/lab tests/integration (and molecule), lab down
	scripts/test.sh lab

conformance:  ## lab up, the demo fleet deployed, Microsoft's Speech SDKs (Python, JavaScript) judge it, lab down
	scripts/test.sh conformance

venv:  ## create/refresh .venv and place the collection under build/
	scripts/test.sh --venv-only

lab-up: venv
	$(VENV_BIN)/python lab/speechlab.py up

lab-down: venv
	$(VENV_BIN)/python lab/speechlab.py down

demo:  ## the main job: lab up, example fleet deployed, status table, demo-output/hello.wav
	scripts/demo.sh

clean:  ## remove build outputs and caches (keeps .venv and the lab; `make lab-down` for that)
	rm -rf build tests/output .pytest_cache .ruff_cache speechops-edge-*.tar.gz
	find . \( -path ./.venv -o -path ./.lab -o -path ./.git \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
