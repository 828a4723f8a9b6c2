# Dashtam: the two commands a newcomer needs are `make run` and `make test`.
GOLANGCI_LINT_VERSION := v2.15.0
BIN := $(CURDIR)/.bin
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/dashtam/dashtam/bootstrap.Version=$(VERSION)

.PHONY: run build test test-short test-unit generate check-generate check-tidy lint help

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## Run the service on its embedded defaults (SQLite, log-only email, dev keys)
	@echo "==> building bin/dashtam (the first build downloads and compiles the dependencies: a minute or two)"
	@go build -ldflags "$(LDFLAGS)" -o bin/dashtam ./bootstrap/cmd/dashtam
	@echo "==> starting on http://127.0.0.1:8080 with the embedded defaults (SQLite in ./data, mail written to this log, sandbox institution, development keys); Ctrl-C stops it"
	./bin/dashtam serve

build: ## Build the binary into bin/dashtam
	go build -ldflags "$(LDFLAGS)" -o bin/dashtam ./bootstrap/cmd/dashtam

test: ## Run the whole test suite (Postgres/Redis tests skip unless TEST_DATABASE_URL/TEST_REDIS_URL are set)
	go test -race -count=1 -timeout 20m ./...

test-short: ## Run the tests without the race detector (faster while editing)
	go test -count=1 ./...

test-unit: ## Run the domain, use-case and fake tests: no database, a few seconds
	go test -count=1 ./domain/... ./application/... ./test/fakes/...

.PHONY: e2e
e2e: ## Run the end-to-end tests: build the binary and walk whole journeys against it
	go test -race -count=1 ./test/e2e/...

.PHONY: soak
soak: ## Soak the real binary under mixed load for DASHTAM_SOAK (default 3m); Postgres when TEST_DATABASE_URL is set
	DASHTAM_SOAK=$${DASHTAM_SOAK:-3m} go test -count=1 -run '^TestSoak$$' -v -timeout 60m ./test/e2e/

generate: ## Regenerate code from the OpenAPI document
	go generate ./...

check-generate: generate ## Fail when generated code is stale
	@git diff --exit-code -- '*.gen.go' || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }

check-tidy: ## Fail when go.mod or go.sum is not what 'go mod tidy' makes
	@go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run 'go mod tidy' and commit"; exit 1; }

lint: $(GOLANGCI_LINT) ## Lint, including the layer rules (depguard)
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

$(GOLANGCI_LINT):
	mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $(GOLANGCI_LINT)

.PHONY: bench bench-export bench-erase
bench: build ## Side-by-side benchmark of bin/dashtam and a baseline server (BENCH_QUICK=1: smoke run), then the export job's and the account deletion's (see docs/performance.md)
	go run ./test/bench/cmd/bench -binary bin/dashtam
	$(MAKE) bench-export
	$(MAKE) bench-erase

bench-export: ## The export job end to end on SQLite, EXPORT_BENCH_ROWS transactions (100,000; see docs/performance.md)
	go test ./adapters/persistence -run '^$$' -bench BenchmarkExportSQLite -benchtime 3x

bench-erase: ## Deleting an account of ERASE_BENCH_ROWS transactions (100,000) on SQLite, and on Postgres with TEST_DATABASE_URL (see docs/performance.md)
	go test ./adapters/persistence -run '^$$' -bench BenchmarkEraseUser -benchtime 3x

.PHONY: verify
verify: ## Outside verification: Spectral+OWASP on /openapi.json, generated client, BOLA property, fuzzing (a fixed number of executions per target; FUZZTIME overrides)
	bash test/verify/verify.sh
