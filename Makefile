# jq — the team's front door. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Pinned tool versions, each known to install and work offline on our machines. Tools are installed with `go install` into a
# per-version folder of TOOLS_DIR, outside the repo, so fresh clones reuse them.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GOLANGCI_LINT_VERSION      := v2.15.0

TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/jq-tools
BUF                := $(TOOLS_DIR)/buf-$(BUF_VERSION)/buf
PROTOC_GEN_GO      := $(TOOLS_DIR)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS_DIR)/protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)/protoc-gen-go-grpc
GOLANGCI_LINT      := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
PROTO_PATH := $(dir $(PROTOC_GEN_GO)):$(dir $(PROTOC_GEN_GO_GRPC)):$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X github.com/jqhq/jq/internal/buildinfo.Version=$(VERSION) \
	-X github.com/jqhq/jq/internal/buildinfo.Commit=$(COMMIT) \
	-X github.com/jqhq/jq/internal/buildinfo.Date=$(DATE)
BINARIES := jq-server jq-worker jq-ctl

# pg_dump of the server's major version, for the schema dump (dbmate calls pg_dump from PATH).
PG_BINDIR := $(shell pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
export PATH := $(if $(PG_BINDIR),$(PG_BINDIR):)$(PATH)

# Tests: every package at once, race detector on. LOCAL_SERVICES finds or starts PostgreSQL and
# Redis and exports JQ_DB_URL and JQ_REDIS_ADDR for the tests.
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m
LOCAL_SERVICES := deploy/local-services.sh

# Go modules of their own inside this tree: the operations checks, whose heavy dependencies
# (Kubernetes, Terraform, Prometheus, Compose) stay out of the product's go.mod. make test, lint
# and test-short run them too. Found, not listed, so a new module cannot be forgotten.
OPS_MODULES = $(sort $(patsubst ./%/go.mod,%,$(shell find . -mindepth 2 -name go.mod -not -path './.git/*' -not -path '*/node_modules/*')))
OPS_TEST_FLAGS ?= -count=1 -timeout 10m

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the binaries into bin/
	@mkdir -p bin
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINARIES))

.PHONY: run
run: build ## find or start PostgreSQL and Redis, then run jq-server and one jq-worker (Ctrl-C stops)
	@deploy/run-local.sh

.PHONY: test
test: tools check-generated ## run the whole test suite (starts PostgreSQL and Redis when none answer)
	@services=$$($(LOCAL_SERVICES) env) || exit 1; eval "$$services"; \
	go test $(GO_TEST_FLAGS) ./... || exit 1; \
	for m in $(OPS_MODULES); do echo "== $$m"; (cd $$m && go test $(OPS_TEST_FLAGS) ./...) || exit 1; done

.PHONY: test-short
test-short: ## unit tests only, no services
	go test -short -count=1 ./...
	@for m in $(OPS_MODULES); do (cd $$m && go test -short -count=1 ./...) || exit 1; done

.PHONY: bench
bench: ## build jq-bench and jq-worker, run the short standard benchmark set, write bench/results/latest.json
	@mkdir -p bin
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/jq-bench ./cmd/jq-worker
	@services=$$($(LOCAL_SERVICES) env) || exit 1; eval "$$services"; \
	bin/jq-bench suite --out bench/results/latest.json

.PHONY: chaos
chaos: ## build jq-bench, jq-server and jq-worker, run every chaos scenario (own PostgreSQL cluster each), write bench/results/chaos.json
	@mkdir -p bin
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/jq-bench ./cmd/jq-server ./cmd/jq-worker
	bin/jq-bench chaos all --out bench/results/chaos.json $(CHAOS_FLAGS)

.PHONY: compare-river
compare-river: ## interleave jq burn and sql with River's burn-down (RIVER_BASELINE=path/to/river-baseline.sh) and print the ratios
	@mkdir -p bin
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/jq-bench ./cmd/jq-worker
	@services=$$($(LOCAL_SERVICES) env) || exit 1; eval "$$services"; \
	JQ_BENCH=bin/jq-bench bench/compare-river.sh

.PHONY: bench-console
bench-console: ## time the console's pages on 1,000,000 jobs (seeds its own database; docs/console.md)
	@services=$$($(LOCAL_SERVICES) env) || exit 1; eval "$$services"; \
	go test ./internal/console -run '^$$' -bench Console -benchtime 20x -v

.PHONY: services
services: ## find or start PostgreSQL and Redis; print the exports to use them
	@$(LOCAL_SERVICES) env

.PHONY: services-stop
services-stop: ## stop the private PostgreSQL and Redis that `make services` started
	@$(LOCAL_SERVICES) stop

.PHONY: tools
tools: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) ## install the pinned code generators

$(BUF):
	GOBIN=$(dir $@) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(PROTOC_GEN_GO):
	GOBIN=$(dir $@) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(PROTOC_GEN_GO_GRPC):
	GOBIN=$(dir $@) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(GOLANGCI_LINT):
	GOBIN=$(dir $@) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

# --- Observability (dashboards/, rules/): pinned promtool and amtool, and the dashboards' JSON ---
# promtool takes ~7.5 min to build the first time (2 cores); the binaries are cached in TOOLS_DIR.
# make test installs them and hands their paths to the tests (PROMTOOL, AMTOOL): the rules
# checks in dashboards/ and the live /metrics checks of internal/server and cmd run them.
PROMTOOL_VERSION := v0.316.0
AMTOOL_VERSION   := v0.35.0
PROMTOOL := $(TOOLS_DIR)/promtool-$(PROMTOOL_VERSION)/promtool
AMTOOL   := $(TOOLS_DIR)/amtool-$(AMTOOL_VERSION)/amtool

.PHONY: tools-obs
tools-obs: $(PROMTOOL) $(AMTOOL) ## install the pinned promtool and amtool (promtool builds for ~7 min the first time)

$(PROMTOOL):
	GOBIN=$(dir $@) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
$(AMTOOL):
	GOBIN=$(dir $@) go install github.com/prometheus/alertmanager/cmd/amtool@$(AMTOOL_VERSION)

test: tools-obs
test: export PROMTOOL := $(PROMTOOL)
test: export AMTOOL := $(AMTOOL)
generate: dashboards

.PHONY: dashboards
dashboards: ## regenerate dashboards/json/*.json from the Go code in dashboards/
	cd dashboards && go run ./cmd/gendashboards -out json

.PHONY: generate
generate: tools ## regenerate protobuf code, the sqlfuncs migration, db/schema.sql and docs/config.md
	PATH=$(PROTO_PATH) $(BUF) generate
	@services=$$($(LOCAL_SERVICES) env) || exit 1; eval "$$services"; \
	go test ./db -run 'TestSQLFuncsMigration_UpToDate' -count=1 -update; \
	go test ./db -run 'TestSchema_UpToDate' -count=1 -update; \
	go test ./internal/config -run TestMarkdown_DocsUpToDate -count=1 -update

.PHONY: check-generated
check-generated: tools ## fail if the committed protobuf code differs from a fresh generation
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	PATH=$(PROTO_PATH) $(BUF) generate -o "$$tmp"; \
	if ! diff -r --exclude='*.proto' "$$tmp/proto" proto >/dev/null; then \
		diff -r --exclude='*.proto' "$$tmp/proto" proto | head -40; \
		echo "generated protobuf code is stale: run 'make generate' and commit"; exit 1; \
	fi
	@PATH=$(PROTO_PATH) $(BUF) lint
	@echo "generated code is up to date; buf lint passed"

.PHONY: lint
lint: tools $(GOLANGCI_LINT) ## gofmt, go vet, golangci-lint and buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	@for m in $(OPS_MODULES); do echo "== $$m"; (cd $$m && go vet ./... && $(GOLANGCI_LINT) run ./...) || exit 1; done
	$(BUF) lint
	$(BUF) format -d --exit-code

# Kubernetes manifests (deploy/k8s) and Terraform (terraform/): their checks are Go modules of
# their own, which make test runs with the other OPS_MODULES; these targets run them alone.
.PHONY: k8s-rules
k8s-rules: ## regenerate deploy/k8s/base/monitoring/prometheusrule.yaml from rules/*.yml
	cd deploy/k8s && go run ./cmd/gen-prometheusrule -rules ../../rules -out base/monitoring/prometheusrule.yaml

.PHONY: k8s-check
k8s-check: ## render both Kustomize overlays; strict decoding and policy tests
	cd deploy/k8s && go test -count=1 ./...

.PHONY: terraform-validate
terraform-validate: ## terraform fmt -check and validate (needs terraform and an aws provider mirror: TF_PLUGIN_MIRROR=DIR), HCL policy tests
	cd terraform && go test -count=1 -v -run 'TestTerraform_' ./... && go test -count=1 ./...

.PHONY: clean
clean: ## remove build output
	rm -rf bin coverage.out

# ---- Containers, the compose stacks and the CI checks (deploy/docker, docker-compose*.yml, .github/) ----
# docs/deploy.md explains these targets. The compose targets need a Docker engine and say so in
# one line when none answers; `make test` and `make lint` never do (the image build test skips).
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT         := $(TOOLS_DIR)/actionlint-$(ACTIONLINT_VERSION)/actionlint
# The deploy module's tests run the pinned actionlint from here.
export ACTIONLINT

IMAGES         := jq-server jq-worker jq-ctl
IMAGE_REGISTRY ?=
IMAGE_TAG      ?= $(shell git rev-parse HEAD 2>/dev/null || echo dev)
COMPOSE_FILE   ?= docker-compose.yml
COMPOSE_TEST   := docker compose -f docker-compose.test.yml
# The test stack's host ports (docker-compose.test.yml).
TEST_DB_URL     := postgres://jq:jq@127.0.0.1:15432/jq?sslmode=disable
TEST_REDIS_ADDR := 127.0.0.1:16379
TEST_GRPC_ADDR  := 127.0.0.1:15051
REQUIRE_DOCKER   = docker info >/dev/null 2>&1 || { echo "no Docker engine answers: \`make $@\` needs one"; exit 1; }

$(ACTIONLINT):
	GOBIN=$(dir $@) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# make test runs the deploy module's checks, which call actionlint; make lint runs them too.
test: $(ACTIONLINT)
lint: lint-deploy

.PHONY: lint-deploy
lint-deploy: $(ACTIONLINT) ## actionlint on the workflows, the Dockerfile policy, the compose validation
	$(ACTIONLINT)
	cd deploy && go test -short -count=1 ./...

.PHONY: docker-build
docker-build: ## build the jq-server, jq-worker and jq-ctl images, tagged with the git SHA (IMAGE_TAG)
	@$(REQUIRE_DOCKER)
	@for img in $(IMAGES); do \
		echo "== $(IMAGE_REGISTRY)$$img:$(IMAGE_TAG)"; \
		DOCKER_BUILDKIT=1 docker build -f deploy/docker/Dockerfile.$${img#jq-} \
			--build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) \
			-t $(IMAGE_REGISTRY)$$img:$(IMAGE_TAG) . || exit 1; \
	done

.PHONY: up
up: ## start the dev stack (PostgreSQL, Redis, Kafka, Prometheus, Grafana) and wait until healthy
	@$(REQUIRE_DOCKER)
	docker compose -f $(COMPOSE_FILE) up -d --wait

.PHONY: down
down: ## stop the dev stack (its PostgreSQL volume stays; `docker compose down -v` drops it)
	@$(REQUIRE_DOCKER)
	docker compose -f $(COMPOSE_FILE) down --remove-orphans

.PHONY: logs
logs: ## follow the logs of the dev stack
	@$(REQUIRE_DOCKER)
	docker compose -f $(COMPOSE_FILE) logs -f --tail=100

.PHONY: test-unit
test-unit: $(ACTIONLINT) ## unit tests, no services: go test -short with the race detector; coverage in coverage.out
	go test -short -race -count=1 -covermode=atomic -coverprofile=coverage.out ./...
	@for m in $(OPS_MODULES); do (cd $$m && go test -short -count=1 ./...) || exit 1; done

.PHONY: test-integration
test-integration: ## the whole suite against docker-compose.test.yml's PostgreSQL and Redis; tears them down after
	@$(REQUIRE_DOCKER)
	@trap '$(COMPOSE_TEST) down -v --remove-orphans' EXIT; \
	$(COMPOSE_TEST) up -d --wait postgres redis kafka || { $(COMPOSE_TEST) logs --no-color --tail=100; exit 1; }; \
	JQ_DB_URL='$(TEST_DB_URL)' JQ_REDIS_ADDR='$(TEST_REDIS_ADDR)' go test $(GO_TEST_FLAGS) ./...

.PHONY: test-e2e
test-e2e: ## build the images, start the whole docker-compose.test.yml stack, run deploy/smoke-test.sh against it, tear it down
	@$(REQUIRE_DOCKER)
	@tmp=$$(mktemp -d); trap '$(COMPOSE_TEST) down -v --remove-orphans; rm -rf "$$tmp"' EXIT; \
	fail() { $(COMPOSE_TEST) ps -a; $(COMPOSE_TEST) logs --no-color --tail=200; exit 1; }; \
	$(COMPOSE_TEST) up -d --build --wait --wait-timeout 300 || fail; \
	$(COMPOSE_TEST) cp jq-server:/keys/admin.key "$$tmp/admin.key" || fail; \
	go build -o "$$tmp/" ./cmd/jq-ctl; \
	JQ_CTL="$$tmp/jq-ctl" JQ_SERVER_ADDR=$(TEST_GRPC_ADDR) JQ_TOKEN_FILE="$$tmp/admin.key" deploy/smoke-test.sh || fail

config.local.yaml: ## copy config.local.example.yaml to config.local.yaml (git-ignored; never overwritten)
	cp config.local.example.yaml $@
