# Edgetainer. `make run` starts a gateway on the embedded database; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: deps build run test bench clean typecheck
deps: node_modules

build: node_modules
	npx tsc -p tsconfig.build.json

typecheck: node_modules
	npx tsc -p tsconfig.json --noEmit

run: build
	bin/edgetainer server $(if $(CONFIG),--config $(CONFIG))

test: build
	scripts/run-tests.sh

bench: build
	scripts/run-bench.sh

clean:
	rm -rf dist test-artifacts
