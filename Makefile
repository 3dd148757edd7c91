# Runnel's developer entry points. `make help` lists them.

# Strict recipes: a failing command, an unset variable or a failure inside
# a pipeline stops the target (bash for pipefail), and a target whose
# recipe failed is deleted rather than left half-written.
SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:

GO      ?= go
BIN     := bin
RUNNEL  := $(BIN)/runnel
# Packages with unit and integration tests (race detector on); e2e runs
# real broker processes and is run without it.
UNIT_PKGS := $(shell $(GO) list ./... | grep -v -e /e2e -e /gen/)
# The Python toolchain (generation, SDK tests) lives in a local venv.
VENV    := .venv
PY      := $(VENV)/bin/python
PY_PATH := gen/python:sdk/python
# The public API, generated for every language; runnel/meta is internal.
API_PROTOS := $(sort $(wildcard proto/runnel/v1/*.proto))

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
	$(RUNNEL) serve --data-dir ./data --listen 127.0.0.1:7400 --http-listen 127.0.0.1:7401 --peer-listen 127.0.0.1:7402

$(VENV)/.installed: sdk/python/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r sdk/python/requirements.txt
	touch $@

# The TypeScript toolchain (protoc-gen-es, tsc, the runtime) is the Node
# project at the root.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The Java generators are native binaries on Maven Central, fetched with
# Maven; the versions match sdk/java/pom.xml's runtime.
PROTOC_VERSION    := 4.33.1
GRPC_JAVA_VERSION := 1.78.0
JAVA_TOOLS        := .tools/java
MVN               := mvn --batch-mode --no-transfer-progress

$(JAVA_TOOLS)/.installed: Makefile
	mkdir -p $(JAVA_TOOLS)
	$(MVN) -q dependency:copy -Dartifact=com.google.protobuf:protoc:$(PROTOC_VERSION):exe:linux-x86_64 -DoutputDirectory=$(JAVA_TOOLS)
	$(MVN) -q dependency:copy -Dartifact=io.grpc:protoc-gen-grpc-java:$(GRPC_JAVA_VERSION):exe:linux-x86_64 -DoutputDirectory=$(JAVA_TOOLS)
	mv $(JAVA_TOOLS)/protoc-$(PROTOC_VERSION)-linux-x86_64.exe $(JAVA_TOOLS)/protoc
	mv $(JAVA_TOOLS)/protoc-gen-grpc-java-$(GRPC_JAVA_VERSION)-linux-x86_64.exe $(JAVA_TOOLS)/protoc-gen-grpc-java
	chmod +x $(JAVA_TOOLS)/protoc $(JAVA_TOOLS)/protoc-gen-grpc-java
	touch $@

.PHONY: generate
generate: $(VENV)/.installed node_modules/.installed $(JAVA_TOOLS)/.installed ## Regenerate gen/ from proto/: Go, TypeScript and Java with buf, Python with grpcio-tools
	$(GO) tool buf generate
	$(GO) tool buf generate --template buf.gen.ts.yaml
	$(GO) tool buf generate --template buf.gen.java.yaml
	mkdir -p gen/python
	$(PY) -m grpc_tools.protoc -I proto -I third_party/proto \
		--python_out=gen/python --pyi_out=gen/python --grpc_python_out=gen/python $(API_PROTOS)

.PHONY: check-generate
check-generate: generate ## Fail if gen/ is stale
	@git diff --exit-code -- gen || (echo "gen/ is stale: run 'make generate' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen; echo "gen/ has untracked files: run 'make generate' and commit" && exit 1)

.PHONY: lint
lint: ## go mod tidy, go vet, staticcheck, gofmt, buf lint
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); echo "gofmt needed" && exit 1)
	$(GO) tool buf lint

.PHONY: test
test: lint check-generate test-unit test-e2e test-python test-ts test-java test-deploy ## Everything CI runs: lint, generated code, unit, e2e, client and deployment tests

.PHONY: test-unit
test-unit: ## Unit and integration tests with the race detector
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: test-e2e
test-e2e: ## End-to-end tests against real broker processes
	$(GO) test -count=1 -timeout 20m ./e2e/...

.PHONY: test-python
test-python: build $(VENV)/.installed ## The Python SDK and example against a broker process
	RUNNEL_BIN=$(abspath $(RUNNEL)) PYTHONPATH=$(PY_PATH) $(PY) -m pytest -q sdk/python/tests

.PHONY: test-ts
test-ts: build node_modules/.installed ## The TypeScript SDK and example against a broker process (tsc strict, node --test)
	npx --no-install tsc -p tsconfig.json
	RUNNEL_BIN=$(abspath $(RUNNEL)) node --test dist-ts/sdk/ts/test/

.PHONY: test-java
test-java: build ## The Java SDK and example against a broker process (Maven, JUnit)
	cd sdk/java && RUNNEL_BIN=$(abspath $(RUNNEL)) $(MVN) test

# The container image (deploy/Containerfile): FROM scratch, the static
# binary and its user, laid out in deploy/image/ as the build context.
# podman is installed with apt-get where it is missing (as root, on
# Debian: CI). --format docker: OCI images have no HEALTHCHECK.
IMAGE     ?= localhost/runnel:dev
IMAGE_CTX := deploy/image

.PHONY: image
image: ## Build the static runnel binary and the container image IMAGE (default localhost/runnel:dev) with podman
	command -v podman >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman; }
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(IMAGE_CTX)/runnel ./cmd/runnel
	mkdir -p $(IMAGE_CTX)/data
	podman build --format docker -f deploy/Containerfile -t $(IMAGE) $(IMAGE_CTX)

# deploy/ is a Go module of its own (Helm and the Kubernetes types stay
# out of the broker's dependencies): its tidiness, vet and tests run from
# there, with the helm it pins as a tool.
HELM := $(GO) tool helm

.PHONY: test-deploy
test-deploy: image ## The image (run too), compose.yaml and the Helm chart: helm lint and template, every manifest decoded strictly
	@# runc: the test runs the image with it (see TestImageRuns)
	command -v runc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc; }
	cd deploy && $(GO) mod tidy -diff
	cd deploy && $(GO) vet ./...
	cd deploy && $(HELM) lint --strict helm/runnel
	cd deploy && $(HELM) lint --strict helm/runnel --set sidecarExample.enabled=true
	cd deploy && $(HELM) template runnel helm/runnel >/dev/null
	cd deploy && RUNNEL_IMAGE=$(IMAGE) $(GO) test -count=1 ./...

.PHONY: deploy-manifests
deploy-manifests: ## Rewrite deploy/k8s/*.yaml from the Helm chart
	cd deploy && $(GO) test -count=1 -run TestPlainManifests ./... -update

# Each fuzz target's run; not part of test (fuzzing is open-ended), and
# one target at a time, as go test -fuzz takes one. Targets are found by
# their declaration in committed files, so that a new one is fuzzed
# without being listed here.
FUZZTIME ?= 20s

.PHONY: fuzz
fuzz: ## Run every fuzz target (each func Fuzz* in a _test.go) for FUZZTIME (default 20s), one after another
	@git grep -n '^func Fuzz' -- '*_test.go' | while IFS=: read -r file _ decl; do \
		name=$${decl#func }; name=$${name%%(*}; \
		echo "fuzz $$name ./$$(dirname $$file)/ for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$file)/ || exit 1; \
	done

.PHONY: bench
bench: ## Go benchmarks of the storage paths
	$(GO) test -run=^$$ -bench=. -benchmem ./raftstore/...

.PHONY: clean
clean: ## Remove build output and installed toolchains (not ./data)
	rm -rf $(BIN) $(VENV) node_modules dist-ts .tools sdk/java/target $(IMAGE_CTX)/runnel $(IMAGE_CTX)/data
