# speechops.edge developer entry points. The one test command is `make test` (scripts/test.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV_BIN := $(CURDIR)/.venv/bin

.PHONY: test lint sanity changelog docs build unit matrix ee lab conformance venv lab-up lab-down demo clean

test:  ## every stage: ruff, ansible-lint, sanity, changelog, docs, build, unit, matrix, ee, lab, conformance
	scripts/test.sh

lint:  ## ruff (check + format --check) and ansible-lint (production profile)
	scripts/test.sh lint

sanity:  ## ansible-test sanity on build/ansible_collections/speechops/edge
	scripts/test.sh sanity

changelog:  ## antsibull-changelog lint of the fragments and of changelogs/changelog.yaml
	scripts/test.sh changelog

docs:  ## antsibull-docs lint of every plugin, role and guide, and the docs rendered with docs/docsite
	scripts/test.sh docs

build:  ## galaxy build, every entry checked against the allow-list, installed into .installed-collection and run
	scripts/test.sh build

unit:  ## pytest tests/unit
	scripts/test.sh unit

matrix:  ## unit and sanity on the older ansible-core versions of requirements/matrix.txt
	scripts/test.sh matrix

ee:  ## the execution environment built (scripts/build_ee.sh) and checked without the lab
	scripts/test.sh ee

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
	rm -rf build tests/output .pytest_cache .ruff_cache speechops-edge-*.tar.gz .installed-collection
	find . \( -path ./.venv -o -path ./.venv-matrix -o -path ./.lab -o -path ./.git \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
