# Gerbang: the two promises are `make run` and `make test`; both set themselves up.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
GOBIN ?= $(shell go env GOPATH 2>/dev/null)/bin
OPA_VERSION := v1.22.3
# C2SP tlog-witness interop (tests/test_tlog_witness.py): torchwood's litewitness.
TORCHWOOD_VERSION := v0.6.1
PROTOS := $(wildcard proto/gerbang/v1/*.proto)

.PHONY: run test lint proto proto-check policy-test policy-wasm policy-wasm-check bench profile clean tools

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

$(GOBIN)/litewitness $(GOBIN)/witnessctl:
	go install filippo.io/torchwood/cmd/litewitness@$(TORCHWOOD_VERSION) \
	  filippo.io/torchwood/cmd/witnessctl@$(TORCHWOOD_VERSION)

tools: $(VENV_STAMP) node_modules/.bin/buf $(GOBIN)/opa $(GOBIN)/litewitness $(GOBIN)/witnessctl
	cd tests/interop && go mod download

# Generated contracts are committed; `proto` regenerates them, `proto-check` fails when stale.
proto: $(VENV_STAMP)
	$(PY) -m tools.protogen gerbang

proto-check: $(VENV_STAMP)
	$(PY) -m tools.protogen --check gerbang

# The demo shows a standard C2SP witness (litewitness) beside Kompolnas's when it can be built.
run: $(VENV_STAMP)
	@test -x $(GOBIN)/litewitness -a -x $(GOBIN)/witnessctl \
	  || $(MAKE) --no-print-directory $(GOBIN)/litewitness $(GOBIN)/witnessctl \
	  || echo "run: litewitness could not be built; the demo runs without a standard witness"
	$(PY) -m gateway.demo

test: $(VENV_STAMP)
	$(PY) -m pytest -q

lint: $(VENV_STAMP) node_modules/.bin/buf
	cd proto && ../node_modules/.bin/buf lint
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	$(MAKE) --no-print-directory proto-check
	$(MAKE) --no-print-directory policy-wasm-check

# The Wasm engine's compiled policy is committed; `policy-wasm` recompiles it after a Rego
# change, `policy-wasm-check` fails when it is stale (the byte comparison needs the pinned OPA).
policy-wasm: $(VENV_STAMP) $(GOBIN)/opa
	$(PY) -m tools.policywasm --opa $(GOBIN)/opa

policy-wasm-check: $(VENV_STAMP)
	$(PY) -m tools.policywasm --check

policy-test: $(VENV_STAMP) $(GOBIN)/opa
	$(GOBIN)/opa test policies/ -v
	$(PY) -m pytest -q tests/test_policy_*.py

# Issue 3: real processes on loopback, A (bare relay) vs B (Gerbang), components, workers,
# memory; writes BENCHMARKS.md. ghz (pinned) and OPA are built when missing; a part whose
# tool cannot be built is reported as missing, and the rest still runs.
bench: GHZ_VERSION := v0.120.0
bench: $(VENV_STAMP)
	@test -x $(GOBIN)/opa || $(MAKE) --no-print-directory $(GOBIN)/opa \
	  || echo "bench: OPA could not be built; its component is reported as missing"
	@go version -m $(GOBIN)/ghz 2>/dev/null | grep -q 'bojand/ghz[[:space:]]*$(GHZ_VERSION)' \
	  || go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION) \
	  || echo "bench: ghz $(GHZ_VERSION) could not be built; it is reported as missing"
	$(PY) -m bench --ghz $(GOBIN)/ghz --opa $(GOBIN)/opa --command "make bench"

# Where the gateway's time goes under load (py-spy); see bench/profile.py and BENCHMARKS.md.
profile: $(VENV_STAMP)
	$(PY) -m bench.profile --seconds 20 --concurrency 64 --process gateway

clean:
	rm -rf .gerbang
