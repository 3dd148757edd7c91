# Runnel's developer entry points. `make help` lists them.
GO      ?= go
BIN     := bin
RUNNEL  := $(BIN)/runnel
# Packages with unit and integration tests (race detector on); e2e runs
# real broker processes and is run without it.
UNIT_PKGS := $(shell $(GO) list ./... | grep -v -e /e2e -e /gen/)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build runnel (and the pinned grpcurl) into bin/
	$(GO) build -o $(RUNNEL) ./cmd/runnel
	$(GO) build -o $(BIN)/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl

.PHONY: run
run: build ## Build and start a single-node broker (data in ./data, gRPC on 127.0.0.1:7400)
	$(RUNNEL) serve --data-dir ./data --listen 127.0.0.1:7400 --http-listen 127.0.0.1:7401

.PHONY: generate
generate: ## Regenerate gen/ from proto/ with buf
	$(GO) tool buf generate

.PHONY: check-generate
check-generate: generate ## Fail if gen/ is stale
	@git diff --exit-code -- gen || (echo "gen/ is stale: run 'make generate' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen; echo "gen/ has untracked files: run 'make generate' and commit" && exit 1)

.PHONY: lint
lint: ## go vet, staticcheck, gofmt, buf lint
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); echo "gofmt needed" && exit 1)
	$(GO) tool buf lint

.PHONY: test
test: lint check-generate test-unit test-e2e ## Everything CI runs: lint, generated code, unit and e2e tests

.PHONY: test-unit
test-unit: ## Unit and integration tests with the race detector
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: test-e2e
test-e2e: ## End-to-end tests against real broker processes
	$(GO) test -count=1 -timeout 20m ./e2e/...

.PHONY: fuzz
fuzz: ## Run each fuzz target for 30s
	$(GO) test -run=^$$ -fuzz=FuzzDecodeBatchHeader -fuzztime=30s ./raftstore/internal/segment/
	$(GO) test -run=^$$ -fuzz=FuzzRecover -fuzztime=30s ./raftstore/internal/segment/
	$(GO) test -run=^$$ -fuzz=FuzzDecode -fuzztime=30s ./server/internal/records/

.PHONY: bench
bench: ## Go benchmarks of the storage paths
	$(GO) test -run=^$$ -bench=. -benchmem ./raftstore/...

.PHONY: clean
clean: ## Remove build output (not ./data)
	rm -rf $(BIN)
