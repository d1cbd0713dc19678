# tenantless — run "make" for the list of targets.
GO          ?= go
BIN         ?= bin/tenantless
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
FUZZTIME    ?= 10s

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/tenantless
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tenantless

.PHONY: run
run: build ## build and start the server on http://localhost:8080 (database ./tenantless.db); flags in ARGS="--addr 127.0.0.1:9090"
	./$(BIN) serve $(ARGS)

.PHONY: test
test: ## run every test (unit, storage conformance, end-to-end) with the race detector; PostgreSQL's only with TENANTLESS_TEST_POSTGRES_URL
	@[ -n "$$TENANTLESS_TEST_POSTGRES_URL" ] || echo "make test: the PostgreSQL tests are skipped; run them with make test-postgres (needs apt-get install postgresql)"
	$(GO) test -race -count=1 ./...

.PHONY: test-postgres
test-postgres: ## run the PostgreSQL tests (conformance suite, several instances) on a throwaway cluster (needs apt-get install postgresql)
	./.ci/postgres $(GO) test -race -count=1 -run 'Postgres' ./...

# The Go end-to-end tests make e2e runs (make test runs them too).
E2E_GO_TEST = $(GO) test -race -count=1 -run 'EndToEnd|Restart|GoSDK|MetadataDocument|ResourceChallenges|AccountPage|CrashSafety|VSCodeFlow|ClaudeCodeFlow|Recipe|RegisteredResources|Trace' ./cmd/...

.PHONY: e2e
e2e: build ## end-to-end tests: Go clients and the go-sdk recipe; then the TypeScript SDK, MCP Inspector (headless Chromium), MCP conformance and the TS SDK and FastMCP recipes on Node 22 from e2e/package-lock.json, FastMCP in e2e/.venv (needs node, npm, python3 -m venv, /usr/bin/chromium)
	@t=$$(date +%s); echo "$(E2E_GO_TEST)"; $(E2E_GO_TEST); \
	rc=$$?; echo "--- e2e: Go end-to-end tests took $$(( $$(date +%s) - t )) s"; exit $$rc
	@t=$$(date +%s); cd e2e && npm ci --no-audit --no-fund; \
	rc=$$?; echo "--- e2e: npm ci took $$(( $$(date +%s) - t )) s"; exit $$rc
	@t=$$(date +%s); cd e2e && TENANTLESS_BIN=$(abspath $(BIN)) npm test; \
	rc=$$?; echo "--- e2e: npm test (TypeScript SDK, Inspector, conformance, TS SDK and FastMCP recipes) took $$(( $$(date +%s) - t )) s"; exit $$rc

.PHONY: test-postgres-e2e
test-postgres-e2e: build ## the TypeScript SDK through nginx and three instances on a throwaway PostgreSQL cluster (needs make e2e's npm packages, postgresql, nginx-light)
	./.ci/postgres sh -c 'cd e2e && TENANTLESS_BIN=$(abspath $(BIN)) node_modules/.bin/node --test --test-reporter=spec sdk-balanced.test.mjs'

.PHONY: bench
bench: ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	  done; \
	done

.PHONY: deps-check
deps-check: ## fail if a package imports against the dependency direction
	./.ci/deps-check

.PHONY: check
check: ## gofmt, go vet, staticcheck, deps-check, go test -race
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	./.ci/deps-check
	$(GO) test -race -count=1 ./...

.PHONY: clean
clean: ## remove build output (not your database)
	rm -rf bin
