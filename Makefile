# Gerbang: the two promises are `make run` and `make test`; both set themselves up.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
GOBIN ?= $(shell go env GOPATH 2>/dev/null)/bin
OPA_VERSION := v1.22.3
PROTOS := $(wildcard proto/gerbang/v1/*.proto)

.PHONY: run test lint proto proto-check policy-test bench profile clean tools

$(VENV_STAMP): pyproject.toml
	python3.11 -m venv .venv || python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip==25.3
	.venv/bin/pip install --quiet -e '.[dev]'
	touch $(VENV_STAMP)

node_modules/.bin/buf: package.json
	npm install --no-audit --no-fund --silent
	touch node_modules/.bin/buf

$(GOBIN)/opa:
	go install github.com/open-policy-agent/opa@$(OPA_VERSION)

tools: $(VENV_STAMP) node_modules/.bin/buf $(GOBIN)/opa
	cd tests/interop && go mod download

# Generated contracts are committed; `proto` regenerates them, `proto-check` fails when stale.
proto: $(VENV_STAMP)
	$(PY) -m tools.protogen gerbang

proto-check: $(VENV_STAMP)
	$(PY) -m tools.protogen --check gerbang

run: $(VENV_STAMP)
	$(PY) -m gateway.demo

test: $(VENV_STAMP)
	$(PY) -m pytest -q

lint: $(VENV_STAMP) node_modules/.bin/buf
	cd proto && ../node_modules/.bin/buf lint
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	$(MAKE) --no-print-directory proto-check

policy-test: $(VENV_STAMP) $(GOBIN)/opa
	$(GOBIN)/opa test policies/ -v
	$(PY) -m pytest -q tests/test_policy_parity.py

clean:
	rm -rf .gerbang
